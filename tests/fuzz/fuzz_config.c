/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the configuration reader (libyaml's document API and the key table):
 * any input loads or is refused with SIP_ECONFIG and a position, never more; a refused input
 * changes nothing; what loads is dumped with sip_config_format() and must load back the same.
 * Seeded with the sample sipd.yaml (tests/fuzz/seeds/fuzz_config). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/config.h"
#include "sip/error.h"

static void fail(const char *what, const uint8_t *data, size_t size)
{
    fprintf(stderr, "fuzz_config: %s for \"%.*s\"\n", what, (int)size, (const char *)data);
    abort();
}

static int same(const sip_config_t *a, const sip_config_t *b)
{
    for (size_t i = 0; sip_config_key_at(i); i++) {
        const char *k = sip_config_key_at(i);
        if (sip_config_count(a, k) != sip_config_count(b, k)) return 0;
        for (size_t j = 0; j < sip_config_count(a, k); j++)
            if (strcmp(sip_config_get(a, k, j), sip_config_get(b, k, j)) != 0) return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sip_config_t *cfg, *def, *back;
    sip_parse_error_t err;
    if (sip_config_create(&cfg) || sip_config_create(&def)) abort();
    /* A heap copy of exactly size bytes, so that ASan sees a read past the end. */
    char *in = malloc(size ? size : 1);
    if (!in) abort();
    if (size) memcpy(in, data, size);
    int rc = sip_config_load_text(cfg, in, size, "fuzz", &err);
    free(in);
    if (rc && rc != SIP_ECONFIG) fail("neither loaded nor refused", data, size);
    if (rc) {
        if (!err.reason[0] || err.code != SIP_ECONFIG)
            fail("a refusal without a reason", data, size);
        if (!same(cfg, def)) fail("a refused input changed the configuration", data, size);
    } else {
        /* The checks only read; they must not crash whatever the values. */
        sip_config_check(cfg, &err);
        int n = sip_config_format(cfg, NULL, 0);
        if (n <= 0) fail("format failed", data, size);
        char *buf = malloc((size_t)n + 1);
        if (!buf) abort();
        if (sip_config_format(cfg, buf, (size_t)n + 1) != n) fail("format changed", data, size);
        if (sip_config_create(&back)) abort();
        if (sip_config_load_text(back, buf, (size_t)n, "dump", &err) != 0) {
            fprintf(stderr, "%s\n%s\n", err.reason, buf);
            fail("the dump does not load", data, size);
        }
        if (!same(cfg, back)) fail("the dump loads as something else", data, size);
        sip_config_unref(back);
        free(buf);
    }
    sip_config_unref(def);
    sip_config_unref(cfg);
    return 0;
}
