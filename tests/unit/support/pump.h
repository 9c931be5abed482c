/* SPDX-License-Identifier: MIT */
/* Running a loop in tests until something happened, with a deadline. */
#ifndef SIP_TEST_PUMP_H
#define SIP_TEST_PUMP_H

#include "sip/loop.h"

/* Runs the loop until *flag reaches want or about ms milliseconds pass; 1 when it did. */
int test_pump_until(sip_loop_t *loop, const int *flag, int want, int ms);
/* Runs the loop for about ms milliseconds. */
void test_pump(sip_loop_t *loop, int ms);

#endif
