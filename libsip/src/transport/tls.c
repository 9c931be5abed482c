/* SPDX-License-Identifier: MIT */
/* TLS stream layer (RFC 3261 §26.2.1, RFC 5246, RFC 8446) with OpenSSL over memory BIOs. */
#include <arpa/inet.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "sip/error.h"
#include "transport/layer.h"

struct sip__tls_ctx {
    SSL_CTX *ssl_ctx;
    int server;
    int verify; /* client: check the peer certificate and name */
};

typedef struct tls_layer {
    sip__layer_t base;
    SSL *ssl;
    BIO *rbio; /* bytes from the peer, read by OpenSSL */
    BIO *wbio; /* bytes OpenSSL wrote for the peer */
    int server;
    int established;   /* handshake finished, ready() called */
    int failed;        /* the error every later call returns, or 0 */
    int peer_closed;   /* close_notify received */
    int closed_called; /* closed() reported */
} tls_layer_t;

/* The TLS 1.2 suites: ECDHE key exchange with AEAD ciphers only. */
#define SIP__TLS12_CIPHERS                                                                         \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"     \
    "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"

/* Bytes moved per SSL_read() and per down() call: one maximum-size TLS record. */
#define TLS_CHUNK 16384

static void set_error(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

/* The reason of the earliest error in OpenSSL's queue (the cause; later entries are the calls
 * that failed because of it), then empties the queue so it cannot leak into another connection.
 * buf receives system errors ("No such file or directory"), which have no static string. */
static const char *ossl_reason(unsigned long *code, char *buf, size_t len)
{
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (code) *code = e;
    if (!e) return "unknown error";
    const char *r = ERR_reason_error_string(e);
    if (r) return r;
    /* "error:8000000D:system library::Permission denied": the reason is the last field. */
    ERR_error_string_n(e, buf, len);
    r = strrchr(buf, ':');
    return r && r[1] ? r + 1 : buf;
}

/* ---- context ---- */

static int ctx_fail(SSL_CTX *c, char *errbuf, size_t errlen, const char *what, const char *file)
{
    char tmp[256];
    const char *reason = ossl_reason(NULL, tmp, sizeof(tmp));
    if (errbuf && errlen) set_error(errbuf, errlen, "%s %s: %s", what, file, reason);
    SSL_CTX_free(c);
    return SIP_EIO;
}

static int load_verify_ca(SSL_CTX *c, const char *ca_file, int server, char *errbuf, size_t errlen)
{
    if (ca_file) {
        if (SSL_CTX_load_verify_locations(c, ca_file, NULL) != 1)
            return ctx_fail(c, errbuf, errlen, "tls_ca_file", ca_file);
        if (server) {
            /* RFC 8446 §4.3.2: tell clients which CAs we accept (certificate_authorities). */
            STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca_file);
            if (names) SSL_CTX_set_client_CA_list(c, names);
            ERR_clear_error();
        }
    } else if (SSL_CTX_set_default_verify_paths(c) != 1) {
        return ctx_fail(c, errbuf, errlen, "system CA store", "(default paths)");
    }
    return 0;
}

int sip__tls_ctx_create(sip__tls_ctx_t **out, const sip_transport_opts_t *opts, int server,
                        char *errbuf, size_t errlen)
{
    if (errbuf && errlen) errbuf[0] = '\0';
    if (!out) return SIP_EINVAL;
    *out = NULL;
    if (!opts) return SIP_EINVAL;
    const char *cert = opts->tls_cert_file, *key = opts->tls_key_file;
    if (server && (!cert || !key)) {
        if (errbuf && errlen)
            set_error(errbuf, errlen, "a TLS server needs tls_cert_file and tls_key_file");
        return SIP_EIO;
    }
    if (!cert != !key) {
        if (errbuf && errlen)
            set_error(errbuf, errlen, "tls_cert_file and tls_key_file go together");
        return SIP_EIO;
    }
    sip__tls_ctx_t *t = calloc(1, sizeof(*t));
    if (!t) return SIP_ENOMEM;

    ERR_clear_error();
    SSL_CTX *c = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!c) {
        char tmp[256];
        const char *reason = ossl_reason(NULL, tmp, sizeof(tmp));
        if (errbuf && errlen) set_error(errbuf, errlen, "SSL_CTX_new: %s", reason);
        free(t);
        return SIP_EIO;
    }
    /* RFC 8996 retired TLS 1.0 and 1.1. */
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    /* Renegotiation is a denial-of-service lever and SIP never needs it; compression leaks
     * plaintext (CRIME). The server's order of ciphers wins, so a client cannot pick the
     * weakest one both allow. */
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                               (server ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0));
    /* RFC 9325 §4.2: TLS 1.2 only with forward secrecy (ECDHE) and authenticated encryption
     * (GCM, ChaCha20-Poly1305); TLS 1.3's suites are all of that kind and stay as OpenSSL
     * has them. */
    if (SSL_CTX_set_cipher_list(c, SIP__TLS12_CIPHERS) != 1) {
        free(t);
        return ctx_fail(c, errbuf, errlen, "cipher list", SIP__TLS12_CIPHERS);
    }
    int rc = 0;
    if (cert) {
        if (SSL_CTX_use_certificate_chain_file(c, cert) != 1)
            rc = ctx_fail(c, errbuf, errlen, "tls_cert_file", cert);
        else if (SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1 &&
                 ERR_GET_REASON(ERR_peek_error()) != X509_R_KEY_VALUES_MISMATCH)
            rc = ctx_fail(c, errbuf, errlen, "tls_key_file", key);
        else if (SSL_CTX_check_private_key(c) != 1) {
            ERR_clear_error();
            if (errbuf && errlen)
                set_error(errbuf, errlen, "tls_key_file %s does not match tls_cert_file %s", key,
                          cert);
            SSL_CTX_free(c);
            rc = SIP_EIO;
        }
        if (rc) {
            free(t);
            return rc;
        }
    }
    if (server) {
        /* Sessions resumed with a client certificate need an id context. */
        static const unsigned char sid_ctx[] = "libsip";
        SSL_CTX_set_session_id_context(c, sid_ctx, sizeof(sid_ctx) - 1);
        if (opts->tls_verify_client == SIP_TLS_CLIENT_REQUIRE ||
            opts->tls_verify_client == SIP_TLS_CLIENT_OPTIONAL) {
            if ((rc = load_verify_ca(c, opts->tls_ca_file, 1, errbuf, errlen)) != 0) {
                free(t);
                return rc;
            }
            /* RFC 5246 §7.4.4, RFC 8446 §4.3.2: ask for a certificate; one that is sent must
             * verify either way, and only REQUIRE refuses a client without one. */
            SSL_CTX_set_verify(c,
                               SSL_VERIFY_PEER | (opts->tls_verify_client == SIP_TLS_CLIENT_REQUIRE
                                                      ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                                      : 0),
                               NULL);
        } else {
            SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
        }
    } else if (opts->tls_verify) {
        if ((rc = load_verify_ca(c, opts->tls_ca_file, 0, errbuf, errlen)) != 0) {
            free(t);
            return rc;
        }
        SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
        t->verify = 1;
    } else {
        SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
    }
    t->ssl_ctx = c;
    t->server = server;
    *out = t;
    return 0;
}

void sip__tls_ctx_free(sip__tls_ctx_t *ctx)
{
    if (!ctx) return;
    SSL_CTX_free(ctx->ssl_ctx);
    free(ctx);
}

/* ---- layer ---- */

/* Hands everything OpenSSL wrote to the layer below. Each chunk is read out before down() runs,
 * so a down() that re-enters output() (WebSocket over TLS) finds the BIO consistent. */
static int flush_out(tls_layer_t *t)
{
    char buf[TLS_CHUNK];
    while (BIO_ctrl_pending(t->wbio) > 0) {
        int n = BIO_read(t->wbio, buf, sizeof(buf));
        if (n <= 0) break;
        int rc = t->base.io.down(t->base.io.ctx, buf, (size_t)n);
        if (rc) {
            set_error(t->base.error, sizeof(t->base.error), "sending TLS data failed");
            return rc;
        }
    }
    return 0;
}

/* Ends the layer after a failed TLS call: names the cause, still sends the alert OpenSSL wrote
 * (so the peer learns why), and makes every later call return SIP_EIO. */
static int tls_fail(tls_layer_t *t, int ssl_err)
{
    char *err = t->base.error;
    size_t len = sizeof(t->base.error);
    unsigned long code = 0;
    char tmp[256];
    const char *reason = ossl_reason(&code, tmp, sizeof(tmp));
    if (ssl_err == SSL_ERROR_SSL && ERR_GET_LIB(code) == ERR_LIB_SSL &&
        ERR_GET_REASON(code) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        long vr = SSL_get_verify_result(t->ssl);
        set_error(err, len, "certificate verify failed: %s", X509_verify_cert_error_string(vr));
    } else if (ssl_err == SSL_ERROR_SSL && ERR_GET_LIB(code) == ERR_LIB_SSL &&
               ERR_GET_REASON(code) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
        set_error(err, len, "no certificate presented");
    } else if (ssl_err == SSL_ERROR_SYSCALL && !code) {
        set_error(err, len, "TLS stream ended unexpectedly");
    } else {
        set_error(err, len, "%s", reason);
    }
    t->failed = SIP_EIO;
    /* The alert is a courtesy: the error above is what matters, whatever down() says. */
    char keep[sizeof(t->base.error)];
    memcpy(keep, err, sizeof(keep));
    (void)flush_out(t);
    memcpy(err, keep, sizeof(keep));
    return SIP_EIO;
}

/* Drives the handshake, then decrypts whatever application data is buffered. */
static int tls_process(tls_layer_t *t)
{
    if (!t->established) {
        ERR_clear_error();
        int r = SSL_do_handshake(t->ssl);
        if (r != 1) {
            int e = SSL_get_error(t->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return flush_out(t);
            return tls_fail(t, e);
        }
        t->established = 1;
        int rc = flush_out(t);
        if (rc) return rc;
        if (t->base.io.ready) t->base.io.ready(t->base.io.ctx);
        if (t->failed) return t->failed;
    }
    char buf[TLS_CHUNK];
    while (!t->peer_closed) {
        ERR_clear_error();
        int r = SSL_read(t->ssl, buf, sizeof(buf));
        if (r > 0) {
            int rc = t->base.io.up_stream(t->base.io.ctx, buf, (size_t)r);
            if (rc) {
                /* The layer above (or the framer) holds the reason; error stays empty. */
                (void)flush_out(t);
                return rc;
            }
            if (t->failed) return t->failed;
            continue;
        }
        int e = SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) break;
        if (e == SSL_ERROR_ZERO_RETURN) {
            /* RFC 8446 §6.1: close_notify; answer with ours so the peer may close too. */
            t->peer_closed = 1;
            if (!(SSL_get_shutdown(t->ssl) & SSL_SENT_SHUTDOWN)) {
                ERR_clear_error();
                (void)SSL_shutdown(t->ssl);
                ERR_clear_error();
            }
            break;
        }
        return tls_fail(t, e);
    }
    return flush_out(t);
}

static int tls_input(sip__layer_t *l, const char *data, size_t len)
{
    tls_layer_t *t = (tls_layer_t *)l;
    if (t->failed) return t->failed;
    while (len > 0) {
        int n = len > INT_MAX ? INT_MAX : (int)len;
        if (BIO_write(t->rbio, data, n) != n) {
            ERR_clear_error();
            set_error(l->error, sizeof(l->error), "out of memory buffering TLS input");
            return t->failed = SIP_ENOMEM;
        }
        data += n;
        len -= (size_t)n;
    }
    int rc = tls_process(t);
    if (rc) return rc;
    if (t->peer_closed && !t->closed_called) {
        /* Last: the owner may tear the connection down from closed(). */
        t->closed_called = 1;
        if (l->io.closed) l->io.closed(l->io.ctx);
    }
    return 0;
}

static int tls_output(sip__layer_t *l, const char *data, size_t len)
{
    tls_layer_t *t = (tls_layer_t *)l;
    if (t->failed) return t->failed;
    if (!t->established) return SIP_EINVAL;
    if (SSL_get_shutdown(t->ssl) & SSL_SENT_SHUTDOWN) return SIP_ECLOSED;
    while (len > 0) {
        int n = len > INT_MAX ? INT_MAX : (int)len;
        ERR_clear_error();
        /* Memory BIOs never block, so SSL_write takes all of it. */
        int r = SSL_write(t->ssl, data, n);
        if (r <= 0) return tls_fail(t, SSL_get_error(t->ssl, r));
        data += r;
        len -= (size_t)r;
    }
    return flush_out(t);
}

static int tls_start(sip__layer_t *l)
{
    tls_layer_t *t = (tls_layer_t *)l;
    if (t->failed) return t->failed;
    /* A server waits for the ClientHello; a client sends it now. */
    if (t->server || t->established) return 0;
    return tls_process(t);
}

static void tls_shutdown(sip__layer_t *l)
{
    tls_layer_t *t = (tls_layer_t *)l;
    if (t->failed || !t->established) return;
    if (SSL_get_shutdown(t->ssl) & SSL_SENT_SHUTDOWN) return;
    ERR_clear_error();
    (void)SSL_shutdown(t->ssl);
    ERR_clear_error();
    (void)flush_out(t);
}

static void tls_destroy(sip__layer_t *l)
{
    tls_layer_t *t = (tls_layer_t *)l;
    if (!t) return;
    SSL_free(t->ssl); /* frees both BIOs */
    free(t);
}

static const sip__layer_vt_t tls_vt = {
    .name = "tls",
    .input = tls_input,
    .output = tls_output,
    .start = tls_start,
    .shutdown = tls_shutdown,
    .destroy = tls_destroy,
};

/* Copies name without the brackets of an IPv6 reference ("[::1]"). */
static int strip_brackets(const char *name, char *buf, size_t len)
{
    size_t n = strlen(name);
    if (n >= 2 && name[0] == '[' && name[n - 1] == ']') {
        name++;
        n -= 2;
    }
    if (n == 0 || n >= len) return SIP_EINVAL;
    memcpy(buf, name, n);
    buf[n] = '\0';
    return 0;
}

static int set_peer_name(tls_layer_t *t, const sip__tls_ctx_t *ctx, const char *server_name)
{
    char name[256];
    if (strip_brackets(server_name, name, sizeof(name))) return SIP_EINVAL;
    unsigned char addr[16];
    int is_ip = inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
    if (is_ip) {
        /* RFC 6066 §3: no literal addresses in server_name; check the iPAddress SAN instead. */
        if (ctx->verify && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), name) != 1)
            return SIP_EINVAL;
        return 0;
    }
    if (SSL_set_tlsext_host_name(t->ssl, name) != 1) return SIP_EINVAL;
    if (ctx->verify) {
        /* RFC 5922 §7.1 / RFC 6125: the DNS name must match a dNSName SAN; "*" only as the
         * whole left-most label. */
        SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (SSL_set1_host(t->ssl, name) != 1) return SIP_EINVAL;
    }
    return 0;
}

int sip__tls_layer_create(sip__layer_t **out, sip__tls_ctx_t *ctx, int server,
                          const char *server_name, const sip__layer_io_t *io)
{
    if (!out) return SIP_EINVAL;
    *out = NULL;
    if (!ctx || !io || !io->down || !io->up_stream) return SIP_EINVAL;
    tls_layer_t *t = calloc(1, sizeof(*t));
    if (!t) return SIP_ENOMEM;
    t->base.vt = &tls_vt;
    t->base.io = *io;
    t->server = server;
    ERR_clear_error();
    t->ssl = SSL_new(ctx->ssl_ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        ERR_clear_error();
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(t->ssl);
        free(t);
        return SIP_ENOMEM;
    }
    /* An empty memory BIO means "wait for more", not end of stream. */
    BIO_set_mem_eof_return(t->rbio, -1);
    BIO_set_mem_eof_return(t->wbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    if (server) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
        if (server_name && server_name[0] && set_peer_name(t, ctx, server_name)) {
            ERR_clear_error();
            SSL_free(t->ssl);
            free(t);
            return SIP_EINVAL;
        }
    }
    *out = &t->base;
    return 0;
}
