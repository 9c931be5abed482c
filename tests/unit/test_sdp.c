/* SPDX-License-Identifier: MIT */
/* Unit tests of the SDP module: parsing, typed access, errors, round trips and the builder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_hook.h"

#include "sdp/sdp_int.h"
#include "sip/sdp.h"

#define STR_EQ(view, lit) assert_true(sip_str_eq((view), SIP_STR(lit)))

static sip_sdp_t *parse_ok(const char *text)
{
    sip_sdp_t *sdp = NULL;
    sip_sdp_error_t err;
    int rc = sip_sdp_parse(&sdp, text, strlen(text), &err);
    if (rc != 0) fail_msg("parse failed: %s", err.reason);
    assert_non_null(sdp);
    return sdp;
}

/* ---- RFC 8866 §5 example --------------------------------------------------------------------- */

static const char rfc8866_example[] = "v=0\r\n"
                                      "o=jdoe 3724394400 3724394405 IN IP4 198.51.100.1\r\n"
                                      "s=Call to John Smith\r\n"
                                      "i=SDP Offer #1\r\n"
                                      "u=http://www.jdoe.example.com/home.html\r\n"
                                      "e=Jane Doe <jane@jdoe.example.com>\r\n"
                                      "p=+1 617 555-6011\r\n"
                                      "c=IN IP4 198.51.100.1\r\n"
                                      "t=0 0\r\n"
                                      "m=audio 49170 RTP/AVP 0\r\n"
                                      "m=audio 49180 RTP/AVP 0\r\n"
                                      "m=video 51372 RTP/AVP 99\r\n"
                                      "c=IN IP6 2001:db8::2\r\n"
                                      "a=rtpmap:99 h263-1998/90000\r\n";

static void sdp_rfc8866_example(void **state)
{
    (void)state;
    sip_sdp_t *sdp = parse_ok(rfc8866_example);
    const sip_sdp_origin_t *o = sip_sdp_get_origin(sdp);
    STR_EQ(o->username, "jdoe");
    STR_EQ(o->sess_id, "3724394400");
    STR_EQ(o->sess_version, "3724394405");
    STR_EQ(o->nettype, "IN");
    STR_EQ(o->addrtype, "IP4");
    STR_EQ(o->address, "198.51.100.1");
    STR_EQ(sip_sdp_get_session_name(sdp), "Call to John Smith");
    STR_EQ(sip_sdp_get_info(sdp), "SDP Offer #1");
    STR_EQ(sip_sdp_get_uri(sdp), "http://www.jdoe.example.com/home.html");
    assert_int_equal(sip_sdp_email_count(sdp), 1);
    STR_EQ(sip_sdp_email_at(sdp, 0), "Jane Doe <jane@jdoe.example.com>");
    assert_null(sip_sdp_email_at(sdp, 1).ptr);
    assert_int_equal(sip_sdp_phone_count(sdp), 1);
    STR_EQ(sip_sdp_phone_at(sdp, 0), "+1 617 555-6011");
    const sip_sdp_conn_t *c = sip_sdp_get_connection(sdp);
    assert_non_null(c);
    STR_EQ(c->nettype, "IN");
    STR_EQ(c->addrtype, "IP4");
    STR_EQ(c->address, "198.51.100.1");
    assert_int_equal(c->ttl, -1);
    assert_int_equal(c->count, 1);
    assert_int_equal(sip_sdp_time_count(sdp), 1);
    const sip_sdp_time_t *t = sip_sdp_time_at(sdp, 0);
    assert_int_equal(t->start, 0);
    assert_int_equal(t->stop, 0);
    assert_int_equal(t->repeat_count, 0);
    assert_int_equal(t->zone_count, 0);
    assert_null(sip_sdp_get_key(sdp).ptr);
    assert_int_equal(sip_sdp_attr_count(sdp), 0);

    assert_int_equal(sip_sdp_media_count(sdp), 3);
    const sip_sdp_media_t *m0 = sip_sdp_media_at(sdp, 0);
    const sip_sdp_media_t *m1 = sip_sdp_media_at(sdp, 1);
    const sip_sdp_media_t *m2 = sip_sdp_media_at(sdp, 2);
    assert_null(sip_sdp_media_at(sdp, 3));
    STR_EQ(sip_sdp_media_get_type(m0), "audio");
    assert_int_equal(sip_sdp_media_get_port(m0), 49170);
    assert_int_equal(sip_sdp_media_get_port_count(m0), 1);
    STR_EQ(sip_sdp_media_get_proto(m0), "RTP/AVP");
    assert_int_equal(sip_sdp_media_format_count(m0), 1);
    STR_EQ(sip_sdp_media_format_at(m0, 0), "0");
    assert_int_equal(sip_sdp_media_get_port(m1), 49180);
    STR_EQ(sip_sdp_media_get_type(m2), "video");
    assert_int_equal(sip_sdp_media_get_port(m2), 51372);
    STR_EQ(sip_sdp_media_format_at(m2, 0), "99");

    /* The effective connection: media c= wins, else the session one. */
    assert_ptr_equal(sip_sdp_media_get_connection(m0), c);
    assert_int_equal(sip_sdp_media_connection_count(m0), 0);
    const sip_sdp_conn_t *c2 = sip_sdp_media_get_connection(m2);
    assert_ptr_equal(c2, sip_sdp_media_connection_at(m2, 0));
    STR_EQ(c2->addrtype, "IP6");
    STR_EQ(c2->address, "2001:db8::2");

    sip_sdp_rtpmap_t rm;
    assert_int_equal(sip_sdp_media_rtpmap(m2, 99, &rm), 0);
    assert_int_equal(rm.payload, 99);
    STR_EQ(rm.encoding, "h263-1998");
    assert_int_equal(rm.clock_rate, 90000);
    assert_int_equal(rm.channels, 1);
    assert_int_equal(rm.params.len, 0);
    assert_int_equal(sip_sdp_media_rtpmap(m2, 0, &rm), SIP_ENOENT);
    assert_int_equal(sip_sdp_media_rtpmap(m0, 0, &rm), SIP_ENOENT);
    assert_int_equal(sip_sdp_media_get_direction(m0), SIP_SDP_SENDRECV);
    assert_int_equal(sip_sdp_media_get_ptime(m0), -1);
    sip_sdp_unref(sdp);
}

/* ---- offer/answer ---------------------------------------------------------------------------- */

static const char offer[] = "v=0\r\n"
                            "o=alice 2890844526 2890844526 IN IP6 2001:db8::10\r\n"
                            "s= \r\n"
                            "c=IN IP6 2001:db8::10\r\n"
                            "b=AS:512\r\n"
                            "t=0 0\r\n"
                            "a=sendrecv\r\n"
                            "m=audio 49170 RTP/AVP 0 8 97 101\r\n"
                            "b=TIAS:64000\r\n"
                            "a=rtpmap:0 PCMU/8000\r\n"
                            "a=rtpmap:8 PCMA/8000\r\n"
                            "a=rtpmap:97 opus/48000/2\r\n"
                            "a=fmtp:97 minptime=10;useinbandfec=1\r\n"
                            "a=rtpmap:101 telephone-event/8000\r\n"
                            "a=fmtp:101 0-16\r\n"
                            "a=ptime:20\r\n"
                            "a=maxptime:150\r\n"
                            "a=x-unknown:kept in order\r\n"
                            "a=rtcp-mux\r\n"
                            "m=video 51372 RTP/AVP 96 98\r\n"
                            "a=rtpmap:96 H264/90000\r\n"
                            "a=fmtp:96 profile-level-id=42e01f; packetization-mode=1\r\n"
                            "a=rtpmap:98 VP8/90000\r\n"
                            "a=sendonly\r\n";

static const char answer[] = "v=0\r\n"
                             "o=bob 2808844564 2808844565 IN IP6 2001:db8::20\r\n"
                             "s=-\r\n"
                             "t=0 0\r\n"
                             "m=audio 49920 RTP/AVP 97 101\r\n"
                             "c=IN IP6 2001:db8::20\r\n"
                             "a=rtpmap:97 opus/48000/2\r\n"
                             "a=rtpmap:101 telephone-event/8000\r\n"
                             "a=ptime:2.5\r\n"
                             "a=inactive\r\n"
                             "m=video 0 RTP/AVP 96\r\n"
                             "c=IN IP6 2001:db8::20\r\n"
                             "a=recvonly\r\n";

static void sdp_offer_answer(void **state)
{
    (void)state;
    sip_sdp_t *o = parse_ok(offer);
    STR_EQ(sip_sdp_get_session_name(o), " ");
    assert_int_equal(sip_sdp_bandwidth_count(o), 1);
    STR_EQ(sip_sdp_bandwidth_at(o, 0)->type, "AS");
    assert_int_equal(sip_sdp_bandwidth_at(o, 0)->value, 512);
    assert_null(sip_sdp_bandwidth_at(o, 1));
    assert_int_equal(sip_sdp_get_direction(o), SIP_SDP_SENDRECV);
    assert_int_equal(sip_sdp_media_count(o), 2);

    const sip_sdp_media_t *a = sip_sdp_media_at(o, 0);
    assert_int_equal(sip_sdp_media_format_count(a), 4);
    STR_EQ(sip_sdp_media_format_at(a, 3), "101");
    assert_null(sip_sdp_media_format_at(a, 4).ptr);
    assert_int_equal(sip_sdp_media_bandwidth_count(a), 1);
    STR_EQ(sip_sdp_media_bandwidth_at(a, 0)->type, "TIAS");
    assert_int_equal(sip_sdp_media_bandwidth_at(a, 0)->value, 64000);
    const sip_sdp_conn_t *ac = sip_sdp_media_get_connection(a);
    assert_non_null(ac);
    STR_EQ(ac->address, "2001:db8::10");

    sip_sdp_rtpmap_t rm;
    assert_int_equal(sip_sdp_media_rtpmap(a, 97, &rm), 0);
    STR_EQ(rm.encoding, "opus");
    assert_int_equal(rm.clock_rate, 48000);
    STR_EQ(rm.params, "2");
    assert_int_equal(rm.channels, 2);
    assert_int_equal(sip_sdp_media_rtpmap(a, 101, &rm), 0);
    STR_EQ(rm.encoding, "telephone-event");
    assert_int_equal(rm.clock_rate, 8000);

    sip_sdp_fmtp_t fm;
    assert_int_equal(sip_sdp_media_fmtp(a, "97", &fm), 0);
    STR_EQ(fm.format, "97");
    STR_EQ(fm.params, "minptime=10;useinbandfec=1");
    assert_int_equal(sip_sdp_media_fmtp(a, "101", &fm), 0);
    STR_EQ(fm.params, "0-16");
    assert_int_equal(sip_sdp_media_fmtp(a, "0", &fm), SIP_ENOENT);
    assert_int_equal(sip_sdp_media_get_ptime(a), 20);
    assert_int_equal(sip_sdp_media_get_maxptime(a), 150);
    assert_int_equal(sip_sdp_media_get_direction(a), SIP_SDP_SENDRECV);

    /* Unknown attributes stay, in wire order. */
    assert_int_equal(sip_sdp_media_attr_count(a), 10);
    const sip_sdp_attr_t *x = sip_sdp_media_attr_at(a, 8);
    STR_EQ(x->name, "x-unknown");
    STR_EQ(x->value, "kept in order");
    assert_int_equal(x->has_value, 1);
    const sip_sdp_attr_t *mux = sip_sdp_media_attr_at(a, 9);
    STR_EQ(mux->name, "rtcp-mux");
    assert_int_equal(mux->has_value, 0);
    assert_int_equal(mux->value.len, 0);
    assert_ptr_equal(sip_sdp_media_attr_get(a, "rtcp-mux", 0), mux);
    STR_EQ(sip_sdp_media_attr_get(a, "rtpmap", 2)->value, "97 opus/48000/2");
    assert_null(sip_sdp_media_attr_get(a, "rtpmap", 4));
    assert_null(sip_sdp_media_attr_get(a, "RTCP-MUX", 0)); /* names are case-sensitive */

    const sip_sdp_media_t *v = sip_sdp_media_at(o, 1);
    assert_int_equal(sip_sdp_media_rtpmap(v, 96, &rm), 0);
    STR_EQ(rm.encoding, "H264");
    assert_int_equal(sip_sdp_media_fmtp(v, "96", &fm), 0);
    STR_EQ(fm.params, "profile-level-id=42e01f; packetization-mode=1");
    assert_int_equal(sip_sdp_media_get_direction(v), SIP_SDP_SENDONLY);

    sip_sdp_t *ans = parse_ok(answer);
    assert_null(sip_sdp_get_connection(ans));
    const sip_sdp_media_t *aa = sip_sdp_media_at(ans, 0);
    STR_EQ(sip_sdp_media_get_connection(aa)->address, "2001:db8::20");
    assert_int_equal(sip_sdp_media_get_ptime(aa), 2);
    assert_int_equal(sip_sdp_media_get_maxptime(aa), -1);
    assert_int_equal(sip_sdp_media_get_direction(aa), SIP_SDP_INACTIVE);
    const sip_sdp_media_t *av = sip_sdp_media_at(ans, 1);
    assert_int_equal(sip_sdp_media_get_port(av), 0);
    assert_int_equal(sip_sdp_media_get_direction(av), SIP_SDP_RECVONLY);
    sip_sdp_unref(ans);
    sip_sdp_unref(o);
}

static void sdp_direction_falls_back_to_session(void **state)
{
    (void)state;
    sip_sdp_t *sdp = parse_ok("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\na=recvonly\n"
                              "m=audio 1 RTP/AVP 0\nm=audio 2 RTP/AVP 0\na=sendonly\n");
    assert_int_equal(sip_sdp_get_direction(sdp), SIP_SDP_RECVONLY);
    assert_int_equal(sip_sdp_media_get_direction(sip_sdp_media_at(sdp, 0)), SIP_SDP_RECVONLY);
    assert_int_equal(sip_sdp_media_get_direction(sip_sdp_media_at(sdp, 1)), SIP_SDP_SENDONLY);
    assert_null(sip_sdp_media_get_connection(sip_sdp_media_at(sdp, 0)));
    sip_sdp_unref(sdp);
    assert_string_equal(sip_sdp_dir_name(SIP_SDP_INACTIVE), "inactive");
    assert_null(sip_sdp_dir_name((sip_sdp_dir_t)9));
}

static void sdp_typed_helpers_reject_bad_values(void **state)
{
    (void)state;
    sip_sdp_t *sdp = parse_ok("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"
                              "m=audio 1 RTP/AVP 0 31 96 97\r\n"
                              "a=rtpmap:31 LPC\r\n"
                              "a=rtpmap:96 X/0\r\n"
                              "a=rtpmap:97 L16/8000/\r\n"
                              "a=fmtp:96\r\n"
                              "a=ptime:x20\r\n"
                              "a=maxptime:20.\r\n");
    const sip_sdp_media_t *m = sip_sdp_media_at(sdp, 0);
    sip_sdp_rtpmap_t rm;
    sip_sdp_fmtp_t fm;
    assert_int_equal(sip_sdp_media_rtpmap(m, 31, &rm), SIP_ESDP);
    assert_int_equal(sip_sdp_media_rtpmap(m, 96, &rm), SIP_ESDP);
    assert_int_equal(sip_sdp_media_rtpmap(m, 97, &rm), SIP_ESDP);
    assert_int_equal(sip_sdp_media_rtpmap(m, 0, &rm), SIP_ENOENT);
    assert_int_equal(sip_sdp_media_rtpmap(NULL, 0, &rm), SIP_EINVAL);
    assert_int_equal(sip_sdp_media_fmtp(m, "96", &fm), SIP_ESDP);
    assert_int_equal(sip_sdp_media_get_ptime(m), SIP_ESDP);
    assert_int_equal(sip_sdp_media_get_maxptime(m), SIP_ESDP);
    assert_int_equal(sip_sdp_attr_rtpmap(sip_sdp_media_attr_at(m, 4), &rm), SIP_EINVAL);
    assert_int_equal(sip_sdp_attr_fmtp(sip_sdp_media_attr_at(m, 0), &fm), SIP_EINVAL);
    sip_sdp_unref(sdp);
}

/* ---- times, repeats, zones, keys ------------------------------------------------------------- */

static void sdp_times_repeats_zones(void **state)
{
    (void)state;
    /* RFC 8866 §5.10/§5.11 examples, two time descriptions, keys at both levels. */
    sip_sdp_t *sdp = parse_ok("v=0\r\n"
                              "o=- 1 1 IN IP4 224.2.17.12\r\n"
                              "s=Seminar\r\n"
                              "c=IN IP4 224.2.17.12/127/3\r\n"
                              "t=3034423619 3042462419\r\n"
                              "r=604800 3600 0 90000\r\n"
                              "r=7d 1h 0 25h\r\n"
                              "z=2882844526 -1h 2898848070 0\r\n"
                              "t=3042462420 0\r\n"
                              "k=prompt\r\n"
                              "m=audio 49170/2 RTP/AVP 0\r\n"
                              "i=the audio\r\n"
                              "c=IN IP6 FF15::101/3\r\n"
                              "c=IN IP6 FF15::201\r\n"
                              "k=clear:secret\r\n");
    const sip_sdp_conn_t *c = sip_sdp_get_connection(sdp);
    STR_EQ(c->address, "224.2.17.12");
    assert_int_equal(c->ttl, 127);
    assert_int_equal(c->count, 3);
    assert_int_equal(sip_sdp_time_count(sdp), 2);
    const sip_sdp_time_t *t = sip_sdp_time_at(sdp, 0);
    assert_true(t->start == 3034423619ULL && t->stop == 3042462419ULL);
    assert_int_equal(t->repeat_count, 2);
    for (int i = 0; i < 2; i++) {
        const sip_sdp_repeat_t *r = sip_sdp_repeat_at(t, (size_t)i);
        assert_int_equal(r->interval, 604800);
        assert_int_equal(r->duration, 3600);
        assert_int_equal(r->offset_count, 2);
        assert_int_equal(sip_sdp_repeat_offset_at(r, 0), 0);
        assert_int_equal(sip_sdp_repeat_offset_at(r, 1), 90000);
        assert_int_equal(sip_sdp_repeat_offset_at(r, 2), 0);
    }
    assert_null(sip_sdp_repeat_at(t, 2));
    assert_int_equal(t->zone_count, 2);
    assert_true(sip_sdp_zone_at(t, 0)->time == 2882844526ULL);
    assert_int_equal(sip_sdp_zone_at(t, 0)->offset, -3600);
    assert_true(sip_sdp_zone_at(t, 1)->time == 2898848070ULL);
    assert_int_equal(sip_sdp_zone_at(t, 1)->offset, 0);
    assert_null(sip_sdp_zone_at(t, 2));
    const sip_sdp_time_t *t2 = sip_sdp_time_at(sdp, 1);
    assert_true(t2->start == 3042462420ULL);
    assert_int_equal(t2->repeat_count, 0);
    assert_null(sip_sdp_time_at(sdp, 2));
    STR_EQ(sip_sdp_get_key(sdp), "prompt");

    const sip_sdp_media_t *m = sip_sdp_media_at(sdp, 0);
    assert_int_equal(sip_sdp_media_get_port(m), 49170);
    assert_int_equal(sip_sdp_media_get_port_count(m), 2);
    STR_EQ(sip_sdp_media_get_info(m), "the audio");
    STR_EQ(sip_sdp_media_get_key(m), "clear:secret");
    assert_int_equal(sip_sdp_media_connection_count(m), 2);
    const sip_sdp_conn_t *m0 = sip_sdp_media_connection_at(m, 0);
    STR_EQ(m0->address, "FF15::101");
    assert_int_equal(m0->ttl, -1);
    assert_int_equal(m0->count, 3);
    STR_EQ(sip_sdp_media_connection_at(m, 1)->address, "FF15::201");
    assert_null(sip_sdp_media_connection_at(m, 2));
    sip_sdp_unref(sdp);
}

/* ---- RFC 5118 and RFC 4475 bodies ------------------------------------------------------------ */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

/* Parses the body of a SIP message file (after the first blank line, CRLF or LF). */
static sip_sdp_t *parse_body_of(const char *name)
{
    char path[512];
    size_t len;
    snprintf(path, sizeof(path), "%s/conformance/%s", SIP_SHARED_DIR, name);
    char *buf = read_file(path, &len);
    char *body = strstr(buf, "\r\n\r\n");
    size_t skip = 4;
    if (!body) {
        body = strstr(buf, "\n\n");
        skip = 2;
    }
    assert_non_null(body);
    body += skip;
    sip_sdp_t *sdp = NULL;
    sip_sdp_error_t err;
    int rc = sip_sdp_parse(&sdp, body, len - (size_t)(body - buf), &err);
    if (rc) fail_msg("%s: %s", name, err.reason);
    free(buf);
    return sdp;
}

static void sdp_rfc5118_bodies(void **state)
{
    (void)state;
    sip_sdp_t *sdp = parse_body_of("rfc5118/wire/ipv6-in-sdp.dat");
    STR_EQ(sip_sdp_get_origin(sdp)->addrtype, "IP6");
    STR_EQ(sip_sdp_get_origin(sdp)->sess_id, "971731711378798081");
    STR_EQ(sip_sdp_get_connection(sdp)->address, "2001:db8::20");
    assert_int_equal(sip_sdp_media_count(sdp), 2);
    sip_sdp_rtpmap_t rm;
    assert_int_equal(sip_sdp_media_rtpmap(sip_sdp_media_at(sdp, 0), 2, &rm), 0);
    STR_EQ(rm.encoding, "G726-32");
    sip_sdp_unref(sdp);

    /* An empty s= line: RFC 5118 §4.8 calls the message valid. */
    sdp = parse_body_of("rfc5118/wire/mult-ip-in-sdp.dat");
    assert_int_equal(sip_sdp_get_session_name(sdp).len, 0);
    assert_null(sip_sdp_get_connection(sdp));
    const sip_sdp_conn_t *c0 = sip_sdp_media_get_connection(sip_sdp_media_at(sdp, 0));
    const sip_sdp_conn_t *c1 = sip_sdp_media_get_connection(sip_sdp_media_at(sdp, 1));
    STR_EQ(c0->addrtype, "IP4");
    STR_EQ(c0->address, "192.0.2.1");
    STR_EQ(c1->addrtype, "IP6");
    STR_EQ(c1->address, "2001:db8::1");
    sip_sdp_unref(sdp);

    sdp = parse_body_of("rfc5118/wire/ipv4-mapped-ipv6.dat");
    STR_EQ(sip_sdp_get_connection(sdp)->address, "::ffff:192.0.2.2");
    STR_EQ(sip_sdp_get_origin(sdp)->address, "::ffff:192.0.2.2");
    sip_sdp_unref(sdp);

    /* RFC 4475 §3.1.1.13 (sdp01): bare LF line ends; its rtpmap lacks a clock rate. */
    sdp = parse_body_of("rfc4475/sdp01.dat");
    assert_int_equal(sip_sdp_media_count(sdp), 2);
    assert_int_equal(sip_sdp_media_format_count(sip_sdp_media_at(sdp, 0)), 2);
    assert_int_equal(sip_sdp_media_rtpmap(sip_sdp_media_at(sdp, 1), 31, &rm), SIP_ESDP);
    sip_sdp_unref(sdp);
}

/* ---- errors ---------------------------------------------------------------------------------- */

#define HEAD "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n"

typedef struct err_case {
    const char *text;
    unsigned line;
    unsigned column;
    const char *reason;
} err_case_t;

static const err_case_t err_cases[] = {
    {"", 1, 0, "line 1: empty description"},
    {"v=1\r\n", 1, 3, "line 1 (v=): version must be 0"},
    {"v=00\r\n", 1, 3, "line 1 (v=): version must be 0"},
    {"o=- 1 1 IN IP4 a\r\n", 1, 1, "line 1 (o=): expected v= first"},
    {"v=0\r\ns=x\r\n", 2, 1, "line 2 (s=): expected o= after v="},
    {"v=0\r\no=- 1 1 IN IP4\r\n", 2, 15, "line 2 (o=): missing address"},
    {"v=0\r\no=-\r\n", 2, 4, "line 2 (o=): missing session id"},
    {"v=0\r\no=- 1 1 IN IP4 a b\r\n", 2, 18, "line 2 (o=): more than 6 fields"},
    {"v=0\r\no=- x 1 IN IP4 a\r\n", 2, 5, "line 2 (o=): session id is not a number"},
    {"v=0\r\no=- 1 1 IN IP4 a\r\nt=0 0\r\n", 3, 1, "line 3 (t=): expected s= after o="},
    {"v=0\r\no=- 1 1 IN IP4 a\r\n", 3, 0, "line 3: missing s= line"},
    {"v=0\r\n", 2, 0, "line 2: missing o= line"},
    {HEAD, 4, 0, "line 4: missing t= line"},
    {HEAD "m=audio 1 RTP/AVP 0\r\n", 4, 1, "line 4 (m=): missing t= before this line"},
    {HEAD "a=x\r\nt=0 0\r\n", 4, 1, "line 4 (a=): missing t= before this line"},
    {HEAD "c=IN\r\nt=0 0\r\n", 4, 5, "line 4 (c=): missing address type"},
    {HEAD "c=\r\nt=0 0\r\n", 4, 3, "line 4 (c=): missing network type"},
    {HEAD "c=IN IP4\r\nt=0 0\r\n", 4, 9, "line 4 (c=): missing address"},
    {HEAD "c=IN IP5 a\r\nt=0 0\r\n", 4, 6,
     "line 4 (c=): unknown address type (IP4 or IP6 expected)"},
    {HEAD "c=IN IP4 a b\r\nt=0 0\r\n", 4, 12, "line 4 (c=): more than 3 fields"},
    {HEAD "c=IN IP4 224.2.1.1/256\r\nt=0 0\r\n", 4, 20, "line 4 (c=): invalid TTL"},
    {HEAD "c=IN IP4 224.2.1.1/1/0\r\nt=0 0\r\n", 4, 22, "line 4 (c=): invalid address count"},
    {HEAD "c=IN IP6 ff15::1/1/2\r\nt=0 0\r\n", 4, 19,
     "line 4 (c=): IP6 address takes only /<count>"},
    {HEAD "c=IN IP4 a_b\r\nt=0 0\r\n", 4, 10, "line 4 (c=): invalid address"},
    {HEAD "t=0 0\r\nc=IN IP4 a\r\n", 5, 1, "line 5 (c=): out of order"},
    {HEAD "c=IN IP4 a\r\nc=IN IP4 b\r\nt=0 0\r\n", 5, 1, "line 5 (c=): repeated"},
    {HEAD "i=a\r\ni=b\r\nt=0 0\r\n", 5, 1, "line 5 (i=): repeated"},
    {HEAD "i=\r\nt=0 0\r\n", 4, 3, "line 4 (i=): empty value"},
    {HEAD "b=AS\r\nt=0 0\r\n", 4, 5, "line 4 (b=): missing ':'"},
    {HEAD "b=AS:x\r\nt=0 0\r\n", 4, 6, "line 4 (b=): bandwidth is not a number"},
    {HEAD "t=0\r\n", 4, 4, "line 4 (t=): missing stop time"},
    {HEAD "t=0 0 0\r\n", 4, 7, "line 4 (t=): more than 2 fields"},
    {HEAD "t=x 0\r\n", 4, 3, "line 4 (t=): start time is not a number"},
    {HEAD "t=0 99999999999999999999\r\n", 4, 5, "line 4 (t=): stop time is not a number"},
    {HEAD "r=1 1 1\r\nt=0 0\r\n", 4, 1, "line 4 (r=): r= must follow t= or r="},
    {HEAD "t=0 0\r\nr=1 1\r\n", 5, 6, "line 5 (r=): needs interval, duration and offsets"},
    {HEAD "t=0 0\r\nr=0 1 1\r\n", 5, 3, "line 5 (r=): invalid repeat interval"},
    {HEAD "t=0 0\r\nr=1 1x 1\r\n", 5, 5, "line 5 (r=): invalid time"},
    {HEAD "t=0 0\r\nz=1\r\n", 5, 4, "line 5 (z=): missing offset"},
    {HEAD "t=0 0\r\nz=1 -x\r\n", 5, 5, "line 5 (z=): invalid offset"},
    {HEAD "t=0 0\r\nz=1 1\r\nr=1 1 1\r\n", 6, 1, "line 6 (r=): r= must follow t= or r="},
    {HEAD "t=0 0\r\nz=1 1\r\nz=1 1\r\n", 6, 1, "line 6 (z=): z= must follow t= or r="},
    {HEAD "t=0 0\r\nk=\r\n", 5, 3, "line 5 (k=): invalid key method"},
    {HEAD "t=0 0\r\na=\r\n", 5, 3, "line 5 (a=): missing attribute name"},
    {HEAD "t=0 0\r\na=:x\r\n", 5, 3, "line 5 (a=): missing attribute name"},
    {HEAD "t=0 0\r\na=a b\r\n", 5, 3, "line 5 (a=): invalid attribute name"},
    {HEAD "t=0 0\r\na=x\r\nk=prompt\r\n", 6, 1, "line 6 (k=): out of order"},
    {HEAD "t=0 0\r\nx=1\r\n", 5, 1, "line 5 (x=): unknown line type"},
    {HEAD "t=0 0\r\nA=1\r\n", 5, 1, "line 5: invalid line type"},
    {HEAD "t=0 0\r\nabc\r\n", 5, 1, "line 5: expected <type>=<value>"},
    {HEAD "t=0 0\r\na =1\r\n", 5, 1, "line 5: expected <type>=<value>"},
    {HEAD "t=0 0\r\n\r\na=x\r\n", 5, 1, "line 5: empty line"},
    {HEAD "t=0 0\r\na=x\ry\r\n", 5, 4, "line 5 (a=): invalid octet 0x0d"},
    {HEAD "t=0 0\r\nm=audio\r\n", 5, 8, "line 5 (m=): missing port"},
    {HEAD "t=0 0\r\nm=audio 1\r\n", 5, 10, "line 5 (m=): missing proto"},
    {HEAD "t=0 0\r\nm=audio 1 RTP/AVP\r\n", 5, 18, "line 5 (m=): missing format"},
    {HEAD "t=0 0\r\nm=audio 65536 RTP/AVP 0\r\n", 5, 9, "line 5 (m=): invalid port"},
    {HEAD "t=0 0\r\nm=audio 1/0 RTP/AVP 0\r\n", 5, 11, "line 5 (m=): invalid number of ports"},
    {HEAD "t=0 0\r\nm=audio 1 RTP//AVP 0\r\n", 5, 11, "line 5 (m=): invalid proto"},
    {HEAD "t=0 0\r\nm=audio 1 RTP/AVP 0 \"\r\n", 5, 21, "line 5 (m=): invalid format"},
    {HEAD "t=0 0\r\nm=audio 1 RTP/AVP 0\r\nt=0 0\r\n", 6, 1,
     "line 6 (t=): not allowed in a media description"},
    {HEAD "t=0 0\r\nm=audio 1 RTP/AVP 0\r\na=x\r\nc=IN IP4 a\r\n", 7, 1,
     "line 7 (c=): out of order"},
    {HEAD "t=0 0\r\nm=audio 1 RTP/AVP 0\r\ni=a\r\ni=b\r\n", 7, 1, "line 7 (i=): repeated"},
    {HEAD "t=0 0\r\nm=audio 1 RTP/AVP 0\r\nc=IN\r\n", 6, 5, "line 6 (c=): missing address type"},
    {HEAD "t=0 0\r\nm=audio 1 RTP/AVP 0\r\nq=1\r\n", 6, 1, "line 6 (q=): unknown line type"},
    /* GB28181's y= and f=: after t=, once each; y= not empty. */
    {HEAD "y=0100000001\r\nt=0 0\r\n", 4, 1, "line 4 (y=): missing t= before this line"},
    {HEAD "t=0 0\r\ny=1\r\nm=video 1 RTP/AVP 96\r\ny=2\r\n", 7, 1, "line 7 (y=): repeated"},
    {HEAD "t=0 0\r\nf=\r\nf=v/2/4///a///\r\n", 6, 1, "line 6 (f=): repeated"},
    {HEAD "t=0 0\r\ny=\r\n", 5, 3, "line 5 (y=): empty value"},
};

static void sdp_errors_name_the_line(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
        const err_case_t *c = &err_cases[i];
        sip_sdp_t *sdp = (sip_sdp_t *)1;
        sip_sdp_error_t err;
        int rc = sip_sdp_parse(&sdp, c->text, strlen(c->text), &err);
        if (rc != SIP_ESDP) fail_msg("case %zu: rc %d, expected SIP_ESDP", i, rc);
        assert_null(sdp);
        if (strcmp(err.reason, c->reason) != 0)
            fail_msg("case %zu: reason \"%s\", expected \"%s\"", i, err.reason, c->reason);
        if (err.line != c->line || err.column != c->column)
            fail_msg("case %zu: at %u:%u, expected %u:%u", i, err.line, err.column, c->line,
                     c->column);
    }
}

/* GB/T 28181-2016 Annex F: a live-stream offer and answer carry y= (SSRC) and f= (format) after
 * the media's attributes; they parse, read back and print where they were. */
static void sdp_gb28181_y_and_f_kept(void **state)
{
    (void)state;
    static const char offer[] = "v=0\r\n"
                                "o=34020000002000000001 0 0 IN IP4 192.0.2.10\r\n"
                                "s=Play\r\n"
                                "c=IN IP4 192.0.2.10\r\n"
                                "t=0 0\r\n"
                                "m=video 30000 RTP/AVP 96 97 98\r\n"
                                "a=recvonly\r\n"
                                "a=rtpmap:96 PS/90000\r\n"
                                "a=rtpmap:97 MPEG4/90000\r\n"
                                "a=rtpmap:98 H264/90000\r\n"
                                "y=0200000001\r\n"
                                "f=\r\n";
    sip_sdp_t *sdp = parse_ok(offer);
    STR_EQ(sip_sdp_get_ssrc(sdp), "0200000001");
    sip_str_t f = sip_sdp_get_format(sdp);
    assert_non_null(f.ptr); /* present, empty: any format */
    assert_int_equal(f.len, 0);
    assert_int_equal(sip_sdp_media_count(sdp), 1);
    char buf[512];
    assert_int_equal(sip_sdp_print(sdp, buf, sizeof(buf)), (int)strlen(offer));
    assert_string_equal(buf, offer);
    sip_sdp_unref(sdp);

    /* A device's answer may put them before the media; they print last. */
    sdp = parse_ok("v=0\r\no=- 0 0 IN IP4 192.0.2.20\r\ns=Play\r\nt=0 0\r\n"
                   "y=0200000001\r\nf=v/2/4/25/1/4096a/1/8/1\r\n"
                   "m=video 15060 RTP/AVP 96\r\nc=IN IP4 192.0.2.20\r\na=sendonly\r\n");
    STR_EQ(sip_sdp_get_ssrc(sdp), "0200000001");
    STR_EQ(sip_sdp_get_format(sdp), "v/2/4/25/1/4096a/1/8/1");
    int n = sip_sdp_print(sdp, buf, sizeof(buf));
    assert_int_equal(n, (int)strlen(buf));
    assert_non_null(strstr(buf, "a=sendonly\r\ny=0200000001\r\nf=v/2/4/25/1/4096a/1/8/1\r\n"));
    sip_sdp_unref(sdp);

    /* Absent: empty views. */
    sdp = parse_ok(rfc8866_example);
    assert_null(sip_sdp_get_ssrc(sdp).ptr);
    assert_null(sip_sdp_get_format(sdp).ptr);
    assert_null(sip_sdp_get_ssrc(NULL).ptr);
    sip_sdp_unref(sdp);
}

static void sdp_parse_edge_cases(void **state)
{
    (void)state;
    sip_sdp_t *sdp = NULL;
    /* NUL inside a value. */
    static const char nul[] = HEAD "t=0 0\r\na=x\0y\r\n";
    sip_sdp_error_t err;
    assert_int_equal(sip_sdp_parse(&sdp, nul, sizeof(nul) - 1, &err), SIP_ESDP);
    assert_string_equal(err.reason, "line 5 (a=): invalid octet 0x00");
    assert_int_equal(err.column, 4);
    assert_int_equal(err.type, 'a');
    /* No line end at all after the last line, trailing blank lines, error pointer NULL. */
    sdp = parse_ok(HEAD "t=0 0\r\na=x");
    STR_EQ(sip_sdp_attr_at(sdp, 0)->name, "x");
    sip_sdp_unref(sdp);
    sdp = parse_ok(HEAD "t=0 0\r\n\r\n\n\r\n");
    sip_sdp_unref(sdp);
    assert_int_equal(sip_sdp_parse(&sdp, "v=1", 3, NULL), SIP_ESDP);
    assert_null(sdp);
    assert_int_equal(sip_sdp_parse(NULL, "v=0", 3, NULL), SIP_EINVAL);
    assert_int_equal(sip_sdp_parse(&sdp, NULL, 3, NULL), SIP_EINVAL);
    /* Extra spaces between fields are tolerated; an unknown nettype keeps its address. */
    sdp = parse_ok("v=0\no=-  1 1 IN IP4 a\ns=x\nc=ATM NSAP 47.0091.8100.0000\nt=0 0\n"
                   "m=audio  1  RTP/AVP  0  8\n");
    STR_EQ(sip_sdp_get_origin(sdp)->sess_id, "1");
    STR_EQ(sip_sdp_get_connection(sdp)->address, "47.0091.8100.0000");
    assert_int_equal(sip_sdp_media_format_count(sip_sdp_media_at(sdp, 0)), 2);
    sip_sdp_unref(sdp);
    /* NULL handles are harmless. */
    assert_null(sip_sdp_get_origin(NULL));
    assert_int_equal(sip_sdp_media_count(NULL), 0);
    assert_null(sip_sdp_media_get_connection(NULL));
    assert_int_equal(sip_sdp_print(NULL, NULL, 0), SIP_EINVAL);
    sip_sdp_unref(NULL);
}

/* ---- round trip ------------------------------------------------------------------------------ */

static void same_conn(const sip_sdp_conn_t *a, const sip_sdp_conn_t *b)
{
    assert_true((a == NULL) == (b == NULL));
    if (!a) return;
    assert_true(sip_str_eq(a->nettype, b->nettype));
    assert_true(sip_str_eq(a->addrtype, b->addrtype));
    assert_true(sip_str_eq(a->address, b->address));
    assert_int_equal(a->ttl, b->ttl);
    assert_int_equal(a->count, b->count);
}

static void same_attr(const sip_sdp_attr_t *a, const sip_sdp_attr_t *b)
{
    assert_true(sip_str_eq(a->name, b->name));
    assert_true(sip_str_eq(a->value, b->value));
    assert_int_equal(a->has_value, b->has_value);
}

static void same_bw(const sip_sdp_bandwidth_t *a, const sip_sdp_bandwidth_t *b)
{
    assert_true(sip_str_eq(a->type, b->type));
    assert_true(a->value == b->value);
}

static void same_sdp(const sip_sdp_t *a, const sip_sdp_t *b)
{
    const sip_sdp_origin_t *oa = sip_sdp_get_origin(a), *ob = sip_sdp_get_origin(b);
    assert_true(sip_str_eq(oa->username, ob->username));
    assert_true(sip_str_eq(oa->sess_id, ob->sess_id));
    assert_true(sip_str_eq(oa->sess_version, ob->sess_version));
    assert_true(sip_str_eq(oa->nettype, ob->nettype));
    assert_true(sip_str_eq(oa->addrtype, ob->addrtype));
    assert_true(sip_str_eq(oa->address, ob->address));
    assert_true(sip_str_eq(sip_sdp_get_session_name(a), sip_sdp_get_session_name(b)));
    assert_true(sip_str_eq(sip_sdp_get_info(a), sip_sdp_get_info(b)));
    assert_true(sip_str_eq(sip_sdp_get_uri(a), sip_sdp_get_uri(b)));
    assert_int_equal(sip_sdp_email_count(a), sip_sdp_email_count(b));
    for (size_t i = 0; i < sip_sdp_email_count(a); i++)
        assert_true(sip_str_eq(sip_sdp_email_at(a, i), sip_sdp_email_at(b, i)));
    assert_int_equal(sip_sdp_phone_count(a), sip_sdp_phone_count(b));
    for (size_t i = 0; i < sip_sdp_phone_count(a); i++)
        assert_true(sip_str_eq(sip_sdp_phone_at(a, i), sip_sdp_phone_at(b, i)));
    same_conn(sip_sdp_get_connection(a), sip_sdp_get_connection(b));
    assert_int_equal(sip_sdp_bandwidth_count(a), sip_sdp_bandwidth_count(b));
    for (size_t i = 0; i < sip_sdp_bandwidth_count(a); i++)
        same_bw(sip_sdp_bandwidth_at(a, i), sip_sdp_bandwidth_at(b, i));
    assert_int_equal(sip_sdp_time_count(a), sip_sdp_time_count(b));
    for (size_t i = 0; i < sip_sdp_time_count(a); i++) {
        const sip_sdp_time_t *ta = sip_sdp_time_at(a, i), *tb = sip_sdp_time_at(b, i);
        assert_true(ta->start == tb->start && ta->stop == tb->stop);
        assert_int_equal(ta->repeat_count, tb->repeat_count);
        for (size_t j = 0; j < ta->repeat_count; j++) {
            const sip_sdp_repeat_t *ra = sip_sdp_repeat_at(ta, j), *rb = sip_sdp_repeat_at(tb, j);
            assert_true(ra->interval == rb->interval && ra->duration == rb->duration);
            assert_int_equal(ra->offset_count, rb->offset_count);
            for (size_t k = 0; k < ra->offset_count; k++)
                assert_true(sip_sdp_repeat_offset_at(ra, k) == sip_sdp_repeat_offset_at(rb, k));
        }
        assert_int_equal(ta->zone_count, tb->zone_count);
        for (size_t j = 0; j < ta->zone_count; j++) {
            assert_true(sip_sdp_zone_at(ta, j)->time == sip_sdp_zone_at(tb, j)->time);
            assert_true(sip_sdp_zone_at(ta, j)->offset == sip_sdp_zone_at(tb, j)->offset);
        }
    }
    assert_true(sip_str_eq(sip_sdp_get_key(a), sip_sdp_get_key(b)));
    assert_int_equal(sip_sdp_attr_count(a), sip_sdp_attr_count(b));
    for (size_t i = 0; i < sip_sdp_attr_count(a); i++)
        same_attr(sip_sdp_attr_at(a, i), sip_sdp_attr_at(b, i));
    assert_int_equal(sip_sdp_media_count(a), sip_sdp_media_count(b));
    for (size_t i = 0; i < sip_sdp_media_count(a); i++) {
        const sip_sdp_media_t *ma = sip_sdp_media_at(a, i), *mb = sip_sdp_media_at(b, i);
        assert_true(sip_str_eq(sip_sdp_media_get_type(ma), sip_sdp_media_get_type(mb)));
        assert_int_equal(sip_sdp_media_get_port(ma), sip_sdp_media_get_port(mb));
        assert_int_equal(sip_sdp_media_get_port_count(ma), sip_sdp_media_get_port_count(mb));
        assert_true(sip_str_eq(sip_sdp_media_get_proto(ma), sip_sdp_media_get_proto(mb)));
        assert_int_equal(sip_sdp_media_format_count(ma), sip_sdp_media_format_count(mb));
        for (size_t j = 0; j < sip_sdp_media_format_count(ma); j++)
            assert_true(sip_str_eq(sip_sdp_media_format_at(ma, j), sip_sdp_media_format_at(mb, j)));
        assert_true(sip_str_eq(sip_sdp_media_get_info(ma), sip_sdp_media_get_info(mb)));
        assert_int_equal(sip_sdp_media_connection_count(ma), sip_sdp_media_connection_count(mb));
        for (size_t j = 0; j < sip_sdp_media_connection_count(ma); j++)
            same_conn(sip_sdp_media_connection_at(ma, j), sip_sdp_media_connection_at(mb, j));
        assert_int_equal(sip_sdp_media_bandwidth_count(ma), sip_sdp_media_bandwidth_count(mb));
        for (size_t j = 0; j < sip_sdp_media_bandwidth_count(ma); j++)
            same_bw(sip_sdp_media_bandwidth_at(ma, j), sip_sdp_media_bandwidth_at(mb, j));
        assert_true(sip_str_eq(sip_sdp_media_get_key(ma), sip_sdp_media_get_key(mb)));
        assert_int_equal(sip_sdp_media_attr_count(ma), sip_sdp_media_attr_count(mb));
        for (size_t j = 0; j < sip_sdp_media_attr_count(ma); j++)
            same_attr(sip_sdp_media_attr_at(ma, j), sip_sdp_media_attr_at(mb, j));
    }
}

static char *print_alloc(const sip_sdp_t *sdp)
{
    int n = sip_sdp_print(sdp, NULL, 0);
    assert_true(n > 0);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(sip_sdp_print(sdp, buf, (size_t)n + 1), n);
    assert_int_equal(strlen(buf), (size_t)n);
    return buf;
}

static void round_trip(const char *text, int exact)
{
    sip_sdp_t *a = parse_ok(text);
    char *wire = print_alloc(a);
    if (exact) assert_string_equal(wire, text);
    sip_sdp_t *b = parse_ok(wire);
    same_sdp(a, b);
    char *wire2 = print_alloc(b);
    assert_string_equal(wire, wire2);
    free(wire);
    free(wire2);
    sip_sdp_unref(a);
    sip_sdp_unref(b);
}

static void sdp_round_trip(void **state)
{
    (void)state;
    round_trip(rfc8866_example, 1);
    round_trip(offer, 1);
    round_trip(answer, 1);
    /* LF in, CRLF out; every line type at both levels. */
    round_trip("v=0\no=- 1 2 IN IP4 224.2.17.12\ns=\ni=info\nu=http://x/\ne=a@b\ne=c@d\np=+1 2\n"
               "c=IN IP4 224.2.17.12/127/3\nb=CT:100\nt=3034423619 3042462419\nr=7d 1h 0 25h\n"
               "z=2882844526 -1h 2898848070 0\nt=0 0\nk=prompt\na=recvonly\na=tool:x y\n"
               "m=audio 49170/2 RTP/AVP 0\ni=voice\nc=IN IP6 FF15::101/3\nc=IN IP6 ::1\n"
               "b=AS:64\nk=clear:k\na=ptime:20\n",
               0);
}

static void sdp_print_truncates_like_snprintf(void **state)
{
    (void)state;
    sip_sdp_t *sdp = parse_ok(rfc8866_example);
    int n = (int)strlen(rfc8866_example);
    char small[10];
    memset(small, 'x', sizeof(small));
    assert_int_equal(sip_sdp_print(sdp, small, sizeof(small)), n);
    assert_string_equal(small, "v=0\r\no=jd");
    char one[1] = {'x'};
    assert_int_equal(sip_sdp_print(sdp, one, 1), n);
    assert_int_equal(one[0], '\0');
    char *exact = malloc((size_t)n);
    assert_int_equal(sip_sdp_print(sdp, exact, (size_t)n), n);
    assert_int_equal(strlen(exact), (size_t)n - 1);
    free(exact);
    sip_sdp_unref(sdp);
}

/* ---- builder --------------------------------------------------------------------------------- */

static void sdp_builder_exact_bytes(void **state)
{
    (void)state;
    sip_sdp_t *sdp = NULL;
    assert_int_equal(sip_sdp_create(&sdp), 0);
    char buf[1024];
    assert_int_equal(sip_sdp_print(sdp, buf, sizeof(buf)), 41);
    assert_string_equal(buf, "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n");

    assert_int_equal(
        sip_sdp_set_origin(sdp, "alice", "2890844526", "2890844527", "IN", "IP6", "2001:db8::1"),
        0);
    assert_int_equal(sip_sdp_set_session_name(sdp, "Talk"), 0);
    assert_int_equal(sip_sdp_set_connection(sdp, "IN", "IP6", "2001:db8::1"), 0);
    assert_int_equal(sip_sdp_set_time(sdp, 3034423619ULL, 0), 0);
    assert_int_equal(sip_sdp_add_attr(sdp, "group", "BUNDLE a v"), 0);
    assert_int_equal(sip_sdp_add_media(sdp, "audio", 49170, "RTP/AVP", "0 101"), 0);
    assert_int_equal(sip_sdp_media_add_attr(sdp, 0, "rtpmap", "0 PCMU/8000"), 0);
    assert_int_equal(sip_sdp_media_add_attr(sdp, 0, "rtpmap", "101 telephone-event/8000"), 0);
    assert_int_equal(sip_sdp_media_add_attr(sdp, 0, "fmtp", "101 0-15"), 0);
    assert_int_equal(sip_sdp_media_add_attr(sdp, 0, "ptime", "20"), 0);
    assert_int_equal(sip_sdp_add_media(sdp, "video", 51372, "RTP/AVP", "96"), 1);
    assert_int_equal(sip_sdp_media_add_attr(sdp, 1, "rtpmap", "96 H264/90000"), 0);
    assert_int_equal(sip_sdp_media_add_attr(sdp, 1, "rtcp-mux", NULL), 0);
    assert_int_equal(sip_sdp_media_set_direction(sdp, 1, SIP_SDP_SENDONLY), 0);
    assert_int_equal(sip_sdp_media_set_connection(sdp, 1, "IN", "IP4", "192.0.2.7"), 0);

    static const char want[] = "v=0\r\n"
                               "o=alice 2890844526 2890844527 IN IP6 2001:db8::1\r\n"
                               "s=Talk\r\n"
                               "c=IN IP6 2001:db8::1\r\n"
                               "t=3034423619 0\r\n"
                               "a=group:BUNDLE a v\r\n"
                               "m=audio 49170 RTP/AVP 0 101\r\n"
                               "a=rtpmap:0 PCMU/8000\r\n"
                               "a=rtpmap:101 telephone-event/8000\r\n"
                               "a=fmtp:101 0-15\r\n"
                               "a=ptime:20\r\n"
                               "m=video 51372 RTP/AVP 96\r\n"
                               "c=IN IP4 192.0.2.7\r\n"
                               "a=rtpmap:96 H264/90000\r\n"
                               "a=rtcp-mux\r\n"
                               "a=sendonly\r\n";
    assert_int_equal(sip_sdp_print(sdp, buf, sizeof(buf)), (int)strlen(want));
    assert_string_equal(buf, want);
    /* The typed view of built content works like a parsed one. */
    const sip_sdp_media_t *a = sip_sdp_media_at(sdp, 0);
    sip_sdp_rtpmap_t rm;
    assert_int_equal(sip_sdp_media_rtpmap(a, 101, &rm), 0);
    STR_EQ(rm.encoding, "telephone-event");
    assert_int_equal(sip_sdp_media_get_ptime(a), 20);
    STR_EQ(sip_sdp_media_get_connection(a)->address, "2001:db8::1");

    /* Edits: views taken before stay valid. */
    const sip_sdp_media_t *v = sip_sdp_media_at(sdp, 1);
    sip_str_t old_proto = sip_sdp_media_get_proto(v);
    sip_str_t old_fmt = sip_sdp_media_format_at(v, 0);
    const sip_sdp_attr_t *old_ptime = sip_sdp_media_attr_get(a, "ptime", 0);
    assert_int_equal(sip_sdp_media_set_port(sdp, 1, 0), 0);
    assert_int_equal(sip_sdp_media_set_direction(sdp, 1, SIP_SDP_INACTIVE), 0);
    assert_int_equal(sip_sdp_media_remove_attr(sdp, 0, "ptime"), 1);
    assert_int_equal(sip_sdp_media_remove_attr(sdp, 0, "ptime"), 0);
    assert_int_equal(sip_sdp_media_remove_attr(sdp, 0, "rtpmap"), 2);
    assert_int_equal(sip_sdp_remove_attr(sdp, "group"), 1);
    assert_int_equal(sip_sdp_set_direction(sdp, SIP_SDP_RECVONLY), 0);
    assert_int_equal(sip_sdp_media_set_connection(sdp, 1, NULL, NULL, NULL), 0);
    STR_EQ(old_proto, "RTP/AVP");
    STR_EQ(old_fmt, "96");
    STR_EQ(old_ptime->value, "20");
    assert_int_equal(sip_sdp_media_get_port(v), 0);
    assert_int_equal(sip_sdp_media_get_direction(v), SIP_SDP_INACTIVE);
    assert_int_equal(sip_sdp_media_get_direction(a), SIP_SDP_RECVONLY);

    static const char want2[] = "v=0\r\n"
                                "o=alice 2890844526 2890844527 IN IP6 2001:db8::1\r\n"
                                "s=Talk\r\n"
                                "c=IN IP6 2001:db8::1\r\n"
                                "t=3034423619 0\r\n"
                                "a=recvonly\r\n"
                                "m=audio 49170 RTP/AVP 0 101\r\n"
                                "a=fmtp:101 0-15\r\n"
                                "m=video 0 RTP/AVP 96\r\n"
                                "a=rtpmap:96 H264/90000\r\n"
                                "a=rtcp-mux\r\n"
                                "a=inactive\r\n";
    assert_int_equal(sip_sdp_print(sdp, buf, sizeof(buf)), (int)strlen(want2));
    assert_string_equal(buf, want2);
    /* Back to the default direction: the session attribute goes away. */
    assert_int_equal(sip_sdp_set_direction(sdp, SIP_SDP_SENDRECV), 0);
    assert_int_equal(sip_sdp_attr_count(sdp), 0);
    /* A parse of the output gives the same session. */
    sip_sdp_t *again = parse_ok(buf);
    assert_int_equal(sip_sdp_attr_count(again), 1);
    sip_sdp_unref(again);
    sip_sdp_unref(sdp);
}

static void sdp_builder_rejects_bad_arguments(void **state)
{
    (void)state;
    sip_sdp_t *sdp = NULL;
    assert_int_equal(sip_sdp_create(&sdp), 0);
    assert_int_equal(sip_sdp_set_origin(sdp, "a b", "1", "1", "IN", "IP4", "h"), SIP_EINVAL);
    assert_int_equal(sip_sdp_set_origin(sdp, "", "1", "1", "IN", "IP4", "h"), SIP_EINVAL);
    assert_int_equal(sip_sdp_set_origin(sdp, "a", "x", "1", "IN", "IP4", "h"), SIP_EINVAL);
    assert_int_equal(sip_sdp_set_origin(sdp, "a", "1", "1", "IN", "IP4", "h\r\n"), SIP_EINVAL);
    assert_int_equal(sip_sdp_set_origin(sdp, NULL, "1", "1", "IN", "IP4", "h"), SIP_EINVAL);
    assert_int_equal(sip_sdp_set_session_name(sdp, "a\r\nb=c"), SIP_EINVAL);
    assert_int_equal(sip_sdp_set_connection(sdp, "IN", "IP7", "h"), SIP_EINVAL);
    assert_int_equal(sip_sdp_set_connection(sdp, "IN", "IP4", "a b"), SIP_EINVAL);
    assert_int_equal(sip_sdp_set_connection(sdp, "IN", "IP4", "224.1.1.1/300"), SIP_EINVAL);
    assert_int_equal(sip_sdp_add_attr(sdp, "a:b", "c"), SIP_EINVAL);
    assert_int_equal(sip_sdp_add_attr(sdp, "", NULL), SIP_EINVAL);
    assert_int_equal(sip_sdp_add_attr(sdp, "x", "a\nb"), SIP_EINVAL);
    assert_int_equal(sip_sdp_add_attr(sdp, NULL, NULL), SIP_EINVAL);
    assert_int_equal(sip_sdp_set_direction(sdp, (sip_sdp_dir_t)7), SIP_EINVAL);
    assert_int_equal(sip_sdp_add_media(sdp, "audio", 70000, "RTP/AVP", "0"), SIP_EINVAL);
    assert_int_equal(sip_sdp_add_media(sdp, "audio", 1, "RTP/AVP", ""), SIP_EINVAL);
    assert_int_equal(sip_sdp_add_media(sdp, "a v", 1, "RTP/AVP", "0"), SIP_EINVAL);
    assert_int_equal(sip_sdp_add_media(sdp, "audio", 1, "RTP AVP", "0"), SIP_EINVAL);
    assert_int_equal(sip_sdp_media_set_port(sdp, 0, 1), SIP_EINVAL);
    assert_int_equal(sip_sdp_media_add_attr(sdp, 0, "x", NULL), SIP_EINVAL);
    assert_int_equal(sip_sdp_media_remove_attr(sdp, 0, "x"), SIP_EINVAL);
    assert_int_equal(sip_sdp_media_set_direction(sdp, 0, SIP_SDP_SENDONLY), SIP_EINVAL);
    assert_int_equal(sip_sdp_media_set_connection(sdp, 0, "IN", "IP4", "h"), SIP_EINVAL);
    assert_int_equal(sip_sdp_add_media(sdp, "audio", 1, "RTP/AVP", "0"), 0);
    assert_int_equal(sip_sdp_media_set_port(sdp, 0, 65536), SIP_EINVAL);
    assert_int_equal(sip_sdp_create(NULL), SIP_EINVAL);
    /* Nothing above changed the session. */
    char buf[256];
    sip_sdp_print(sdp, buf, sizeof(buf));
    assert_string_equal(buf, "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
                             "m=audio 1 RTP/AVP 0\r\n");
    /* Port counts survive a port change. */
    sip_sdp_unref(sdp);
    sdp = parse_ok(HEAD "t=0 0\r\nm=audio 1000/2 RTP/AVP 0 8\r\n");
    sip_sdp_t *ref = sip_sdp_ref(sdp);
    assert_ptr_equal(ref, sdp);
    sip_sdp_unref(ref);
    assert_int_equal(sip_sdp_media_set_port(sdp, 0, 2000), 0);
    sip_sdp_print(sdp, buf, sizeof(buf));
    assert_non_null(strstr(buf, "m=audio 2000/2 RTP/AVP 0 8\r\n"));
    sip_sdp_unref(sdp);
}

/* ---- allocation failures --------------------------------------------------------------------- */

static void sdp_alloc_failure_sweep(void **state)
{
    (void)state;
    /* Long enough that records spill out of the first chunk. */
    char text[16384];
    size_t n = (size_t)snprintf(text, sizeof(text), "%s", offer);
    for (int i = 0; i < 600; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "a=x\r\n");
    int ok = 0;
    for (long fail = 0; fail < 100 && !ok; fail++) {
        sip_sdp_t *sdp = NULL;
        test_alloc_fail_at(fail + 1);
        int rc = sip_sdp_parse(&sdp, text, n, NULL);
        test_alloc_fail_at(0);
        if (rc == 0) {
            ok = 1;
            assert_int_equal(sip_sdp_media_attr_count(sip_sdp_media_at(sdp, 1)), 604);
            assert_true(fail > 1);
            sip_sdp_unref(sdp);
        } else {
            assert_int_equal(rc, SIP_ENOMEM);
            assert_null(sdp);
        }
    }
    assert_true(ok);

    /* The builder: every call either succeeds or fails with SIP_ENOMEM and no change. */
    ok = 0;
    for (long fail = 0; fail < 100 && !ok; fail++) {
        sip_sdp_t *sdp = NULL;
        test_alloc_fail_at(fail + 1);
        int rc = sip_sdp_create(&sdp);
        for (int i = 0; rc == 0 && i < 300; i++)
            rc = sip_sdp_add_attr(sdp, "padding-attribute-name", "with a value to fill chunks");
        if (rc == 0) rc = sip_sdp_add_media(sdp, "audio", 1, "RTP/AVP", "0");
        test_alloc_fail_at(0);
        if (rc == 0) {
            ok = 1;
            assert_int_equal(sip_sdp_attr_count(sdp), 300);
        } else {
            assert_int_equal(rc, SIP_ENOMEM);
        }
        sip_sdp_unref(sdp);
    }
    assert_true(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sdp_rfc8866_example),
        cmocka_unit_test(sdp_offer_answer),
        cmocka_unit_test(sdp_direction_falls_back_to_session),
        cmocka_unit_test(sdp_typed_helpers_reject_bad_values),
        cmocka_unit_test(sdp_times_repeats_zones),
        cmocka_unit_test(sdp_rfc5118_bodies),
        cmocka_unit_test(sdp_errors_name_the_line),
        cmocka_unit_test(sdp_parse_edge_cases),
        cmocka_unit_test(sdp_gb28181_y_and_f_kept),
        cmocka_unit_test(sdp_round_trip),
        cmocka_unit_test(sdp_print_truncates_like_snprintf),
        cmocka_unit_test(sdp_builder_exact_bytes),
        cmocka_unit_test(sdp_builder_rejects_bad_arguments),
        cmocka_unit_test(sdp_alloc_failure_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
