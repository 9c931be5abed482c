/* SPDX-License-Identifier: MIT */
/* The routing-script hosts of sipd: a Python (script_py.c, CPython embedded) or Lua
 * (script_lua.c, Lua 5.4 embedded) program whose module-level route(req) routes every request
 * through sip_server_set_route(). main.c calls only these functions. */
#ifndef SIPD_SCRIPT_H
#define SIPD_SCRIPT_H

#include <stddef.h>

#include <sip/sip.h>

typedef struct sipd_script sipd_script_t;

/**
 * Loads the script at path (".py" or ".lua" picks the host), runs its module level and makes
 * its route(req) the server's routing. A script that does not load (syntax error, exception at
 * module level, no route function) is refused.
 * @param err  the reason with the traceback's last line, for the log
 * @return 0, or a negative code with err filled.
 */
int sipd_script_open(sipd_script_t **out, sip_server_t *srv, const char *path, char *err,
                     size_t errlen);
/**
 * Loads path again as a new module instance; on success it routes new requests and the old
 * instance finishes the requests it took; on failure the old one keeps routing.
 * @return 0, or a negative code with err filled.
 */
int sipd_script_reload(sipd_script_t *s, const char *path, char *err, size_t errlen);
/**
 * Runs the server's loop until sip_loop_stop() (the host may need to drive it, as asyncio
 * does for Python). @return as sip_loop_run().
 */
int sipd_script_run(sipd_script_t *s);
/** Unloads the script (the server's routing goes back to the default) and frees the host. */
void sipd_script_close(sipd_script_t *s);

#endif
