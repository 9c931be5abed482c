/* SPDX-License-Identifier: MIT */
/* Digest authentication internals: the hashes both halves share, and the test hooks. */
#ifndef SIP_AUTH_INT_H
#define SIP_AUTH_INT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "sip/auth.h"
#include "sip/str.h"

/* Every algorithm of sip_auth_algorithm_t. */
#define SIP__AUTH_ALL 63
/* The longest hash in hex (SHA-256, SHA-512/256: 32 bytes) and its NUL. */
#define SIP__AUTH_HEX_MAX 65

/* qop values (RFC 7616 §3.3): none is RFC 2069's compatibility mode. */
enum { SIP__QOP_NONE = 0, SIP__QOP_AUTH = 1, SIP__QOP_AUTH_INT = 2 };

/* 1 when alg is exactly one algorithm. */
int sip__auth_alg_valid(int alg);
/* The algorithm whose hash a -sess variant uses for its HA1 (MD5-sess -> MD5); alg itself for
 * a base algorithm. */
static inline int sip__auth_alg_base(int alg)
{
    return (alg & (SIP_AUTH_MD5_SESS | SIP_AUTH_SHA256_SESS | SIP_AUTH_SHA512_256_SESS)) ? alg >> 1
                                                                                         : alg;
}
static inline int sip__auth_alg_sess(int alg)
{
    return sip__auth_alg_base(alg) != alg;
}
/* How strong an algorithm is, for picking among several offered (RFC 8760 §2.4: the client
 * uses the topmost it supports; we rank ourselves, the server's order is not trusted): higher
 * is stronger; 0 for an unknown one. */
int sip__auth_alg_rank(int alg);
/* The length of the algorithm's hash in hex digits (32 or 64); 0 for an unknown one. */
size_t sip__auth_hex_len(int alg);
/* The algorithm a name gives (any case), or 0. */
int sip__auth_alg_from_str(sip_str_t name);

/* The digests and a context to hash with, one per client or server object (each is used on
 * its loop's thread only). OpenSSL 3 looks an algorithm up in its providers on every
 * EVP_DigestInit_ex() given the legacy EVP_sha256() object (a lock and a hash table); fetched
 * once (EVP_MD_fetch), the lookup is gone, and a context kept saves an allocation per hash.
 * Kept per object rather than per process or thread, so that everything is freed with the
 * object (a module unloaded by Lua or Python leaves nothing behind). */
typedef struct sip__auth_hasher {
    EVP_MD_CTX *ctx;
    const EVP_MD *md[3]; /* MD5, SHA-256, SHA-512/256 */
    EVP_MD *fetched[3];  /* what md[] holds that must be freed */
} sip__auth_hasher_t;

int sip__auth_hasher_init(sip__auth_hasher_t *h);
void sip__auth_hasher_free(sip__auth_hasher_t *h);

/* H(p[0] ":" p[1] ":" ... p[n-1]) with alg's hash (RFC 7616 §3.4.1) in lower-case hex into
 * out (SIP__AUTH_HEX_MAX bytes), with h (NULL: a context made for the call, for tests).
 * @return the hex length, or SIP_EINVAL, SIP_ENOMEM, SIP_EIO. */
int sip__auth_hash(sip__auth_hasher_t *h, int alg, const sip_str_t *parts, size_t n, char *out);

/* The base HA1 = H(user ":" realm ":" password) (RFC 7616 §3.4.2), unquoted values. */
int sip__auth_ha1(sip__auth_hasher_t *h, int alg, sip_str_t user, sip_str_t realm,
                  sip_str_t password, char *out);

/* The request-digest (RFC 7616 §3.4.1; RFC 2069 when qop is SIP__QOP_NONE) from the base HA1
 * (for a -sess algorithm it makes H(ha1:nonce:cnonce) first). A NULL method gives the rspauth
 * of Authentication-Info (RFC 7616 §3.5: A2 without the method). body is used for auth-int. */
int sip__auth_response(sip__auth_hasher_t *h, int alg, sip_str_t ha1, sip_str_t nonce, sip_str_t nc,
                       sip_str_t cnonce, int qop, const sip_str_t *method, sip_str_t uri,
                       sip_str_t body, char *out);

/* HMAC-SHA256 with the key's padded blocks hashed once (RFC 2104 §4). */
typedef struct sip__hmac sip__hmac_t;
int sip__auth_hmac_new(sip__hmac_t **out, sip__auth_hasher_t *h, const unsigned char *key,
                       size_t len);
void sip__auth_hmac_free(sip__hmac_t *m);
/* The MAC of the parts concatenated, hashed in h's context. */
int sip__auth_hmac(sip__auth_hasher_t *h, const sip__hmac_t *m, const sip_str_t *parts, size_t n,
                   unsigned char md[32]);

/* A quoted-string value as the parser gives it (quotes gone, escapes kept) without its
 * escapes (RFC 3261 §25.1 quoted-pair), into buf; a view of v itself when it has none. */
sip_str_t sip__auth_unq(sip_str_t v, char *buf, size_t size);
/* 1 when the quoted-string value raw (escapes kept) means s. */
int sip__auth_unq_eq(sip_str_t raw, sip_str_t s);

/* 1 when s can go in a quoted-string (RFC 3261 §25.1 qdtext and quoted-pair): no control
 * characters (which also keeps CR and LF out of a header). */
static inline int sip__auth_quotable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return 0;
    return 1;
}

/* Tests: a fixed cnonce (NUL-terminated) for every answer instead of random ones; NULL (the
 * default) for random ones. Not public: only a test sets it. */
extern const char *sip__auth_test_cnonce;

/* Answers a lookup for a user nobody has as a table of HA1s answers a known one (one hash: the
 * response), with a stand-in HA1 and a verdict of SIP_AUTH_FAILED. Errors as
 * sip_auth_query_answer_ha1(). */
int sip__auth_query_answer_unknown_ha1(sip_auth_query_t *q);

#endif
