/* SPDX-License-Identifier: MIT */
/* The one cmocka harness of the unit tests: every test must end with the allocations and the
 * libsip objects it started with (so none leak), and the whole group with none at all. Every
 * tests/unit/test_*.c runs under it (see the end of this file). */
#ifndef SIP_TEST_HARNESS_H
#define SIP_TEST_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/*
 * Runs a group as cmocka_run_group_tests() does, each test inside the harness: before the test's
 * own setup it disarms allocation failures and records the live allocations (alloc_hook.h) and
 * objects (sip_live_count()); after the test's own teardown it fails the test when either differs
 * (a leak, or a double free). After the group's teardown every count must be zero, else the
 * group fails. Tests keep their own setup, teardown and initial state.
 */
#define test_run_group(tests, group_setup, group_teardown)                                         \
    test__run_group(#tests, (tests), sizeof(tests) / sizeof((tests)[0]), (group_setup),            \
                    (group_teardown))

int test__run_group(const char *name, const struct CMUnitTest *tests, size_t n,
                    CMFixtureFunction group_setup, CMFixtureFunction group_teardown);

/* Every unit test gets the harness without asking: tests/CMakeLists.txt includes this header
 * before each file's own code (-include), so the cmocka.h above is the one the file sees (its
 * include guard makes the file's own #include <cmocka.h> a no-op) and the group runner it calls
 * is this one. A new test file needs nothing to be leak-checked. */
#undef cmocka_run_group_tests
#define cmocka_run_group_tests(tests, group_setup, group_teardown)                                 \
    test_run_group(tests, group_setup, group_teardown)
#undef cmocka_run_group_tests_name
#define cmocka_run_group_tests_name(name, tests, group_setup, group_teardown)                      \
    test__run_group((name), (tests), sizeof(tests) / sizeof((tests)[0]), (group_setup),            \
                    (group_teardown))

/* Writes what is live now beyond the baseline (allocations and each kind of object) into buf;
 * returns 1 when anything differs. Baseline NULL: against zero. */
typedef struct test_counts {
    long allocs;
    long objects[48];
} test_counts_t;

void test_counts_now(test_counts_t *c);
int test_counts_differ(const test_counts_t *base, char *buf, size_t size);

#endif
