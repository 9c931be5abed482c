/* SPDX-License-Identifier: MIT */
/* Unit tests of the offer/answer engine (RFC 3264): offers, answers, hold, streams, versions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_hook.h"

#include "sip/live.h"
#include "sip/oa.h"

#define HDR(addr) "v=0\r\no=- 1 1 IN IP4 " addr "\r\ns=-\r\nc=IN IP4 " addr "\r\nt=0 0\r\n"

/* Alice: PCMU, PCMA and events; Bob: PCMA only. */
static const char alice_caps[] = HDR("10.0.0.1") "m=audio 4000 RTP/AVP 0 8 101\r\n"
                                                 "a=rtpmap:101 telephone-event/8000\r\n"
                                                 "a=fmtp:101 0-16\r\n"
                                                 "a=ptime:20\r\n";
static const char bob_caps[] = HDR("10.0.0.2") "m=audio 5000 RTP/AVP 8\r\n";

static sip_sdp_t *sdp_of(const char *text)
{
    sip_sdp_t *sdp = NULL;
    sip_sdp_error_t err;
    if (sip_sdp_parse(&sdp, text, strlen(text), &err) != 0) fail_msg("parse: %s", err.reason);
    return sdp;
}

static const char *text_of(const sip_sdp_t *sdp)
{
    static char buf[4096];
    assert_non_null(sdp);
    assert_true(sip_sdp_print(sdp, buf, sizeof(buf)) < (int)sizeof(buf));
    return buf;
}

#define HAS(sdp, line) assert_non_null(strstr(text_of(sdp), line "\r\n"))
#define LACKS(sdp, what) assert_null(strstr(text_of(sdp), what))

static sip_oa_t *oa_new(const char *addr, const char *user, const char *id, const char *caps)
{
    sip_oa_opts_t o;
    sip_oa_t *oa = NULL;
    sip_oa_opts_init(&o);
    o.address = addr;
    o.username = user;
    o.session_id = id;
    assert_int_equal(sip_oa_create(&oa, &o), 0);
    if (caps) {
        sip_sdp_t *c = sdp_of(caps);
        sip_oa_error_t err;
        assert_int_equal(sip_oa_set_local(oa, c, &err), 0);
        sip_sdp_unref(c);
    }
    return oa;
}

/* from offers, to answers; the offer and answer made are returned (New references). */
static void exchange(sip_oa_t *from, sip_oa_t *to, sip_sdp_t **offer_out, sip_sdp_t **answer_out)
{
    sip_sdp_t *offer, *answer;
    sip_oa_error_t err = {0};
    assert_int_equal(sip_oa_create_offer(from, &offer, &err), 0);
    assert_int_equal(sip_oa_get_state(from), SIP_OA_LOCAL_OFFER);
    if (sip_oa_set_remote_offer(to, offer, &err) != 0) fail_msg("offer: %s", err.reason);
    assert_int_equal(sip_oa_get_state(to), SIP_OA_REMOTE_OFFER);
    if (sip_oa_create_answer(to, &answer, &err) != 0) fail_msg("answer: %s", err.reason);
    if (sip_oa_set_remote_answer(from, answer, &err) != 0) fail_msg("answer in: %s", err.reason);
    assert_int_equal(sip_oa_get_state(from), SIP_OA_DONE);
    assert_int_equal(sip_oa_get_state(to), SIP_OA_DONE);
    if (offer_out)
        *offer_out = offer;
    else
        sip_sdp_unref(offer);
    if (answer_out)
        *answer_out = answer;
    else
        sip_sdp_unref(answer);
}

static int answer_rc(sip_oa_t *oa, const char *offer_text, sip_sdp_t **answer, sip_oa_error_t *err)
{
    sip_sdp_t *offer = sdp_of(offer_text);
    int rc = sip_oa_set_remote_offer(oa, offer, err);
    sip_sdp_unref(offer);
    *answer = NULL;
    return rc < 0 ? rc : sip_oa_create_answer(oa, answer, err);
}

/* ---- first exchange -------------------------------------------------------------------------- */

static void oa_initial_offer_answer(void **state)
{
    (void)state;
    sip_oa_t *a = oa_new("10.0.0.1", "alice", "1000", alice_caps);
    sip_oa_t *b = oa_new("10.0.0.2", NULL, "2000", bob_caps);
    sip_sdp_t *offer, *answer;

    assert_int_equal(sip_live_count(SIP_LIVE_OA), 2);
    assert_string_equal(sip_live_name(SIP_LIVE_OA), "oa");
    assert_int_equal(sip_oa_get_state(a), SIP_OA_IDLE);
    assert_null(sip_oa_get_local(a));
    exchange(a, b, &offer, &answer);
    /* RFC 8866 §5.2: the first version is the session id unless told otherwise. */
    HAS(offer, "o=alice 1000 1000 IN IP4 10.0.0.1");
    HAS(offer, "c=IN IP4 10.0.0.1");
    HAS(offer, "m=audio 4000 RTP/AVP 0 8 101");
    HAS(offer, "a=rtpmap:101 telephone-event/8000");
    HAS(offer, "a=fmtp:101 0-16");
    HAS(offer, "a=ptime:20");
    HAS(offer, "a=sendrecv");
    /* Bob has PCMA alone: no events, no PCMU. */
    HAS(answer, "o=- 2000 2000 IN IP4 10.0.0.2");
    HAS(answer, "m=audio 5000 RTP/AVP 8");
    HAS(answer, "a=sendrecv");
    LACKS(answer, "101");
    assert_ptr_equal(sip_oa_get_local(a), offer);
    assert_ptr_equal(sip_oa_get_remote(a), answer);
    assert_ptr_equal(sip_oa_get_local(b), answer);
    assert_ptr_equal(sip_oa_get_remote(b), offer);
    assert_null(sip_oa_get_offer(a));
    assert_int_equal(sip_oa_media_count(a), 1);

    /* Both sides with events keep them, with the offerer's numbers. */
    sip_oa_t *c = oa_new("10.0.0.3", NULL, "3000", alice_caps);
    sip_sdp_t *ans2;
    sip_oa_error_t err;
    assert_int_equal(answer_rc(c, text_of(offer), &ans2, &err), 0);
    HAS(ans2, "m=audio 4000 RTP/AVP 0 8 101");
    HAS(ans2, "a=rtpmap:101 telephone-event/8000");
    sip_sdp_unref(ans2);
    sip_oa_unref(c);

    sip_sdp_unref(offer);
    sip_sdp_unref(answer);
    sip_oa_unref(a);
    sip_oa_unref(b);
    assert_int_equal(sip_live_count(SIP_LIVE_OA), 0);
}

static void oa_dynamic_payload_types(void **state)
{
    (void)state;
    sip_oa_t *b = oa_new("10.0.0.2", NULL, "2000",
                         HDR("10.0.0.2") "m=audio 5000 RTP/AVP 96 0\r\n"
                                         "a=rtpmap:96 opus/48000/2\r\n"
                                         "a=fmtp:96 useinbandfec=1\r\n");
    sip_sdp_t *answer;
    sip_oa_error_t err;
    /* RFC 3264 §6.1: the answer uses the offerer's 111 for opus, and the offer's order. */
    assert_int_equal(answer_rc(b,
                               HDR("10.0.0.9") "m=audio 6000 RTP/AVP 111 0 101\r\n"
                                               "a=rtpmap:111 OPUS/48000/2\r\n"
                                               "a=rtpmap:101 telephone-event/8000\r\n",
                               &answer, &err),
                     0);
    HAS(answer, "m=audio 5000 RTP/AVP 111 0");
    HAS(answer, "a=rtpmap:111 opus/48000/2");
    HAS(answer, "a=fmtp:111 useinbandfec=1");
    LACKS(answer, "telephone-event");
    LACKS(answer, ":96");
    sip_sdp_unref(answer);

    /* Another clock rate or channel count is another codec. */
    sip_oa_unref(b);
    b = oa_new("10.0.0.2", NULL, "2000",
               HDR("10.0.0.2") "m=audio 5000 RTP/AVP 96 8\r\na=rtpmap:96 opus/48000/2\r\n");
    assert_int_equal(answer_rc(b,
                               HDR("10.0.0.9") "m=audio 6000 RTP/AVP 97 98 8\r\n"
                                               "a=rtpmap:97 opus/48000/1\r\n"
                                               "a=rtpmap:98 opus/16000/2\r\n",
                               &answer, &err),
                     0);
    HAS(answer, "m=audio 5000 RTP/AVP 8");
    sip_sdp_unref(answer);
    sip_oa_unref(b);

    /* A static type written with its rtpmap on one side only is the same codec. */
    b = oa_new("10.0.0.2", NULL, "2000",
               HDR("10.0.0.2") "m=audio 5000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n");
    assert_int_equal(answer_rc(b, HDR("10.0.0.9") "m=audio 6000 RTP/AVP 18\r\n", &answer, &err), 0);
    HAS(answer, "m=audio 5000 RTP/AVP 18");
    sip_sdp_unref(answer);
    sip_oa_unref(b);

    /* A static type RFC 3551 does not name matches by number; non-RTP formats by token. */
    b = oa_new("10.0.0.2", NULL, "2000",
               HDR("10.0.0.2") "m=audio 5000 RTP/AVP 2\r\nm=message 5002 TCP/MSRP *\r\n");
    assert_int_equal(answer_rc(b,
                               HDR("10.0.0.9") "m=audio 6000 RTP/AVP 2 0\r\n"
                                               "m=message 6002 TCP/MSRP *\r\n",
                               &answer, &err),
                     0);
    HAS(answer, "m=audio 5000 RTP/AVP 2");
    HAS(answer, "m=message 5002 TCP/MSRP *");
    sip_sdp_unref(answer);
    sip_oa_unref(b);
}

static void oa_rejects_streams_with_port_zero(void **state)
{
    (void)state;
    sip_oa_t *b = oa_new("10.0.0.2", NULL, "2000",
                         HDR("10.0.0.2") "m=audio 5000 RTP/AVP 0\r\n"
                                         "m=video 5002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n");
    sip_sdp_t *answer;
    sip_oa_error_t err;
    assert_int_equal(answer_rc(b,
                               HDR("10.0.0.9") "m=audio 6000 RTP/AVP 0\r\n"
                                               "m=video 6002 RTP/AVP 31\r\n"
                                               "m=application 6004 UDP/BFCP *\r\n"
                                               "m=audio 0 RTP/AVP 8\r\n",
                               &answer, &err),
                     0);
    /* §6: one line per offered line, in order; refused ones with port 0 and the offer's list. */
    assert_int_equal(sip_sdp_media_count(answer), 4);
    HAS(answer, "m=audio 5000 RTP/AVP 0");
    HAS(answer, "m=video 0 RTP/AVP 31");
    HAS(answer, "m=application 0 UDP/BFCP *");
    HAS(answer, "m=audio 0 RTP/AVP 8");
    assert_int_equal(sip_oa_media_count(b), 4);
    sip_sdp_unref(answer);

    /* Events alone do not make a stream: nothing acceptable is a 488. */
    assert_int_equal(answer_rc(b,
                               HDR("10.0.0.9") "m=audio 6000 RTP/AVP 8 101\r\n"
                                               "a=rtpmap:101 telephone-event/8000\r\n"
                                               "m=video 0 RTP/AVP 31\r\n"
                                               "m=application 0 UDP/BFCP *\r\n"
                                               "m=audio 0 RTP/AVP 8\r\n",
                               &answer, &err),
                     SIP_ENOTACCEPTABLE);
    assert_null(answer);
    assert_non_null(strstr(err.reason, "488"));
    assert_non_null(strstr(err.reason, "stream 0 (m=audio)"));
    assert_int_equal(err.stream, 0);
    /* The session stays as the first exchange left it. */
    assert_int_equal(sip_oa_get_state(b), SIP_OA_DONE);
    assert_int_equal(sip_oa_media_count(b), 4);
    sip_oa_unref(b);

    /* Before any exchange the offer is dropped and the negotiator is idle again. */
    b = oa_new("10.0.0.2", NULL, "2000", bob_caps);
    assert_int_equal(answer_rc(b,
                               HDR("10.0.0.9") "m=video 6002 RTP/AVP 31\r\n"
                                               "m=audio 6000 RTP/SAVP 8\r\n",
                               &answer, &err),
                     SIP_ENOTACCEPTABLE);
    assert_int_equal(err.stream, -1);
    assert_non_null(strstr(err.reason, "stream 0 (m=video RTP/AVP): no such media"));
    assert_int_equal(sip_oa_get_state(b), SIP_OA_IDLE);
    assert_null(sip_oa_get_remote(b));
    /* An offer with no stream to accept (only port 0) has an answer all the same. */
    assert_int_equal(answer_rc(b, HDR("10.0.0.9") "m=audio 0 RTP/AVP 0\r\n", &answer, &err), 0);
    HAS(answer, "m=audio 0 RTP/AVP 0");
    sip_sdp_unref(answer);
    sip_oa_unref(b);
}

/* ---- hold and resume ------------------------------------------------------------------------- */

static void oa_hold_and_resume(void **state)
{
    (void)state;
    sip_oa_t *a = oa_new("10.0.0.1", "alice", "1000", alice_caps);
    sip_oa_t *b = oa_new("10.0.0.2", NULL, "2000", bob_caps);
    sip_sdp_t *offer, *answer;

    exchange(a, b, NULL, NULL);
    assert_int_equal(sip_oa_get_remote_hold(a), 0);
    /* Alice holds: sendonly, answered recvonly. */
    assert_int_equal(sip_oa_set_hold(a, 1), 0);
    assert_int_equal(sip_oa_get_hold(a), 1);
    exchange(a, b, &offer, &answer);
    HAS(offer, "a=sendonly");
    HAS(answer, "a=recvonly");
    assert_int_equal(sip_oa_get_remote_hold(b), 1);
    assert_int_equal(sip_oa_get_remote_hold(a), 0);
    sip_sdp_unref(offer);
    sip_sdp_unref(answer);
    /* Bob holds too: Alice already holds him, so inactive. */
    sip_oa_set_hold(b, 1);
    exchange(b, a, &offer, &answer);
    HAS(offer, "a=inactive");
    HAS(answer, "a=inactive");
    sip_sdp_unref(offer);
    sip_sdp_unref(answer);
    /* Alice resumes while Bob holds: Bob's answer says sendonly. */
    sip_oa_set_hold(a, 0);
    exchange(a, b, &offer, &answer);
    HAS(offer, "a=sendrecv");
    HAS(answer, "a=sendonly");
    assert_int_equal(sip_oa_get_remote_hold(a), 1);
    sip_sdp_unref(offer);
    sip_sdp_unref(answer);
    /* Bob resumes. */
    sip_oa_set_hold(b, 0);
    exchange(b, a, &offer, &answer);
    HAS(offer, "a=sendrecv");
    HAS(answer, "a=sendrecv");
    assert_int_equal(sip_oa_get_remote_hold(a), 0);
    assert_int_equal(sip_oa_get_remote_hold(b), 0);
    sip_sdp_unref(offer);
    sip_sdp_unref(answer);
    sip_oa_unref(a);
    sip_oa_unref(b);

    /* Offered recvonly, inactive, and RFC 2543's c=0.0.0.0 hold. */
    static const struct {
        const char *offer, *want;
    } cases[] = {
        {"a=recvonly\r\n", "a=sendonly"},
        {"a=inactive\r\n", "a=inactive"},
        {"a=sendonly\r\n", "a=recvonly"},
        {"c=IN IP4 0.0.0.0\r\n", "a=recvonly"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[512];
        sip_oa_error_t err;
        snprintf(text, sizeof(text), "%s%s", HDR("10.0.0.9") "m=audio 6000 RTP/AVP 8\r\n",
                 cases[i].offer);
        b = oa_new("10.0.0.2", NULL, "2000", bob_caps);
        assert_int_equal(answer_rc(b, text, &answer, &err), 0);
        HAS(answer, "m=audio 5000 RTP/AVP 8");
        assert_non_null(strstr(text_of(answer), cases[i].want));
        assert_int_equal(sip_oa_get_remote_hold(b), i == 0 ? 0 : 1);
        sip_sdp_unref(answer);
        sip_oa_unref(b);
    }
}

/* ---- o= versions ----------------------------------------------------------------------------- */

static void oa_origin_versions(void **state)
{
    (void)state;
    sip_oa_t *a = oa_new("10.0.0.1", "alice", "1000", alice_caps);
    sip_oa_t *b = oa_new("10.0.0.2", NULL, "2000", bob_caps);
    sip_sdp_t *o1, *a1, *o2, *a2;
    char first[4096];

    assert_int_equal(sip_oa_get_remote_changed(a), 0);
    exchange(a, b, &o1, &a1);
    assert_int_equal(sip_oa_get_remote_changed(a), 1);
    assert_int_equal(sip_oa_get_remote_changed(b), 1);
    snprintf(first, sizeof(first), "%s", text_of(o1));
    /* RFC 3264 §8: an unchanged re-offer keeps the version, as does its unchanged answer. */
    exchange(a, b, &o2, &a2);
    assert_string_equal(text_of(o2), first);
    HAS(a2, "o=- 2000 2000 IN IP4 10.0.0.2");
    /* Nothing changed on either side: the media need not be touched. */
    assert_int_equal(sip_oa_get_remote_changed(a), 0);
    assert_int_equal(sip_oa_get_remote_changed(b), 0);
    assert_int_equal(sip_oa_get_remote_changed(NULL), SIP_EINVAL);
    sip_sdp_unref(o2);
    sip_sdp_unref(a2);
    /* A change adds one, on each side that changed. */
    sip_oa_set_hold(a, 1);
    exchange(a, b, &o2, &a2);
    HAS(o2, "o=alice 1000 1001 IN IP4 10.0.0.1");
    HAS(a2, "o=- 2000 2001 IN IP4 10.0.0.2");
    assert_int_equal(sip_oa_get_remote_changed(a), 1);
    assert_int_equal(sip_oa_get_remote_changed(b), 1);
    sip_sdp_unref(o2);
    sip_sdp_unref(a2);
    /* An offer dropped leaves the version where the session has it. */
    sip_oa_set_hold(a, 0);
    assert_int_equal(sip_oa_create_offer(a, &o2, NULL), 0);
    HAS(o2, "o=alice 1000 1002 IN IP4 10.0.0.1");
    assert_int_equal(sip_oa_cancel_offer(a), 0);
    sip_sdp_unref(o2);
    exchange(a, b, &o2, NULL);
    HAS(o2, "o=alice 1000 1002 IN IP4 10.0.0.1");
    sip_sdp_unref(o2);
    /* Bob's offer after answering continues his own numbering. */
    exchange(b, a, &o2, NULL);
    HAS(o2, "o=- 2000 2002 IN IP4 10.0.0.2");
    sip_sdp_unref(o2);

    /* An explicit first version; an offer asked for twice is the one in flight. */
    sip_oa_opts_t opts;
    sip_oa_t *c = NULL;
    sip_oa_opts_init(&opts);
    assert_int_equal(opts.version, -1);
    opts.address = "2001:db8::1";
    opts.version = 7;
    opts.session_name = "talk";
    assert_int_equal(sip_oa_create(&c, &opts), 0);
    sip_sdp_t *caps = sdp_of(alice_caps);
    assert_int_equal(sip_oa_set_local(c, caps, NULL), 0);
    sip_sdp_unref(caps);
    assert_int_equal(sip_oa_create_offer(c, &o2, NULL), 0);
    assert_int_equal(sip_oa_create_offer(c, &a2, NULL), 0);
    assert_ptr_equal(o2, a2);
    assert_non_null(strstr(text_of(o2), " 7 IN IP6 2001:db8::1\r\n"));
    HAS(o2, "s=talk");
    HAS(o2, "c=IN IP6 2001:db8::1");
    /* A random session id is digits. */
    const sip_sdp_origin_t *og = sip_sdp_get_origin(o2);
    assert_true(og->sess_id.len > 0);
    for (size_t i = 0; i < og->sess_id.len; i++)
        assert_true(og->sess_id.ptr[i] >= '0' && og->sess_id.ptr[i] <= '9');
    sip_sdp_unref(o2);
    sip_sdp_unref(a2);
    sip_oa_unref(c);

    sip_sdp_unref(o1);
    sip_sdp_unref(a1);
    sip_oa_unref(a);
    sip_oa_unref(b);
}

/* ---- streams added and removed --------------------------------------------------------------- */

static const char av_caps[] = HDR("10.0.0.1") "m=audio 4000 RTP/AVP 0\r\n"
                                              "m=video 4002 RTP/AVP 97\r\n"
                                              "a=rtpmap:97 H264/90000\r\n"
                                              "a=fmtp:97 profile-level-id=42e01f\r\n";

static void oa_streams_added_and_removed(void **state)
{
    (void)state;
    sip_oa_t *a = oa_new("10.0.0.1", "alice", "1000", av_caps);
    sip_oa_t *b = oa_new("10.0.0.2", NULL, "2000",
                         HDR("10.0.0.2") "m=audio 5000 RTP/AVP 0\r\n"
                                         "m=video 5002 RTP/AVP 96\r\n"
                                         "a=rtpmap:96 H264/90000\r\n");
    sip_sdp_t *offer, *answer;

    exchange(a, b, &offer, &answer);
    HAS(answer, "m=video 5002 RTP/AVP 97");
    HAS(answer, "a=rtpmap:97 H264/90000");
    sip_sdp_unref(offer);
    sip_sdp_unref(answer);
    /* Removed: the line stays with port 0 (RFC 3264 §8.2). */
    assert_int_equal(sip_oa_remove_media(a, 1), 0);
    assert_int_equal(sip_oa_remove_media(a, 2), SIP_EINVAL);
    exchange(a, b, &offer, &answer);
    HAS(offer, "m=audio 4000 RTP/AVP 0");
    HAS(offer, "m=video 0 RTP/AVP 97");
    HAS(answer, "m=video 0 RTP/AVP 97");
    sip_sdp_unref(offer);
    sip_sdp_unref(answer);
    /* Added back: the port 0 slot of the same type is reused (§8.1); a new one goes last. */
    assert_int_equal(sip_oa_add_media(a, 1), 1);
    assert_int_equal(sip_oa_add_media(a, 0), 2);
    assert_int_equal(sip_oa_add_media(a, 5), SIP_EINVAL);
    assert_int_equal(sip_oa_media_count(a), 3);
    exchange(a, b, &offer, &answer);
    assert_int_equal(sip_sdp_media_count(offer), 3);
    HAS(offer, "m=video 4002 RTP/AVP 97");
    HAS(answer, "m=video 5002 RTP/AVP 97");
    /* Bob has one audio line of capabilities, given to the first audio stream. */
    HAS(answer, "m=audio 0 RTP/AVP 0");
    sip_sdp_unref(offer);
    sip_sdp_unref(answer);

    /* A re-offer that drops m= lines is refused. */
    sip_oa_error_t err;
    assert_int_equal(answer_rc(b, HDR("10.0.0.9") "m=audio 6000 RTP/AVP 0\r\n", &answer, &err),
                     SIP_ESDP);
    assert_non_null(strstr(err.reason, "the offer has 1 m= lines, the session 3"));
    assert_int_equal(sip_oa_get_state(b), SIP_OA_DONE);
    sip_oa_unref(a);
    sip_oa_unref(b);

    /* RFC 3264 §8.3.3: a stream changes type in place, as a T.38 re-offer does. */
    a = oa_new("10.0.0.1", "alice", "1000", alice_caps);
    b = oa_new("10.0.0.2", NULL, "2000",
               HDR("10.0.0.2") "m=audio 5000 RTP/AVP 8\r\n"
                               "m=image 5004 udptl t38\r\na=T38FaxVersion:0\r\n");
    exchange(a, b, NULL, NULL);
    assert_int_equal(answer_rc(b, HDR("10.0.0.1") "m=image 4004 udptl t38\r\n", &answer, &err), 0);
    HAS(answer, "m=image 5004 udptl t38");
    HAS(answer, "a=T38FaxVersion:0");
    sip_sdp_unref(answer);
    /* And back to audio. */
    assert_int_equal(answer_rc(b, HDR("10.0.0.1") "m=audio 4000 RTP/AVP 8\r\n", &answer, &err), 0);
    HAS(answer, "m=audio 5000 RTP/AVP 8");
    sip_sdp_unref(answer);
    sip_oa_unref(a);
    sip_oa_unref(b);

    /* New capabilities after the session: streams are rebuilt, keeping the numbers in use. */
    a = oa_new("10.0.0.1", "alice", "1000", alice_caps);
    b = oa_new("10.0.0.2", NULL, "2000",
               HDR("10.0.0.2") "m=audio 5000 RTP/AVP 96 8\r\na=rtpmap:96 telephone-event/8000\r\n");
    exchange(b, a, &offer, &answer);
    HAS(answer, "m=audio 4000 RTP/AVP 96 8");
    sip_sdp_unref(offer);
    sip_sdp_unref(answer);
    sip_sdp_t *caps = sdp_of(HDR("10.0.0.1") "m=audio 4000 RTP/AVP 8 96 101\r\n"
                                             "a=rtpmap:96 opus/48000/2\r\n"
                                             "a=rtpmap:101 telephone-event/8000\r\n");
    assert_int_equal(sip_oa_set_local(a, caps, NULL), 0);
    sip_sdp_unref(caps);
    exchange(a, b, &offer, &answer);
    /* Events keep 96 from the session; opus, whose 96 is taken, gets a free number. */
    HAS(offer, "m=audio 4000 RTP/AVP 8 97 96");
    HAS(offer, "a=rtpmap:97 opus/48000/2");
    HAS(offer, "a=rtpmap:96 telephone-event/8000");
    HAS(answer, "m=audio 5000 RTP/AVP 8 96");
    sip_sdp_unref(offer);
    sip_sdp_unref(answer);
    sip_oa_unref(a);
    sip_oa_unref(b);
}

/* ---- bad input ------------------------------------------------------------------------------- */

static void oa_answer_validation(void **state)
{
    (void)state;
    static const struct {
        const char *answer, *words;
        int stream;
    } cases[] = {
        {HDR("10.0.0.2") "", "the answer has 0 m= lines, the offer 2", -1},
        {HDR("10.0.0.2") "m=video 5000 RTP/AVP 31\r\nm=video 0 RTP/AVP 31\r\n",
         "stream 0 (m=audio): answered as m=video", 0},
        {HDR("10.0.0.2") "m=audio 5000 RTP/AVP 0\r\nm=video 5002 RTP/AVP 31\r\n",
         "stream 1 (m=video): offered with port 0, answered with port 5002", 1},
        {HDR("10.0.0.2") "m=audio 5000 RTP/AVP 18\r\nm=video 0 RTP/AVP 31\r\n",
         "stream 0 (m=audio): accepted with none of the offered formats", 0},
        {HDR("10.0.0.2") "m=audio 5000 RTP/SAVP 0\r\nm=video 0 RTP/AVP 31\r\n",
         "stream 0 (m=audio): answered with another protocol", 0},
        {"v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nt=0 0\r\n"
         "m=audio 5000 RTP/AVP 0\r\nm=video 0 RTP/AVP 31\r\n",
         "stream 0 (m=audio): no c= line", 0},
    };
    sip_oa_t *a = oa_new("10.0.0.1", "alice", "1000", av_caps);
    sip_oa_error_t err;
    sip_sdp_t *offer, *ans;

    assert_int_equal(sip_oa_remove_media(a, 1), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(sip_oa_create_offer(a, &offer, NULL), 0);
        sip_sdp_unref(offer);
        ans = sdp_of(cases[i].answer);
        memset(&err, 0, sizeof(err));
        assert_int_equal(sip_oa_set_remote_answer(a, ans, &err), SIP_ESDP);
        if (!strstr(err.reason, cases[i].words))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.reason, cases[i].words);
        assert_int_equal(err.stream, cases[i].stream);
        /* The offer is still awaiting its answer. */
        assert_int_equal(sip_oa_get_state(a), SIP_OA_LOCAL_OFFER);
        sip_sdp_unref(ans);
    }
    /* Held (sendonly), the offer cannot be answered sendrecv (§6.1). */
    sip_oa_set_hold(a, 1);
    assert_int_equal(sip_oa_cancel_offer(a), 0);
    assert_int_equal(sip_oa_create_offer(a, &offer, NULL), 0);
    sip_sdp_unref(offer);
    ans = sdp_of(HDR("10.0.0.2") "m=audio 5000 RTP/AVP 0\r\na=sendrecv\r\n"
                                 "m=video 0 RTP/AVP 31\r\n");
    assert_int_equal(sip_oa_set_remote_answer(a, ans, &err), SIP_ESDP);
    assert_non_null(strstr(err.reason, "stream 0 (m=audio): answered sendrecv to an offered "
                                       "sendonly stream (RFC 3264 §6.1)"));
    sip_sdp_unref(ans);
    /* An answer may add formats of its own (RFC 3264 §6.1). */
    ans = sdp_of(HDR("10.0.0.2") "m=audio 5000 RTP/AVP 18 0\r\na=recvonly\r\n"
                                 "m=video 0 RTP/AVP 31\r\n");
    assert_int_equal(sip_oa_set_remote_answer(a, ans, &err), 0);
    sip_sdp_unref(ans);

    /* Calls in the wrong state, and NULLs. */
    ans = sdp_of(HDR("10.0.0.2") "m=audio 5000 RTP/AVP 0\r\n");
    assert_int_equal(sip_oa_set_remote_answer(a, ans, &err), SIP_EINVAL);
    assert_non_null(strstr(err.reason, "no offer of ours"));
    assert_int_equal(sip_oa_create_answer(a, &offer, &err), SIP_EINVAL);
    assert_null(offer);
    assert_int_equal(sip_oa_set_local_answer(a, ans, &err), SIP_EINVAL);
    assert_int_equal(sip_oa_cancel_offer(a), SIP_ENOENT);
    assert_int_equal(sip_oa_create_offer(a, &offer, NULL), 0);
    sip_sdp_unref(offer);
    /* Glare: a remote offer while ours is in flight. */
    assert_int_equal(sip_oa_set_remote_offer(a, ans, &err), SIP_EINVAL);
    assert_non_null(strstr(err.reason, "491"));
    assert_int_equal(sip_oa_cancel_offer(a), 0);
    /* An offer without a connection for a stream. */
    sip_sdp_t *bad = sdp_of("v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nt=0 0\r\n"
                            "m=audio 5000 RTP/AVP 0\r\nm=video 0 RTP/AVP 31\r\n");
    assert_int_equal(sip_oa_set_remote_offer(a, bad, &err), SIP_ESDP);
    assert_int_equal(err.stream, 0);
    sip_sdp_unref(bad);
    /* RTP formats are payload types. */
    bad = sdp_of(HDR("10.0.0.2") "m=audio 5000 RTP/AVP 0\r\nm=video 5002 RTP/AVP 31 h264\r\n");
    assert_int_equal(sip_oa_set_remote_offer(a, bad, &err), SIP_ESDP);
    assert_int_equal(err.stream, 1);
    assert_non_null(
        strstr(err.reason, "stream 1 (m=video): format h264 is not an RTP payload type"));
    sip_sdp_unref(bad);
    assert_int_equal(sip_oa_set_remote_offer(a, ans, &err), SIP_ESDP); /* one m= line, not two */
    assert_int_equal(sip_oa_get_state(a), SIP_OA_DONE);
    sip_sdp_unref(ans);

    assert_int_equal(sip_oa_set_remote_offer(NULL, NULL, &err), SIP_EINVAL);
    assert_int_equal(sip_oa_create_offer(NULL, &offer, &err), SIP_EINVAL);
    assert_int_equal(sip_oa_set_hold(NULL, 1), SIP_EINVAL);
    assert_int_equal(sip_oa_get_hold(NULL), SIP_EINVAL);
    assert_int_equal(sip_oa_get_remote_hold(NULL), SIP_EINVAL);
    assert_int_equal(sip_oa_cancel_offer(NULL), SIP_EINVAL);
    assert_int_equal(sip_oa_add_media(NULL, 0), SIP_EINVAL);
    assert_int_equal(sip_oa_get_state(NULL), SIP_OA_IDLE);
    assert_null(sip_oa_state_name((sip_oa_state_t)9));
    assert_string_equal(sip_oa_state_name(SIP_OA_REMOTE_OFFER), "remote_offer");
    sip_oa_unref(NULL);
    sip_oa_unref(a);

    /* Options and capabilities. */
    sip_oa_opts_t o;
    sip_oa_t *x = NULL;
    sip_oa_opts_init(&o);
    assert_int_equal(sip_oa_create(&x, &o), SIP_EINVAL); /* no address */
    o.address = "10.0.0.1";
    o.session_id = "12ab";
    assert_int_equal(sip_oa_create(&x, &o), SIP_EINVAL);
    o.session_id = NULL;
    o.version = -2;
    assert_int_equal(sip_oa_create(&x, &o), SIP_EINVAL);
    o.version = -1;
    o.username = "two words";
    assert_int_equal(sip_oa_create(&x, &o), SIP_EINVAL);
    assert_null(x);
    x = oa_new("10.0.0.1", NULL, NULL, NULL);
    assert_int_equal(sip_oa_create_offer(x, &offer, &err), SIP_EINVAL);
    assert_non_null(strstr(err.reason, "no local capabilities"));
    bad = sdp_of(HDR("10.0.0.1") "m=audio 4000 RTP/AVP 0\r\nm=video 4002 RTP/AVP 96\r\n");
    assert_int_equal(sip_oa_set_local(x, bad, &err), SIP_ESDP);
    assert_int_equal(err.stream, 1);
    assert_non_null(strstr(err.reason, "stream 1 (m=video): format 96 has no valid a=rtpmap"));
    sip_sdp_unref(bad);
    sip_oa_unref(x);
}

/* ---- rollback and application answers -------------------------------------------------------- */

static void oa_rollback(void **state)
{
    (void)state;
    sip_oa_t *a = oa_new("10.0.0.1", "alice", "1000", alice_caps);
    sip_oa_t *b = oa_new("10.0.0.2", NULL, "2000", bob_caps);
    sip_sdp_t *offer, *answer;

    exchange(a, b, NULL, NULL);
    const sip_sdp_t *local = sip_oa_get_local(a), *remote = sip_oa_get_remote(a);
    /* A re-offer refused (491, 488): the session stays, hold stays wanted. */
    sip_oa_set_hold(a, 1);
    assert_int_equal(sip_oa_create_offer(a, &offer, NULL), 0);
    assert_ptr_equal(sip_oa_get_offer(a), offer);
    assert_int_equal(sip_oa_cancel_offer(a), 0);
    assert_int_equal(sip_oa_get_state(a), SIP_OA_DONE);
    assert_ptr_equal(sip_oa_get_local(a), local);
    assert_ptr_equal(sip_oa_get_remote(a), remote);
    assert_null(sip_oa_get_offer(a));
    sip_sdp_unref(offer);
    /* A remote offer dropped the same way. */
    assert_int_equal(sip_oa_create_offer(b, &offer, NULL), 0);
    assert_int_equal(sip_oa_set_remote_offer(a, offer, NULL), 0);
    assert_int_equal(sip_oa_cancel_offer(a), 0);
    assert_int_equal(sip_oa_cancel_offer(b), 0);
    assert_int_equal(sip_oa_get_state(a), SIP_OA_DONE);
    sip_sdp_unref(offer);
    /* The first offer dropped: idle again. */
    sip_oa_t *c = oa_new("10.0.0.3", NULL, "3000", alice_caps);
    assert_int_equal(sip_oa_create_offer(c, &offer, NULL), 0);
    assert_int_equal(sip_oa_cancel_offer(c), 0);
    assert_int_equal(sip_oa_get_state(c), SIP_OA_IDLE);
    sip_sdp_unref(offer);
    sip_oa_unref(c);
    exchange(a, b, &offer, &answer);
    HAS(offer, "a=sendonly");
    sip_sdp_unref(offer);
    sip_sdp_unref(answer);
    sip_oa_unref(a);
    sip_oa_unref(b);
}

static void oa_application_answer(void **state)
{
    (void)state;
    sip_oa_t *a = oa_new("10.0.0.1", "alice", "1000", alice_caps);
    sip_oa_t *b2b = oa_new("10.0.0.2", NULL, "2000", NULL);
    sip_sdp_t *offer, *relayed, *bad;
    sip_oa_error_t err;

    assert_int_equal(sip_oa_create_offer(a, &offer, NULL), 0);
    assert_int_equal(sip_oa_set_remote_offer(b2b, offer, NULL), 0);
    /* No capabilities: it cannot answer by itself. */
    assert_int_equal(sip_oa_create_answer(b2b, &relayed, &err), SIP_EINVAL);
    bad = sdp_of(HDR("10.0.0.5") "m=audio 7000 RTP/AVP 0\r\nm=audio 7002 RTP/AVP 0\r\n");
    assert_int_equal(sip_oa_set_local_answer(b2b, bad, &err), SIP_ESDP);
    assert_non_null(strstr(err.reason, "the answer has 2 m= lines, the offer 1"));
    assert_int_equal(sip_oa_get_state(b2b), SIP_OA_REMOTE_OFFER);
    sip_sdp_unref(bad);
    /* The other leg's answer, relayed. */
    relayed = sdp_of("v=0\r\no=carol 77 5 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\n"
                     "t=0 0\r\nm=audio 7000 RTP/AVP 8\r\n");
    assert_int_equal(sip_oa_set_local_answer(b2b, relayed, &err), 0);
    assert_int_equal(sip_oa_get_state(b2b), SIP_OA_DONE);
    assert_ptr_equal(sip_oa_get_local(b2b), relayed);
    assert_int_equal(sip_oa_set_remote_answer(a, relayed, &err), 0);
    /* A later offer from it continues the relayed o= (same id, version + 1). */
    sip_sdp_t *re;
    sip_oa_set_hold(b2b, 1);
    assert_int_equal(sip_oa_create_offer(b2b, &re, &err), 0);
    HAS(re, "o=carol 77 6 IN IP4 10.0.0.5");
    HAS(re, "m=audio 7000 RTP/AVP 8");
    HAS(re, "a=sendonly");
    sip_sdp_unref(re);
    sip_sdp_unref(relayed);
    sip_sdp_unref(offer);
    sip_oa_unref(a);
    sip_oa_unref(b2b);
}

static void oa_application_offer(void **state)
{
    (void)state;
    sip_oa_t *leg = oa_new("10.0.0.2", NULL, "2000", NULL);
    sip_oa_t *c = oa_new("10.0.0.3", NULL, "3000", alice_caps);
    sip_oa_error_t err;
    sip_sdp_t *relayed, *answer, *again;

    /* A B2BUA sends the other leg's offer on this one. */
    relayed = sdp_of("v=0\r\no=alice 55 9 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\n"
                     "t=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\n");
    assert_int_equal(sip_oa_set_local_offer(leg, relayed, &err), 0);
    assert_int_equal(sip_oa_get_state(leg), SIP_OA_LOCAL_OFFER);
    assert_int_equal(sip_oa_set_local_offer(leg, relayed, &err), SIP_EINVAL);
    assert_non_null(strstr(err.reason, "already in flight"));
    assert_int_equal(sip_oa_create_offer(leg, &again, NULL), 0);
    assert_ptr_equal(again, relayed);
    sip_sdp_unref(again);
    assert_int_equal(sip_oa_set_remote_offer(c, relayed, NULL), 0);
    assert_int_equal(sip_oa_create_answer(c, &answer, NULL), 0);
    assert_int_equal(sip_oa_set_remote_answer(leg, answer, &err), 0);
    assert_ptr_equal(sip_oa_get_local(leg), relayed);
    /* Its own re-offer continues the relayed o=. */
    sip_oa_set_hold(leg, 1);
    assert_int_equal(sip_oa_create_offer(leg, &again, NULL), 0);
    HAS(again, "o=alice 55 10 IN IP4 10.0.0.1");
    HAS(again, "m=audio 4000 RTP/AVP 0 8");
    HAS(again, "a=sendonly");
    assert_int_equal(sip_oa_cancel_offer(leg), 0);
    sip_sdp_unref(again);
    /* A relayed re-offer with fewer m= lines breaks RFC 3264 §8. */
    sip_sdp_t *bad = sdp_of(HDR("10.0.0.1") "");
    assert_int_equal(sip_oa_set_local_offer(leg, bad, &err), SIP_ESDP);
    assert_non_null(strstr(err.reason, "the offer has 0 m= lines, the session 1"));
    assert_int_equal(sip_oa_get_state(leg), SIP_OA_DONE);
    sip_sdp_unref(bad);
    sip_sdp_unref(relayed);
    sip_sdp_unref(answer);
    sip_oa_unref(leg);
    sip_oa_unref(c);
}

static void oa_clone_for_forks(void **state)
{
    (void)state;
    sip_oa_t *a = oa_new("10.0.0.1", "alice", "1000", alice_caps), *fork = NULL;
    sip_oa_t *b = oa_new("10.0.0.2", NULL, "2000", bob_caps);
    sip_oa_t *c = oa_new("10.0.0.3", NULL, "3000", alice_caps);
    sip_sdp_t *offer, *again, *ab, *ac;

    assert_int_equal(sip_oa_create_offer(a, &offer, NULL), 0);
    /* The INVITE forks: the second early dialog gets a copy with the same offer in flight. */
    assert_int_equal(sip_oa_clone(&fork, a), 0);
    assert_int_equal(sip_live_count(SIP_LIVE_OA), 4);
    assert_int_equal(sip_oa_get_state(fork), SIP_OA_LOCAL_OFFER);
    assert_int_equal(sip_oa_create_offer(fork, &again, NULL), 0);
    assert_ptr_equal(again, offer);
    assert_int_equal(sip_oa_set_remote_offer(b, offer, NULL), 0);
    assert_int_equal(sip_oa_create_answer(b, &ab, NULL), 0);
    assert_int_equal(sip_oa_set_remote_offer(c, offer, NULL), 0);
    assert_int_equal(sip_oa_create_answer(c, &ac, NULL), 0);
    /* Each fork completes with its own answer. */
    assert_int_equal(sip_oa_set_remote_answer(a, ab, NULL), 0);
    assert_int_equal(sip_oa_set_remote_answer(fork, ac, NULL), 0);
    assert_ptr_equal(sip_oa_get_remote(a), ab);
    assert_ptr_equal(sip_oa_get_remote(fork), ac);
    sip_oa_set_hold(fork, 1);
    assert_int_equal(sip_oa_get_hold(a), 0);
    assert_int_equal(sip_oa_clone(NULL, a), SIP_EINVAL);
    sip_oa_t *none = a;
    assert_int_equal(sip_oa_clone(&none, NULL), SIP_EINVAL);
    assert_null(none);
    sip_oa_unref(c);
    sip_sdp_unref(offer);
    sip_sdp_unref(again);
    sip_sdp_unref(ab);
    sip_sdp_unref(ac);
    sip_oa_unref(a);
    sip_oa_unref(b);
    sip_oa_unref(fork);
}

/* ---- allocation failures --------------------------------------------------------------------- */

static void oa_alloc_failure_sweep(void **state)
{
    (void)state;
    sip_sdp_t *acaps = sdp_of(av_caps);
    sip_sdp_t *bcaps = sdp_of(HDR("10.0.0.2") "m=audio 5000 RTP/AVP 0\r\n"
                                              "m=video 5002 RTP/AVP 96\r\n"
                                              "a=rtpmap:96 H264/90000\r\n");
    int ok = 0;
    for (long fail = 0; fail < 400 && !ok; fail++) {
        sip_oa_opts_t o;
        sip_oa_t *a = NULL, *b = NULL;
        sip_sdp_t *offer = NULL, *answer = NULL;
        int rc;
        sip_oa_opts_init(&o);
        o.address = "10.0.0.1";
        test_alloc_fail_at(fail + 1);
        rc = sip_oa_create(&a, &o);
        if (rc == 0) rc = sip_oa_create(&b, &o);
        if (rc == 0) rc = sip_oa_set_local(a, acaps, NULL);
        if (rc == 0) rc = sip_oa_set_local(b, bcaps, NULL);
        if (rc == 0) rc = sip_oa_create_offer(a, &offer, NULL);
        if (rc == 0) rc = sip_oa_set_remote_offer(b, offer, NULL);
        if (rc == 0) rc = sip_oa_create_answer(b, &answer, NULL);
        if (rc == 0) rc = sip_oa_set_remote_answer(a, answer, NULL);
        if (rc == 0) rc = sip_oa_remove_media(a, 1);
        if (rc == 0) rc = sip_oa_set_hold(a, 1);
        if (rc == 0) {
            sip_sdp_unref(offer);
            offer = NULL;
            rc = sip_oa_create_offer(a, &offer, NULL);
        }
        if (rc == 0) rc = sip_oa_add_media(b, 1) < 0 ? SIP_ENOMEM : 0;
        if (rc == 0) {
            sip_oa_t *copy = NULL;
            rc = sip_oa_clone(&copy, a);
            if (rc == 0)
                assert_int_equal(sip_oa_get_state(copy), SIP_OA_LOCAL_OFFER);
            else
                assert_null(copy);
            sip_oa_unref(copy);
        }
        test_alloc_fail_at(0);
        if (rc == 0) {
            ok = 1;
            assert_true(fail > 3);
            assert_int_equal(sip_oa_get_state(a), SIP_OA_LOCAL_OFFER);
            assert_non_null(strstr(text_of(offer), "m=video 0 RTP/AVP 97\r\n"));
        } else {
            assert_int_equal(rc, SIP_ENOMEM);
        }
        sip_sdp_unref(offer);
        sip_sdp_unref(answer);
        sip_oa_unref(a);
        sip_oa_unref(b);
    }
    assert_true(ok);
    sip_sdp_unref(acaps);
    sip_sdp_unref(bcaps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(oa_initial_offer_answer),
        cmocka_unit_test(oa_dynamic_payload_types),
        cmocka_unit_test(oa_rejects_streams_with_port_zero),
        cmocka_unit_test(oa_hold_and_resume),
        cmocka_unit_test(oa_origin_versions),
        cmocka_unit_test(oa_streams_added_and_removed),
        cmocka_unit_test(oa_answer_validation),
        cmocka_unit_test(oa_rollback),
        cmocka_unit_test(oa_application_answer),
        cmocka_unit_test(oa_application_offer),
        cmocka_unit_test(oa_clone_for_forks),
        cmocka_unit_test(oa_alloc_failure_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
