/* SPDX-License-Identifier: MIT */
/* The digest algorithms' hashes (RFC 7616 §3.4, RFC 8760) and HMAC-SHA256 for signed nonces,
 * from OpenSSL's EVP interface. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "auth/auth_int.h"
#include "sip/error.h"

const char *sip__auth_test_cnonce;

/* RFC 7616 §6.1 and RFC 8760 §3 register these names. */
static const struct {
    int alg;
    const char *name;
} algs[] = {
    {SIP_AUTH_MD5, "MD5"},
    {SIP_AUTH_MD5_SESS, "MD5-sess"},
    {SIP_AUTH_SHA256, "SHA-256"},
    {SIP_AUTH_SHA256_SESS, "SHA-256-sess"},
    {SIP_AUTH_SHA512_256, "SHA-512-256"},
    {SIP_AUTH_SHA512_256_SESS, "SHA-512-256-sess"},
};

int sip__auth_alg_valid(int alg)
{
    return alg > 0 && alg <= SIP__AUTH_ALL && (alg & (alg - 1)) == 0;
}

int sip__auth_alg_rank(int alg)
{
    /* The stronger hash first; a -sess form right after its base (it adds nothing a client
     * needs, and a server that offers both lists its preference with the base). */
    switch (alg) {
    case SIP_AUTH_SHA512_256: return 6;
    case SIP_AUTH_SHA512_256_SESS: return 5;
    case SIP_AUTH_SHA256: return 4;
    case SIP_AUTH_SHA256_SESS: return 3;
    case SIP_AUTH_MD5: return 2;
    case SIP_AUTH_MD5_SESS: return 1;
    default: return 0;
    }
}

size_t sip__auth_hex_len(int alg)
{
    switch (sip__auth_alg_base(alg)) {
    case SIP_AUTH_MD5: return 32;
    case SIP_AUTH_SHA256:
    case SIP_AUTH_SHA512_256: return 64;
    default: return 0;
    }
}

const char *sip_auth_algorithm_name(int algorithm)
{
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
        if (algs[i].alg == algorithm) return algs[i].name;
    return NULL;
}

int sip__auth_alg_from_str(sip_str_t name)
{
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
        if (sip_str_caseeq_cstr(name, algs[i].name)) return algs[i].alg;
    return 0;
}

int sip_auth_algorithm_from_name(const char *name)
{
    if (!name) return 0;
    return sip__auth_alg_from_str(sip_str_from_cstr(name));
}

/* OpenSSL 3 looks an algorithm up in its providers on every EVP_DigestInit_ex() given the
 * legacy EVP_sha256() object (a lock and a hash table); fetched once, the lookup is gone. That
 * and a context kept per thread make a hash cost the hashing alone, which the server's check
 * (three or four hashes) needs to stay well under its 2 µs goal. */
static const EVP_MD *mds[3];
static pthread_once_t mds_once = PTHREAD_ONCE_INIT;

static void fetch_mds(void)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    mds[0] = EVP_MD_fetch(NULL, "MD5", NULL);
    mds[1] = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    mds[2] = EVP_MD_fetch(NULL, "SHA2-512/256", NULL);
#endif
    if (!mds[0]) mds[0] = EVP_md5();
    if (!mds[1]) mds[1] = EVP_sha256();
    if (!mds[2]) mds[2] = EVP_sha512_256();
}

static const EVP_MD *md_of(int alg)
{
    pthread_once(&mds_once, fetch_mds);
    switch (sip__auth_alg_base(alg)) {
    case SIP_AUTH_MD5: return mds[0];
    case SIP_AUTH_SHA256: return mds[1];
    case SIP_AUTH_SHA512_256: return mds[2];
    default: return NULL;
    }
}

/* One context per thread, made on first use and kept: contexts are not shared between the
 * loops of different threads, and making one per hash would cost an allocation each time. */
static _Thread_local EVP_MD_CTX *tls_ctx;

static EVP_MD_CTX *thread_ctx(void)
{
    if (!tls_ctx) tls_ctx = EVP_MD_CTX_new();
    return tls_ctx;
}

static void to_hex(const unsigned char *md, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * n] = '\0';
}

int sip__auth_hash(int alg, const sip_str_t *parts, size_t n, char *out)
{
    const EVP_MD *md = md_of(alg);
    EVP_MD_CTX *ctx = thread_ctx();
    unsigned char buf[EVP_MAX_MD_SIZE];
    unsigned len = 0;

    if (!md) return SIP_EINVAL;
    if (!ctx) return SIP_ENOMEM;
    if (EVP_DigestInit_ex(ctx, md, NULL) != 1) return SIP_EIO;
    for (size_t i = 0; i < n; i++) {
        if (i && EVP_DigestUpdate(ctx, ":", 1) != 1) return SIP_EIO;
        if (parts[i].len && EVP_DigestUpdate(ctx, parts[i].ptr, parts[i].len) != 1) return SIP_EIO;
    }
    if (EVP_DigestFinal_ex(ctx, buf, &len) != 1) return SIP_EIO;
    to_hex(buf, len, out);
    return (int)(2 * len);
}

int sip__auth_ha1(int alg, sip_str_t user, sip_str_t realm, sip_str_t password, char *out)
{
    sip_str_t p[3] = {user, realm, password};
    return sip__auth_hash(alg, p, 3, out);
}

int sip__auth_response(int alg, sip_str_t ha1, sip_str_t nonce, sip_str_t nc, sip_str_t cnonce,
                       int qop, const sip_str_t *method, sip_str_t uri, sip_str_t body, char *out)
{
    char sess[SIP__AUTH_HEX_MAX], ha2[SIP__AUTH_HEX_MAX], hbody[SIP__AUTH_HEX_MAX];
    int rc;

    /* RFC 7616 §3.4.2: -sess hashes the nonce and cnonce into A1. */
    if (sip__auth_alg_sess(alg)) {
        sip_str_t p[3] = {ha1, nonce, cnonce};
        if ((rc = sip__auth_hash(alg, p, 3, sess)) < 0) return rc;
        ha1 = (sip_str_t){sess, (size_t)rc};
    }
    /* RFC 7616 §3.4.3: A2 = Method ":" request-uri [":" H(entity-body)]; RFC 7616 §3.5:
     * rspauth's A2 has an empty method. */
    sip_str_t a2[3] = {method ? *method : SIP_STR(""), uri, SIP_STR_NULL};
    size_t na2 = 2;
    if (qop == SIP__QOP_AUTH_INT) {
        if ((rc = sip__auth_hash(alg, &body, 1, hbody)) < 0) return rc;
        a2[2] = (sip_str_t){hbody, (size_t)rc};
        na2 = 3;
    }
    if ((rc = sip__auth_hash(alg, a2, na2, ha2)) < 0) return rc;
    sip_str_t h2 = {ha2, (size_t)rc};
    if (qop == SIP__QOP_NONE) {
        /* RFC 2069 §2.1.2: KD(H(A1), nonce ":" H(A2)). */
        sip_str_t p[3] = {ha1, nonce, h2};
        return sip__auth_hash(alg, p, 3, out);
    }
    sip_str_t q = qop == SIP__QOP_AUTH ? SIP_STR("auth") : SIP_STR("auth-int");
    sip_str_t p[6] = {ha1, nonce, nc, cnonce, q, h2};
    return sip__auth_hash(alg, p, 6, out);
}

/* HMAC-SHA256 with the key's inner and outer pads hashed once (RFC 2104 §4's precomputation):
 * each MAC then only copies the two states. */
struct sip__hmac {
    EVP_MD_CTX *inner, *outer;
};

int sip__auth_hmac_new(sip__hmac_t **out, const unsigned char *key, size_t len)
{
    unsigned char k[64] = {0}, pad[64];
    sip__hmac_t *h;
    const EVP_MD *md = md_of(SIP_AUTH_SHA256);

    *out = NULL;
    if (len > sizeof(k)) {
        unsigned kl = 0;
        if (EVP_Digest(key, len, k, &kl, md, NULL) != 1) return SIP_EIO;
    } else if (len) {
        memcpy(k, key, len);
    }
    if (!(h = calloc(1, sizeof(*h)))) return SIP_ENOMEM;
    h->inner = EVP_MD_CTX_new();
    h->outer = EVP_MD_CTX_new();
    int ok = h->inner && h->outer;
    for (int i = 0; ok && i < 64; i++)
        pad[i] = k[i] ^ 0x36;
    ok = ok && EVP_DigestInit_ex(h->inner, md, NULL) == 1 &&
         EVP_DigestUpdate(h->inner, pad, 64) == 1;
    for (int i = 0; ok && i < 64; i++)
        pad[i] = k[i] ^ 0x5c;
    ok = ok && EVP_DigestInit_ex(h->outer, md, NULL) == 1 &&
         EVP_DigestUpdate(h->outer, pad, 64) == 1;
    memset(k, 0, sizeof(k));
    memset(pad, 0, sizeof(pad));
    if (!ok) {
        sip__auth_hmac_free(h);
        return SIP_ENOMEM;
    }
    *out = h;
    return 0;
}

void sip__auth_hmac_free(sip__hmac_t *h)
{
    if (!h) return;
    EVP_MD_CTX_free(h->inner);
    EVP_MD_CTX_free(h->outer);
    free(h);
}

int sip__auth_hmac(const sip__hmac_t *h, const sip_str_t *parts, size_t n, unsigned char md[32])
{
    EVP_MD_CTX *ctx = thread_ctx();
    unsigned char inner[EVP_MAX_MD_SIZE];
    unsigned len = 0;

    if (!ctx) return SIP_ENOMEM;
    if (EVP_MD_CTX_copy_ex(ctx, h->inner) != 1) return SIP_EIO;
    for (size_t i = 0; i < n; i++)
        if (parts[i].len && EVP_DigestUpdate(ctx, parts[i].ptr, parts[i].len) != 1) return SIP_EIO;
    if (EVP_DigestFinal_ex(ctx, inner, &len) != 1) return SIP_EIO;
    if (EVP_MD_CTX_copy_ex(ctx, h->outer) != 1 || EVP_DigestUpdate(ctx, inner, len) != 1 ||
        EVP_DigestFinal_ex(ctx, md, &len) != 1)
        return SIP_EIO;
    return 0;
}

sip_str_t sip__auth_unq(sip_str_t v, char *buf, size_t size)
{
    if (!v.len || !memchr(v.ptr, '\\', v.len)) return v;
    size_t k = 0;
    for (size_t i = 0; i < v.len && k < size; i++) {
        if (v.ptr[i] == '\\' && i + 1 < v.len) i++;
        buf[k++] = v.ptr[i];
    }
    return (sip_str_t){buf, k};
}

int sip__auth_unq_eq(sip_str_t raw, sip_str_t s)
{
    size_t k = 0;
    for (size_t i = 0; i < raw.len; i++, k++) {
        if (raw.ptr[i] == '\\' && i + 1 < raw.len) i++;
        if (k >= s.len || raw.ptr[i] != s.ptr[k]) return 0;
    }
    return k == s.len;
}
