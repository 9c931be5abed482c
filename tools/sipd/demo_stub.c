/* SPDX-License-Identifier: MIT */
/* The demo interface (demo.h) in a build without demo.c: --demo is refused. CMake uses this
 * file only when demo.c is absent. */
#include <stdio.h>

#include "demo.h"

int sipd_demo_start(sipd_demo_t **demo, sip_server_t *srv, FILE *out, sipd_demo_done_cb done,
                    void *user)
{
    (void)srv;
    (void)out;
    (void)done;
    (void)user;
    *demo = NULL;
    fprintf(stderr, "sipd: --demo: the demo is not built\n");
    return SIP_ENOTSUP;
}

void sipd_demo_close(sipd_demo_t *demo)
{
    (void)demo;
}
