/* SPDX-License-Identifier: MIT */
/* The digest algorithms' hashes (RFC 7616 §3.4, RFC 8760) and HMAC-SHA256 for signed nonces,
 * from OpenSSL's EVP interface. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
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

static const EVP_MD *(*const legacy[3])(void) = {EVP_md5, EVP_sha256, EVP_sha512_256};
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
static const char *const fetch_names[3] = {"MD5", "SHA2-256", "SHA2-512/256"};
#endif

int sip__auth_hasher_init(sip__auth_hasher_t *h)
{
    memset(h, 0, sizeof(*h));
    for (int i = 0; i < 3; i++) {
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
        h->fetched[i] = EVP_MD_fetch(NULL, fetch_names[i], NULL);
#endif
        /* Without it (an algorithm a FIPS provider lacks), the legacy object: its init fails
         * then, and only hashes of that algorithm do. */
        h->md[i] = h->fetched[i] ? h->fetched[i] : legacy[i]();
    }
    if (!(h->ctx = EVP_MD_CTX_new())) {
        sip__auth_hasher_free(h);
        return SIP_ENOMEM;
    }
    return 0;
}

void sip__auth_hasher_free(sip__auth_hasher_t *h)
{
    if (!h) return;
    EVP_MD_CTX_free(h->ctx);
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    for (int i = 0; i < 3; i++)
        EVP_MD_free(h->fetched[i]);
#endif
    memset(h, 0, sizeof(*h));
}

static int md_index(int alg)
{
    switch (sip__auth_alg_base(alg)) {
    case SIP_AUTH_MD5: return 0;
    case SIP_AUTH_SHA256: return 1;
    case SIP_AUTH_SHA512_256: return 2;
    default: return -1;
    }
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

static int hash_in(EVP_MD_CTX *ctx, const EVP_MD *md, const sip_str_t *parts, size_t n, char *out)
{
    unsigned char buf[EVP_MAX_MD_SIZE];
    unsigned len = 0;

    if (EVP_DigestInit_ex(ctx, md, NULL) != 1) return SIP_EIO;
    for (size_t i = 0; i < n; i++) {
        if (i && EVP_DigestUpdate(ctx, ":", 1) != 1) return SIP_EIO;
        if (parts[i].len && EVP_DigestUpdate(ctx, parts[i].ptr, parts[i].len) != 1) return SIP_EIO;
    }
    if (EVP_DigestFinal_ex(ctx, buf, &len) != 1) return SIP_EIO;
    to_hex(buf, len, out);
    return (int)(2 * len);
}

int sip__auth_hash(sip__auth_hasher_t *h, int alg, const sip_str_t *parts, size_t n, char *out)
{
    int i = md_index(alg);
    if (i < 0) return SIP_EINVAL;
    if (h) return hash_in(h->ctx, h->md[i], parts, n, out);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) return SIP_ENOMEM;
    int rc = hash_in(ctx, legacy[i](), parts, n, out);
    EVP_MD_CTX_free(ctx);
    return rc;
}

int sip__auth_ha1(sip__auth_hasher_t *h, int alg, sip_str_t user, sip_str_t realm,
                  sip_str_t password, char *out)
{
    sip_str_t p[3] = {user, realm, password};
    return sip__auth_hash(h, alg, p, 3, out);
}

int sip__auth_response(sip__auth_hasher_t *h, int alg, sip_str_t ha1, sip_str_t nonce, sip_str_t nc,
                       sip_str_t cnonce, int qop, const sip_str_t *method, sip_str_t uri,
                       sip_str_t body, char *out)
{
    char sess[SIP__AUTH_HEX_MAX], ha2[SIP__AUTH_HEX_MAX], hbody[SIP__AUTH_HEX_MAX];
    int rc;

    /* RFC 7616 §3.4.2: -sess hashes the nonce and cnonce into A1. */
    if (sip__auth_alg_sess(alg)) {
        sip_str_t p[3] = {ha1, nonce, cnonce};
        if ((rc = sip__auth_hash(h, alg, p, 3, sess)) < 0) return rc;
        ha1 = (sip_str_t){sess, (size_t)rc};
    }
    /* RFC 7616 §3.4.3: A2 = Method ":" request-uri [":" H(entity-body)]; RFC 7616 §3.5:
     * rspauth's A2 has an empty method. */
    sip_str_t a2[3] = {method ? *method : SIP_STR(""), uri, SIP_STR_NULL};
    size_t na2 = 2;
    if (qop == SIP__QOP_AUTH_INT) {
        if ((rc = sip__auth_hash(h, alg, &body, 1, hbody)) < 0) return rc;
        a2[2] = (sip_str_t){hbody, (size_t)rc};
        na2 = 3;
    }
    if ((rc = sip__auth_hash(h, alg, a2, na2, ha2)) < 0) return rc;
    sip_str_t h2 = {ha2, (size_t)rc};
    if (qop == SIP__QOP_NONE) {
        /* RFC 2069 §2.1.2: KD(H(A1), nonce ":" H(A2)). */
        sip_str_t p[3] = {ha1, nonce, h2};
        return sip__auth_hash(h, alg, p, 3, out);
    }
    sip_str_t q = qop == SIP__QOP_AUTH ? SIP_STR("auth") : SIP_STR("auth-int");
    sip_str_t p[6] = {ha1, nonce, nc, cnonce, q, h2};
    return sip__auth_hash(h, alg, p, 6, out);
}

/* HMAC-SHA256 with the key's inner and outer pads hashed once (RFC 2104 §4's precomputation):
 * each MAC then only copies the two states. */
struct sip__hmac {
    EVP_MD_CTX *inner, *outer;
};

int sip__auth_hmac_new(sip__hmac_t **out, sip__auth_hasher_t *h, const unsigned char *key,
                       size_t len)
{
    unsigned char k[64] = {0}, pad[64];
    sip__hmac_t *m;
    const EVP_MD *md = h->md[1];

    *out = NULL;
    if (len > sizeof(k)) {
        unsigned kl = 0;
        if (EVP_Digest(key, len, k, &kl, md, NULL) != 1) return SIP_EIO;
    } else if (len) {
        memcpy(k, key, len);
    }
    if (!(m = calloc(1, sizeof(*m)))) return SIP_ENOMEM;
    m->inner = EVP_MD_CTX_new();
    m->outer = EVP_MD_CTX_new();
    int ok = m->inner && m->outer;
    for (int i = 0; ok && i < 64; i++)
        pad[i] = k[i] ^ 0x36;
    ok = ok && EVP_DigestInit_ex(m->inner, md, NULL) == 1 &&
         EVP_DigestUpdate(m->inner, pad, 64) == 1;
    for (int i = 0; ok && i < 64; i++)
        pad[i] = k[i] ^ 0x5c;
    ok = ok && EVP_DigestInit_ex(m->outer, md, NULL) == 1 &&
         EVP_DigestUpdate(m->outer, pad, 64) == 1;
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));
    if (!ok) {
        sip__auth_hmac_free(m);
        return SIP_ENOMEM;
    }
    *out = m;
    return 0;
}

void sip__auth_hmac_free(sip__hmac_t *m)
{
    if (!m) return;
    EVP_MD_CTX_free(m->inner);
    EVP_MD_CTX_free(m->outer);
    free(m);
}

int sip__auth_hmac(sip__auth_hasher_t *h, const sip__hmac_t *m, const sip_str_t *parts, size_t n,
                   unsigned char md[32])
{
    EVP_MD_CTX *ctx = h->ctx;
    unsigned char inner[EVP_MAX_MD_SIZE];
    unsigned len = 0;

    if (EVP_MD_CTX_copy_ex(ctx, m->inner) != 1) return SIP_EIO;
    for (size_t i = 0; i < n; i++)
        if (parts[i].len && EVP_DigestUpdate(ctx, parts[i].ptr, parts[i].len) != 1) return SIP_EIO;
    if (EVP_DigestFinal_ex(ctx, inner, &len) != 1) return SIP_EIO;
    if (EVP_MD_CTX_copy_ex(ctx, m->outer) != 1 || EVP_DigestUpdate(ctx, inner, len) != 1 ||
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
