/* SPDX-License-Identifier: MIT */
/* The one cmocka harness of the unit tests (see harness.h). */
#include <stdio.h>
#include <string.h>

#include "alloc_hook.h"
#include "harness.h"
#include "sip/live.h"

_Static_assert(SIP_LIVE__COUNT <= sizeof(((test_counts_t *)0)->objects) / sizeof(long),
               "test_counts_t.objects holds every kind");

/* What the harness wraps of each test. Static: the harness's own memory must not count. */
typedef struct entry {
    CMFixtureFunction setup, teardown;
    void *state;
} entry_t;

enum { MAX_TESTS = 1024 };
static struct CMUnitTest wrapped[MAX_TESTS];
static entry_t entries[MAX_TESTS];
static const entry_t *current;
static test_counts_t before;

void test_counts_now(test_counts_t *c)
{
    memset(c, 0, sizeof(*c));
    c->allocs = test_alloc_live();
    for (int k = 0; k < SIP_LIVE__COUNT; k++)
        c->objects[k] = sip_live_count((sip_live_kind_t)k);
}

int test_counts_differ(const test_counts_t *base, char *buf, size_t size)
{
    static const test_counts_t zero;
    test_counts_t now;
    if (!base) base = &zero;
    test_counts_now(&now);
    size_t used = 0;
    int differ = 0;
    buf[0] = '\0';
    if (now.allocs != base->allocs) {
        used += (size_t)snprintf(buf + used, size - used, " %+ld allocations",
                                 now.allocs - base->allocs);
        differ = 1;
    }
    for (int k = 0; k < SIP_LIVE__COUNT && used < size; k++) {
        if (now.objects[k] == base->objects[k]) continue;
        used +=
            (size_t)snprintf(buf + used, size - used, " %+ld %s", now.objects[k] - base->objects[k],
                             sip_live_name((sip_live_kind_t)k));
        differ = 1;
    }
    return differ;
}

static int harness_setup(void **state)
{
    current = *state;
    test_alloc_fail_at(0);
    test_counts_now(&before);
    *state = current->state;
    return current->setup ? current->setup(state) : 0;
}

static int harness_teardown(void **state)
{
    int rc = current->teardown ? current->teardown(state) : 0;
    test_alloc_fail_at(0);
    char what[512];
    if (test_counts_differ(&before, what, sizeof(what)))
        fail_msg("the test left live:%s (each test frees what it made)", what);
    return rc;
}

int test__run_group(const char *name, const struct CMUnitTest *tests, size_t n,
                    CMFixtureFunction group_setup, CMFixtureFunction group_teardown)
{
    if (n > MAX_TESTS) {
        fprintf(stderr, "%s: more than %d tests\n", name, MAX_TESTS);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        entries[i] = (entry_t){tests[i].setup_func, tests[i].teardown_func, tests[i].initial_state};
        wrapped[i] = tests[i];
        wrapped[i].setup_func = harness_setup;
        wrapped[i].teardown_func = harness_teardown;
        wrapped[i].initial_state = &entries[i];
    }
    int failed = _cmocka_run_group_tests(name, wrapped, n, group_setup, group_teardown);
    char what[512];
    if (test_counts_differ(NULL, what, sizeof(what))) {
        fprintf(stderr, "[  FAILED  ] %s: live after the group:%s\n", name, what);
        failed++;
    }
    return failed;
}
