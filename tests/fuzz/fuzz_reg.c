/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the registration client and the UA's challenge-answering requests: one
 * UA with credentials, on an in-memory wire under a hand-driven clock, registers (one or several
 * contacts, Outbound on or off, expires from the input) and sends MESSAGE and OPTIONS requests;
 * the input plays the registrar, choosing the answer to each request the UA sends (provisional,
 * 2xx with Contact/Expires/Service-Route/Path variants, 401/407 with fuzzed challenges, 423,
 * failures, Retry-After, garbage), losing requests, moving time on (timeouts, refreshes,
 * retries), unregistering, refreshing and closing registrations, requests or the whole UA at any
 * point, also from inside the callbacks. Nothing may crash, leak, call back a handle after its
 * user_free ran, or be left alive once everything is closed.
 *
 * Input: chunks separated by NUL octets; the first octet's top bit puts the registrar on TCP. A
 * chunk whose first octet is below 0x20 is a list of actions, octet % 29 (some take the next
 * octets as arguments, see action()): 0 create a registration in the current slot (contacts,
 * expires, Outbound, retry times, what its callback does), 1 choose the slot, 2-7 a canned
 * answer to the oldest request (100, 200, 401, 407, 423, a failure), 8 lose it, 9-11 and 27
 * unregister (ours, "*", one contact), 12 refresh, 13 close, 14 unref, 15-16 send a MESSAGE or
 * OPTIONS, 17 add a credential, 18 close the UA, 19 answer the newest request first, 20-23 move
 * time on (1 ms to 35 min), 24 create with the rest of the chunk as Contact list, 25 a 200 sent
 * twice, 26 answer every waiting request, 28 fail the n-th allocation from now. Any other chunk is
 * an answer to the oldest request still unanswered: a status code, then header lines to add
 * ("401\r\nWWW-Authenticate: Digest realm=\"example.com\", nonce=\"n1\"\r\n"), where "$C" and "$D"
 * become the URIs of the request's first and second Contact. FUZZ_REG_TRACE=1 prints the messages
 * and the events. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip.h"
#include "transport/transport_int.h"
#include "txn/txn_int.h"

/* ---- allocation failures ------------------------------------------------------------------ */

/* The harness links with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc (tests/fuzz/
 * CMakeLists.txt): an action makes the n-th allocation from then on fail, in the library or in
 * the harness's own library calls, so that the error paths of the state machines run too. */
void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);

static long fail_countdown; /* 0: disarmed */
static int fail_fired;      /* an allocation failed during this input */

static int should_fail(void)
{
    if (fail_countdown <= 0 || --fail_countdown > 0) return 0;
    fail_fired = 1;
    if (getenv("FUZZ_REG_TRACE")) fprintf(stderr, "---- allocation failed\n");
    return 1;
}

void *__wrap_malloc(size_t n)
{
    return should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t a, size_t b)
{
    return should_fail() ? NULL : __real_calloc(a, b);
}

void *__wrap_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : __real_realloc(p, n);
}

/* ---- the clock ---------------------------------------------------------------------------- */

typedef struct slot {
    int armed;
    uint64_t due;
    void (*fire)(void *);
    void *arg;
} slot_t;

static uint64_t now_ms;
static slot_t slots[2]; /* the transaction layer's and the UA's */

static uint64_t c_now(void *u)
{
    (void)u;
    return now_ms;
}

static void c_start(void *u, uint64_t d, void (*fire)(void *), void *arg)
{
    slot_t *s = u;
    s->armed = 1;
    s->due = now_ms + d;
    s->fire = fire;
    s->arg = arg;
}

static void c_stop(void *u)
{
    ((slot_t *)u)->armed = 0;
}

/* ---- the wire: what the UA sent and nobody answered yet ----------------------------------- */

#define MAXQ 32
static sip_transport_t *tp;
static sip_txn_layer_t *layer;
static sip_ua_t *ua;
static int ua_closed;
static sip_msg_t *queue[MAXQ]; /* requests the UA sent, oldest first (referenced) */
static int nq;
static int trace; /* FUZZ_REG_TRACE set: the messages and events go to stderr */
static int tcp;   /* the registrar is reached over TCP (no retransmissions; conn_id on answers) */

static int same_branch(const sip_msg_t *a, const sip_msg_t *b)
{
    const sip_via_t *va = sip_msg_get_via(a), *vb = sip_msg_get_via(b);
    return va && vb && sip_str_eq(va->branch, vb->branch);
}

/* RFC 3261 §10.2 (and §8.1.3.5 for a request sent again with credentials): each new request of
 * a Call-ID has a higher CSeq than the one before; a retransmission (the same branch) the same.
 * The last of each Call-ID seen, to check that. */
typedef struct seen {
    char call_id[64];
    char branch[64];
    uint32_t cseq;
} seen_t;
static seen_t seen[16];
static int nseen;

static void check_cseq(const sip_msg_t *p)
{
    sip_str_t cid = sip_msg_get_call_id(p);
    const sip_via_t *v = sip_msg_get_via(p);
    const sip_cseq_t *cs = sip_msg_get_cseq(p);
    if (!cs || !v || !cid.len || cid.len >= 64 || v->branch.len >= 64) abort();
    seen_t *e = NULL;
    for (int i = 0; i < nseen && !e; i++)
        if (sip_str_eq(cid, sip_str_from_cstr(seen[i].call_id))) e = &seen[i];
    if (!e) {
        if (nseen == 16) return;
        e = &seen[nseen++];
        memcpy(e->call_id, cid.ptr, cid.len);
        e->call_id[cid.len] = 0;
    } else if (sip_str_eq(v->branch, sip_str_from_cstr(e->branch))) {
        if (cs->seq != e->cseq) abort();
        return;
    } else if (cs->seq <= e->cseq) {
        fprintf(stderr, "fuzz_reg: CSeq %u after %u in Call-ID %s\n", (unsigned)cs->seq,
                (unsigned)e->cseq, e->call_id);
        abort();
    }
    memcpy(e->branch, v->branch.ptr, v->branch.len);
    e->branch[v->branch.len] = 0;
    e->cseq = cs->seq;
}

static void put(sip_msg_t *m)
{
    char buf[16384];
    int n = sip_msg_print(m, buf, sizeof(buf));
    if (n <= 0 || (size_t)n >= sizeof(buf)) return;
    if (trace) fprintf(stderr, "---- UA at %llu\n%.*s", (unsigned long long)now_ms, n, buf);
    sip_msg_t *p = NULL;
    sip_parse_error_t err;
    if (sip_msg_parse(&p, buf, (size_t)n, &err) != 0) {
        if (!fail_fired) abort(); /* the UA sent what it cannot read */
        return;
    }
    check_cseq(p);
    /* A retransmission of a request still waiting is the same request. */
    for (int i = 0; i < nq; i++)
        if (same_branch(queue[i], p) && sip_msg_get_method(queue[i]) == sip_msg_get_method(p)) {
            sip_msg_unref(p);
            return;
        }
    if (nq == MAXQ) {
        /* A full wire loses the oldest, as a network may. */
        sip_msg_unref(queue[0]);
        memmove(queue, queue + 1, sizeof(queue[0]) * (MAXQ - 1));
        nq--;
    }
    queue[nq++] = p;
}

static int io_send(void *ctx, sip_msg_t *m, const sip_netinfo_t *dst, sip_transport_sent_cb cb,
                   void *user, sip_free_fn user_free)
{
    (void)ctx;
    /* As the transport does: the message records where it went (a challenged request goes
     * again to the server that challenged it). */
    if (dst) {
        sip_netinfo_t ni = *dst;
        snprintf(ni.local_ip, sizeof(ni.local_ip), "127.0.0.1");
        ni.local_port = 5060;
        sip_msg_set_netinfo(m, &ni);
    }
    put(m);
    if (cb) cb(tp, 0, user);
    if (user_free) user_free(user);
    return 0;
}

static int io_send_response(void *ctx, sip_msg_t *m)
{
    (void)ctx;
    (void)m;
    return 0;
}

static int io_send_raw(void *ctx, const sip_netinfo_t *ni, const char *data, size_t len)
{
    (void)ctx;
    (void)ni;
    sip_msg_t *m = NULL;
    sip_parse_error_t err;
    if (sip_msg_parse(&m, data, len, &err) == 0) put(m);
    sip_msg_unref(m);
    return 0;
}

static sip_msg_t *take(int i)
{
    if (i < 0 || i >= nq) return NULL;
    sip_msg_t *m = queue[i];
    memmove(queue + i, queue + i + 1, sizeof(queue[0]) * (size_t)(nq - i - 1));
    nq--;
    return m;
}

/* Where the UA sends: given, so that nothing is looked up (a fuzzed Service-Route names any
 * host). */
static sip_netinfo_t registrar(void)
{
    sip_netinfo_t ni = {
        tcp ? SIP_TRANSPORT_TCP : SIP_TRANSPORT_UDP, "127.0.0.1", 5060, "127.0.0.1", 5061, 0, ""};
    return ni;
}

/* Hands a response to the UA as if the registrar sent it. */
static void inject(sip_msg_t *m)
{
    sip_netinfo_t ni = {tcp ? SIP_TRANSPORT_TCP : SIP_TRANSPORT_UDP,
                        "127.0.0.1",
                        5060,
                        "127.0.0.1",
                        5061,
                        tcp ? 1 : 0,
                        ""};
    sip_msg_set_netinfo(m, &ni);
    sip__tp_dispatch(tp, m);
}

/* The URI of the i-th Contact of req, as text. */
static sip_str_t contact_uri(const sip_msg_t *req, size_t i)
{
    const sip_addr_t *a = sip_header_addr(sip_msg_header_at(req, SIP_HDR_CONTACT, i));
    return a ? a->uri.raw : (sip_str_t){"sip:nobody@192.0.2.9", 20};
}

/* Answers req with status and the header lines text ("$C"/"$D": its Contacts' URIs); a
 * response that does not parse is lost. req stays queued when keep is set (more answers). */
static void answer(const sip_msg_t *req, int status, const char *text, size_t len)
{
    sip_msg_t *rsp = NULL;
    if (sip_msg_create_response(&rsp, req, status, NULL, status > 100 ? "regtag" : NULL) != 0)
        return;
    static char buf[32768];
    int n = sip_msg_print(rsp, buf, sizeof(buf));
    sip_msg_unref(rsp);
    if (n < 4 || (size_t)n >= sizeof(buf)) return;
    size_t pos = (size_t)n - 2; /* before the blank line */
    for (size_t i = 0; i < len && pos < sizeof(buf) - 512;) {
        if (len - i >= 2 && text[i] == '$' && (text[i + 1] == 'C' || text[i + 1] == 'D')) {
            sip_str_t u = contact_uri(req, text[i + 1] == 'C' ? 0 : 1);
            if (u.len > 256) u.len = 256;
            if (u.len) memcpy(buf + pos, u.ptr, u.len);
            pos += u.len;
            i += 2;
        } else {
            buf[pos++] = text[i++];
        }
    }
    if (len && text[len - 1] != '\n') {
        buf[pos++] = '\r';
        buf[pos++] = '\n';
    }
    buf[pos++] = '\r';
    buf[pos++] = '\n';
    sip_parse_error_t err;
    if (trace)
        fprintf(stderr, "---- registrar at %llu\n%.*s", (unsigned long long)now_ms, (int)pos, buf);
    if (sip_msg_parse(&rsp, buf, pos, &err) == 0) inject(rsp);
    sip_msg_unref(rsp);
}

/* ---- the application: registrations and requests ------------------------------------------ */

/* What an application's user pointer holds; freed by user_free, so that a callback after it
 * is a use after free. */
typedef struct app {
    int slot;
    int reenter; /* what the callback does on some events (see on_reg) */
    int events;
} app_t;

#define NREG 3
#define NREQ 4
static sip_reg_t *regs[NREG];
static long made, freed; /* user pointers handed out, and their user_free calls */
static int cur;          /* the registration the actions address */

static void app_free(void *user)
{
    free(user);
    freed++;
}

static app_t *app_new(int slot, int reenter)
{
    app_t *a = __real_calloc(1, sizeof(*a));
    if (!a) abort();
    a->slot = slot;
    a->reenter = reenter;
    made++;
    return a;
}

static void send_req(const char *method, uint8_t a);

static void close_ua(void)
{
    if (ua_closed) return;
    ua_closed = 1;
    sip_ua_close(ua);
}

static void on_reg(sip_reg_t *reg, sip_reg_event_t ev, int status, sip_msg_t *msg, void *user)
{
    app_t *a = user;
    if (trace)
        fprintf(stderr, "---- reg %d: %s %d, now %s\n", a->slot, sip_reg_event_name(ev), status,
                sip_reg_state_name(sip_reg_get_state(reg)));
    if ((ev == SIP_REG_EVENT_REGISTERED || ev == SIP_REG_EVENT_REFRESHED) && !msg) abort();
    if (ev == SIP_REG_EVENT_FAILED && !msg && status != 408 && status != 503) abort();
    /* sip/reg.h: the state says what the event did. */
    sip_reg_state_t st = sip_reg_get_state(reg);
    if ((ev == SIP_REG_EVENT_REGISTERED || ev == SIP_REG_EVENT_REFRESHED) &&
        st != SIP_REG_STATE_REGISTERED)
        abort();
    if (ev == SIP_REG_EVENT_REGISTERING && st != SIP_REG_STATE_REGISTERING) abort();
    /* The getters work at any point. */
    (void)sip_reg_get_state(reg);
    (void)sip_reg_next_ms(reg);
    (void)strlen(sip_reg_get_service_route(reg));
    (void)strlen(sip_reg_get_path(reg));
    (void)strlen(sip_reg_get_bindings(reg));
    if (a->events++ > 64) return; /* reentrant actions for a while only */
    /* A callback may do anything to its handle (sip/reg.h): reenter chooses what, and when. */
    if ((a->reenter & 7) != (int)ev) return;
    switch ((a->reenter >> 3) & 7) {
    case 1: sip_reg_close(reg); break;
    case 2: sip_reg_unregister(reg, NULL); break;
    case 3: sip_reg_unregister(reg, "*"); break;
    case 4: sip_reg_refresh(reg); break;
    case 5: close_ua(); break;
    case 6:
        /* The application drops its handle from the callback. */
        if (regs[a->slot] == reg) {
            regs[a->slot] = NULL;
            sip_reg_unref(reg);
        }
        break;
    case 7: send_req("OPTIONS", 0x02); break;
    default: break;
    }
}

static int nreq_live;

static void on_req_free(void *user)
{
    nreq_live--;
    app_free(user);
}

static void on_rsp(sip_ua_t *u, sip_msg_t *req, sip_msg_t *rsp, void *user)
{
    app_t *a = user;
    if (u != ua || !req || !rsp || !sip_msg_is_request(req)) abort();
    a->events++;
    if (trace) fprintf(stderr, "---- request: %d\n", sip_msg_get_status(rsp));
    if (sip_msg_get_status(rsp) < 200) return;
    if (a->reenter & 1) close_ua();
    /* Another request from the callback (which itself sends none). */
    if ((a->reenter & 2) && nreq_live < 8) send_req("MESSAGE", 0);
}

static const uint32_t expires_tab[8] = {0, 1, 30, 60, 65, 3600, 86400, 4294967295u};
static const char *const contacts_tab[4] = {
    NULL,
    "<sip:alice@192.0.2.1:5070>",
    "<sip:alice@192.0.2.1:5070>;q=0.7, <sip:alice@192.0.2.2;transport=tcp>;q=0.3",
    "\"Alice\" <sip:alice@[2001:db8::1]>;+sip.ice, <sip:alice@192.0.2.3>;expires=10",
};

/* Creates a registration in slot cur. a, b: its options; contacts: the Contact values, or NULL
 * for one of the table's. */
static void create_reg(uint8_t a, uint8_t b, const char *contacts)
{
    if (regs[cur]) return;
    sip_reg_opts_t o;
    sip_reg_opts_init(&o);
    o.registrar = tcp ? "sip:127.0.0.1:5061;transport=tcp" : "sip:127.0.0.1:5061";
    o.contacts = contacts ? contacts : contacts_tab[a & 3];
    o.expires = expires_tab[(a >> 2) & 7];
    if (a & 0x20) {
        /* RFC 5626: an instance, with a reg-id or without. */
        o.instance_id = "<urn:uuid:00000000-0000-1000-8000-000a95a0e128>";
        o.reg_id = (a & 0x40) ? 1 : 0;
    }
    o.retry_initial = !(a & 0x80);
    o.retry_s = 1 + (b & 7) * 10;
    o.max_retry_s = (b & 8) ? 60 : 0;
    o.contact_params = (b & 0x10) ? ";+sip.ice" : NULL;
    o.from = (b & 0x20) ? "Boss <sip:boss@example.com>" : NULL;
    sip_netinfo_t dst = registrar();
    o.dst = &dst;
    app_t *ap = app_new(cur, b >> 2);
    sip_reg_create(&regs[cur], ua, "sip:alice@example.com", &o, on_reg, ap, app_free);
}

static void send_req(const char *method, uint8_t a)
{
    sip_msg_t *m = NULL;
    if (sip_ua_create_request(&m, ua, method, "sip:bob@127.0.0.1:5061", "<sip:alice@example.com>"))
        return;
    if (!strcmp(method, "MESSAGE")) sip_msg_set_body(m, "text/plain", "hi", 2);
    app_t *ap = app_new(-1, a & 3);
    nreq_live++;
    sip_netinfo_t dst = registrar();
    sip_ua_send_request(ua, m, &dst, on_rsp, ap, on_req_free);
    sip_msg_unref(m);
}

static void add_cred(uint8_t a)
{
    sip_auth_cred_t c = {0};
    c.user = "alice";
    switch (a & 3) {
    case 0: c.password = "secret"; break;
    case 1:
        c.realm = "example.com";
        c.password = "secret";
        break;
    case 2:
        c.realm = "example.com";
        c.ha1 = "5ebe2294ecd0e0f08eab7690d2a6ee69";
        break;
    default:
        c.realm = "other.example";
        c.user = "bob";
        c.password = "pw";
        break;
    }
    sip_ua_add_credential(ua, &c);
}

/* ---- time --------------------------------------------------------------------------------- */

static void advance(uint64_t ms)
{
    uint64_t end = now_ms + ms;
    for (int guard = 0; guard < 20000; guard++) {
        slot_t *next = NULL;
        for (int i = 0; i < 2; i++)
            if (slots[i].armed && slots[i].due <= end && (!next || slots[i].due < next->due))
                next = &slots[i];
        if (!next) break;
        if (next->due > now_ms) now_ms = next->due;
        next->armed = 0;
        next->fire(next->arg);
    }
    now_ms = end;
}

/* ---- canned answers ----------------------------------------------------------------------- */

static unsigned nonce_no;

static void canned(int kind, uint8_t arg)
{
    if (!nq) return;
    sip_msg_t *req = queue[0];
    char h[1024];
    int keep = kind >> 8, st = 200;
    kind &= 0xff;
    const char *algs[4] = {"", ", algorithm=MD5", ", algorithm=SHA-256", ", algorithm=MD5-sess"};
    switch (kind) {
    case 0: /* 100 Trying: the request stays unanswered */
        st = 100;
        keep = 1;
        h[0] = 0;
        break;
    case 1: /* 200 with our Contacts and their expiry, in the param or the header */
        if (arg & 1)
            snprintf(h, sizeof(h), "Contact: <$C>;expires=%u, <$D>;expires=%u\r\n",
                     (unsigned)expires_tab[arg >> 1 & 7], (unsigned)expires_tab[arg >> 4 & 7]);
        else
            snprintf(h, sizeof(h), "Contact: <$C>\r\nExpires: %u\r\n",
                     (unsigned)expires_tab[arg >> 1 & 7]);
        if (arg & 0x80)
            strcat(h, "Service-Route: <sip:192.0.2.10;lr>\r\nPath: <sip:p1.example.com;lr>"
                      "\r\nRequire: outbound\r\nFlow-Timer: 20\r\n");
        break;
    case 2: /* a challenge of the registrar or a proxy */
    case 3:
        st = kind == 2 ? 401 : 407;
        snprintf(h, sizeof(h), "%s: Digest realm=\"%s\", nonce=\"n%u\"%s%s%s%s\r\n",
                 st == 401 ? "WWW-Authenticate" : "Proxy-Authenticate",
                 (arg & 1) ? "other.example" : "example.com", (arg & 2) ? nonce_no : ++nonce_no,
                 (arg & 4) ? ", qop=\"auth,auth-int\"" : "", algs[arg >> 3 & 3],
                 (arg & 0x20) ? ", stale=true" : "", (arg & 0x40) ? ", opaque=\"op\"" : "");
        break;
    case 4: /* 423, with a Min-Expires or without */
        st = 423;
        if (arg & 1)
            snprintf(h, sizeof(h), "Min-Expires: %u\r\n", (unsigned)expires_tab[arg >> 1 & 7]);
        else
            h[0] = 0;
        break;
    default: {
        static const int fails[8] = {403, 404, 408, 480, 500, 503, 504, 600};
        st = fails[arg & 7];
        if (arg & 8)
            snprintf(h, sizeof(h), "Retry-After: %u\r\n", (unsigned)(arg >> 4) * 100);
        else
            h[0] = 0;
        break;
    }
    }
    answer(req, st, h, strlen(h));
    if (!keep) sip_msg_unref(take(0));
}

/* One action; *p and end: the arguments that follow it. Returns how many octets it took. */
static size_t action(const uint8_t *p, const uint8_t *end)
{
    uint8_t a0 = p + 1 < end ? p[1] : 0, a1 = p + 2 < end ? p[2] : 0;
    switch (p[0] % 29) {
    case 0: create_reg(a0, a1, NULL); return 3;
    case 1: cur = a0 % NREG; return 2;
    case 2: canned(0, 0); return 1;
    case 3: canned(1, a0); return 2;
    case 4: canned(2, a0); return 2;
    case 5: canned(3, a0); return 2;
    case 6: canned(4, a0); return 2;
    case 7: canned(5, a0); return 2;
    case 8: sip_msg_unref(take(0)); return 1; /* lost: the UA times out */
    case 9: sip_reg_unregister(regs[cur], NULL); return 1;
    case 10: sip_reg_unregister(regs[cur], "*"); return 1;
    case 11: sip_reg_unregister(regs[cur], contacts_tab[1]); return 1;
    case 12: sip_reg_refresh(regs[cur]); return 1;
    case 13: sip_reg_close(regs[cur]); return 1;
    case 14:
        sip_reg_unref(regs[cur]);
        regs[cur] = NULL;
        return 1;
    case 15: send_req("MESSAGE", a0); return 2;
    case 16: send_req("OPTIONS", a0); return 2;
    case 17: add_cred(a0); return 2;
    case 18: close_ua(); return 1;
    case 19: {
        /* Answers the newest request instead (an old one is answered late, after it). */
        if (nq > 1) {
            sip_msg_t *m = take(nq - 1);
            memmove(queue + 1, queue, sizeof(queue[0]) * (size_t)nq);
            queue[0] = m;
            nq++;
        }
        return 1;
    }
    case 24: {
        /* The rest of the chunk is the Contact list (any text: sip_reg_create() checks it). */
        char c[256];
        size_t n = end - p > 3 ? (size_t)(end - p) - 3 : 0; /* after the two options */
        if (n > sizeof(c) - 1) n = sizeof(c) - 1;
        if (n) memcpy(c, p + 3, n);
        c[n] = 0;
        create_reg(a0, a1, c);
        return (size_t)(end - p);
    }
    case 25: canned(1 | 0x100, a0); return 2; /* a 2xx, and the same again later */
    case 26:
        /* Every request waiting gets one answer (a burst). */
        for (int k = nq; k > 0 && nq; k--)
            canned(a0 % 6, (uint8_t)(a0 * 7 + k));
        return 2;
    case 27: sip_reg_unregister(regs[cur], "<sip:alice@192.0.2.2;transport=tcp>"); return 1;
    case 28: fail_countdown = 1 + a0; return 2;
    default: advance((uint64_t)1 << ((p[0] % 29 - 20) * 5 + (a0 & 3) * 2)); return 2;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sip_loop_t *loop = NULL;
    if (sip_loop_create(&loop)) return 0;
    trace = getenv("FUZZ_REG_TRACE") != NULL;
    now_ms = 1000;
    memset(slots, 0, sizeof(slots));
    nq = 0;
    nonce_no = 0;
    nseen = 0;
    fail_countdown = 0;
    fail_fired = 0;
    made = freed = 0;
    nreq_live = 0;
    cur = 0;
    ua_closed = 0;
    memset(regs, 0, sizeof(regs));
    /* The first octet: the registrar's transport. */
    tcp = size && (data[0] & 0x80);
    sip_transport_create(&tp, loop, NULL);
    sip_txn_clock_t tc = {c_now, c_start, c_stop, &slots[0]};
    sip_txn_opts_t to;
    sip_txn_opts_init(&to);
    to.clock = &tc;
    sip_txn_layer_create(&layer, tp, &to);
    sip__txn_io_t io = {io_send, io_send_response, io_send_raw, NULL, NULL};
    sip__txn_layer_set_io(layer, &io);
    sip_txn_clock_t uc = {c_now, c_start, c_stop, &slots[1]};
    sip_ua_opts_t uo;
    sip_ua_opts_init(&uo);
    uo.clock = &uc;
    uo.contact_host = "127.0.0.1:5060";
    ua = NULL;
    if (sip_ua_create(&ua, layer, &uo, NULL, NULL, NULL) != 0) abort();
    sip_auth_cred_t cred = {"*", "alice", "secret", NULL, 0};
    sip_ua_add_credential(ua, &cred);

    size_t pos = 0;
    int steps = 0;
    while (pos < size && steps < 512) {
        const uint8_t *p = data + pos;
        const uint8_t *z = memchr(p, 0, size - pos);
        size_t len = z ? (size_t)(z - p) : size - pos;
        pos += len + 1;
        if (len == 0) continue;
        if (p[0] < 0x20) {
            for (size_t i = 0; i < len && steps < 512; steps++)
                i += action(p + i, p + len);
            continue;
        }
        steps++;
        /* An answer: the status, then header lines. */
        if (!nq) continue;
        int st = 0;
        size_t i = 0;
        while (i < len && i < 3 && p[i] >= '0' && p[i] <= '9')
            st = st * 10 + (p[i++] - '0');
        if (st < 100 || st > 699) st = 200;
        while (i < len && (p[i] == '\r' || p[i] == '\n' || p[i] == ' '))
            i++;
        answer(queue[0], st, (const char *)p + i, len - i);
        if (st >= 200) sip_msg_unref(take(0));
    }
    /* Whatever is still running runs out: refreshes and retries answered by nobody. */
    advance(100000);
    fail_countdown = 0;
    for (int i = 0; i < NREG; i++) {
        sip_reg_unref(regs[i]);
        regs[i] = NULL;
    }
    advance(100000);
    sip_ua_unref(ua);
    advance(100000);
    sip_txn_layer_unref(layer);
    sip_transport_unref(tp);
    for (int i = 0; i < nq; i++)
        sip_msg_unref(queue[i]);
    nq = 0;
    sip_loop_close(loop);
    sip_loop_unref(loop);
    /* Every user_free ran exactly once. */
    if (made != freed || nreq_live != 0) {
        fprintf(stderr, "fuzz_reg: %ld user pointers, %ld freed, %d requests live\n", made, freed,
                nreq_live);
        abort();
    }
    /* Every registration, transaction and message is gone (reachable leaks escape ASan). */
    for (int k = 0; k < SIP_LIVE__COUNT; k++)
        if (sip_live_count((sip_live_kind_t)k) != 0) {
            fprintf(stderr, "fuzz_reg: %ld live %s\n", sip_live_count((sip_live_kind_t)k),
                    sip_live_name((sip_live_kind_t)k));
            abort();
        }
    return 0;
}
