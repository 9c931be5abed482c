/* SPDX-License-Identifier: MIT */
/* Language-neutral SWIG interface of libsip: every public header, with the shared conventions. */

/*
 * CONVENTIONS OF THE GENERATED CORE (Python `libsip._core`, the Lua core table)
 *
 * The core is flat and C-shaped: one function per C function, same name, same argument order,
 * minus the arguments the conventions below turn into return values. It is private; the thin
 * layer of each language builds classes on it.
 *
 *  1. `int f(T **out, ...)` returns (rc, obj): obj is the handle, or nil/None when rc < 0.
 *     Handles (sip_msg_t *, sip_loop_t *, ...) are plain SWIG pointers that the core NEVER frees
 *     (no %newobject, no ownership flag): the thin layer owns the reference and calls *_unref
 *     from __del__/__gc (and *_close from close()/__close).
 *  2. Other out-parameters become extra return values, in argument order:
 *       sip_parse_error_t *err, sip_sdp_error_t *err  -> an owned struct copy when rc < 0, else nil
 *       sip_netinfo_t *info, sip_sdp_rtpmap_t *out, sip_sdp_fmtp_t *out -> an owned struct copy
 *                                                      when rc >= 0, else nil
 *       sip_str_t *name / *value                        -> bytes (a copy; "" when absent)
 *       sip_str_t *iter (sip_params_next)               -> taken as bytes, the rest returned
 *       size_t *skip, size_t *msglen, unsigned long *out -> numbers
 *     e.g. rc, msg, err = sip_msg_parse(data);  found, value = sip_uri_param(uri, "transport")
 *  3. A `const char *buf, size_t len` pair is one bytes/string argument (it may hold NULs).
 *  4. Output buffers `char *buf, size_t size` (sip_msg_print, sip_uri_print, sip_sdp_print,
 *     sip_multipart_print, sip_multipart_print_content_type, sip_str_copy, sip_uri_unescape) are
 *     not arguments: the function returns (rc, text) with the whole text (the binding asks for
 *     the length first, then prints into a buffer of that size); text is nil when rc < 0.
 *  5. sip_str_t results and sip_str_t struct fields come out as bytes (a copy, never a view).
 *     sip_str_t arguments take bytes or a string. char[] fields come out as strings.
 *  6. sip_uri_parse(text) returns (rc, uri) where uri is an OWNED sip_uri_t that carries its own
 *     copy of the text (one block, freed by the struct's destructor), since a sip_uri_t is only
 *     views. Every other struct pointer a function returns (sip_msg_get_uri, sip_header_via, ...)
 *     is Borrowed from the handle it came from: the thin layer keeps that handle's script object
 *     alive for as long as it keeps the struct (or copies the fields out at once).
 *  7. View structs (URI, headers, SDP parts, parse errors) are read-only; option structs
 *     (every sip_*_opts_t) and sip_netinfo_t are read-write (every field: see mutable.i below),
 *     created with their constructor and filled with sip_*_opts_init(). char[] fields
 *     (sip_netinfo_t's local_ip, remote_ip, server_name) take a string that fits, NUL included;
 *     a longer one is an error, never cut short. A const char * field points into the
 *     script's string, which the options object keeps (no copy that nothing frees). A struct
 *     pointer field (the dst of
 *     sip_reg_opts_t, sip_sub_opts_t, sip_call_opts_t and sip_bridge_opts_t: a sip_netinfo_t)
 *     takes a struct object that stays the script's: the options object keeps it alive, and
 *     libsip copies what it points to in the call that takes the options.
 *  8. Callbacks `(cb, void *user, sip_free_fn user_free)` are ONE argument: a function (or
 *     nil/None for NULL). A trampoline per callback typedef calls it; user_free releases it, and
 *     runs exactly once (libsip guarantees it, also when the registering call fails). The
 *     trampolines and the table of callback types are bindings/callbacks.i's, shared by both
 *     languages (see the top of that file for adding a callback type).
 *     The function receives the C arguments minus `user`, handles as plain pointers:
 *       sip_loop_fn           fn(loop)
 *       sip_timer_cb          fn(timer)
 *       sip_signal_cb         fn(sig, signum)
 *       sip_log_cb            fn(loop, level, module, text)      (module, text: strings)
 *       sip_transport_msg_cb  fn(tp, msg)   msg is Borrowed for the call: sip_msg_ref() to keep
 *       sip_transport_handler_cb fn(tp, msg) -> taken: true (or a non-zero number) takes
 *                             the message, nil/None/false/0 or an error passes it on
 *       sip_transport_sent_cb fn(tp, status)
 *       sip_resolve_cb        fn(resolver, status, targets)       targets: a list of owned
 *                                                                 sip_netinfo_t copies
 *       sip_response_cb       fn(txn, status, rsp)  rsp Borrowed for the call, nil/None for
 *                                                   the 408/503 end without a response
 *       sip_request_cb        fn(layer, txn, req)   txn Borrowed (sip_txn_ref() to answer
 *                                                   later), nil/None for a stray ACK
 *       sip_stray_response_cb fn(layer, rsp)        rsp Borrowed for the call
 *       sip_txn_event_cb      fn(txn, event, msg)   event a SIP_TXN_EVENT_* number; msg the
 *                                                   CANCEL (Borrowed), else nil/None
 *       sip_ua_response_cb    fn(ua, req, rsp)      req the request as last sent, rsp each
 *                                                   response (never nil/None); both Borrowed
 *  9. Not bound: the varargs sip_log() (a format string from a script is unsafe; its twin
 *     sip_log_write() is bound). Macros with arguments (SIP_STR) and the sip_str_t struct
 *     itself are not bound either, nor the transaction timers' clock (sip_txn_clock_t and the
 *     clock field of sip_txn_opts_t: C function pointers the timer machinery calls, a hook for
 *     C tests that drive time by hand); every other SIP_EXTERN function is.
 *
 * WHAT A LANGUAGE FILE PROVIDES BEFORE `%include "../libsip.i"`
 * (bindings/python/python.i and bindings/lua/lua.i): typemaps for these generic names, which this
 * file %applies to the real parameters. Nothing below is language-specific.
 *   (const char *SIP_BYTES, size_t SIP_BYTES_LEN)     in: one bytes/string argument
 *   sip_str_t                                         in: bytes/string; out: bytes
 *   sip_str_t *                                       out: bytes (struct member getters)
 *   sip_str_t *SIP_STR_OUT                            numinputs=0; argout: bytes
 *   sip_str_t *SIP_STR_INOUT                          in: bytes/string; argout: bytes
 *   SWIGTYPE **SIP_HANDLE_OUT                         numinputs=0; argout: pointer, not owned
 *   SWIGTYPE **SIP_OWNED_OUT                          numinputs=0; argout: pointer, owned
 *   SWIGTYPE *SIP_STRUCT_OUT                          numinputs=0 (zeroed local); argout: owned
 *                                                     copy when result >= 0, else nil
 *   SWIGTYPE *SIP_ERR_OUT                             numinputs=0 (zeroed local); argout: owned
 *                                                     copy when result < 0, else nil
 *   size_t *SIP_SIZE_OUT, unsigned long *SIP_ULONG_OUT numinputs=0; argout: number
 *   SWIGTYPE *SIP_KEPT                                in: a struct pointer, not disowned;
 *                                                     memberin: the options object keeps a
 *                                                     reference to the assigned object
 *   (char **SIP_TEXT, size_t *SIP_TEXT_LEN)           numinputs=0; argout: bytes of the
 *                                                     malloc'd text (then free() it), nil if NULL
 *   (T N, void *user, sip_free_fn user_free)          in: one callable (see 8), for every
 *                                                     entry X(T, N) of SIPBIND_CALLBACKS: the
 *                                                     macro SIPBIND_TYPEMAP(T, N) and the C
 *                                                     function sipbind_invoke(), then
 *                                                     %include "../callbacks.i"
 * and the %module line. The language file may add language-only features (Python: %thread on
 * sip_loop_run and sip_loop_run_once to release the GIL).
 */

%{
#include <stdlib.h>
#include <string.h>

#include "sip/sip.h"
%}

%include <stdint.i>

/* SWIG sees no compiler: SIP_EXTERN expands to nothing (export.h's last branch). */
#define SIP_EXTERN

/* ---- not bound ---------------------------------------------------------------------------- */

/* Varargs with a script-supplied format string: unsafe. sip_log_write() is the bound twin. */
%ignore sip_log;
/* A two-field view the typemaps convert to bytes; no script needs the struct. */
%ignore sip_str;
%ignore sip_str_t;
%ignore SIP_STR_NULL;
/* Enum terminators, not values. */
%ignore SIP_HDR__COUNT;
/* The transaction timers' clock: C function pointers called from the timer machinery, for C
 * tests that drive time by hand. A script uses the loop's timers (clock NULL, the default). */
%ignore sip_txn_clock;
%ignore sip_txn_clock_t;
%ignore sip_txn_opts::clock;
%ignore sip_ua_opts::clock;

/* ---- convention 1: handle out-parameters ------------------------------------------------- */

%apply SWIGTYPE **SIP_HANDLE_OUT {
    sip_msg_t **out, sip_multipart_t **out, sip_sdp_t **out, sip_loop_t **out,
    sip_timer_t **out, sip_signal_t **out, sip_resolver_t **out, sip_transport_t **out, sip_txn_layer_t **out,
    sip_txn_t **out, sip_dialog_t **out, sip_ua_t **out, sip_call_t **out, sip_bridge_t **out
};

/* ---- convention 2: other out-parameters --------------------------------------------------- */

%apply SWIGTYPE *SIP_ERR_OUT { sip_parse_error_t *err, sip_sdp_error_t *err };
%apply SWIGTYPE *SIP_STRUCT_OUT {
    sip_netinfo_t *info, sip_sdp_rtpmap_t *out, sip_sdp_fmtp_t *out
};
%apply sip_str_t *SIP_STR_OUT { sip_str_t *name, sip_str_t *value };
%apply sip_str_t *SIP_STR_INOUT { sip_str_t *iter };
%apply size_t *SIP_SIZE_OUT { size_t *skip, size_t *msglen };
%apply unsigned long *SIP_ULONG_OUT { unsigned long *out };

/* ---- convention 3: (pointer, length) inputs ----------------------------------------------- */

%apply (const char *SIP_BYTES, size_t SIP_BYTES_LEN) {
    (const char *buf, size_t len),
    (const char *s, size_t len),
    (const char *name, size_t len),
    (const char *content_type, size_t ct_len),
    (const char *body, size_t len)
};

/* ---- convention 4: output buffers --------------------------------------------------------- */

/*
 * SIP_TEXT_PRINTER(NAME, ARGTYPE) replaces `int NAME(ARGTYPE arg, char *buf, size_t size)` with a
 * function of the same name that returns (rc, text). It asks for the length with a one-byte
 * buffer (some printers want a non-NULL buf), then prints into a buffer of exactly that size.
 */
%define SIP_TEXT_PRINTER(NAME, ARGTYPE)
%ignore NAME;
%rename(NAME) sipbind_##NAME;
%inline %{
static int sipbind_##NAME(ARGTYPE arg, char **SIP_TEXT, size_t *SIP_TEXT_LEN)
{
    char probe[1];
    char *buf;
    int n, m;

    *SIP_TEXT = NULL;
    *SIP_TEXT_LEN = 0;
    n = NAME(arg, probe, sizeof(probe));
    if (n < 0)
        return n;
    buf = (char *)malloc((size_t)n + 1);
    if (buf == NULL)
        return SIP_ENOMEM;
    m = NAME(arg, buf, (size_t)n + 1);
    if (m < 0) {
        free(buf);
        return m;
    }
    *SIP_TEXT = buf;
    *SIP_TEXT_LEN = (size_t)(m < n ? m : n);
    return m;
}
%}
%enddef

SIP_TEXT_PRINTER(sip_str_copy, sip_str_t)
SIP_TEXT_PRINTER(sip_uri_unescape, sip_str_t)
SIP_TEXT_PRINTER(sip_uri_print, const sip_uri_t *)
SIP_TEXT_PRINTER(sip_msg_print, const sip_msg_t *)
SIP_TEXT_PRINTER(sip_multipart_print, const sip_multipart_t *)
SIP_TEXT_PRINTER(sip_multipart_print_content_type, const sip_multipart_t *)
SIP_TEXT_PRINTER(sip_sdp_print, const sip_sdp_t *)
SIP_TEXT_PRINTER(sip_random_hex, size_t)

/* ---- convention 6: sip_uri_parse owns its text --------------------------------------------- */

%ignore sip_uri_parse;
%rename(sip_uri_parse) sipbind_sip_uri_parse;
%apply SWIGTYPE **SIP_OWNED_OUT { sip_uri_t **SIP_OWNED };
%inline %{
/* One malloc block: the sip_uri_t, then a copy of the text its views point into. The struct's
 * default destructor (free) releases both. */
static int sipbind_sip_uri_parse(sip_uri_t **SIP_OWNED, const char *SIP_BYTES, size_t SIP_BYTES_LEN)
{
    sip_uri_t *uri;
    char *text;
    int rc;

    *SIP_OWNED = NULL;
    if (SIP_BYTES == NULL)
        return SIP_EINVAL;
    uri = (sip_uri_t *)calloc(1, sizeof(*uri) + SIP_BYTES_LEN + 1);
    if (uri == NULL)
        return SIP_ENOMEM;
    text = (char *)(uri + 1);
    memcpy(text, SIP_BYTES, SIP_BYTES_LEN);
    rc = sip_uri_parse(uri, text, SIP_BYTES_LEN);
    if (rc < 0) {
        free(uri);
        return rc;
    }
    *SIP_OWNED = uri;
    return rc;
}
%}

/* ---- convention 7: read-only views, read-write options ------------------------------------ */

/* Struct pointer fields of options structs (convention 7). SWIG's default member setter disowns
 * the assigned object (SWIG_POINTER_DISOWN), so nothing ever freed it; the struct object stays
 * the script's instead, kept alive by the options object. The typemap is by name: a parameter
 * `const sip_netinfo_t *dst` of a function converts the same way (never disowned either). */
%apply SWIGTYPE *SIP_KEPT { const sip_netinfo_t *dst };

/* One `%feature("immutable", "0") struct::field;` per field of every options struct and of
 * sip_netinfo (but the fields %ignored above), generated at build time by bindings/sipapi.py from
 * the headers into <build>/bindings/mutable.i: a field added to a header is writable from both
 * languages with no edit here. (SWIG 4.1 cannot match "every member of these structs" itself.) */
%include "mutable.i"

/* ---- the headers, in dependency order (sip.h's) ------------------------------------------- */

%immutable;
%include "sip/export.h"
%include "sip/error.h"
%include "sip/str.h"
%include "sip/param.h"
%include "sip/uri.h"
%include "sip/net.h"
%include "sip/msg.h"
%include "sip/multipart.h"
%include "sip/sdp.h"
%include "sip/loop.h"
%include "sip/resolve.h"
/* The guard (sip/guard.h): a handle by convention 1, before the transport that takes it. */
%apply SWIGTYPE **SIP_HANDLE_OUT { sip_guard_t **out };
%apply SWIGTYPE *SIP_STRUCT_OUT { sip_guard_opts_t *out };
%include "sip/guard.h"
%include "sip/transport.h"
%include "sip/txn.h"
%include "sip/dialog.h"
%include "sip/ua.h"
%include "sip/call.h"
%include "sip/bridge.h"
%include "sip/live.h"
/* Offer/answer (sip/oa.h): the handle and its reason struct, by conventions 1 and 2. */
%apply SWIGTYPE **SIP_HANDLE_OUT { sip_oa_t **out };
%apply SWIGTYPE *SIP_ERR_OUT { sip_oa_error_t *err };
%include "sip/oa.h"
/* Digest authentication (sip/auth.h): the client's credential store, the server and its checks
 * are handles (convention 1); sip_auth_cred_t is a struct scripts fill in, like an options
 * struct; the server's clock is the transaction timers' (see 9), for C tests. */
%apply SWIGTYPE **SIP_HANDLE_OUT {
    sip_auth_client_t **out, sip_auth_server_t **out, sip_auth_query_t **out
};
%ignore sip_auth_server_opts::clock;
%feature("immutable", "0") sip_auth_cred::realm;
%feature("immutable", "0") sip_auth_cred::user;
%feature("immutable", "0") sip_auth_cred::password;
%feature("immutable", "0") sip_auth_cred::ha1;
%feature("immutable", "0") sip_auth_cred::algorithm;
%include "sip/auth.h"
/* Registrations (sip/reg.h): the handle by convention 1. */
%apply SWIGTYPE **SIP_HANDLE_OUT { sip_reg_t **out };
%include "sip/reg.h"
/* Subscriptions (sip/sub.h): the handle by convention 1. */
%apply SWIGTYPE **SIP_HANDLE_OUT { sip_sub_t **out };
%include "sip/sub.h"
/* The proxy core (sip/proxy.h): the proxy and its requests are handles (convention 1); the
 * three callback types are in callbacks.i. A relay's branch hook is a field of its options
 * whose user is the outcome's: the thin layers give scripts their own per-branch hook, so the
 * field stays C's. The default routing is `sipd`'s (libsip/src/proxy/default.c): reachable once
 * that file is in the library. */
%apply SWIGTYPE **SIP_HANDLE_OUT { sip_proxy_t **out };
%ignore sip_proxy_relay_opts::on_branch;
%include "sip/proxy.h"
/* The location service (sip/location.h): the service and its binding sets are handles
 * (convention 1). A sip_binding_t comes out of sip_bindings_at() read-only and Borrowed from its
 * set: the thin layers copy its fields at once. A write takes the binding's fields as
 * arguments instead (sip_location_put below), so no script fills a struct of string pointers
 * that nothing would free. sip_location_aor() returns (rc, key) (convention 4). The clock is
 * for C tests, like the transactions' (see 9). */
%apply SWIGTYPE **SIP_HANDLE_OUT { sip_location_t **out, sip_bindings_t **out };
%apply (const char *SIP_BYTES, size_t SIP_BYTES_LEN) { (const char *host, size_t len) };
%ignore sip_location_opts::now;
%ignore sip_location_opts::clock_user;
%ignore sip_location_put;
%rename(sip_location_put) sipbind_sip_location_put;
%ignore sip_location_aor;
%rename(sip_location_aor) sipbind_sip_location_aor;
%inline %{
/* sip_location_put() with the binding's fields as arguments (NULL strings: ""). */
static int sipbind_sip_location_put(sip_location_t *loc, const char *aor, const char *contact,
                                    const char *params, int64_t expires, int q,
                                    const char *call_id, uint32_t cseq, const char *path,
                                    const char *received, const char *socket, uint64_t conn_id,
                                    const char *instance, uint32_t reg_id,
                                    const char *user_agent, int64_t updated,
                                    sip_location_done_cb cb, void *user, sip_free_fn user_free)
{
    sip_binding_t b;
    memset(&b, 0, sizeof(b));
    b.aor = aor;
    b.contact = contact;
    b.params = params;
    b.expires = expires;
    b.q = q;
    b.call_id = call_id;
    b.cseq = cseq;
    b.path = path;
    b.received = received;
    b.socket = socket;
    b.conn_id = conn_id;
    b.instance = instance;
    b.reg_id = reg_id;
    b.user_agent = user_agent;
    b.updated = updated;
    return sip_location_put(loc, &b, cb, user, user_free);
}

/* The AOR key of a URI: (rc, key); the key is nil when rc < 0. */
static int sipbind_sip_location_aor(const sip_location_t *loc, const sip_uri_t *uri,
                                    char **SIP_TEXT, size_t *SIP_TEXT_LEN)
{
    char buf[1024];
    int n;

    *SIP_TEXT = NULL;
    *SIP_TEXT_LEN = 0;
    n = sip_location_aor(loc, uri, buf, sizeof(buf));
    if (n < 0)
        return n;
    *SIP_TEXT = (char *)malloc((size_t)n + 1);
    if (*SIP_TEXT == NULL)
        return SIP_ENOMEM;
    memcpy(*SIP_TEXT, buf, (size_t)n + 1);
    *SIP_TEXT_LEN = (size_t)n;
    return n;
}
%}
%include "sip/location.h"
/* The registrar and the user table (sip/registrar.h): handles by convention 1; the first
 * malformed line of a users file is one more return value (0 when none). */
%include <typemaps.i>
%apply SWIGTYPE **SIP_HANDLE_OUT { sip_registrar_t **out, sip_userdb_t **out };
%apply int *OUTPUT { int *err_line };
%include "sip/registrar.h"
/* The routing API of the thin layers (libsip/proxy.py, libsip/proxy.lua, docs/SERVERS.md:
 * Routing programs): a relay target given by its fields as sip_location_put() above takes a
 * binding (no script fills a struct of string pointers), and a relay with the branch hook on: its
 * one function gets the outcome (3 arguments) and each branch event (4 arguments, its result the
 * hook's decision: true skips the target or drops the response). */
%inline %{
/* sip_proxy_req_add_target() with the target's fields as arguments (NULL or "": none). */
static int sipbind_proxy_req_add_target(sip_proxy_req_t *req, const char *uri, int q,
                                        const char *path, const char *dst, uint64_t conn_id)
{
    sip_proxy_target_t t;
    memset(&t, 0, sizeof(t));
    t.uri = uri;
    t.q = q;
    t.path = path && *path ? path : NULL;
    t.dst = dst && *dst ? dst : NULL;
    t.conn_id = conn_id;
    return sip_proxy_req_add_target(req, &t);
}

/* sip_proxy_req_relay() with on_branch set to the trampoline of sip_proxy_branch_cb, which
 * calls the relay's function (its user) with the branch's arguments. */
static int sipbind_proxy_req_relay_hooked(sip_proxy_req_t *req,
                                          const sip_proxy_relay_opts_t *opts,
                                          sip_proxy_done_cb cb, void *user,
                                          sip_free_fn user_free)
{
    sip_proxy_relay_opts_t o;
    if (opts)
        o = *opts;
    else
        sip_proxy_relay_opts_init(&o);
    o.on_branch = sipbind_tramp_sip_proxy_branch_cb;
    return sip_proxy_req_relay(req, &o, cb, user, user_free);
}
%}
/* Counters per loop (sip/stats.h) and the /metrics endpoint (sip/metrics.h). sip_stats_format
 * returns (rc, text) (convention 4), sip_stat_info (rc, info) with an owned copy (convention 2).
 * The extra function of sip_metrics_create gets (m, sink) and gives its text to
 * sipbind_text_put(sink, text) (see sipbind_tramp_sip_metrics_extra_cb in callbacks.i). */
SIP_TEXT_PRINTER(sip_stats_format, const sip_loop_t *)
%apply SWIGTYPE *SIP_STRUCT_OUT { sip_stat_info_t *out };
%include "sip/stats.h"
%apply SWIGTYPE **SIP_HANDLE_OUT { sip_metrics_t **out };
%include "sip/metrics.h"
typedef struct sipbind_text sipbind_text_t;
%inline %{
/* Appends text to a scrape's extra series (as much as fits; the length counts it all). */
static int sipbind_text_put(sipbind_text_t *sink, const char *SIP_BYTES, size_t SIP_BYTES_LEN)
{
    if (sink == NULL)
        return SIP_EINVAL;
    if (sink->len < sink->size) {
        size_t room = sink->size - sink->len;
        memcpy(sink->buf + sink->len, SIP_BYTES, SIP_BYTES_LEN < room ? SIP_BYTES_LEN : room);
    }
    sink->len += SIP_BYTES_LEN;
    if (sink->len < sink->size)
        sink->buf[sink->len] = '\0';
    return 0;
}
%}
/* The configuration and the server (sip/config.h, sip/server.h): handles by convention 1, the
 * YAML text by convention 4, the text of sip_config_load_text() by convention 3. The shutdown's
 * done callback has no user_free (it runs once, when the shutdown ends): the binding wraps it so
 * that the script function is released after that one call, or at once when the call fails. */
/* Workers (sip/worker.h): the hub and a worker's link are handles (convention 1); the
 * descriptor sip_hub_link() makes for the child process is one more return value. */
%apply SWIGTYPE **SIP_HANDLE_OUT { sip_hub_t **out, sip_worker_t **out };
%apply int *OUTPUT { int *child_fd };
SIP_TEXT_PRINTER(sip_worker_secret, const sip_worker_t *)
%include "sip/worker.h"
%apply SWIGTYPE **SIP_HANDLE_OUT { sip_config_t **out, sip_server_t **out };
%apply (const char *SIP_BYTES, size_t SIP_BYTES_LEN) { (const char *text, size_t len) };
SIP_TEXT_PRINTER(sip_config_format, const sip_config_t *)
%include "sip/config.h"
%ignore sip_server_shutdown;
%rename(sip_server_shutdown) sipbind_sip_server_shutdown;
%include "sip/server.h"
%inline %{
/* The script function of a shutdown's done callback and its release. */
typedef struct sipbind_server_done {
    sip_server_done_cb cb;
    void *user;
    sip_free_fn user_free;
} sipbind_server_done_t;

static void sipbind_server_done_once(sip_server_t *srv, void *u)
{
    sipbind_server_done_t *d = (sipbind_server_done_t *)u;
    d->cb(srv, d->user);
    d->user_free(d->user);
    free(d);
}

/* sip_server_shutdown() with a callback that owns a script function: released after its one
 * call, or now when the shutdown does not start. */
static int sipbind_sip_server_shutdown(sip_server_t *srv, uint32_t grace_ms,
                                       sip_server_done_cb cb, void *user, sip_free_fn user_free)
{
    sipbind_server_done_t *d;
    int rc;

    if (cb == NULL)
        return sip_server_shutdown(srv, grace_ms, NULL, NULL);
    d = (sipbind_server_done_t *)malloc(sizeof(*d));
    if (d == NULL) {
        user_free(user);
        return SIP_ENOMEM;
    }
    d->cb = cb;
    d->user = user;
    d->user_free = user_free;
    rc = sip_server_shutdown(srv, grace_ms, sipbind_server_done_once, d);
    if (rc < 0) {
        free(d);
        user_free(user);
    }
    return rc;
}
%}
%mutable;
