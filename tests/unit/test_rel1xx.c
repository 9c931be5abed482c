/* SPDX-License-Identifier: MIT */
/* Unit tests of RFC 3262 reliable provisional responses (call/rel1xx.c): 100rel negotiation,
 * the UAS's RSeq, retransmissions and PRACK matching, the UAC's in-order acceptance per dialog,
 * and RAck. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "call/ext.h"
#include "call/rel1xx.h"
#include "sip/sip.h"

static sip_msg_t *parse(const char *text)
{
    sip_msg_t *m = NULL;
    sip_parse_error_t err;
    int rc = sip_msg_parse(&m, text, strlen(text), &err);
    if (rc) fail_msg("parse: %s at %u:%u", err.reason, err.line, err.column);
    return m;
}

static sip_msg_t *request(const char *method, unsigned cseq, const char *extra)
{
    char buf[2048];
    snprintf(buf, sizeof(buf),
             "%s sip:bob@b.example.com SIP/2.0\r\n"
             "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1\r\n"
             "Max-Forwards: 70\r\n"
             "From: <sip:alice@a.example.com>;tag=a1\r\n"
             "To: <sip:bob@b.example.com>\r\n"
             "Call-ID: rel1@a.example.com\r\n"
             "CSeq: %u %s\r\n"
             "%s"
             "Content-Length: 0\r\n\r\n",
             method, cseq, method, extra ? extra : "");
    return parse(buf);
}

static sip_msg_t *prack(unsigned cseq, const char *rack)
{
    char extra[128] = "";
    if (rack) snprintf(extra, sizeof(extra), "RAck: %s\r\n", rack);
    return request("PRACK", cseq, extra);
}

/* A provisional from the fork with To tag `tag`: reliable when rseq > 0. */
static sip_msg_t *provisional(int status, const char *tag, unsigned cseq, long rseq)
{
    char buf[2048], rel[96] = "";
    if (rseq > 0) snprintf(rel, sizeof(rel), "Require: 100rel\r\nRSeq: %ld\r\n", rseq);
    if (rseq < 0) snprintf(rel, sizeof(rel), "Require: 100rel\r\n");
    snprintf(buf, sizeof(buf),
             "SIP/2.0 %d %s\r\n"
             "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1\r\n"
             "From: <sip:alice@a.example.com>;tag=a1\r\n"
             "To: <sip:bob@b.example.com>;tag=%s\r\n"
             "Call-ID: rel1@a.example.com\r\n"
             "CSeq: %u INVITE\r\n"
             "%s"
             "Content-Length: 0\r\n\r\n",
             status, sip_status_phrase(status), tag, cseq, rel);
    return parse(buf);
}

/* ---- negotiation ------------------------------------------------------------------------- */

static void rel1xx_negotiation_table(void **state)
{
    (void)state;
    static const struct {
        sip__100rel_mode_t mode;
        const char *method, *hdrs;
        int status, reliable;
    } rows[] = {
        {SIP__100REL_OFF, "INVITE", "", 0, 0},
        {SIP__100REL_OFF, "INVITE", "Supported: 100rel\r\n", 0, 0},
        {SIP__100REL_OFF, "INVITE", "Require: 100rel\r\n", 420, 0},
        {SIP__100REL_SUPPORTED, "INVITE", "", 0, 0},
        {SIP__100REL_SUPPORTED, "INVITE", "Supported: timer, 100rel\r\n", 0, 1},
        {SIP__100REL_SUPPORTED, "INVITE", "k: 100REL\r\n", 0, 1},
        {SIP__100REL_SUPPORTED, "INVITE", "Require: 100rel\r\n", 0, 1},
        {SIP__100REL_REQUIRED, "INVITE", "", 421, 0},
        {SIP__100REL_REQUIRED, "INVITE", "Supported: timer\r\n", 421, 0},
        {SIP__100REL_REQUIRED, "INVITE", "Supported: 100rel\r\n", 0, 1},
        {SIP__100REL_REQUIRED, "INVITE", "Require: 100rel\r\n", 0, 1},
        /* Provisionals of other methods are never sent reliably. */
        {SIP__100REL_SUPPORTED, "OPTIONS", "Supported: 100rel\r\n", 0, 0},
        {SIP__100REL_REQUIRED, "OPTIONS", "", 0, 0},
        {SIP__100REL_OFF, "OPTIONS", "Require: 100rel\r\n", 420, 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        print_message("row %zu\n", i);
        sip_msg_t *req = request(rows[i].method, 1, rows[i].hdrs);
        int reliable = -1;
        assert_int_equal(sip__rel1xx_uas_decide(rows[i].mode, req, &reliable), rows[i].status);
        assert_int_equal(reliable, rows[i].reliable);
        /* The general §8.2.2.3 check gives the same 420 and its Unsupported value. */
        unsigned supported = 0;
        sip__rel1xx_request_tags(rows[i].mode, &supported, NULL);
        char unsup[64];
        int bad = sip__ext_check_require(req, supported, NULL, unsup, sizeof(unsup));
        assert_int_equal(bad, rows[i].status == 420 ? 420 : 0);
        assert_string_equal(unsup, bad ? "100rel" : "");
        sip_msg_unref(req);
    }
    assert_int_equal(sip__rel1xx_uas_decide(SIP__100REL_SUPPORTED, NULL, NULL), SIP_EINVAL);

    unsigned sup = 9, req = 9;
    sip__rel1xx_request_tags(SIP__100REL_OFF, &sup, &req);
    assert_int_equal(sup, 0);
    assert_int_equal(req, 0);
    sip__rel1xx_request_tags(SIP__100REL_SUPPORTED, &sup, &req);
    assert_int_equal(sup, SIP__EXT_100REL);
    assert_int_equal(req, 0);
    sip__rel1xx_request_tags(SIP__100REL_REQUIRED, &sup, &req);
    assert_int_equal(sup, SIP__EXT_100REL);
    assert_int_equal(req, SIP__EXT_100REL);
}

static void rel1xx_random_first_rseq(void **state)
{
    (void)state;
    uint32_t first = sip__rel1xx_random_rseq();
    int differ = 0;
    for (int i = 0; i < 64; i++) {
        uint32_t v = sip__rel1xx_random_rseq();
        assert_true(v >= 1 && v <= SIP__RSEQ_FIRST_MAX);
        differ |= v != first;
    }
    assert_true(differ); /* 2^-1984 */
    sip__rel1xx_uas_t st;
    assert_int_equal(sip__rel1xx_uas_init(&st, 1, SIP_METHOD_INVITE, 0, 0), 0);
    uint32_t rseq = 0;
    assert_int_equal(sip__rel1xx_uas_next(&st, 180, 0, &rseq), SIP__REL1XX_SEND);
    assert_true(rseq >= 1 && rseq <= SIP__RSEQ_FIRST_MAX);
    /* T1 0 is the RFC 3261 default, 500 ms. */
    assert_int_equal(sip__rel1xx_uas_delay(&st), 500);
    assert_int_equal(sip__rel1xx_uas_init(&st, 1, SIP_METHOD_INVITE, 500, 0x80000000u), SIP_EINVAL);
    assert_int_equal(sip__rel1xx_uas_init(&st, 1, SIP_METHOD_INVITE, 500, SIP__RSEQ_FIRST_MAX), 0);
    assert_int_equal(sip__rel1xx_uas_init(NULL, 1, SIP_METHOD_INVITE, 500, 1), SIP_EINVAL);
    assert_int_equal(sip__rel1xx_uas_init(&st, 1, SIP_METHOD_INVITE, SIP__REL1XX_T1_MAX + 1, 1),
                     SIP_EINVAL);
    /* The longest T1 still runs to 64*T1 exactly. */
    assert_int_equal(sip__rel1xx_uas_init(&st, 1, SIP_METHOD_INVITE, SIP__REL1XX_T1_MAX, 1), 0);
    assert_int_equal(sip__rel1xx_uas_next(&st, 180, 0, &rseq), SIP__REL1XX_SEND);
    int resent = 0;
    sip__rel1xx_tick_t tick;
    while ((tick = sip__rel1xx_uas_retransmit(&st)) == SIP__REL1XX_RESEND)
        resent++;
    assert_int_equal(tick, SIP__REL1XX_EXPIRED);
    assert_int_equal(resent, 6);
    assert_int_equal(st.elapsed_ms, 64u * SIP__REL1XX_T1_MAX);
}

/* ---- UAS --------------------------------------------------------------------------------- */

static void rel1xx_uas_one_outstanding_and_prack(void **state)
{
    (void)state;
    sip__rel1xx_uas_t st;
    assert_int_equal(sip__rel1xx_uas_init(&st, 7, SIP_METHOD_INVITE, 500, 1000), 0);
    uint32_t rseq = 0;
    assert_int_equal(sip__rel1xx_uas_next(&st, 100, 0, &rseq), SIP_EINVAL);
    assert_int_equal(sip__rel1xx_uas_next(&st, 200, 0, &rseq), SIP_EINVAL);
    assert_int_equal(sip__rel1xx_uas_next(&st, 180, 0, &rseq), SIP__REL1XX_SEND);
    assert_int_equal(rseq, 1000);
    /* §3: no second reliable 1xx before the first is PRACKed. */
    assert_int_equal(sip__rel1xx_uas_next(&st, 183, 1, &rseq), SIP__REL1XX_WAIT);

    static const struct {
        const char *rack; /* NULL: no RAck header */
        int status;
    } pracks[] = {
        {NULL, 400},            /* malformed */
        {"999 7 INVITE", 481},  /* another RSeq */
        {"1000 6 INVITE", 481}, /* another request */
        {"1000 7 UPDATE", 481}, /* another method */
        {"1000 7 INVITE", 200}, /* the one */
        {"1000 7 INVITE", 481}, /* acknowledged already */
    };
    for (size_t i = 0; i < sizeof(pracks) / sizeof(pracks[0]); i++) {
        print_message("prack %zu\n", i);
        sip_msg_t *p = prack(8 + (unsigned)i, pracks[i].rack);
        assert_int_equal(sip__rel1xx_uas_prack(&st, p), pracks[i].status);
        sip_msg_unref(p);
    }
    assert_int_equal(sip__rel1xx_uas_delay(&st), 0);
    assert_int_equal(sip__rel1xx_uas_retransmit(&st), SIP__REL1XX_IDLE);
    /* The queued one goes now, one RSeq further. */
    assert_int_equal(sip__rel1xx_uas_next(&st, 183, 1, &rseq), SIP__REL1XX_SEND);
    assert_int_equal(rseq, 1001);
    sip_msg_t *p = prack(20, "1001 7 INVITE");
    assert_int_equal(sip__rel1xx_uas_prack(&st, p), 200);
    sip_msg_unref(p);
    assert_int_equal(sip__rel1xx_uas_prack(NULL, NULL), SIP_EINVAL);
}

static void rel1xx_uas_retransmit_schedule(void **state)
{
    (void)state;
    sip__rel1xx_uas_t st;
    assert_int_equal(sip__rel1xx_uas_init(&st, 1, SIP_METHOD_INVITE, 500, 1), 0);
    assert_int_equal(sip__rel1xx_uas_delay(&st), 0);
    assert_int_equal(sip__rel1xx_uas_retransmit(&st), SIP__REL1XX_IDLE);
    uint32_t rseq;
    assert_int_equal(sip__rel1xx_uas_next(&st, 180, 0, &rseq), SIP__REL1XX_SEND);
    /* §3: T1 doubling without the T2 cap; the end at 64*T1 = 32 s, then a 5xx. */
    static const uint32_t delays[] = {500, 1000, 2000, 4000, 8000, 16000, 500};
    uint64_t at = 0;
    for (size_t i = 0; i < sizeof(delays) / sizeof(delays[0]); i++) {
        assert_int_equal(sip__rel1xx_uas_delay(&st), delays[i]);
        at += delays[i];
        sip__rel1xx_tick_t want =
            i + 1 < sizeof(delays) / sizeof(delays[0]) ? SIP__REL1XX_RESEND : SIP__REL1XX_EXPIRED;
        assert_int_equal(sip__rel1xx_uas_retransmit(&st), want);
    }
    assert_int_equal(at, 64 * 500);
    assert_int_equal(sip__rel1xx_uas_delay(&st), 0);
    assert_int_equal(sip__rel1xx_uas_retransmit(&st), SIP__REL1XX_IDLE);
    /* The request is rejected with a 5xx: allowed, and it ends new reliable 1xx. */
    assert_int_equal(sip__rel1xx_uas_final(&st, 500), SIP__REL1XX_SEND);
    assert_int_equal(sip__rel1xx_uas_next(&st, 183, 0, &rseq), SIP_ECLOSED);

    /* A PRACK stops the schedule halfway. */
    assert_int_equal(sip__rel1xx_uas_init(&st, 1, SIP_METHOD_INVITE, 250, 5), 0);
    assert_int_equal(sip__rel1xx_uas_next(&st, 180, 0, &rseq), SIP__REL1XX_SEND);
    assert_int_equal(sip__rel1xx_uas_retransmit(&st), SIP__REL1XX_RESEND);
    assert_int_equal(sip__rel1xx_uas_delay(&st), 500);
    sip_msg_t *p = prack(2, "5 1 INVITE");
    assert_int_equal(sip__rel1xx_uas_prack(&st, p), 200);
    sip_msg_unref(p);
    assert_int_equal(sip__rel1xx_uas_retransmit(&st), SIP__REL1XX_IDLE);
}

static void rel1xx_uas_final_waits_for_offer_prack(void **state)
{
    (void)state;
    static const struct {
        int has_sdp, pracked, final, verdict;
    } rows[] = {
        /* §3: a 2xx waits for the PRACK of an unacknowledged 1xx with a session description. */
        {1, 0, 200, SIP__REL1XX_WAIT},
        {1, 1, 200, SIP__REL1XX_SEND},
        {0, 0, 200, SIP__REL1XX_SEND},
        /* Any other final response may go at once. */
        {1, 0, 486, SIP__REL1XX_SEND},
        {1, 0, 302, SIP__REL1XX_SEND},
        {1, 0, 100, SIP_EINVAL},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        print_message("row %zu\n", i);
        sip__rel1xx_uas_t st;
        uint32_t rseq;
        assert_int_equal(sip__rel1xx_uas_init(&st, 3, SIP_METHOD_INVITE, 500, 42), 0);
        assert_int_equal(sip__rel1xx_uas_next(&st, 183, rows[i].has_sdp, &rseq), 0);
        sip_msg_t *p = prack(4, "42 3 INVITE");
        if (rows[i].pracked) assert_int_equal(sip__rel1xx_uas_prack(&st, p), 200);
        assert_int_equal(sip__rel1xx_uas_final(&st, rows[i].final), rows[i].verdict);
        if (rows[i].verdict == SIP__REL1XX_SEND) {
            /* No more retransmissions and no new reliable 1xx, but a late PRACK still gets
             * 200 (§3). */
            assert_int_equal(sip__rel1xx_uas_delay(&st), 0);
            assert_int_equal(sip__rel1xx_uas_retransmit(&st), SIP__REL1XX_IDLE);
            assert_int_equal(sip__rel1xx_uas_next(&st, 180, 0, &rseq), SIP_ECLOSED);
            assert_int_equal(sip__rel1xx_uas_prack(&st, p), rows[i].pracked ? 481 : 200);
        } else if (rows[i].verdict == SIP__REL1XX_WAIT) {
            assert_int_equal(sip__rel1xx_uas_delay(&st), 500);
            assert_int_equal(sip__rel1xx_uas_prack(&st, p), 200);
            assert_int_equal(sip__rel1xx_uas_final(&st, rows[i].final), SIP__REL1XX_SEND);
        }
        sip_msg_unref(p);
    }
}

static void rel1xx_uas_rseq_never_wraps(void **state)
{
    (void)state;
    sip__rel1xx_uas_t st;
    uint32_t rseq;
    assert_int_equal(sip__rel1xx_uas_init(&st, 1, SIP_METHOD_INVITE, 500, SIP__RSEQ_FIRST_MAX), 0);
    assert_int_equal(sip__rel1xx_uas_next(&st, 180, 0, &rseq), 0);
    assert_int_equal(rseq, SIP__RSEQ_FIRST_MAX);
    st.rseq = UINT32_MAX;
    st.pending = 0;
    assert_int_equal(sip__rel1xx_uas_next(&st, 180, 0, &rseq), SIP_ERANGE);
}

/* ---- UAC --------------------------------------------------------------------------------- */

static void rel1xx_uac_accept_in_order(void **state)
{
    (void)state;
    static const struct {
        int status;
        unsigned cseq;
        long rseq; /* 0: unreliable; -1: Require: 100rel without RSeq */
        int final; /* before it, the final response to this CSeq arrives */
        sip__rel1xx_verdict_t verdict;
    } rows[] = {
        {100, 1, 0, 0, SIP__REL1XX_UNRELIABLE},
        {180, 1, 0, 0, SIP__REL1XX_UNRELIABLE},
        {100, 1, 77, 0, SIP__REL1XX_UNRELIABLE}, /* 100 is never reliable */
        {180, 1, 500, 0, SIP__REL1XX_NEW},       /* the first sets the sequence */
        {180, 1, 500, 0, SIP__REL1XX_DUPLICATE}, /* its retransmission */
        {183, 1, 502, 0, SIP__REL1XX_GAP},       /* 501 is missing: no PRACK */
        {183, 1, 501, 0, SIP__REL1XX_NEW},
        {180, 1, 500, 0, SIP__REL1XX_DUPLICATE},
        {183, 1, 502, 0, SIP__REL1XX_NEW}, /* arrives again, now in order */
        {183, 1, -1, 0, SIP__REL1XX_MALFORMED},
        {180, 2, 9, 0, SIP__REL1XX_NEW},     /* a new request (a re-INVITE) starts anew */
        {183, 1, 503, 0, SIP__REL1XX_STALE}, /* the older request's */
        {183, 2, 10, 1, SIP__REL1XX_STALE},  /* after the final response */
        {180, 3, 4000, 0, SIP__REL1XX_NEW},
    };
    sip__rel1xx_uac_t st = {0};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        print_message("row %zu\n", i);
        if (rows[i].final) sip__rel1xx_uac_final(&st, rows[i].cseq);
        sip_msg_t *rsp = provisional(rows[i].status, "b1", rows[i].cseq, rows[i].rseq);
        assert_int_equal(sip__rel1xx_uac_accept(&st, SIP__100REL_SUPPORTED, rsp), rows[i].verdict);
        sip_msg_unref(rsp);
    }
    /* Mode OFF takes a reliable 1xx as a plain one. */
    sip__rel1xx_uac_t off = {0};
    sip_msg_t *rsp = provisional(180, "b1", 1, 5);
    assert_int_equal(sip__rel1xx_uac_accept(&off, SIP__100REL_OFF, rsp), SIP__REL1XX_UNRELIABLE);
    /* A final response before any reliable 1xx makes a late one stale. */
    sip__rel1xx_uac_final(&off, 1);
    assert_int_equal(sip__rel1xx_uac_accept(&off, SIP__100REL_SUPPORTED, rsp), SIP__REL1XX_STALE);
    sip_msg_unref(rsp);
}

static void rel1xx_uac_forks_have_own_sequences(void **state)
{
    (void)state;
    /* §4: each early dialog (fork) numbers its own reliable 1xx; interleaved they are all in
     * order, and each PRACK names its own fork's RSeq. */
    sip__rel1xx_uac_t a = {0}, b = {0};
    static const struct {
        int fork;
        long rseq;
        const char *rack;
    } rows[] = {
        {0, 100, "100 1 INVITE"},
        {1, 7000, "7000 1 INVITE"},
        {0, 101, "101 1 INVITE"},
        {1, 7001, "7001 1 INVITE"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        sip_msg_t *rsp = provisional(180, rows[i].fork ? "fork-b" : "fork-a", 1, rows[i].rseq);
        assert_int_equal(sip__rel1xx_uac_accept(rows[i].fork ? &b : &a, SIP__100REL_SUPPORTED, rsp),
                         SIP__REL1XX_NEW);
        char rack[32];
        assert_int_equal(sip__rel1xx_rack(rsp, rack, sizeof(rack)), (int)strlen(rows[i].rack));
        assert_string_equal(rack, rows[i].rack);
        sip_msg_unref(rsp);
    }
    /* One state for both would have dropped fork B's as a gap. */
    sip__rel1xx_uac_t shared = {0};
    sip_msg_t *ra = provisional(180, "fork-a", 1, 100);
    sip_msg_t *rb = provisional(180, "fork-b", 1, 7000);
    assert_int_equal(sip__rel1xx_uac_accept(&shared, SIP__100REL_SUPPORTED, ra), SIP__REL1XX_NEW);
    assert_int_equal(sip__rel1xx_uac_accept(&shared, SIP__100REL_SUPPORTED, rb), SIP__REL1XX_GAP);
    sip_msg_unref(ra);
    sip_msg_unref(rb);
}

static void rel1xx_rack_round_trip(void **state)
{
    (void)state;
    /* UAS: the INVITE Supports 100rel, so its 183 goes reliably. */
    sip_msg_t *inv = request("INVITE", 314, "Supported: 100rel\r\n");
    int reliable = 0;
    assert_int_equal(sip__rel1xx_uas_decide(SIP__100REL_SUPPORTED, inv, &reliable), 0);
    assert_true(reliable);
    sip__rel1xx_uas_t uas;
    assert_int_equal(sip__rel1xx_uas_init(&uas, 314, SIP_METHOD_INVITE, 500, 0), 0);
    uint32_t rseq = 0;
    assert_int_equal(sip__rel1xx_uas_next(&uas, 183, 1, &rseq), SIP__REL1XX_SEND);
    sip_msg_t *rsp = NULL;
    assert_int_equal(sip_msg_create_response(&rsp, inv, 183, NULL, "b1"), 0);
    char val[32];
    snprintf(val, sizeof(val), "%u", (unsigned)rseq);
    assert_int_equal(sip_msg_add_header(rsp, "Require", "100rel"), 0);
    assert_int_equal(sip_msg_add_header(rsp, "RSeq", val), 0);

    /* UAC: takes it and builds the PRACK's RAck. */
    sip__rel1xx_uac_t uac = {0};
    assert_int_equal(sip__rel1xx_uac_accept(&uac, SIP__100REL_SUPPORTED, rsp), SIP__REL1XX_NEW);
    char rack[48], want[48];
    snprintf(want, sizeof(want), "%u 314 INVITE", (unsigned)rseq);
    assert_int_equal(sip__rel1xx_rack(rsp, rack, sizeof(rack)), (int)strlen(want));
    assert_string_equal(rack, want);
    assert_int_equal(sip__rel1xx_rack(rsp, rack, 4), SIP_ENOSPC);
    assert_string_equal(rack, "");
    sip_msg_t *p = request("PRACK", 315, NULL);
    assert_int_equal(sip_msg_add_header(p, "RAck", want), 0);

    /* UAS: the PRACK matches; the held 2xx may go. */
    assert_int_equal(sip__rel1xx_uas_final(&uas, 200), SIP__REL1XX_WAIT);
    assert_int_equal(sip__rel1xx_uas_prack(&uas, p), 200);
    assert_int_equal(sip__rel1xx_uas_final(&uas, 200), SIP__REL1XX_SEND);

    assert_int_equal(sip__rel1xx_rack(inv, rack, sizeof(rack)), SIP_EINVAL);
    assert_int_equal(sip__rel1xx_rack_format(1, 2, SIP_STR("INVITE"), rack, sizeof(rack)), 10);
    assert_string_equal(rack, "1 2 INVITE");
    sip_msg_unref(p);
    sip_msg_unref(rsp);
    sip_msg_unref(inv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rel1xx_negotiation_table),
        cmocka_unit_test(rel1xx_random_first_rseq),
        cmocka_unit_test(rel1xx_uas_one_outstanding_and_prack),
        cmocka_unit_test(rel1xx_uas_retransmit_schedule),
        cmocka_unit_test(rel1xx_uas_final_waits_for_offer_prack),
        cmocka_unit_test(rel1xx_uas_rseq_never_wraps),
        cmocka_unit_test(rel1xx_uac_accept_in_order),
        cmocka_unit_test(rel1xx_uac_forks_have_own_sequences),
        cmocka_unit_test(rel1xx_rack_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
