/* SPDX-License-Identifier: MIT */
/* Stream layers between a socket and the SIP framer: TLS (OpenSSL) and WebSocket (RFC 7118).
 * A connection stacks them: socket <-> layer 0 <-> layer 1 <-> SIP. Each layer only talks to its
 * neighbours through sip__layer_io_t, so a layer can be tested in memory, back to back with its
 * peer, without any socket. */
#ifndef SIP_TRANSPORT_LAYER_H
#define SIP_TRANSPORT_LAYER_H

#include <stddef.h>

#include "sip/transport.h"

typedef struct sip__layer sip__layer_t;

/* What a layer calls. Every function returns 0 or a negative error; an error from up_* or down
 * makes the layer's own call fail with it. ctx is the owner's (the connection, or a test). */
typedef struct sip__layer_io {
    void *ctx;
    /* Decoded bytes of a byte stream, for the layer above or the SIP framer. */
    int (*up_stream)(void *ctx, const char *data, size_t len);
    /* One whole message (a WebSocket message holds exactly one SIP message: RFC 7118 §5). */
    int (*up_message)(void *ctx, const char *data, size_t len);
    /* Encoded bytes for the layer below or the socket. */
    int (*down)(void *ctx, const char *data, size_t len);
    /* The handshake finished: the layer now accepts output(). */
    void (*ready)(void *ctx);
    /* The peer closed cleanly (TLS close_notify, WebSocket close frame). */
    void (*closed)(void *ctx);
} sip__layer_io_t;

typedef struct sip__layer_vt {
    const char *name;
    /* Bytes from below. Returns 0, or an error that ends the connection (the reason is in
     * sip__layer_error()). */
    int (*input)(sip__layer_t *l, const char *data, size_t len);
    /* One SIP message (or stream bytes) from above, to be encoded and sent down. Before ready()
     * it returns SIP_EINVAL: the connection queues until then. */
    int (*output)(sip__layer_t *l, const char *data, size_t len);
    /* The socket is connected: a client layer sends its first handshake bytes; a server layer
     * waits for the peer. */
    int (*start)(sip__layer_t *l);
    /* Sends a clean close (close_notify, close frame) if the layer has one. */
    void (*shutdown)(sip__layer_t *l);
    void (*destroy)(sip__layer_t *l);
} sip__layer_vt_t;

struct sip__layer {
    const sip__layer_vt_t *vt;
    sip__layer_io_t io;
    char error[160]; /* why the last call failed, for the log */
};

static inline const char *sip__layer_error(const sip__layer_t *l)
{
    return l->error;
}

/* ---- TLS (OpenSSL, memory BIOs) ---- */

typedef struct sip__tls_ctx sip__tls_ctx_t;

/* Makes the SSL_CTX of a transport for one role from its options: server (needs cert and key;
 * asks for a client certificate when tls_verify_client), or client (verifies the peer against
 * tls_ca_file or the system store when tls_verify, may present cert/key). On failure returns
 * SIP_EIO and writes why into errbuf (file names and OpenSSL's reason). */
int sip__tls_ctx_create(sip__tls_ctx_t **out, const sip_transport_opts_t *opts, int server,
                        char *errbuf, size_t errlen);
void sip__tls_ctx_free(sip__tls_ctx_t *ctx);

/* A TLS layer. server_name (client role): sent as SNI and checked against the peer certificate
 * (DNS name or IP address) when verifying; may be NULL for no name check. */
int sip__tls_layer_create(sip__layer_t **out, sip__tls_ctx_t *ctx, int server,
                          const char *server_name, const sip__layer_io_t *io);

/* ---- WebSocket (RFC 6455 framing with wslay, RFC 7118 "sip" subprotocol) ---- */

/* A WebSocket layer. Server: reads the HTTP Upgrade request, answers 101 with
 * Sec-WebSocket-Protocol: sip (or 400/426 and an error for a bad request). Client: sends the
 * Upgrade request for host and path and checks the 101 answer. After the handshake every message
 * received goes to up_message (text or binary); output() sends one SIP message as one text frame
 * (binary when not valid UTF-8). Pings are answered; a close frame calls closed(). */
int sip__ws_layer_create(sip__layer_t **out, int server, const char *host, const char *path,
                         const sip__layer_io_t *io);

#endif
