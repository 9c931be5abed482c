/* SPDX-License-Identifier: MIT */
/* WebSocket stream layer: RFC 6455 handshake (hand-written) and framing (wslay), carrying one SIP
 * message per WebSocket message with the "sip" subprotocol of RFC 7118. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <wslay/wslay.h>

#include "sip/error.h"
#include "sip/str.h"
#include "transport/layer.h"

/* The whole HTTP header block of the upgrade request or answer. */
#define WS_MAX_HEAD 8192
/* RFC 7118 §5 puts one SIP message in one WebSocket message; allow the same as a stream
 * connection buffers for one message (max_conn_buffer's default). */
#define WS_MAX_MESSAGE (65536 + 4096)
/* Header fields in an upgrade request or answer, at most. */
#define WS_MAX_FIELDS 64

/* RFC 6455 §1.3: appended to the key before hashing. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

typedef struct ws_layer {
    sip__layer_t base;
    int server;
    int started;       /* client: upgrade request sent */
    int open;          /* handshake done, ready() called */
    int failed;        /* the error every later call returns, or 0 */
    int cb_err;        /* an error met inside a wslay callback */
    int in_recv;       /* inside wslay_event_recv(): output() only queues */
    int closed_called; /* closed() reported */
    char *host;        /* client: Host header value */
    char *path;        /* client: request target */
    char accept[29];   /* client: the Sec-WebSocket-Accept we expect */
    char *head;        /* the handshake header block being received */
    size_t head_len;
    wslay_event_context_ptr ws;
    const char *in; /* input() bytes not yet taken by wslay */
    size_t in_len;
    char *obuf; /* frames wslay produced, sent down at once */
    size_t olen, ocap;
} ws_layer_t;

typedef struct http_field {
    sip_str_t name, value;
} http_field_t;

typedef struct http_head {
    sip_str_t start; /* request line or status line */
    http_field_t f[WS_MAX_FIELDS];
    size_t n;
} http_head_t;

static void set_error(ws_layer_t *w, const char *fmt, const char *arg)
{
    snprintf(w->base.error, sizeof(w->base.error), fmt, arg ? arg : "");
}

static int ws_fail(ws_layer_t *w, int err, const char *fmt, const char *arg)
{
    set_error(w, fmt, arg);
    w->failed = err;
    return err;
}

/* ---- HTTP header block ---- */

static int is_tchar(unsigned char c)
{
    /* RFC 9110 §5.6.2 token characters. */
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static sip_str_t trim(const char *p, size_t n)
{
    while (n && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    return (sip_str_t){p, n};
}

/* Splits a header block (ending with CRLF CRLF) into its start line and fields. Rejects
 * line folding, control characters and nameless fields. */
static int parse_head(const char *buf, size_t len, http_head_t *h)
{
    const char *p = buf, *end = buf + len;
    h->n = 0;
    int first = 1;
    while (p < end) {
        const char *eol = p;
        while (eol + 1 < end && !(eol[0] == '\r' && eol[1] == '\n'))
            eol++;
        if (eol + 1 >= end) return -1;
        size_t n = (size_t)(eol - p);
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)p[i];
            if ((c < 0x20 && c != '\t') || c == 0x7f) return -1;
        }
        if (first) {
            h->start = (sip_str_t){p, n};
            first = 0;
        } else if (n == 0) {
            return eol + 2 == end ? 0 : -1;
        } else {
            /* RFC 9112 §5.2: obs-fold is rejected. */
            if (p[0] == ' ' || p[0] == '\t') return -1;
            size_t c = 0;
            while (c < n && is_tchar((unsigned char)p[c]))
                c++;
            if (c == 0 || c >= n || p[c] != ':') return -1;
            if (h->n == WS_MAX_FIELDS) return -1;
            h->f[h->n].name = (sip_str_t){p, c};
            h->f[h->n].value = trim(p + c + 1, n - c - 1);
            h->n++;
        }
        p = eol + 2;
    }
    return -1;
}

/* The value of the only field called name; NULL view when absent, and *count says how many. */
static sip_str_t field_get(const http_head_t *h, const char *name, int *count)
{
    sip_str_t v = SIP_STR_NULL;
    int k = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (sip_str_caseeq_cstr(h->f[i].name, name)) {
            if (!k) v = h->f[i].value;
            k++;
        }
    }
    if (count) *count = k;
    return v;
}

/* 1 when a comma-separated list in any field called name holds token: case-insensitive, or
 * exactly when exact is set. */
static int field_has_token(const http_head_t *h, const char *name, const char *token, int exact)
{
    for (size_t i = 0; i < h->n; i++) {
        if (!sip_str_caseeq_cstr(h->f[i].name, name)) continue;
        const char *p = h->f[i].value.ptr, *end = p + h->f[i].value.len;
        while (p < end) {
            const char *comma = p;
            while (comma < end && *comma != ',')
                comma++;
            sip_str_t item = trim(p, (size_t)(comma - p));
            if (exact ? sip_str_eq(item, sip_str_from_cstr(token))
                      : sip_str_caseeq_cstr(item, token))
                return 1;
            p = comma + 1;
        }
    }
    return 0;
}

/* RFC 6455 §4.2.2: base64(SHA-1(key + GUID)); out gets 28 characters and a NUL. */
static int make_accept(sip_str_t key, char out[29])
{
    unsigned char in[64 + sizeof(ws_guid)], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (key.len > 64) return -1;
    memcpy(in, key.ptr, key.len);
    memcpy(in + key.len, ws_guid, sizeof(ws_guid) - 1);
    if (EVP_Digest(in, key.len + sizeof(ws_guid) - 1, md, &mdlen, EVP_sha1(), NULL) != 1 ||
        mdlen != 20)
        return -1;
    EVP_EncodeBlock((unsigned char *)out, md, 20);
    return 0;
}

/* RFC 6455 §4.1: the key is 16 random bytes in base64, so 22 characters and "==". */
static int key_valid(sip_str_t key)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (key.len != 24 || key.ptr[22] != '=' || key.ptr[23] != '=') return 0;
    for (size_t i = 0; i < 22; i++)
        if (!key.ptr[i] || !strchr(b64, key.ptr[i])) return 0;
    return 1;
}

/* ---- output buffer and wslay callbacks ---- */

static int obuf_append(ws_layer_t *w, const void *data, size_t len)
{
    if (w->ocap - w->olen < len) {
        size_t cap = w->ocap ? w->ocap : 1024;
        while (cap - w->olen < len)
            cap *= 2;
        char *p = realloc(w->obuf, cap);
        if (!p) return SIP_ENOMEM;
        w->obuf = p;
        w->ocap = cap;
    }
    memcpy(w->obuf + w->olen, data, len);
    w->olen += len;
    return 0;
}

/* Sends the buffered bytes down. The buffer is detached first, so a down() that comes back
 * into this layer starts a fresh one. */
static int obuf_flush(ws_layer_t *w)
{
    while (w->olen) {
        char *buf = w->obuf;
        size_t len = w->olen;
        w->obuf = NULL;
        w->olen = w->ocap = 0;
        int rc = w->base.io.down(w->base.io.ctx, buf, len);
        if (!w->obuf) {
            w->obuf = buf;
            w->ocap = len;
            w->olen = 0;
        } else {
            free(buf);
        }
        if (rc) return rc;
    }
    return 0;
}

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *user)
{
    (void)flags;
    ws_layer_t *w = user;
    if (w->in_len == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < w->in_len ? len : w->in_len;
    memcpy(buf, w->in, n);
    w->in += n;
    w->in_len -= n;
    return (ssize_t)n;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                          void *user)
{
    (void)flags;
    ws_layer_t *w = user;
    if (obuf_append(w, data, len)) {
        w->cb_err = SIP_ENOMEM;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

static int ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
    (void)ctx;
    (void)user;
    /* RFC 6455 §5.3: masks must be unpredictable. */
    return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

static void ws_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *user)
{
    ws_layer_t *w = user;
    if (arg->opcode != WSLAY_TEXT_FRAME && arg->opcode != WSLAY_BINARY_FRAME) return;
    /* An empty message carries no SIP message; nothing to deliver. */
    if (w->cb_err || arg->msg_length == 0) return;
    int rc = w->base.io.up_message(w->base.io.ctx, (const char *)arg->msg, arg->msg_length);
    if (rc) {
        w->cb_err = rc;
        wslay_event_shutdown_read(ctx);
    }
}

/* Lets wslay write what it has queued (pongs, close answers, messages), then sends it down. */
static int ws_flush(ws_layer_t *w)
{
    int r = wslay_event_send(w->ws);
    if (w->cb_err == SIP_ENOMEM || r == WSLAY_ERR_NOMEM)
        return ws_fail(w, SIP_ENOMEM, "out of memory framing a WebSocket message", NULL);
    if (r != 0) return ws_fail(w, SIP_EIO, "WebSocket send failed", NULL);
    int rc = obuf_flush(w);
    if (rc) {
        w->failed = rc;
        return rc;
    }
    return 0;
}

/* Frames received after the handshake. */
static int ws_feed(ws_layer_t *w, const char *data, size_t len)
{
    w->in = data;
    w->in_len = len;
    w->in_recv = 1;
    int r = wslay_event_recv(w->ws);
    w->in_recv = 0;
    w->in = NULL;
    w->in_len = 0;
    if (w->cb_err == SIP_ENOMEM || r == WSLAY_ERR_NOMEM)
        return ws_fail(w, SIP_ENOMEM, "out of memory receiving a WebSocket message", NULL);
    if (w->cb_err) {
        /* up_message failed: its owner holds the reason. */
        w->failed = w->cb_err;
        return w->failed;
    }
    if (r != 0) return ws_fail(w, SIP_EIO, "WebSocket receive failed", NULL);
    int rc = ws_flush(w);
    if (rc) return rc;
    if (!wslay_event_get_read_enabled(w->ws) && !wslay_event_get_close_received(w->ws)) {
        /* wslay stopped reading and queued (and we just sent) a close frame saying why. */
        switch (wslay_event_get_status_code_sent(w->ws)) {
        case WSLAY_CODE_MESSAGE_TOO_BIG:
            return ws_fail(w, SIP_ETOOBIG, "WebSocket message over 69632 bytes", NULL);
        case WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA:
            return ws_fail(w, SIP_EPARSE, "WebSocket text message is not valid UTF-8", NULL);
        default: return ws_fail(w, SIP_EPARSE, "WebSocket framing error", NULL);
        }
    }
    if (wslay_event_get_close_received(w->ws) && !w->closed_called) {
        /* Last: the owner may tear the connection down from closed(). */
        w->closed_called = 1;
        if (w->base.io.closed) w->base.io.closed(w->base.io.ctx);
    }
    return 0;
}

/* ---- handshake ---- */

/* RFC 6455 §4.2.2: a refused upgrade gets an HTTP error answer and ends the connection. */
static int server_refuse(ws_layer_t *w, int err, const char *status, const char *extra,
                         const char *why)
{
    char rsp[256];
    int n = snprintf(rsp, sizeof(rsp),
                     "HTTP/1.1 %s\r\n%sContent-Length: 0\r\nConnection: close\r\n\r\n", status,
                     extra ? extra : "");
    (void)w->base.io.down(w->base.io.ctx, rsp, (size_t)n);
    return ws_fail(w, err, "WebSocket upgrade refused: %s", why);
}

static int server_handshake(ws_layer_t *w, const char *buf, size_t len)
{
    http_head_t head, *hp = &head;
    if (parse_head(buf, len, hp))
        return server_refuse(w, SIP_EPARSE, "400 Bad Request", NULL, "malformed request");
    /* Request line: GET SP request-target SP HTTP/1.1 (RFC 6455 §4.1). */
    sip_str_t line = hp->start;
    const char *sp1 = memchr(line.ptr, ' ', line.len);
    if (!sp1) return server_refuse(w, SIP_EPARSE, "400 Bad Request", NULL, "malformed request");
    const char *rest = sp1 + 1;
    size_t rest_len = line.len - (size_t)(rest - line.ptr);
    const char *sp2 = memchr(rest, ' ', rest_len);
    if (!sp2 || sp2 == rest)
        return server_refuse(w, SIP_EPARSE, "400 Bad Request", NULL, "malformed request");
    sip_str_t method = {line.ptr, (size_t)(sp1 - line.ptr)};
    sip_str_t version = {sp2 + 1, rest_len - (size_t)(sp2 + 1 - rest)};
    if (!sip_str_eq(method, SIP_STR("GET")))
        return server_refuse(w, SIP_EPARSE, "405 Method Not Allowed", "Allow: GET\r\n",
                             "method is not GET");
    if (!sip_str_eq(version, SIP_STR("HTTP/1.1")))
        return server_refuse(w, SIP_EPARSE, "400 Bad Request", NULL, "not HTTP/1.1");
    int count;
    field_get(hp, "Host", &count);
    if (count != 1) return server_refuse(w, SIP_EPARSE, "400 Bad Request", NULL, "no single Host");
    if (!field_has_token(hp, "Upgrade", "websocket", 0) ||
        !field_has_token(hp, "Connection", "Upgrade", 0))
        return server_refuse(w, SIP_EPARSE, "400 Bad Request", NULL, "not a WebSocket upgrade");
    /* RFC 6455 §4.4: an unsupported version gets 426 and the versions we speak. */
    sip_str_t ver = field_get(hp, "Sec-WebSocket-Version", &count);
    if (count != 1 || !sip_str_eq(ver, SIP_STR("13")))
        return server_refuse(w, SIP_EPARSE, "426 Upgrade Required", "Sec-WebSocket-Version: 13\r\n",
                             "Sec-WebSocket-Version is not 13");
    sip_str_t key = field_get(hp, "Sec-WebSocket-Key", &count);
    if (count != 1 || !key_valid(key))
        return server_refuse(w, SIP_EPARSE, "400 Bad Request", NULL,
                             "missing or bad Sec-WebSocket-Key");
    /* RFC 7118 §4: the client offers "sip"; without it this is not a SIP connection. RFC 6455
     * §4.1 compares subprotocol tokens case-sensitively: "SIP" is another protocol, and a client
     * that offered only it would drop a "sip" answer. */
    if (!field_has_token(hp, "Sec-WebSocket-Protocol", "sip", 1))
        return server_refuse(w, SIP_EPARSE, "400 Bad Request", NULL,
                             "no \"sip\" subprotocol offered");
    char accept[29];
    if (make_accept(key, accept))
        return server_refuse(w, SIP_EIO, "500 Internal Server Error", NULL, "SHA-1 failed");
    char rsp[256];
    int n = snprintf(rsp, sizeof(rsp),
                     "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n"
                     "Sec-WebSocket-Protocol: sip\r\n"
                     "\r\n",
                     accept);
    int rc = w->base.io.down(w->base.io.ctx, rsp, (size_t)n);
    if (rc) {
        w->failed = rc;
        return rc;
    }
    return 0;
}

static int client_handshake(ws_layer_t *w, const char *buf, size_t len)
{
    http_head_t h;
    if (parse_head(buf, len, &h))
        return ws_fail(w, SIP_EPARSE, "malformed WebSocket upgrade answer", NULL);
    char line[96];
    sip_str_copy(h.start, line, sizeof(line));
    /* RFC 6455 §4.1: anything but 101 means no WebSocket. */
    if (h.start.len < 12 || memcmp(h.start.ptr, "HTTP/1.1 101", 12) != 0 ||
        (h.start.len > 12 && h.start.ptr[12] != ' '))
        return ws_fail(w, SIP_EPARSE, "WebSocket upgrade refused: %s", line);
    if (!field_has_token(&h, "Upgrade", "websocket", 0) ||
        !field_has_token(&h, "Connection", "Upgrade", 0))
        return ws_fail(w, SIP_EPARSE, "WebSocket upgrade answer lacks Upgrade/Connection", NULL);
    int count;
    sip_str_t acc = field_get(&h, "Sec-WebSocket-Accept", &count);
    if (count != 1 || !sip_str_eq(acc, sip_str_from_cstr(w->accept)))
        return ws_fail(w, SIP_EPARSE, "WebSocket upgrade answer has a wrong Sec-WebSocket-Accept",
                       NULL);
    /* RFC 7118 §4: the server must select "sip", exactly (RFC 6455 §4.1: case-sensitive). */
    sip_str_t proto = field_get(&h, "Sec-WebSocket-Protocol", &count);
    if (count != 1 || !sip_str_eq(proto, SIP_STR("sip")))
        return ws_fail(w, SIP_EPARSE, "WebSocket server did not select the \"sip\" subprotocol",
                       NULL);
    return 0;
}

/* Collects the header block; *used says how many of data's bytes belong to it. On success with
 * w->open set, the rest of data is WebSocket frames. */
static int handshake_input(ws_layer_t *w, const char *data, size_t len, size_t *used)
{
    *used = len;
    if (!w->head) {
        w->head = malloc(WS_MAX_HEAD);
        if (!w->head) return ws_fail(w, SIP_ENOMEM, "out of memory", NULL);
    }
    size_t old = w->head_len, room = WS_MAX_HEAD - old;
    size_t take = len < room ? len : room;
    memcpy(w->head + old, data, take);
    w->head_len += take;
    size_t end = 0;
    for (size_t i = old >= 3 ? old - 3 : 0; i + 4 <= w->head_len; i++) {
        if (memcmp(w->head + i, "\r\n\r\n", 4) == 0) {
            end = i + 4;
            break;
        }
    }
    if (!end) {
        if (w->head_len < WS_MAX_HEAD) return 0;
        if (w->server)
            return server_refuse(w, SIP_ETOOBIG, "431 Request Header Fields Too Large", NULL,
                                 "request header block over 8192 bytes");
        return ws_fail(w, SIP_ETOOBIG, "WebSocket upgrade answer over 8192 bytes", NULL);
    }
    *used = end - old;
    int rc = w->server ? server_handshake(w, w->head, end) : client_handshake(w, w->head, end);
    free(w->head);
    w->head = NULL;
    w->head_len = 0;
    if (rc) return rc;
    w->open = 1;
    return 0;
}

/* ---- layer ---- */

/* RFC 3629 well-formed UTF-8: no overlongs, surrogates or code points above U+10FFFF. */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        unsigned char lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            if (c == 0xe0) lo = 0xa0;
            if (c == 0xed) hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            if (c == 0xf0) lo = 0x90;
            if (c == 0xf4) hi = 0x8f;
        } else {
            return 0;
        }
        if (n - i <= k) return 0;
        if (s[i + 1] < lo || s[i + 1] > hi) return 0;
        for (size_t j = 2; j <= k; j++)
            if ((s[i + j] & 0xc0) != 0x80) return 0;
        i += k + 1;
    }
    return 1;
}

static int ws_input(sip__layer_t *l, const char *data, size_t len)
{
    ws_layer_t *w = (ws_layer_t *)l;
    if (w->failed) return w->failed;
    if (!w->open) {
        if (!w->server && !w->started)
            return ws_fail(w, SIP_EPARSE, "WebSocket data before the upgrade request", NULL);
        if (len == 0) return 0;
        size_t used;
        int rc = handshake_input(w, data, len, &used);
        if (rc) return rc;
        if (!w->open) return 0;
        data += used;
        len -= used;
        if (l->io.ready) l->io.ready(l->io.ctx);
        if (w->failed) return w->failed;
    }
    /* Bytes that came with the end of the handshake are frames already. */
    return ws_feed(w, data, len);
}

static int ws_output(sip__layer_t *l, const char *data, size_t len)
{
    ws_layer_t *w = (ws_layer_t *)l;
    if (w->failed) return w->failed;
    if (!w->open) return SIP_EINVAL;
    /* RFC 7118 §5.1: text frames for UTF-8 messages, binary frames otherwise. */
    struct wslay_event_msg m = {
        .opcode =
            utf8_valid((const unsigned char *)data, len) ? WSLAY_TEXT_FRAME : WSLAY_BINARY_FRAME,
        .msg = (const uint8_t *)data,
        .msg_length = len,
    };
    int r = wslay_event_queue_msg(w->ws, &m);
    if (r == WSLAY_ERR_NO_MORE_MSG) return SIP_ECLOSED;
    if (r == WSLAY_ERR_NOMEM) return SIP_ENOMEM;
    if (r != 0) return SIP_EINVAL;
    /* Inside wslay_event_recv() (a reply from up_message): ws_feed() sends it afterwards. */
    if (w->in_recv) return 0;
    return ws_flush(w);
}

static int ws_start(sip__layer_t *l)
{
    ws_layer_t *w = (ws_layer_t *)l;
    if (w->failed) return w->failed;
    if (w->server || w->started) return 0;
    unsigned char nonce[16];
    char key[25];
    if (RAND_bytes(nonce, sizeof(nonce)) != 1)
        return ws_fail(w, SIP_EIO, "no random bytes for Sec-WebSocket-Key", NULL);
    EVP_EncodeBlock((unsigned char *)key, nonce, sizeof(nonce));
    if (make_accept(sip_str_from_cstr(key), w->accept))
        return ws_fail(w, SIP_EIO, "SHA-1 failed", NULL);
    size_t cap = strlen(w->host) + strlen(w->path) + 256;
    char *req = malloc(cap);
    if (!req) return ws_fail(w, SIP_ENOMEM, "out of memory", NULL);
    /* RFC 6455 §4.1 and RFC 7118 §4 (subprotocol "sip"). */
    int n = snprintf(req, cap,
                     "GET %s HTTP/1.1\r\n"
                     "Host: %s\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Protocol: sip\r\n"
                     "\r\n",
                     w->path, w->host, key);
    w->started = 1;
    int rc = l->io.down(l->io.ctx, req, (size_t)n);
    free(req);
    if (rc) w->failed = rc;
    return rc;
}

static void ws_shutdown(sip__layer_t *l)
{
    ws_layer_t *w = (ws_layer_t *)l;
    if (w->failed || !w->open) return;
    /* RFC 6455 §7.1.2: 1000, normal closure; the peer answers with its own close frame. */
    if (wslay_event_queue_close(w->ws, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0) != 0) return;
    if (!w->in_recv) (void)ws_flush(w);
}

static void ws_destroy(sip__layer_t *l)
{
    ws_layer_t *w = (ws_layer_t *)l;
    if (!w) return;
    wslay_event_context_free(w->ws);
    free(w->head);
    free(w->obuf);
    free(w->host);
    free(w->path);
    free(w);
}

static const sip__layer_vt_t ws_vt = {
    .name = "ws",
    .input = ws_input,
    .output = ws_output,
    .start = ws_start,
    .shutdown = ws_shutdown,
    .destroy = ws_destroy,
};

/* Host and path go into the request verbatim, so they must not break its lines. */
static int plain_text(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || *s == 0x7f) return 0;
    return 1;
}

static char *dup_host(const char *host)
{
    /* An IPv6 literal needs brackets in Host (RFC 9110 §7.2, RFC 3986 §3.2.2). */
    const char *c = strchr(host, ':');
    int v6 = host[0] != '[' && c && strchr(c + 1, ':');
    size_t n = strlen(host);
    char *p = malloc(n + 3);
    if (!p) return NULL;
    if (v6) {
        p[0] = '[';
        memcpy(p + 1, host, n);
        p[n + 1] = ']';
        p[n + 2] = '\0';
    } else {
        memcpy(p, host, n + 1);
    }
    return p;
}

int sip__ws_layer_create(sip__layer_t **out, int server, const char *host, const char *path,
                         const sip__layer_io_t *io)
{
    if (!out) return SIP_EINVAL;
    *out = NULL;
    if (!io || !io->down || !io->up_message) return SIP_EINVAL;
    if (!server) {
        if (!path || !path[0]) path = "/";
        if (!host || !host[0] || !plain_text(host) || path[0] != '/' || !plain_text(path))
            return SIP_EINVAL;
    }
    ws_layer_t *w = calloc(1, sizeof(*w));
    if (!w) return SIP_ENOMEM;
    w->base.vt = &ws_vt;
    w->base.io = *io;
    w->server = server;
    if (!server) {
        w->host = dup_host(host);
        w->path = malloc(strlen(path) + 1);
        if (!w->host || !w->path) {
            ws_destroy(&w->base);
            return SIP_ENOMEM;
        }
        memcpy(w->path, path, strlen(path) + 1);
    }
    struct wslay_event_callbacks cbs = {
        .recv_callback = ws_recv_cb,
        .send_callback = ws_send_cb,
        .genmask_callback = ws_genmask_cb,
        .on_msg_recv_callback = ws_msg_cb,
    };
    int r = server ? wslay_event_context_server_init(&w->ws, &cbs, w)
                   : wslay_event_context_client_init(&w->ws, &cbs, w);
    if (r != 0) {
        w->ws = NULL;
        ws_destroy(&w->base);
        return SIP_ENOMEM;
    }
    /* wslay checks each frame header against this before buffering the payload. */
    wslay_event_config_set_max_recv_msg_length(w->ws, WS_MAX_MESSAGE);
    *out = &w->base;
    return 0;
}
