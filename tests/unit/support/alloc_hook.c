/* SPDX-License-Identifier: MIT */
/* Allocation-failure injection: the unit tests link with -Wl,--wrap=malloc,calloc,realloc,free so
 * the library's allocations pass through here. State is per test process, which is all a test
 * needs; it is atomic because tests allocate from several threads (sip_loop_post()), and the
 * harness compares the live count after every test. */
#include <stdatomic.h>
#include <stdlib.h>

#include "alloc_hook.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);

static atomic_long countdown;
static atomic_int fired;
static atomic_long live;

void test_alloc_fail_at(long n)
{
    countdown = n;
    fired = 0;
}

int test_alloc_failed(void)
{
    return fired;
}

long test_alloc_live(void)
{
    return live;
}

static int should_fail(void)
{
    long c = atomic_load_explicit(&countdown, memory_order_relaxed);
    while (c > 0) {
        if (atomic_compare_exchange_weak_explicit(&countdown, &c, c - 1, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            if (c - 1 > 0) return 0;
            fired = 1;
            return 1;
        }
    }
    return 0;
}

void *__wrap_malloc(size_t n)
{
    if (should_fail()) return NULL;
    void *p = __real_malloc(n);
    if (p) atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
    return p;
}

void *__wrap_calloc(size_t a, size_t b)
{
    if (should_fail()) return NULL;
    void *p = __real_calloc(a, b);
    if (p) atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
    return p;
}

void *__wrap_realloc(void *p, size_t n)
{
    if (should_fail()) return NULL;
    void *q = __real_realloc(p, n);
    if (q && !p) atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
    return q;
}

void __wrap_free(void *p)
{
    if (p) atomic_fetch_sub_explicit(&live, 1, memory_order_relaxed);
    __real_free(p);
}
