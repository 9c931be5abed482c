/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the URI parser: parse, print, re-parse, and check the two are equal.
 * An input "A\nB" also compares the URIs A and B both ways (equality must be symmetric). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/uri.h"

static void fail(const char *what, const uint8_t *data, size_t size)
{
    fprintf(stderr, "fuzz_uri: %s for \"%.*s\"\n", what, (int)size, (const char *)data);
    abort();
}

/* Parses one URI from data; when it parses, checks print/re-parse. in receives the heap copy
 * the views of *a point into (the caller frees it). Returns 1 when the URI parsed. */
static int round_trip(const uint8_t *data, size_t size, sip_uri_t *ua, char **inp)
{
    /* Parse from a heap copy of exactly size bytes so ASan sees any read past the end. */
    char *in = malloc(size ? size : 1);
    if (!in) abort();
    if (size) memcpy(in, data, size);
    *inp = in;

    sip_uri_t a;
    if (sip_uri_parse(&a, in, size) != 0) return 0;
    *ua = a;
    if (!sip_uri_equal(&a, &a)) fail("not equal to itself", data, size);

    /* Printing never lengthens a URI: only the scheme case and port zeros can change. */
    size_t cap = size + 1;
    char *out = malloc(cap), *out2 = malloc(cap);
    if (!out || !out2) abort();
    int n = sip_uri_print(&a, out, cap);
    if (n < 0 || (size_t)n >= cap) fail("print failed", data, size);

    /* The printed form must be a URI equal to the original, and print the same again. */
    sip_uri_t b;
    if (sip_uri_parse(&b, out, (size_t)n) != 0) fail("printed form does not parse", data, size);
    if (!sip_uri_equal(&a, &b) || !sip_uri_equal(&b, &a)) fail("round trip not equal", data, size);
    if (a.scheme != b.scheme || a.host_type != b.host_type || a.port != b.port || a.ttl != b.ttl ||
        a.lr != b.lr)
        fail("round trip changed a field", data, size);
    int n2 = sip_uri_print(&b, out2, cap);
    if (n2 != n || memcmp(out, out2, (size_t)n) != 0) fail("print not idempotent", data, size);

    /* Truncated printing must stay in bounds and agree with the full print. */
    if (n > 0) {
        char small[8];
        size_t k = (size_t)n % sizeof small;
        if (sip_uri_print(&a, small, k) != n) fail("truncated print length", data, size);
        if (k && (strlen(small) != k - 1 || memcmp(small, out, k - 1) != 0))
            fail("truncated print content", data, size);
    }

    /* Every view of a valid URI unescapes. */
    const sip_str_t views[] = {a.user, a.password, a.params, a.headers, a.opaque};
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) {
        int u = sip_uri_unescape(views[i], out2, cap);
        if (u < 0 || (size_t)u > views[i].len) fail("unescape of a parsed view", data, size);
    }
    sip_uri_param(&a, "transport", NULL);
    sip_uri_header(&a, "subject", NULL);

    free(out);
    free(out2);
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    sip_uri_t a, b;
    char *ina = NULL, *inb = NULL;
    if (!nl) {
        round_trip(data, size, &a, &ina);
        free(ina);
        return 0;
    }
    /* A newline is never part of a URI: the input holds two of them to compare. */
    size_t k = (size_t)(nl - data);
    int oka = round_trip(data, k, &a, &ina);
    int okb = round_trip(nl + 1, size - k - 1, &b, &inb);
    if (oka && okb && sip_uri_equal(&a, &b) != sip_uri_equal(&b, &a))
        fail("equality not symmetric", data, size);
    free(ina);
    free(inb);
    return 0;
}
