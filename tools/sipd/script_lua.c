/* SPDX-License-Identifier: MIT */
/* The Lua host of sipd: Lua 5.4 embedded, the script's route(req) routing every request in a
 * coroutine of its own through the libsip Lua layer (libsip/_sipd.lua does the Lua side).
 *
 * The SWIG wrapper of the Lua core is compiled into sipd and linked with the shared libsip
 * sipd uses (the standalone module links the static one: loading it here would put two copies
 * of libsip, with two sets of globals, in one process), and preloaded as "libsip_core". Lua's
 * waits (sip.sleep, a lookup, a relay's outcome) are the C loop's own timers and callbacks: no
 * second loop to drive. */
#ifdef SIPD_HAVE_LUA

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "script_int.h"

/* The generated wrapper's (bindings/lua/lua.i). */
int luaopen_libsip_core(lua_State *L);
int sipbind_lua_push_server(lua_State *L, sip_server_t *srv);

typedef struct lua_script {
    sipd_script_t base;
    lua_State *L;
    int host; /* the host table (libsip._sipd), in the registry */
} lua_script_t;

/* Where the libsip/ Lua modules are: $SIPD_LUA_PATH, else the build tree's when this sipd is
 * the build tree's, else the installed ones relative to the executable. */
static void lua_layer_dir(char *buf, size_t size)
{
    sipd_script_layer_dir("SIPD_LUA_PATH", SIPD_LUA_BUILD_DIR, SIPD_LUA_INSTALL_REL, buf, size);
}

/* Message handler: the error and a traceback. */
static int msgh(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Logs the error on top of the stack (with its traceback) and puts its first line in err;
 * pops it. */
static void lua_fail(lua_script_t *s, const char *what, char *err, size_t errlen)
{
    const char *msg = lua_tostring(s->L, -1);
    sip_loop_t *loop = s->base.srv != NULL ? sip_server_get_loop(s->base.srv) : NULL;
    size_t n;

    if (msg == NULL) msg = "(no error message)";
    if (loop != NULL)
        sip_log_write(loop, SIP_LOG_ERROR, "script", msg);
    else
        fprintf(stderr, "sipd: %s\n", msg);
    snprintf(err, errlen, "%s: %s", what, msg);
    n = strcspn(err, "\n");
    err[n] = '\0';
    lua_pop(s->L, 1);
}

/* Calls host[method](host, path) protected. */
static int host_call(lua_script_t *s, const char *method, const char *path, char *err,
                     size_t errlen)
{
    lua_State *L = s->L;
    int base = lua_gettop(L);

    lua_pushcfunction(L, msgh);
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->host);
    lua_getfield(L, -1, method);
    lua_insert(L, -2);
    if (path != NULL) lua_pushstring(L, path);
    if (lua_pcall(L, path != NULL ? 2 : 1, 0, base + 1) != LUA_OK) {
        lua_fail(s, path != NULL ? path : method, err, errlen);
        lua_settop(L, base);
        return SIP_ECONFIG;
    }
    lua_settop(L, base);
    return 0;
}

static int lua_reload(sipd_script_t *base, const char *path, char *err, size_t errlen);
static int lua_run(sipd_script_t *base);
static void lua_close_host(sipd_script_t *base);

static const sipd_script_ops_t lua_ops = {"lua", lua_reload, lua_run, lua_close_host};

int sipd_script_lua_open(sipd_script_t **out, sip_server_t *srv, const char *path, char *err,
                         size_t errlen)
{
    lua_script_t *s;
    lua_State *L;
    char dir[PATH_MAX];

    *out = NULL;
    if (sip_server_get_loop(srv) == NULL) {
        snprintf(err, errlen, "the server is closed");
        return SIP_ECLOSED;
    }
    s = (lua_script_t *)calloc(1, sizeof(*s));
    L = s != NULL ? luaL_newstate() : NULL;
    if (L == NULL) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return SIP_ENOMEM;
    }
    s->base.ops = &lua_ops;
    s->base.srv = sip_server_ref(srv);
    s->L = L;
    s->host = LUA_NOREF;
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_libsip_core);
    lua_setfield(L, -2, "libsip_core");
    lua_pop(L, 1);
    /* package.path: the layer first, then what LUA_PATH or the defaults say. */
    lua_layer_dir(dir, sizeof(dir));
    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", dir, dir);
    lua_getfield(L, -2, "path");
    lua_concat(L, 2);
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);

    lua_pushcfunction(L, msgh);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "libsip._sipd");
    if (lua_pcall(L, 1, 1, 1) != LUA_OK) {
        lua_fail(s, "require \"libsip\"", err, errlen);
        lua_close_host(&s->base);
        return SIP_ECONFIG;
    }
    lua_getfield(L, -1, "open");
    sipbind_lua_push_server(L, srv);
    lua_pushstring(L, path);
    if (lua_pcall(L, 2, 1, 1) != LUA_OK) {
        lua_fail(s, path, err, errlen);
        lua_close_host(&s->base);
        return SIP_ECONFIG;
    }
    s->host = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_settop(L, 0);
    *out = &s->base;
    return 0;
}

static int lua_reload(sipd_script_t *base, const char *path, char *err, size_t errlen)
{
    return host_call((lua_script_t *)base, "reload", path, err, errlen);
}

static int lua_run(sipd_script_t *base)
{
    return sip_loop_run(sip_server_get_loop(base->srv));
}

static void lua_close_host(sipd_script_t *base)
{
    lua_script_t *s = (lua_script_t *)base;
    char err[256];

    if (s->host != LUA_NOREF) host_call(s, "close", NULL, err, sizeof(err));
    /* Every object of the layer drops its reference here (__gc). */
    lua_close(s->L);
    sip_server_unref(base->srv);
    free(s);
}

#else /* !SIPD_HAVE_LUA */

#include <stdio.h>

#include "script_int.h"

int sipd_script_lua_open(sipd_script_t **out, sip_server_t *srv, const char *path, char *err,
                         size_t errlen)
{
    (void)srv;
    *out = NULL;
    snprintf(err, errlen, "%s: this sipd was built without Lua (LIBSIP_LUA=OFF)", path);
    return SIP_ENOTSUP;
}

#endif
