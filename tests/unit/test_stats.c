/* SPDX-License-Identifier: MIT */
/* Counters per loop (sip/stats.h): what each is, adding, the Prometheus text, and what a
 * loopback exchange counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "pump.h"
#include "sip/sip.h"

static void stats_info_names_every_counter(void **state)
{
    (void)state;
    sip_stat_info_t in;
    for (int i = 0; i < SIP_STAT__COUNT; i++) {
        assert_int_equal(sip_stat_info((sip_stat_id_t)i, &in), 0);
        assert_non_null(in.name);
        assert_non_null(in.labels);
        assert_non_null(in.help);
        assert_true(strncmp(in.name, "sip_", 4) == 0);
        /* Counters end in _total, gauges do not (Prometheus naming). */
        size_t n = strlen(in.name);
        int total = n > 6 && strcmp(in.name + n - 6, "_total") == 0;
        assert_int_equal(total, in.type == SIP_STAT_COUNTER);
    }
    assert_int_equal(sip_stat_info(SIP_STAT_RX_REQ_BYE, &in), 0);
    assert_string_equal(in.name, "sip_requests_received_total");
    assert_string_equal(in.labels, "method=\"BYE\"");
    assert_int_equal(sip_stat_info(SIP_STAT__COUNT, &in), SIP_EINVAL);
    assert_int_equal(sip_stat_info((sip_stat_id_t)-1, &in), SIP_EINVAL);
    assert_int_equal(sip_stat_info(SIP_STAT_BLOCKED, NULL), SIP_EINVAL);
}

static void stats_add_and_get_per_loop(void **state)
{
    (void)state;
    sip_loop_t *a, *b;
    assert_int_equal(sip_loop_create(&a), 0);
    assert_int_equal(sip_loop_create(&b), 0);
    for (int i = 0; i < SIP_STAT__COUNT; i++)
        assert_int_equal(sip_stat_get(a, (sip_stat_id_t)i), 0);
    sip_stat_add(a, SIP_STAT_BLOCKED, 3);
    sip_stat_add(a, SIP_STAT_BLOCKED_SOURCES, 2);
    sip_stat_add(a, SIP_STAT_BLOCKED_SOURCES, -1);
    assert_int_equal(sip_stat_get(a, SIP_STAT_BLOCKED), 3);
    assert_int_equal(sip_stat_get(a, SIP_STAT_BLOCKED_SOURCES), 1);
    /* Two loops count apart. */
    assert_int_equal(sip_stat_get(b, SIP_STAT_BLOCKED), 0);
    /* Bad input is ignored or answers 0. */
    sip_stat_add(NULL, SIP_STAT_BLOCKED, 1);
    sip_stat_add(a, SIP_STAT__COUNT, 1);
    sip_stat_add(a, (sip_stat_id_t)-1, 1);
    assert_int_equal(sip_stat_get(NULL, SIP_STAT_BLOCKED), 0);
    assert_int_equal(sip_stat_get(a, SIP_STAT__COUNT), 0);
    sip_loop_unref(a);
    sip_loop_unref(b);
}

/* Checks that text is Prometheus text format 0.0.4 as sip_stats_format writes it: every line a
 * comment (HELP or TYPE, each once per family, before the family's series) or a series
 * "name{labels} value" whose family was declared; returns the number of series. */
static int check_exposition(const char *text)
{
    char families[64][64];
    int nfam = 0, nseries = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        char line[256];
        size_t len = (size_t)(nl - p);
        assert_true(len < sizeof(line));
        memcpy(line, p, len);
        line[len] = '\0';
        p = nl + 1;
        char name[64], kind[32];
        if (strncmp(line, "# HELP ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%63s", name), 1);
            for (int i = 0; i < nfam; i++)
                if (strcmp(families[i], name) == 0) fail_msg("HELP twice for %s", name);
            assert_true(nfam < 64);
            strcpy(families[nfam++], name);
            /* TYPE must follow at once. */
            assert_int_equal(strncmp(p, "# TYPE ", 7), 0);
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%63s %31s", name, kind), 2);
            assert_true(nfam > 0);
            assert_string_equal(families[nfam - 1], name);
            assert_true(strcmp(kind, "counter") == 0 || strcmp(kind, "gauge") == 0);
            continue;
        }
        assert_true(line[0] != '#');
        /* name, optional {labels}, a space, an integer. */
        size_t n = strspn(line, "abcdefghijklmnopqrstuvwxyz_");
        assert_true(n > 0 && n < sizeof(name));
        memcpy(name, line, n);
        name[n] = '\0';
        assert_true(nfam > 0);
        assert_string_equal(families[nfam - 1], name);
        const char *q = line + n;
        if (*q == '{') {
            const char *end = strchr(q, '}');
            assert_non_null(end);
            /* label="value" pairs */
            assert_non_null(memchr(q, '=', (size_t)(end - q)));
            assert_int_equal(q[1 + strspn(q + 1, "abcdefghijklmnopqrstuvwxyz_")], '=');
            q = end + 1;
        }
        assert_int_equal(*q, ' ');
        q++;
        if (*q == '-') q++;
        assert_true(*q >= '0' && *q <= '9');
        assert_int_equal(q[strspn(q, "0123456789")], '\0');
        nseries++;
    }
    return nseries;
}

static void stats_format_is_prometheus_text(void **state)
{
    (void)state;
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    sip_stat_add(loop, SIP_STAT_RX_REQ_INVITE, 12345);
    sip_stat_add(loop, SIP_STAT_CONN_ACTIVE, -2); /* an unbalanced gauge prints signed */
    int need = sip_stats_format(loop, NULL, 0);
    assert_true(need > 0);
    char *buf = malloc((size_t)need + 1);
    assert_non_null(buf);
    assert_int_equal(sip_stats_format(loop, buf, (size_t)need + 1), need);
    assert_int_equal(strlen(buf), need);
    assert_int_equal(check_exposition(buf), SIP_STAT__COUNT);
    assert_non_null(strstr(buf, "# HELP sip_requests_received_total SIP requests received, by "
                                "method\n# TYPE sip_requests_received_total counter\n"
                                "sip_requests_received_total{method=\"INVITE\"} 12345\n"));
    assert_non_null(strstr(buf, "\nsip_connections -2\n"));
    assert_non_null(strstr(buf, "# TYPE sip_connections gauge\n"));
    assert_non_null(strstr(buf, "\nsip_requests_sent_total 0\n"));
    /* Too small: the size needed, and no overrun. */
    char small[16];
    memset(small, 'x', sizeof(small));
    assert_int_equal(sip_stats_format(loop, small, 10), need);
    assert_int_equal(small[10], 'x');
    assert_int_equal(sip_stats_format(loop, buf, (size_t)need), need); /* no room for the NUL */
    assert_int_equal(sip_stats_format(NULL, buf, 10), SIP_EINVAL);
    assert_int_equal(sip_stats_format(loop, NULL, 10), SIP_EINVAL);
    free(buf);
    sip_loop_unref(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stats_info_names_every_counter),
        cmocka_unit_test(stats_add_and_get_per_loop),
        cmocka_unit_test(stats_format_is_prometheus_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
