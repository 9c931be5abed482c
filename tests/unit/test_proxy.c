/* SPDX-License-Identifier: MIT */
/* The proxy core over real UDP and TCP on loopback: a UAC, the proxy and two UASs made of
 * transaction layers, with the loop's own timers. RFC 3261 §16: checks, route preprocessing,
 * stateless forwarding, Record-Route, stateful relaying, forking and aggregation, timer C,
 * CANCEL. Every forwarded request keeps the bytes of every header the proxy does not edit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "alloc_hook.h"
#include "pump.h"
#include "sip/sip.h"
#include "transport/transport_int.h"

enum { UAC = 0, PX = 1, UAS1 = 2, UAS2 = 3, NNODES = 4 };

/* ---- the nodes and what each received ---------------------------------------------------- */

typedef struct node {
    sip_transport_t *tp;
    sip_txn_layer_t *layer;
    uint16_t udp, tcp;
    char *rx[64]; /* every message received, printed as it came (after the Via stamp) */
    int nrx;
} node_t;

static sip_loop_t *loop;
static node_t nodes[NNODES];
static sip_proxy_t *proxy;

static int on_tap(sip_transport_t *tp, sip_msg_t *msg, void *user)
{
    (void)tp;
    node_t *n = user;
    if (n->nrx < 64) {
        int len = sip_msg_print(msg, NULL, 0);
        char *s = malloc((size_t)len + 1);
        if (!s) return 0; /* an allocation failure a sweep injected */
        sip_msg_print(msg, s, (size_t)len + 1);
        n->rx[n->nrx++] = s;
        if (getenv("PROXY_TRACE")) fprintf(stderr, "---- to %d\n%s", (int)(n - nodes), s);
    }
    return 0;
}

/* The k-th message a node received that starts with start ("INVITE ", "SIP/2.0 200"), or NULL. */
static const char *rx_find(int node, const char *start, int k)
{
    for (int i = 0; i < nodes[node].nrx; i++)
        if (strncmp(nodes[node].rx[i], start, strlen(start)) == 0 && k-- == 0)
            return nodes[node].rx[i];
    return NULL;
}

static int rx_count(int node, const char *start)
{
    int c = 0;
    while (rx_find(node, start, c))
        c++;
    return c;
}

/* How many lines of the header block of m start with "name:" (any case). */
static int hdr_lines(const char *m, const char *name)
{
    int c = 0;
    size_t nl = strlen(name);
    const char *p = strstr(m, "\r\n");
    while (p && p[2] != '\r') {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') c++;
        p = strstr(p, "\r\n");
    }
    return c;
}

/* The value of the first header line of m named name, copied into buf. */
static const char *hdr_value(const char *m, const char *name, char *buf, size_t size)
{
    size_t nl = strlen(name);
    const char *p = strstr(m, "\r\n");
    while (p && p[2] != '\r') {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            snprintf(buf, size, "%.*s", (int)(e - v), v);
            return buf;
        }
        p = strstr(p, "\r\n");
    }
    buf[0] = '\0';
    return NULL;
}

static int edited(const char *line)
{
    static const char *names[] = {"Max-Forwards:", "Route:", "Record-Route:"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strncasecmp(line, names[i], strlen(names[i])) == 0) return 1;
    return 0;
}

/* The header lines a proxy must not touch: everything but the start line, the top Via of out
 * (the proxy's), Max-Forwards, Route and Record-Route; and the body. in is what the proxy
 * received, out what the next hop received: the same bytes, in the same order. */
static void assert_preserved(const char *in, const char *out)
{
    char a[8192] = "", b[8192] = "";
    const char *srcs[2] = {in, out};
    char *dsts[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        const char *p = strstr(srcs[k], "\r\n") + 2;
        int skipped_via = k == 0;
        size_t used = 0;
        while (strncmp(p, "\r\n", 2) != 0) {
            const char *e = strstr(p, "\r\n");
            int skip = edited(p);
            if (!skipped_via && strncmp(p, "Via:", 4) == 0) skip = skipped_via = 1;
            if (!skip) {
                memcpy(dsts[k] + used, p, (size_t)(e + 2 - p));
                used += (size_t)(e + 2 - p);
            }
            p = e + 2;
        }
        strcpy(dsts[k] + used, p);
    }
    assert_string_equal(a, b);
}

/* ---- the UASs ----------------------------------------------------------------------------------
 */

typedef struct uas {
    int prov;          /* a provisional sent at once (0: none) */
    int final;         /* the final status (0: none, the transaction is held) */
    int delay_ms;      /* the final after this long (0: at once) */
    const char *hname; /* an extra header of the final response */
    const char *hvalue;
    int twice; /* a 2xx sent twice */
    /* what happened */
    int reqs, acks, cancels;
    sip_txn_t *held;
    sip_timer_t *timer;
    char last_method[16];
} uas_t;

static uas_t uas[2];

static void uas_final(uas_t *u)
{
    sip_txn_t *t = u->held;
    u->held = NULL;
    sip_msg_t *rsp;
    const sip_msg_t *req = sip_txn_get_request(t);
    if (sip_txn_create_response(&rsp, t, u->final, NULL) == 0) {
        /* RFC 3261 §12.1.1: a dialog's 2xx copies the Record-Route of its request. */
        size_t n = u->final < 300 ? sip_msg_header_count(req, SIP_HDR_RECORD_ROUTE) : 0;
        for (size_t i = 0; i < n; i++)
            sip_msg_add_header_copy(rsp, sip_msg_header_at(req, SIP_HDR_RECORD_ROUTE, i));
        if (u->hname) sip_msg_add_header(rsp, u->hname, u->hvalue);
        sip_txn_reply(t, rsp);
        if (u->twice && u->final < 300) sip_txn_reply(t, rsp);
        sip_msg_unref(rsp);
    }
    sip_txn_unref(t);
}

static void on_uas_timer(sip_timer_t *tm, void *user)
{
    (void)tm;
    uas_t *u = user;
    if (u->held) uas_final(u);
}

static void on_uas_event(sip_txn_t *txn, sip_txn_event_t ev, const sip_msg_t *msg, void *user)
{
    (void)txn;
    (void)msg;
    uas_t *u = user;
    if (ev == SIP_TXN_EVENT_CANCEL) u->cancels++;
}

static void on_uas_request(sip_txn_layer_t *l, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    (void)l;
    uas_t *u = user;
    sip_str_t m = sip_msg_get_method_str(req);
    snprintf(u->last_method, sizeof(u->last_method), "%.*s", (int)m.len, m.ptr);
    if (!txn) {
        u->acks++;
        return;
    }
    u->reqs++;
    if (sip_msg_get_method(req) == SIP_METHOD_INVITE)
        sip_txn_set_event_handler(txn, on_uas_event, u, NULL);
    if (u->prov) sip_txn_respond(txn, u->prov, NULL);
    if (!u->final || u->held) return;
    u->held = sip_txn_ref(txn);
    if (u->delay_ms)
        assert_int_equal(
            sip_timer_start(&u->timer, loop, (uint64_t)u->delay_ms, 0, on_uas_timer, u, NULL), 0);
    else
        uas_final(u);
}

/* ---- the UAC -----------------------------------------------------------------------------------
 */

static int statuses[16], nstatus, final_status, got_final, n2xx;
static sip_msg_t *last_final;
static int cancel_on; /* the UAC cancels on this provisional */

static void on_uac_response(sip_txn_t *txn, int status, const sip_msg_t *rsp, void *user)
{
    (void)user;
    if (nstatus < 16) statuses[nstatus++] = status;
    if (status == cancel_on) sip_txn_cancel(txn);
    if (status >= 200 && status < 300) n2xx++;
    if (status >= 200 && !got_final) {
        final_status = status;
        got_final = 1;
        sip_msg_unref(last_final);
        last_final = sip_msg_ref(rsp);
    }
}

static sip_netinfo_t to_node(int node, sip_transport_type_t tr)
{
    sip_netinfo_t ni = {0};
    ni.transport = tr;
    strcpy(ni.remote_ip, "127.0.0.1");
    ni.remote_port = tr == SIP_TRANSPORT_TCP ? nodes[node].tcp : nodes[node].udp;
    return ni;
}

static int ncall;

/* A request as a UAC would write it, with headers in unusual forms the proxy must keep. */
static sip_msg_t *uac_request(const char *method, const char *ruri, const char *extra)
{
    char text[4096];
    const char *body = strcmp(method, "INVITE") == 0 ? "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n" : "";
    int own_mf = extra && strstr(extra, "Max-Forwards:") != NULL;
    snprintf(text, sizeof(text),
             "%s %s SIP/2.0\r\n"
             "%s"
             "From:   \"Alice\"  <sip:alice@example.com>;tag=a%d\r\n"
             "t: <sip:bob@example.com>\r\n"
             "i: call-%d@test\r\n"
             "CSeq: 1 %s\r\n"
             "Contact: <sip:alice@127.0.0.1:%u>\r\n"
             "subject:   spacing  kept\r\n"
             "X-Custom: value,  with ,commas\r\n"
             "Supported: 100rel,timer\r\n"
             "%s"
             "Content-Type: application/sdp\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             method, ruri, own_mf ? "" : "Max-Forwards: 70\r\n", ncall, ncall, method,
             nodes[UAC].udp, extra ? extra : "", strlen(body), body);
    ncall++;
    sip_msg_t *m;
    sip_parse_error_t err;
    assert_int_equal(sip_msg_parse(&m, text, strlen(text), &err), 0);
    return m;
}

static sip_txn_t *uac_send(sip_msg_t *req)
{
    sip_netinfo_t dst = to_node(PX, SIP_TRANSPORT_UDP);
    sip_txn_t *t;
    assert_int_equal(
        sip_txn_client_create(&t, nodes[UAC].layer, req, &dst, NULL, on_uac_response, NULL, NULL),
        0);
    return t;
}

static void wait_final(void)
{
    assert_true(test_pump_until(loop, &got_final, 1, 5000));
}

/* ---- the proxy's routing program ----------------------------------------------------------- */

static void (*route_fn)(sip_proxy_req_t *req);
static int nrouted, last_routed;
static sip_proxy_req_t *kept;
static char uri1[128], uri2[128], uri1_tcp[128]; /* the UASs' addresses */

static void on_route(sip_proxy_t *p, sip_proxy_req_t *req, void *user)
{
    (void)p;
    (void)user;
    nrouted++;
    last_routed = sip_proxy_req_routed(req);
    if (route_fn) route_fn(req);
}

/* ---- fixture -------------------------------------------------------------------------------- */

static void node_up(int i, int tcp, const sip_txn_opts_t *o)
{
    node_t *n = &nodes[i];
    assert_int_equal(sip_transport_create(&n->tp, loop, NULL), 0);
    assert_true(sip_transport_listen(n->tp, "udp:127.0.0.1:0") >= 0);
    sip_netinfo_t li;
    assert_int_equal(sip_transport_listener_info(n->tp, 0, &li), 0);
    n->udp = li.local_port;
    if (tcp) {
        assert_true(sip_transport_listen(n->tp, "tcp:127.0.0.1:0") >= 0);
        assert_int_equal(sip_transport_listener_info(n->tp, 1, &li), 0);
        n->tcp = li.local_port;
    }
    assert_int_equal(sip_txn_layer_create(&n->layer, n->tp, o), 0);
    assert_true(sip_transport_add_handler(n->tp, SIP_HANDLER_PRIO_FIRST, on_tap, n, NULL) > 0);
}

static int setup_with(int stateless)
{
    memset(nodes, 0, sizeof(nodes));
    memset(uas, 0, sizeof(uas));
    memset(statuses, 0, sizeof(statuses));
    nstatus = final_status = got_final = n2xx = cancel_on = 0;
    nrouted = last_routed = 0;
    last_final = NULL;
    kept = NULL;
    route_fn = NULL;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_txn_opts_t o;
    sip_txn_opts_init(&o);
    o.t4_ms = 100;
    node_up(UAC, 1, &o);
    sip_txn_opts_init(&o);
    o.t4_ms = 100;
    node_up(PX, 1, &o);
    sip_txn_opts_init(&o);
    o.timer_100_ms = 60000; /* no 100 Trying unless a test wants one */
    o.t4_ms = 100;
    node_up(UAS1, 1, &o);
    node_up(UAS2, 0, &o);
    for (int i = 0; i < 2; i++)
        assert_int_equal(
            sip_txn_layer_set_request_handler(nodes[UAS1 + i].layer, on_uas_request, &uas[i], NULL),
            0);
    snprintf(uri1, sizeof(uri1), "sip:bob@127.0.0.1:%u", nodes[UAS1].udp);
    snprintf(uri2, sizeof(uri2), "sip:bob2@127.0.0.1:%u", nodes[UAS2].udp);
    snprintf(uri1_tcp, sizeof(uri1_tcp), "sip:bob@127.0.0.1:%u;transport=tcp", nodes[UAS1].tcp);
    sip_proxy_opts_t po;
    sip_proxy_opts_init(&po);
    po.stateless = stateless;
    assert_int_equal(sip_proxy_create(&proxy, nodes[PX].layer, &po, on_route, NULL, NULL), 0);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    return setup_with(0);
}

static int setup_stateless(void **state)
{
    (void)state;
    return setup_with(1);
}

static int teardown(void **state)
{
    (void)state;
    sip_proxy_req_unref(kept);
    sip_proxy_unref(proxy);
    proxy = NULL;
    sip_msg_unref(last_final);
    for (int i = 0; i < 2; i++) {
        sip_txn_unref(uas[i].held);
        sip_timer_unref(uas[i].timer);
    }
    for (int i = 0; i < NNODES; i++) {
        sip_txn_layer_unref(nodes[i].layer);
        sip_transport_unref(nodes[i].tp);
        for (int k = 0; k < nodes[i].nrx; k++)
            free(nodes[i].rx[k]);
    }
    sip_loop_close(loop);
    sip_loop_unref(loop);
    assert_int_equal(sip_live_count(SIP_LIVE_PROXY), 0);
    assert_int_equal(sip_live_count(SIP_LIVE_PROXY_REQ), 0);
    return 0;
}

static char px_uri[128]; /* a Request-URI for the proxy's own address */

static const char *proxy_ruri(const char *user)
{
    snprintf(px_uri, sizeof(px_uri), "sip:%s@127.0.0.1:%u", user, nodes[PX].udp);
    return px_uri;
}

/* ---- stateless forwarding (§16.11) ------------------------------------------------------------
 */

static void route_to_uri1(sip_proxy_req_t *req)
{
    assert_int_equal(sip_proxy_req_forward(req, uri1, 0), 0);
    assert_int_equal(sip_proxy_req_forward(req, uri1, 0), SIP_EBUSY);
    assert_int_equal(sip_proxy_req_reply(req, 500, NULL), SIP_EBUSY);
    assert_true(sip_proxy_req_is_done(req));
}

static void proxy_stateless_forward_keeps_bytes(void **state)
{
    (void)state;
    route_fn = route_to_uri1;
    uas[0].final = 200;
    sip_msg_t *req = uac_request("OPTIONS", proxy_ruri("bob"), NULL);
    sip_txn_t *t = uac_send(req);
    wait_final();
    assert_int_equal(final_status, 200);
    assert_int_equal(nrouted, 1);
    const char *in = rx_find(PX, "OPTIONS ", 0), *out = rx_find(UAS1, "OPTIONS ", 0);
    assert_non_null(in);
    assert_non_null(out);
    assert_preserved(in, out);
    char buf[256];
    assert_string_equal(hdr_value(out, "Max-Forwards", buf, sizeof(buf)), "69");
    assert_int_equal(hdr_lines(out, "Via"), 2);
    assert_non_null(strstr(hdr_value(out, "Via", buf, sizeof(buf)), ";branch=z9hG4bKP"));
    char want[160];
    snprintf(want, sizeof(want), "OPTIONS %s SIP/2.0\r\n", uri1);
    assert_memory_equal(out, want, strlen(want));
    /* The 200 came back through the proxy without its Via (§16.11): one Via at the UAC. */
    assert_int_equal(hdr_lines(rx_find(UAC, "SIP/2.0 200", 0), "Via"), 1);
    assert_int_equal(sip_proxy_req_count(proxy), 0);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

/* A retransmission takes the same branch (§16.11). */
static void proxy_stateless_branch_is_stable(void **state)
{
    (void)state;
    route_fn = route_to_uri1;
    uas[0].final = 200; /* much later: the UAC retransmits meanwhile */
    uas[0].delay_ms = 60000;
    sip_msg_t *req = uac_request("OPTIONS", proxy_ruri("bob"), NULL);
    sip_txn_t *t = uac_send(req);
    int two = 0;
    for (int i = 0; i < 3000 && rx_count(UAS1, "OPTIONS ") < 2; i++)
        test_pump(loop, 1);
    two = rx_count(UAS1, "OPTIONS ");
    assert_true(two >= 2);
    char a[256], b[256];
    hdr_value(rx_find(UAS1, "OPTIONS ", 0), "Via", a, sizeof(a));
    hdr_value(rx_find(UAS1, "OPTIONS ", 1), "Via", b, sizeof(b));
    assert_string_equal(strstr(a, "branch="), strstr(b, "branch="));
    sip_txn_close(t);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

/* ---- §16.3 checks -----------------------------------------------------------------------------
 */

static void check_refused(const char *method, const char *ruri, const char *extra, int status)
{
    got_final = 0;
    sip_msg_t *req = uac_request(method, ruri, extra);
    sip_txn_t *t = uac_send(req);
    wait_final();
    assert_int_equal(final_status, status);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

static void proxy_checks_refuse(void **state)
{
    (void)state;
    route_fn = route_to_uri1;
    uas[0].final = 200;
    check_refused("OPTIONS", "mailto:bob@example.com", NULL, 416);
    char buf[64];
    check_refused("OPTIONS", proxy_ruri("bob"), "Max-Forwards: 0\r\n", 483);
    check_refused("OPTIONS", proxy_ruri("bob"), "Proxy-Require: foo, bar\r\n", 420);
    assert_string_equal(hdr_value(rx_find(UAC, "SIP/2.0 420", 0), "Unsupported", buf, sizeof(buf)),
                        "foo, bar");
    assert_int_equal(nrouted, 0);
    assert_int_equal(uas[0].reqs, 0);
}

/* ---- the unanswered request --------------------------------------------------------------- */

static void proxy_unanswered_gets_500(void **state)
{
    (void)state;
    sip_msg_t *req = uac_request("INVITE", proxy_ruri("bob"), NULL);
    sip_txn_t *t = uac_send(req);
    wait_final();
    assert_int_equal(final_status, 500);
    assert_int_equal(nrouted, 1);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

static void keep_it(sip_proxy_req_t *req)
{
    kept = sip_proxy_req_ref(req);
}

static void proxy_reply_later(void **state)
{
    (void)state;
    route_fn = keep_it;
    sip_msg_t *req = uac_request("INVITE", proxy_ruri("bob"), NULL);
    sip_txn_t *t = uac_send(req);
    assert_true(test_pump_until(loop, &nrouted, 1, 3000));
    assert_non_null(kept);
    assert_non_null(sip_proxy_req_get_txn(kept));
    assert_false(sip_proxy_req_is_done(kept));
    assert_int_equal(sip_proxy_req_reply(kept, 180, NULL), 0);
    sip_msg_t *rsp;
    assert_int_equal(sip_proxy_req_create_response(&rsp, kept, 486, "Busy Here Now"), 0);
    assert_int_equal(sip_msg_add_header(rsp, "Retry-After", "30"), 0);
    assert_int_equal(sip_proxy_req_send_response(kept, rsp), 0);
    assert_int_equal(sip_proxy_req_send_response(kept, rsp), SIP_EBUSY);
    assert_int_equal(sip_proxy_req_reply(kept, 500, NULL), SIP_EBUSY);
    sip_msg_unref(rsp);
    assert_true(sip_proxy_req_is_done(kept));
    wait_final();
    assert_int_equal(final_status, 486);
    assert_int_equal(statuses[0], 180);
    char buf[64];
    const char *r = rx_find(UAC, "SIP/2.0 486 Busy Here Now", 0);
    assert_non_null(r);
    assert_string_equal(hdr_value(r, "Retry-After", buf, sizeof(buf)), "30");
    assert_non_null(hdr_value(r, "Server", buf, sizeof(buf)));
    sip_txn_unref(t);
    sip_msg_unref(req);
}

static void drop_it(sip_proxy_req_t *req)
{
    assert_int_equal(sip_proxy_req_drop(req), 0);
    assert_int_equal(sip_proxy_req_drop(req), SIP_EBUSY);
}

static void proxy_stateless_drop_and_reply(void **state)
{
    (void)state;
    route_fn = drop_it;
    sip_msg_t *req = uac_request("OPTIONS", proxy_ruri("bob"), NULL);
    sip_txn_t *t = uac_send(req);
    assert_true(test_pump_until(loop, &nrouted, 1, 3000));
    test_pump(loop, 50);
    assert_int_equal(nstatus, 0);
    sip_txn_close(t);
    sip_txn_unref(t);
    sip_msg_unref(req);
    /* The stateless answer carries the same To tag for each retransmission (§8.2.7). */
    route_fn = NULL;
    req = uac_request("OPTIONS", proxy_ruri("bob"), NULL);
    t = uac_send(req);
    wait_final();
    assert_int_equal(final_status, 500);
    assert_int_equal(sip_proxy_req_count(proxy), 0);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

/* ---- §16.4 route preprocessing ----------------------------------------------------------------
 */

static void forward_as_is(sip_proxy_req_t *req)
{
    assert_int_equal(sip_proxy_req_forward(req, NULL, 0), 0);
}

static void proxy_route_naming_proxy_removed(void **state)
{
    (void)state;
    route_fn = forward_as_is;
    uas[0].final = 200;
    char extra[256];
    snprintf(extra, sizeof(extra), "Route: <sip:127.0.0.1:%u;lr>, <sip:127.0.0.1:%u;lr>\r\n",
             nodes[PX].udp, nodes[UAS1].udp);
    sip_msg_t *req = uac_request("OPTIONS", "sip:bob@example.com", extra);
    sip_txn_t *t = uac_send(req);
    wait_final();
    assert_int_equal(final_status, 200);
    assert_int_equal(last_routed, 1);
    const char *out = rx_find(UAS1, "OPTIONS ", 0);
    char buf[128], want[128];
    snprintf(want, sizeof(want), "<sip:127.0.0.1:%u;lr>", nodes[UAS1].udp);
    assert_string_equal(hdr_value(out, "Route", buf, sizeof(buf)), want);
    assert_memory_equal(out, "OPTIONS sip:bob@example.com SIP/2.0", 35);
    assert_preserved(rx_find(PX, "OPTIONS ", 0), out);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

/* Both values of a double Record-Route of ours go (RFC 5658), then the request follows the
 * rest of the route set. */
static void proxy_double_route_removed(void **state)
{
    (void)state;
    route_fn = forward_as_is;
    uas[0].final = 200;
    char extra[512];
    snprintf(extra, sizeof(extra),
             "Route: <sip:127.0.0.1:%u;transport=tcp;lr;r2=on>,<sip:127.0.0.1:%u;lr;r2=on>\r\n"
             "Route: <sip:127.0.0.1:%u;lr>\r\n",
             nodes[PX].tcp, nodes[PX].udp, nodes[UAS1].udp);
    sip_msg_t *req = uac_request("OPTIONS", "sip:bob@example.com", extra);
    sip_txn_t *t = uac_send(req);
    wait_final();
    assert_int_equal(final_status, 200);
    assert_int_equal(last_routed, 1);
    const char *out = rx_find(UAS1, "OPTIONS ", 0);
    assert_int_equal(hdr_lines(out, "Route"), 1);
    char buf[128], want[128];
    snprintf(want, sizeof(want), "<sip:127.0.0.1:%u;lr>", nodes[UAS1].udp);
    assert_string_equal(hdr_value(out, "Route", buf, sizeof(buf)), want);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

/* §16.6 step 6: the next hop is a strict router (no lr): it gets the Route as Request-URI, and
 * the Request-URI goes to the end of the route set. */
static void proxy_strict_next_hop(void **state)
{
    (void)state;
    route_fn = forward_as_is;
    uas[0].final = 200;
    char extra[256];
    snprintf(extra, sizeof(extra), "Route: <sip:127.0.0.1:%u>\r\n", nodes[UAS1].udp);
    sip_msg_t *req = uac_request("OPTIONS", "sip:bob@example.com", extra);
    sip_txn_t *t = uac_send(req);
    wait_final();
    assert_int_equal(final_status, 200);
    const char *out = rx_find(UAS1, "OPTIONS ", 0);
    char want[128], buf[128];
    snprintf(want, sizeof(want), "OPTIONS sip:127.0.0.1:%u SIP/2.0\r\n", nodes[UAS1].udp);
    assert_memory_equal(out, want, strlen(want));
    assert_string_equal(hdr_value(out, "Route", buf, sizeof(buf)), "<sip:bob@example.com>");
    sip_txn_unref(t);
    sip_msg_unref(req);
}

static void proxy_strict_route_fixup(void **state)
{
    (void)state;
    route_fn = forward_as_is;
    uas[0].final = 200;
    /* A strict router before us put our Record-Route in the Request-URI; the real one is the
     * last Route. */
    char ruri[128], extra[256];
    snprintf(ruri, sizeof(ruri), "sip:127.0.0.1:%u;lr", nodes[PX].udp);
    snprintf(extra, sizeof(extra), "Route: <%s>\r\n", uri1);
    sip_msg_t *req = uac_request("OPTIONS", ruri, extra);
    sip_txn_t *t = uac_send(req);
    wait_final();
    assert_int_equal(final_status, 200);
    assert_int_equal(last_routed, 0);
    const char *out = rx_find(UAS1, "OPTIONS ", 0);
    char want[160];
    snprintf(want, sizeof(want), "OPTIONS %s SIP/2.0\r\n", uri1);
    assert_memory_equal(out, want, strlen(want));
    assert_int_equal(hdr_lines(out, "Route"), 0);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

/* ---- loops and spirals (§16.3 step 4) ----------------------------------------------------------
 */

static void to_self(sip_proxy_req_t *req)
{
    /* First visit: on to ourselves with the same Request-URI (a loop), or with another one (a
     * spiral), which the second visit sends on to the UAS. */
    const sip_uri_t *u = sip_msg_get_uri(sip_proxy_req_get_msg(req));
    if (u->user.len == 4 && memcmp(u->user.ptr, "loop", 4) == 0) {
        assert_int_equal(sip_proxy_req_relay(req, NULL, NULL, NULL, NULL), 0);
    } else if (u->user.len == 6 && memcmp(u->user.ptr, "spiral", 6) == 0) {
        sip_proxy_target_t tg = {.uri = proxy_ruri("bob"), .q = -1};
        assert_int_equal(sip_proxy_req_add_target(req, &tg), 0);
        assert_int_equal(sip_proxy_req_relay(req, NULL, NULL, NULL, NULL), 0);
    } else {
        sip_proxy_target_t tg = {.uri = uri1, .q = -1};
        assert_int_equal(sip_proxy_req_add_target(req, &tg), 0);
        assert_int_equal(sip_proxy_req_relay(req, NULL, NULL, NULL, NULL), 0);
    }
}

static void proxy_loop_482_spiral_passes(void **state)
{
    (void)state;
    route_fn = to_self;
    uas[0].final = 200;
    sip_msg_t *req = uac_request("OPTIONS", proxy_ruri("loop"), NULL);
    sip_txn_t *t = uac_send(req);
    wait_final();
    assert_int_equal(final_status, 482);
    assert_int_equal(nrouted, 1);
    sip_txn_unref(t);
    sip_msg_unref(req);
    got_final = 0;
    nrouted = 0;
    req = uac_request("OPTIONS", proxy_ruri("spiral"), NULL);
    t = uac_send(req);
    wait_final();
    assert_int_equal(final_status, 200);
    assert_int_equal(nrouted, 2);
    /* Three Vias at the UAS: the proxy's twice, the UAC's. */
    assert_int_equal(hdr_lines(rx_find(UAS1, "OPTIONS ", 0), "Via"), 3);
    assert_preserved(rx_find(PX, "OPTIONS ", 3), rx_find(UAS1, "OPTIONS ", 0));
    sip_txn_unref(t);
    sip_msg_unref(req);
}

/* ---- Record-Route -------------------------------------------------------------------------------
 */

static void relay_rr_tcp(sip_proxy_req_t *req)
{
    sip_proxy_target_t tg = {.uri = uri1_tcp, .q = -1};
    assert_int_equal(sip_proxy_req_add_target(req, &tg), 0);
    sip_proxy_relay_opts_t o;
    sip_proxy_relay_opts_init(&o);
    o.record_route = 1;
    assert_int_equal(sip_proxy_req_relay(req, &o, NULL, NULL, NULL), 0);
}

static void relay_rr_udp(sip_proxy_req_t *req)
{
    sip_proxy_target_t tg = {.uri = uri1, .q = -1};
    assert_int_equal(sip_proxy_req_add_target(req, &tg), 0);
    sip_proxy_relay_opts_t o;
    sip_proxy_relay_opts_init(&o);
    o.record_route = 1;
    assert_int_equal(sip_proxy_req_relay(req, &o, NULL, NULL, NULL), 0);
}

static void proxy_record_route_single_and_double(void **state)
{
    (void)state;
    uas[0].final = 200;
    route_fn = relay_rr_udp;
    sip_msg_t *req = uac_request("INVITE", proxy_ruri("bob"), NULL);
    sip_txn_t *t = uac_send(req);
    wait_final();
    assert_int_equal(final_status, 200);
    const char *out = rx_find(UAS1, "INVITE ", 0);
    char buf[256], want[256];
    assert_int_equal(hdr_lines(out, "Record-Route"), 1);
    snprintf(want, sizeof(want), "<sip:127.0.0.1:%u;lr>", nodes[PX].udp);
    assert_string_equal(hdr_value(out, "Record-Route", buf, sizeof(buf)), want);
    assert_preserved(rx_find(PX, "INVITE ", 0), out);
    sip_txn_unref(t);
    sip_msg_unref(req);
    /* Out over TCP: two, the one facing downstream on top (RFC 5658). */
    got_final = 0;
    route_fn = relay_rr_tcp;
    req = uac_request("INVITE", proxy_ruri("bob"), NULL);
    t = uac_send(req);
    wait_final();
    assert_int_equal(final_status, 200);
    out = rx_find(UAS1, "INVITE ", 1);
    assert_non_null(out);
    assert_int_equal(hdr_lines(out, "Record-Route"), 2);
    snprintf(want, sizeof(want), "<sip:127.0.0.1:%u;transport=tcp;lr;r2=on>", nodes[PX].tcp);
    assert_string_equal(hdr_value(out, "Record-Route", buf, sizeof(buf)), want);
    assert_preserved(rx_find(PX, "INVITE ", 1), out);
    /* The 200 reached the UAC with both Record-Routes (the dialog's route set). */
    const char *ok = rx_find(UAC, "SIP/2.0 200", 1);
    assert_int_equal(hdr_lines(ok, "Record-Route"), 2);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

/* The ACK of a 2xx comes back with the Route set, is routed (our Route removed) and goes on
 * statelessly; so does a BYE, statefully. */
static void in_dialog(sip_proxy_req_t *req)
{
    if (!sip_proxy_req_routed(req)) {
        relay_rr_udp(req);
        return;
    }
    if (sip_proxy_req_get_txn(req))
        assert_int_equal(sip_proxy_req_relay(req, NULL, NULL, NULL, NULL), 0);
    else
        assert_int_equal(sip_proxy_req_forward(req, NULL, 0), 0);
}

static void proxy_ack_and_bye_follow_route(void **state)
{
    (void)state;
    uas[0].final = 200;
    route_fn = in_dialog;
    sip_msg_t *req = uac_request("INVITE", proxy_ruri("bob"), NULL);
    sip_txn_t *t = uac_send(req);
    wait_final();
    assert_int_equal(final_status, 200);
    char rr[256], extra[2048], to[256];
    hdr_value(rx_find(UAC, "SIP/2.0 200", 0), "Record-Route", rr, sizeof(rr));
    sip_str_t tag = sip_msg_get_to(last_final)->tag;
    snprintf(to, sizeof(to), "<sip:bob@example.com>;tag=%.*s", (int)tag.len, tag.ptr);
    /* ACK: To with the tag, Route from the Record-Route, Request-URI the UAS's Contact
     * (here its address). */
    const char *ackfmt =
        "ACK %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bKack1\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a%d\r\nTo: %s\r\n"
        "Call-ID: call-%d@test\r\nCSeq: 1 ACK\r\nRoute: %s\r\nContent-Length: 0\r\n\r\n";
    snprintf(extra, sizeof(extra), ackfmt, uri1, nodes[UAC].udp, ncall - 1, to, ncall - 1, rr);
    sip_msg_t *ack;
    assert_int_equal(sip_msg_parse(&ack, extra, strlen(extra), NULL), 0);
    sip_netinfo_t dst = to_node(PX, SIP_TRANSPORT_UDP);
    assert_int_equal(sip_txn_send_stateless(nodes[UAC].layer, ack, &dst), 0);
    assert_true(test_pump_until(loop, &uas[0].acks, 1, 3000));
    assert_int_equal(last_routed, 1);
    assert_int_equal(hdr_lines(rx_find(UAS1, "ACK ", 0), "Route"), 0);
    sip_msg_unref(ack);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

/* A CANCEL that matches nothing here goes on statelessly (§16.10). */
static void proxy_unmatched_cancel_forwarded(void **state)
{
    (void)state;
    route_fn = route_to_uri1;
    sip_msg_t *req = uac_request("CANCEL", proxy_ruri("bob"), NULL);
    sip_txn_t *t = uac_send(req);
    wait_final();
    /* The UAS has no INVITE for it: 481, relayed back. */
    assert_int_equal(final_status, 481);
    assert_int_equal(rx_count(UAS1, "CANCEL "), 1);
    assert_null(sip_proxy_req_get_txn(NULL));
    sip_txn_unref(t);
    sip_msg_unref(req);
}

/* ---- targets: NAT address and RFC 5626 flow
 * ------------------------------------------------------ */

static void to_nat(sip_proxy_req_t *req)
{
    char dst[128];
    snprintf(dst, sizeof(dst), "sip:127.0.0.1:%u", nodes[UAS1].udp);
    sip_proxy_target_t tg = {.uri = "sip:bob@192.0.2.1:5060", .q = -1, .dst = dst};
    assert_int_equal(sip_proxy_req_add_target(req, &tg), 0);
    assert_int_equal(sip_proxy_req_target_count(req), 1);
    assert_int_equal(sip_proxy_req_relay(req, NULL, NULL, NULL, NULL), 0);
}

static void proxy_target_behind_nat(void **state)
{
    (void)state;
    uas[0].final = 200;
    route_fn = to_nat;
    sip_msg_t *req = uac_request("INVITE", proxy_ruri("bob"), NULL);
    sip_txn_t *t = uac_send(req);
    wait_final();
    assert_int_equal(final_status, 200);
    assert_memory_equal(rx_find(UAS1, "INVITE ", 0), "INVITE sip:bob@192.0.2.1:5060 SIP/2.0", 37);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

static uint64_t flow_id;

static void to_flow(sip_proxy_req_t *req)
{
    if (sip_msg_get_method(sip_proxy_req_get_msg(req)) == SIP_METHOD_REGISTER) {
        /* Where the "registration" came from: the flow. */
        const sip_netinfo_t *ni = sip_msg_get_netinfo(sip_proxy_req_get_msg(req));
        flow_id = ni->conn_id;
        assert_int_equal(sip_proxy_req_reply(req, 200, NULL), 0);
        return;
    }
    /* The registered contact's address is unreachable: only the flow reaches it. */
    sip_proxy_target_t tg = {.uri = "sip:bob@192.0.2.1:5060;transport=tcp",
                             .q = -1,
                             .dst = "sip:192.0.2.1:5060;transport=tcp",
                             .conn_id = flow_id};
    assert_int_equal(sip_proxy_req_add_target(req, &tg), 0);
    assert_int_equal(sip_proxy_req_relay(req, NULL, NULL, NULL, NULL), 0);
}

static void uas1_done(sip_txn_t *txn, int status, const sip_msg_t *rsp, void *user)
{
    (void)txn;
    (void)rsp;
    *(int *)user = status;
}

static void proxy_target_over_flow(void **state)
{
    (void)state;
    route_fn = to_flow;
    uas[0].final = 200;
    /* UAS1 opens a TCP connection to the proxy (its REGISTER). */
    char text[512];
    snprintf(text, sizeof(text),
             "REGISTER sip:127.0.0.1 SIP/2.0\r\nMax-Forwards: 70\r\nFrom: <sip:bob@example.com>"
             ";tag=r1\r\nTo: <sip:bob@example.com>\r\nCall-ID: reg@test\r\nCSeq: 1 REGISTER\r\n"
             "Content-Length: 0\r\n\r\n");
    sip_msg_t *reg;
    assert_int_equal(sip_msg_parse(&reg, text, strlen(text), NULL), 0);
    int reg_status = 0;
    sip_netinfo_t dst = to_node(PX, SIP_TRANSPORT_TCP);
    sip_txn_t *rt;
    assert_int_equal(sip_txn_client_create(&rt, nodes[UAS1].layer, reg, &dst, NULL, uas1_done,
                                           &reg_status, NULL),
                     0);
    assert_true(test_pump_until(loop, &reg_status, 200, 3000));
    assert_true(flow_id != 0);
    sip_msg_t *req = uac_request("INVITE", proxy_ruri("bob"), NULL);
    sip_txn_t *t = uac_send(req);
    wait_final();
    assert_int_equal(final_status, 200);
    /* It came over the connection UAS1 opened. */
    assert_int_equal(sip_transport_connection_count(nodes[UAS1].tp), 1);
    /* A flow that is gone: 430 (RFC 5626 §5.3), nothing sent to its address. */
    flow_id += 1000;
    got_final = 0;
    int before = uas[0].reqs;
    sip_msg_t *again = uac_request("INVITE", proxy_ruri("bob"), NULL);
    sip_txn_t *t2 = uac_send(again);
    wait_final();
    assert_int_equal(final_status, 430);
    assert_non_null(rx_find(UAC, "SIP/2.0 430 Flow Failed", 0));
    assert_int_equal(uas[0].reqs, before);
    sip_txn_unref(t2);
    sip_msg_unref(again);
    sip_txn_unref(rt);
    sip_msg_unref(reg);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

/* ---- stateful relaying: forking and aggregation (§16.6, §16.7) ------------------------------ */

static sip_proxy_relay_opts_t ropts;
static const char *tgt[3];
static int tgt_q[3];
static int nout, out_status, out_branches, out_best_status, gseq;
static int keep_then; /* keep_final: 1 relay to UAS2 from the outcome, 2 keep the request */

static void on_outcome(sip_proxy_req_t *req, int status, sip_msg_t *best, void *user)
{
    assert_ptr_equal(user, &ropts);
    nout++;
    out_status = status;
    assert_non_null(best);
    out_best_status = sip_msg_get_status(best);
    out_branches = (int)sip_proxy_req_branch_count(req);
    if (keep_then == 1 && status >= 300) {
        sip_proxy_target_t t = {.uri = uri2, .q = -1};
        assert_int_equal(sip_proxy_req_add_target(req, &t), 0);
        sip_proxy_relay_opts_t o;
        sip_proxy_relay_opts_init(&o);
        assert_int_equal(sip_proxy_req_relay(req, &o, NULL, NULL, NULL), 0);
    } else if (keep_then == 2) {
        kept = sip_proxy_req_ref(req);
    } else if (keep_then == 3) {
        sip_proxy_close(sip_proxy_req_get_proxy(req));
    }
}

static void relay_targets(sip_proxy_req_t *req)
{
    for (int i = 0; i < 3 && tgt[i]; i++) {
        sip_proxy_target_t t = {.uri = tgt[i], .q = tgt_q[i] ? tgt_q[i] : -1};
        assert_int_equal(sip_proxy_req_add_target(req, &t), 0);
    }
    assert_int_equal(sip_proxy_req_relay(req, &ropts, on_outcome, &ropts, NULL), 0);
    assert_int_equal(sip_proxy_req_relay(req, &ropts, NULL, NULL, NULL), SIP_EBUSY);
    assert_int_equal(sip_proxy_req_forward(req, NULL, 0), SIP_EBUSY);
}

static void invite_through(const char *user)
{
    got_final = 0;
    sip_msg_t *req = uac_request("INVITE", proxy_ruri(user), NULL);
    sip_txn_t *t = uac_send(req);
    wait_final();
    sip_txn_unref(t);
    sip_msg_unref(req);
}

static void relay_setup(void)
{
    sip_proxy_relay_opts_init(&ropts);
    memset(tgt, 0, sizeof(tgt));
    memset(tgt_q, 0, sizeof(tgt_q));
    nout = out_status = out_branches = out_best_status = gseq = keep_then = 0;
    route_fn = relay_targets;
    tgt[0] = uri1;
    tgt[1] = uri2;
}

static void proxy_fork_busy_and_answer(void **state)
{
    (void)state;
    relay_setup();
    uas[0].final = 486;
    uas[1].prov = 180;
    uas[1].final = 200;
    uas[1].delay_ms = 50;
    invite_through("bob");
    assert_int_equal(final_status, 200);
    assert_int_equal(statuses[0], 180);
    assert_true(test_pump_until(loop, &nout, 1, 3000));
    assert_int_equal(out_status, 200);
    assert_int_equal(out_branches, 2);
    assert_preserved(rx_find(PX, "INVITE ", 0), rx_find(UAS1, "INVITE ", 0));
    assert_preserved(rx_find(PX, "INVITE ", 0), rx_find(UAS2, "INVITE ", 0));
    /* The 486 went no further than the proxy, which ACKed it (§17.1.1.3: hop by hop). */
    assert_int_equal(rx_count(UAC, "SIP/2.0 486"), 0);
    assert_true(test_pump_until(loop, &nodes[UAS1].nrx, 2, 3000));
    assert_non_null(rx_find(UAS1, "ACK ", 0));
}

static void proxy_fork_both_answer(void **state)
{
    (void)state;
    relay_setup();
    uas[0].final = 200;
    uas[1].final = 200;
    invite_through("bob");
    assert_int_equal(final_status, 200);
    /* §16.7 step 5: every 2xx goes upstream. */
    assert_true(test_pump_until(loop, &n2xx, 2, 3000));
    assert_int_equal(rx_count(UAC, "SIP/2.0 200"), 2);
    char a[128], b[128];
    hdr_value(rx_find(UAC, "SIP/2.0 200", 0), "To", a, sizeof(a));
    hdr_value(rx_find(UAC, "SIP/2.0 200", 1), "To", b, sizeof(b));
    assert_string_not_equal(a, b);
    assert_int_equal(nout, 1);
}

static void proxy_6xx_cancels_others(void **state)
{
    (void)state;
    relay_setup();
    uas[0].final = 603;
    uas[0].delay_ms = 50;
    uas[1].prov = 180;
    uas[1].final = 200;
    uas[1].delay_ms = 60000;
    invite_through("bob");
    assert_int_equal(final_status, 603);
    assert_true(test_pump_until(loop, &uas[1].cancels, 1, 3000));
    assert_int_equal(out_status, 603);
}

static void proxy_aggregation_best(void **state)
{
    (void)state;
    relay_setup();
    /* The lowest class wins: 404 over 503. */
    uas[0].final = 503;
    uas[1].final = 404;
    invite_through("bob");
    assert_int_equal(final_status, 404);
    /* A 503 alone goes up as 500 (§16.7 step 6), though the outcome says 503. */
    tgt[1] = NULL;
    invite_through("bob");
    assert_int_equal(final_status, 500);
    assert_true(test_pump_until(loop, &nout, 2, 3000));
    assert_int_equal(out_status, 503);
    /* The challenges of every 401/407 are gathered (§16.7 steps 7-8). */
    tgt[1] = uri2;
    uas[0].final = 401;
    uas[0].hname = "WWW-Authenticate";
    uas[0].hvalue = "Digest realm=\"a\", nonce=\"1\"";
    uas[1].final = 407;
    uas[1].hname = "Proxy-Authenticate";
    uas[1].hvalue = "Digest realm=\"b\", nonce=\"2\"";
    invite_through("bob");
    assert_true(final_status == 401 || final_status == 407);
    const char *r = rx_find(UAC, final_status == 401 ? "SIP/2.0 401" : "SIP/2.0 407", 0);
    assert_int_equal(hdr_lines(r, "WWW-Authenticate"), 1);
    assert_int_equal(hdr_lines(r, "Proxy-Authenticate"), 1);
}

static void on_uas_seq(sip_proxy_req_t *req)
{
    relay_targets(req);
}

static void proxy_sequential_by_q(void **state)
{
    (void)state;
    relay_setup();
    route_fn = on_uas_seq;
    ropts.parallel = 0;
    tgt_q[0] = 500; /* UAS1 after UAS2 */
    tgt_q[1] = 1000;
    uas[0].final = 200;
    uas[1].final = 486;
    invite_through("bob");
    assert_int_equal(final_status, 200);
    assert_int_equal(uas[0].reqs, 1);
    assert_int_equal(uas[1].reqs, 1);
    /* UAS2's INVITE went first: the proxy had its 486 before sending to UAS1. */
    const char *first = NULL;
    for (int i = 0; i < nodes[PX].nrx && !first; i++)
        if (!strncmp(nodes[PX].rx[i], "SIP/2.0 486", 11) ||
            !strncmp(nodes[PX].rx[i], "SIP/2.0 200", 11))
            first = nodes[PX].rx[i];
    assert_non_null(first);
    assert_memory_equal(first, "SIP/2.0 486", 11);
    assert_int_equal(out_branches, 2);
}

static void proxy_sequential_timeout(void **state)
{
    (void)state;
    relay_setup();
    ropts.parallel = 0;
    ropts.timeout_ms = 150;
    tgt_q[0] = 500;
    tgt_q[1] = 1000;
    uas[0].final = 200;
    uas[1].prov = 180;
    uas[1].final = 200;
    uas[1].delay_ms = 60000;
    invite_through("bob");
    assert_int_equal(final_status, 200);
    assert_int_equal(statuses[0], 180);
    assert_true(test_pump_until(loop, &uas[1].cancels, 1, 3000));
}

static void recreate_proxy(uint32_t timer_c_ms)
{
    sip_proxy_unref(proxy);
    sip_proxy_opts_t po;
    sip_proxy_opts_init(&po);
    po.timer_c_ms = timer_c_ms;
    assert_int_equal(sip_proxy_create(&proxy, nodes[PX].layer, &po, on_route, NULL, NULL), 0);
}

static void proxy_timer_c(void **state)
{
    (void)state;
    recreate_proxy(200);
    relay_setup();
    tgt[1] = NULL;
    /* A provisional, then nothing: CANCEL (§16.8), the 487 goes up. */
    uas[0].prov = 180;
    uas[0].final = 200;
    uas[0].delay_ms = 60000;
    invite_through("bob");
    assert_int_equal(final_status, 487);
    assert_int_equal(uas[0].cancels, 1);
    /* Nothing at all: a 408 of the proxy's own. */
    sip_txn_unref(uas[0].held);
    uas[0].held = NULL;
    sip_timer_unref(uas[0].timer);
    uas[0].timer = NULL;
    uas[0].prov = 0;
    invite_through("bob");
    assert_int_equal(final_status, 408);
    assert_int_equal(out_status, 408);
}

static void proxy_cancel_propagates(void **state)
{
    (void)state;
    relay_setup();
    tgt[1] = NULL;
    cancel_on = 180;
    uas[0].prov = 180;
    uas[0].final = 200;
    uas[0].delay_ms = 60000;
    invite_through("bob");
    assert_int_equal(final_status, 487);
    assert_int_equal(uas[0].cancels, 1);
    assert_int_equal(out_status, 487);
}

static void proxy_follow_redirects(void **state)
{
    (void)state;
    relay_setup();
    tgt[1] = NULL;
    char contact[160];
    snprintf(contact, sizeof(contact), "<%s>", uri2);
    uas[0].final = 302;
    uas[0].hname = "Contact";
    uas[0].hvalue = contact;
    uas[1].final = 200;
    invite_through("bob");
    assert_int_equal(final_status, 302);
    ropts.follow_redirects = 1;
    invite_through("bob");
    assert_int_equal(final_status, 200);
    assert_int_equal(out_branches, 2);
    assert_int_equal(uas[1].reqs, 1);
}

static int hook_calls;

static int on_hook(sip_proxy_req_t *req, sip_proxy_branch_event_t ev, int branch, sip_msg_t *msg,
                   void *user)
{
    (void)req;
    assert_ptr_equal(user, &ropts);
    hook_calls++;
    if (ev == SIP_PROXY_BRANCH_REQUEST) {
        /* The second target is skipped; the first gets a header. */
        const sip_uri_t *u = sip_msg_get_uri(msg);
        if (u->user.len == 4) return 1;
        char v[16];
        snprintf(v, sizeof(v), "%d", branch);
        assert_int_equal(sip_msg_add_header(msg, "X-Branch", v), 0);
        return 0;
    }
    if (sip_msg_get_status(msg) == 180) return 1;
    assert_int_equal(sip_msg_add_header(msg, "X-Seen", "yes"), 0);
    return 0;
}

static void proxy_branch_hooks(void **state)
{
    (void)state;
    relay_setup();
    ropts.on_branch = on_hook;
    uas[0].prov = 180;
    uas[0].final = 200;
    invite_through("bob");
    assert_int_equal(final_status, 200);
    assert_int_equal(nstatus, 1); /* the 180 was dropped */
    assert_int_equal(uas[1].reqs, 0);
    char buf[32];
    assert_string_equal(hdr_value(rx_find(UAS1, "INVITE ", 0), "X-Branch", buf, sizeof(buf)), "0");
    assert_string_equal(hdr_value(rx_find(UAC, "SIP/2.0 200", 0), "X-Seen", buf, sizeof(buf)),
                        "yes");
    assert_int_equal(out_branches, 1);
}

static void proxy_failure_routing(void **state)
{
    (void)state;
    relay_setup();
    tgt[1] = NULL;
    ropts.keep_final = 1;
    keep_then = 1;
    uas[0].final = 486;
    uas[1].final = 200;
    invite_through("bob");
    assert_int_equal(final_status, 200);
    assert_int_equal(rx_count(UAC, "SIP/2.0 486"), 0);
    /* Kept: the caller sends the best response when it likes. */
    keep_then = 2;
    uas[1].final = 480;
    tgt[0] = uri2;
    got_final = 0;
    sip_msg_t *req = uac_request("INVITE", proxy_ruri("bob"), NULL);
    sip_txn_t *t = uac_send(req);
    assert_true(test_pump_until(loop, &nout, 2, 3000));
    assert_non_null(kept);
    assert_int_equal(sip_proxy_req_branch_status(kept, 0), 480);
    assert_non_null(sip_proxy_req_branch_response(kept, 0));
    assert_string_equal(sip_proxy_req_branch_target(kept, 0), uri2);
    assert_null(sip_proxy_req_branch_target(kept, 1));
    test_pump(loop, 20);
    assert_int_equal(got_final, 0);
    assert_int_equal(sip_proxy_req_forward_best(kept), 0);
    assert_int_equal(sip_proxy_req_forward_best(kept), SIP_EBUSY);
    wait_final();
    assert_int_equal(final_status, 480);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

static int detach_freed;

static void on_detach_free(void *user)
{
    assert_ptr_equal(user, &ropts);
    detach_freed++;
}

/* The route relays with keep_final and returns without waiting: detached, the outcome runs no
 * callback and the proxy forwards the best response itself. */
static void relay_detached(sip_proxy_req_t *req)
{
    assert_int_equal(sip_proxy_req_relay_detach(req), SIP_ENOENT);
    sip_proxy_target_t t = {.uri = tgt[0], .q = -1};
    assert_int_equal(sip_proxy_req_add_target(req, &t), 0);
    assert_int_equal(sip_proxy_req_relay(req, &ropts, on_outcome, &ropts, on_detach_free), 0);
    assert_int_equal(detach_freed, 0);
    assert_int_equal(sip_proxy_req_relay_detach(req), 0);
    assert_int_equal(detach_freed, 1);
    assert_int_equal(sip_proxy_req_relay_detach(req), 0); /* still relaying: nothing to free */
    assert_int_equal(detach_freed, 1);
}

static void proxy_relay_detach(void **state)
{
    (void)state;
    relay_setup();
    assert_int_equal(sip_proxy_req_relay_detach(NULL), SIP_EINVAL);
    route_fn = relay_detached;
    ropts.keep_final = 1;
    detach_freed = 0;
    uas[0].final = 486;
    invite_through("bob");
    assert_int_equal(final_status, 486);
    assert_int_equal(nout, 0);
    assert_int_equal(detach_freed, 1);
    assert_int_equal(rx_count(UAC, "SIP/2.0 486"), 1);
}

static int hook_none(sip_proxy_req_t *req, sip_proxy_branch_event_t event, int branch,
                     sip_msg_t *msg, void *user)
{
    (void)req;
    (void)event;
    (void)branch;
    (void)msg;
    (void)user;
    return 0;
}

/* A relay with a branch hook keeps its user (and its callback) until it ends. */
static void relay_hooked_detach(sip_proxy_req_t *req)
{
    sip_proxy_target_t t = {.uri = tgt[0], .q = -1};
    assert_int_equal(sip_proxy_req_add_target(req, &t), 0);
    assert_int_equal(sip_proxy_req_relay(req, &ropts, on_outcome, &ropts, on_detach_free), 0);
    assert_int_equal(sip_proxy_req_relay_detach(req), SIP_EBUSY);
    assert_int_equal(detach_freed, 0);
}

static void proxy_relay_detach_hooked(void **state)
{
    (void)state;
    relay_setup();
    route_fn = relay_hooked_detach;
    ropts.on_branch = hook_none;
    detach_freed = 0;
    uas[0].final = 486;
    invite_through("bob");
    assert_int_equal(final_status, 486);
    assert_true(test_pump_until(loop, &nout, 1, 3000));
    assert_int_equal(detach_freed, 1);
}

static void proxy_2xx_retransmission_forwarded(void **state)
{
    (void)state;
    relay_setup();
    tgt[1] = NULL;
    uas[0].final = 200;
    uas[0].twice = 1;
    invite_through("bob");
    assert_true(test_pump_until(loop, &n2xx, 2, 3000));
    assert_int_equal(rx_count(UAC, "SIP/2.0 200"), 2);
}

static void proxy_close_answers_503(void **state)
{
    (void)state;
    relay_setup();
    tgt[1] = NULL;
    uas[0].prov = 180;
    uas[0].final = 200;
    uas[0].delay_ms = 60000;
    sip_msg_t *req = uac_request("INVITE", proxy_ruri("bob"), NULL);
    sip_txn_t *t = uac_send(req);
    assert_true(test_pump_until(loop, &nstatus, 1, 3000));
    assert_int_equal(sip_proxy_req_count(proxy), 1);
    sip_proxy_close(proxy);
    assert_null(sip_proxy_get_layer(proxy));
    wait_final();
    assert_int_equal(final_status, 503);
    assert_true(test_pump_until(loop, &uas[0].cancels, 1, 3000));
    assert_int_equal(nout, 0);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

static void refuse_relay(sip_proxy_req_t *req)
{
    assert_int_equal(sip_proxy_req_relay(req, NULL, NULL, NULL, NULL), SIP_ENOTSUP);
    assert_int_equal(sip_proxy_req_reply(req, 404, NULL), 0);
}

static void proxy_stateless_cannot_relay(void **state)
{
    (void)state;
    route_fn = refuse_relay;
    invite_through("bob");
    assert_int_equal(final_status, 404);
}

/* ---- CANCEL and transports ------------------------------------------------------------------ */

static void proxy_cancel_before_decision(void **state)
{
    (void)state;
    route_fn = keep_it;
    cancel_on = 100; /* the layer's 100 Trying, while the program has not decided */
    sip_msg_t *req = uac_request("INVITE", proxy_ruri("bob"), NULL);
    sip_txn_t *t = uac_send(req);
    wait_final();
    assert_int_equal(final_status, 487);
    assert_non_null(kept);
    assert_int_equal(sip_proxy_req_relay(kept, NULL, NULL, NULL, NULL), SIP_EBUSY);
    assert_int_equal(uas[0].reqs, 0);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

/* §16.11: a stateless proxy gives the CANCEL its INVITE's branch, so the UAS matches it. */
static void proxy_stateless_cancel_takes_invite_branch(void **state)
{
    (void)state;
    route_fn = route_to_uri1;
    cancel_on = 180;
    uas[0].prov = 180;
    uas[0].final = 200;
    uas[0].delay_ms = 60000;
    sip_msg_t *req = uac_request("INVITE", proxy_ruri("bob"), NULL);
    sip_txn_t *t = uac_send(req);
    wait_final();
    assert_int_equal(final_status, 487);
    assert_int_equal(uas[0].cancels, 1);
    char a[256], b[256];
    hdr_value(rx_find(UAS1, "INVITE ", 0), "Via", a, sizeof(a));
    hdr_value(rx_find(UAS1, "CANCEL ", 0), "Via", b, sizeof(b));
    *strstr(a, ";received") = '\0';
    *strstr(b, ";received") = '\0';
    assert_string_equal(strstr(a, "branch="), strstr(b, "branch="));
    sip_txn_unref(t);
    sip_msg_unref(req);
}

/* A request that came over TCP gets its responses back over that connection, though they came
 * from downstream over UDP; the Record-Route is double (TCP in, UDP out). */
static void proxy_tcp_upstream(void **state)
{
    (void)state;
    uas[0].prov = 180;
    uas[0].final = 200;
    route_fn = relay_rr_udp;
    sip_msg_t *req = uac_request("INVITE", proxy_ruri("bob"), NULL);
    sip_netinfo_t dst = to_node(PX, SIP_TRANSPORT_TCP);
    sip_txn_t *t;
    assert_int_equal(
        sip_txn_client_create(&t, nodes[UAC].layer, req, &dst, NULL, on_uac_response, NULL, NULL),
        0);
    wait_final();
    assert_int_equal(final_status, 200);
    assert_int_equal(statuses[0], 180);
    const char *out = rx_find(UAS1, "INVITE ", 0);
    assert_int_equal(hdr_lines(out, "Record-Route"), 2);
    char buf[256], want[256];
    snprintf(want, sizeof(want), "<sip:127.0.0.1:%u;lr;r2=on>", nodes[PX].udp);
    assert_string_equal(hdr_value(out, "Record-Route", buf, sizeof(buf)), want);
    assert_preserved(rx_find(PX, "INVITE ", 0), out);
    assert_int_equal(sip_transport_connection_count(nodes[UAC].tp), 1);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

static void relay_and_keep(sip_proxy_req_t *req)
{
    kept = sip_proxy_req_ref(req);
    sip_proxy_target_t tg = {.uri = uri1, .q = -1};
    assert_int_equal(sip_proxy_req_add_target(req, &tg), 0);
    assert_int_equal(sip_proxy_req_relay(req, NULL, NULL, NULL, NULL), 0);
}

/* The program answers while a branch rings: its answer goes up, the branch is cancelled. */
static void proxy_reply_while_relaying(void **state)
{
    (void)state;
    route_fn = relay_and_keep;
    uas[0].prov = 180;
    uas[0].final = 200;
    uas[0].delay_ms = 60000;
    sip_msg_t *req = uac_request("INVITE", proxy_ruri("bob"), NULL);
    sip_txn_t *t = uac_send(req);
    assert_true(test_pump_until(loop, &nstatus, 1, 3000));
    assert_int_equal(sip_proxy_req_reply(kept, 404, NULL), 0);
    wait_final();
    assert_int_equal(final_status, 404);
    assert_true(test_pump_until(loop, &uas[0].cancels, 1, 3000));
    assert_int_equal(sip_proxy_req_reply(kept, 500, NULL), SIP_EBUSY);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

/* A stateless forward without a URI goes to the first target added: its Request-URI and its
 * address behind a NAT (a registered contact, stateless). */
static void forward_to_target(sip_proxy_req_t *req)
{
    char dst[128];
    snprintf(dst, sizeof(dst), "sip:127.0.0.1:%u", nodes[UAS1].udp);
    sip_proxy_target_t tg = {.uri = "sip:bob@192.0.2.1:5060", .q = -1, .dst = dst};
    assert_int_equal(sip_proxy_req_add_target(req, &tg), 0);
    assert_int_equal(sip_proxy_req_forward(req, NULL, 0), 0);
    assert_int_equal(sip_proxy_req_target_count(req), 0);
}

static void proxy_stateless_forward_to_target(void **state)
{
    (void)state;
    route_fn = forward_to_target;
    uas[0].final = 200;
    invite_through("bob");
    assert_int_equal(final_status, 200);
    assert_memory_equal(rx_find(UAS1, "INVITE ", 0), "INVITE sip:bob@192.0.2.1:5060 SIP/2.0", 37);
}

/* With record_route_host the Record-Route names that host, and a Route naming it is ours. */
static void proxy_record_route_host(void **state)
{
    (void)state;
    sip_proxy_unref(proxy);
    sip_proxy_opts_t po;
    sip_proxy_opts_init(&po);
    po.record_route_host = "proxy.example.com";
    assert_int_equal(sip_proxy_create(&proxy, nodes[PX].layer, &po, on_route, NULL, NULL), 0);
    uas[0].final = 200;
    route_fn = in_dialog;
    invite_through("bob");
    assert_int_equal(final_status, 200);
    char buf[128];
    assert_string_equal(hdr_value(rx_find(UAS1, "INVITE ", 0), "Record-Route", buf, sizeof(buf)),
                        "<sip:proxy.example.com;lr>");
    char extra[256];
    snprintf(extra, sizeof(extra), "Route: <sip:proxy.example.com;lr>\r\n");
    got_final = 0;
    sip_msg_t *req = uac_request("BYE", uri1, extra);
    sip_txn_t *t = uac_send(req);
    wait_final();
    assert_int_equal(final_status, 200);
    assert_int_equal(last_routed, 1);
    assert_int_equal(hdr_lines(rx_find(UAS1, "BYE ", 0), "Route"), 0);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

/* §16.11: the ACK of a non-2xx takes its INVITE's branch through a stateless proxy, so the
 * UAS's INVITE transaction absorbs it (its TU never sees it). */
static void proxy_stateless_ack_takes_invite_branch(void **state)
{
    (void)state;
    route_fn = route_to_uri1;
    uas[0].final = 486;
    invite_through("bob");
    assert_int_equal(final_status, 486);
    for (int i = 0; i < 3000 && !rx_find(UAS1, "ACK ", 0); i++)
        test_pump(loop, 1);
    const char *ack = rx_find(UAS1, "ACK ", 0);
    assert_non_null(ack);
    char a[256], b[256];
    hdr_value(rx_find(UAS1, "INVITE ", 0), "Via", a, sizeof(a));
    hdr_value(ack, "Via", b, sizeof(b));
    *strstr(a, ";received") = '\0';
    *strstr(b, ";received") = '\0';
    assert_string_equal(strstr(a, "branch="), strstr(b, "branch="));
    assert_int_equal(uas[0].acks, 0);
}

/* The k-th line of m that starts with prefix, without its CRLF, into buf. */
static const char *line_of(const char *m, const char *prefix, int k, char *buf, size_t size)
{
    for (const char *p = m; p && *p; p = strstr(p, "\r\n"), p = p ? p + 2 : NULL) {
        if (strncmp(p, prefix, strlen(prefix)) == 0 && k-- == 0) {
            snprintf(buf, size, "%.*s", (int)(strstr(p, "\r\n") - p), p);
            return buf;
        }
    }
    fail_msg("no line %s", prefix);
    return NULL;
}

/* Whether node got a message with "X-Probe: n". */
static int probe_at(int node, int n)
{
    char want[32];
    snprintf(want, sizeof(want), "\r\nX-Probe: %d\r\n", n);
    for (int i = 0; i < nodes[node].nrx; i++)
        if (strstr(nodes[node].rx[i], want)) return 1;
    return 0;
}

/* UAS1 sends the proxy a 200 for the call the UAS got, with these two Vias. */
static void send_response(const char *via1, const char *via2, int probe)
{
    const char *inv = rx_find(UAS1, "INVITE ", 0);
    char from[256], callid[128], cseq[64], text[2048];
    line_of(inv, "From:", 0, from, sizeof(from));
    line_of(inv, "i:", 0, callid, sizeof(callid));
    line_of(inv, "CSeq:", 0, cseq, sizeof(cseq));
    snprintf(text, sizeof(text),
             "SIP/2.0 200 OK\r\n%s\r\n%s\r\n%s\r\nTo: <sip:bob@example.com>;tag=u1\r\n%s\r\n"
             "%s\r\nX-Probe: %d\r\nContent-Length: 0\r\n\r\n",
             via1, via2, from, callid, cseq, probe);
    sip_msg_t *rsp;
    assert_int_equal(sip_msg_parse(&rsp, text, strlen(text), NULL), 0);
    sip_netinfo_t dst = to_node(PX, SIP_TRANSPORT_UDP);
    assert_int_equal(sip_txn_send_stateless(nodes[UAS1].layer, rsp, &dst), 0);
    sip_msg_unref(rsp);
}

/* §16.11: a response no transaction took goes on only when its top Via is this proxy's (its
 * sent-by) with a branch this proxy made for that request (the MAC at its end): the proxy is
 * no reflector of forged responses to any address. The real one still goes through. */
static void forged_responses_dropped(void)
{
    const char *inv = rx_find(UAS1, "INVITE ", 0);
    char ours[256], next[256], victim[256], forged[256];
    line_of(inv, "Via:", 0, ours, sizeof(ours));
    line_of(inv, "Via:", 1, next, sizeof(next));
    assert_non_null(strstr(ours, ";branch=z9hG4bKP"));
    /* Where a forger would send a response it saw the branch of: UAS2, a Via of its choosing. */
    snprintf(victim, sizeof(victim), "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bKv1",
             nodes[UAS2].udp);
    /* 1: our sent-by, a branch of our shape that this proxy did not make. */
    snprintf(forged, sizeof(forged),
             "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bKP0123456789abcdef.s01234567."
             "0123456789abcdef",
             nodes[PX].udp);
    send_response(forged, next, 1);
    /* 2: the same without a MAC (the shape before it). */
    snprintf(forged, sizeof(forged),
             "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bKP0123456789abcdef.s01234567",
             nodes[PX].udp);
    send_response(forged, next, 2);
    /* 3: the real branch taken to another address: the MAC covers the next Via. */
    send_response(ours, victim, 3);
    /* 4: the real branch under a sent-by that is not this proxy. */
    char *b = strstr(ours, ";branch=");
    snprintf(forged, sizeof(forged), "Via: SIP/2.0/UDP 127.0.0.1:%u%s", nodes[UAS2].udp, b);
    send_response(forged, next, 4);
    /* 5: the real one (sent again) goes on to the UAC. */
    send_response(ours, next, 5);
    for (int i = 0; i < 3000 && !probe_at(UAC, 5); i++)
        test_pump(loop, 1);
    assert_true(probe_at(UAC, 5));
    for (int i = 1; i <= 4; i++)
        assert_false(probe_at(UAC, i));
    assert_false(probe_at(UAS2, 3));
}

static void proxy_stateless_forged_responses_dropped(void **state)
{
    (void)state;
    route_fn = route_to_uri1;
    uas[0].final = 200;
    invite_through("bob");
    assert_int_equal(final_status, 200);
    forged_responses_dropped();
}

/* §16.7 step 5: a stateful proxy's 2xx after its transaction ended goes on with the same
 * checks as a stateless one's responses. */
static void proxy_forged_2xx_after_transaction_dropped(void **state)
{
    (void)state;
    relay_setup();
    tgt[1] = NULL;
    uas[0].final = 200;
    invite_through("bob");
    assert_int_equal(final_status, 200);
    forged_responses_dropped();
}

/* ---- location, registrar, digest, redirect ------------------------------------------------ */

static sip_location_t *loc;
static sip_registrar_t *registrar;
static sip_auth_server_t *auth, *proxy_auth;
static sip_userdb_t *users;
static int saved_status, lookups;

static void on_lookup(sip_location_t *l, int status, sip_bindings_t *set, void *user)
{
    (void)l;
    sip_proxy_req_t *req = user;
    lookups++;
    const sip_msg_t *m = sip_proxy_req_get_msg(req);
    if (sip_msg_header_by_name(m, "X-Redirect", 0)) {
        assert_int_equal(sip_proxy_req_redirect(req, 302, set), 0);
        return;
    }
    if (status || !sip_bindings_count(set)) {
        assert_int_equal(sip_proxy_req_redirect(req, 302, NULL), 0);
        return;
    }
    assert_int_equal(sip_proxy_req_add_bindings(req, set), 0);
    assert_int_equal(sip_proxy_req_target_count(req), 1);
    assert_int_equal(sip_proxy_req_relay(req, NULL, NULL, NULL, NULL), 0);
}

static void unref_req(void *user)
{
    sip_proxy_req_unref(user);
}

static void on_saved(sip_registrar_t *r, int status, sip_msg_t *rsp, sip_bindings_t *set,
                     void *user)
{
    (void)r;
    (void)rsp;
    (void)set;
    (void)user;
    saved_status = status;
}

static void on_checked(sip_auth_query_t *q, sip_auth_event_t ev, void *user)
{
    sip_proxy_req_t *req = user;
    if (ev == SIP_AUTH_EVENT_LOOKUP) {
        assert_int_equal(sip_userdb_answer(users, q), 0);
        return;
    }
    if (!sip_proxy_req_get_auth_user(req)) {
        assert_int_equal(sip_proxy_req_challenge(req), 0);
        return;
    }
    assert_string_equal(sip_proxy_req_get_auth_user(req), "bob");
    if (sip_msg_get_method(sip_proxy_req_get_msg(req)) == SIP_METHOD_REGISTER)
        assert_int_equal(sip_proxy_req_save(req, on_saved, NULL, NULL), 0);
    else
        assert_int_equal(sip_proxy_req_forward(req, uri1, 0), 0);
}

static void route_servers(sip_proxy_req_t *req)
{
    const sip_msg_t *m = sip_proxy_req_get_msg(req);
    const sip_uri_t *u = sip_msg_get_uri(m);
    if (sip_msg_get_method(m) == SIP_METHOD_REGISTER || !sip_proxy_is_local(proxy, u)) {
        /* Authenticated first; without credentials a challenge (401 here, 407 to go on). */
        assert_int_equal(
            sip_proxy_req_authenticate(req, on_checked, sip_proxy_req_ref(req), unref_req), 0);
        return;
    }
    assert_int_equal(sip_proxy_req_lookup(req, on_lookup, sip_proxy_req_ref(req), unref_req), 0);
}

static int setup_servers(void **state)
{
    setup(state);
    saved_status = lookups = 0;
    assert_int_equal(sip_location_create(&loc, loop, NULL), 0);
    assert_int_equal(sip_location_add_domain(loc, "example.com", NULL), 0);
    assert_int_equal(sip_registrar_create(&registrar, loc, NULL), 0);
    sip_auth_server_opts_t ao;
    sip_auth_server_opts_init(&ao);
    ao.realm = "example.com";
    assert_int_equal(sip_auth_server_create(&auth, &ao), 0);
    ao.proxy = 1;
    assert_int_equal(sip_auth_server_create(&proxy_auth, &ao), 0);
    assert_int_equal(sip_userdb_create(&users, NULL, NULL), 0);
    assert_int_equal(sip_userdb_set_password(users, "bob", "example.com", "secret"), 0);
    sip_proxy_unref(proxy);
    sip_proxy_opts_t po;
    sip_proxy_opts_init(&po);
    po.location = loc;
    po.registrar = registrar;
    po.auth = auth;
    po.proxy_auth = proxy_auth;
    po.users = users;
    assert_int_equal(sip_proxy_create(&proxy, nodes[PX].layer, &po, on_route, NULL, NULL), 0);
    route_fn = route_servers;
    return 0;
}

static int teardown_servers(void **state)
{
    sip_proxy_unref(proxy);
    proxy = NULL;
    sip_registrar_unref(registrar);
    sip_location_unref(loc);
    sip_auth_server_unref(auth);
    sip_auth_server_unref(proxy_auth);
    sip_userdb_unref(users);
    return teardown(state);
}

static int reg_status;
static sip_msg_t *reg_final;

static void on_reg(sip_txn_t *txn, int status, const sip_msg_t *rsp, void *user)
{
    (void)txn;
    (void)user;
    if (status < 200) return;
    sip_msg_unref(reg_final);
    reg_final = sip_msg_ref(rsp);
    reg_status = status;
}

/* UAS1 registers bob through the proxy, answering the digest challenge. */
static void register_bob(void)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "REGISTER sip:example.com SIP/2.0\r\nMax-Forwards: 70\r\n"
             "From: <sip:bob@example.com>;tag=r1\r\nTo: <sip:bob@example.com>\r\n"
             "Call-ID: reg-bob@test\r\nCSeq: 1 REGISTER\r\nContact: <sip:bob@127.0.0.1:%u>\r\n"
             "Expires: 600\r\nContent-Length: 0\r\n\r\n",
             nodes[UAS1].udp);
    sip_msg_t *reg;
    assert_int_equal(sip_msg_parse(&reg, text, strlen(text), NULL), 0);
    sip_netinfo_t dst = to_node(PX, SIP_TRANSPORT_UDP);
    sip_txn_t *t;
    reg_status = 0;
    assert_int_equal(
        sip_txn_client_create(&t, nodes[UAS1].layer, reg, &dst, NULL, on_reg, NULL, NULL), 0);
    assert_true(test_pump_until(loop, &reg_status, 1, 3000));
    assert_int_equal(reg_status, 401);
    sip_txn_unref(t);
    /* Again with credentials (a new transaction, CSeq one higher). */
    sip_auth_client_t *ac;
    assert_int_equal(sip_auth_client_create(&ac), 0);
    sip_auth_cred_t cred = {.user = "bob", .password = "secret"};
    assert_int_equal(sip_auth_client_add(ac, &cred), 0);
    strstr(text, "CSeq: 1")[6] = '2';
    sip_msg_t *next;
    assert_int_equal(sip_msg_parse(&next, text, strlen(text), NULL), 0);
    assert_int_equal(sip_auth_client_authorize(ac, next, reg, reg_final), 0);
    reg_status = 0;
    assert_int_equal(
        sip_txn_client_create(&t, nodes[UAS1].layer, next, &dst, NULL, on_reg, NULL, NULL), 0);
    assert_true(test_pump_until(loop, &reg_status, 1, 3000));
    assert_int_equal(reg_status, 200);
    assert_int_equal(saved_status, 200);
    assert_int_equal(sip_location_count(loc), 1);
    sip_txn_unref(t);
    sip_msg_unref(next);
    sip_msg_unref(reg);
    sip_msg_unref(reg_final);
    reg_final = NULL;
    sip_auth_client_unref(ac);
}

static void proxy_register_then_call(void **state)
{
    (void)state;
    register_bob();
    uas[0].final = 200;
    got_final = 0;
    sip_msg_t *req = uac_request("INVITE", "sip:bob@example.com", NULL);
    sip_txn_t *t = uac_send(req);
    wait_final();
    assert_int_equal(final_status, 200);
    assert_int_equal(lookups, 1);
    char want[128];
    snprintf(want, sizeof(want), "INVITE sip:bob@127.0.0.1:%u SIP/2.0", nodes[UAS1].udp);
    assert_memory_equal(rx_find(UAS1, "INVITE ", 0), want, strlen(want));
    sip_txn_unref(t);
    sip_msg_unref(req);
    /* A redirect lists the contact with its expires; an unknown user gets 404. */
    got_final = 0;
    req = uac_request("INVITE", "sip:bob@example.com", "X-Redirect: yes\r\n");
    t = uac_send(req);
    wait_final();
    assert_int_equal(final_status, 302);
    char buf[256];
    hdr_value(rx_find(UAC, "SIP/2.0 302", 0), "Contact", buf, sizeof(buf));
    snprintf(want, sizeof(want), "<sip:bob@127.0.0.1:%u>;expires=", nodes[UAS1].udp);
    assert_memory_equal(buf, want, strlen(want));
    sip_txn_unref(t);
    sip_msg_unref(req);
    got_final = 0;
    req = uac_request("INVITE", "sip:carol@example.com", NULL);
    t = uac_send(req);
    wait_final();
    assert_int_equal(final_status, 404);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

/* A redirect lists every contact, the longest a binding keeps (1023 octets) too. */
static void proxy_redirect_long_contact(void **state)
{
    (void)state;
    static char contact[1024];
    int n = snprintf(contact, sizeof(contact), "sip:carol@192.0.2.7;x=");
    memset(contact + n, 'a', sizeof(contact) - 1 - (size_t)n);
    sip_binding_t b = {.aor = "sip:carol@example.com",
                       .contact = contact,
                       .expires = (int64_t)time(NULL) + 600,
                       .q = 500};
    assert_int_equal(sip_location_put(loc, &b, NULL, NULL, NULL), 0);
    got_final = 0;
    sip_msg_t *req = uac_request("INVITE", "sip:carol@example.com", "X-Redirect: yes\r\n");
    sip_txn_t *t = uac_send(req);
    wait_final();
    assert_int_equal(final_status, 302);
    const char *rsp = rx_find(UAC, "SIP/2.0 302", 0);
    assert_non_null(rsp);
    assert_int_equal(hdr_lines(rsp, "Contact"), 1);
    assert_non_null(strstr(rsp, contact));
    sip_txn_unref(t);
    sip_msg_unref(req);
}

/* sip_proxy_req_add_bindings(): one binding of user, registered from the address of node
 * from (its received), is called through the proxy; the node the INVITE reached is returned. */
static int call_binding(const char *user, const char *contact, int from, const char *instance)
{
    char aor[64], received[64];
    snprintf(aor, sizeof(aor), "sip:%s@example.com", user);
    snprintf(received, sizeof(received), "sip:127.0.0.1:%u;transport=udp", nodes[from].udp);
    sip_binding_t b = {.aor = aor,
                       .contact = contact,
                       .expires = (int64_t)time(NULL) + 600,
                       .q = -1,
                       .received = received,
                       .instance = instance,
                       .reg_id = instance ? 1 : 0};
    assert_int_equal(sip_location_put(loc, &b, NULL, NULL, NULL), 0);
    uas[0].final = uas[1].final = 200;
    got_final = 0;
    sip_msg_t *req = uac_request("INVITE", aor, NULL);
    sip_txn_t *t = uac_send(req);
    wait_final();
    assert_int_equal(final_status, 200);
    sip_txn_unref(t);
    sip_msg_unref(req);
    int at = rx_find(UAS1, "INVITE ", 0) ? UAS1 : UAS2;
    assert_null(rx_find(at == UAS1 ? UAS2 : UAS1, "INVITE ", 0));
    return at;
}

/* RFC 3261 §10.2: a public contact that another UA registered (UAS1's, registered from UAS2's
 * address) is called where it says, not where the REGISTER came from. */
static void proxy_bindings_third_party(void **state)
{
    (void)state;
    char contact[64];
    snprintf(contact, sizeof(contact), "sip:pub@127.0.0.1:%u", nodes[UAS1].udp);
    assert_int_equal(call_binding("pub", contact, UAS2, NULL), UAS1);
}

/* A private contact (RFC 1918: a UA behind a NAT) is reached through its received address. */
static void proxy_bindings_private(void **state)
{
    (void)state;
    assert_int_equal(call_binding("priv", "sip:priv@10.1.2.3:5060", UAS2, NULL), UAS2);
}

/* RFC 5626 §5.3: an outbound registration goes back over its flow (its received address over
 * UDP), whatever its contact says. */
static void proxy_bindings_outbound(void **state)
{
    (void)state;
    char contact[64];
    snprintf(contact, sizeof(contact), "sip:ob@127.0.0.1:%u;ob", nodes[UAS1].udp);
    assert_int_equal(
        call_binding("ob", contact, UAS2, "<urn:uuid:00000000-0000-0000-0000-000000000001>"), UAS2);
}

/* The rule of add_bindings, field by field: the received address behind a NAT or a flow. */
static void proxy_binding_uses_received(void **state)
{
    (void)state;
    const char *inst = "<urn:uuid:00000000-0000-0000-0000-000000000001>";
    assert_int_equal(sip_proxy_binding_uses_received("sip:a@192.0.2.1:5060", NULL, 0), 0);
    assert_int_equal(sip_proxy_binding_uses_received("sip:a@10.0.0.1", NULL, 0), 1);
    assert_int_equal(sip_proxy_binding_uses_received("sip:a@172.16.0.1", NULL, 0), 1);
    assert_int_equal(sip_proxy_binding_uses_received("sip:a@172.32.0.1", NULL, 0), 0);
    assert_int_equal(sip_proxy_binding_uses_received("sip:a@192.168.1.2", NULL, 0), 1);
    assert_int_equal(sip_proxy_binding_uses_received("sip:a@100.64.0.1", NULL, 0), 1);
    assert_int_equal(sip_proxy_binding_uses_received("sip:a@[fd00::1]", NULL, 0), 1);
    assert_int_equal(sip_proxy_binding_uses_received("sip:a@[fe80::1]", NULL, 0), 1);
    assert_int_equal(sip_proxy_binding_uses_received("sip:a@[2001:db8::1]", NULL, 0), 0);
    assert_int_equal(
        sip_proxy_binding_uses_received("sip:a@df7jal23ls0d.invalid;transport=ws", NULL, 0), 1);
    assert_int_equal(sip_proxy_binding_uses_received("sip:a@example.com", NULL, 0), 0);
    assert_int_equal(sip_proxy_binding_uses_received("sip:a@192.0.2.1;ob", inst, 1), 1);
    assert_int_equal(sip_proxy_binding_uses_received("sip:a@192.0.2.1", inst, 0), 0);
    assert_int_equal(sip_proxy_binding_uses_received(NULL, NULL, 0), 0);
    assert_int_equal(sip_proxy_binding_uses_received("not a uri", NULL, 0), 0);
}

/* The getters give the options the proxy was made with; the tables are Borrowed. */
static void proxy_getters(void **state)
{
    (void)state;
    assert_ptr_equal(sip_proxy_get_users(proxy), users);
    assert_ptr_equal(sip_proxy_get_auth(proxy), auth);
    assert_int_equal(sip_proxy_get_redirect(proxy), 0);
    assert_int_equal(sip_proxy_get_stateless(proxy), 0);
    assert_null(sip_proxy_get_users(NULL));
    assert_null(sip_proxy_get_auth(NULL));
    assert_int_equal(sip_proxy_get_redirect(NULL), 0);
    assert_int_equal(sip_proxy_get_stateless(NULL), 0);
    sip_proxy_t *other;
    sip_proxy_opts_t po;
    sip_proxy_opts_init(&po);
    po.redirect = 1;
    po.stateless = 1;
    assert_int_equal(sip_proxy_create(&other, nodes[UAS1].layer, &po, on_route, NULL, NULL), 0);
    assert_int_equal(sip_proxy_get_redirect(other), 1);
    assert_int_equal(sip_proxy_get_stateless(other), 1);
    assert_null(sip_proxy_get_users(other));
    assert_null(sip_proxy_get_auth(other));
    sip_proxy_close(other);
    assert_int_equal(sip_proxy_get_redirect(other), 1);
    sip_proxy_unref(other);
}

/* Not an open relay: another domain only for an authenticated user (407 first). */
static void proxy_other_domain_challenged(void **state)
{
    (void)state;
    uas[0].final = 200;
    sip_msg_t *req = uac_request("OPTIONS", "sip:dave@elsewhere.test", NULL);
    sip_txn_t *t = uac_send(req);
    wait_final();
    assert_int_equal(final_status, 407);
    char buf[256];
    assert_non_null(
        hdr_value(rx_find(UAC, "SIP/2.0 407", 0), "Proxy-Authenticate", buf, sizeof(buf)));
    assert_non_null(strstr(buf, "realm=\"example.com\""));
    assert_int_equal(uas[0].reqs, 0);
    sip_uri_t u;
    assert_int_equal(sip_uri_parse(&u, "sip:x@EXAMPLE.com", 17), 0);
    assert_int_equal(sip_proxy_is_local(proxy, &u), 1);
    assert_int_equal(sip_uri_parse(&u, "sip:x@elsewhere.test", 20), 0);
    assert_int_equal(sip_proxy_is_local(proxy, &u), 0);
    sip_txn_unref(t);
    sip_msg_unref(req);
}

static void no_servers(sip_proxy_req_t *req)
{
    assert_int_equal(sip_proxy_req_lookup(req, on_lookup, NULL, NULL), SIP_ENOENT);
    assert_int_equal(sip_proxy_req_authenticate(req, NULL, NULL, NULL), SIP_ENOENT);
    assert_int_equal(sip_proxy_req_challenge(req), SIP_ENOENT);
    assert_int_equal(sip_proxy_req_save(req, NULL, NULL, NULL), SIP_ENOENT);
    assert_null(sip_proxy_req_get_auth_user(req));
    assert_int_equal(sip_proxy_req_redirect(req, 404, NULL), SIP_EINVAL);
    assert_int_equal(sip_proxy_req_redirect(req, 302, NULL), 0);
}

static void proxy_without_servers(void **state)
{
    (void)state;
    route_fn = no_servers;
    invite_through("bob");
    assert_int_equal(final_status, 404);
}

/* A target's Path goes into a Route as it is: a line break in it (or in the URI) is refused
 * when the target is added, not skipped later without a word. */
static void bad_targets(sip_proxy_req_t *req)
{
    sip_proxy_target_t t = {.uri = uri1, .q = -1, .path = "<sip:edge.example.com;lr>\r\nX-Evil: 1"};
    assert_int_equal(sip_proxy_req_add_target(req, &t), SIP_EINVAL);
    t.path = "<sip:edge.example.com;lr>";
    t.uri = "sip:bob@example.com\r\nX-Evil: 1";
    assert_int_equal(sip_proxy_req_add_target(req, &t), SIP_EURI);
    assert_int_equal(sip_proxy_req_target_count(req), 0);
    assert_int_equal(sip_proxy_req_reply(req, 404, NULL), 0);
}

static void proxy_add_target_refuses_bad_strings(void **state)
{
    (void)state;
    route_fn = bad_targets;
    invite_through("bob");
    assert_int_equal(final_status, 404);
}

/* The proxy closed from a routing program's callbacks: inside the route and inside a relay's
 * outcome, the request is answered 503 once and nothing is used after it went. */
static void close_in_route(sip_proxy_req_t *req)
{
    sip_proxy_close(sip_proxy_req_get_proxy(req));
    assert_int_equal(sip_proxy_req_reply(req, 404, NULL), SIP_ECLOSED);
}

static void proxy_closed_from_callbacks(void **state)
{
    (void)state;
    route_fn = close_in_route;
    invite_through("bob");
    assert_int_equal(final_status, 503);
    assert_int_equal(sip_proxy_req_count(proxy), 0);
}

static void proxy_closed_from_outcome(void **state)
{
    (void)state;
    relay_setup();
    keep_then = 3;
    uas[0].final = 486;
    uas[1].final = 486;
    invite_through("bob");
    assert_int_equal(nout, 1);
    assert_int_equal(final_status, 503);
    assert_int_equal(sip_proxy_req_count(proxy), 0);
}

/* ---- allocation failures ------------------------------------------------------------------- */

static int freed_user;

static void count_free(void *user)
{
    (void)user;
    freed_user++;
}

/* Option strings that go into headers as they are (Record-Route, Server) are refused at
 * create: a line break or a URI delimiter in them would make every response or branch fail,
 * or add what nobody configured. */
static void proxy_create_refuses_bad_strings(void **state)
{
    (void)state;
    static const char *const hosts[] = {"proxy.example.com\r\nX-Evil: 1", "proxy.example.com;x=y",
                                        "proxy.example.com> <sip:evil.org", "pro xy", ""};
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        sip_proxy_opts_t po;
        sip_proxy_opts_init(&po);
        po.record_route_host = hosts[i];
        sip_proxy_t *p = (sip_proxy_t *)1;
        freed_user = 0;
        int rc = sip_proxy_create(&p, nodes[PX].layer, &po, on_route, NULL, count_free);
        assert_int_equal(rc, hosts[i][0] ? SIP_EINVAL : 0);
        assert_int_equal(freed_user, hosts[i][0] ? 1 : 0);
        if (rc) assert_null(p);
        sip_proxy_unref(rc ? NULL : p);
        test_pump(loop, 1);
    }
    sip_proxy_opts_t po;
    sip_proxy_opts_init(&po);
    po.server = "libsip\r\nX-Evil: 1";
    sip_proxy_t *p = NULL;
    freed_user = 0;
    assert_int_equal(sip_proxy_create(&p, nodes[PX].layer, &po, on_route, NULL, count_free),
                     SIP_EINVAL);
    assert_int_equal(freed_user, 1);
    assert_null(p);
    po.server = NULL;
    static char longhost[300];
    memset(longhost, 'a', sizeof(longhost) - 1);
    po.record_route_host = longhost;
    assert_int_equal(sip_proxy_create(&p, nodes[PX].layer, &po, on_route, NULL, count_free),
                     SIP_EINVAL);
    po.record_route_host = "[2001:db8::1]:5080";
    assert_int_equal(sip_proxy_create(&p, nodes[PX].layer, &po, on_route, NULL, count_free), 0);
    sip_proxy_unref(p);
    test_pump(loop, 1);
}

static void proxy_create_alloc_sweep(void **state)
{
    (void)state;
    sip_proxy_opts_t po;
    sip_proxy_opts_init(&po);
    po.record_route_host = "proxy.example.com";
    int ok = 0;
    for (int n = 1; n < 100 && !ok; n++) {
        sip_proxy_t *p = NULL;
        freed_user = 0;
        test_alloc_fail_at(n);
        int rc = sip_proxy_create(&p, nodes[PX].layer, &po, on_route, NULL, count_free);
        test_alloc_fail_at(0);
        if (rc == 0) {
            ok = 1;
            sip_proxy_unref(p);
        } else {
            assert_int_equal(rc, SIP_ENOMEM);
            assert_null(p);
        }
        assert_int_equal(freed_user, 1);
        test_pump(loop, 1);
    }
    assert_true(ok);
}

/* Every allocation of the intake, the checks, a relay with Record-Route and the responses
 * relayed back fails in turn: the request is answered or dropped, nothing leaks, and once no
 * allocation fails it reaches the UAS. */
/* As relay_rr_udp, taking what fails (an allocation) as the request's answer. */
static void relay_rr_quiet(sip_proxy_req_t *req)
{
    sip_proxy_target_t tg = {.uri = uri1, .q = -1};
    sip_proxy_relay_opts_t o;
    sip_proxy_relay_opts_init(&o);
    o.record_route = 1;
    int rc = sip_proxy_req_add_target(req, &tg);
    if (!rc) rc = sip_proxy_req_relay(req, &o, NULL, NULL, NULL);
    assert_true(rc == 0 || rc == SIP_ENOMEM);
}

static void proxy_relay_alloc_sweep(void **state)
{
    (void)state;
    route_fn = relay_rr_quiet;
    uas[0].final = 200;
    int ok = 0;
    sip_netinfo_t from = {0};
    from.transport = SIP_TRANSPORT_UDP;
    strcpy(from.local_ip, "127.0.0.1");
    from.local_port = nodes[PX].udp;
    strcpy(from.remote_ip, "127.0.0.1");
    from.remote_port = nodes[UAC].udp;
    for (int n = 1; n < 600 && !ok; n++) {
        char text[1024];
        snprintf(text, sizeof(text),
                 "INVITE %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bKsweep%d\r\n"
                 "Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=s%d\r\n"
                 "To: <sip:bob@example.com>\r\nCall-ID: sweep-%d@test\r\nCSeq: 1 INVITE\r\n"
                 "Content-Length: 0\r\n\r\n",
                 proxy_ruri("bob"), nodes[UAC].udp, n, n, n);
        sip_msg_t *m;
        assert_int_equal(sip_msg_parse(&m, text, strlen(text), NULL), 0);
        sip_msg_set_netinfo(m, &from);
        int before = uas[0].reqs;
        test_alloc_fail_at(n);
        sip__tp_deliver(nodes[PX].tp, m, 0);
        int failed = test_alloc_failed();
        test_alloc_fail_at(0);
        sip_msg_unref(m);
        test_pump(loop, 5);
        if (!failed) {
            assert_true(test_pump_until(loop, &uas[0].reqs, before + 1, 3000));
            if (getenv("PROXY_TRACE")) fprintf(stderr, "sweep passed at allocation %d\n", n);
            ok = 1;
        }
    }
    assert_true(ok);
    test_pump(loop, 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define S(f) cmocka_unit_test_setup_teardown(f, setup_stateless, teardown)
        S(proxy_stateless_forward_keeps_bytes),
        S(proxy_stateless_branch_is_stable),
        S(proxy_checks_refuse),
        T(proxy_checks_refuse),
        T(proxy_unanswered_gets_500),
        T(proxy_reply_later),
        S(proxy_stateless_drop_and_reply),
        S(proxy_route_naming_proxy_removed),
        S(proxy_strict_route_fixup),
        S(proxy_double_route_removed),
        S(proxy_strict_next_hop),
        T(proxy_loop_482_spiral_passes),
        T(proxy_record_route_single_and_double),
        T(proxy_ack_and_bye_follow_route),
        T(proxy_unmatched_cancel_forwarded),
        T(proxy_target_behind_nat),
        T(proxy_target_over_flow),
        T(proxy_fork_busy_and_answer),
        T(proxy_fork_both_answer),
        T(proxy_6xx_cancels_others),
        T(proxy_aggregation_best),
        T(proxy_sequential_by_q),
        T(proxy_sequential_timeout),
        T(proxy_timer_c),
        T(proxy_cancel_propagates),
        T(proxy_follow_redirects),
        T(proxy_branch_hooks),
        T(proxy_failure_routing),
        T(proxy_relay_detach),
        T(proxy_relay_detach_hooked),
        T(proxy_2xx_retransmission_forwarded),
        T(proxy_forged_2xx_after_transaction_dropped),
        T(proxy_close_answers_503),
        S(proxy_stateless_cannot_relay),
        T(proxy_cancel_before_decision),
        S(proxy_stateless_cancel_takes_invite_branch),
        T(proxy_tcp_upstream),
        T(proxy_reply_while_relaying),
        S(proxy_stateless_forward_to_target),
        S(proxy_stateless_ack_takes_invite_branch),
        S(proxy_stateless_forged_responses_dropped),
        T(proxy_record_route_host),
        cmocka_unit_test_setup_teardown(proxy_register_then_call, setup_servers, teardown_servers),
        cmocka_unit_test_setup_teardown(proxy_other_domain_challenged, setup_servers,
                                        teardown_servers),
        cmocka_unit_test_setup_teardown(proxy_redirect_long_contact, setup_servers,
                                        teardown_servers),
        cmocka_unit_test_setup_teardown(proxy_bindings_third_party, setup_servers,
                                        teardown_servers),
        cmocka_unit_test_setup_teardown(proxy_bindings_private, setup_servers, teardown_servers),
        cmocka_unit_test_setup_teardown(proxy_bindings_outbound, setup_servers, teardown_servers),
        cmocka_unit_test_setup_teardown(proxy_getters, setup_servers, teardown_servers),
        T(proxy_binding_uses_received),
        T(proxy_without_servers),
        T(proxy_create_alloc_sweep),
        T(proxy_relay_alloc_sweep),
        T(proxy_create_refuses_bad_strings),
        T(proxy_add_target_refuses_bad_strings),
        T(proxy_closed_from_callbacks),
        S(proxy_closed_from_callbacks),
        T(proxy_closed_from_outcome),
#undef T
#undef S
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
