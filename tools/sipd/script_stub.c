/* SPDX-License-Identifier: MIT */
/* The routing-script interface (script.h) in a build without the script hosts: a script is
 * refused with the reason. CMake uses this file only when script_py.c and script_lua.c are
 * absent. */
#include <stdio.h>

#include "script.h"

int sipd_script_open(sipd_script_t **out, sip_server_t *srv, const char *path, char *err,
                     size_t errlen)
{
    (void)srv;
    (void)path;
    *out = NULL;
    snprintf(err, errlen, "scripts not built");
    return SIP_ENOTSUP;
}

int sipd_script_reload(sipd_script_t *s, const char *path, char *err, size_t errlen)
{
    (void)s;
    (void)path;
    snprintf(err, errlen, "scripts not built");
    return SIP_ENOTSUP;
}

int sipd_script_run(sipd_script_t *s)
{
    (void)s;
    return SIP_ENOTSUP;
}

void sipd_script_close(sipd_script_t *s)
{
    (void)s;
}
