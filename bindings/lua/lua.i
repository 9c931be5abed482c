/* SPDX-License-Identifier: MIT */
/* Lua 5.4 typemaps and the callback invoker (sipbind_invoke) of the flat core `libsip_core`. */

/*
 * The generated module is `libsip_core` (luaopen_libsip_core): a flat table with one function per
 * C function, following the conventions at the top of ../libsip.i. The idiomatic layer is the
 * libsip/ package (`require "libsip"`, libsip/init.lua and a module per concern), which requires
 * this module.
 *
 * Lua-only additions to the core table:
 *   set_error_hook(fn | nil)  where errors raised inside callbacks go: fn(message_with_traceback).
 *                             Without a hook they go to the loop's logger (sip_log_write, level
 *                             SIP_LOG_ERROR, module "lua") when the callback knows its loop, else
 *                             to stderr.
 *   bindings_tables(set | nil)  the bindings of a sip_bindings_t as plain tables (one field per
 *                             member of sip_binding_t), for a location lookup's answer.
 *
 * A callback gets an opaque handle as a light userdata (lsip_push_handle), which the core's
 * functions take as a pointer object.
 *
 * Callbacks run on the main Lua thread (LUA_RIDX_MAINTHREAD), never on the coroutine that
 * registered them or that called sip_loop_run(), and always under lua_pcall with a message
 * handler that appends a traceback: a Lua error never unwinds through libsip's C frames.
 */

%module libsip_core

%{
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip.h"

/* One callback registration: the Lua function lives in the registry until user_free. */
typedef struct lsip_cb {
    lua_State *L;     /* the main thread of the state that registered it */
    int ref;          /* the function, in LUA_REGISTRYINDEX */
    sip_loop_t *loop; /* where errors are logged when the callback cannot find its loop */
} lsip_cb_t;

static const char lsip_hook_key[] = "libsip_core.error_hook";

static lua_State *lsip_main_thread(lua_State *L)
{
    lua_State *main;
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    main = lua_tothread(L, -1);
    lua_pop(L, 1);
    return main;
}

/* Message handler of every callback call: the error text plus a traceback of the callback. */
static int lsip_msgh(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
        else
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Protected part of lsip_report(): calls the hook, if any, with the message (index 1).
 * Returns true when a hook took it. */
static int lsip_report_p(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, lsip_hook_key);
    if (!lua_isfunction(L, -1)) {
        lua_pushboolean(L, 0);
        return 1;
    }
    lua_pushvalue(L, 1);
    lua_call(L, 1, 0);
    lua_pushboolean(L, 1);
    return 1;
}

/* Reports an error of a callback; the message (a string: the message handler made it one) is on
 * top of L's stack and is popped. The hook runs protected too: nothing here can raise. */
static void lsip_report(lua_State *L, sip_loop_t *loop)
{
    const char *msg = lua_tostring(L, -1);
    int top = lua_gettop(L);
    if (msg == NULL) msg = "(error object is not a string)";
    lua_pushcfunction(L, lsip_report_p);
    lua_pushvalue(L, top);
    if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
        if (lua_toboolean(L, -1)) {
            lua_settop(L, top - 1);
            return;
        }
    } else {
        fprintf(stderr, "libsip lua: error hook failed: %s\n", lua_tostring(L, -1));
    }
    if (loop != NULL)
        sip_log_write(loop, SIP_LOG_ERROR, "lua", msg);
    else
        fprintf(stderr, "libsip lua: %s\n", msg);
    lua_settop(L, top - 1);
}

/* Registers the function at index idx (nil gives NULL: no callback). Raises before anything is
 * registered, so a failure here leaks nothing. */
static lsip_cb_t *lsip_cb_new(lua_State *L, int idx, sip_loop_t *loop)
{
    lsip_cb_t *cb;
    if (lua_isnoneornil(L, idx)) return NULL;
    luaL_checktype(L, idx, LUA_TFUNCTION);
    cb = (lsip_cb_t *)malloc(sizeof(*cb));
    if (cb == NULL) {
        luaL_error(L, "libsip: out of memory");
        return NULL;
    }
    cb->L = lsip_main_thread(L);
    cb->loop = loop;
    lua_pushvalue(L, idx);
    cb->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return cb;
}

/* user_free of every registration: the end of it, exactly once. */
static void lsip_cb_free(void *user)
{
    lsip_cb_t *cb = (lsip_cb_t *)user;
    if (cb == NULL) return;
    luaL_unref(cb->L, LUA_REGISTRYINDEX, cb->ref);
    free(cb);
}
%}

/* ---- generic typemaps %applied by ../libsip.i ---------------------------------------------- */

/* (const char *SIP_BYTES, size_t SIP_BYTES_LEN): one Lua string, NULs included. */
%typemap(in, checkfn="lua_isstring") (const char *SIP_BYTES, size_t SIP_BYTES_LEN) {
    size_t len_ = 0;
    $1 = ($1_ltype)lua_tolstring(L, $input, &len_);
    $2 = len_;
}

/* sip_str_t in: a view of the Lua string, valid for the call (the argument stays on the stack). */
%typemap(in, checkfn="lua_isstring") sip_str_t {
    size_t len_ = 0;
    $1.ptr = lua_tolstring(L, $input, &len_);
    $1.len = len_;
}
%typemap(out) sip_str_t {
    lua_pushlstring(L, $1.ptr ? $1.ptr : "", $1.ptr ? $1.len : 0);
    SWIG_arg++;
}
/* Struct member getters hand back a pointer to the member: copy the bytes out. */
%typemap(out) sip_str_t * {
    if ($1 != NULL && $1->ptr != NULL)
        lua_pushlstring(L, $1->ptr, $1->len);
    else
        lua_pushliteral(L, "");
    SWIG_arg++;
}

%typemap(in, numinputs=0) sip_str_t *SIP_STR_OUT (sip_str_t tmp) {
    tmp.ptr = NULL;
    tmp.len = 0;
    $1 = &tmp;
}
%typemap(argout) sip_str_t *SIP_STR_OUT {
    lua_pushlstring(L, $1->ptr ? $1->ptr : "", $1->ptr ? $1->len : 0);
    SWIG_arg++;
}

%typemap(in, checkfn="lua_isstring") sip_str_t *SIP_STR_INOUT (sip_str_t tmp) {
    size_t len_ = 0;
    tmp.ptr = lua_tolstring(L, $input, &len_);
    tmp.len = len_;
    $1 = &tmp;
}
%typemap(argout) sip_str_t *SIP_STR_INOUT {
    lua_pushlstring(L, $1->ptr ? $1->ptr : "", $1->ptr ? $1->len : 0);
    SWIG_arg++;
}

/* Handle out-parameters: a plain pointer the core never frees (nil on failure). */
%typemap(in, numinputs=0) SWIGTYPE **SIP_HANDLE_OUT ($*1_ltype tmp = NULL) {
    $1 = &tmp;
}
%typemap(argout) SWIGTYPE **SIP_HANDLE_OUT {
    if (*$1 != NULL)
        SWIG_NewPointerObj(L, *$1, $*1_descriptor, 0);
    else
        lua_pushnil(L);
    SWIG_arg++;
}

/* Owned out-parameters (sip_uri_parse): the struct's __gc frees it. */
%typemap(in, numinputs=0) SWIGTYPE **SIP_OWNED_OUT ($*1_ltype tmp = NULL) {
    $1 = &tmp;
}
%typemap(argout) SWIGTYPE **SIP_OWNED_OUT {
    if (*$1 != NULL)
        SWIG_NewPointerObj(L, *$1, $*1_descriptor, 1);
    else
        lua_pushnil(L);
    SWIG_arg++;
}

/* Struct out-parameters: an owned malloc'd copy, nil when the call failed (or, for the error
 * structs, nil when it succeeded). */
%typemap(in, numinputs=0) SWIGTYPE *SIP_STRUCT_OUT ($*1_ltype tmp),
                          SWIGTYPE *SIP_ERR_OUT ($*1_ltype tmp) {
    memset(&tmp, 0, sizeof(tmp));
    $1 = &tmp;
}
%typemap(argout) SWIGTYPE *SIP_STRUCT_OUT {
    if (result >= 0) {
        $1_ltype copy_ = ($1_ltype)malloc(sizeof(*$1));
        if (copy_ == NULL) {
            SWIG_Lua_pushferrstring(L, "libsip: out of memory");
            SWIG_fail;
        }
        memcpy(copy_, $1, sizeof(*$1));
        SWIG_NewPointerObj(L, copy_, $1_descriptor, 1);
    } else {
        lua_pushnil(L);
    }
    SWIG_arg++;
}
%typemap(argout) SWIGTYPE *SIP_ERR_OUT {
    if (result < 0) {
        $1_ltype copy_ = ($1_ltype)malloc(sizeof(*$1));
        if (copy_ == NULL) {
            SWIG_Lua_pushferrstring(L, "libsip: out of memory");
            SWIG_fail;
        }
        memcpy(copy_, $1, sizeof(*$1));
        SWIG_NewPointerObj(L, copy_, $1_descriptor, 1);
    } else {
        lua_pushnil(L);
    }
    SWIG_arg++;
}

%typemap(in, numinputs=0) size_t *SIP_SIZE_OUT (size_t tmp = 0) {
    $1 = &tmp;
}
%typemap(argout) size_t *SIP_SIZE_OUT {
    lua_pushinteger(L, (lua_Integer)*$1);
    SWIG_arg++;
}
%typemap(in, numinputs=0) unsigned long *SIP_ULONG_OUT (unsigned long tmp = 0) {
    $1 = &tmp;
}
%typemap(argout) unsigned long *SIP_ULONG_OUT {
    lua_pushinteger(L, (lua_Integer)*$1);
    SWIG_arg++;
}

/* Printed text: the whole malloc'd buffer as one Lua string, then freed. */
%typemap(in, numinputs=0) (char **SIP_TEXT, size_t *SIP_TEXT_LEN)
    (char *text = NULL, size_t tlen = 0) {
    $1 = &text;
    $2 = &tlen;
}
%typemap(argout) (char **SIP_TEXT, size_t *SIP_TEXT_LEN) {
    if (*$1 != NULL)
        lua_pushlstring(L, *$1, *$2);
    else
        lua_pushnil(L);
    SWIG_arg++;
}
%typemap(freearg) (char **SIP_TEXT, size_t *SIP_TEXT_LEN) {
    free(*$1);
}

/* Option strings (tls_cert_file, ws_path, servers...): libsip copies them when it reads the
 * options, so the struct may point into the Lua string as long as that string lives. It is kept
 * in the struct object's user value (a table keyed by field), instead of SWIG's default malloc'd
 * copy that nothing would ever free. */
%typemap(memberin) const char * {
    if (lua_type(L, 1) == LUA_TUSERDATA) {
        if (lua_getiuservalue(L, 1, 1) != LUA_TTABLE) {
            lua_pop(L, 1);
            lua_newtable(L);
            lua_pushvalue(L, -1);
            lua_setiuservalue(L, 1, 1);
        }
        lua_pushvalue(L, 2);
        lua_setfield(L, -2, "$name");
        lua_pop(L, 1);
    }
    $1 = $input;
}

/* A struct pointer field of an options struct (sip_reg_opts_t's dst...): the struct keeps
 * pointing at the script's object, which stays its owner (no SWIG_POINTER_DISOWN, SWIG's default
 * for a pointer member, which left the object to nobody: a leak per assignment). libsip copies
 * what the field points to in the call that takes the options; until then the options object
 * keeps the assigned object alive in its user value, as for the option strings above. */
%typemap(in, checkfn="SWIG_isptrtype") SWIGTYPE *SIP_KEPT {
    if (!SWIG_IsOK(SWIG_ConvertPtr(L, $input, (void **)&$1, $descriptor, 0))) {
        SWIG_fail_ptr("$symname", $argnum, $descriptor);
    }
}
%typemap(memberin) SWIGTYPE *SIP_KEPT {
    if (lua_type(L, 1) == LUA_TUSERDATA) {
        if (lua_getiuservalue(L, 1, 1) != LUA_TTABLE) {
            lua_pop(L, 1);
            lua_newtable(L);
            lua_pushvalue(L, -1);
            lua_setiuservalue(L, 1, 1);
        }
        lua_pushvalue(L, 2);
        lua_setfield(L, -2, "$name");
        lua_pop(L, 1);
    }
    $1 = $input;
}

/* char[] fields (sip_netinfo_t's local_ip, remote_ip, server_name): a string that fits with its
 * NUL, else an error, as in Python. SWIG's default cuts a longer one short without a word, and a
 * server name cut short is another name (the TLS SNI and certificate check, RFC 5922). Read back
 * within the array's bounds. */
%typemap(memberin) char [ANY] {
    if ($input == NULL) {
        $1[0] = 0;
    } else {
        size_t n_ = strlen($input);
        if (n_ >= $1_dim0)
            return luaL_error(L, "$name: at most %d bytes, got %d", (int)$1_dim0 - 1, (int)n_);
        memcpy($1, $input, n_ + 1);
    }
}
%typemap(out) char [ANY] {
    const char *end_ = (const char *)memchr($1, 0, $1_dim0);
    lua_pushlstring(L, $1, end_ != NULL ? (size_t)(end_ - $1) : $1_dim0);
    SWIG_arg++;
}

/* 64-bit values (timeouts, times, connection ids) as Lua integers, not floats. */
%typemap(in, checkfn="lua_isnumber") uint64_t, int64_t {
    $1 = ($1_ltype)luaL_checkinteger(L, $input);
}
%typemap(out) uint64_t, int64_t {
    lua_pushinteger(L, (lua_Integer)$1);
    SWIG_arg++;
}

/* Integers stay Lua integers (5.4 has them): counts, ports, codes, enums. SWIG's defaults go
 * through lua_Number, which would print 5060 as 5060.0. */
%typemap(in, checkfn="lua_isnumber") int, unsigned int, short, unsigned short, long,
    unsigned long, size_t, uint8_t, uint16_t, uint32_t, int32_t, enum SWIGTYPE {
    $1 = ($1_ltype)luaL_checkinteger(L, $input);
}
%typemap(out) int, unsigned int, short, unsigned short, long, unsigned long, size_t, uint8_t,
    uint16_t, uint32_t, int32_t, enum SWIGTYPE {
    lua_pushinteger(L, (lua_Integer)$1);
    SWIG_arg++;
}

/* ---- callbacks: the trampolines and the table are ../callbacks.i's ------------------------ */

%{
/* nil or a function: nil gives a NULL callback (libsip answers SIP_EINVAL where it needs one,
 * and a NULL handler removes one). */
#define SWIG_lua_isnilfunction(L, idx) (lua_isnil(L, idx) || lua_isfunction(L, idx))
%}

/* (cb, void *user, sip_free_fn user_free) is one Lua function or nil. */
%define SIPBIND_TYPEMAP(T, N)
%typemap(in, checkfn="SWIG_lua_isnilfunction") (T N, void *user, sip_free_fn user_free) {
    $2 = lsip_cb_new(L, $input, lsip_registering_loop(L, $input, (lsip_fnptr)sipbind_tramp_##T));
    $1 = $2 ? sipbind_tramp_##T : NULL;
    $3 = $2 ? lsip_cb_free : NULL;
}
%enddef

%include "../callbacks.i"

%{
static void lsip_push_netinfo_copy(lua_State *L, const sip_netinfo_t *ni);

/* The arguments of one call, read by lsip_dispatch() inside the protected call. */
typedef struct lsip_call {
    lsip_cb_t *cb;
    const sipbind_arg_t *args;
    int n;
    int ret; /* what the function returned, as sipbind_invoke() returns it */
} lsip_call_t;

/* A handle a callback gets: a light userdata for an opaque handle (a type SWIG made no class
 * for: sip_proxy_t, sip_proxy_req_t, sip_msg_t...), which the core's functions take as they take
 * a pointer object (SWIG_Lua_ConvertPtr, without the type check by name): no userdata to make
 * and collect per argument of every callback. The thin layer only hands them back to the core.
 * A handle of a type with a class (fields, methods) stays a pointer object. */
static void lsip_push_handle(lua_State *L, void *ptr, swig_type_info *type)
{
    if (ptr == NULL)
        lua_pushnil(L);
    else if (type->clientdata == NULL)
        lua_pushlightuserdata(L, ptr);
    else
        SWIG_NewPointerObj(L, ptr, type, 0);
}

/* Runs inside lua_pcall: pushes the function and its arguments, then calls it. Anything that may
 * raise (allocation included) happens here, under the protection of the pcall. */
static int lsip_dispatch(lua_State *L)
{
    lsip_call_t *c = (lsip_call_t *)lua_touserdata(L, 1);
    const sipbind_arg_t *a;
    size_t i;

    lua_rawgeti(L, LUA_REGISTRYINDEX, c->cb->ref);
    for (a = c->args; a < c->args + c->n; a++) {
        switch (a->kind) {
        case SB_HANDLE:
            /* SWIG's pointer objects know no const (see python.i's sipbind_arg_to_py); a NULL
             * handle (no response, a stray ACK, no CANCEL) is pushed as nil. */
            lsip_push_handle(L, (void *)a->p, a->type);
            break;
        case SB_INT:
            lua_pushinteger(L, (lua_Integer)a->i);
            break;
        case SB_STR:
            lua_pushstring(L, a->p != NULL ? (const char *)a->p : "");
            break;
        case SB_TARGETS:
            lua_createtable(L, (int)a->n, 0);
            for (i = 0; a->p != NULL && i < a->n; i++) {
                lsip_push_netinfo_copy(L, &((const sip_netinfo_t *)a->p)[i]);
                lua_rawseti(L, -2, (lua_Integer)i + 1);
            }
            break;
        }
    }
    lua_call(L, c->n, 1);
    /* A decision (sip_transport_handler_cb): true or a non-zero number; 0 passes as in C. */
    if (lua_type(L, -1) == LUA_TNUMBER)
        c->ret = lua_tonumber(L, -1) != 0;
    else
        c->ret = lua_toboolean(L, -1);
    return 0;
}

/* Calls a registered function on the main thread; errors are reported, never raised. */
static int sipbind_invoke(void *user, sip_loop_t *loop, const sipbind_arg_t *args, int n)
{
    /* The callback may end its own registration (a timer stopping itself): cb is freed then, so
     * nothing of it is read after the call. */
    lsip_call_t c = {(lsip_cb_t *)user, args, n, 0};
    lua_State *L = c.cb->L;
    sip_loop_t *err_loop = loop ? loop : c.cb->loop;
    int top = lua_gettop(L);
    if (!lua_checkstack(L, 8)) {
        fprintf(stderr, "libsip lua: no Lua stack left for a callback\n");
        return 0;
    }
    lua_pushcfunction(L, lsip_msgh);
    lua_pushcfunction(L, lsip_dispatch);
    lua_pushlightuserdata(L, &c);
    if (lua_pcall(L, 1, 0, top + 1) != LUA_OK) {
        lsip_report(L, err_loop);
        c.ret = 0;
    }
    lua_settop(L, top);
    return c.ret;
}

typedef void (*lsip_fnptr)(void);

/* Where errors of a callback whose trampoline knows no loop (timers, signals) are logged: the
 * registering call's first argument when it is a loop (sip_loop_post, sip_timer_start,
 * sip_signal_start). Not for a logger (sip_loop_set_log): its errors never go through a logger. */
static sip_loop_t *lsip_registering_loop(lua_State *L, int idx, lsip_fnptr tramp)
{
    void *loop = NULL;
    if (tramp == (lsip_fnptr)sipbind_tramp_sip_log_cb || idx <= 1 || !lua_isuserdata(L, 1))
        return NULL;
    if (!SWIG_IsOK(SWIG_ConvertPtr(L, 1, &loop, SWIGTYPE_p_sip_loop, 0)))
        return NULL;
    return (sip_loop_t *)loop;
}
%}

/* The getters a route calls for every request (incoming() takes its reference, req.method
 * reads the message) hand back a light userdata, as callbacks do (lsip_push_handle): no
 * pointer object per call for a handle the layer only hands back to the core. */
%typemap(out) sip_proxy_req_t *sip_proxy_req_ref, sip_msg_t *sip_proxy_req_get_msg {
    if ($1 != NULL)
        lua_pushlightuserdata(L, (void *)$1);
    else
        lua_pushnil(L);
    SWIG_arg++;
}

%include "../libsip.i"

/* ---- Lua-only additions ------------------------------------------------------------------- */

%wrapper %{
static void lsip_push_netinfo_copy(lua_State *L, const sip_netinfo_t *ni)
{
    sip_netinfo_t *copy = (sip_netinfo_t *)malloc(sizeof(*copy));
    if (copy == NULL) luaL_error(L, "libsip: out of memory");
    memcpy(copy, ni, sizeof(*copy));
    SWIG_NewPointerObj(L, copy, SWIGTYPE_p_sip_netinfo, 1);
}

/* set_error_hook(fn | nil): where callback errors go (see the top of this file). */
static int lsip_set_error_hook(lua_State *L)
{
    if (!lua_isnoneornil(L, 1)) luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_settop(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, lsip_hook_key);
    return 0;
}
%}
%native(set_error_hook) int lsip_set_error_hook(lua_State *L);

%wrapper %{
/* bindings_tables(set | nil): the bindings of a set as a list of plain tables, one field per
 * member of sip_binding_t (q in thousandths, -1 for none, as C has it; NULL strings are nil),
 * built in one call: a lookup in a route reads a dozen fields per binding, and a SWIG member
 * getter per field was most of what a lookup cost. */
static void lsip_field_str(lua_State *L, const char *k, const char *v)
{
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

static void lsip_field_int(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

static int lsip_bindings_tables(lua_State *L)
{
    sip_bindings_t *set = NULL;
    size_t i, n;

    if (!lua_isnoneornil(L, 1) &&
        !SWIG_IsOK(SWIG_ConvertPtr(L, 1, (void **)&set, SWIGTYPE_p_sip_bindings, 0)))
        return luaL_argerror(L, 1, "a sip_bindings_t expected");
    n = set != NULL ? sip_bindings_count(set) : 0;
    lua_createtable(L, n > INT_MAX ? 0 : (int)n, 0);
    for (i = 0; i < n; i++) {
        const sip_binding_t *b = sip_bindings_at(set, i);
        lua_createtable(L, 0, 16);
        lsip_field_str(L, "aor", b->aor);
        lsip_field_str(L, "contact", b->contact);
        lsip_field_str(L, "params", b->params);
        lsip_field_int(L, "expires", (lua_Integer)b->expires);
        lsip_field_int(L, "q", (lua_Integer)b->q);
        lsip_field_str(L, "call_id", b->call_id);
        lsip_field_int(L, "cseq", (lua_Integer)b->cseq);
        lsip_field_str(L, "path", b->path);
        lsip_field_str(L, "received", b->received);
        lsip_field_str(L, "socket", b->socket);
        lsip_field_int(L, "conn_id", (lua_Integer)b->conn_id);
        lsip_field_str(L, "instance", b->instance);
        lsip_field_int(L, "reg_id", (lua_Integer)b->reg_id);
        lsip_field_str(L, "user_agent", b->user_agent);
        lsip_field_int(L, "updated", (lua_Integer)b->updated);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}
%}
%native(bindings_tables) int lsip_bindings_tables(lua_State *L);

/* ---- the script host of sipd (tools/sipd/script_lua.c) ------------------------------------ */

%wrapper %{
/* Pushes the server as the core's sip_server_t * pointer holding a New reference (the layer's
 * Server adopts it): how sipd, which compiles this wrapper in, hands its server to Lua. */
int sipbind_lua_push_server(lua_State *L, sip_server_t *srv);
int sipbind_lua_push_server(lua_State *L, sip_server_t *srv)
{
    SWIG_NewPointerObj(L, sip_server_ref(srv), SWIGTYPE_p_sip_server, 0);
    return 1;
}
%}
