/* SPDX-License-Identifier: MIT */
/* Allocation-failure injection for unit tests (malloc is wrapped at link time). */
#ifndef SIP_TEST_ALLOC_HOOK_H
#define SIP_TEST_ALLOC_HOOK_H

#include <stddef.h>

/* Makes the n-th allocation from now on fail (1 = the next one); 0 disarms. */
void test_alloc_fail_at(long n);
/* 1 when the armed failure has fired since the last test_alloc_fail_at(). */
int test_alloc_failed(void);
/* Number of live allocations made through the wrapped functions. */
long test_alloc_live(void);

#endif
