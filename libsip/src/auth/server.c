/* SPDX-License-Identifier: MIT */
/* The digest server (RFC 7616 §3.3-3.5, RFC 8760, RFC 3261 §22.4): stateless signed nonces,
 * credential checks with a lookup that may answer later, nonce-count replay protection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "auth/auth_int.h"
#include "core/live_int.h"
#include "core/mem.h"
#include "sip/error.h"

/* A nonce is base64url(time || random || tag), 32 bytes, 43 characters: the time it was made
 * (ms since the epoch, big-endian), 8 random bytes, and the first 16 bytes of
 * HMAC-SHA256(secret, time || random || realm). It needs no state to check (RFC 7616 §3.3
 * suggests time-stamp and private key), and the time tells expiry from forgery. */
#define NONCE_ID 16 /* time and random: what the replay table keys on */
#define NONCE_TAG 16
#define NONCE_RAW (NONCE_ID + NONCE_TAG)
#define NONCE_TEXT 43
/* A nonce from the future beyond this is not ours (clocks of servers sharing a secret may
 * differ a little). */
#define NONCE_SKEW_MS 60000
/* Probes of the replay table before the oldest entry probed is forgotten. */
#define REPLAY_PROBES 8

typedef struct replay {
    unsigned char id[NONCE_ID];
    uint64_t time_ms;
    uint32_t nc;
    int used;
} replay_t;

struct sip_auth_server {
    int refs;
    sip__auth_hasher_t hasher;
    char *realm;
    sip__hmac_t *hmac;
    uint64_t lifetime_ms;
    int algorithms, qop, proxy;
    sip_txn_clock_t clock;
    int has_clock;
    replay_t *slots;
    size_t mask;
    /* Nonces made at or before this time that are not in the table were forgotten: they are
     * stale, so that a forgotten nonce count cannot be replayed. */
    uint64_t floor_ms;
};

enum { NONCE_VALID, NONCE_EXPIRED, NONCE_BAD };

struct sip_auth_query {
    int refs;
    int live;   /* the check's own reference is held (until DONE or close) */
    int asking; /* a lookup is pending */
    int closed;
    sip_auth_server_t *srv;
    sip_msg_t *req;
    sip_auth_check_cb cb;
    void *user;
    sip_free_fn user_free;
    sip_auth_verdict_t verdict;
    /* The credentials: views into req, but user (unescaped, owned). */
    char *username;
    sip_str_t nonce, uri, response, cnonce, nc_str;
    int alg, qop, nonce_state;
    uint32_t nc;
    unsigned char nonce_id[NONCE_ID];
    uint64_t nonce_time;
    char ha1[SIP__AUTH_HEX_MAX]; /* the base HA1 of a SIP_AUTH_OK, for rspauth */
};

static const char *const verdict_names[] = {"pending", "ok",     "challenge", "stale",
                                            "failed",  "replay", "malformed"};

const char *sip_auth_verdict_name(sip_auth_verdict_t verdict)
{
    if ((unsigned)verdict >= sizeof(verdict_names) / sizeof(verdict_names[0])) return NULL;
    return verdict_names[verdict];
}

void sip_auth_server_opts_init(sip_auth_server_opts_t *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof(*opts));
    opts->nonce_lifetime_s = 300;
    opts->algorithms = SIP_AUTH_SHA256 | SIP_AUTH_MD5;
    opts->qop = SIP_AUTH_QOP_AUTH;
    opts->replay_slots = 4096;
}

static uint64_t now_ms(const sip_auth_server_t *srv)
{
    if (srv->has_clock) return srv->clock.now_ms(srv->clock.user);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int unhex(const char *hex, unsigned char *out, size_t n)
{
    for (size_t i = 0; i < 2 * n; i++) {
        char c = hex[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0) return -1;
        out[i / 2] = (unsigned char)(i % 2 ? out[i / 2] | v : v << 4);
    }
    return 0;
}

int sip_auth_server_create(sip_auth_server_t **out, const sip_auth_server_opts_t *opts)
{
    sip_auth_server_t *srv;
    unsigned char rnd[32];
    int rc;

    if (out) *out = NULL;
    if (!out || !opts || !opts->realm || !*opts->realm || !sip__auth_quotable(opts->realm) ||
        !opts->algorithms || (opts->algorithms & ~SIP__AUTH_ALL) ||
        (opts->qop & ~(SIP_AUTH_QOP_AUTH | SIP_AUTH_QOP_AUTH_INT)) ||
        (opts->clock && !opts->clock->now_ms) || opts->replay_slots > (1u << 24))
        return SIP_EINVAL;
    if (!(srv = calloc(1, sizeof(*srv)))) return SIP_ENOMEM;
    srv->refs = 1;
    srv->lifetime_ms = (uint64_t)opts->nonce_lifetime_s * 1000;
    srv->algorithms = opts->algorithms;
    srv->qop = opts->qop;
    srv->proxy = !!opts->proxy;
    if (opts->clock) {
        srv->clock = *opts->clock;
        srv->has_clock = 1;
    }
    size_t slots = 16;
    while (slots < opts->replay_slots)
        slots *= 2;
    srv->mask = slots - 1;
    if ((rc = sip__auth_hasher_init(&srv->hasher)) < 0) goto fail;
    if (!(srv->realm = sip__strdup(opts->realm)) ||
        !(srv->slots = calloc(slots, sizeof(*srv->slots)))) {
        rc = SIP_ENOMEM;
        goto fail;
    }
    if (opts->secret) {
        rc = sip__auth_hmac_new(&srv->hmac, &srv->hasher, (const unsigned char *)opts->secret,
                                strlen(opts->secret));
    } else {
        /* 32 random bytes (256 bits, HMAC-SHA256's block half): the nonces of this server
         * are good only as long as it runs. */
        char hex[65];
        if (sip_random_hex(256, hex, sizeof(hex)) < 0 || unhex(hex, rnd, 32) < 0) {
            rc = SIP_EIO;
            goto fail;
        }
        rc = sip__auth_hmac_new(&srv->hmac, &srv->hasher, rnd, sizeof(rnd));
        OPENSSL_cleanse(rnd, sizeof(rnd));
        OPENSSL_cleanse(hex, sizeof(hex));
    }
    if (rc < 0) goto fail;
    sip__live_inc(SIP_LIVE_AUTH_SERVER);
    *out = srv;
    return 0;
fail:
    sip__auth_hmac_free(srv->hmac);
    sip__auth_hasher_free(&srv->hasher);
    free(srv->slots);
    free(srv->realm);
    free(srv);
    return rc;
}

sip_auth_server_t *sip_auth_server_ref(sip_auth_server_t *srv)
{
    if (srv) srv->refs++;
    return srv;
}

void sip_auth_server_unref(sip_auth_server_t *srv)
{
    if (!srv || --srv->refs > 0) return;
    sip__auth_hmac_free(srv->hmac);
    sip__auth_hasher_free(&srv->hasher);
    free(srv->slots);
    free(srv->realm);
    free(srv);
    sip__live_dec(SIP_LIVE_AUTH_SERVER);
}

const char *sip_auth_server_get_realm(const sip_auth_server_t *srv)
{
    return srv ? srv->realm : NULL;
}

/* ---- nonces ---------------------------------------------------------------------------- */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* RFC 4648 §5 without padding: no '"' or '\' to escape, and a token too. */
static void b64_encode(const unsigned char *in, size_t n, char *out)
{
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = acc << 8 | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[k++] = b64url[(acc >> bits) & 63];
        }
    }
    if (bits) out[k++] = b64url[(acc << (6 - bits)) & 63];
    out[k] = '\0';
}

static int b64_decode(sip_str_t in, unsigned char *out, size_t n)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t k = 0;
    for (size_t i = 0; i < in.len; i++) {
        char c = in.ptr[i];
        int v = c >= 'A' && c <= 'Z'   ? c - 'A'
                : c >= 'a' && c <= 'z' ? c - 'a' + 26
                : c >= '0' && c <= '9' ? c - '0' + 52
                : c == '-'             ? 62
                : c == '_'             ? 63
                                       : -1;
        if (v < 0) return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (k == n) return -1;
            out[k++] = (unsigned char)(acc >> bits);
        }
    }
    return k == n ? 0 : -1;
}

static int nonce_tag(sip_auth_server_t *srv, const unsigned char *id, unsigned char tag[NONCE_TAG])
{
    unsigned char md[32];
    sip_str_t parts[2] = {{(const char *)id, NONCE_ID}, sip_str_from_cstr(srv->realm)};
    int rc = sip__auth_hmac(&srv->hasher, srv->hmac, parts, 2, md);
    if (rc < 0) return rc;
    memcpy(tag, md, NONCE_TAG);
    return 0;
}

static int make_nonce(sip_auth_server_t *srv, char out[NONCE_TEXT + 1])
{
    unsigned char raw[NONCE_RAW];
    char hex[17];
    uint64_t t = now_ms(srv);
    for (int i = 0; i < 8; i++)
        raw[i] = (unsigned char)(t >> (56 - 8 * i));
    if (sip_random_hex(64, hex, sizeof(hex)) < 0 || unhex(hex, raw + 8, 8) < 0) return SIP_EIO;
    int rc = nonce_tag(srv, raw, raw + NONCE_ID);
    if (rc < 0) return rc;
    b64_encode(raw, sizeof(raw), out);
    return 0;
}

/* NONCE_VALID, NONCE_EXPIRED (ours, but too old) or NONCE_BAD (not ours). */
static int check_nonce(sip_auth_server_t *srv, sip_str_t nonce, unsigned char *id,
                       uint64_t *time_ms)
{
    unsigned char raw[NONCE_RAW], tag[NONCE_TAG];
    if (nonce.len != NONCE_TEXT || b64_decode(nonce, raw, sizeof(raw)) < 0) return NONCE_BAD;
    if (nonce_tag(srv, raw, tag) < 0 || CRYPTO_memcmp(tag, raw + NONCE_ID, NONCE_TAG) != 0)
        return NONCE_BAD;
    uint64_t t = 0, now = now_ms(srv);
    for (int i = 0; i < 8; i++)
        t = t << 8 | raw[i];
    memcpy(id, raw, NONCE_ID);
    *time_ms = t;
    if (t > now + NONCE_SKEW_MS) return NONCE_BAD;
    return now - (t < now ? t : now) > srv->lifetime_ms ? NONCE_EXPIRED : NONCE_VALID;
}

/* RFC 7616 §3.4.5: the nonce count must grow, or the request is a replay. Only nonces that
 * passed are kept, in a table of fixed size; when a probe finds no room the oldest entry goes
 * and every nonce as old becomes stale (floor_ms), so forgetting never opens a replay.
 * @return SIP_AUTH_OK (nc recorded), SIP_AUTH_REPLAY or SIP_AUTH_STALE. */
static sip_auth_verdict_t count_nonce(sip_auth_server_t *srv, const unsigned char *id,
                                      uint64_t time_ms, uint32_t nc)
{
    uint64_t h = 0, now = now_ms(srv);
    replay_t *free_slot = NULL, *oldest = NULL;
    /* The random half of the id is the hash. */
    for (int i = 8; i < 16; i++)
        h = h << 8 | id[i];
    for (size_t p = 0; p < REPLAY_PROBES; p++) {
        replay_t *r = &srv->slots[(h + p) & srv->mask];
        if (r->used && !memcmp(r->id, id, NONCE_ID)) {
            if (nc <= r->nc) return SIP_AUTH_REPLAY;
            r->nc = nc;
            return SIP_AUTH_OK;
        }
        /* An expired nonce's entry can go: the nonce itself is refused as stale. */
        if (!r->used || now - (r->time_ms < now ? r->time_ms : now) > srv->lifetime_ms) {
            if (!free_slot) free_slot = r;
        } else if (!oldest || r->time_ms < oldest->time_ms) {
            oldest = r;
        }
    }
    if (time_ms <= srv->floor_ms) return SIP_AUTH_STALE;
    if (!free_slot) {
        free_slot = oldest;
        if (oldest->time_ms > srv->floor_ms) srv->floor_ms = oldest->time_ms;
        if (time_ms <= srv->floor_ms) return SIP_AUTH_STALE;
    }
    memcpy(free_slot->id, id, NONCE_ID);
    free_slot->time_ms = time_ms;
    free_slot->nc = nc;
    free_slot->used = 1;
    return SIP_AUTH_OK;
}

/* ---- challenges ------------------------------------------------------------------------ */

static int put(char **p, size_t *left, const char *fmt, const char *a, const char *b)
{
    int n = snprintf(*p, *left, fmt, a, b);
    if (n < 0 || (size_t)n >= *left) return SIP_ENOMEM;
    *p += n;
    *left -= (size_t)n;
    return 0;
}

/* realm as a quoted-string's content (RFC 3261 §25.1). */
static char *escaped(const char *s)
{
    size_t n = strlen(s), k = 0;
    char *e = malloc(2 * n + 1);
    if (!e) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\') e[k++] = '\\';
        e[k++] = s[i];
    }
    e[k] = '\0';
    return e;
}

int sip_auth_server_challenge(sip_auth_server_t *srv, sip_msg_t *rsp, int stale)
{
    char nonce[NONCE_TEXT + 1];
    static const int order[] = {SIP_AUTH_SHA512_256, SIP_AUTH_SHA512_256_SESS,
                                SIP_AUTH_SHA256,     SIP_AUTH_SHA256_SESS,
                                SIP_AUTH_MD5,        SIP_AUTH_MD5_SESS};
    int rc;

    if (!srv || !rsp || sip_msg_is_request(rsp)) return SIP_EINVAL;
    if ((rc = make_nonce(srv, nonce)) < 0) return rc;
    char *realm = escaped(srv->realm);
    if (!realm) return SIP_ENOMEM;
    size_t size = strlen(realm) + 200;
    char *value = malloc(size);
    if (!value) {
        free(realm);
        return SIP_ENOMEM;
    }
    const char *qop = srv->qop == (SIP_AUTH_QOP_AUTH | SIP_AUTH_QOP_AUTH_INT) ? "auth,auth-int"
                      : srv->qop == SIP_AUTH_QOP_AUTH                         ? "auth"
                      : srv->qop                                              ? "auth-int"
                                                                              : NULL;
    /* RFC 8760 §2.4: one challenge per algorithm, the preferred first. */
    for (size_t i = 0; rc == 0 && i < sizeof(order) / sizeof(order[0]); i++) {
        if (!(srv->algorithms & order[i])) continue;
        char *p = value;
        size_t left = size;
        rc = put(&p, &left, "Digest realm=\"%s\", nonce=\"%s\"", realm, nonce);
        if (!rc) rc = put(&p, &left, ", algorithm=%s%s", sip_auth_algorithm_name(order[i]), "");
        if (!rc && qop) rc = put(&p, &left, ", qop=\"%s\"%s", qop, "");
        /* RFC 7616 §3.3: stale=true only when the request's digest was right. */
        if (!rc && stale) rc = put(&p, &left, "%s%s", ", stale=true", "");
        if (!rc)
            rc = sip_msg_add_header(rsp, srv->proxy ? "Proxy-Authenticate" : "WWW-Authenticate",
                                    value);
    }
    free(value);
    free(realm);
    return rc;
}

/* ---- checks ---------------------------------------------------------------------------- */

sip_auth_query_t *sip_auth_query_ref(sip_auth_query_t *q)
{
    if (q) q->refs++;
    return q;
}

void sip_auth_query_unref(sip_auth_query_t *q)
{
    if (!q || --q->refs > 0) return;
    sip_msg_unref(q->req);
    sip_auth_server_unref(q->srv);
    free(q->username);
    if (q->ha1[0]) OPENSSL_cleanse(q->ha1, sizeof(q->ha1));
    free(q);
    sip__live_dec(SIP_LIVE_AUTH_QUERY);
}

/* Ends the check: the user's registration, then the check's own reference. */
static void end(sip_auth_query_t *q)
{
    sip_free_fn user_free = q->user_free;
    void *user = q->user;
    q->closed = 1;
    q->asking = 0;
    q->cb = NULL;
    q->user_free = NULL;
    if (user_free) user_free(user);
    if (q->live) {
        q->live = 0;
        sip_auth_query_unref(q);
    }
}

static void finish(sip_auth_query_t *q, sip_auth_verdict_t verdict)
{
    q->verdict = verdict;
    q->asking = 0;
    sip_auth_query_ref(q);
    if (!q->closed && q->cb) q->cb(q, SIP_AUTH_EVENT_DONE, q->user);
    if (!q->closed) end(q);
    sip_auth_query_unref(q);
}

void sip_auth_query_close(sip_auth_query_t *q)
{
    if (!q || q->closed) return;
    sip_auth_query_ref(q);
    end(q);
    sip_auth_query_unref(q);
}

/* The nonce count: exactly 8 hex digits (RFC 7616 §3.4). */
static int parse_nc(sip_str_t s, uint32_t *nc)
{
    uint32_t v = 0;
    if (s.len != 8) return -1;
    for (size_t i = 0; i < 8; i++) {
        char c = s.ptr[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return -1;
        v = v << 4 | (uint32_t)d;
    }
    *nc = v;
    return 0;
}

/* RFC 7616 §3.4.6: the digest's uri must be the Request-URI (a proxy may not have rewritten
 * it: the request is checked where it was addressed). */
static int same_uri(sip_str_t digest_uri, const sip_uri_t *ruri)
{
    sip_uri_t u;
    if (sip_str_eq(digest_uri, ruri->raw)) return 1;
    if (sip_uri_parse(&u, digest_uri.ptr, digest_uri.len) < 0) return 0;
    return sip_uri_equal(&u, ruri);
}

/* Reads the credentials for the server's realm into q. @return SIP_AUTH_PENDING (ready for
 * the lookup), SIP_AUTH_CHALLENGE (none) or SIP_AUTH_MALFORMED. */
static sip_auth_verdict_t read_credentials(sip_auth_query_t *q)
{
    sip_auth_server_t *srv = q->srv;
    sip_hdr_id_t id = srv->proxy ? SIP_HDR_PROXY_AUTHORIZATION : SIP_HDR_AUTHORIZATION;
    size_t n = sip_msg_header_count(q->req, id);
    const sip_auth_t *a = NULL;
    for (size_t i = 0; i < n && !a; i++) {
        const sip_auth_t *c = sip_header_auth(sip_msg_header_at(q->req, id, i));
        /* RFC 3261 §22.4: credentials for other realms (other proxies') are not ours. */
        if (c && sip_str_caseeq_cstr(c->scheme, "Digest") &&
            sip__auth_unq_eq(c->realm, sip_str_from_cstr(srv->realm)))
            a = c;
    }
    if (!a) return SIP_AUTH_CHALLENGE;
    if (!a->username.len || !a->nonce.len || !a->uri.len || !a->response.len)
        return SIP_AUTH_MALFORMED;
    q->alg = a->algorithm.len ? sip__auth_alg_from_str(a->algorithm) : SIP_AUTH_MD5;
    if (!q->alg) return SIP_AUTH_MALFORMED;
    if (a->response.len != sip__auth_hex_len(q->alg)) return SIP_AUTH_MALFORMED;
    if (a->qop.len) {
        if (sip_str_caseeq_cstr(a->qop, "auth"))
            q->qop = SIP__QOP_AUTH;
        else if (sip_str_caseeq_cstr(a->qop, "auth-int"))
            q->qop = SIP__QOP_AUTH_INT;
        else
            return SIP_AUTH_MALFORMED;
        if (!a->cnonce.len || parse_nc(a->nc, &q->nc) < 0 || q->nc == 0) return SIP_AUTH_MALFORMED;
    } else {
        /* RFC 2069: no count; the nonce is then good once (as if counted 1). */
        q->qop = SIP__QOP_NONE;
        q->nc = 1;
    }
    const sip_uri_t *ruri = sip_msg_get_uri(q->req);
    if (!ruri || !same_uri(a->uri, ruri)) return SIP_AUTH_MALFORMED;
    char *u = sip__strndup(a->username.ptr, a->username.len);
    if (!u) return (sip_auth_verdict_t)-1;
    sip_str_t un = sip__auth_unq(a->username, u, a->username.len);
    u[un.len] = '\0';
    q->username = u;
    q->nonce = a->nonce;
    q->uri = a->uri;
    q->response = a->response;
    q->cnonce = a->cnonce;
    q->nc_str = a->nc;
    q->nonce_state = check_nonce(srv, a->nonce, q->nonce_id, &q->nonce_time);
    return SIP_AUTH_PENDING;
}

int sip_auth_server_check(sip_auth_query_t **out, sip_auth_server_t *srv, sip_msg_t *req,
                          sip_auth_check_cb cb, void *user, sip_free_fn user_free)
{
    sip_auth_query_t *q;

    if (out) *out = NULL;
    if (!srv || !req || !cb || !sip_msg_is_request(req)) {
        if (user_free) user_free(user);
        return SIP_EINVAL;
    }
    if (!(q = calloc(1, sizeof(*q)))) {
        if (user_free) user_free(user);
        return SIP_ENOMEM;
    }
    sip__live_inc(SIP_LIVE_AUTH_QUERY);
    q->refs = out ? 2 : 1;
    q->live = 1;
    q->srv = sip_auth_server_ref(srv);
    q->req = sip_msg_ref(req);
    q->cb = cb;
    q->user = user;
    q->user_free = user_free;
    if (out) *out = q;

    sip_auth_verdict_t v = read_credentials(q);
    if ((int)v < 0) {
        /* Out of memory: the call fails and fires nothing. */
        if (out) *out = NULL;
        q->cb = NULL;
        q->refs = 1;
        end(q);
        return SIP_ENOMEM;
    }
    if (v != SIP_AUTH_PENDING) {
        finish(q, v);
        return 0;
    }
    q->asking = 1;
    sip_auth_query_ref(q);
    cb(q, SIP_AUTH_EVENT_LOOKUP, q->user);
    sip_auth_query_unref(q);
    return 0;
}

/* The verdict once q->ha1 holds the HA1 (unknown: a stand-in, so an unknown user costs the same
 * hashing and comparison as a wrong password, RFC 7616 §5.12's advice against telling them
 * apart). q->ha1 is kept for rspauth when the verdict is SIP_AUTH_OK, else wiped. */
static void decide(sip_auth_query_t *q, int unknown)
{
    char want[SIP__AUTH_HEX_MAX];
    sip_str_t method = sip_msg_get_method_str(q->req);
    int rc =
        sip__auth_response(&q->srv->hasher, q->alg, sip_str_from_cstr(q->ha1), q->nonce, q->nc_str,
                           q->cnonce, q->qop, &method, q->uri, sip_msg_get_body(q->req), want);
    int match = rc > 0 && (size_t)rc == q->response.len &&
                CRYPTO_memcmp(want, q->response.ptr, (size_t)rc) == 0;
    sip_auth_verdict_t v;
    if (!match || unknown) {
        v = SIP_AUTH_FAILED;
    } else if (q->nonce_state != NONCE_VALID) {
        /* RFC 7616 §3.3: the digest is right for a nonce we no longer take. */
        v = SIP_AUTH_STALE;
    } else if (!(q->srv->algorithms & q->alg) ||
               (q->qop == SIP__QOP_NONE
                    ? q->srv->qop != 0
                    : !(q->srv->qop &
                        (q->qop == SIP__QOP_AUTH ? SIP_AUTH_QOP_AUTH : SIP_AUTH_QOP_AUTH_INT)))) {
        /* Right, but answering a challenge we did not make: made again. */
        v = SIP_AUTH_STALE;
    } else {
        v = count_nonce(q->srv, q->nonce_id, q->nonce_time, q->nc);
    }
    if (v != SIP_AUTH_OK) OPENSSL_cleanse(q->ha1, sizeof(q->ha1));
    finish(q, v);
}

static int answerable(const sip_auth_query_t *q)
{
    if (!q) return SIP_EINVAL;
    if (q->closed && q->verdict == SIP_AUTH_PENDING) return SIP_ECLOSED;
    if (!q->asking) return SIP_EBUSY;
    return 0;
}

int sip_auth_query_answer_ha1(sip_auth_query_t *q, const char *ha1)
{
    int rc = answerable(q);
    if (rc) return rc;
    size_t n = ha1 ? strlen(ha1) : 0;
    if (!ha1 || n != sip__auth_hex_len(q->alg)) return SIP_EINVAL;
    for (size_t i = 0; i < n; i++) {
        char c = ha1[i];
        if (c >= 'A' && c <= 'F') c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            OPENSSL_cleanse(q->ha1, sizeof(q->ha1));
            return SIP_EINVAL;
        }
        q->ha1[i] = c;
    }
    q->ha1[n] = '\0';
    q->asking = 0;
    decide(q, 0);
    return 0;
}

static int answer_password(sip_auth_query_t *q, const char *password, int unknown)
{
    int rc = answerable(q);
    if (rc) return rc;
    if (!password) return SIP_EINVAL;
    q->asking = 0;
    rc = sip__auth_ha1(&q->srv->hasher, q->alg, sip_str_from_cstr(q->username),
                       sip_str_from_cstr(q->srv->realm), sip_str_from_cstr(password), q->ha1);
    if (rc < 0) {
        finish(q, SIP_AUTH_FAILED);
        return 0;
    }
    decide(q, unknown);
    return 0;
}

int sip_auth_query_answer_password(sip_auth_query_t *q, const char *password)
{
    return answer_password(q, password, 0);
}

int sip_auth_query_answer_unknown(sip_auth_query_t *q)
{
    /* The same hashes as a password answer, of a password nobody has; the verdict does not
     * depend on their result. */
    return answer_password(q, "", 1);
}

int sip__auth_query_answer_unknown_ha1(sip_auth_query_t *q)
{
    /* What sip_auth_query_answer_ha1() does for a known user, with a stand-in HA1 of the
     * right length: a table of HA1s answers an unknown user with exactly the hashing of a
     * wrong password (RFC 7616 §5.12), no HA1 computed that a known user would not cost. */
    int rc = answerable(q);
    if (rc) return rc;
    size_t n = sip__auth_hex_len(q->alg);
    memset(q->ha1, 'f', n);
    q->ha1[n] = '\0';
    q->asking = 0;
    decide(q, 1);
    return 0;
}

sip_auth_server_t *sip_auth_query_get_server(const sip_auth_query_t *q)
{
    return q ? q->srv : NULL;
}

sip_msg_t *sip_auth_query_get_request(const sip_auth_query_t *q)
{
    return q ? q->req : NULL;
}

sip_str_t sip_auth_query_get_user(const sip_auth_query_t *q)
{
    return q && q->username ? sip_str_from_cstr(q->username) : SIP_STR_NULL;
}

sip_str_t sip_auth_query_get_realm(const sip_auth_query_t *q)
{
    return q ? sip_str_from_cstr(q->srv->realm) : SIP_STR_NULL;
}

int sip_auth_query_get_algorithm(const sip_auth_query_t *q)
{
    return q && q->username ? q->alg : 0;
}

sip_auth_verdict_t sip_auth_query_get_verdict(const sip_auth_query_t *q)
{
    return q ? q->verdict : SIP_AUTH_PENDING;
}

int sip_auth_query_get_status(const sip_auth_query_t *q)
{
    if (!q || q->verdict == SIP_AUTH_PENDING || q->verdict == SIP_AUTH_OK) return 0;
    if (q->verdict == SIP_AUTH_MALFORMED) return 400;
    return q->srv->proxy ? 407 : 401;
}

int sip_auth_query_create_response(sip_msg_t **out, sip_auth_query_t *q)
{
    int status = sip_auth_query_get_status(q), rc;
    if (out) *out = NULL;
    if (!out || !status) return SIP_EINVAL;
    if ((rc = sip_msg_create_response(out, q->req, status, NULL, NULL)) < 0) return rc;
    /* RFC 7616 §3.3: stale=true when the digest was right for a nonce we no longer take; a
     * replayed count is one (the client then retries with a fresh nonce at once, rather than
     * taking the challenge for a wrong password; a replaying attacker cannot answer it). */
    int stale = q->verdict == SIP_AUTH_STALE || q->verdict == SIP_AUTH_REPLAY;
    if (status != 400 && (rc = sip_auth_server_challenge(q->srv, *out, stale)) < 0) {
        sip_msg_unref(*out);
        *out = NULL;
    }
    return rc;
}

int sip_auth_query_add_info(sip_auth_query_t *q, sip_msg_t *rsp)
{
    char nonce[NONCE_TEXT + 1], rspauth[SIP__AUTH_HEX_MAX], value[512];
    int rc, n;

    if (!q || !rsp || q->verdict != SIP_AUTH_OK || sip_msg_is_request(rsp)) return SIP_EINVAL;
    if ((rc = make_nonce(q->srv, nonce)) < 0) return rc;
    if (q->qop == SIP__QOP_NONE) {
        n = snprintf(value, sizeof(value), "nextnonce=\"%s\"", nonce);
    } else {
        /* RFC 7616 §3.5: rspauth is the response digest with an empty method in A2, which
         * proves the server knew the password too. */
        rc = sip__auth_response(&q->srv->hasher, q->alg, sip_str_from_cstr(q->ha1), q->nonce,
                                q->nc_str, q->cnonce, q->qop, NULL, q->uri, sip_msg_get_body(rsp),
                                rspauth);
        if (rc < 0) return rc;
        n = snprintf(value, sizeof(value),
                     "nextnonce=\"%s\", qop=%s, rspauth=\"%s\", cnonce=\"%.*s\", nc=%.*s", nonce,
                     q->qop == SIP__QOP_AUTH ? "auth" : "auth-int", rspauth,
                     (int)(q->cnonce.len < 256 ? q->cnonce.len : 0), q->cnonce.ptr,
                     (int)q->nc_str.len, q->nc_str.ptr);
    }
    if (n < 0 || (size_t)n >= sizeof(value)) return SIP_ENOMEM;
    return sip_msg_add_header(rsp, "Authentication-Info", value);
}
