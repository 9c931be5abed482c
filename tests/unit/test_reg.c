/* SPDX-License-Identifier: MIT */
/* The registration client between two user agents in memory under a hand-driven clock: A
 * registers, B plays the registrar by hand (each test says what it answers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_hook.h"
#include "reg/reg_int.h"
#include "sip/sip.h"
#include "ua_pair.h"

enum { A = PAIR_A, B = PAIR_B };

static int eqs(sip_str_t a, const char *b)
{
    return sip_str_eq(a, sip_str_from_cstr(b));
}

/* ---- the registrar B plays ------------------------------------------------------------- */

typedef struct answer {
    int status;
    const char *headers[6]; /* "Name: value" lines added to the response */
} answer_t;

static answer_t script[8];
static int nscript, next_answer;
static sip_msg_t *got[16]; /* the REGISTERs B received, referenced */
static int ngot;
static sip_txn_t *silent[4];
static int nsilent;

static void on_b_request(sip_ua_t *ua, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    (void)ua;
    (void)user;
    assert_true(ngot < 16);
    got[ngot++] = sip_msg_ref(req);
    if (sip_msg_get_method(req) != SIP_METHOD_REGISTER) {
        assert_int_equal(sip_txn_respond(txn, 200, NULL), 0);
        return;
    }
    if (next_answer >= nscript) {
        /* Silent (the client times out): a transaction left unreferenced would answer 500. */
        assert_true(nsilent < 4);
        silent[nsilent++] = sip_txn_ref(txn);
        return;
    }
    answer_t *an = &script[next_answer++];
    sip_msg_t *rsp = NULL;
    assert_int_equal(sip_txn_create_response(&rsp, txn, an->status, NULL), 0);
    for (int i = 0; i < 6 && an->headers[i]; i++) {
        char name[64];
        const char *colon = strchr(an->headers[i], ':');
        snprintf(name, sizeof(name), "%.*s", (int)(colon - an->headers[i]), an->headers[i]);
        assert_int_equal(sip_msg_add_header(rsp, name, colon + 2), 0);
    }
    assert_int_equal(sip_txn_reply(txn, rsp), 0);
    sip_msg_unref(rsp);
}

/* ---- what the application sees --------------------------------------------------------- */

static int events[32], statuses[32], nevents, freed;

static void on_event(sip_reg_t *reg, sip_reg_event_t ev, int status, sip_msg_t *msg, void *user)
{
    (void)reg;
    (void)user;
    if (ev == SIP_REG_EVENT_REGISTERED || ev == SIP_REG_EVENT_REFRESHED) assert_non_null(msg);
    assert_true(nevents < 32);
    statuses[nevents] = status;
    events[nevents++] = (int)ev;
}

static void on_free(void *user)
{
    (void)user;
    freed++;
}

static int setup(void **state)
{
    (void)state;
    memset(script, 0, sizeof(script));
    nscript = next_answer = ngot = nevents = freed = nsilent = 0;
    sip_ua_opts_t bo;
    sip_ua_opts_init(&bo);
    bo.allow = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, MESSAGE";
    const sip_ua_opts_t *opts[2] = {NULL, &bo};
    sip_ua_request_cb cbs[2] = {NULL, on_b_request};
    pair_setup(opts, cbs, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < ngot; i++)
        sip_msg_unref(got[i]);
    for (int i = 0; i < nsilent; i++) {
        sip_txn_close(silent[i]);
        sip_txn_unref(silent[i]);
    }
    pair_teardown();
    return 0;
}

static void answer(int status, const char *h0, const char *h1, const char *h2)
{
    assert_true(nscript < 8);
    script[nscript++] = (answer_t){status, {h0, h1, h2, NULL}};
}

static sip_reg_t *start(sip_reg_opts_t *o)
{
    sip_reg_opts_t def;
    if (!o) {
        sip_reg_opts_init(&def);
        o = &def;
    }
    if (!o->registrar) o->registrar = "sip:127.0.0.1:5061";
    sip_reg_t *reg = NULL;
    assert_int_equal(
        sip_reg_create(&reg, pair[A].ua, "sip:alice@example.com", o, on_event, NULL, on_free), 0);
    pair_pump();
    return reg;
}

/* The i-th value of a header of a received REGISTER, as text. */
static const char *hv(int n, const char *name, size_t i)
{
    static char buf[8][512];
    static int k;
    char *b = buf[k++ % 8];
    const sip_header_t *h = sip_msg_header_by_name(got[n], name, i);
    if (!h) return NULL;
    sip_str_t v = sip_header_get_value(h);
    snprintf(b, 512, "%.*s", (int)v.len, v.ptr);
    return b;
}

static size_t count(int n, sip_hdr_id_t id)
{
    return sip_msg_header_count(got[n], id);
}

/* ---- tests -------------------------------------------------------------------------------- */

/* RFC 3261 §10.2: To and From the AOR, one Call-ID, the CSeq rising, the UA's Contact; the
 * refresh follows the expiry granted for our Contact, not the one asked. */
static void reg_refresh_from_granted_expiry(void **state)
{
    (void)state;
    answer(200, "Contact: <sip:127.0.0.1:5060>;expires=120", "Expires: 3600", NULL);
    answer(200, "Contact: <sip:127.0.0.1:5060>;expires=60", NULL, NULL);
    answer(200, "Expires: 50", NULL, NULL);
    sip_reg_t *reg = start(NULL);
    assert_int_equal(ngot, 1);
    assert_string_equal(hv(0, "To", 0), "<sip:alice@example.com>");
    assert_non_null(strstr(hv(0, "From", 0), "<sip:alice@example.com>;tag="));
    assert_string_equal(hv(0, "Expires", 0), "3600");
    assert_string_equal(hv(0, "Contact", 0), "<sip:127.0.0.1:5060>");
    assert_string_equal(hv(0, "CSeq", 0), "1 REGISTER");
    assert_non_null(strstr(hv(0, "Supported", 0), "path"));
    const sip_uri_t *ru = sip_msg_get_uri(got[0]);
    assert_true(eqs(ru->raw, "sip:127.0.0.1:5061"));
    assert_int_equal(sip_reg_get_state(reg), SIP_REG_STATE_REGISTERED);
    assert_int_equal(sip_reg_get_expires(reg), 120);
    assert_int_equal(nevents, 1);
    assert_int_equal(events[0], SIP_REG_EVENT_REGISTERED);
    /* 120 s granted: 32 s before expiry. */
    assert_int_equal(sip_reg_next_ms(reg), 88000);
    pair_advance(87999);
    assert_int_equal(ngot, 1);
    pair_advance(1);
    assert_int_equal(ngot, 2);
    assert_string_equal(hv(1, "CSeq", 0), "2 REGISTER");
    assert_string_equal(hv(1, "Call-ID", 0), hv(0, "Call-ID", 0));
    assert_string_equal(hv(1, "From", 0), hv(0, "From", 0));
    assert_int_equal(events[1], SIP_REG_EVENT_REFRESHED);
    /* 60 s granted: at half of it. */
    assert_int_equal(sip_reg_get_expires(reg), 60);
    assert_int_equal(sip_reg_next_ms(reg), 30000);
    pair_advance(30000);
    assert_int_equal(ngot, 3);
    assert_string_equal(hv(2, "CSeq", 0), "3 REGISTER");
    /* No Contact of ours in the 2xx: its Expires header. */
    assert_int_equal(sip_reg_get_expires(reg), 50);
    assert_int_equal(sip_reg_next_ms(reg), 25000);
    assert_int_equal(sip__reg_refresh_delay_ms(3600), 3568000);
    sip_reg_unref(reg);
    assert_int_equal(freed, 1);
    pair_advance(64000);
}

/* §10.2.8: 423 with Min-Expires is retried asking for that. */
static void reg_423_retried_with_min_expires(void **state)
{
    (void)state;
    answer(423, "Min-Expires: 7200", NULL, NULL);
    answer(200, "Contact: <sip:127.0.0.1:5060>;expires=7200", NULL, NULL);
    sip_reg_opts_t o;
    sip_reg_opts_init(&o);
    o.expires = 600;
    sip_reg_t *reg = start(&o);
    pair_pump();
    assert_int_equal(ngot, 2);
    assert_string_equal(hv(0, "Expires", 0), "600");
    assert_string_equal(hv(1, "Expires", 0), "7200");
    assert_string_equal(hv(1, "CSeq", 0), "2 REGISTER");
    assert_int_equal(sip_reg_get_state(reg), SIP_REG_STATE_REGISTERED);
    assert_int_equal(sip_reg_get_expires(reg), 7200);
    assert_int_equal(nevents, 1);
    assert_int_equal(events[0], SIP_REG_EVENT_REGISTERED);
    sip_reg_close(reg);
    sip_reg_unref(reg);
    pair_advance(64000);
}

/* Several contacts with q-values and params; unregistering one (;expires=0) keeps the other,
 * `*` removes every binding and ends the refreshes (§10.2.2). */
static void reg_contacts_unregister_one_and_all(void **state)
{
    (void)state;
    answer(200, "Contact: <sip:a@192.0.2.1>;q=0.7;expires=300, <sip:a@192.0.2.2>;expires=200", NULL,
           NULL);
    answer(200, "Contact: <sip:a@192.0.2.2>;expires=200", NULL, NULL);
    answer(200, NULL, NULL, NULL);
    sip_reg_opts_t o;
    sip_reg_opts_init(&o);
    o.contacts = "<sip:a@192.0.2.1>;q=0.7, <sip:a@192.0.2.2>;q=0.3";
    o.contact_params = ";+sip.ice";
    sip_reg_t *reg = start(&o);
    assert_int_equal(count(0, SIP_HDR_CONTACT), 2);
    assert_string_equal(hv(0, "Contact", 0), "<sip:a@192.0.2.1>;q=0.7;+sip.ice");
    assert_string_equal(hv(0, "Contact", 1), "<sip:a@192.0.2.2>;q=0.3;+sip.ice");
    assert_int_equal(sip_reg_get_expires(reg), 200);
    assert_non_null(strstr(sip_reg_get_bindings(reg), "192.0.2.1"));

    assert_int_equal(sip_reg_unregister(reg, "<sip:a@192.0.2.1>"), 0);
    assert_int_equal(sip_reg_get_state(reg), SIP_REG_STATE_UNREGISTERING);
    pair_pump();
    assert_int_equal(ngot, 2);
    assert_int_equal(count(1, SIP_HDR_CONTACT), 1);
    assert_string_equal(hv(1, "Contact", 0), "<sip:a@192.0.2.1>;expires=0");
    assert_string_equal(hv(1, "Expires", 0), "0");
    assert_string_equal(hv(1, "CSeq", 0), "2 REGISTER");
    assert_int_equal(events[1], SIP_REG_EVENT_UNREGISTERED);
    assert_int_equal(sip_reg_get_state(reg), SIP_REG_STATE_REGISTERED);
    assert_true(sip_reg_next_ms(reg) > 0);

    assert_int_equal(sip_reg_unregister(reg, "*"), 0);
    pair_pump();
    assert_int_equal(ngot, 3);
    assert_string_equal(hv(2, "Contact", 0), "*");
    assert_string_equal(hv(2, "Expires", 0), "0");
    assert_int_equal(events[2], SIP_REG_EVENT_UNREGISTERED);
    assert_int_equal(sip_reg_get_state(reg), SIP_REG_STATE_UNREGISTERED);
    assert_int_equal(sip_reg_next_ms(reg), -1);
    pair_advance(600000);
    assert_int_equal(ngot, 3);
    assert_int_equal(sip_reg_unregister(reg, "<bad"), SIP_EPARSE);
    sip_reg_unref(reg);
    pair_advance(64000);
}

/* Unregistering this registration's own contacts: each with ;expires=0. */
static void reg_unregister_own(void **state)
{
    (void)state;
    answer(200, "Contact: <sip:127.0.0.1:5060>;expires=300", NULL, NULL);
    answer(200, NULL, NULL, NULL);
    sip_reg_t *reg = start(NULL);
    assert_int_equal(sip_reg_unregister(reg, NULL), 0);
    pair_pump();
    assert_string_equal(hv(1, "Contact", 0), "<sip:127.0.0.1:5060>;expires=0");
    assert_string_equal(hv(1, "Expires", 0), "0");
    assert_int_equal(sip_reg_get_state(reg), SIP_REG_STATE_UNREGISTERED);
    /* A registration again. */
    answer(200, "Contact: <sip:127.0.0.1:5060>;expires=300", NULL, NULL);
    assert_int_equal(sip_reg_refresh(reg), 0);
    pair_pump();
    assert_int_equal(sip_reg_get_state(reg), SIP_REG_STATE_REGISTERED);
    assert_string_equal(hv(2, "CSeq", 0), "3 REGISTER");
    sip_reg_unref(reg);
    pair_advance(64000);
}

/* RFC 3608: the Service-Route of the 2xx is the preloaded route of later requests (not of
 * REGISTER); RFC 3327: Path is kept and reported. */
static void reg_service_route_and_path(void **state)
{
    (void)state;
    answer(200, "Contact: <sip:127.0.0.1:5060>;expires=300",
           "Service-Route: <sip:127.0.0.1:5061;lr>, <sip:core.example.com;lr>",
           "Path: <sip:edge.example.com;lr>");
    answer(200, "Contact: <sip:127.0.0.1:5060>;expires=300", NULL, NULL);
    sip_reg_t *reg = start(NULL);
    assert_string_equal(sip_reg_get_service_route(reg),
                        "<sip:127.0.0.1:5061;lr>, <sip:core.example.com;lr>");
    assert_string_equal(sip_reg_get_path(reg), "<sip:edge.example.com;lr>");
    sip_msg_t *m = NULL;
    assert_int_equal(sip_ua_create_request(&m, pair[A].ua, "MESSAGE", "sip:bob@example.com",
                                           "<sip:alice@example.com>"),
                     0);
    assert_int_equal(sip_msg_header_count(m, SIP_HDR_ROUTE), 2);
    sip_str_t r0 = sip_header_get_value(sip_msg_header_at(m, SIP_HDR_ROUTE, 0));
    assert_true(eqs(r0, "<sip:127.0.0.1:5061;lr>"));
    /* A call's INVITE too (sip_call_invite() builds it the same way). */
    sip_msg_t *inv = NULL;
    assert_int_equal(sip_ua_create_request(&inv, pair[A].ua, "INVITE", "sip:bob@example.com",
                                           "<sip:alice@example.com>"),
                     0);
    assert_int_equal(sip_msg_header_count(inv, SIP_HDR_ROUTE), 2);
    sip_msg_unref(inv);
    /* It goes to the first route (B), which answers it. */
    assert_int_equal(sip_ua_send_request(pair[A].ua, m, NULL, NULL, NULL, NULL), 0);
    sip_msg_unref(m);
    pair_pump();
    assert_int_equal(ngot, 2);
    assert_int_equal(sip_msg_get_method(got[1]), SIP_METHOD_MESSAGE);
    assert_int_equal(count(1, SIP_HDR_ROUTE), 2);
    /* The refresh goes without it. */
    pair_advance(300000);
    assert_int_equal(ngot, 3);
    assert_int_equal(sip_msg_get_method(got[2]), SIP_METHOD_REGISTER);
    assert_int_equal(count(2, SIP_HDR_ROUTE), 0);
    sip_reg_unref(reg);
    pair_advance(64000);
}

/* The second Route of a request the UA builds for from (NULL: none), as text. */
static const char *route_for(const char *from, size_t *nroutes)
{
    static char buf[256];
    sip_msg_t *m = NULL;
    assert_int_equal(
        sip_ua_create_request(&m, pair[A].ua, "MESSAGE", "sip:carol@example.com", from), 0);
    *nroutes = sip_msg_header_count(m, SIP_HDR_ROUTE);
    const sip_header_t *h = sip_msg_header_at(m, SIP_HDR_ROUTE, 1);
    sip_str_t v = h ? sip_header_get_value(h) : SIP_STR("");
    snprintf(buf, sizeof(buf), "%.*s", (int)v.len, v.ptr);
    sip_msg_unref(m);
    return h ? buf : NULL;
}

/* RFC 3608 §6: each registration keeps its own Service-Route, and a request the UA builds
 * takes the one of the registration whose AOR is its From (none for another identity), not
 * the one of the last 2xx. */
static void reg_service_route_per_aor(void **state)
{
    (void)state;
    answer(200, "Contact: <sip:127.0.0.1:5060>;expires=300",
           "Service-Route: <sip:127.0.0.1:5061;lr>, <sip:alice-core.example.com;lr>", NULL);
    answer(200, "Contact: <sip:127.0.0.1:5060>;expires=300",
           "Service-Route: <sip:127.0.0.1:5061;lr>, <sip:bob-core.example.com;lr>", NULL);
    answer(200, "Contact: <sip:127.0.0.1:5060>;expires=0", NULL, NULL);
    sip_reg_t *alice = start(NULL), *bob = NULL;
    sip_reg_opts_t o;
    sip_reg_opts_init(&o);
    o.registrar = "sip:127.0.0.1:5061";
    assert_int_equal(
        sip_reg_create(&bob, pair[A].ua, "sip:bob@example.com", &o, on_event, NULL, on_free), 0);
    pair_pump();
    assert_int_equal(sip_reg_get_state(alice), SIP_REG_STATE_REGISTERED);
    assert_int_equal(sip_reg_get_state(bob), SIP_REG_STATE_REGISTERED);
    size_t n;
    assert_string_equal(route_for("<sip:alice@example.com>", &n),
                        "<sip:alice-core.example.com;lr>");
    assert_int_equal(n, 2);
    assert_string_equal(route_for("\"Bob\" <sip:bob@EXAMPLE.com>", &n),
                        "<sip:bob-core.example.com;lr>");
    assert_int_equal(n, 2);
    assert_null(route_for("<sip:carol@example.com>", &n));
    assert_int_equal(n, 0);
    assert_null(route_for(NULL, &n));
    assert_int_equal(n, 0);
    /* Bob unregisters: his route goes, Alice's stays. */
    assert_int_equal(sip_reg_unregister(bob, NULL), 0);
    pair_pump();
    assert_int_equal(sip_reg_get_state(bob), SIP_REG_STATE_UNREGISTERED);
    assert_null(route_for("<sip:bob@example.com>", &n));
    assert_int_equal(n, 0);
    assert_string_equal(route_for("<sip:alice@example.com>", &n),
                        "<sip:alice-core.example.com;lr>");
    sip_reg_unref(bob);
    sip_reg_unref(alice);
    pair_advance(64000);
}

/* RFC 5626 §4.2: instance-id and reg-id on the Contact, Supported outbound; the grant matched by
 * them even when the registrar rewrote the URI. */
static void reg_outbound_params(void **state)
{
    (void)state;
    answer(200,
           "Contact: <sip:other@192.0.2.9>;expires=900, "
           "<sip:rewritten@192.0.2.5>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-"
           "AABBCCDDEEFF>\";reg-id=1;expires=400",
           "Require: outbound", "Flow-Timer: 50");
    sip_reg_opts_t o;
    sip_reg_opts_init(&o);
    o.instance_id = "<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>";
    o.reg_id = 1;
    sip_reg_t *reg = start(&o);
    assert_string_equal(hv(0, "Contact", 0),
                        "<sip:127.0.0.1:5060>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-"
                        "AABBCCDDEEFF>\";reg-id=1");
    assert_string_equal(hv(0, "Supported", 0), "path");
    assert_string_equal(hv(0, "Supported", 1), "outbound");
    assert_int_equal(sip_reg_get_expires(reg), 400);
    /* Over UDP in memory: no flow to keep alive. */
    assert_int_equal(reg->flow_conn, 0);
    sip_reg_unref(reg);
    pair_advance(64000);
}

/* A refresh that fails is retried later, the wait doubling; a 503's Retry-After is obeyed;
 * a 2xx after failures is REGISTERED again. */
static void reg_refresh_failure_backs_off(void **state)
{
    (void)state;
    answer(200, "Contact: <sip:127.0.0.1:5060>;expires=60", NULL, NULL);
    answer(500, NULL, NULL, NULL);
    answer(503, "Retry-After: 300", NULL, NULL);
    answer(500, NULL, NULL, NULL);
    answer(200, "Contact: <sip:127.0.0.1:5060>;expires=60", NULL, NULL);
    sip_reg_opts_t o;
    sip_reg_opts_init(&o);
    o.retry_s = 10;
    sip_reg_t *reg = start(&o);
    pair_advance(30000);
    assert_int_equal(ngot, 2);
    assert_int_equal(sip_reg_get_state(reg), SIP_REG_STATE_RETRYING);
    assert_int_equal(events[1], SIP_REG_EVENT_FAILED);
    assert_int_equal(statuses[1], 500);
    assert_int_equal(sip_reg_next_ms(reg), 10000);
    pair_advance(10000);
    assert_int_equal(ngot, 3);
    assert_int_equal(events[2], SIP_REG_EVENT_REGISTERING);
    assert_int_equal(events[3], SIP_REG_EVENT_FAILED);
    assert_int_equal(statuses[3], 503);
    assert_int_equal(sip_reg_next_ms(reg), 300000);
    pair_advance(300000);
    assert_int_equal(ngot, 4);
    assert_int_equal(sip_reg_next_ms(reg), 40000); /* 10, 20, 40 */
    pair_advance(40000);
    assert_int_equal(ngot, 5);
    assert_int_equal(sip_reg_get_state(reg), SIP_REG_STATE_REGISTERED);
    assert_int_equal(events[nevents - 1], SIP_REG_EVENT_REGISTERED);
    assert_int_equal(sip_reg_next_ms(reg), 30000);
    sip_reg_unref(reg);
    pair_advance(64000);
}

/* The first REGISTER refused (403) ends the registration; a timeout (408) is retried. */
static void reg_initial_failures(void **state)
{
    (void)state;
    answer(403, NULL, NULL, NULL);
    sip_reg_t *reg = start(NULL);
    assert_int_equal(sip_reg_get_state(reg), SIP_REG_STATE_FAILED);
    assert_int_equal(events[0], SIP_REG_EVENT_FAILED);
    assert_int_equal(statuses[0], 403);
    assert_int_equal(sip_reg_next_ms(reg), -1);
    sip_reg_unref(reg);
    /* No answer at all: 408 after Timer F, then a retry. */
    nevents = 0;
    sip_reg_t *r2 = start(NULL);
    pair_advance(32000);
    assert_int_equal(nevents, 1);
    assert_int_equal(events[0], SIP_REG_EVENT_FAILED);
    assert_int_equal(statuses[0], 408);
    assert_int_equal(sip_reg_get_state(r2), SIP_REG_STATE_RETRYING);
    assert_int_equal(sip_reg_next_ms(r2), 30000);
    sip_reg_unref(r2);
    pair_advance(64000);
}

/* An unregistration asked while a REGISTER is out waits for its final response (§10.2). */
static void reg_one_request_at_a_time(void **state)
{
    (void)state;
    answer(200, "Contact: <sip:127.0.0.1:5060>;expires=300", NULL, NULL);
    answer(200, NULL, NULL, NULL);
    sip_reg_opts_t o;
    sip_reg_opts_init(&o);
    o.registrar = "sip:127.0.0.1:5061";
    sip_reg_t *reg = NULL;
    assert_int_equal(
        sip_reg_create(&reg, pair[A].ua, "sip:alice@example.com", &o, on_event, NULL, on_free), 0);
    assert_int_equal(sip_reg_unregister(reg, NULL), 0);
    pair_pump();
    assert_int_equal(ngot, 2);
    assert_string_equal(hv(1, "Expires", 0), "0");
    assert_int_equal(events[0], SIP_REG_EVENT_REGISTERED);
    assert_int_equal(events[1], SIP_REG_EVENT_UNREGISTERED);
    assert_int_equal(sip_reg_get_state(reg), SIP_REG_STATE_UNREGISTERED);
    assert_int_equal(sip_reg_next_ms(reg), -1);
    sip_reg_unref(reg);
    pair_advance(64000);
}

/* Bad arguments; closing the UA closes its registrations. */
static void reg_args_and_ua_close(void **state)
{
    (void)state;
    sip_reg_t *reg = NULL;
    assert_int_equal(sip_reg_create(&reg, NULL, "sip:a@b", NULL, NULL, NULL, on_free), SIP_EINVAL);
    assert_int_equal(freed, 1);
    assert_int_equal(sip_reg_create(&reg, pair[A].ua, "tel:+123", NULL, NULL, NULL, NULL),
                     SIP_EURI);
    sip_reg_opts_t o;
    sip_reg_opts_init(&o);
    o.contacts = "<sip:x@192.0.2.1";
    assert_int_equal(sip_reg_create(&reg, pair[A].ua, "sip:a@b", &o, NULL, NULL, NULL), SIP_EPARSE);
    assert_null(reg);
    sip_reg_opts_init(&o);
    o.registrar = "sip:127.0.0.1:5061";
    assert_int_equal(
        sip_reg_create(&reg, pair[A].ua, "sip:alice@example.com", &o, on_event, NULL, on_free), 0);
    assert_string_equal(sip_reg_get_aor(reg), "sip:alice@example.com");
    assert_ptr_equal(sip_reg_get_ua(reg), pair[A].ua);
    sip_ua_close(pair[A].ua);
    assert_int_equal(freed, 2);
    assert_null(sip_reg_get_ua(reg));
    assert_int_equal(sip_reg_refresh(reg), SIP_ECLOSED);
    assert_int_equal(sip_reg_unregister(reg, NULL), SIP_ECLOSED);
    sip_reg_unref(reg);
    assert_string_equal(sip_reg_state_name(SIP_REG_STATE_REGISTERED), "registered");
    assert_string_equal(sip_reg_event_name(SIP_REG_EVENT_FLOW_LOST), "flow_lost");
    assert_null(sip_reg_event_name((sip_reg_event_t)0));
    pair_advance(64000);
}

/* The default registrar is the AOR's domain (§10.2). */
static void reg_default_registrar(void **state)
{
    (void)state;
    sip_reg_t *reg = NULL;
    sip_netinfo_t dst = {SIP_TRANSPORT_UDP, "", 0, "127.0.0.1", 5061, 0, ""};
    sip_reg_opts_t o;
    sip_reg_opts_init(&o);
    o.dst = &dst;
    answer(200, "Contact: <sip:127.0.0.1:5060>;expires=300", NULL, NULL);
    assert_int_equal(
        sip_reg_create(&reg, pair[A].ua, "sips:alice@example.com:5071", &o, NULL, NULL, NULL), 0);
    pair_pump();
    assert_int_equal(ngot, 1);
    assert_true(eqs(sip_msg_get_uri(got[0])->raw, "sips:example.com:5071"));
    assert_int_equal(sip_reg_get_state(reg), SIP_REG_STATE_REGISTERED);
    sip_reg_unref(reg);
    pair_advance(64000);
}

/* A challenged REGISTER is answered with the UA's credentials (CSeq one higher); the refresh
 * counts on from the request sent and is authorised at once from the cached challenge. */
static void reg_challenged(void **state)
{
    (void)state;
    answer(401, "WWW-Authenticate: Digest realm=\"example.com\", nonce=\"abc123\", qop=\"auth\"",
           NULL, NULL);
    answer(200, "Contact: <sip:127.0.0.1:5060>;expires=60", NULL, NULL);
    answer(200, "Contact: <sip:127.0.0.1:5060>;expires=60", NULL, NULL);
    sip_auth_cred_t cred = {"example.com", "alice", "secret", NULL, 0};
    assert_int_equal(sip_ua_add_credential(pair[A].ua, &cred), 0);
    sip_reg_t *reg = start(NULL);
    pair_pump();
    assert_int_equal(ngot, 2);
    assert_null(hv(0, "Authorization", 0));
    assert_non_null(strstr(hv(1, "Authorization", 0), "username=\"alice\""));
    assert_string_equal(hv(1, "CSeq", 0), "2 REGISTER");
    assert_string_equal(hv(1, "Call-ID", 0), hv(0, "Call-ID", 0));
    assert_int_equal(sip_reg_get_state(reg), SIP_REG_STATE_REGISTERED);
    assert_int_equal(nevents, 1);
    pair_advance(30000);
    assert_int_equal(ngot, 3);
    assert_string_equal(hv(2, "CSeq", 0), "3 REGISTER");
    assert_non_null(strstr(hv(2, "Authorization", 0), "nc=00000002"));
    assert_int_equal(events[1], SIP_REG_EVENT_REFRESHED);
    sip_reg_unref(reg);
    pair_advance(64000);
}

/* RFC 7616 §3.5: the 2xx's Authentication-Info gives the nonce of the refresh (its count from
 * 1), so the refresh is not challenged; a rspauth that does not match is not trusted, and the
 * refresh keeps the nonce it had. */
static void reg_nextnonce(void **state)
{
    (void)state;
    answer(401, "WWW-Authenticate: Digest realm=\"example.com\", nonce=\"abc123\", qop=\"auth\"",
           NULL, NULL);
    answer(200, "Contact: <sip:127.0.0.1:5060>;expires=60",
           "Authentication-Info: nextnonce=\"def456\"", NULL);
    answer(200, "Contact: <sip:127.0.0.1:5060>;expires=60",
           "Authentication-Info: nextnonce=\"forged\", qop=auth, rspauth=\"0123\", "
           "cnonce=\"x\", nc=00000001",
           NULL);
    answer(200, "Contact: <sip:127.0.0.1:5060>;expires=60", NULL, NULL);
    sip_auth_cred_t cred = {"example.com", "alice", "secret", NULL, 0};
    assert_int_equal(sip_ua_add_credential(pair[A].ua, &cred), 0);
    sip_reg_t *reg = start(NULL);
    pair_pump();
    assert_int_equal(ngot, 2);
    assert_non_null(strstr(hv(1, "Authorization", 0), "nonce=\"abc123\""));
    pair_advance(30000);
    assert_int_equal(ngot, 3);
    assert_non_null(strstr(hv(2, "Authorization", 0), "nonce=\"def456\""));
    assert_non_null(strstr(hv(2, "Authorization", 0), "nc=00000001"));
    assert_int_equal(events[1], SIP_REG_EVENT_REFRESHED);
    pair_advance(30000);
    assert_int_equal(ngot, 4);
    assert_non_null(strstr(hv(3, "Authorization", 0), "nonce=\"def456\""));
    assert_non_null(strstr(hv(3, "Authorization", 0), "nc=00000002"));
    assert_int_equal(sip_reg_get_state(reg), SIP_REG_STATE_REGISTERED);
    sip_reg_unref(reg);
    pair_advance(64000);
}

static int drop_all(int from, const sip_msg_t *msg)
{
    (void)from;
    (void)msg;
    return 1;
}

/* sip_reg_create() under allocation failures: SIP_ENOMEM and nothing left, until it passes. */
static void reg_alloc_failures(void **state)
{
    (void)state;
    pair_drop = drop_all;
    sip_reg_opts_t o;
    sip_reg_opts_init(&o);
    o.registrar = "sip:127.0.0.1:5061";
    o.contacts = "<sip:a@192.0.2.1>;q=0.7, <sip:a@192.0.2.2>";
    o.instance_id = "<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>";
    o.reg_id = 1;
    o.from = "<sip:boss@example.com>";
    for (int n = 1;; n++) {
        sip_reg_t *reg = NULL;
        int frees = freed;
        test_alloc_fail_at(n);
        int rc =
            sip_reg_create(&reg, pair[A].ua, "sip:alice@example.com", &o, on_event, NULL, on_free);
        test_alloc_fail_at(0);
        sip_reg_unref(reg);
        assert_int_equal(freed, frees + 1); /* user_free ran once, failure or not */
        if (rc == 0) break;
        assert_int_equal(rc, SIP_ENOMEM);
        assert_null(reg);
        assert_true(n < 300);
    }
    pair_advance(64000);
    pair_drop = NULL;
}

/* A REGISTER that times out while memory runs short (every allocation of the timeout's path
 * failed in turn, the 408 the UA makes among them): the registration still learns that it
 * ended, retries later, and its next REGISTER counts up from any CSeq used before (§10.2). */
static void reg_timeout_out_of_memory(void **state)
{
    for (long fail = 1; fail < 200; fail++) {
        sip_reg_t *reg = start(NULL);
        pair_advance(31999);
        test_alloc_fail_at(fail);
        pair_advance(2); /* Timer F: 64*T1 after the REGISTER */
        int fired = test_alloc_failed();
        test_alloc_fail_at(0);
        /* Waiting for the request still, or retrying: never stuck with nothing due. */
        assert_true(reg->inflight || (sip_reg_get_state(reg) == SIP_REG_STATE_RETRYING &&
                                      sip_reg_next_ms(reg) >= 0));
        pair_advance(64000);
        assert_true(ngot >= 2);
        assert_true(sip_msg_get_cseq(got[ngot - 1])->seq > sip_msg_get_cseq(got[0])->seq);
        sip_reg_unref(reg);
        teardown(state);
        setup(state);
        if (!fired) break;
    }
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(reg_refresh_from_granted_expiry),
        T(reg_423_retried_with_min_expires),
        T(reg_contacts_unregister_one_and_all),
        T(reg_unregister_own),
        T(reg_service_route_and_path),
        T(reg_service_route_per_aor),
        T(reg_outbound_params),
        T(reg_refresh_failure_backs_off),
        T(reg_initial_failures),
        T(reg_one_request_at_a_time),
        T(reg_args_and_ua_close),
        T(reg_default_registrar),
        T(reg_challenged),
        T(reg_nextnonce),
        T(reg_alloc_failures),
        T(reg_timeout_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
