/* SPDX-License-Identifier: MIT */
/* Log lines through a loop's logger. */
#include <stdarg.h>
#include <stdio.h>

#include "loop/loop_int.h"

void sip_log_write(sip_loop_t *loop, sip_log_level_t level, const char *module, const char *text)
{
    if (!sip__loop_log_enabled(loop, level) || !text) return;
    sip__loop_deliver_log(loop, level, module ? module : "app", text);
}

void sip_log(sip_loop_t *loop, sip_log_level_t level, const char *module, const char *fmt, ...)
{
    if (!sip__loop_log_enabled(loop, level) || !fmt) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    sip__loop_deliver_log(loop, level, module ? module : "app", buf);
}
