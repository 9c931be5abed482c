/* SPDX-License-Identifier: MIT */
/* The callback trampolines of both languages and the table that binds them, language-neutral. */

/*
 * ONE TABLE FOR EVERY CALLBACK TYPE
 *
 * A libsip callback `(T N, void *user, sip_free_fn user_free)` is one script function (or
 * nil/None) in both languages (convention 8 of libsip.i). For each callback typedef T:
 *   - SIPBIND_CALLBACKS below has the entry X(T, N): N is the callback's parameter name in the
 *     headers (a multi-argument typemap matches names too: `cb` everywhere, `fn` for sip_loop_fn);
 *   - this file has its trampoline sipbind_tramp_T: the C function libsip calls. It describes the
 *     C arguments (minus user) in an array of sipbind_arg_t on the stack and hands it to
 *     sipbind_invoke(), with the loop the callback runs on when the arguments lead to one.
 * Each language file (python/python.i, lua/lua.i) provides, before including this file:
 *   - SIPBIND_TYPEMAP(T, N): the %typemap(in) of (T N, void *user, sip_free_fn user_free) that
 *     takes the script function and sets the trampoline `sipbind_tramp_##T`;
 *   - sipbind_invoke(user, loop, args, n): converts args by kind, calls the function `user`,
 *     reports its error (Lua logs it on loop when no error hook takes it; NULL: the loop of the
 *     registering call, if any), all without allocating per call beyond the script values, and
 *     returns the function's result as a decision (1 or 0) for a trampoline that returns one;
 * then expands SIPBIND_CALLBACKS(SIPBIND_TYPEMAP).
 * So a new callback type costs its C typedef, one trampoline here and one table entry;
 * tests/bindings_coverage.py fails while a typedef of libsip/include/sip/*.h lacks either.
 */

%define SIPBIND_CALLBACKS(X)
X(sip_loop_fn, fn)
X(sip_timer_cb, cb)
X(sip_signal_cb, cb)
X(sip_log_cb, cb)
X(sip_transport_msg_cb, cb)
X(sip_transport_handler_cb, cb)
X(sip_transport_sent_cb, cb)
X(sip_resolve_cb, cb)
X(sip_response_cb, cb)
X(sip_request_cb, cb)
X(sip_stray_response_cb, cb)
X(sip_txn_event_cb, cb)
X(sip_ua_request_cb, cb)
X(sip_call_event_cb, cb)
X(sip_bridge_event_cb, cb)
X(sip_ua_response_cb, cb)
X(sip_auth_check_cb, cb)
X(sip_reg_event_cb, cb)
X(sip_sub_event_cb, cb)
X(sip_proxy_route_cb, cb)
X(sip_proxy_branch_cb, cb)
X(sip_proxy_done_cb, cb)
X(sip_location_lookup_cb, cb)
X(sip_location_done_cb, cb)
X(sip_registrar_cb, cb)
X(sip_metrics_extra_cb, extra)
X(sip_server_done_cb, cb)
%enddef

%{
/* One argument of a callback, as the script receives it. */
typedef struct sipbind_arg {
    enum {
        SB_HANDLE,  /* p: a handle of SWIG type `type`, not owned by the script (NULL: nil/None) */
        SB_INT,     /* i: a number */
        SB_STR,     /* p: a NUL-terminated string (NULL: ""); Python decodes it as UTF-8 with
                       replacement, since a log line may quote bytes of a message */
        SB_TARGETS, /* p, n: an array of sip_netinfo_t, each given as an owned copy */
    } kind;
    const void *p;
    swig_type_info *type;
    long i;
    size_t n;
} sipbind_arg_t;

/* The most arguments a callback has (sip_log_cb: loop, level, module, text). */
#define SIPBIND_MAX_ARGS 4

/* SB_H(ptr, sip_msg): a handle (const or not) of the SWIG type of `struct sip_msg *`. */
#define SB_H(ptr, tag) {SB_HANDLE, (ptr), SWIGTYPE_p_##tag, 0, 0}
#define SB_I(v) {SB_INT, NULL, NULL, (long)(v), 0}
#define SB_S(s) {SB_STR, (s), NULL, 0, 0}
#define SB_T(targets, count) {SB_TARGETS, (targets), NULL, 0, (count)}

/* Calls the script function `user` with the n arguments; defined by the language file.
 * Returns 1 when the function returned a true value other than the number 0 (Lua's 0 is true,
 * Python's is not: the number 0 passes in both), 0 for anything else and when it raised, for
 * the callbacks whose C type returns a decision (sip_transport_handler_cb). */
static int sipbind_invoke(void *user, sip_loop_t *loop, const sipbind_arg_t *args, int n);

/* The loop where an error of the callback is logged. A language that never logs there (Python
 * hands errors to its hook) defines SIPBIND_ERROR_LOOP(expr) as NULL: no lookup per call. */
#ifndef SIPBIND_ERROR_LOOP
#define SIPBIND_ERROR_LOOP(expr) (expr)
#endif

static inline sip_loop_t *sipbind_layer_loop_(sip_txn_layer_t *layer)
{
    sip_transport_t *tp = layer != NULL ? sip_txn_layer_get_transport(layer) : NULL;
    return tp != NULL ? sip_transport_get_loop(tp) : NULL; /* NULL once closed */
}
#define sipbind_tp_loop(tp) SIPBIND_ERROR_LOOP(sip_transport_get_loop(tp))
#define sipbind_layer_loop(layer) SIPBIND_ERROR_LOOP(sipbind_layer_loop_(layer))
#define sipbind_txn_loop(txn) SIPBIND_ERROR_LOOP(sipbind_layer_loop_(sip_txn_get_layer(txn)))

/* ---- the trampolines, one per entry of SIPBIND_CALLBACKS ---------------------------------- */

static void sipbind_tramp_sip_loop_fn(sip_loop_t *loop, void *u)
{
    sipbind_arg_t a[] = {SB_H(loop, sip_loop)};
    sipbind_invoke(u, SIPBIND_ERROR_LOOP(loop), a, 1);
}

/* No getter leads from a timer, a signal or a resolver to its loop: NULL. */
static void sipbind_tramp_sip_timer_cb(sip_timer_t *timer, void *u)
{
    sipbind_arg_t a[] = {SB_H(timer, sip_timer)};
    sipbind_invoke(u, NULL, a, 1);
}

static void sipbind_tramp_sip_signal_cb(sip_signal_t *sig, int signum, void *u)
{
    sipbind_arg_t a[] = {SB_H(sig, sip_signal), SB_I(signum)};
    sipbind_invoke(u, NULL, a, 2);
}

/* An error in the logger itself is never logged through a logger: NULL (and the Lua typemap
 * keeps no registering loop for it). */
static void sipbind_tramp_sip_log_cb(sip_loop_t *loop, sip_log_level_t level, const char *module,
                                     const char *text, void *u)
{
    sipbind_arg_t a[] = {SB_H(loop, sip_loop), SB_I(level), SB_S(module), SB_S(text)};
    sipbind_invoke(u, NULL, a, 4);
}

/* msg is Borrowed for the call (sip_msg_ref() to keep it). */
static void sipbind_tramp_sip_transport_msg_cb(sip_transport_t *tp, sip_msg_t *msg, void *u)
{
    sipbind_arg_t a[] = {SB_H(tp, sip_transport), SB_H(msg, sip_msg)};
    sipbind_invoke(u, sipbind_tp_loop(tp), a, 2);
}

/* fn(tp, msg) -> taken: true (or a non-zero number) takes the message and stops the chain;
 * nil/None, false, 0, and an error pass it on. msg is Borrowed for the call. */
static int sipbind_tramp_sip_transport_handler_cb(sip_transport_t *tp, sip_msg_t *msg, void *u)
{
    sipbind_arg_t a[] = {SB_H(tp, sip_transport), SB_H(msg, sip_msg)};
    return sipbind_invoke(u, sipbind_tp_loop(tp), a, 2);
}

static void sipbind_tramp_sip_transport_sent_cb(sip_transport_t *tp, int status, void *u)
{
    sipbind_arg_t a[] = {SB_H(tp, sip_transport), SB_I(status)};
    sipbind_invoke(u, sipbind_tp_loop(tp), a, 2);
}

static void sipbind_tramp_sip_resolve_cb(sip_resolver_t *r, int status,
                                         const sip_netinfo_t *targets, size_t count, void *u)
{
    sipbind_arg_t a[] = {SB_H(r, sip_resolver), SB_I(status), SB_T(targets, count)};
    sipbind_invoke(u, NULL, a, 3);
}

/* The transaction layer's: a NULL handle (no response, a stray ACK, no CANCEL) is nil/None. */
static void sipbind_tramp_sip_response_cb(sip_txn_t *t, int st, const sip_msg_t *rsp, void *u)
{
    sipbind_arg_t a[] = {SB_H(t, sip_txn), SB_I(st), SB_H(rsp, sip_msg)};
    sipbind_invoke(u, sipbind_txn_loop(t), a, 3);
}

static void sipbind_tramp_sip_request_cb(sip_txn_layer_t *layer, sip_txn_t *t, sip_msg_t *req,
                                         void *u)
{
    sipbind_arg_t a[] = {SB_H(layer, sip_txn_layer), SB_H(t, sip_txn), SB_H(req, sip_msg)};
    sipbind_invoke(u, sipbind_layer_loop(layer), a, 3);
}

static void sipbind_tramp_sip_stray_response_cb(sip_txn_layer_t *layer, sip_msg_t *rsp, void *u)
{
    sipbind_arg_t a[] = {SB_H(layer, sip_txn_layer), SB_H(rsp, sip_msg)};
    sipbind_invoke(u, sipbind_layer_loop(layer), a, 2);
}

static void sipbind_tramp_sip_txn_event_cb(sip_txn_t *t, sip_txn_event_t ev, const sip_msg_t *msg,
                                           void *u)
{
    sipbind_arg_t a[] = {SB_H(t, sip_txn), SB_I(ev), SB_H(msg, sip_msg)};
    sipbind_invoke(u, sipbind_txn_loop(t), a, 3);
}

#define sipbind_ua_loop(ua) SIPBIND_ERROR_LOOP(sipbind_layer_loop_(sip_ua_get_layer(ua)))

static void sipbind_tramp_sip_ua_request_cb(sip_ua_t *ua, sip_txn_t *t, sip_msg_t *req, void *u)
{
    sipbind_arg_t a[] = {SB_H(ua, sip_ua), SB_H(t, sip_txn), SB_H(req, sip_msg)};
    sipbind_invoke(u, sipbind_ua_loop(ua), a, 3);
}

/* An ended call has no UA any more: its errors go to no loop. */
static void sipbind_tramp_sip_call_event_cb(sip_call_t *call, sip_call_event_t ev, sip_msg_t *msg,
                                            sip_txn_t *t, void *u)
{
    sipbind_arg_t a[] = {SB_H(call, sip_call), SB_I(ev), SB_H(msg, sip_msg), SB_H(t, sip_txn)};
    sipbind_invoke(u, sipbind_ua_loop(sip_call_get_ua(call)), a, 4);
}

static void sipbind_tramp_sip_bridge_event_cb(sip_bridge_t *br, sip_bridge_event_t ev,
                                              sip_bridge_leg_t leg, sip_msg_t *msg, void *u)
{
    sipbind_arg_t a[] = {SB_H(br, sip_bridge), SB_I(ev), SB_I(leg), SB_H(msg, sip_msg)};
    sipbind_invoke(u, sipbind_ua_loop(sip_call_get_ua(sip_bridge_get_call(br, SIP_BRIDGE_A))), a,
                   4);
}

/* A response to a request of sip_ua_send_request(): the request as last sent (after a
 * challenge, the one with credentials) and the response, both Borrowed for the call. */
static void sipbind_tramp_sip_ua_response_cb(sip_ua_t *ua, sip_msg_t *req, sip_msg_t *rsp,
                                             void *u)
{
    sipbind_arg_t a[] = {SB_H(ua, sip_ua), SB_H(req, sip_msg), SB_H(rsp, sip_msg)};
    sipbind_invoke(u, sipbind_ua_loop(ua), a, 3);
}

/* A digest check's lookup or verdict. A server belongs to no loop: its errors go to none. */
static void sipbind_tramp_sip_auth_check_cb(sip_auth_query_t *q, sip_auth_event_t ev, void *u)
{
    sipbind_arg_t a[] = {SB_H(q, sip_auth_query), SB_I(ev)};
    sipbind_invoke(u, NULL, a, 2);
}

/* msg is Borrowed for the call (nil/None for none). */
static void sipbind_tramp_sip_reg_event_cb(sip_reg_t *reg, sip_reg_event_t ev, int status,
                                           sip_msg_t *msg, void *u)
{
    sipbind_arg_t a[] = {SB_H(reg, sip_reg), SB_I(ev), SB_I(status), SB_H(msg, sip_msg)};
    sipbind_invoke(u, sipbind_ua_loop(sip_reg_get_ua(reg)), a, 4);
}

/* A subscription that ended has no UA any more: its errors go to no loop. */
static void sipbind_tramp_sip_sub_event_cb(sip_sub_t *sub, sip_sub_event_t ev, sip_msg_t *msg,
                                           void *u)
{
    sipbind_arg_t a[] = {SB_H(sub, sip_sub), SB_I(ev), SB_H(msg, sip_msg)};
    sipbind_invoke(u, sipbind_ua_loop(sip_sub_get_ua(sub)), a, 3);
}

/* The loop of a proxy, for errors (NULL once it is closed). */
static sip_loop_t *sipbind_proxy_loop(sip_proxy_t *p)
{
    sip_transport_t *tp = sip_txn_layer_get_transport(sip_proxy_get_layer(p));
    return tp ? sip_transport_get_loop(tp) : NULL;
}

/* req is Borrowed for the call: the thin layer takes its own reference to keep it. */
static void sipbind_tramp_sip_proxy_route_cb(sip_proxy_t *p, sip_proxy_req_t *req, void *u)
{
    sipbind_arg_t a[] = {SB_H(p, sip_proxy), SB_H(req, sip_proxy_req)};
    sipbind_invoke(u, sipbind_proxy_loop(p), a, 2);
}

/* A true result skips the branch's request or drops its response. No function takes this type
 * with (cb, user, user_free) (it is a field of the relay's options), so the thin layers call it
 * from their own relay helper. */
__attribute__((unused)) static int sipbind_tramp_sip_proxy_branch_cb(sip_proxy_req_t *req, sip_proxy_branch_event_t ev,
                                             int branch, sip_msg_t *msg, void *u)
{
    sipbind_arg_t a[] = {SB_H(req, sip_proxy_req), SB_I(ev), SB_I(branch), SB_H(msg, sip_msg)};
    return sipbind_invoke(u, sipbind_proxy_loop(sip_proxy_req_get_proxy(req)), a, 4);
}

/* best is Borrowed for the call. */
static void sipbind_tramp_sip_proxy_done_cb(sip_proxy_req_t *req, int status, sip_msg_t *best,
                                            void *u)
{
    sipbind_arg_t a[] = {SB_H(req, sip_proxy_req), SB_I(status), SB_H(best, sip_msg)};
    sipbind_invoke(u, sipbind_proxy_loop(sip_proxy_req_get_proxy(req)), a, 3);
}

/* A lookup's outcome: set is Borrowed for the call (sip_bindings_ref() to keep it). */
static void sipbind_tramp_sip_location_lookup_cb(sip_location_t *loc, int status,
                                                 sip_bindings_t *set, void *u)
{
    sipbind_arg_t a[] = {SB_H(loc, sip_location), SB_I(status), SB_H(set, sip_bindings)};
    sipbind_invoke(u, SIPBIND_ERROR_LOOP(sip_location_get_loop(loc)), a, 3);
}

/* A write's outcome: 0 once durable. */
static void sipbind_tramp_sip_location_done_cb(sip_location_t *loc, int status, void *u)
{
    sipbind_arg_t a[] = {SB_H(loc, sip_location), SB_I(status)};
    sipbind_invoke(u, SIPBIND_ERROR_LOOP(sip_location_get_loop(loc)), a, 2);
}

/* A REGISTER answered: the response sent and the AOR's bindings (on a 200), both Borrowed for
 * the call (nil/None when none). */
static void sipbind_tramp_sip_registrar_cb(sip_registrar_t *r, int status, sip_msg_t *rsp,
                                           sip_bindings_t *set, void *u)
{
    sipbind_arg_t a[] = {SB_H(r, sip_registrar), SB_I(status), SB_H(rsp, sip_msg),
                         SB_H(set, sip_bindings)};
    sipbind_invoke(u, SIPBIND_ERROR_LOOP(sip_location_get_loop(sip_registrar_get_location(r))),
                   a, 4);
}

/* Where a script's extra series for a scrape go: the function gets (m, sink) and hands its text
 * to sipbind_text_put(sink, text) (the thin layers do it with what the script's own function
 * returns). The length is told as snprintf does, so that libsip asks again with more room. */
typedef struct sipbind_text {
    char *buf;
    size_t size, len;
} sipbind_text_t;

static int sipbind_tramp_sip_metrics_extra_cb(sip_metrics_t *m, char *buf, size_t size, void *u)
{
    sipbind_text_t sink = {buf, size, 0};
    sipbind_arg_t a[] = {SB_H(m, sip_metrics), SB_H(&sink, sipbind_text)};
    sipbind_invoke(u, NULL, a, 2);
    return sink.len > 0x7fffffff ? 0x7fffffff : (int)sink.len;
}

/* A shutdown has ended: the server is closed. The thin layers get it through
 * sip_server_shutdown()'s binding, which releases the function after this one call. */
static void sipbind_tramp_sip_server_done_cb(sip_server_t *srv, void *u)
{
    sipbind_arg_t a[] = {SB_H(srv, sip_server)};
    sipbind_invoke(u, SIPBIND_ERROR_LOOP(sip_server_get_loop(srv)), a, 1);
}
%}

SIPBIND_CALLBACKS(SIPBIND_TYPEMAP)
