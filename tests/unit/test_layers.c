/* SPDX-License-Identifier: MIT */
/* Unit tests of the TLS and WebSocket stream layers, run back to back in memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_hook.h"
#include "sip/sip.h"
#include "testca.h"
#include "transport/layer.h"

/* The harness's own buffers bypass the allocation hook, so failure injection and the live count
 * only see the library. */
void *__real_malloc(size_t n);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);

static test_ca_t ca;

/* ---- harness ---- */

typedef struct buf {
    char *p;
    size_t len, cap;
} buf_t;

static void buf_add(buf_t *b, const char *data, size_t len)
{
    if (b->cap - b->len < len) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < len)
            cap *= 2;
        b->p = __real_realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    if (len) memcpy(b->p + b->len, data, len);
    b->len += len;
}

static void buf_free(buf_t *b)
{
    __real_free(b->p);
    memset(b, 0, sizeof(*b));
}

#define MAX_MSGS 8

/* One end: a TLS layer, a WebSocket layer, or WebSocket over TLS. */
typedef struct peer {
    sip__tls_ctx_t *ctx;
    sip__layer_t *tls, *ws;
    sip__layer_t *top;    /* output() goes here */
    sip__layer_t *bottom; /* bytes from the wire go here */
    buf_t wire;           /* bytes for the other end */
    buf_t stream;         /* up_stream() bytes */
    buf_t msg[MAX_MSGS];  /* up_message() messages */
    int nmsg;
    int ready, closed, tls_ready, tls_closed;
    int err;                  /* first error input() returned */
    const char *say_on_ready; /* output() from within ready() */
} peer_t;

static int on_down(void *ctx, const char *data, size_t len)
{
    buf_add(&((peer_t *)ctx)->wire, data, len);
    return 0;
}

static int on_stream(void *ctx, const char *data, size_t len)
{
    buf_add(&((peer_t *)ctx)->stream, data, len);
    return 0;
}

static int on_message(void *ctx, const char *data, size_t len)
{
    peer_t *p = ctx;
    assert_true(p->nmsg < MAX_MSGS);
    buf_add(&p->msg[p->nmsg++], data, len);
    return 0;
}

static void on_ready(void *ctx)
{
    peer_t *p = ctx;
    p->ready++;
    if (p->say_on_ready)
        assert_int_equal(p->top->vt->output(p->top, p->say_on_ready, strlen(p->say_on_ready)), 0);
}

static void on_closed(void *ctx)
{
    ((peer_t *)ctx)->closed++;
}

/* WebSocket over TLS: the TLS layer's neighbours are the wire and the WebSocket layer. */
static int tls_up_to_ws(void *ctx, const char *data, size_t len)
{
    peer_t *p = ctx;
    return p->ws->vt->input(p->ws, data, len);
}

static int ws_down_to_tls(void *ctx, const char *data, size_t len)
{
    peer_t *p = ctx;
    return p->tls->vt->output(p->tls, data, len);
}

static void tls_ready_start_ws(void *ctx)
{
    peer_t *p = ctx;
    p->tls_ready++;
    assert_int_equal(p->ws->vt->start(p->ws), 0);
}

static void tls_closed_below_ws(void *ctx)
{
    ((peer_t *)ctx)->tls_closed++;
}

static void peer_free(peer_t *p)
{
    if (p->ws) p->ws->vt->destroy(p->ws);
    if (p->tls) p->tls->vt->destroy(p->tls);
    sip__tls_ctx_free(p->ctx);
    buf_free(&p->wire);
    buf_free(&p->stream);
    for (int i = 0; i < MAX_MSGS; i++)
        buf_free(&p->msg[i]);
    memset(p, 0, sizeof(*p));
}

/* Moves from's wire bytes into to, step bytes per input() call (0: all at once). Returns 1 when
 * there was something to move. Bytes for an end that already failed are dropped. */
static int deliver(peer_t *from, peer_t *to, size_t step)
{
    if (!from->wire.len) return 0;
    buf_t b = from->wire;
    memset(&from->wire, 0, sizeof(from->wire));
    for (size_t off = 0; off < b.len && !to->err;) {
        size_t n = step && step < b.len - off ? step : b.len - off;
        int rc = to->bottom->vt->input(to->bottom, b.p + off, n);
        if (rc) to->err = rc;
        off += n;
    }
    buf_free(&b);
    return 1;
}

/* Runs both ends until neither has anything to send. */
static void pump(peer_t *a, peer_t *b, size_t step)
{
    for (int round = 0; round < 100000; round++) {
        int moved = deliver(a, b, step);
        moved |= deliver(b, a, step);
        if (!moved) return;
    }
    fail_msg("the layers never went quiet");
}

static void opts_client(sip_transport_opts_t *o)
{
    sip_transport_opts_t z = {0};
    *o = z;
    o->tls_verify = 1;
    o->tls_ca_file = ca.ca;
}

static void opts_server(sip_transport_opts_t *o, const char *cert, const char *key)
{
    sip_transport_opts_t z = {0};
    *o = z;
    o->tls_cert_file = cert;
    o->tls_key_file = key;
}

static void tls_make(peer_t *p, const sip_transport_opts_t *o, int server, const char *name,
                     const sip__layer_io_t *io)
{
    char err[256];
    int rc = sip__tls_ctx_create(&p->ctx, o, server, err, sizeof(err));
    if (rc) fail_msg("TLS context: %s", err);
    assert_int_equal(sip__tls_layer_create(&p->tls, p->ctx, server, name, io), 0);
}

/* A TLS client and server, created but not started. */
static void tls_pair(peer_t *c, peer_t *s, const sip_transport_opts_t *co,
                     const sip_transport_opts_t *so, const char *name)
{
    memset(c, 0, sizeof(*c));
    memset(s, 0, sizeof(*s));
    sip__layer_io_t io = {.up_stream = on_stream,
                          .up_message = on_message,
                          .down = on_down,
                          .ready = on_ready,
                          .closed = on_closed};
    io.ctx = c;
    tls_make(c, co, 0, name, &io);
    io.ctx = s;
    tls_make(s, so, 1, NULL, &io);
    c->top = c->bottom = c->tls;
    s->top = s->bottom = s->tls;
}

/* A TLS handshake between the default client (trusting the test CA) and a server with
 * cert/key; returns after the layers went quiet. */
static void tls_run(peer_t *c, peer_t *s, const char *cert, const char *key, const char *name)
{
    sip_transport_opts_t co, so;
    opts_client(&co);
    opts_server(&so, cert, key);
    tls_pair(c, s, &co, &so, name);
    assert_int_equal(s->top->vt->start(s->top), 0);
    assert_int_equal(c->top->vt->start(c->top), 0);
    pump(c, s, 0);
}

static void ws_make(peer_t *p, int server)
{
    sip__layer_io_t io = {.ctx = p,
                          .up_message = on_message,
                          .down = on_down,
                          .ready = on_ready,
                          .closed = on_closed};
    assert_int_equal(sip__ws_layer_create(&p->ws, server, server ? NULL : "example.com",
                                          server ? NULL : "/sip", &io),
                     0);
    p->top = p->bottom = p->ws;
}

static void ws_pair(peer_t *c, peer_t *s)
{
    memset(c, 0, sizeof(*c));
    memset(s, 0, sizeof(*s));
    ws_make(c, 0);
    ws_make(s, 1);
}

/* WebSocket over TLS on both ends. */
static void wss_pair(peer_t *c, peer_t *s)
{
    memset(c, 0, sizeof(*c));
    memset(s, 0, sizeof(*s));
    sip_transport_opts_t co, so;
    opts_client(&co);
    opts_server(&so, ca.server_cert, ca.server_key);
    for (int server = 0; server < 2; server++) {
        peer_t *p = server ? s : c;
        sip__layer_io_t tio = {.ctx = p,
                               .up_stream = tls_up_to_ws,
                               .down = on_down,
                               .ready = server ? NULL : tls_ready_start_ws,
                               .closed = tls_closed_below_ws};
        tls_make(p, server ? &so : &co, server, server ? NULL : "localhost", &tio);
        sip__layer_io_t wio = {.ctx = p,
                               .up_message = on_message,
                               .down = ws_down_to_tls,
                               .ready = on_ready,
                               .closed = on_closed};
        assert_int_equal(sip__ws_layer_create(&p->ws, server, "localhost", "/", &wio), 0);
        p->top = p->ws;
        p->bottom = p->tls;
    }
}

static void assert_buf(const buf_t *b, const char *data, size_t len)
{
    assert_int_equal(b->len, len);
    if (len) assert_memory_equal(b->p, data, len);
}

#define assert_buf_str(b, s) assert_buf((b), (s), strlen(s))

static int buf_has(const buf_t *b, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i + n <= b->len; i++)
        if (memcmp(b->p + i, s, n) == 0) return 1;
    return 0;
}

static const char options_req[] = "OPTIONS sip:bob@example.com SIP/2.0\r\n"
                                  "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKasudf\r\n"
                                  "Max-Forwards: 70\r\n"
                                  "To: <sip:bob@example.com>\r\n"
                                  "From: <sip:alice@example.com>;tag=1928301774\r\n"
                                  "Call-ID: a84b4c76e66710\r\n"
                                  "CSeq: 63104 OPTIONS\r\n"
                                  "Content-Length: 0\r\n\r\n";

/* ---- TLS ---- */

static void layers_tls_handshake_data_close(void **state)
{
    (void)state;
    long live = test_alloc_live();
    peer_t c, s;
    sip_transport_opts_t co, so;
    opts_client(&co);
    opts_server(&so, ca.server_cert, ca.server_key);
    tls_pair(&c, &s, &co, &so, "localhost");
    /* No output before the handshake: the connection queues. */
    assert_int_equal(c.top->vt->output(c.top, "x", 1), SIP_EINVAL);
    assert_int_equal(s.top->vt->output(s.top, "x", 1), SIP_EINVAL);
    assert_int_equal(s.top->vt->start(s.top), 0);
    assert_int_equal(s.wire.len, 0); /* a server waits for the ClientHello */
    assert_int_equal(c.top->vt->start(c.top), 0);
    assert_true(c.wire.len > 0);
    assert_int_equal((unsigned char)c.wire.p[0], 0x16); /* a handshake record */
    pump(&c, &s, 0);
    assert_int_equal(c.err, 0);
    assert_int_equal(s.err, 0);
    assert_int_equal(c.ready, 1);
    assert_int_equal(s.ready, 1);
    assert_string_equal(sip__layer_error(c.top), "");

    assert_int_equal(c.top->vt->output(c.top, options_req, strlen(options_req)), 0);
    pump(&c, &s, 0);
    assert_buf_str(&s.stream, options_req);
    /* Larger than one record, the other way. */
    static char big[70000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    assert_int_equal(s.top->vt->output(s.top, big, sizeof(big)), 0);
    assert_int_equal(s.top->vt->output(s.top, "!", 1), 0);
    pump(&c, &s, 0);
    assert_int_equal(c.stream.len, sizeof(big) + 1);
    assert_memory_equal(c.stream.p, big, sizeof(big));
    assert_int_equal(c.stream.p[sizeof(big)], '!');

    /* close_notify one way, answered the other way. */
    c.top->vt->shutdown(c.top);
    assert_int_equal(c.top->vt->output(c.top, "x", 1), SIP_ECLOSED);
    pump(&c, &s, 0);
    assert_int_equal(s.closed, 1);
    assert_int_equal(c.closed, 1);
    assert_int_equal(c.err, 0);
    assert_int_equal(s.err, 0);
    assert_int_equal(s.top->vt->output(s.top, "x", 1), SIP_ECLOSED);
    s.top->vt->shutdown(s.top); /* already answered: nothing more */
    assert_int_equal(s.wire.len, 0);
    peer_free(&c);
    peer_free(&s);
    assert_int_equal(test_alloc_live(), live);
}

/* Application data in the same flight as the last handshake message is delivered. */
static void layers_tls_data_with_handshake(void **state)
{
    (void)state;
    long live = test_alloc_live();
    peer_t c, s;
    sip_transport_opts_t co, so;
    opts_client(&co);
    opts_server(&so, ca.server_cert, ca.server_key);
    tls_pair(&c, &s, &co, &so, "localhost");
    c.say_on_ready = "REGISTER sip:example.com SIP/2.0\r\n\r\n";
    s.say_on_ready = "NOTIFY sip:a@b SIP/2.0\r\n\r\n";
    assert_int_equal(c.top->vt->start(c.top), 0);
    deliver(&c, &s, 0); /* ClientHello */
    deliver(&s, &c, 0); /* ServerHello ... Finished: the client is done and writes at once */
    assert_int_equal(c.ready, 1);
    assert_int_equal(s.ready, 0);
    deliver(&c, &s, 0); /* Finished + data in one input() call */
    assert_int_equal(s.err, 0);
    assert_int_equal(s.ready, 1);
    assert_buf_str(&s.stream, "REGISTER sip:example.com SIP/2.0\r\n\r\n");
    pump(&c, &s, 0);
    assert_buf_str(&c.stream, "NOTIFY sip:a@b SIP/2.0\r\n\r\n");
    peer_free(&c);
    peer_free(&s);
    assert_int_equal(test_alloc_live(), live);
}

static void layers_tls_unknown_ca(void **state)
{
    (void)state;
    long live = test_alloc_live();
    peer_t c, s;
    tls_run(&c, &s, ca.self_cert, ca.self_key, "localhost");
    assert_int_equal(c.err, SIP_EIO);
    assert_string_equal(sip__layer_error(c.top),
                        "certificate verify failed: self-signed certificate");
    /* The client's alert tells the server why. */
    assert_int_equal(s.err, SIP_EIO);
    assert_string_equal(sip__layer_error(s.top), "tlsv1 alert unknown ca");
    assert_int_equal(c.ready, 0);
    assert_int_equal(s.ready, 0);
    /* A failed layer stays failed. */
    assert_int_equal(c.top->vt->input(c.top, "\x16", 1), SIP_EIO);
    assert_int_equal(c.top->vt->output(c.top, "x", 1), SIP_EIO);
    peer_free(&c);
    peer_free(&s);

    tls_run(&c, &s, ca.rogue_cert, ca.rogue_key, "localhost");
    assert_int_equal(c.err, SIP_EIO);
    assert_string_equal(sip__layer_error(c.top),
                        "certificate verify failed: unable to get local issuer certificate");
    peer_free(&c);
    peer_free(&s);

    tls_run(&c, &s, ca.expired_cert, ca.expired_key, "localhost");
    assert_int_equal(c.err, SIP_EIO);
    assert_string_equal(sip__layer_error(c.top),
                        "certificate verify failed: certificate has expired");
    peer_free(&c);
    peer_free(&s);

    /* tls_verify = 0 accepts anything. */
    sip_transport_opts_t co, so;
    opts_client(&co);
    co.tls_verify = 0;
    opts_server(&so, ca.self_cert, ca.self_key);
    tls_pair(&c, &s, &co, &so, "sip.example.com");
    assert_int_equal(c.top->vt->start(c.top), 0);
    pump(&c, &s, 0);
    assert_int_equal(c.err, 0);
    assert_int_equal(c.ready, 1);
    assert_int_equal(s.ready, 1);
    peer_free(&c);
    peer_free(&s);
    assert_int_equal(test_alloc_live(), live);
}

static void layers_tls_hostname_mismatch(void **state)
{
    (void)state;
    long live = test_alloc_live();
    peer_t c, s;
    tls_run(&c, &s, ca.server_cert, ca.server_key, "sip.example.com");
    assert_int_equal(c.err, SIP_EIO);
    assert_string_equal(sip__layer_error(c.top), "certificate verify failed: hostname mismatch");
    assert_int_equal(c.ready, 0);
    peer_free(&c);
    peer_free(&s);

    tls_run(&c, &s, ca.server_cert, ca.server_key, "127.0.0.2");
    assert_int_equal(c.err, SIP_EIO);
    assert_string_equal(sip__layer_error(c.top), "certificate verify failed: IP address mismatch");
    peer_free(&c);
    peer_free(&s);

    /* The iPAddress entries match, with or without brackets. */
    static const char *good[] = {"127.0.0.1", "::1", "[::1]", "LOCALHOST"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        tls_run(&c, &s, ca.server_cert, ca.server_key, good[i]);
        assert_int_equal(c.err, 0);
        assert_int_equal(s.err, 0);
        assert_int_equal(c.ready, 1);
        peer_free(&c);
        peer_free(&s);
    }

    /* Not a name at all. */
    sip_transport_opts_t co;
    opts_client(&co);
    sip__tls_ctx_t *ctx;
    sip__layer_t *l;
    sip__layer_io_t io = {.up_stream = on_stream, .down = on_down};
    assert_int_equal(sip__tls_ctx_create(&ctx, &co, 0, NULL, 0), 0);
    assert_int_equal(sip__tls_layer_create(&l, ctx, 0, "[]", &io), SIP_EINVAL);
    assert_null(l);
    sip__tls_ctx_free(ctx);
    assert_int_equal(test_alloc_live(), live);
}

static void layers_tls_client_cert_required(void **state)
{
    (void)state;
    long live = test_alloc_live();
    peer_t c, s;
    sip_transport_opts_t co, so;
    opts_client(&co);
    opts_server(&so, ca.server_cert, ca.server_key);
    so.tls_verify_client = 1;
    so.tls_ca_file = ca.ca;
    tls_pair(&c, &s, &co, &so, "localhost");
    assert_int_equal(c.top->vt->start(c.top), 0);
    pump(&c, &s, 0);
    assert_int_equal(s.err, SIP_EIO);
    assert_string_equal(sip__layer_error(s.top), "no certificate presented");
    assert_int_equal(s.ready, 0);
    /* TLS 1.3: the client finished first and learns it from the server's alert. */
    assert_int_equal(c.err, SIP_EIO);
    assert_string_equal(sip__layer_error(c.top), "tlsv13 alert certificate required");
    peer_free(&c);
    peer_free(&s);

    /* With the client certificate it works. */
    co.tls_cert_file = ca.client_cert;
    co.tls_key_file = ca.client_key;
    tls_pair(&c, &s, &co, &so, "localhost");
    assert_int_equal(c.top->vt->start(c.top), 0);
    pump(&c, &s, 0);
    assert_int_equal(c.err, 0);
    assert_int_equal(s.err, 0);
    assert_int_equal(s.ready, 1);
    assert_int_equal(s.top->vt->output(s.top, "hello", 5), 0);
    pump(&c, &s, 0);
    assert_buf_str(&c.stream, "hello");
    peer_free(&c);
    peer_free(&s);

    /* A client certificate from an untrusted issuer is refused. */
    co.tls_cert_file = ca.self_cert;
    co.tls_key_file = ca.self_key;
    tls_pair(&c, &s, &co, &so, "localhost");
    assert_int_equal(c.top->vt->start(c.top), 0);
    pump(&c, &s, 0);
    assert_int_equal(s.err, SIP_EIO);
    assert_string_equal(sip__layer_error(s.top),
                        "certificate verify failed: self-signed certificate");
    peer_free(&c);
    peer_free(&s);
    assert_int_equal(test_alloc_live(), live);
}

static void layers_tls_garbage_input(void **state)
{
    (void)state;
    long live = test_alloc_live();
    peer_t c, s;
    sip_transport_opts_t co, so;
    opts_client(&co);
    opts_server(&so, ca.server_cert, ca.server_key);
    tls_pair(&c, &s, &co, &so, "localhost");
    /* Plain SIP on a TLS port. */
    assert_int_equal(s.top->vt->input(s.top, options_req, strlen(options_req)), SIP_EIO);
    assert_string_equal(sip__layer_error(s.top), "wrong version number");
    assert_int_equal(s.top->vt->input(s.top, "\x16\x03\x01", 3), SIP_EIO);
    assert_int_equal(s.top->vt->output(s.top, "x", 1), SIP_EIO);
    assert_int_equal(s.ready, 0);
    assert_int_equal(s.stream.len, 0);
    /* A client answered with junk after its ClientHello. */
    assert_int_equal(c.top->vt->start(c.top), 0);
    static const char junk[] = "SIP/2.0 200 OK\r\n\r\n";
    assert_int_equal(c.top->vt->input(c.top, junk, sizeof(junk) - 1), SIP_EIO);
    assert_string_equal(sip__layer_error(c.top), "wrong version number");
    /* Random bytes too. */
    peer_free(&c);
    peer_free(&s);
    tls_pair(&c, &s, &co, &so, "localhost");
    unsigned char noise[512];
    for (size_t i = 0; i < sizeof(noise); i++)
        noise[i] = (unsigned char)(i * 131 + 7);
    assert_int_equal(s.top->vt->input(s.top, (const char *)noise, sizeof(noise)), SIP_EIO);
    assert_true(strlen(sip__layer_error(s.top)) > 0);
    /* An HTTP request on a TLS server is named as such. */
    peer_free(&c);
    peer_free(&s);
    tls_pair(&c, &s, &co, &so, "localhost");
    static const char get[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(s.top->vt->input(s.top, get, sizeof(get) - 1), SIP_EIO);
    assert_string_equal(sip__layer_error(s.top), "http request");
    peer_free(&c);
    peer_free(&s);
    assert_int_equal(test_alloc_live(), live);
}

static void layers_tls_byte_at_a_time(void **state)
{
    (void)state;
    long live = test_alloc_live();
    peer_t c, s;
    sip_transport_opts_t co, so;
    opts_client(&co);
    opts_server(&so, ca.server_cert, ca.server_key);
    tls_pair(&c, &s, &co, &so, "localhost");
    assert_int_equal(c.top->vt->start(c.top), 0);
    pump(&c, &s, 1);
    assert_int_equal(c.err, 0);
    assert_int_equal(s.err, 0);
    assert_int_equal(c.ready, 1);
    assert_int_equal(s.ready, 1);
    assert_int_equal(c.top->vt->output(c.top, options_req, strlen(options_req)), 0);
    assert_int_equal(s.top->vt->output(s.top, "SIP/2.0 200 OK\r\n", 16), 0);
    pump(&c, &s, 1);
    assert_buf_str(&s.stream, options_req);
    assert_buf_str(&c.stream, "SIP/2.0 200 OK\r\n");
    s.top->vt->shutdown(s.top);
    pump(&c, &s, 1);
    assert_int_equal(c.closed, 1);
    assert_int_equal(s.closed, 1);
    peer_free(&c);
    peer_free(&s);
    assert_int_equal(test_alloc_live(), live);
}

static void layers_tls_ctx_errors(void **state)
{
    (void)state;
    long live = test_alloc_live();
    sip__tls_ctx_t *ctx = (sip__tls_ctx_t *)1;
    char err[256], want[512];
    sip_transport_opts_t o;

    assert_int_equal(sip__tls_ctx_create(&ctx, NULL, 1, err, sizeof(err)), SIP_EINVAL);
    assert_null(ctx);

    opts_server(&o, NULL, NULL);
    assert_int_equal(sip__tls_ctx_create(&ctx, &o, 1, err, sizeof(err)), SIP_EIO);
    assert_string_equal(err, "a TLS server needs tls_cert_file and tls_key_file");
    assert_null(ctx);

    opts_server(&o, "/nonexistent/server.pem", ca.server_key);
    assert_int_equal(sip__tls_ctx_create(&ctx, &o, 1, err, sizeof(err)), SIP_EIO);
    assert_string_equal(err, "tls_cert_file /nonexistent/server.pem: No such file or directory");

    /* A key file is not a certificate. */
    opts_server(&o, ca.server_key, ca.server_key);
    assert_int_equal(sip__tls_ctx_create(&ctx, &o, 1, err, sizeof(err)), SIP_EIO);
    snprintf(want, sizeof(want), "tls_cert_file %s: no start line", ca.server_key);
    assert_string_equal(err, want);

    opts_server(&o, ca.server_cert, "/nonexistent/server.key");
    assert_int_equal(sip__tls_ctx_create(&ctx, &o, 1, err, sizeof(err)), SIP_EIO);
    assert_string_equal(err, "tls_key_file /nonexistent/server.key: No such file or directory");

    opts_server(&o, ca.server_cert, ca.client_key);
    assert_int_equal(sip__tls_ctx_create(&ctx, &o, 1, err, sizeof(err)), SIP_EIO);
    snprintf(want, sizeof(want), "tls_key_file %s does not match tls_cert_file %s", ca.client_key,
             ca.server_cert);
    assert_string_equal(err, want);

    opts_server(&o, ca.server_cert, NULL);
    assert_int_equal(sip__tls_ctx_create(&ctx, &o, 0, err, sizeof(err)), SIP_EIO);
    assert_string_equal(err, "tls_cert_file and tls_key_file go together");

    opts_client(&o);
    o.tls_ca_file = "/nonexistent/ca.pem";
    assert_int_equal(sip__tls_ctx_create(&ctx, &o, 0, err, sizeof(err)), SIP_EIO);
    assert_string_equal(err, "tls_ca_file /nonexistent/ca.pem: No such file or directory");

    opts_server(&o, ca.server_cert, ca.server_key);
    o.tls_verify_client = 1;
    o.tls_ca_file = "/nonexistent/ca.pem";
    assert_int_equal(sip__tls_ctx_create(&ctx, &o, 1, err, sizeof(err)), SIP_EIO);
    assert_string_equal(err, "tls_ca_file /nonexistent/ca.pem: No such file or directory");

    /* The system store when no CA file is given; good files give an empty errbuf. */
    opts_client(&o);
    o.tls_ca_file = NULL;
    assert_int_equal(sip__tls_ctx_create(&ctx, &o, 0, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    sip__layer_t *l = (sip__layer_t *)1;
    assert_int_equal(sip__tls_layer_create(&l, ctx, 0, "localhost", NULL), SIP_EINVAL);
    assert_null(l);
    sip__tls_ctx_free(ctx);
    sip__tls_ctx_free(NULL);
    assert_int_equal(test_alloc_live(), live);
}

/* ---- WebSocket ---- */

/* A frame as a peer would write it; mask for client-to-server frames (RFC 6455 §5.3). */
static void frame_add(buf_t *b, int fin, int opcode, int mask, const char *payload, size_t len)
{
    unsigned char h[8];
    size_t n = 0;
    h[n++] = (unsigned char)((fin ? 0x80 : 0) | opcode);
    assert_true(len < 65536);
    if (len < 126) {
        h[n++] = (unsigned char)((mask ? 0x80 : 0) | len);
    } else {
        h[n++] = (unsigned char)((mask ? 0x80 : 0) | 126);
        h[n++] = (unsigned char)(len >> 8);
        h[n++] = (unsigned char)len;
    }
    buf_add(b, (const char *)h, n);
    static const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
    if (mask) buf_add(b, (const char *)key, 4);
    for (size_t i = 0; i < len; i++) {
        char c = (char)(payload[i] ^ (mask ? key[i % 4] : 0));
        buf_add(b, &c, 1);
    }
}

static const char upgrade_req[] = "GET /sip HTTP/1.1\r\n"
                                  "Host: example.com\r\n"
                                  "Upgrade: websocket\r\n"
                                  "Connection: keep-alive, Upgrade\r\n"
                                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                  "Origin: http://example.com\r\n"
                                  "Sec-WebSocket-Protocol: chat, sip\r\n"
                                  "Sec-WebSocket-Version: 13\r\n"
                                  "\r\n";

static void layers_ws_handshake_messages(void **state)
{
    (void)state;
    long live = test_alloc_live();
    peer_t c, s;
    ws_pair(&c, &s);
    assert_int_equal(c.top->vt->output(c.top, "x", 1), SIP_EINVAL);
    assert_int_equal(s.top->vt->start(s.top), 0);
    assert_int_equal(c.top->vt->start(c.top), 0);
    /* RFC 6455 §4.1 request with the RFC 7118 §4 subprotocol. */
    static const char head[] = "GET /sip HTTP/1.1\r\n"
                               "Host: example.com\r\n"
                               "Upgrade: websocket\r\n"
                               "Connection: Upgrade\r\n"
                               "Sec-WebSocket-Key: ";
    assert_true(c.wire.len > sizeof(head));
    assert_memory_equal(c.wire.p, head, sizeof(head) - 1);
    assert_true(buf_has(&c.wire, "\r\nSec-WebSocket-Version: 13\r\n"));
    assert_true(buf_has(&c.wire, "\r\nSec-WebSocket-Protocol: sip\r\n\r\n"));
    assert_int_equal(c.wire.p[sizeof(head) - 1 + 22], '=');
    deliver(&c, &s, 0);
    assert_int_equal(s.ready, 1);
    assert_true(buf_has(&s.wire, "HTTP/1.1 101 Switching Protocols\r\n"));
    assert_true(buf_has(&s.wire, "\r\nSec-WebSocket-Protocol: sip\r\n"));
    pump(&c, &s, 0);
    assert_int_equal(c.ready, 1);
    assert_int_equal(c.err, 0);
    assert_int_equal(s.err, 0);

    /* Text, masked by the client (RFC 6455 §5.1). */
    assert_int_equal(c.top->vt->output(c.top, options_req, strlen(options_req)), 0);
    assert_int_equal((unsigned char)c.wire.p[0], 0x81);
    assert_int_equal((unsigned char)c.wire.p[1], 0x80 | 126);
    pump(&c, &s, 0);
    assert_int_equal(s.nmsg, 1);
    assert_buf_str(&s.msg[0], options_req);
    /* Not UTF-8: binary, unmasked from the server. */
    static const char bin[] = "SIP/2.0 200 OK\r\nContent-Length: 2\r\n\r\n\xff\xfe";
    assert_int_equal(s.top->vt->output(s.top, bin, sizeof(bin) - 1), 0);
    assert_int_equal((unsigned char)s.wire.p[0], 0x82);
    assert_int_equal((unsigned char)s.wire.p[1], sizeof(bin) - 1);
    pump(&c, &s, 0);
    assert_int_equal(c.nmsg, 1);
    assert_buf(&c.msg[0], bin, sizeof(bin) - 1);
    /* UTF-8 text stays text. */
    assert_int_equal(s.top->vt->output(s.top, "caf\xc3\xa9", 5), 0);
    assert_int_equal((unsigned char)s.wire.p[0], 0x81);
    pump(&c, &s, 0);
    assert_buf_str(&c.msg[1], "caf\xc3\xa9");

    /* A fragmented message with a ping between its fragments: one message, one pong. */
    buf_t in = {0};
    frame_add(&in, 0, 0x1, 1, "OPTIONS ", 8);
    frame_add(&in, 0, 0x0, 1, "sip:bob", 7);
    frame_add(&in, 1, 0x9, 1, "hb", 2);
    frame_add(&in, 1, 0x0, 1, "@example.com", 12);
    assert_int_equal(s.bottom->vt->input(s.bottom, in.p, in.len), 0);
    buf_free(&in);
    assert_int_equal(s.nmsg, 2);
    assert_buf_str(&s.msg[1], "OPTIONS sip:bob@example.com");
    assert_buf(&s.wire, "\x8a\x02hb", 4);
    s.wire.len = 0;
    /* A binary message fragmented too. */
    frame_add(&in, 0, 0x2, 1, "\x00\x01", 2);
    frame_add(&in, 1, 0x0, 1, "\x02", 1);
    assert_int_equal(s.bottom->vt->input(s.bottom, in.p, in.len), 0);
    buf_free(&in);
    assert_int_equal(s.nmsg, 3);
    assert_buf(&s.msg[2], "\x00\x01\x02", 3);

    /* A close frame is answered with the same status and reported. */
    frame_add(&in, 1, 0x8, 1, "\x03\xe8", 2);
    assert_int_equal(s.bottom->vt->input(s.bottom, in.p, in.len), 0);
    buf_free(&in);
    assert_int_equal(s.closed, 1);
    assert_buf(&s.wire, "\x88\x02\x03\xe8", 4);
    assert_int_equal(s.top->vt->output(s.top, "x", 1), SIP_ECLOSED);
    s.wire.len = 0;
    /* Frames after the close are ignored. */
    frame_add(&in, 1, 0x1, 1, "late", 4);
    assert_int_equal(s.bottom->vt->input(s.bottom, in.p, in.len), 0);
    buf_free(&in);
    assert_int_equal(s.nmsg, 3);
    assert_int_equal(s.closed, 1);
    peer_free(&c);
    peer_free(&s);
    assert_int_equal(test_alloc_live(), live);
}

static void layers_ws_close_both_ways(void **state)
{
    (void)state;
    long live = test_alloc_live();
    peer_t c, s;
    ws_pair(&c, &s);
    assert_int_equal(c.top->vt->start(c.top), 0);
    pump(&c, &s, 0);
    assert_int_equal(c.ready, 1);
    c.top->vt->shutdown(c.top);
    assert_int_equal((unsigned char)c.wire.p[0], 0x88);
    assert_int_equal(c.top->vt->output(c.top, "x", 1), SIP_ECLOSED);
    pump(&c, &s, 0);
    assert_int_equal(s.closed, 1);
    assert_int_equal(c.closed, 1);
    assert_int_equal(c.err, 0);
    assert_int_equal(s.err, 0);
    peer_free(&c);
    peer_free(&s);

    /* A ping from the server is answered by the client with a masked pong. */
    ws_pair(&c, &s);
    assert_int_equal(c.top->vt->start(c.top), 0);
    pump(&c, &s, 0);
    buf_t in = {0};
    frame_add(&in, 1, 0x9, 0, "abc", 3);
    assert_int_equal(c.bottom->vt->input(c.bottom, in.p, in.len), 0);
    buf_free(&in);
    assert_int_equal(c.wire.len, 2 + 4 + 3);
    assert_int_equal((unsigned char)c.wire.p[0], 0x8a);
    assert_int_equal((unsigned char)c.wire.p[1], 0x83);
    pump(&c, &s, 0);
    assert_int_equal(s.nmsg, 0);
    assert_int_equal(s.err, 0);
    peer_free(&c);
    peer_free(&s);
    assert_int_equal(test_alloc_live(), live);
}

/* Feeds a raw upgrade request to a fresh server s; returns input()'s result. */
static int ws_server_try(const char *req, size_t len, peer_t *s)
{
    memset(s, 0, sizeof(*s));
    ws_make(s, 1);
    return s->bottom->vt->input(s->bottom, req, len);
}

static void layers_ws_bad_upgrade(void **state)
{
    (void)state;
    long live = test_alloc_live();
    peer_t s;
    static const struct {
        const char *req, *status, *error;
        int rc;
    } bad[] = {
        {"GET /sip HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n\r\n",
         "HTTP/1.1 400 Bad Request\r\n",
         "WebSocket upgrade refused: missing or bad Sec-WebSocket-Key", SIP_EPARSE},
        {"GET /sip HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: short==\r\nSec-WebSocket-Version: 13\r\n"
         "Sec-WebSocket-Protocol: sip\r\n\r\n",
         "HTTP/1.1 400 Bad Request\r\n",
         "WebSocket upgrade refused: missing or bad Sec-WebSocket-Key", SIP_EPARSE},
        {"GET /sip HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n"
         "Sec-WebSocket-Protocol: sip\r\n\r\n",
         "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n",
         "WebSocket upgrade refused: Sec-WebSocket-Version is not 13", SIP_EPARSE},
        {"GET /sip HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
         "Sec-WebSocket-Protocol: chat, superchat\r\n\r\n",
         "HTTP/1.1 400 Bad Request\r\n",
         "WebSocket upgrade refused: no \"sip\" subprotocol offered", SIP_EPARSE},
        {"GET /sip HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
         "HTTP/1.1 400 Bad Request\r\n",
         "WebSocket upgrade refused: no \"sip\" subprotocol offered", SIP_EPARSE},
        /* RFC 6455 §4.1: subprotocol tokens are case-sensitive; "SIP" is not RFC 7118's. */
        {"GET /sip HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
         "Sec-WebSocket-Protocol: SIP\r\n\r\n",
         "HTTP/1.1 400 Bad Request\r\n",
         "WebSocket upgrade refused: no \"sip\" subprotocol offered", SIP_EPARSE},
        {"GET /sip HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
         "Sec-WebSocket-Protocol: Sip, chat\r\n\r\n",
         "HTTP/1.1 400 Bad Request\r\n",
         "WebSocket upgrade refused: no \"sip\" subprotocol offered", SIP_EPARSE},
        {"POST /sip HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
         "Sec-WebSocket-Protocol: sip\r\n\r\n",
         "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\n",
         "WebSocket upgrade refused: method is not GET", SIP_EPARSE},
        {"GET /sip HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
         "Sec-WebSocket-Protocol: sip\r\n\r\n",
         "HTTP/1.1 400 Bad Request\r\n", "WebSocket upgrade refused: not a WebSocket upgrade",
         SIP_EPARSE},
        {"GET /sip HTTP/1.0\r\nHost: h\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n",
         "WebSocket upgrade refused: not HTTP/1.1", SIP_EPARSE},
        {"GET /sip HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
         "Sec-WebSocket-Protocol: sip\r\n\r\n",
         "HTTP/1.1 400 Bad Request\r\n", "WebSocket upgrade refused: no single Host", SIP_EPARSE},
        {"GET /sip HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n",
         "WebSocket upgrade refused: malformed request", SIP_EPARSE},
        {"GET\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n",
         "WebSocket upgrade refused: malformed request", SIP_EPARSE},
        {"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n", "HTTP/1.1 405 Method Not Allowed\r\n",
         "WebSocket upgrade refused: method is not GET", SIP_EPARSE},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ws_server_try(bad[i].req, strlen(bad[i].req), &s), bad[i].rc);
        assert_string_equal(sip__layer_error(s.top), bad[i].error);
        assert_true(s.wire.len > strlen(bad[i].status));
        assert_memory_equal(s.wire.p, bad[i].status, strlen(bad[i].status));
        assert_true(buf_has(&s.wire, "\r\nConnection: close\r\n\r\n"));
        assert_int_equal(s.ready, 0);
        /* It stays failed and says nothing more. */
        s.wire.len = 0;
        assert_int_equal(s.top->vt->input(s.top, "\r\n", 2), bad[i].rc);
        assert_int_equal(s.top->vt->output(s.top, "x", 1), bad[i].rc);
        assert_int_equal(s.wire.len, 0);
        peer_free(&s);
    }

    /* A header block over 8 KiB, even one byte at a time. */
    memset(&s, 0, sizeof(s));
    ws_make(&s, 1);
    static const char start[] = "GET / HTTP/1.1\r\nX: ";
    int rc = s.top->vt->input(s.top, start, sizeof(start) - 1);
    size_t fed = sizeof(start) - 1;
    while (rc == 0 && fed < 10000) {
        rc = s.top->vt->input(s.top, "a", 1);
        fed++;
    }
    assert_int_equal(rc, SIP_ETOOBIG);
    assert_int_equal(fed, 8192);
    assert_memory_equal(s.wire.p, "HTTP/1.1 431 ", 13);
    assert_string_equal(sip__layer_error(s.top),
                        "WebSocket upgrade refused: request header block over 8192 bytes");
    peer_free(&s);

    /* The RFC 6455 §1.3 example key, "sip" among other offers. */
    assert_int_equal(ws_server_try(upgrade_req, strlen(upgrade_req), &s), 0);
    assert_int_equal(s.ready, 1);
    assert_buf_str(&s.wire, "HTTP/1.1 101 Switching Protocols\r\n"
                            "Upgrade: websocket\r\n"
                            "Connection: Upgrade\r\n"
                            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                            "Sec-WebSocket-Protocol: sip\r\n"
                            "\r\n");
    /* Unmasked frames from a client break RFC 6455 §5.1: close 1002 and fail. */
    s.wire.len = 0;
    buf_t in = {0};
    frame_add(&in, 1, 0x1, 0, "hi", 2);
    assert_int_equal(s.top->vt->input(s.top, in.p, in.len), SIP_EPARSE);
    buf_free(&in);
    assert_string_equal(sip__layer_error(s.top), "WebSocket framing error");
    assert_buf(&s.wire, "\x88\x02\x03\xea", 4);
    peer_free(&s);
    assert_int_equal(test_alloc_live(), live);
}

/* Client side: answers that must not open the connection. */
static void layers_ws_bad_answer(void **state)
{
    (void)state;
    long live = test_alloc_live();
    static const struct {
        const char *rsp, *error;
    } bad[] = {
        {"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
         "WebSocket upgrade refused: HTTP/1.1 400 Bad Request"},
        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: "
         "sip\r\n\r\n",
         "WebSocket upgrade answer has a wrong Sec-WebSocket-Accept"},
        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: @\r\n\r\n",
         "WebSocket upgrade answer has a wrong Sec-WebSocket-Accept"},
        {"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n",
         "WebSocket upgrade answer lacks Upgrade/Connection"},
        {"HTTP/1.1 1010\r\n\r\n", "WebSocket upgrade refused: HTTP/1.1 1010"},
        {"\r\n\r\n", "WebSocket upgrade refused: "},
        {"HTTP/1.1 101 OK\r\nbad line\r\n\r\n", "malformed WebSocket upgrade answer"},
    };
    peer_t c;
    /* The server's answer selecting "SIP" (RFC 6455 §4.1: not the "sip" that was offered). */
    peer_t s;
    ws_pair(&c, &s);
    assert_int_equal(c.top->vt->start(c.top), 0);
    deliver(&c, &s, 0);
    assert_int_equal(s.ready, 1);
    static const char lower[] = "Sec-WebSocket-Protocol: sip\r\n";
    char *p = NULL;
    for (size_t i = 0; i + sizeof(lower) - 1 <= s.wire.len; i++)
        if (memcmp(s.wire.p + i, lower, sizeof(lower) - 1) == 0) p = s.wire.p + i;
    assert_non_null(p);
    memcpy(p + sizeof(lower) - 6, "SIP", 3);
    deliver(&s, &c, 0);
    assert_int_equal(c.err, SIP_EPARSE);
    assert_string_equal(sip__layer_error(c.top),
                        "WebSocket server did not select the \"sip\" subprotocol");
    assert_int_equal(c.ready, 0);
    peer_free(&c);
    peer_free(&s);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&c, 0, sizeof(c));
        ws_make(&c, 0);
        assert_int_equal(c.top->vt->start(c.top), 0);
        assert_int_equal(c.top->vt->input(c.top, bad[i].rsp, strlen(bad[i].rsp)), SIP_EPARSE);
        assert_string_equal(sip__layer_error(c.top), bad[i].error);
        assert_int_equal(c.ready, 0);
        peer_free(&c);
    }

    /* A real server that does not pick "sip": answer with the right accept but no protocol. */
    ws_pair(&c, &s);
    assert_int_equal(c.top->vt->start(c.top), 0);
    deliver(&c, &s, 0);
    assert_int_equal(s.ready, 1);
    /* Cut "Sec-WebSocket-Protocol: sip\r\n" out of the server's answer. */
    static const char proto[] = "Sec-WebSocket-Protocol: sip\r\n";
    char *at = NULL;
    for (size_t i = 0; i + sizeof(proto) - 1 <= s.wire.len; i++)
        if (memcmp(s.wire.p + i, proto, sizeof(proto) - 1) == 0) at = s.wire.p + i;
    assert_non_null(at);
    memmove(at, at + sizeof(proto) - 1, (size_t)(s.wire.p + s.wire.len - at) - (sizeof(proto) - 1));
    s.wire.len -= sizeof(proto) - 1;
    deliver(&s, &c, 0);
    assert_int_equal(c.err, SIP_EPARSE);
    assert_string_equal(sip__layer_error(c.top),
                        "WebSocket server did not select the \"sip\" subprotocol");
    peer_free(&c);
    peer_free(&s);

    /* Data before the request was even sent. */
    memset(&c, 0, sizeof(c));
    ws_make(&c, 0);
    assert_int_equal(c.top->vt->input(c.top, "HTTP/1.1", 8), SIP_EPARSE);
    peer_free(&c);

    /* Arguments that cannot make a request. */
    sip__layer_t *l = (sip__layer_t *)1;
    sip__layer_io_t io = {.up_message = on_message, .down = on_down};
    assert_int_equal(sip__ws_layer_create(&l, 0, NULL, "/", &io), SIP_EINVAL);
    assert_null(l);
    assert_int_equal(sip__ws_layer_create(&l, 0, "a b", "/", &io), SIP_EINVAL);
    assert_int_equal(sip__ws_layer_create(&l, 0, "h", "/x\r\nEvil: 1", &io), SIP_EINVAL);
    assert_int_equal(sip__ws_layer_create(&l, 0, "h", "x", &io), SIP_EINVAL);
    io.up_message = NULL;
    assert_int_equal(sip__ws_layer_create(&l, 1, NULL, NULL, &io), SIP_EINVAL);
    /* An IPv6 host gets brackets; an empty path means "/". */
    io.up_message = on_message;
    memset(&c, 0, sizeof(c));
    io.ctx = &c;
    assert_int_equal(sip__ws_layer_create(&c.ws, 0, "::1", NULL, &io), 0);
    c.top = c.bottom = c.ws;
    assert_int_equal(c.top->vt->start(c.top), 0);
    assert_memory_equal(c.wire.p, "GET / HTTP/1.1\r\nHost: [::1]\r\n", 29);
    peer_free(&c);
    assert_int_equal(test_alloc_live(), live);
}

static void layers_ws_byte_at_a_time(void **state)
{
    (void)state;
    long live = test_alloc_live();
    peer_t c, s;
    ws_pair(&c, &s);
    assert_int_equal(c.top->vt->start(c.top), 0);
    pump(&c, &s, 1);
    assert_int_equal(c.err, 0);
    assert_int_equal(s.err, 0);
    assert_int_equal(c.ready, 1);
    assert_int_equal(s.ready, 1);
    assert_int_equal(c.top->vt->output(c.top, options_req, strlen(options_req)), 0);
    assert_int_equal(s.top->vt->output(s.top, "SIP/2.0 200 OK\r\n\r\n", 18), 0);
    pump(&c, &s, 1);
    assert_int_equal(s.nmsg, 1);
    assert_buf_str(&s.msg[0], options_req);
    assert_int_equal(c.nmsg, 1);
    assert_buf_str(&c.msg[0], "SIP/2.0 200 OK\r\n\r\n");
    c.top->vt->shutdown(c.top);
    pump(&c, &s, 1);
    assert_int_equal(c.closed, 1);
    assert_int_equal(s.closed, 1);
    peer_free(&c);
    peer_free(&s);
    assert_int_equal(test_alloc_live(), live);
}

/* Bytes that arrive with the end of the handshake are frames, not lost. */
static void layers_ws_bytes_after_handshake(void **state)
{
    (void)state;
    long live = test_alloc_live();
    peer_t c, s;
    /* Server: the request and two frames in one read. */
    buf_t in = {0};
    buf_add(&in, upgrade_req, strlen(upgrade_req));
    frame_add(&in, 1, 0x1, 1, "first", 5);
    frame_add(&in, 1, 0x2, 1, "second", 6);
    assert_int_equal(ws_server_try(in.p, in.len, &s), 0);
    buf_free(&in);
    assert_int_equal(s.ready, 1);
    assert_int_equal(s.nmsg, 2);
    assert_buf_str(&s.msg[0], "first");
    assert_buf_str(&s.msg[1], "second");
    peer_free(&s);

    /* Client: the server writes a message from ready(), so 101 and a frame arrive together. */
    ws_pair(&c, &s);
    s.say_on_ready = "NOTIFY sip:a@b SIP/2.0\r\n\r\n";
    assert_int_equal(c.top->vt->start(c.top), 0);
    deliver(&c, &s, 0);
    assert_int_equal(s.ready, 1);
    assert_true(buf_has(&s.wire, "\r\n\r\n\x81"));
    assert_int_equal(deliver(&s, &c, 0), 1); /* one input() call */
    assert_int_equal(c.err, 0);
    assert_int_equal(c.ready, 1);
    assert_int_equal(c.nmsg, 1);
    assert_buf_str(&c.msg[0], "NOTIFY sip:a@b SIP/2.0\r\n\r\n");
    peer_free(&c);
    peer_free(&s);
    assert_int_equal(test_alloc_live(), live);
}

static void layers_ws_oversize(void **state)
{
    (void)state;
    long live = test_alloc_live();
    enum { LIMIT = 65536 + 4096 };
    static char big[LIMIT + 1];
    memset(big, 'x', sizeof(big));
    peer_t c, s;
    ws_pair(&c, &s);
    assert_int_equal(c.top->vt->start(c.top), 0);
    pump(&c, &s, 0);
    /* Exactly the limit passes. */
    assert_int_equal(c.top->vt->output(c.top, big, LIMIT), 0);
    pump(&c, &s, 0);
    assert_int_equal(s.err, 0);
    assert_int_equal(s.nmsg, 1);
    assert_buf(&s.msg[0], big, LIMIT);
    /* One byte more fails the connection with 1009 (RFC 6455 §7.4.1). */
    assert_int_equal(c.top->vt->output(c.top, big, LIMIT + 1), 0);
    deliver(&c, &s, 0);
    assert_int_equal(s.err, SIP_ETOOBIG);
    assert_string_equal(sip__layer_error(s.top), "WebSocket message over 69632 bytes");
    assert_int_equal(s.nmsg, 1);
    assert_buf(&s.wire, "\x88\x02\x03\xf1", 4);
    pump(&c, &s, 0);
    assert_int_equal(c.closed, 1);
    assert_int_equal(c.err, 0);
    peer_free(&c);
    peer_free(&s);

    /* Also when the excess comes in a later fragment. */
    ws_pair(&c, &s);
    assert_int_equal(c.top->vt->start(c.top), 0);
    pump(&c, &s, 0);
    buf_t in = {0};
    for (int i = 0; i < 2; i++)
        frame_add(&in, 0, i ? 0x0 : 0x1, 1, big, 35000);
    assert_int_equal(s.bottom->vt->input(s.bottom, in.p, in.len), SIP_ETOOBIG);
    buf_free(&in);
    assert_int_equal(s.nmsg, 0);
    peer_free(&c);
    peer_free(&s);
    assert_int_equal(test_alloc_live(), live);
}

/* A message that is not valid UTF-8 in a text frame. */
static void layers_ws_bad_utf8_text(void **state)
{
    (void)state;
    long live = test_alloc_live();
    peer_t s;
    buf_t in = {0};
    buf_add(&in, upgrade_req, strlen(upgrade_req));
    frame_add(&in, 1, 0x1, 1, "caf\xc3", 4);
    assert_int_equal(ws_server_try(in.p, in.len, &s), SIP_EPARSE);
    buf_free(&in);
    assert_string_equal(sip__layer_error(s.top), "WebSocket text message is not valid UTF-8");
    assert_int_equal(s.nmsg, 0);
    assert_true(buf_has(&s.wire, "\x88\x02\x03\xef"));
    peer_free(&s);
    assert_int_equal(test_alloc_live(), live);
}

/* ---- WebSocket over TLS ---- */

static void wss_run(size_t step)
{
    long live = test_alloc_live();
    peer_t c, s;
    wss_pair(&c, &s);
    assert_int_equal(c.bottom->vt->start(c.bottom), 0);
    pump(&c, &s, step);
    assert_int_equal(c.err, 0);
    assert_int_equal(s.err, 0);
    assert_int_equal(c.tls_ready, 1);
    assert_int_equal(c.ready, 1);
    assert_int_equal(s.ready, 1);
    assert_int_equal(c.top->vt->output(c.top, options_req, strlen(options_req)), 0);
    static const char bin[] = "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 1\r\n\r\n\x80";
    assert_int_equal(s.top->vt->output(s.top, bin, sizeof(bin) - 1), 0);
    pump(&c, &s, step);
    assert_int_equal(s.nmsg, 1);
    assert_buf_str(&s.msg[0], options_req);
    assert_int_equal(c.nmsg, 1);
    assert_buf(&c.msg[0], bin, sizeof(bin) - 1);
    /* WebSocket close, then TLS close_notify. */
    c.top->vt->shutdown(c.top);
    pump(&c, &s, step);
    assert_int_equal(s.closed, 1);
    assert_int_equal(c.closed, 1);
    c.bottom->vt->shutdown(c.bottom);
    pump(&c, &s, step);
    assert_int_equal(s.tls_closed, 1);
    assert_int_equal(c.tls_closed, 1);
    assert_int_equal(c.err, 0);
    assert_int_equal(s.err, 0);
    peer_free(&c);
    peer_free(&s);
    assert_int_equal(test_alloc_live(), live);
}

static void layers_wss_stack(void **state)
{
    (void)state;
    wss_run(0);
}

static void layers_wss_byte_at_a_time(void **state)
{
    (void)state;
    wss_run(1);
}

/* ---- allocation failures ---- */

static void layers_alloc_failure_sweep(void **state)
{
    (void)state;
    long live = test_alloc_live();
    sip__layer_io_t io = {.up_message = on_message, .up_stream = on_stream, .down = on_down};
    int n, done = 0;
    for (n = 1; !done && n < 50; n++) {
        sip__layer_t *l = NULL;
        test_alloc_fail_at(n);
        int rc = sip__ws_layer_create(&l, 0, "example.com", "/sip", &io);
        int failed = test_alloc_failed();
        test_alloc_fail_at(0);
        if (!failed) {
            assert_int_equal(rc, 0);
            l->vt->destroy(l);
            done = 1;
        } else {
            assert_int_equal(rc, SIP_ENOMEM);
            assert_null(l);
        }
    }
    assert_true(done);

    sip_transport_opts_t o;
    opts_server(&o, ca.server_cert, ca.server_key);
    for (n = 1, done = 0; !done && n < 50; n++) {
        sip__tls_ctx_t *ctx = NULL;
        sip__layer_t *l = NULL;
        test_alloc_fail_at(n);
        int rc = sip__tls_ctx_create(&ctx, &o, 1, NULL, 0);
        if (rc == 0) rc = sip__tls_layer_create(&l, ctx, 1, NULL, &io);
        int failed = test_alloc_failed();
        test_alloc_fail_at(0);
        if (!failed) {
            assert_int_equal(rc, 0);
            done = 1;
        } else {
            assert_int_equal(rc, SIP_ENOMEM);
            assert_null(l);
        }
        if (l) l->vt->destroy(l);
        sip__tls_ctx_free(ctx);
    }
    assert_true(done);

    /* A whole WebSocket exchange with the n-th allocation failing: an error, never a crash. */
    for (n = 1, done = 0; !done && n < 50; n++) {
        peer_t c, s;
        ws_pair(&c, &s);
        test_alloc_fail_at(n);
        int rc = c.top->vt->start(c.top);
        if (rc == 0) {
            pump(&c, &s, 0);
            if (c.ready) rc = c.top->vt->output(c.top, "hello", 5);
            if (rc == 0) pump(&c, &s, 0);
        }
        int failed = test_alloc_failed();
        test_alloc_fail_at(0);
        if (!failed) {
            assert_int_equal(rc, 0);
            assert_int_equal(s.nmsg, 1);
            done = 1;
        } else {
            assert_true(rc == SIP_ENOMEM || c.err == SIP_ENOMEM || s.err == SIP_ENOMEM);
        }
        peer_free(&c);
        peer_free(&s);
    }
    assert_true(done);
    assert_int_equal(test_alloc_live(), live);
}

static int group_setup(void **state)
{
    (void)state;
    return test_ca_create(&ca);
}

static int group_teardown(void **state)
{
    (void)state;
    test_ca_remove(&ca);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(layers_tls_handshake_data_close),
        cmocka_unit_test(layers_tls_data_with_handshake),
        cmocka_unit_test(layers_tls_unknown_ca),
        cmocka_unit_test(layers_tls_hostname_mismatch),
        cmocka_unit_test(layers_tls_client_cert_required),
        cmocka_unit_test(layers_tls_garbage_input),
        cmocka_unit_test(layers_tls_byte_at_a_time),
        cmocka_unit_test(layers_tls_ctx_errors),
        cmocka_unit_test(layers_ws_handshake_messages),
        cmocka_unit_test(layers_ws_close_both_ways),
        cmocka_unit_test(layers_ws_bad_upgrade),
        cmocka_unit_test(layers_ws_bad_answer),
        cmocka_unit_test(layers_ws_byte_at_a_time),
        cmocka_unit_test(layers_ws_bytes_after_handshake),
        cmocka_unit_test(layers_ws_oversize),
        cmocka_unit_test(layers_ws_bad_utf8_text),
        cmocka_unit_test(layers_wss_stack),
        cmocka_unit_test(layers_wss_byte_at_a_time),
        cmocka_unit_test(layers_alloc_failure_sweep),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
