/* SPDX-License-Identifier: MIT */
/* Running a loop in tests until something happened, with a deadline. */
#include <unistd.h>

#include "pump.h"

int test_pump_until(sip_loop_t *loop, const int *flag, int want, int ms)
{
    for (int i = 0; i < ms; i++) {
        sip_loop_run_once(loop, 0);
        if (*flag >= want) return 1;
        usleep(1000);
    }
    return *flag >= want;
}

void test_pump(sip_loop_t *loop, int ms)
{
    int never = 0;
    test_pump_until(loop, &never, 1, ms);
}
