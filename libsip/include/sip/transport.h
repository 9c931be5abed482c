/* SPDX-License-Identifier: MIT */
/* SIP transports (RFC 3261 §18): UDP, TCP, TLS, WebSocket (RFC 7118) listening points and
 * connections on one loop, with message framing, Via handling and response routing. */
#ifndef SIP_TRANSPORT_H
#define SIP_TRANSPORT_H

#include <stdint.h>

#include "sip/guard.h"
#include "sip/loop.h"
#include "sip/msg.h"
#include "sip/net.h"
#include "sip/resolve.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The set of listening points and connections of one SIP endpoint. Opaque; reference counted. */
typedef struct sip_transport sip_transport_t;

/** Options; initialise with sip_transport_opts_init(). Strings are copied. */
typedef struct sip_transport_opts {
    int udp_buffer;           /**< SO_RCVBUF/SO_SNDBUF of UDP sockets (default 4 MiB) */
    size_t mtu;               /**< path MTU: requests above mtu - 200 go over TCP (default 1500) */
    unsigned max_connections; /**< open stream connections at most (default 1024) */
    size_t max_conn_buffer;   /**< bytes buffered per connection for an unfinished message
                                   (default 65536 + 4096) */
    uint64_t idle_timeout_ms; /**< close a connection idle this long (default 300000) */
    uint64_t handshake_timeout_ms; /**< TLS/WebSocket handshake and first message (default 10000) */
    sip_parse_opts_t parse;        /**< limits for received messages */
    const char *tls_ca_file;       /**< PEM CA bundle for verifying peers (NULL: system default) */
    const char *tls_cert_file;     /**< PEM certificate chain of this endpoint (servers need it) */
    const char *tls_key_file;      /**< PEM private key */
    int tls_verify;                /**< verify the peer certificate and host name (default 1) */
    int tls_verify_client; /**< servers: SIP_TLS_CLIENT_NONE (default), SIP_TLS_CLIENT_REQUIRE
                                (1: a verified client certificate or no handshake) or
                                SIP_TLS_CLIENT_OPTIONAL (2: asked for, verified when sent) */
    const char *ws_path;   /**< WebSocket resource for clients (default "/") */
    const char *via_host;  /**< host written in the Via sent-by of requests sent from a
                                wildcard listener (0.0.0.0, ::); default: the listener's
                                address */
    int reuseport;         /**< open listening points with SO_REUSEPORT, so that the worker
                                processes of one server share them (sip/worker.h; default 0) */
} sip_transport_opts_t;

/** sip_transport_opts_t.tls_verify_client */
enum { SIP_TLS_CLIENT_NONE = 0, SIP_TLS_CLIENT_REQUIRE = 1, SIP_TLS_CLIENT_OPTIONAL = 2 };

/** Fills opts with the defaults. */
SIP_EXTERN void sip_transport_opts_init(sip_transport_opts_t *opts);

/**
 * The handler of the application's slot (sip_transport_set_handler()): receives every message
 * that arrives, parses (malformed requests are answered 400 or dropped before this) and reaches
 * the slot in the handler chain. The message carries its sip_netinfo_t.
 * @param msg  Borrowed for the call; sip_msg_ref() it to keep it
 */
typedef void (*sip_transport_msg_cb)(sip_transport_t *tp, sip_msg_t *msg, void *user);

/** Completion of an asynchronous send: status 0, or the error that made it fail. */
typedef void (*sip_transport_sent_cb)(sip_transport_t *tp, int status, void *user);

/**
 * Creates a transport set on a loop.
 * @param out   New reference
 * @param opts  NULL for the defaults
 * @return 0, SIP_ENOMEM, SIP_EINVAL, SIP_EIO (TLS context: bad certificate or key files).
 */
SIP_EXTERN int sip_transport_create(sip_transport_t **out, sip_loop_t *loop,
                                    const sip_transport_opts_t *opts);
/** Takes a reference. */
SIP_EXTERN sip_transport_t *sip_transport_ref(sip_transport_t *tp);
/** Drops a reference; the last one closes it. Accepts NULL. */
SIP_EXTERN void sip_transport_unref(sip_transport_t *tp);
/** Closes every listening point and connection; no callback after it returns. Idempotent. */
SIP_EXTERN void sip_transport_close(sip_transport_t *tp);

/**
 * Opens a listening point: "udp:127.0.0.1:5060", "tcp:[::1]:5060", "tls:0.0.0.0:5061",
 * "ws:127.0.0.1:8080", "wss:127.0.0.1:8443". Port 0 picks a free port.
 * @return the index of the new listening point (>= 0), or SIP_EINVAL (bad spec), a -errno
 *         (SIP_EADDRINUSE...), SIP_ECLOSED.
 */
SIP_EXTERN int sip_transport_listen(sip_transport_t *tp, const char *spec);
/** The number of listening points. */
SIP_EXTERN size_t sip_transport_listener_count(const sip_transport_t *tp);
/**
 * Describes a listening point (local_ip, local_port and transport of info are set).
 * @return 0 or SIP_ENOENT.
 */
SIP_EXTERN int sip_transport_listener_info(const sip_transport_t *tp, size_t i,
                                           sip_netinfo_t *info);

/**
 * One link of the chain of handlers that every received message goes through (see
 * sip_transport_add_handler()).
 * @param msg  Borrowed for the call; sip_msg_ref() it to keep it
 * @return 1 when the handler took the message (the chain stops there), 0 to pass it on to the
 *         next handler.
 */
typedef int (*sip_transport_handler_cb)(sip_transport_t *tp, sip_msg_t *msg, void *user);

/**
 * Priorities of the handler chain: lower runs first (the shape of PJSIP's module priorities).
 * Any int may be used; these are where libsip's own layers sit.
 */
typedef enum sip_handler_prio {
    SIP_HANDLER_PRIO_FIRST = 0, /**< taps that see every message before any layer */
    SIP_HANDLER_PRIO_TXN = 16,  /**< the transaction layer: retransmissions, responses, CANCEL */
    SIP_HANDLER_PRIO_UA = 32,   /**< a user agent core, registrar or proxy: new requests */
    SIP_HANDLER_PRIO_APP = 64,  /**< the application (and sip_transport_set_handler()'s slot) */
} sip_handler_prio_t;

/**
 * Adds a handler to the chain of received messages. Each message that arrives and parses goes
 * to the handlers in order of priority (lower first; equal priorities in the order they were
 * added) until one returns 1. A message that no handler takes is dropped (a request too: it is
 * not answered). Handlers may add or remove handlers, and close or unref the transport, from
 * inside their call: a handler removed during a dispatch is not called afterwards, one added
 * during a dispatch first sees the next message.
 * @param priority  a sip_handler_prio_t or any other int
 * @param cb        required
 * @param user_free  runs once when the registration ends: removal, the transport closing, or
 *                   this call failing (user belongs to the registration until then)
 * @return the handler's id (> 0) for sip_transport_remove_handler(), or SIP_EINVAL (NULL tp or
 *         cb), SIP_ECLOSED, SIP_ENOMEM.
 */
SIP_EXTERN int sip_transport_add_handler(sip_transport_t *tp, int priority,
                                         sip_transport_handler_cb cb, void *user,
                                         sip_free_fn user_free);

/**
 * Removes a handler added with sip_transport_add_handler(); its user_free runs now. Safe from
 * inside any handler, the removed one included: it is not called again.
 * @return 0, SIP_ENOENT (no such handler: an unknown id, or one removed already), SIP_EINVAL.
 */
SIP_EXTERN int sip_transport_remove_handler(sip_transport_t *tp, int id);

/**
 * Sets the handler of the application's slot in the chain, at SIP_HANDLER_PRIO_APP (where it
 * was first set among the handlers of that priority). A handler set here takes every message
 * that reaches it. Replacing it replaces that slot only (the old user_free runs); cb NULL passes
 * messages on.
 * @return 0, or SIP_EINVAL, SIP_ECLOSED, SIP_ENOMEM (then user_free runs).
 */
SIP_EXTERN int sip_transport_set_handler(sip_transport_t *tp, sip_transport_msg_cb cb, void *user,
                                         sip_free_fn user_free);

/**
 * Sends a request to an explicit address. The top Via gets this endpoint's transport and sent-by
 * (and rport); a request larger than mtu - 200 sent over UDP goes over TCP instead (RFC 3261
 * §18.1.1). Stream connections to the same address and transport are reused.
 * @param dst   transport, remote_ip and remote_port are used
 * @param cb    may be NULL; called once with the outcome (connect/handshake/write)
 * @return 0 when queued (cb tells the rest), or an immediate error (then cb is not called and
 *         user_free runs).
 */
SIP_EXTERN int sip_transport_send(sip_transport_t *tp, sip_msg_t *msg, const sip_netinfo_t *dst,
                                  sip_transport_sent_cb cb, void *user, sip_free_fn user_free);

/**
 * Sends a response back as RFC 3261 §18.2.2 says: over the connection the request came in on when
 * it is still open, else to the top Via's received/rport or sent-by (maddr for multicast).
 * @return 0 when queued, or an error (SIP_ENOENT: no Via).
 */
SIP_EXTERN int sip_transport_send_response(sip_transport_t *tp, sip_msg_t *rsp);

/**
 * Sets the resolver that sip_transport_send_request() uses for RFC 3263 server location.
 * Takes its own reference; NULL removes it.
 */
SIP_EXTERN int sip_transport_set_resolver(sip_transport_t *tp, sip_resolver_t *resolver);

/**
 * Sends a request where its routing says (RFC 3261 §8.1.2, §16.12): to the top Route when it
 * is a loose router (lr), else to the Request-URI, located with RFC 3263 through the resolver.
 * When sending to a target fails at the transport (refused, unreachable, TLS or WebSocket
 * handshake failure, connection timeout), the next target is tried (RFC 3263 §4.3). A timeout
 * of the transaction above is that layer's to handle.
 * @param cb  called once: 0 with the target that took it in the message's netinfo, or the
 *            last target's error (SIP_ENOENT when DNS found none)
 * @return 0 when started, or an immediate error (cb not called; user_free runs)
 */
SIP_EXTERN int sip_transport_send_request(sip_transport_t *tp, sip_msg_t *msg,
                                          sip_transport_sent_cb cb, void *user,
                                          sip_free_fn user_free);

/** The number of open stream connections. */
SIP_EXTERN size_t sip_transport_connection_count(const sip_transport_t *tp);

/** The loop the transport belongs to. Borrowed. */
SIP_EXTERN sip_loop_t *sip_transport_get_loop(sip_transport_t *tp);

/**
 * Puts a guard (sip/guard.h) in front of everything received: a datagram or a stream message
 * from a blocked source is dropped before it is parsed (counted as SIP_STAT_BLOCKED), each
 * request counts against the guard's rate limit, and a new connection from a blocked source is
 * closed at once. NULL removes it.
 * @param guard  takes its own reference
 * @return 0, SIP_ECLOSED, SIP_EINVAL (NULL tp, or a guard made on another loop).
 */
SIP_EXTERN int sip_transport_set_guard(sip_transport_t *tp, sip_guard_t *guard);
/** The guard set with sip_transport_set_guard(), or NULL. Borrowed. */
SIP_EXTERN sip_guard_t *sip_transport_get_guard(sip_transport_t *tp);

/** The resolver set with sip_transport_set_resolver(), or NULL (none, or closed). Borrowed. */
SIP_EXTERN sip_resolver_t *sip_transport_get_resolver(sip_transport_t *tp);

#ifdef __cplusplus
}
#endif
#endif
