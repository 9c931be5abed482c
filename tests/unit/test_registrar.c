/* SPDX-License-Identifier: MIT */
/* The registrar (RFC 3261 §10.3) on server transactions of a recording transport, writing into
 * a location service in memory: add, refresh, remove, `*`, ordering, 423, Path, Service-Route,
 * RFC 5626 flows and who may register what. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_hook.h"
#include "location/store.h"
#include "pump.h"
#include "sip/sip.h"
#include "txn/txn_int.h"

/* ---- a clock driven by hand (the transaction timers never fire on their own) ---------------- */

static uint64_t fake_now(void *u)
{
    (void)u;
    return 1000;
}

static void fake_start(void *u, uint64_t delay, void (*fire)(void *), void *arg)
{
    (void)u;
    (void)delay;
    (void)fire;
    (void)arg;
}

static void fake_stop(void *u)
{
    (void)u;
}

static const sip_txn_clock_t fake_clock = {fake_now, fake_start, fake_stop, NULL};

/* ---- a transport that records the responses --------------------------------------------- */

static sip_msg_t *responses[64];
static int nrsp;

static int fake_send(void *ctx, sip_msg_t *msg, const sip_netinfo_t *dst, sip_transport_sent_cb cb,
                     void *user, sip_free_fn user_free)
{
    (void)ctx;
    (void)msg;
    (void)dst;
    (void)cb;
    if (user_free) user_free(user);
    return SIP_EINVAL; /* the registrar sends no request */
}

static int fake_send_response(void *ctx, sip_msg_t *rsp)
{
    (void)ctx;
    assert_true(nrsp < 64);
    responses[nrsp++] = sip_msg_ref(rsp);
    return 0;
}

static int fake_send_raw(void *ctx, const sip_netinfo_t *ni, const char *data, size_t len)
{
    (void)ctx;
    (void)ni;
    (void)data;
    (void)len;
    return 0;
}

/* ---- fixture ------------------------------------------------------------------------------ */

static sip_loop_t *loop;
static sip_transport_t *tp;
static sip_txn_layer_t *layer;
static sip_location_t *loc;
static sip_registrar_t *reg;

static unsigned next_cseq = 1;
static int branch;

/* What the next REGISTER is saved as (the request handler's part). */
static const char *auth_user = "alice";
static int use_fetch;

/* What the registrar told. */
static int saved, saved_status, saved_count, freed, save_rc;

static void on_saved(sip_registrar_t *r, int status, sip_msg_t *rsp, sip_bindings_t *set,
                     void *user)
{
    (void)user;
    assert_ptr_equal(r, reg);
    saved++;
    saved_status = status;
    saved_count = set ? (int)sip_bindings_count(set) : -1;
    if (status == 200) assert_non_null(set);
    if (rsp) assert_int_equal(sip_msg_get_status(rsp), status);
}

static void on_free(void *user)
{
    (void)user;
    freed++;
}

static void on_request(sip_txn_layer_t *l, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    (void)l;
    (void)req;
    (void)user;
    if (!txn) return;
    save_rc = use_fetch ? sip_registrar_fetch(reg, txn, on_saved, NULL, on_free)
                        : sip_registrar_save(reg, txn, auth_user, on_saved, NULL, on_free);
}

static void make_registrar(const sip_registrar_opts_t *o)
{
    sip_registrar_unref(reg);
    assert_int_equal(sip_registrar_create(&reg, loc, o), 0);
}

static int setup(void **state)
{
    (void)state;
    nrsp = saved = freed = 0;
    next_cseq = 1;
    auth_user = "alice";
    use_fetch = 0;
    assert_int_equal(sip_loop_create(&loop), 0);
    assert_int_equal(sip_transport_create(&tp, loop, NULL), 0);
    sip_txn_opts_t o;
    sip_txn_opts_init(&o);
    o.clock = &fake_clock;
    assert_int_equal(sip_txn_layer_create(&layer, tp, &o), 0);
    sip__txn_io_t io = {fake_send, fake_send_response, fake_send_raw, NULL, NULL};
    sip__txn_layer_set_io(layer, &io);
    assert_int_equal(sip_txn_layer_set_request_handler(layer, on_request, NULL, NULL), 0);
    assert_int_equal(sip_location_create(&loc, loop, NULL), 0);
    assert_int_equal(sip_location_add_domain(loc, "example.com", NULL), 0);
    assert_int_equal(sip_location_add_domain(loc, "sip.example.com", "example.com"), 0);
    reg = NULL;
    make_registrar(NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sip_registrar_unref(reg);
    sip_location_close(loc);
    sip_location_unref(loc);
    sip_txn_layer_unref(layer);
    sip_transport_unref(tp);
    sip_loop_close(loop);
    sip_loop_unref(loop);
    for (int i = 0; i < nrsp; i++)
        sip_msg_unref(responses[i]);
    nrsp = 0;
    return 0;
}

/* ---- REGISTERs ---------------------------------------------------------------------------- */

static const sip_netinfo_t udp_src = {
    SIP_TRANSPORT_UDP, "127.0.0.1", 5060, "10.0.0.2", 5070, 0, ""};
static const sip_netinfo_t tcp_src = {
    SIP_TRANSPORT_TCP, "127.0.0.1", 5060, "10.0.0.2", 40000, 7, ""};

typedef struct rq {
    const char *to;      /* NULL: sip:alice@example.com */
    const char *call_id; /* NULL: "c1" */
    unsigned cseq;       /* 0: the next one */
    const char *headers; /* extra header lines, each ending in CRLF */
    const sip_netinfo_t *src;
} rq_t;

/* Sends a REGISTER through the layer and returns the status answered (0: none). */
static int send_reg(rq_t q)
{
    static char buf[16384];
    if (!q.cseq) q.cseq = next_cseq;
    next_cseq = q.cseq + 1;
    snprintf(buf, sizeof(buf),
             "REGISTER sip:example.com SIP/2.0\r\n"
             "Via: SIP/2.0/%s 10.0.0.2:5070;branch=z9hG4bKreg%d\r\n"
             "Max-Forwards: 70\r\n"
             "From: <sip:alice@example.com>;tag=f%d\r\n"
             "To: <%s>\r\n"
             "Call-ID: %s\r\n"
             "CSeq: %u REGISTER\r\n"
             "User-Agent: test-ua/1\r\n"
             "%s"
             "Content-Length: 0\r\n\r\n",
             q.src == &tcp_src ? "TCP" : "UDP", branch + 1, branch + 1,
             q.to ? q.to : "sip:alice@example.com", q.call_id ? q.call_id : "c1", q.cseq,
             q.headers ? q.headers : "");
    branch++;
    sip_msg_t *m = NULL;
    sip_parse_error_t err;
    if (sip_msg_parse(&m, buf, strlen(buf), &err)) fail_msg("parse: %s", err.reason);
    sip_msg_set_netinfo(m, q.src ? q.src : &udp_src);
    int before = nrsp, before_saved = saved;
    save_rc = 1;
    assert_int_equal(sip_txn_layer_receive(layer, m), 0);
    sip_msg_unref(m);
    assert_int_equal(save_rc, 0);
    assert_true(test_pump_until(loop, &nrsp, before + 1, 2000));
    assert_int_equal(saved, before_saved + 1);
    assert_int_equal(freed, saved);
    int st = sip_msg_get_status(responses[nrsp - 1]);
    assert_int_equal(st, saved_status);
    return st;
}

static sip_msg_t *last(void)
{
    assert_true(nrsp > 0);
    return responses[nrsp - 1];
}

/* The i-th value of a header of the last response, as text ("" when absent). */
static const char *hv(const char *name, size_t i)
{
    static char buf[4][1024];
    static int k;
    char *b = buf[k++ % 4];
    const sip_header_t *h = sip_msg_header_by_name(last(), name, i);
    b[0] = '\0';
    if (h) sip_str_copy(sip_header_get_value(h), b, 1024);
    return b;
}

static const char *reason(void);

static size_t nh(const char *name)
{
    size_t n = 0;
    while (sip_msg_header_by_name(last(), name, n))
        n++;
    return n;
}

/* The bindings of an AOR, from the location service. */
static sip_bindings_t *bindings(const char *aor)
{
    sip_uri_t u;
    sip_bindings_t *set = NULL;
    assert_int_equal(sip_uri_parse(&u, aor, strlen(aor)), 0);
    assert_int_equal(sip_location_lookup_now(&set, loc, &u), 0);
    return set;
}

static size_t nbind(const char *aor)
{
    sip_bindings_t *set = bindings(aor);
    size_t n = sip_bindings_count(set);
    sip_bindings_unref(set);
    return n;
}

/* ---- tests -------------------------------------------------------------------------------- */

/* RFC 3261 §10.3 steps 6-8: add, refresh, a second contact, remove one, query. */
static void registrar_add_refresh_remove(void **state)
{
    (void)state;
    assert_int_equal(sip_live_count(SIP_LIVE_REGISTRAR), 1);
    assert_ptr_equal(sip_registrar_get_location(reg), loc);
    assert_int_equal(send_reg((rq_t){.headers = "Contact: <sip:alice@10.0.0.2:5070>\r\n"
                                                "Expires: 3600\r\n"}),
                     200);
    assert_string_equal(hv("Contact", 0), "<sip:alice@10.0.0.2:5070>;expires=3600");
    assert_int_equal(nh("Contact"), 1);
    assert_int_equal(nh("Date"), 1);
    assert_true(strstr(hv("Date", 0), " GMT") != NULL);
    assert_true(strncmp(hv("Server", 0), "libsip/", 7) == 0);
    assert_int_equal(saved_count, 1);
    sip_bindings_t *set = bindings("sip:alice@example.com");
    assert_int_equal(sip_bindings_count(set), 1);
    const sip_binding_t *b = sip_bindings_at(set, 0);
    assert_string_equal(b->aor, "sip:alice@example.com");
    assert_string_equal(b->contact, "sip:alice@10.0.0.2:5070");
    assert_string_equal(b->call_id, "c1");
    assert_int_equal(b->cseq, 1);
    assert_string_equal(b->user_agent, "test-ua/1");
    assert_string_equal(b->received, "sip:10.0.0.2:5070;transport=udp");
    assert_string_equal(b->socket, "udp:127.0.0.1:5060");
    assert_int_equal(b->conn_id, 0);
    assert_int_equal(b->q, -1);
    sip_bindings_unref(set);

    /* A refresh: same Call-ID, higher CSeq, the expires param over the header. */
    assert_int_equal(
        send_reg((rq_t){.headers = "Contact: <sip:alice@10.0.0.2:5070>;expires=1800\r\n"
                                   "Expires: 3600\r\n"}),
        200);
    assert_string_equal(hv("Contact", 0), "<sip:alice@10.0.0.2:5070>;expires=1800");
    assert_int_equal(nbind("sip:alice@example.com"), 1);

    /* A second contact, with a q-value and a param kept with it. */
    assert_int_equal(
        send_reg((rq_t){.headers = "Contact: <sip:alice@10.0.0.3>;q=0.5;foo=bar;expires=600\r\n"}),
        200);
    assert_int_equal(nh("Contact"), 2);
    assert_int_equal(saved_count, 2);
    int found = 0;
    for (size_t i = 0; i < 2; i++)
        if (!strcmp(hv("Contact", i), "<sip:alice@10.0.0.3>;foo=bar;q=0.5;expires=600")) found++;
    assert_int_equal(found, 1);

    /* Remove one (expires=0), then a query without Contact lists the other. */
    assert_int_equal(send_reg((rq_t){.headers = "Contact: <sip:alice@10.0.0.3>;expires=0\r\n"}),
                     200);
    assert_int_equal(nh("Contact"), 1);
    assert_string_equal(hv("Contact", 0), "<sip:alice@10.0.0.2:5070>;expires=1800");
    assert_int_equal(send_reg((rq_t){0}), 200);
    assert_int_equal(nh("Contact"), 1);
    assert_int_equal(nbind("sip:alice@example.com"), 1);

    /* The same query through sip_registrar_fetch(). */
    use_fetch = 1;
    assert_int_equal(send_reg((rq_t){.headers = "Contact: <sip:alice@10.0.0.9>\r\n"}), 200);
    assert_int_equal(nh("Contact"), 1);
    assert_int_equal(nbind("sip:alice@example.com"), 1);
}

/* §10.3 step 6: "*" only alone with Expires: 0; it removes every binding. */
static void registrar_star(void **state)
{
    (void)state;
    assert_int_equal(
        send_reg((rq_t){.headers = "Contact: <sip:alice@10.0.0.2>, <sip:alice@10.0.0.3>\r\n"}),
        200);
    assert_int_equal(nbind("sip:alice@example.com"), 2);
    assert_int_equal(send_reg((rq_t){.headers = "Contact: *\r\nExpires: 5\r\n"}), 400);
    assert_int_equal(send_reg((rq_t){.headers = "Contact: *\r\n"}), 400);
    assert_int_equal(
        send_reg((rq_t){.headers = "Contact: *, <sip:alice@10.0.0.4>\r\nExpires: 0\r\n"}), 400);
    assert_int_equal(nbind("sip:alice@example.com"), 2);
    /* The same Call-ID with a CSeq not higher: out of order, nothing removed. */
    assert_int_equal(send_reg((rq_t){.cseq = 1, .headers = "Contact: *\r\nExpires: 0\r\n"}), 500);
    assert_int_equal(nbind("sip:alice@example.com"), 2);
    assert_int_equal(
        send_reg((rq_t){.call_id = "other", .cseq = 1, .headers = "Contact: *\r\nExpires: 0\r\n"}),
        200);
    assert_int_equal(nh("Contact"), 0);
    assert_int_equal(saved_count, 0);
    assert_int_equal(nbind("sip:alice@example.com"), 0);
}

/* §10.3 step 7: the same Call-ID with a CSeq not higher is refused; another Call-ID replaces. */
static void registrar_ordering(void **state)
{
    (void)state;
    assert_int_equal(send_reg((rq_t){.cseq = 5, .headers = "Contact: <sip:alice@10.0.0.2>\r\n"}),
                     200);
    assert_int_equal(
        send_reg((rq_t){.cseq = 4, .headers = "Contact: <sip:alice@10.0.0.2>;expires=0\r\n"}), 500);
    assert_int_equal(
        send_reg((rq_t){.cseq = 5, .headers = "Contact: <sip:alice@10.0.0.2>;expires=0\r\n"}), 500);
    assert_int_equal(nbind("sip:alice@example.com"), 1);
    assert_int_equal(send_reg((rq_t){.call_id = "c2",
                                     .cseq = 1,
                                     .headers = "Contact: <sip:alice@10.0.0.2>;expires=120\r\n"}),
                     200);
    sip_bindings_t *set = bindings("sip:alice@example.com");
    assert_int_equal(sip_bindings_count(set), 1);
    assert_string_equal(sip_bindings_at(set, 0)->call_id, "c2");
    assert_int_equal(sip_bindings_at(set, 0)->cseq, 1);
    sip_bindings_unref(set);
    assert_string_equal(hv("Contact", 0), "<sip:alice@10.0.0.2>;expires=120");
}

/* §10.3 step 7: 423 with Min-Expires below the minimum (nothing changes); the maximum granted
 * above it; the default without any expiry. */
static void registrar_expires(void **state)
{
    (void)state;
    assert_int_equal(send_reg((rq_t){.headers = "Contact: <sip:alice@10.0.0.2>\r\n"}), 200);
    assert_string_equal(hv("Contact", 0), "<sip:alice@10.0.0.2>;expires=3600");
    assert_int_equal(send_reg((rq_t){.headers = "Contact: <sip:alice@10.0.0.3>;expires=30, "
                                                "<sip:alice@10.0.0.4>\r\n"}),
                     423);
    assert_string_equal(hv("Min-Expires", 0), "60");
    assert_int_equal(nbind("sip:alice@example.com"), 1);
    assert_int_equal(
        send_reg((rq_t){.headers = "Contact: <sip:alice@10.0.0.3>\r\nExpires: 99999\r\n"}), 200);
    assert_int_equal(nh("Contact"), 2);
    int max = 0;
    for (size_t i = 0; i < 2; i++)
        if (!strcmp(hv("Contact", i), "<sip:alice@10.0.0.3>;expires=3600")) max++;
    assert_int_equal(max, 1);

    sip_registrar_opts_t o;
    sip_registrar_opts_init(&o);
    o.min_expires = 100;
    o.max_expires = 200;
    o.default_expires = 150;
    o.server = "";
    make_registrar(&o);
    assert_int_equal(send_reg((rq_t){.headers = "Contact: <sip:alice@10.0.0.5>\r\n"}), 200);
    assert_int_equal(nh("Server"), 0);
    for (size_t i = 0; i < nh("Contact"); i++)
        if (strstr(hv("Contact", i), "10.0.0.5"))
            assert_string_equal(hv("Contact", i), "<sip:alice@10.0.0.5>;expires=150");
    assert_int_equal(send_reg((rq_t){.headers = "Contact: <sip:alice@10.0.0.6>;expires=99\r\n"}),
                     423);
    assert_string_equal(hv("Min-Expires", 0), "100");
}

/* §10.3 steps 1, 2 and 5: a To outside our domains or without a user is 404; an extension
 * required that we lack is 420. */
static void registrar_domain_and_require(void **state)
{
    (void)state;
    const char *c = "Contact: <sip:alice@10.0.0.2>\r\n";
    assert_int_equal(send_reg((rq_t){.to = "sip:alice@elsewhere.org", .headers = c}), 404);
    assert_int_equal(send_reg((rq_t){.to = "tel:+15551234", .headers = c}), 404);
    assert_int_equal(send_reg((rq_t){.to = "sip:example.com", .headers = c}), 404);
    assert_int_equal(
        send_reg((rq_t){.headers = "Require: foo, path\r\nContact: <sip:a@1.2.3.4>\r\n"}), 420);
    assert_string_equal(hv("Unsupported", 0), "foo");
    assert_int_equal(nbind("sip:alice@example.com"), 0);
    assert_int_equal(
        send_reg(
            (rq_t){.headers = "Require: path\r\nSupported: path\r\nContact: <sip:a@1.2.3.4>\r\n"}),
        200);
    /* A domain alias: the binding is kept under the canonical domain. */
    assert_int_equal(send_reg((rq_t){.to = "sip:alice@SIP.example.com", .headers = c}), 200);
    assert_int_equal(nbind("sip:alice@example.com"), 2);
}

/* The authenticated user registers its own AOR (aliases followed) and no other: 403. */
static void registrar_forbidden(void **state)
{
    (void)state;
    const char *c = "Contact: <sip:alice@10.0.0.2>\r\n";
    assert_int_equal(sip_location_add_alias(loc, "sip:1000@example.com", "sip:alice@example.com"),
                     0);
    auth_user = "bob";
    assert_int_equal(send_reg((rq_t){.headers = c}), 403);
    assert_int_equal(send_reg((rq_t){.to = "sip:1000@example.com", .headers = c}), 403);
    auth_user = NULL;
    assert_int_equal(send_reg((rq_t){.headers = c}), 403);
    assert_int_equal(nbind("sip:alice@example.com"), 0);
    auth_user = "alice";
    assert_int_equal(send_reg((rq_t){.to = "sip:1000@example.com", .headers = c}), 200);
    assert_int_equal(nbind("sip:alice@example.com"), 1);
    auth_user = "bob";
    assert_int_equal(send_reg((rq_t){.to = "sip:bob@example.com", .headers = c}), 200);
    assert_int_equal(nbind("sip:bob@example.com"), 1);
    /* auth_required 0: anyone. */
    sip_registrar_opts_t o;
    sip_registrar_opts_init(&o);
    o.auth_required = 0;
    make_registrar(&o);
    auth_user = NULL;
    assert_int_equal(send_reg((rq_t){.to = "sip:carol@example.com", .headers = c}), 200);
    assert_int_equal(nbind("sip:carol@example.com"), 1);
    /* max_contacts: one more binding than allowed is refused. */
    o.max_contacts = 1;
    make_registrar(&o);
    assert_int_equal(send_reg((rq_t){.to = "sip:carol@example.com",
                                     .headers = "Contact: <sip:carol@10.0.0.7>\r\n"}),
                     403);
    assert_int_equal(nbind("sip:carol@example.com"), 1);
}

/* RFC 3327 §5.3: Path is kept and echoed for a UA that supports it; RFC 3608 §6: Service-Route
 * in the 2xx. */
static void registrar_path_and_service_route(void **state)
{
    (void)state;
    sip_registrar_opts_t o;
    sip_registrar_opts_init(&o);
    o.service_route = "<sip:orig@proxy.example.com;lr>";
    make_registrar(&o);
    assert_int_equal(send_reg((rq_t){.headers = "Supported: path\r\n"
                                                "Path: <sip:edge1.example.com;lr>\r\n"
                                                "Path: <sip:edge2.example.com;lr>\r\n"
                                                "Contact: <sip:alice@10.0.0.2>\r\n"}),
                     200);
    assert_int_equal(nh("Path"), 2);
    assert_string_equal(hv("Path", 0), "<sip:edge1.example.com;lr>");
    assert_string_equal(hv("Service-Route", 0), "<sip:orig@proxy.example.com;lr>");
    sip_bindings_t *set = bindings("sip:alice@example.com");
    assert_string_equal(sip_bindings_at(set, 0)->path,
                        "<sip:edge1.example.com;lr>, <sip:edge2.example.com;lr>");
    sip_bindings_unref(set);
    /* Without "path" in Supported: not kept, not echoed. */
    assert_int_equal(send_reg((rq_t){.headers = "Path: <sip:edge1.example.com;lr>\r\n"
                                                "Contact: <sip:alice@10.0.0.3>\r\n"}),
                     200);
    assert_int_equal(nh("Path"), 0);
    set = bindings("sip:alice@example.com");
    for (size_t i = 0; i < sip_bindings_count(set); i++)
        if (!strcmp(sip_bindings_at(set, i)->contact, "sip:alice@10.0.0.3"))
            assert_string_equal(sip_bindings_at(set, i)->path, "");
    sip_bindings_unref(set);
}

/* RFC 5626 §6: a flow per instance and reg-id, over the connection it came on. */
static void registrar_outbound_flow(void **state)
{
    (void)state;
    const char *inst = "+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"";
    char h[512];
    snprintf(h, sizeof(h),
             "Supported: outbound, path\r\nContact: "
             "<sip:alice@10.0.0.2;transport=tcp;ob>;%s;reg-id=1\r\n",
             inst);
    assert_int_equal(send_reg((rq_t){.headers = h, .src = &tcp_src}), 200);
    assert_string_equal(hv("Require", 0), "outbound");
    assert_string_equal(hv("Flow-Timer", 0), "120");
    assert_non_null(strstr(hv("Contact", 0), "reg-id=1"));
    sip_bindings_t *set = bindings("sip:alice@example.com");
    const sip_binding_t *b = sip_bindings_at(set, 0);
    assert_string_equal(b->instance, "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>");
    assert_int_equal(b->reg_id, 1);
    assert_int_equal(b->conn_id, 7);
    assert_string_equal(b->received, "sip:10.0.0.2:40000;transport=tcp");
    assert_string_equal(b->socket, "tcp:127.0.0.1:5060");
    sip_bindings_unref(set);
    /* The same instance and reg-id from another Call-ID and contact replaces the flow. */
    snprintf(h, sizeof(h),
             "Supported: outbound\r\nContact: <sip:alice@10.0.0.9;ob>;%s;reg-id=1\r\n", inst);
    assert_int_equal(send_reg((rq_t){.call_id = "c2", .cseq = 1, .headers = h}), 200);
    assert_int_equal(nbind("sip:alice@example.com"), 1);
    /* Over UDP: Require: outbound, no Flow-Timer. */
    assert_string_equal(hv("Require", 0), "outbound");
    assert_int_equal(nh("Flow-Timer"), 0);
    /* A second reg-id is a second flow. */
    snprintf(h, sizeof(h),
             "Supported: outbound\r\nContact: <sip:alice@10.0.0.9;ob>;%s;reg-id=2\r\n", inst);
    assert_int_equal(send_reg((rq_t){.call_id = "c2", .headers = h}), 200);
    assert_int_equal(nbind("sip:alice@example.com"), 2);
    /* Two flows in one REGISTER: 400. Through a first hop without ob in its Path: 439. */
    snprintf(h, sizeof(h),
             "Supported: outbound\r\nContact: <sip:a@1.1.1.1>;%s;reg-id=3, "
             "<sip:a@1.1.1.2>;%s;reg-id=4\r\n",
             inst, inst);
    assert_int_equal(send_reg((rq_t){.call_id = "c2", .headers = h}), 400);
    snprintf(h, sizeof(h),
             "Supported: path, outbound\r\nPath: <sip:edge.example.com;lr>\r\n"
             "Contact: <sip:a@1.1.1.1>;%s;reg-id=3\r\n",
             inst);
    assert_int_equal(send_reg((rq_t){.call_id = "c2", .headers = h}), 439);
    snprintf(h, sizeof(h),
             "Supported: path, outbound\r\nPath: <sip:edge.example.com;lr;ob>\r\n"
             "Contact: <sip:a@1.1.1.1>;%s;reg-id=3\r\n",
             inst);
    assert_int_equal(send_reg((rq_t){.call_id = "c2", .headers = h}), 200);
    assert_int_equal(nbind("sip:alice@example.com"), 3);
    /* A reg-id without "outbound" in Supported is ignored (RFC 5626 §6): no flow, no Require;
     * the instance alone keys the binding. */
    snprintf(h, sizeof(h), "Contact: <sip:alice@10.0.0.20>;%s;reg-id=1\r\n", inst);
    assert_int_equal(send_reg((rq_t){.call_id = "c4", .headers = h, .src = &tcp_src}), 200);
    assert_int_equal(nh("Require"), 0);
    assert_int_equal(nh("Flow-Timer"), 0);
    assert_int_equal(nbind("sip:alice@example.com"), 4);
    /* Without outbound, no Require. */
    assert_int_equal(send_reg((rq_t){.call_id = "c3", .headers = "Contact: <sip:a@1.1.1.5>\r\n"}),
                     200);
    assert_int_equal(nh("Require"), 0);
}

/* On SQLite the 200 goes out only once the batch holding the writes is committed (the put
 * callbacks), and what it acknowledged is there after a restart. */
static void registrar_sqlite_replies_when_durable(void **state)
{
    (void)state;
    char dir[] = "/tmp/sip-registrar-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/location.db", dir);
    sip_registrar_unref(reg);
    sip_location_close(loc);
    sip_location_unref(loc);
    sip_location_opts_t lo;
    sip_location_opts_init(&lo);
    lo.db_path = path;
    assert_int_equal(sip_location_create(&loc, loop, &lo), 0);
    assert_int_equal(sip_location_add_domain(loc, "example.com", NULL), 0);
    reg = NULL;
    make_registrar(NULL);

    const char *text = "REGISTER sip:example.com SIP/2.0\r\n"
                       "Via: SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bKsqlite\r\n"
                       "From: <sip:alice@example.com>;tag=s1\r\nTo: <sip:alice@example.com>\r\n"
                       "Call-ID: sq1\r\nCSeq: 1 REGISTER\r\n"
                       "Contact: <sip:alice@10.0.0.2>, <sip:alice@10.0.0.3>;expires=600\r\n"
                       "Content-Length: 0\r\n\r\n";
    sip_msg_t *m = NULL;
    assert_int_equal(sip_msg_parse(&m, text, strlen(text), NULL), 0);
    sip_msg_set_netinfo(m, &udp_src);
    assert_int_equal(sip_txn_layer_receive(layer, m), 0);
    sip_msg_unref(m);
    assert_int_equal(save_rc, 0);
    /* The commit runs on libuv's thread pool and completes on the loop: nothing yet. */
    assert_int_equal(nrsp, 0);
    assert_int_equal(saved, 0);
    assert_true(test_pump_until(loop, &nrsp, 1, 5000));
    assert_int_equal(saved_status, 200);
    assert_int_equal(nh("Contact"), 2);

    /* A restart: the acknowledged bindings are loaded back. */
    sip_registrar_unref(reg);
    reg = NULL;
    sip_location_close(loc);
    sip_location_unref(loc);
    assert_int_equal(sip_location_create(&loc, loop, &lo), 0);
    assert_int_equal(sip_location_add_domain(loc, "example.com", NULL), 0);
    assert_int_equal(nbind("sip:alice@example.com"), 2);
    /* The teardown gets a store in memory: the files go with the directory. */
    sip_location_close(loc);
    sip_location_unref(loc);
    assert_int_equal(sip_location_create(&loc, loop, NULL), 0);
    char cmd[96];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* A store that answers lookups and completes writes only when the test says (as a remote
 * store would), so that what the registrar waits for can be seen. */
static struct {
    sip_location_lookup_cb cb;
    void *user;
    sip_free_fn user_free;
    int lookups;
    sip__loc_op_t *ops[8];
    int nops;
} later;

static int later_lookup(sip__loc_store_t *st, const char *key, sip_location_lookup_cb cb,
                        void *user, sip_free_fn user_free)
{
    (void)st;
    (void)key;
    later.cb = cb;
    later.user = user;
    later.user_free = user_free;
    later.lookups++;
    return 0;
}

static void later_write(sip__loc_store_t *st, sip__loc_op_t *op)
{
    (void)st;
    assert_true(later.nops < 8);
    later.ops[later.nops++] = op;
}

static void later_nop(sip__loc_store_t *st)
{
    (void)st;
}

static int later_down; /* the store is away (Redis gone): it takes no write */

static int later_ready(sip__loc_store_t *st)
{
    (void)st;
    return !later_down;
}

static const sip__loc_store_ops_t later_ops = {.name = "later",
                                               .write = later_write,
                                               .lookup = later_lookup,
                                               .close = later_nop,
                                               .free = later_nop,
                                               .ready = later_ready};
static sip__loc_store_t later_store = {&later_ops};

/* Answers the pending lookup with what the memory index holds now. */
static void answer_lookup(void)
{
    sip_bindings_t *set;
    sip_uri_t u;
    assert_int_equal(sip_uri_parse(&u, "sip:alice@example.com", 21), 0);
    loc->store = NULL;
    assert_int_equal(sip_location_lookup_now(&set, loc, &u), 0);
    loc->store = &later_store;
    later.cb(loc, sip_bindings_count(set) ? 0 : SIP_ENOENT, set, later.user);
    later.user_free(later.user);
    sip_bindings_unref(set);
}

/* Completes the writes held with status. */
static void complete_writes(int status)
{
    for (int i = 0; i < later.nops; i++)
        sip__location_op_done(loc, later.ops[i], status);
    later.nops = 0;
}

static void receive_register(const char *call_id, const char *contacts)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "REGISTER sip:example.com SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bKlater%s\r\n"
             "From: <sip:alice@example.com>;tag=l1\r\nTo: <sip:alice@example.com>\r\n"
             "Call-ID: %s\r\nCSeq: 1 REGISTER\r\nContact: %s\r\n"
             "Content-Length: 0\r\n\r\n",
             call_id, call_id, contacts);
    sip_msg_t *m = NULL;
    assert_int_equal(sip_msg_parse(&m, text, strlen(text), NULL), 0);
    sip_msg_set_netinfo(m, &udp_src);
    assert_int_equal(sip_txn_layer_receive(layer, m), 0);
    sip_msg_unref(m);
    assert_int_equal(save_rc, 0);
}

/* A lookup that answers later, writes durable later: the 200 waits for both; a write the store
 * fails is a 500 (503 with Retry-After when the store is away), and its binding is not kept. */
static void registrar_waits_for_the_store(void **state)
{
    (void)state;
    memset(&later, 0, sizeof(later));
    loc->store = &later_store;
    receive_register("w1", "<sip:alice@10.0.0.2>, <sip:alice@10.0.0.3>");
    assert_int_equal(later.lookups, 1);
    assert_int_equal(nrsp, 0);
    answer_lookup();
    /* Both writes are in the memory index but not durable: no answer yet. */
    assert_int_equal(later.nops, 2);
    assert_int_equal(nrsp, 0);
    complete_writes(0);
    /* The listing is a lookup too. */
    assert_int_equal(later.lookups, 2);
    assert_int_equal(nrsp, 0);
    answer_lookup();
    assert_int_equal(nrsp, 1);
    assert_int_equal(saved_status, 200);
    assert_int_equal(nh("Contact"), 2);

    /* The store fails the write: 500, and the binding leaves the memory as well. */
    receive_register("w2", "<sip:alice@10.0.0.4>");
    answer_lookup();
    assert_int_equal(later.nops, 1);
    complete_writes(SIP_ENOMEM);
    assert_int_equal(nrsp, 2);
    assert_int_equal(saved_status, 500);
    assert_int_equal(sip_msg_get_status(last()), 500);
    assert_string_equal(reason(), "Binding Not Stored");
    assert_int_equal(nh("Retry-After"), 0);
    assert_int_equal(later.lookups, 3);

    /* The store is away when the write completes (SIP_EIO): RFC 3261 §21.5.4, 503 with
     * Retry-After; the UA tries again later. */
    receive_register("w3", "<sip:alice@10.0.0.5>");
    answer_lookup();
    complete_writes(SIP_EIO);
    assert_int_equal(nrsp, 3);
    assert_int_equal(saved_status, 503);
    assert_int_equal(sip_msg_get_status(last()), 503);
    assert_string_equal(hv("Retry-After", 0), "5");
    assert_string_equal(reason(), "Location Service Unavailable");

    /* ... or already away when the write is made: nothing changes in memory, the bindings
     * known are still served, and the refresh of one of them does not lose it. */
    later_down = 1;
    receive_register("w4", "<sip:alice@10.0.0.2>;expires=0, <sip:alice@10.0.0.6>");
    answer_lookup();
    assert_int_equal(later.nops, 0);
    assert_int_equal(nrsp, 4);
    assert_int_equal(sip_msg_get_status(last()), 503);
    assert_string_equal(hv("Retry-After", 0), "5");
    later_down = 0;
    loc->store = NULL;
    assert_int_equal(nbind("sip:alice@example.com"), 2);
}

/* The location service closes while a REGISTER's writes wait for their commit: the REGISTER
 * still gets one answer and its callback runs once; nothing is left behind. */
static void registrar_location_closes_with_a_write_pending(void **state)
{
    (void)state;
    char dir[] = "/tmp/sip-registrar-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/location.db", dir);
    sip_location_close(loc);
    sip_location_unref(loc);
    sip_location_opts_t lo;
    sip_location_opts_init(&lo);
    lo.db_path = path;
    lo.batch_ms = 1000;
    assert_int_equal(sip_location_create(&loc, loop, &lo), 0);
    assert_int_equal(sip_location_add_domain(loc, "example.com", NULL), 0);
    make_registrar(NULL);
    receive_register("cl1", "<sip:alice@10.0.0.2>, <sip:alice@10.0.0.3>");
    assert_int_equal(nrsp, 0);
    sip_location_close(loc);
    assert_true(test_pump_until(loop, &nrsp, 1, 5000));
    assert_int_equal(saved, 1);
    assert_int_equal(freed, 1);
    assert_true(saved_status == 200 || saved_status == 500);
    assert_int_equal(sip_msg_get_status(last()), saved_status);
    sip_registrar_unref(reg);
    reg = NULL;
    sip_location_unref(loc);
    assert_int_equal(sip_location_create(&loc, loop, NULL), 0);
    make_registrar(NULL);
    char cmd[96];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* Values at the edges of their ranges: Expires 2^32-1 is granted as the maximum, a q with more
 * than three decimals counts as none (RFC 3261 §20.10 grammar), and the highest CSeq (2^31-1,
 * §8.1.1.5; the parser refuses more) orders as the highest (a later one of the same Call-ID cannot
 * be newer: 500). */
static void registrar_edge_values(void **state)
{
    (void)state;
    assert_int_equal(send_reg((rq_t){.cseq = 2147483647u,
                                     .headers = "Contact: <sip:alice@10.0.0.2>;q=1.0000001;"
                                                "expires=4294967295\r\n"}),
                     200);
    assert_string_equal(hv("Contact", 0), "<sip:alice@10.0.0.2>;expires=3600");
    assert_int_equal(send_reg((rq_t){.cseq = 2147483647u,
                                     .headers = "Contact: <sip:alice@10.0.0.2>\r\n"
                                                "Expires: 4294967296\r\n"}),
                     500);
    assert_int_equal(send_reg((rq_t){.call_id = "c2",
                                     .cseq = 1,
                                     .headers = "Contact: <sip:alice@10.0.0.2>;q=0.001\r\n"
                                                "Expires: 4294967295\r\n"}),
                     200);
    assert_string_equal(hv("Contact", 0), "<sip:alice@10.0.0.2>;q=0.001;expires=3600");
}

/* The phrase of the last response. */
static const char *reason(void)
{
    static char buf[128];
    sip_str_copy(sip_msg_get_reason(last()), buf, sizeof(buf));
    return buf;
}

/* A refusal says what was wrong in its phrase, not only the class of the status. */
static void registrar_refusals_say_why(void **state)
{
    (void)state;
    assert_int_equal(send_reg((rq_t){.headers = "Contact: <sip:alice@10.0.0.2>\r\n"}), 200);
    assert_string_equal(reason(), "OK");
    assert_int_equal(send_reg((rq_t){.headers = "Contact: *\r\nExpires: 5\r\n"}), 400);
    assert_string_equal(reason(), "Wildcard Contact Without Expires 0");
    assert_int_equal(
        send_reg((rq_t){.headers = "Contact: *, <sip:alice@10.0.0.4>\r\nExpires: 0\r\n"}), 400);
    assert_string_equal(reason(), "Wildcard Contact Not Alone");
    assert_int_equal(send_reg((rq_t){.cseq = 1, .headers = "Contact: <sip:alice@10.0.0.2>\r\n"}),
                     500);
    assert_string_equal(reason(), "CSeq Not Higher Than The Binding's");
    assert_int_equal(send_reg((rq_t){.cseq = 1, .headers = "Contact: *\r\nExpires: 0\r\n"}), 500);
    assert_string_equal(reason(), "CSeq Not Higher Than The Binding's");
    assert_int_equal(send_reg((rq_t){.headers = "Supported: outbound\r\n"
                                                "Contact: <sip:alice@10.0.0.5>;reg-id=1;"
                                                "+sip.instance=\"<urn:uuid:a>\", "
                                                "<sip:alice@10.0.0.6>;reg-id=2;"
                                                "+sip.instance=\"<urn:uuid:a>\"\r\n"}),
                     400);
    assert_string_equal(reason(), "More Than One Flow");
    assert_int_equal(send_reg((rq_t){.headers = "Contact: <sip:alice@10.0.0.7>;expires=30\r\n"}),
                     423);
    assert_string_equal(reason(), "Interval Too Brief");
    auth_user = "bob";
    assert_int_equal(send_reg((rq_t){.headers = "Contact: <sip:alice@10.0.0.2>\r\n"}), 403);
    assert_string_equal(reason(), "Not The User's AOR");
    auth_user = NULL;
    assert_int_equal(send_reg((rq_t){.headers = "Contact: <sip:alice@10.0.0.2>\r\n"}), 403);
    assert_string_equal(reason(), "Not Authenticated");
    auth_user = "alice";
    char long_id[300];
    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    assert_int_equal(
        send_reg((rq_t){.call_id = long_id, .headers = "Contact: <sip:alice@10.0.0.9>\r\n"}), 400);
    assert_string_equal(reason(), "Call-ID Too Long");
    /* A Contact or instance longer than a binding keeps is refused, never cut short (a cut URI
     * is another contact, a cut instance another UA's). */
    static char big[1200];
    int n = snprintf(big, sizeof(big), "Contact: <sip:alice@10.0.0.9;x=");
    memset(big + n, 'a', 1100);
    memcpy(big + n + 1100, ">\r\n", 4);
    assert_int_equal(send_reg((rq_t){.headers = big}), 400);
    assert_string_equal(reason(), "Contact Too Long");
    n = snprintf(big, sizeof(big), "Contact: <sip:alice@10.0.0.9>;+sip.instance=\"<urn:uuid:");
    memset(big + n, 'a', 300);
    memcpy(big + n + 300, ">\"\r\n", 5);
    assert_int_equal(send_reg((rq_t){.headers = big}), 400);
    assert_string_equal(reason(), "Contact Too Long");
    assert_int_equal(nbind("sip:alice@example.com"), 1);
    sip_registrar_opts_t o;
    sip_registrar_opts_init(&o);
    o.max_contacts = 1;
    make_registrar(&o);
    auth_user = "alice";
    assert_int_equal(send_reg((rq_t){.headers = "Contact: <sip:alice@10.0.0.8>\r\n"}), 403);
    assert_string_equal(reason(), "Too Many Contacts");
}

/* Without max_contacts an AOR still keeps 256 bindings at most: one user's REGISTERs (200
 * Contacts fit in each) cannot grow the location service, nor the scan of each Contact against
 * each binding, without bound. */
static void registrar_contacts_have_a_ceiling(void **state)
{
    (void)state;
    static char h[3][8192];
    static const int first[3] = {0, 200, 200}, count[3] = {200, 57, 56};
    for (int k = 0; k < 3; k++) {
        size_t len = 0;
        for (int i = first[k]; i < first[k] + count[k]; i++)
            len += (size_t)snprintf(h[k] + len, sizeof(h[k]) - len,
                                    "Contact: <sip:alice@10.1.%d.%d>\r\n", i / 250, i % 250);
    }
    assert_int_equal(send_reg((rq_t){.headers = h[0]}), 200);
    assert_int_equal(nbind("sip:alice@example.com"), 200);
    assert_int_equal(send_reg((rq_t){.headers = h[1]}), 403);
    assert_string_equal(reason(), "Too Many Contacts");
    assert_int_equal(nbind("sip:alice@example.com"), 200);
    assert_int_equal(send_reg((rq_t){.headers = h[2]}), 200);
    assert_int_equal(nbind("sip:alice@example.com"), 256);
    /* One more is refused; a refresh of one of them is not. */
    assert_int_equal(send_reg((rq_t){.headers = "Contact: <sip:alice@10.9.9.9>\r\n"}), 403);
    assert_int_equal(send_reg((rq_t){.headers = "Contact: <sip:alice@10.1.0.0>\r\n"}), 200);
    assert_int_equal(nbind("sip:alice@example.com"), 256);
}

/* Wrong arguments fail at once, with user_free run and no callback. */
static void registrar_bad_arguments(void **state)
{
    (void)state;
    sip_registrar_opts_t o;
    sip_registrar_opts_init(&o);
    sip_registrar_t *r = (sip_registrar_t *)1;
    o.min_expires = 100;
    o.max_expires = 50;
    assert_int_equal(sip_registrar_create(&r, loc, &o), SIP_EINVAL);
    assert_null(r);
    assert_int_equal(sip_registrar_create(&r, NULL, NULL), SIP_EINVAL);
    sip_registrar_opts_init(&o);
    o.service_route = "<sip:a>\r\nX: y";
    assert_int_equal(sip_registrar_create(&r, loc, &o), SIP_EINVAL);
    assert_int_equal(sip_registrar_save(NULL, NULL, NULL, on_saved, NULL, on_free), SIP_EINVAL);
    assert_int_equal(freed, 1);
    assert_int_equal(sip_registrar_fetch(reg, NULL, on_saved, NULL, on_free), SIP_EINVAL);
    assert_int_equal(freed, 2);
    assert_int_equal(saved, 0);
    assert_ptr_equal(sip_registrar_ref(reg), reg);
    sip_registrar_unref(reg);
    sip_registrar_unref(NULL);
}

/* RFC 3261 §7.3.1: a folded line is one SP. A Contact param or a Path folded inside a quoted
 * string is stored on one line, so the 200 and the Route a proxy makes from the binding can be
 * built again at every refresh. */
static void registrar_folded_values_stay_one_line(void **state)
{
    (void)state;
    const char *h = "Supported: path\r\n"
                    "Path: <sip:edge1.example.com;lr>;x=\"a\r\n b\"\r\n"
                    "Contact: <sip:alice@10.0.0.2>;y=\"c\r\n\td\"\r\n";
    assert_int_equal(send_reg((rq_t){.headers = h}), 200);
    assert_int_equal(nh("Contact"), 1);
    assert_int_equal(send_reg((rq_t){.headers = h}), 200);
    assert_int_equal(nh("Contact"), 1);
    assert_null(strpbrk(hv("Contact", 0), "\r\n"));
    sip_bindings_t *set = bindings("sip:alice@example.com");
    assert_int_equal(sip_bindings_count(set), 1);
    const sip_binding_t *b = sip_bindings_at(set, 0);
    assert_null(strpbrk(b->params, "\r\n"));
    assert_null(strpbrk(b->path, "\r\n"));
    assert_non_null(strstr(b->params, ";y=\"c"));
    assert_non_null(strstr(b->path, "<sip:edge1.example.com;lr>;x=\"a"));
    sip_bindings_unref(set);
    /* A folded +sip.instance too (the instance keys the binding). */
    assert_int_equal(
        send_reg((rq_t){.headers = "Contact: <sip:alice@10.0.0.3>;+sip.instance=\"<urn:uuid:\r\n"
                                   " 1>\"\r\n"}),
        200);
    set = bindings("sip:alice@example.com");
    assert_int_equal(sip_bindings_count(set), 2);
    for (size_t i = 0; i < 2; i++)
        assert_null(strpbrk(sip_bindings_at(set, i)->instance, "\r\n"));
    sip_bindings_unref(set);
}

/* A save under allocation failures: a 200 or a 500 (the store failed), never a leak. */
static void registrar_alloc_failures(void **state)
{
    (void)state;
    int ok = 0;
    for (int n = 1; n < 400 && !ok; n++) {
        char buf[2048];
        snprintf(buf, sizeof(buf),
                 "REGISTER sip:example.com SIP/2.0\r\n"
                 "Via: SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bKalloc%d\r\n"
                 "From: <sip:alice@example.com>;tag=x\r\nTo: <sip:alice@example.com>\r\n"
                 "Call-ID: a%d\r\nCSeq: 1 REGISTER\r\n"
                 "Contact: <sip:alice@10.0.0.2>, <sip:alice@10.0.0.3>\r\n"
                 "Content-Length: 0\r\n\r\n",
                 n, n);
        sip_msg_t *m = NULL;
        assert_int_equal(sip_msg_parse(&m, buf, strlen(buf), NULL), 0);
        sip_txn_t *txn = NULL;
        assert_int_equal(sip_txn_server_create(&txn, layer, m), 0);
        int before = saved;
        test_alloc_fail_at(n);
        int rc = sip_registrar_save(reg, txn, "alice", on_saved, NULL, on_free);
        test_alloc_fail_at(0);
        if (rc == 0) {
            test_pump_until(loop, &saved, before + 1, 2000);
            assert_int_equal(saved, before + 1);
            assert_true(saved_status == 200 || saved_status == 500);
            ok = saved_status == 200 && !test_alloc_failed();
        } else {
            assert_int_equal(rc, SIP_ENOMEM);
        }
        assert_int_equal(freed, n);
        sip_txn_unref(txn);
        sip_msg_unref(m);
        sip_location_remove(loc, "sip:alice@example.com", NULL, NULL, NULL, NULL);
        test_pump(loop, 1);
    }
    assert_true(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(registrar_add_refresh_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(registrar_star, setup, teardown),
        cmocka_unit_test_setup_teardown(registrar_ordering, setup, teardown),
        cmocka_unit_test_setup_teardown(registrar_expires, setup, teardown),
        cmocka_unit_test_setup_teardown(registrar_domain_and_require, setup, teardown),
        cmocka_unit_test_setup_teardown(registrar_forbidden, setup, teardown),
        cmocka_unit_test_setup_teardown(registrar_path_and_service_route, setup, teardown),
        cmocka_unit_test_setup_teardown(registrar_outbound_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(registrar_sqlite_replies_when_durable, setup, teardown),
        cmocka_unit_test_setup_teardown(registrar_waits_for_the_store, setup, teardown),
        cmocka_unit_test_setup_teardown(registrar_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(registrar_alloc_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(registrar_folded_values_stay_one_line, setup, teardown),
        cmocka_unit_test_setup_teardown(registrar_location_closes_with_a_write_pending, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(registrar_edge_values, setup, teardown),
        cmocka_unit_test_setup_teardown(registrar_refusals_say_why, setup, teardown),
        cmocka_unit_test_setup_teardown(registrar_contacts_have_a_ceiling, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
