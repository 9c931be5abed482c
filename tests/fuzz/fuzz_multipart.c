/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for multipart bodies: the first line is the Content-Type, the rest the body.
 * What parses must print and parse back to the same parts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip/multipart.h"

static void check(int cond)
{
    if (!cond) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    const char *nl = memchr(p, '\n', size);
    if (!nl) return 0;
    size_t ct_len = (size_t)(nl - p);
    const char *body = nl + 1;
    size_t blen = size - ct_len - 1;
    sip_multipart_t *mp = NULL;
    if (sip_multipart_parse(&mp, p, ct_len, body, blen) != 0) {
        check(mp == NULL);
        return 0;
    }
    size_t n = sip_multipart_count(mp);
    for (size_t i = 0; i < n; i++) {
        const sip_multipart_part_t *part = sip_multipart_part_at(mp, i);
        sip_str_t b = sip_multipart_part_get_body(part);
        check(b.len == 0 || (b.ptr != NULL));
        for (size_t j = 0; j < sip_multipart_part_header_count(part); j++) {
            sip_str_t hn, hv;
            check(sip_multipart_part_header_at(part, j, &hn, &hv) == 0);
        }
    }
    int len = sip_multipart_print(mp, NULL, 0);
    check(len >= 0);
    char *out = malloc((size_t)len + 1);
    check(out != NULL);
    check(sip_multipart_print(mp, out, (size_t)len + 1) == len);
    char ct[512];
    int cl = sip_multipart_print_content_type(mp, ct, sizeof(ct));
    if (cl > 0 && (size_t)cl < sizeof(ct)) {
        sip_multipart_t *again = NULL;
        check(sip_multipart_parse(&again, ct, (size_t)cl, out, (size_t)len) == 0);
        check(sip_multipart_count(again) == n);
        for (size_t i = 0; i < n; i++)
            check(sip_str_eq(sip_multipart_part_get_body(sip_multipart_part_at(mp, i)),
                             sip_multipart_part_get_body(sip_multipart_part_at(again, i))));
        sip_multipart_unref(again);
    }
    free(out);
    sip_multipart_unref(mp);
    return 0;
}
