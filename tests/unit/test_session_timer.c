/* SPDX-License-Identifier: MIT */
/* Unit tests of RFC 4028 session timers (call/timer.c) and of option tags (call/ext.c): the §9
 * UAS negotiation and the §7 UAC rules as tables, the 422 round trip, and the §10 timing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_hook.h"
#include "call/ext.h"
#include "call/timer.h"
#include "sip/sip.h"

/* ---- messages ----------------------------------------------------------------------------- */

static sip_msg_t *parse(const char *text)
{
    sip_msg_t *m = NULL;
    sip_parse_error_t err;
    int rc = sip_msg_parse(&m, text, strlen(text), &err);
    if (rc) fail_msg("parse: %s at %u:%u", err.reason, err.line, err.column);
    return m;
}

/* A request with extra header lines ("Name: value\r\n" each). */
static sip_msg_t *request(const char *method, unsigned cseq, const char *extra)
{
    char buf[2048];
    snprintf(buf, sizeof(buf),
             "%s sip:bob@b.example.com SIP/2.0\r\n"
             "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1\r\n"
             "Max-Forwards: 70\r\n"
             "From: <sip:alice@a.example.com>;tag=a1\r\n"
             "To: <sip:bob@b.example.com>\r\n"
             "Call-ID: st1@a.example.com\r\n"
             "CSeq: %u %s\r\n"
             "%s"
             "Content-Length: 0\r\n\r\n",
             method, cseq, method, extra ? extra : "");
    return parse(buf);
}

static sip_msg_t *response(int status, unsigned cseq, const char *extra)
{
    char buf[2048];
    snprintf(buf, sizeof(buf),
             "SIP/2.0 %d %s\r\n"
             "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1\r\n"
             "From: <sip:alice@a.example.com>;tag=a1\r\n"
             "To: <sip:bob@b.example.com>;tag=b1\r\n"
             "Call-ID: st1@a.example.com\r\n"
             "CSeq: %u INVITE\r\n"
             "%s"
             "Content-Length: 0\r\n\r\n",
             status, sip_status_phrase(status), cseq, extra ? extra : "");
    return parse(buf);
}

static void assert_header(const sip_msg_t *msg, const char *name, const char *value)
{
    const sip_header_t *h = sip_msg_header_by_name(msg, name, 0);
    if (!value) {
        assert_null(h);
        return;
    }
    assert_non_null(h);
    sip_str_t v = sip_header_get_value(h);
    char buf[256];
    sip_str_copy(v, buf, sizeof(buf));
    assert_string_equal(buf, value);
}

/* ---- §9: the UAS ------------------------------------------------------------------------- */

#define UAC SIP__REFRESHER_UAC
#define UAS SIP__REFRESHER_UAS
#define NONE SIP__REFRESHER_NONE
#define SUP SIP__TIMER_SUPPORTED
#define OFF SIP__TIMER_OFF
#define ALW SIP__TIMER_ALWAYS

typedef struct uas_row {
    const char *name;
    sip__timer_mode_t mode;
    uint32_t cfg_se, cfg_min;
    sip__timer_prefer_t prefer;
    int is_caller;
    uint32_t running;    /* a timer runs with this interval (a refresh); 0: initial request */
    int running_local;   /* ... and this side refreshes */
    const char *hdrs;    /* the request's extension headers */
    int status;          /* expected: 0, 420, 422 */
    uint32_t interval;   /* expected Session-Expires of the 2xx (0: none) */
    int refresher;       /* expected refresher param of the 2xx */
    int require;         /* expected Require: timer in the 2xx */
    uint32_t rsp_min_se; /* expected Min-SE of a 422 */
    uint32_t min_se;     /* expected session Min-SE afterwards */
} uas_row_t;

#define SUPT "Supported: timer\r\n"

static const uas_row_t uas_rows[] = {
    /* No session timer asked for, none wanted. */
    {"no timer anywhere", SUP, 1800, 90, 0, 0, 0, 0, "", 0, 0, NONE, 0, 0, 90},
    {"uac supports, asks none", SUP, 1800, 90, 0, 0, 0, 0, SUPT, 0, 0, NONE, 0, 0, 90},
    /* §9 table 2, row 1: UAC without "timer" (a proxy put Session-Expires in): uas refreshes. */
    {"row 1: no support, no param", SUP, 1800, 90, 0, 0, 0, 0, "Session-Expires: 1800\r\n", 0, 1800,
     UAS, 0, 0, 90},
    {"row 1: no support, param uac ignored", SUP, 1800, 90, 0, 0, 0, 0,
     "Session-Expires: 1800;refresher=uac\r\n", 0, 1800, UAS, 0, 0, 90},
    /* Row 2: UAC supports, no param: the UAS chooses (uac unless it prefers to refresh). */
    {"row 2: any", SUP, 1800, 90, SIP__TIMER_PREFER_ANY, 0, 0, 0, SUPT "Session-Expires: 1800\r\n",
     0, 1800, UAC, 1, 0, 90},
    {"row 2: local", SUP, 1800, 90, SIP__TIMER_PREFER_LOCAL, 0, 0, 0,
     SUPT "Session-Expires: 1800\r\n", 0, 1800, UAS, 1, 0, 90},
    {"row 2: remote", SUP, 1800, 90, SIP__TIMER_PREFER_REMOTE, 0, 0, 0,
     SUPT "Session-Expires: 1800\r\n", 0, 1800, UAC, 1, 0, 90},
    {"row 2: caller refreshes, we are callee", SUP, 1800, 90, SIP__TIMER_PREFER_UAC, 0, 0, 0,
     SUPT "Session-Expires: 1800\r\n", 0, 1800, UAC, 1, 0, 90},
    {"row 2: callee refreshes, we are callee", SUP, 1800, 90, SIP__TIMER_PREFER_UAS, 0, 0, 0,
     SUPT "Session-Expires: 1800\r\n", 0, 1800, UAS, 1, 0, 90},
    {"row 2: caller refreshes, we are caller", SUP, 1800, 90, SIP__TIMER_PREFER_UAC, 1, 0, 0,
     SUPT "Session-Expires: 1800\r\n", 0, 1800, UAS, 1, 0, 90},
    {"row 2: Require: timer counts as support", SUP, 1800, 90, 0, 0, 0, 0,
     "Require: timer\r\nSession-Expires: 1800\r\n", 0, 1800, UAC, 1, 0, 90},
    /* Rows 3 and 4: the request's refresher param is copied, whatever the preference. */
    {"row 3: uac copied", SUP, 1800, 90, SIP__TIMER_PREFER_LOCAL, 0, 0, 0,
     SUPT "Session-Expires: 1800;refresher=uac\r\n", 0, 1800, UAC, 1, 0, 90},
    {"row 4: uas copied", SUP, 1800, 90, SIP__TIMER_PREFER_REMOTE, 0, 0, 0,
     SUPT "Session-Expires: 1800;refresher=uas\r\n", 0, 1800, UAS, 1, 0, 90},
    {"row 4: param case", SUP, 1800, 90, 0, 0, 0, 0, SUPT "x: 1800;refresher=UAS\r\n", 0, 1800, UAS,
     1, 0, 90},
    /* The interval: lowered to what this side grants, never below the floors, never raised. */
    {"lowered to local", SUP, 1800, 90, 0, 0, 0, 0, SUPT "Session-Expires: 3600\r\n", 0, 1800, UAC,
     1, 0, 90},
    {"not below request Min-SE", SUP, 1800, 90, 0, 0, 0, 0,
     SUPT "Session-Expires: 3600\r\nMin-SE: 2400\r\n", 0, 2400, UAC, 1, 0, 2400},
    {"never raised", SUP, 1800, 90, 0, 0, 0, 0, SUPT "Session-Expires: 1000\r\n", 0, 1000, UAC, 1,
     0, 90},
    {"Min-SE taken into the session", SUP, 1800, 90, 0, 0, 0, 0,
     SUPT "Session-Expires: 1800\r\nMin-SE: 600\r\n", 0, 1800, UAC, 1, 0, 600},
    {"at the floor exactly", SUP, 1800, 120, 0, 0, 0, 0, SUPT "Session-Expires: 120\r\n", 0, 120,
     UAC, 1, 0, 120},
    /* 422 (§9) when the UAC can retry; raised instead when it cannot (§8.1, erratum 1687). */
    {"422 below 90", SUP, 1800, 90, 0, 0, 0, 0, SUPT "Session-Expires: 60\r\n", 422, 0, NONE, 0, 90,
     90},
    {"422 below local Min-SE", SUP, 1800, 300, 0, 0, 0, 0, SUPT "Session-Expires: 200\r\n", 422, 0,
     NONE, 0, 300, 300},
    {"422 below its own Min-SE", SUP, 1800, 90, 0, 0, 0, 0,
     SUPT "Session-Expires: 100\r\nMin-SE: 200\r\n", 422, 0, NONE, 0, 200, 200},
    {"config Min-SE below 90 is 90", SUP, 1800, 30, 0, 0, 0, 0, SUPT "Session-Expires: 60\r\n", 422,
     0, NONE, 0, 90, 90},
    {"too small, UAC cannot retry: raised", SUP, 1800, 300, 0, 0, 0, 0, "Session-Expires: 200\r\n",
     0, 300, UAS, 0, 0, 300},
    /* Mode OFF: no timer from this side; Require: timer is 420. */
    {"off: request ignored", OFF, 1800, 90, 0, 0, 0, 0, SUPT "Session-Expires: 1800\r\n", 0, 0,
     NONE, 0, 0, 90},
    {"off: required is 420", OFF, 1800, 90, 0, 0, 0, 0,
     "Require: timer\r\nSession-Expires: 1800\r\n", 420, 0, NONE, 0, 0, 90},
    /* ALWAYS/REQUIRED: the UAS times a session the UAC did not ask to. */
    {"always: uac supports", ALW, 1800, 90, 0, 0, 0, 0, SUPT, 0, 1800, UAC, 1, 0, 90},
    {"always: uac lacks timer", ALW, 1800, 90, 0, 0, 0, 0, "", 0, 1800, UAS, 0, 0, 90},
    {"always: request Min-SE", ALW, 1800, 90, 0, 0, 0, 0, SUPT "Min-SE: 2400\r\n", 0, 2400, UAC, 1,
     0, 2400},
    {"required acts as always", SIP__TIMER_REQUIRED, 600, 90, 0, 0, 0, 0, "", 0, 600, UAS, 0, 0,
     90},
    /* Refreshes (§7.4): no param keeps the roles that run; no Session-Expires ends the timer. */
    {"refresh keeps us refreshing", SUP, 1800, 90, 0, 0, 1800, 1, SUPT "Session-Expires: 1800\r\n",
     0, 1800, UAS, 1, 0, 90},
    {"refresh keeps peer refreshing", SUP, 1800, 90, SIP__TIMER_PREFER_LOCAL, 0, 1800, 0,
     SUPT "Session-Expires: 1800\r\n", 0, 1800, UAC, 1, 0, 90},
    {"refresh param changes roles", SUP, 1800, 90, 0, 0, 1800, 1,
     SUPT "Session-Expires: 900;refresher=uac\r\n", 0, 900, UAC, 1, 0, 90},
    {"refresh without Session-Expires", SUP, 1800, 90, 0, 0, 1800, 1, SUPT, 0, 0, NONE, 0, 0, 90},
};

static void timer_uas_negotiation_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(uas_rows) / sizeof(uas_rows[0]); i++) {
        const uas_row_t *r = &uas_rows[i];
        print_message("row %zu: %s\n", i, r->name);
        sip__timer_cfg_t cfg;
        sip__timer_cfg_init(&cfg);
        cfg.mode = r->mode;
        cfg.session_expires = r->cfg_se;
        cfg.min_se = r->cfg_min;
        cfg.prefer = r->prefer;
        sip__timer_t t;
        sip__timer_init(&t, &cfg, r->is_caller);
        if (r->running) {
            t.interval = r->running;
            t.local_refresher = (uint8_t)r->running_local;
        }
        sip_msg_t *req = request(r->running ? "UPDATE" : "INVITE", 1, r->hdrs);
        sip__timer_neg_t n;
        assert_int_equal(sip__timer_uas_request(&t, &cfg, req, &n), r->status);
        assert_int_equal(n.status, r->status);
        assert_int_equal(n.interval, r->interval);
        assert_int_equal(n.hdrs.session_expires, r->interval);
        if (r->interval) {
            assert_int_equal(n.refresher, r->refresher);
            assert_int_equal(n.hdrs.refresher, r->refresher);
        }
        assert_int_equal(n.hdrs.require, r->require ? SIP__EXT_TIMER : 0);
        assert_int_equal(n.hdrs.supported, r->mode == OFF ? 0 : SIP__EXT_TIMER);
        assert_int_equal(n.hdrs.min_se, r->rsp_min_se);
        assert_int_equal(n.min_se, r->min_se);
        /* The state changes only on commit. */
        assert_int_equal(t.interval, r->running);
        sip_msg_unref(req);
    }
}

/* ---- §7: the UAC ------------------------------------------------------------------------- */

typedef struct uac_req_row {
    const char *name;
    sip__timer_mode_t mode;
    uint32_t cfg_se, cfg_min;
    sip__timer_prefer_t prefer;
    int is_caller;
    uint32_t running;
    int running_local;
    const char *se;     /* expected Session-Expires value, NULL: none */
    const char *min_se; /* expected Min-SE value */
    unsigned supported; /* expected option-tag bits */
    unsigned require;
} uac_req_row_t;

#define T SIP__EXT_TIMER

static const uac_req_row_t uac_req_rows[] = {
    {"supported", SUP, 1800, 90, 0, 1, 0, 0, "1800", "90", T, 0},
    {"required", SIP__TIMER_REQUIRED, 1800, 90, 0, 1, 0, 0, "1800", "90", T, T},
    {"off", OFF, 1800, 90, 0, 1, 0, 0, NULL, NULL, 0, 0},
    {"local refreshes", SUP, 1800, 90, SIP__TIMER_PREFER_LOCAL, 1, 0, 0, "1800;refresher=uac", "90",
     T, 0},
    {"remote refreshes", SUP, 1800, 90, SIP__TIMER_PREFER_REMOTE, 1, 0, 0, "1800;refresher=uas",
     "90", T, 0},
    {"caller refreshes", SUP, 1800, 90, SIP__TIMER_PREFER_UAC, 1, 0, 0, "1800;refresher=uac", "90",
     T, 0},
    {"callee refreshes", SUP, 1800, 90, SIP__TIMER_PREFER_UAS, 1, 0, 0, "1800;refresher=uas", "90",
     T, 0},
    {"interval raised to Min-SE", SUP, 60, 120, 0, 1, 0, 0, "120", "120", T, 0},
    {"default interval", SUP, 0, 90, 0, 1, 0, 0, "1800", "90", T, 0},
    {"refresh by the refresher", SUP, 1800, 90, 0, 0, 1200, 1, "1200;refresher=uac", "90", T, 0},
    {"refresh by the other side", SUP, 1800, 90, 0, 1, 1200, 0, "1200;refresher=uas", "90", T, 0},
};

static void timer_uac_request_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(uac_req_rows) / sizeof(uac_req_rows[0]); i++) {
        const uac_req_row_t *r = &uac_req_rows[i];
        print_message("row %zu: %s\n", i, r->name);
        sip__timer_cfg_t cfg;
        sip__timer_cfg_init(&cfg);
        cfg.mode = r->mode;
        cfg.session_expires = r->cfg_se;
        cfg.min_se = r->cfg_min;
        cfg.prefer = r->prefer;
        sip__timer_t t;
        sip__timer_init(&t, &cfg, r->is_caller);
        t.interval = r->running;
        t.local_refresher = (uint8_t)r->running_local;
        sip__timer_hdrs_t h;
        sip__timer_uac_request(&t, &cfg, &h);
        assert_int_equal(h.supported, r->supported);
        assert_int_equal(h.require, r->require);
        sip_msg_t *req = request("INVITE", 1, NULL);
        assert_int_equal(sip__timer_add_headers(req, &h), 0);
        assert_header(req, "Session-Expires", r->se);
        assert_header(req, "Min-SE", r->min_se);
        sip_msg_unref(req);
    }
}

typedef struct uac_rsp_row {
    const char *name;
    sip__timer_mode_t mode;
    const char *sent;  /* the request's extension headers */
    const char *hdrs;  /* the 2xx's */
    uint32_t interval; /* expected */
    int refresher;
    int local_refresher; /* after commit */
    uint64_t next_ms;
} uac_rsp_row_t;

static const uac_rsp_row_t uac_rsp_rows[] = {
    /* §7.2: the 2xx's Session-Expires and its refresher param decide. */
    {"uac refreshes", SUP, SUPT "Session-Expires: 1800\r\n",
     "Require: timer\r\nSession-Expires: 1800;refresher=uac\r\n", 1800, UAC, 1, 900000},
    {"uas refreshes", SUP, SUPT "Session-Expires: 1800\r\n",
     "Require: timer\r\nSession-Expires: 1200;refresher=uas\r\n", 1200, UAS, 0, 1168000},
    {"2xx without Session-Expires: none", SUP, SUPT "Session-Expires: 1800\r\n", "", 0, NONE, 0, 0},
    {"2xx without Session-Expires: refresh alone", ALW, SUPT "Session-Expires: 1800\r\n", "", 1800,
     UAC, 1, 900000},
    {"always, but nothing asked", ALW, SUPT, "", 0, NONE, 0, 0},
    {"2xx without refresher param", SUP, SUPT "Session-Expires: 1800\r\n",
     "Session-Expires: 1800\r\n", 1800, UAC, 1, 900000},
    {"2xx below the request's Min-SE", SUP, SUPT "Session-Expires: 1800\r\nMin-SE: 300\r\n",
     "Require: timer\r\nSession-Expires: 100;refresher=uas\r\n", 300, UAS, 0, 268000},
    {"2xx below 90", SUP, SUPT "Session-Expires: 1800\r\n",
     "Require: timer\r\nSession-Expires: 30;refresher=uac\r\n", 90, UAC, 1, 45000},
    {"off ignores Session-Expires", OFF, "", "Session-Expires: 1800;refresher=uas\r\n", 0, NONE, 0,
     0},
};

static void timer_uac_response_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(uac_rsp_rows) / sizeof(uac_rsp_rows[0]); i++) {
        const uac_rsp_row_t *r = &uac_rsp_rows[i];
        print_message("row %zu: %s\n", i, r->name);
        sip__timer_cfg_t cfg;
        sip__timer_cfg_init(&cfg);
        cfg.mode = r->mode;
        sip__timer_t t;
        sip__timer_init(&t, &cfg, 1);
        sip_msg_t *req = request("INVITE", 1, r->sent);
        sip_msg_t *rsp = response(200, 1, r->hdrs);
        sip__timer_neg_t n;
        assert_int_equal(sip__timer_uac_response(&t, &cfg, req, rsp, &n), 0);
        assert_int_equal(n.interval, r->interval);
        if (r->interval) assert_int_equal(n.refresher, r->refresher);
        sip__timer_commit(&t, &n, 1);
        assert_int_equal(t.interval, r->interval);
        assert_int_equal(t.local_refresher, r->local_refresher);
        assert_int_equal(sip__timer_next_ms(&t), r->next_ms);
        sip_msg_unref(rsp);
        sip_msg_unref(req);
    }
}

static void timer_refresh_turns_off(void **state)
{
    (void)state;
    /* §7.2: a refresh's 2xx without Session-Expires turns the timer off mid-dialog. */
    sip__timer_cfg_t cfg;
    sip__timer_cfg_init(&cfg);
    sip__timer_t t;
    sip__timer_init(&t, &cfg, 1);
    t.interval = 1800;
    t.local_refresher = 1;
    sip_msg_t *req = request("UPDATE", 2, SUPT "Session-Expires: 1800;refresher=uac\r\n");
    sip_msg_t *rsp = response(200, 2, NULL);
    sip__timer_neg_t n;
    assert_int_equal(sip__timer_uac_response(&t, &cfg, req, rsp, &n), 0);
    sip__timer_commit(&t, &n, 1);
    assert_int_equal(t.interval, 0);
    assert_int_equal(sip__timer_next_ms(&t), 0);
    sip_msg_unref(rsp);
    /* Not a 2xx. */
    rsp = response(180, 2, NULL);
    assert_int_equal(sip__timer_uac_response(&t, &cfg, req, rsp, &n), SIP_EINVAL);
    assert_int_equal(sip__timer_uac_422(&t, req, rsp), SIP_EINVAL);
    sip_msg_unref(rsp);
    sip_msg_unref(req);
}

/* Builds what one side sends from its hdrs: extension headers and option tags. */
static sip_msg_t *send_request(const sip__timer_t *t, const sip__timer_cfg_t *cfg, unsigned cseq)
{
    sip__timer_hdrs_t h;
    sip__timer_uac_request(t, cfg, &h);
    sip_msg_t *req = request("INVITE", cseq, NULL);
    char tags[64];
    assert_true(sip__ext_format(h.supported, tags, sizeof(tags)) > 0);
    assert_int_equal(sip_msg_add_header(req, "Supported", tags), 0);
    assert_int_equal(sip__timer_add_headers(req, &h), 0);
    return req;
}

static sip_msg_t *send_response(const sip_msg_t *req, const sip__timer_neg_t *n)
{
    sip_msg_t *rsp = NULL;
    assert_int_equal(sip_msg_create_response(&rsp, req, n->status ? n->status : 200, NULL, "b1"),
                     0);
    char tags[64];
    if (n->hdrs.require) {
        assert_true(sip__ext_format(n->hdrs.require, tags, sizeof(tags)) > 0);
        assert_int_equal(sip_msg_add_header(rsp, "Require", tags), 0);
    }
    assert_int_equal(sip__timer_add_headers(rsp, &n->hdrs), 0);
    return rsp;
}

static void timer_422_round_trip(void **state)
{
    (void)state;
    sip__timer_cfg_t ucfg, scfg;
    sip__timer_cfg_init(&ucfg);
    ucfg.session_expires = 90;
    sip__timer_cfg_init(&scfg);
    scfg.min_se = 300;
    sip__timer_t uac, uas;
    sip__timer_init(&uac, &ucfg, 1);
    sip__timer_init(&uas, &scfg, 0);

    /* INVITE with Session-Expires: 90 → 422 with Min-SE: 300 (§9). */
    sip_msg_t *req = send_request(&uac, &ucfg, 1);
    assert_header(req, "Session-Expires", "90");
    assert_header(req, "Min-SE", "90");
    sip__timer_neg_t n;
    assert_int_equal(sip__timer_uas_request(&uas, &scfg, req, &n), 422);
    sip_msg_t *rsp = send_response(req, &n);
    assert_int_equal(sip_msg_get_status(rsp), 422);
    assert_header(rsp, "Min-SE", "300");
    assert_header(rsp, "Session-Expires", NULL);

    /* §7.3: the retry asks for at least the 422's Min-SE and carries it. */
    assert_int_equal(sip__timer_uac_422(&uac, req, rsp), 1);
    assert_int_equal(uac.min_se, 300);
    sip_msg_unref(req);
    req = send_request(&uac, &ucfg, 2);
    assert_header(req, "Session-Expires", "300");
    assert_header(req, "Min-SE", "300");
    /* The same 422 to the retry would loop: it is final. */
    assert_int_equal(sip__timer_uac_422(&uac, req, rsp), 0);
    sip_msg_unref(rsp);

    /* The retry is accepted: the UAC supports timer and names no refresher, so it refreshes. */
    assert_int_equal(sip__timer_uas_request(&uas, &scfg, req, &n), 0);
    assert_int_equal(n.interval, 300);
    rsp = send_response(req, &n);
    assert_header(rsp, "Session-Expires", "300;refresher=uac");
    assert_header(rsp, "Require", "timer");
    sip__timer_commit(&uas, &n, 0);
    assert_int_equal(sip__timer_uac_response(&uac, &ucfg, req, rsp, &n), 0);
    sip__timer_commit(&uac, &n, 1);
    assert_int_equal(uac.interval, 300);
    assert_int_equal(uas.interval, 300);
    assert_true(uac.local_refresher);
    assert_false(uas.local_refresher);
    assert_int_equal(sip__timer_next_ms(&uac), 150000);
    assert_int_equal(sip__timer_next_ms(&uas), 268000);
    sip_msg_unref(rsp);
    sip_msg_unref(req);

    /* The UAC's refresh keeps the interval and the roles. */
    req = send_request(&uac, &ucfg, 3);
    assert_header(req, "Session-Expires", "300;refresher=uac");
    assert_header(req, "Min-SE", "300");
    assert_int_equal(sip__timer_uas_request(&uas, &scfg, req, &n), 0);
    assert_int_equal(n.interval, 300);
    assert_int_equal(n.refresher, UAC);
    sip_msg_unref(req);
}

static void timer_422_limits(void **state)
{
    (void)state;
    sip__timer_cfg_t cfg;
    sip__timer_cfg_init(&cfg);
    sip__timer_t t;
    sip__timer_init(&t, &cfg, 1);
    sip_msg_t *req = request("INVITE", 1, SUPT "Session-Expires: 90\r\n");
    /* §6: a 422 without Min-SE cannot be retried. */
    sip_msg_t *rsp = response(422, 1, NULL);
    assert_int_equal(sip__timer_uac_422(&t, req, rsp), 0);
    sip_msg_unref(rsp);
    sip_msg_unref(req);
    /* A peer raising Min-SE by one second each time is given up on. */
    int retries = 0;
    for (unsigned i = 0; i < 20; i++) {
        char sent[64], got[32];
        snprintf(sent, sizeof(sent), SUPT "Session-Expires: %u\r\n", 1800 + i);
        snprintf(got, sizeof(got), "Min-SE: %u\r\n", 1801 + i);
        req = request("INVITE", 1 + i, sent);
        rsp = response(422, 1 + i, got);
        int rc = sip__timer_uac_422(&t, req, rsp);
        sip_msg_unref(rsp);
        sip_msg_unref(req);
        if (rc != 1) break;
        retries++;
    }
    assert_true(retries > 0 && retries < 20);
    /* A commit starts counting again. */
    sip__timer_neg_t n = {0};
    sip__timer_commit(&t, &n, 1);
    assert_int_equal(t.n422, 0);
}

/* ---- §10: timing ------------------------------------------------------------------------- */

static void timer_timing(void **state)
{
    (void)state;
    static const struct {
        uint32_t interval;
        uint64_t refresh, expire;
    } rows[] = {
        {90, 45000, 60000},      /* 90 - 90/3 */
        {96, 48000, 64000},      /* 96/3 = 32 */
        {99, 49500, 67000},      /* 99 - 32 */
        {1800, 900000, 1768000}, /* 1800 - 32 */
        {4294967295u, 2147483647500ull, 4294967263000ull},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        assert_int_equal(sip__timer_refresh_ms(rows[i].interval), rows[i].refresh);
        assert_int_equal(sip__timer_expire_ms(rows[i].interval), rows[i].expire);
    }
    assert_int_equal(sip__timer_next_ms(NULL), 0);
    assert_true(sip__timer_refresh_fatal(0));
    assert_true(sip__timer_refresh_fatal(408));
    assert_true(sip__timer_refresh_fatal(481));
    assert_false(sip__timer_refresh_fatal(422));
    assert_false(sip__timer_refresh_fatal(491));
    assert_false(sip__timer_refresh_fatal(500));
    char buf[32];
    assert_int_equal(sip__timer_format_se(1800, UAS, buf, sizeof(buf)), 18);
    assert_string_equal(buf, "1800;refresher=uas");
    assert_int_equal(sip__timer_format_se(90, NONE, buf, sizeof(buf)), 2);
    assert_string_equal(buf, "90");
    assert_int_equal(sip__timer_format_se(1800, UAC, buf, 8), SIP_ENOSPC);
    assert_string_equal(buf, "");
    sip__timer_cfg_t cfg;
    sip__timer_cfg_init(&cfg);
    assert_int_equal(cfg.mode, SIP__TIMER_SUPPORTED);
    assert_int_equal(cfg.session_expires, 1800);
    assert_int_equal(cfg.min_se, 90);
    assert_int_equal(sip__timer_uas_request(NULL, &cfg, NULL, NULL), SIP_EINVAL);
}

static void timer_add_headers_alloc_failure(void **state)
{
    (void)state;
    /* Fail the Nth allocation: only SIP_ENOMEM, and the message as it was, until it passes.
     * Edits take room from the message's chunks, so a padding header first moves the chunk's
     * end across the two headers added. */
    sip__timer_hdrs_t h = {SIP__EXT_TIMER, 0, 1800, UAC, 90};
    static char pad[2200];
    int failures = 0;
    for (size_t len = 16; len < sizeof(pad); len += 4) {
        for (long n = 1;; n++) {
            sip_msg_t *req = request("INVITE", 1, NULL);
            memset(pad, 'x', len);
            pad[len] = '\0';
            assert_int_equal(sip_msg_add_header(req, "X-Pad", pad), 0);
            size_t total = sip_msg_header_total(req);
            test_alloc_fail_at(n);
            int rc = sip__timer_add_headers(req, &h);
            int failed = test_alloc_failed();
            test_alloc_fail_at(0);
            if (rc == 0) {
                assert_header(req, "Session-Expires", "1800;refresher=uac");
                assert_header(req, "Min-SE", "90");
                sip_msg_unref(req);
                break;
            }
            failures++;
            assert_true(failed);
            assert_int_equal(rc, SIP_ENOMEM);
            assert_int_equal(sip_msg_header_total(req), total);
            assert_null(sip_msg_header_by_name(req, "Session-Expires", 0));
            sip_msg_unref(req);
            assert_true(n < 100);
        }
    }
    assert_true(failures > 0);
}

/* ---- option tags ------------------------------------------------------------------------- */

static void ext_tags_and_420(void **state)
{
    (void)state;
    char buf[128];
    assert_int_equal(
        sip__ext_format(SIP__EXT_100REL | SIP__EXT_TIMER | SIP__EXT_REPLACES, buf, sizeof(buf)),
        23);
    assert_string_equal(buf, "100rel, timer, replaces");
    assert_int_equal(sip__ext_format(0, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    assert_int_equal(sip__ext_format(SIP__EXT_OTHER, buf, sizeof(buf)), 0);
    assert_int_equal(sip__ext_format(SIP__EXT_100REL | SIP__EXT_TIMER, buf, 10), SIP_ENOSPC);
    assert_string_equal(buf, "");
    assert_int_equal(sip__ext_from_str(SIP_STR("TIMER")), SIP__EXT_TIMER);
    assert_int_equal(sip__ext_from_str(SIP_STR("x-foo")), SIP__EXT_OTHER);
    assert_string_equal(sip__ext_name(SIP__EXT_100REL), "100rel");
    assert_null(sip__ext_name(SIP__EXT_OTHER));
    assert_null(sip__ext_name(SIP__EXT_100REL | SIP__EXT_TIMER));

    sip_msg_t *req = request("INVITE", 1,
                             "Supported: timer, 100rel\r\nk: replaces\r\nSupported:\r\n"
                             "Require: x-foo, timer\r\nRequire: X-Foo, precondition\r\n");
    assert_int_equal(sip__ext_list(req, SIP_HDR_SUPPORTED),
                     SIP__EXT_TIMER | SIP__EXT_100REL | SIP__EXT_REPLACES);
    assert_int_equal(sip__ext_list(req, SIP_HDR_REQUIRE),
                     SIP__EXT_TIMER | SIP__EXT_PRECONDITION | SIP__EXT_OTHER);
    assert_int_equal(sip__ext_list(NULL, SIP_HDR_REQUIRE), 0);
    assert_true(sip__ext_has(req, SIP_HDR_SUPPORTED, "replaces"));
    assert_true(sip__ext_has(req, SIP_HDR_REQUIRE, "x-foo"));
    assert_false(sip__ext_has(req, SIP_HDR_REQUIRE, "100rel"));
    assert_false(sip__ext_has(req, SIP_HDR_REQUIRE, NULL));
    /* §8.2.2.3: every unsupported required tag once, as the request spelled it. */
    assert_int_equal(sip__ext_check_require(req, SIP__EXT_100REL, NULL, buf, sizeof(buf)), 420);
    assert_string_equal(buf, "x-foo, timer, precondition");
    assert_int_equal(sip__ext_check_require(req, SIP__EXT_TIMER, "a, X-FOO,b", buf, sizeof(buf)),
                     420);
    assert_string_equal(buf, "precondition");
    assert_int_equal(sip__ext_check_require(req, SIP__EXT_TIMER | SIP__EXT_PRECONDITION, "x-foo",
                                            buf, sizeof(buf)),
                     0);
    assert_string_equal(buf, "");
    /* What does not fit is left out whole. */
    assert_int_equal(sip__ext_check_require(req, 0, NULL, buf, 14), 420);
    assert_string_equal(buf, "x-foo, timer");
    assert_int_equal(sip__ext_check_require(req, 0, NULL, NULL, 0), 420);
    sip_msg_unref(req);

    /* CANCEL and ACK are not rejected for their Require. */
    req = request("CANCEL", 1, "Require: x-foo\r\n");
    assert_int_equal(sip__ext_check_require(req, 0, NULL, buf, sizeof(buf)), 0);
    sip_msg_unref(req);
    req = request("ACK", 1, "Require: x-foo\r\n");
    assert_int_equal(sip__ext_check_require(req, 0, NULL, buf, sizeof(buf)), 0);
    sip_msg_unref(req);
    req = request("OPTIONS", 1, NULL);
    assert_int_equal(sip__ext_check_require(req, 0, NULL, buf, sizeof(buf)), 0);
    sip_msg_unref(req);
    sip_msg_t *rsp = response(200, 1, NULL);
    assert_int_equal(sip__ext_check_require(rsp, 0, NULL, buf, sizeof(buf)), SIP_EINVAL);
    sip_msg_unref(rsp);

    /* Adding tags: only those not listed yet, as one more header. */
    req = request("INVITE", 1, "Supported: replaces, TIMER\r\n");
    assert_int_equal(sip__ext_add(req, SIP_HDR_SUPPORTED, SIP__EXT_TIMER | SIP__EXT_REPLACES), 0);
    assert_int_equal(sip_msg_header_count(req, SIP_HDR_SUPPORTED), 2);
    assert_int_equal(
        sip__ext_add(req, SIP_HDR_SUPPORTED, SIP__EXT_100REL | SIP__EXT_TIMER | SIP__EXT_OTHER), 0);
    assert_int_equal(sip_msg_header_count(req, SIP_HDR_SUPPORTED), 3);
    assert_header(req, "Supported", "replaces");
    assert_int_equal(sip__ext_list(req, SIP_HDR_SUPPORTED),
                     SIP__EXT_100REL | SIP__EXT_TIMER | SIP__EXT_REPLACES);
    assert_int_equal(sip__ext_add(req, SIP_HDR_REQUIRE, SIP__EXT_100REL | SIP__EXT_TIMER), 0);
    assert_int_equal(sip_msg_header_count(req, SIP_HDR_REQUIRE), 2);
    assert_true(sip__ext_has(req, SIP_HDR_REQUIRE, "timer"));
    assert_int_equal(sip__ext_add(req, SIP_HDR_CSEQ, SIP__EXT_TIMER), SIP_EINVAL);
    assert_int_equal(sip__ext_add(NULL, SIP_HDR_REQUIRE, SIP__EXT_TIMER), SIP_EINVAL);
    sip_msg_unref(req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timer_uas_negotiation_table),
        cmocka_unit_test(timer_uac_request_table),
        cmocka_unit_test(timer_uac_response_table),
        cmocka_unit_test(timer_refresh_turns_off),
        cmocka_unit_test(timer_422_round_trip),
        cmocka_unit_test(timer_422_limits),
        cmocka_unit_test(timer_timing),
        cmocka_unit_test(timer_add_headers_alloc_failure),
        cmocka_unit_test(ext_tags_and_420),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
