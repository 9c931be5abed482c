/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the SDP parser: parse; what parses must print and parse back the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sdp.h"

static void check(int cond)
{
    if (!cond) abort();
}

static void same_fields(const sip_sdp_t *a, const sip_sdp_t *b)
{
    check(sip_sdp_media_count(a) == sip_sdp_media_count(b));
    check(sip_sdp_attr_count(a) == sip_sdp_attr_count(b));
    check(sip_sdp_time_count(a) == sip_sdp_time_count(b));
    check(sip_str_eq(sip_sdp_get_session_name(a), sip_sdp_get_session_name(b)));
    for (size_t i = 0; i < sip_sdp_media_count(a); i++) {
        const sip_sdp_media_t *ma = sip_sdp_media_at(a, i), *mb = sip_sdp_media_at(b, i);
        check(sip_sdp_media_get_port(ma) == sip_sdp_media_get_port(mb));
        check(sip_sdp_media_format_count(ma) == sip_sdp_media_format_count(mb));
        for (size_t j = 0; j < sip_sdp_media_format_count(ma); j++)
            check(sip_str_eq(sip_sdp_media_format_at(ma, j), sip_sdp_media_format_at(mb, j)));
        check(sip_sdp_media_attr_count(ma) == sip_sdp_media_attr_count(mb));
        check(sip_sdp_media_get_direction(ma) == sip_sdp_media_get_direction(mb));
        check(sip_sdp_media_get_ptime(ma) == sip_sdp_media_get_ptime(mb));
    }
}

/* Walks every typed getter so a bad view would be touched under the sanitizers. */
static size_t touch(const sip_sdp_t *sdp)
{
    size_t sum = 0;
    const sip_sdp_origin_t *o = sip_sdp_get_origin(sdp);
    sum += o->username.len + o->address.len;
    const sip_sdp_conn_t *c = sip_sdp_get_connection(sdp);
    if (c) sum += c->address.len + c->count;
    for (size_t i = 0; i < sip_sdp_time_count(sdp); i++) {
        const sip_sdp_time_t *t = sip_sdp_time_at(sdp, i);
        for (size_t j = 0; j < t->repeat_count; j++) {
            const sip_sdp_repeat_t *r = sip_sdp_repeat_at(t, j);
            for (size_t k = 0; k < r->offset_count; k++)
                sum += (size_t)sip_sdp_repeat_offset_at(r, k);
        }
        for (size_t j = 0; j < t->zone_count; j++)
            sum += (size_t)sip_sdp_zone_at(t, j)->offset;
    }
    for (size_t i = 0; i < sip_sdp_media_count(sdp); i++) {
        const sip_sdp_media_t *m = sip_sdp_media_at(sdp, i);
        const sip_sdp_conn_t *mc = sip_sdp_media_get_connection(m);
        if (mc) sum += mc->address.len;
        for (size_t j = 0; j < sip_sdp_media_format_count(m); j++) {
            sip_sdp_rtpmap_t rm;
            sip_sdp_fmtp_t fm;
            char fmt[16];
            sip_str_t f = sip_sdp_media_format_at(m, j);
            if (sip_sdp_media_rtpmap(m, (unsigned)j, &rm) == 0) sum += rm.encoding.len;
            if (sip_str_copy(f, fmt, sizeof(fmt)) < (int)sizeof(fmt) &&
                sip_sdp_media_fmtp(m, fmt, &fm) == 0)
                sum += fm.params.len;
        }
        sum += (size_t)sip_sdp_media_get_maxptime(m);
    }
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sip_sdp_t *a = NULL, *b = NULL;
    if (sip_sdp_parse(&a, (const char *)data, size, NULL) != 0) return 0;
    volatile size_t sink = touch(a);
    (void)sink;
    int n = sip_sdp_print(a, NULL, 0);
    check(n > 0);
    char *buf = malloc((size_t)n + 1);
    if (!buf) abort();
    check(sip_sdp_print(a, buf, (size_t)n + 1) == n);
    sip_sdp_error_t err;
    check(sip_sdp_parse(&b, buf, (size_t)n, &err) == 0);
    same_fields(a, b);
    /* Printing is a fixed point after one round. */
    char *buf2 = malloc((size_t)n + 1);
    if (!buf2) abort();
    check(sip_sdp_print(b, buf2, (size_t)n + 1) == n);
    check(memcmp(buf, buf2, (size_t)n) == 0);
    free(buf2);
    free(buf);
    sip_sdp_unref(b);
    sip_sdp_unref(a);
    return 0;
}
