/* SPDX-License-Identifier: MIT */
/* The digest client (RFC 3261 §22.2-22.3, RFC 7616 §3.4, RFC 8760): credentials, answers to
 * 401/407 challenges, and the per-realm cache that authorises later requests at once. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth/auth_int.h"
#include "core/mem.h"
#include "sip/error.h"

typedef struct cred {
    char *realm; /* NULL: any realm */
    char *user;
    char *password;              /* NULL when ha1 is given */
    char ha1[SIP__AUTH_HEX_MAX]; /* with ha1_alg, when password is NULL */
    int ha1_alg;                 /* a base algorithm */
} cred_t;

/* The last challenge answered for one realm of one kind (401 or 407). */
typedef struct cached {
    int proxy;
    char *realm, *user, *nonce, *opaque; /* unquoted; opaque NULL when the challenge had none */
    int alg;
    int qops;                    /* 1 << SIP__QOP_AUTH | 1 << SIP__QOP_AUTH_INT offered */
    uint32_t nc;                 /* the last nonce count sent with nonce */
    char ha1[SIP__AUTH_HEX_MAX]; /* the base HA1 for alg */
} cached_t;

struct sip_auth_client {
    int refs;
    sip__auth_hasher_t hasher;
    cred_t *creds;
    size_t ncreds, capcreds;
    cached_t *cache;
    size_t ncache, capcache;
};

int sip_auth_client_create(sip_auth_client_t **out)
{
    if (!out) return SIP_EINVAL;
    *out = calloc(1, sizeof(**out));
    if (!*out) return SIP_ENOMEM;
    (*out)->refs = 1;
    int rc = sip__auth_hasher_init(&(*out)->hasher);
    if (rc < 0) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

sip_auth_client_t *sip_auth_client_ref(sip_auth_client_t *ac)
{
    if (ac) ac->refs++;
    return ac;
}

static void cred_free(cred_t *c)
{
    free(c->realm);
    free(c->user);
    if (c->password) {
        memset(c->password, 0, strlen(c->password));
        free(c->password);
    }
    memset(c, 0, sizeof(*c));
}

static void cached_free(cached_t *c)
{
    free(c->realm);
    free(c->user);
    free(c->nonce);
    free(c->opaque);
    memset(c, 0, sizeof(*c));
}

void sip_auth_client_clear(sip_auth_client_t *ac)
{
    if (!ac) return;
    for (size_t i = 0; i < ac->ncreds; i++)
        cred_free(&ac->creds[i]);
    for (size_t i = 0; i < ac->ncache; i++)
        cached_free(&ac->cache[i]);
    ac->ncreds = ac->ncache = 0;
}

void sip_auth_client_unref(sip_auth_client_t *ac)
{
    if (!ac || --ac->refs > 0) return;
    sip_auth_client_clear(ac);
    sip__auth_hasher_free(&ac->hasher);
    free(ac->creds);
    free(ac->cache);
    free(ac);
}

size_t sip_auth_client_count(const sip_auth_client_t *ac)
{
    return ac ? ac->ncreds : 0;
}

static int any_realm(const char *realm)
{
    return !realm || !strcmp(realm, "*");
}

static int same_realm(const char *a, const char *b)
{
    return any_realm(a) ? any_realm(b) : !any_realm(b) && !strcmp(a, b);
}

int sip_auth_client_add(sip_auth_client_t *ac, const sip_auth_cred_t *cred)
{
    cred_t c = {0};
    int alg;

    if (!ac || !cred || !cred->user || (!cred->password && !cred->ha1)) return SIP_EINVAL;
    /* They are written in quoted-strings of the Authorization header. */
    if (!*cred->user || !sip__auth_quotable(cred->user) ||
        (cred->realm && !sip__auth_quotable(cred->realm)))
        return SIP_EINVAL;
    if (!cred->password) {
        alg = cred->algorithm ? cred->algorithm : SIP_AUTH_MD5;
        if (any_realm(cred->realm) || !sip__auth_alg_valid(alg)) return SIP_EINVAL;
        alg = sip__auth_alg_base(alg);
        size_t n = strlen(cred->ha1);
        if (n != sip__auth_hex_len(alg)) return SIP_EINVAL;
        for (size_t i = 0; i < n; i++) {
            if (!isxdigit((unsigned char)cred->ha1[i])) return SIP_EINVAL;
            c.ha1[i] = (char)tolower((unsigned char)cred->ha1[i]);
        }
        c.ha1[n] = '\0';
        c.ha1_alg = alg;
    }
    if (!any_realm(cred->realm) && !(c.realm = sip__strdup(cred->realm))) goto nomem;
    if (!(c.user = sip__strdup(cred->user))) goto nomem;
    if (cred->password && !(c.password = sip__strdup(cred->password))) goto nomem;
    /* A challenge cached with an earlier credential of this user (for this realm, or any) is
     * forgotten: its HA1 came from that credential, and the next request is to use this one. */
    for (size_t i = 0; i < ac->ncache;) {
        cached_t *e = &ac->cache[i];
        if (!strcmp(e->user, c.user) && (!c.realm || !strcmp(e->realm, c.realm))) {
            cached_free(e);
            ac->cache[i] = ac->cache[--ac->ncache];
        } else {
            i++;
        }
    }
    for (size_t i = 0; i < ac->ncreds; i++) {
        if (same_realm(ac->creds[i].realm, c.realm) && !strcmp(ac->creds[i].user, c.user)) {
            cred_free(&ac->creds[i]);
            ac->creds[i] = c;
            return 0;
        }
    }
    if (ac->ncreds == ac->capcreds) {
        size_t cap = ac->capcreds ? 2 * ac->capcreds : 4;
        cred_t *n = realloc(ac->creds, cap * sizeof(*n));
        if (!n) goto nomem;
        ac->creds = n;
        ac->capcreds = cap;
    }
    ac->creds[ac->ncreds++] = c;
    return 0;
nomem:
    cred_free(&c);
    return SIP_ENOMEM;
}

/* The credential that answers alg in realm: one named for the realm before one for any realm
 * (RFC 7616 §3.3's realm names the password database); an HA1 only for its own hash. */
static const cred_t *find_cred(const sip_auth_client_t *ac, sip_str_t realm, int alg)
{
    const cred_t *wild = NULL;
    for (size_t i = 0; i < ac->ncreds; i++) {
        const cred_t *c = &ac->creds[i];
        if (!c->password && c->ha1_alg != sip__auth_alg_base(alg)) continue;
        if (!c->realm) {
            if (!wild) wild = c;
        } else if (sip__auth_unq_eq(realm, sip_str_from_cstr(c->realm))) {
            return c;
        }
    }
    return wild;
}

static cached_t *find_cached(sip_auth_client_t *ac, int proxy, sip_str_t realm)
{
    for (size_t i = 0; i < ac->ncache; i++)
        if (ac->cache[i].proxy == proxy && sip_str_eq(sip_str_from_cstr(ac->cache[i].realm), realm))
            return &ac->cache[i];
    return NULL;
}

static int qops_of(sip_str_t qop)
{
    int qops = 0;
    sip_str_t iter = qop, name;
    /* RFC 7616 §3.3: qop is a comma-separated list of tokens, "auth" and "auth-int". */
    while (iter.len) {
        const char *c = memchr(iter.ptr, ',', iter.len);
        size_t n = c ? (size_t)(c - iter.ptr) : iter.len;
        name = (sip_str_t){iter.ptr, n};
        while (name.len && (*name.ptr == ' ' || *name.ptr == '\t')) {
            name.ptr++;
            name.len--;
        }
        while (name.len && (name.ptr[name.len - 1] == ' ' || name.ptr[name.len - 1] == '\t'))
            name.len--;
        if (sip_str_caseeq_cstr(name, "auth")) qops |= 1 << SIP__QOP_AUTH;
        if (sip_str_caseeq_cstr(name, "auth-int")) qops |= 1 << SIP__QOP_AUTH_INT;
        iter = c ? (sip_str_t){c + 1, iter.len - n - 1} : SIP_STR_NULL;
    }
    return qops;
}

/* A growing text for one header value. */
typedef struct buf {
    char *p;
    size_t len, cap;
    int failed;
} buf_t;

static void put(buf_t *b, const char *s, size_t n)
{
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(buf_t *b, const char *s)
{
    put(b, s, strlen(s));
}

/* name="value" with '"' and '\' escaped (RFC 3261 §25.1 quoted-pair). */
static void put_quoted(buf_t *b, const char *name, const char *v)
{
    puts_(b, name);
    put(b, "=\"", 2);
    for (const char *s = v; *s; s++) {
        if (*s == '"' || *s == '\\') put(b, "\\", 1);
        put(b, s, 1);
    }
    put(b, "\"", 1);
}

/* The Authorization value answering e for req, the nonce count already raised. */
static int credentials(sip__auth_hasher_t *h, const cached_t *e, const sip_msg_t *req, char **out)
{
    char cnonce[SIP__AUTH_HEX_MAX], nc[9], resp[SIP__AUTH_HEX_MAX];
    const sip_uri_t *ruri = sip_msg_get_uri(req);
    sip_str_t method = sip_msg_get_method_str(req);
    int qop = SIP__QOP_NONE, rc;
    buf_t b = {0};

    *out = NULL;
    if (!ruri) return SIP_EINVAL;
    /* RFC 7616 §3.4: auth-int protects the body too, so it is preferred when offered; the body
     * of the request is always at hand here. */
    if (e->qops & (1 << SIP__QOP_AUTH_INT))
        qop = SIP__QOP_AUTH_INT;
    else if (e->qops & (1 << SIP__QOP_AUTH))
        qop = SIP__QOP_AUTH;
    if (sip__auth_test_cnonce)
        snprintf(cnonce, sizeof(cnonce), "%s", sip__auth_test_cnonce);
    else if (sip_random_hex(128, cnonce, sizeof(cnonce)) < 0)
        return SIP_EIO;
    snprintf(nc, sizeof(nc), "%08x", (unsigned)e->nc);
    /* RFC 2617 §3.2.2: without a qop no cnonce is sent, so a -sess A1 (which names one) has
     * an empty one, as the server computes it. */
    rc = sip__auth_response(h, e->alg, sip_str_from_cstr(e->ha1), sip_str_from_cstr(e->nonce),
                            (sip_str_t){nc, 8},
                            qop == SIP__QOP_NONE ? SIP_STR("") : sip_str_from_cstr(cnonce), qop,
                            &method, ruri->raw, sip_msg_get_body(req), resp);
    if (rc < 0) return rc;

    puts_(&b, "Digest ");
    put_quoted(&b, "username", e->user);
    puts_(&b, ", ");
    put_quoted(&b, "realm", e->realm);
    puts_(&b, ", ");
    put_quoted(&b, "nonce", e->nonce);
    puts_(&b, ", uri=\"");
    put(&b, ruri->raw.ptr, ruri->raw.len);
    puts_(&b, "\", response=\"");
    puts_(&b, resp);
    puts_(&b, "\", algorithm=");
    puts_(&b, sip_auth_algorithm_name(e->alg));
    if (qop != SIP__QOP_NONE) {
        puts_(&b, ", ");
        put_quoted(&b, "cnonce", cnonce);
        puts_(&b, qop == SIP__QOP_AUTH ? ", qop=auth, nc=" : ", qop=auth-int, nc=");
        puts_(&b, nc);
    }
    if (e->opaque) {
        puts_(&b, ", ");
        put_quoted(&b, "opaque", e->opaque);
    }
    if (b.failed) {
        free(b.p);
        return SIP_ENOMEM;
    }
    *out = b.p;
    return 0;
}

static const char *cred_hdr(int proxy)
{
    return proxy ? "Proxy-Authorization" : "Authorization";
}

/* The index of req's credentials of that kind for realm, or -1. */
static long find_credentials(const sip_msg_t *req, int proxy, sip_str_t realm)
{
    sip_hdr_id_t id = proxy ? SIP_HDR_PROXY_AUTHORIZATION : SIP_HDR_AUTHORIZATION;
    size_t n = sip_msg_header_count(req, id);
    for (size_t i = 0; i < n; i++) {
        const sip_auth_t *a = sip_header_auth(sip_msg_header_at(req, id, i));
        if (a && sip__auth_unq_eq(a->realm, realm)) return (long)i;
    }
    return -1;
}

/* Adds e's credentials to req, in place of those req had for the same realm. */
static int add_credentials(sip_auth_client_t *ac, cached_t *e, sip_msg_t *req)
{
    char *value;
    long i;
    int rc;

    e->nc++;
    if ((rc = credentials(&ac->hasher, e, req, &value)) < 0) return rc;
    while ((i = find_credentials(req, e->proxy, sip_str_from_cstr(e->realm))) >= 0)
        sip_msg_remove_header(req, cred_hdr(e->proxy), (size_t)i);
    rc = sip_msg_add_header(req, cred_hdr(e->proxy), value);
    free(value);
    return rc;
}

static char *dup_unq(sip_str_t v)
{
    char *s = sip__strndup(v.ptr ? v.ptr : "", v.len);
    if (!s) return NULL;
    sip_str_t u = sip__auth_unq(v, s, v.len);
    s[u.len] = '\0';
    return s;
}

/* One challenge picked for its realm. */
typedef struct pick {
    const sip_auth_t *a;
    int proxy, alg;
    const cred_t *cred;
} pick_t;

#define MAX_PICKS 16

/* Records the challenge in the cache (a new nonce restarts the count, RFC 7616 §3.4). */
static int remember(sip_auth_client_t *ac, const pick_t *p, cached_t **out)
{
    char ha1[SIP__AUTH_HEX_MAX];
    cached_t e = {0}, *old;
    int rc;

    *out = NULL;
    if (!(e.realm = dup_unq(p->a->realm)) || !(e.nonce = dup_unq(p->a->nonce)) ||
        !(e.user = sip__strdup(p->cred->user)) ||
        (p->a->opaque.ptr && !(e.opaque = dup_unq(p->a->opaque)))) {
        cached_free(&e);
        return SIP_ENOMEM;
    }
    e.proxy = p->proxy;
    e.alg = p->alg;
    e.qops = qops_of(p->a->qop);
    if (p->cred->password) {
        rc = sip__auth_ha1(&ac->hasher, p->alg, sip_str_from_cstr(e.user),
                           sip_str_from_cstr(e.realm), sip_str_from_cstr(p->cred->password), ha1);
        if (rc < 0) {
            cached_free(&e);
            return rc;
        }
        memcpy(e.ha1, ha1, sizeof(ha1));
    } else {
        memcpy(e.ha1, p->cred->ha1, sizeof(e.ha1));
    }
    old = find_cached(ac, e.proxy, sip_str_from_cstr(e.realm));
    if (old) {
        if (!strcmp(old->nonce, e.nonce) && old->alg == e.alg && !strcmp(old->user, e.user))
            e.nc = old->nc;
        cached_free(old);
        *old = e;
        *out = old;
        return 0;
    }
    if (ac->ncache == ac->capcache) {
        size_t cap = ac->capcache ? 2 * ac->capcache : 4;
        cached_t *n = realloc(ac->cache, cap * sizeof(*n));
        if (!n) {
            cached_free(&e);
            return SIP_ENOMEM;
        }
        ac->cache = n;
        ac->capcache = cap;
    }
    ac->cache[ac->ncache] = e;
    *out = &ac->cache[ac->ncache++];
    return 0;
}

static void forget(sip_auth_client_t *ac, int proxy, sip_str_t realm_raw)
{
    for (size_t i = 0; i < ac->ncache; i++) {
        cached_t *e = &ac->cache[i];
        if (e->proxy == proxy && sip__auth_unq_eq(realm_raw, sip_str_from_cstr(e->realm))) {
            cached_free(e);
            ac->cache[i] = ac->cache[--ac->ncache];
            return;
        }
    }
}

/* 1 when sent already carried credentials of user for this realm: the challenge that answers
 * them, unless stale (RFC 7616 §3.3), says they were wrong. */
static int was_refused(const sip_msg_t *sent, const pick_t *p)
{
    sip_hdr_id_t id = p->proxy ? SIP_HDR_PROXY_AUTHORIZATION : SIP_HDR_AUTHORIZATION;
    size_t n = sip_msg_header_count(sent, id);
    if (sip_str_caseeq_cstr(p->a->stale, "true")) return 0;
    for (size_t i = 0; i < n; i++) {
        const sip_auth_t *a = sip_header_auth(sip_msg_header_at(sent, id, i));
        char rbuf[512];
        if (!a) continue;
        sip_str_t realm = sip__auth_unq(a->realm, rbuf, sizeof(rbuf));
        if (sip__auth_unq_eq(p->a->realm, realm) &&
            sip__auth_unq_eq(a->username, sip_str_from_cstr(p->cred->user)))
            return 1;
    }
    return 0;
}

int sip_auth_client_authorize(sip_auth_client_t *ac, sip_msg_t *next, const sip_msg_t *sent,
                              const sip_msg_t *challenge)
{
    pick_t picks[MAX_PICKS];
    size_t npicks = 0;
    int digest = 0, status;

    if (!ac || !next || !sent || !challenge || !sip_msg_is_request(next) ||
        sip_msg_is_request(challenge))
        return SIP_EINVAL;
    status = sip_msg_get_status(challenge);
    if (status != 401 && status != 407) return SIP_EINVAL;

    /* RFC 3261 §22.3: a 401 or 407 may carry both kinds (a forking proxy aggregates them,
     * §16.7), each answered with its own credentials header. RFC 8760 §2.4: several challenges
     * for one realm, one per algorithm: the strongest we have a credential for answers. */
    for (int proxy = 0; proxy <= 1; proxy++) {
        sip_hdr_id_t id = proxy ? SIP_HDR_PROXY_AUTHENTICATE : SIP_HDR_WWW_AUTHENTICATE;
        size_t n = sip_msg_header_count(challenge, id);
        for (size_t i = 0; i < n; i++) {
            const sip_auth_t *a = sip_header_auth(sip_msg_header_at(challenge, id, i));
            if (!a || !sip_str_caseeq_cstr(a->scheme, "Digest")) continue;
            digest = 1;
            /* RFC 7616 §3.3: no algorithm means MD5. */
            int alg = a->algorithm.len ? sip__auth_alg_from_str(a->algorithm) : SIP_AUTH_MD5;
            /* RFC 7616 §3.3: realm and nonce are required. */
            if (!alg || !a->nonce.ptr || !a->realm.ptr) continue;
            const cred_t *c = find_cred(ac, a->realm, alg);
            if (!c) continue;
            size_t k;
            for (k = 0; k < npicks; k++)
                if (picks[k].proxy == proxy && sip_str_eq(picks[k].a->realm, a->realm)) break;
            if (k < npicks) {
                if (sip__auth_alg_rank(alg) > sip__auth_alg_rank(picks[k].alg))
                    picks[k] = (pick_t){a, proxy, alg, c};
            } else if (npicks < MAX_PICKS) {
                picks[npicks++] = (pick_t){a, proxy, alg, c};
            }
        }
    }
    if (!digest) return SIP_EINVAL;
    if (!npicks) return SIP_EAUTH;
    for (size_t k = 0; k < npicks; k++) {
        if (was_refused(sent, &picks[k])) {
            /* A wrong password: retrying would be challenged again for ever. */
            forget(ac, picks[k].proxy, picks[k].a->realm);
            return SIP_EAUTH;
        }
    }
    for (size_t k = 0; k < npicks; k++) {
        cached_t *e;
        int rc = remember(ac, &picks[k], &e);
        if (rc == 0) rc = add_credentials(ac, e, next);
        if (rc < 0) return rc;
    }
    return 0;
}

int sip_auth_client_prepare(sip_auth_client_t *ac, sip_msg_t *req)
{
    if (!ac || !req || !sip_msg_is_request(req)) return SIP_EINVAL;
    for (size_t i = 0; i < ac->ncache; i++) {
        cached_t *e = &ac->cache[i];
        if (find_credentials(req, e->proxy, sip_str_from_cstr(e->realm)) >= 0) continue;
        int rc = add_credentials(ac, e, req);
        if (rc < 0) return rc;
    }
    return 0;
}

/* 1 when the rspauth of info proves that the server of e knew its password (RFC 7616 §3.5):
 * the digest of the credentials a sent, with an empty method in A2 and the response's body
 * for auth-int. */
static int rspauth_ok(sip_auth_client_t *ac, const cached_t *e, const sip_auth_t *a,
                      const sip_auth_t *info, const sip_msg_t *rsp)
{
    char want[SIP__AUTH_HEX_MAX];
    int qop = sip_str_caseeq_cstr(a->qop, "auth-int") ? SIP__QOP_AUTH_INT
              : sip_str_caseeq_cstr(a->qop, "auth")   ? SIP__QOP_AUTH
                                                      : SIP__QOP_NONE;
    int alg = a->algorithm.len ? sip__auth_alg_from_str(a->algorithm) : SIP_AUTH_MD5;
    /* The HA1 cached is the one those credentials were made with only for the same
     * algorithm; a server that changed it since cannot be checked here. */
    if (alg != e->alg || qop == SIP__QOP_NONE) return 0;
    int rc = sip__auth_response(&ac->hasher, alg, sip_str_from_cstr(e->ha1), a->nonce, a->nc,
                                a->cnonce, qop, NULL, a->uri, sip_msg_get_body(rsp), want);
    if (rc < 0) return 0;
    size_t n = strlen(want);
    return info->rspauth.len == n && CRYPTO_memcmp(info->rspauth.ptr, want, n) == 0;
}

int sip_auth_client_update(sip_auth_client_t *ac, const sip_msg_t *req, const sip_msg_t *rsp)
{
    if (!ac || !req || !rsp || !sip_msg_is_request(req) || sip_msg_is_request(rsp))
        return SIP_EINVAL;
    const sip_header_t *h = sip_msg_header_at(rsp, SIP_HDR_AUTHENTICATION_INFO, 0);
    const sip_auth_t *info = h ? sip_header_auth(h) : NULL;
    if (!info) return 0;
    /* RFC 3261 §22.4, RFC 7616 §3.5: Authentication-Info answers the Authorization of the
     * request (the UAS's realm, never a proxy's), and names no realm: with credentials for
     * several realms, the one whose rspauth it carries, else the only one. */
    size_t n = sip_msg_header_count(req, SIP_HDR_AUTHORIZATION);
    cached_t *pick = NULL;
    size_t candidates = 0;
    for (size_t i = 0; i < n; i++) {
        const sip_auth_t *a = sip_header_auth(sip_msg_header_at(req, SIP_HDR_AUTHORIZATION, i));
        char rbuf[512];
        if (!a || !a->realm.ptr) continue;
        cached_t *e = find_cached(ac, 0, sip__auth_unq(a->realm, rbuf, sizeof(rbuf)));
        if (!e || !sip__auth_unq_eq(a->username, sip_str_from_cstr(e->user))) continue;
        candidates++;
        if (info->rspauth.ptr ? rspauth_ok(ac, e, a, info, rsp) : !pick) pick = e;
    }
    if (!candidates) return 0;
    /* RFC 7616 §3.5: a rspauth that no credentials of ours give is a server that does not
     * know the password (or a response altered on the way): it is not trusted, nor is its
     * nextnonce. */
    if (info->rspauth.ptr && !pick) return SIP_EAUTH;
    if (!pick || (!info->rspauth.ptr && candidates > 1)) return 0;
    if (info->nextnonce.len) {
        /* RFC 7616 §3.5, RFC 2617 §3.2.3: the next request uses nextnonce, its count
         * starting again at 1 (add_credentials() raises nc before it writes it). */
        char *nonce = dup_unq(info->nextnonce);
        if (!nonce) return SIP_ENOMEM;
        free(pick->nonce);
        pick->nonce = nonce;
        pick->nc = 0;
    }
    return 0;
}
