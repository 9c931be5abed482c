/* SPDX-License-Identifier: MIT */
/* A throw-away test CA: EC P-256 keys and X.509 certificates made with OpenSSL, written as PEM. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "testca.h"

static long next_serial = 1;

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
    if (!ext) return -1;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? 0 : -1;
}

/* A certificate for key's public half, signed by issuer_key (self-signed when issuer is NULL).
 * Validity runs from from_days to to_days relative to now. san/eku may be NULL. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, int is_ca,
                       const char *san, const char *eku, long from_days, long to_days)
{
    X509 *c = X509_new();
    if (!c) return NULL;
    X509_NAME *name = X509_get_subject_name(c);
    int ok = X509_set_version(c, 2) == 1 &&
             ASN1_INTEGER_set(X509_get_serialNumber(c), next_serial++) == 1 &&
             X509_gmtime_adj(X509_getm_notBefore(c), from_days * 86400L) != NULL &&
             X509_gmtime_adj(X509_getm_notAfter(c), to_days * 86400L) != NULL &&
             X509_set_pubkey(c, key) == 1 &&
             X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                        0) == 1 &&
             X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name) == 1;
    X509 *iss = issuer ? issuer : c;
    if (ok && is_ca)
        ok = add_ext(c, iss, NID_basic_constraints, "critical,CA:TRUE") == 0 &&
             add_ext(c, iss, NID_key_usage, "critical,keyCertSign,cRLSign") == 0;
    if (ok && !is_ca)
        ok = add_ext(c, iss, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
             add_ext(c, iss, NID_key_usage, "critical,digitalSignature") == 0;
    if (ok) ok = add_ext(c, iss, NID_subject_key_identifier, "hash") == 0;
    if (ok && issuer) ok = add_ext(c, iss, NID_authority_key_identifier, "keyid") == 0;
    if (ok && san) ok = add_ext(c, iss, NID_subject_alt_name, san) == 0;
    if (ok && eku) ok = add_ext(c, iss, NID_ext_key_usage, eku) == 0;
    if (ok) ok = X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(c);
        return NULL;
    }
    return c;
}

static int write_pem(const char *path, X509 *cert, X509 *chain, EVP_PKEY *key)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    int ok = 1;
    if (cert) ok = PEM_write_X509(f, cert) == 1;
    if (ok && chain) ok = PEM_write_X509(f, chain) == 1;
    if (ok && key) ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
    if (fclose(f) != 0) ok = 0;
    return ok ? 0 : -1;
}

/* One leaf: a fresh key, a certificate, both written out. */
static int leaf(const char *cert_path, const char *key_path, const char *cn, X509 *issuer,
                EVP_PKEY *issuer_key, const char *san, const char *eku, long from, long to,
                X509 *chain)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    if (!key) return -1;
    X509 *c = make_cert(key, cn, issuer, issuer_key, 0, san, eku, from, to);
    int rc =
        c && write_pem(cert_path, c, chain, NULL) == 0 && write_pem(key_path, NULL, NULL, key) == 0
            ? 0
            : -1;
    X509_free(c);
    EVP_PKEY_free(key);
    return rc;
}

static void set_path(char *out, const char *dir, const char *file)
{
    /* dir is a 31-byte mkdtemp name and file a short literal: always fits. */
    size_t dl = strnlen(dir, TEST_CA_PATH), fl = strlen(file);
    if (dl + 1 + fl >= TEST_CA_PATH) {
        out[0] = '\0';
        return;
    }
    memcpy(out, dir, dl);
    out[dl] = '/';
    memcpy(out + dl + 1, file, fl + 1);
}

int test_ca_create(test_ca_t *ca)
{
    memset(ca, 0, sizeof(*ca));
    snprintf(ca->dir, sizeof(ca->dir), "/tmp/libsip-testca-XXXXXX");
    if (!mkdtemp(ca->dir)) return -1;
    set_path(ca->ca, ca->dir, "ca.pem");
    set_path(ca->server_cert, ca->dir, "server.pem");
    set_path(ca->server_key, ca->dir, "server.key");
    set_path(ca->client_cert, ca->dir, "client.pem");
    set_path(ca->client_key, ca->dir, "client.key");
    set_path(ca->expired_cert, ca->dir, "expired.pem");
    set_path(ca->expired_key, ca->dir, "expired.key");
    set_path(ca->self_cert, ca->dir, "self.pem");
    set_path(ca->self_key, ca->dir, "self.key");
    set_path(ca->rogue_cert, ca->dir, "rogue.pem");
    set_path(ca->rogue_key, ca->dir, "rogue.key");

    static const char *local_san = "DNS:localhost,IP:127.0.0.1,IP:::1";
    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *rogue_key = EVP_EC_gen("P-256");
    X509 *ca_cert = NULL, *rogue_ca = NULL;
    int rc = -1;
    if (!ca_key || !rogue_key) goto out;
    ca_cert = make_cert(ca_key, "libsip test CA", NULL, NULL, 1, NULL, NULL, -1, 30);
    rogue_ca = make_cert(rogue_key, "rogue test CA", NULL, NULL, 1, NULL, NULL, -1, 30);
    if (!ca_cert || !rogue_ca) goto out;
    if (write_pem(ca->ca, ca_cert, NULL, NULL)) goto out;
    if (leaf(ca->server_cert, ca->server_key, "localhost", ca_cert, ca_key, local_san, "serverAuth",
             -1, 30, ca_cert))
        goto out;
    if (leaf(ca->client_cert, ca->client_key, "client.test", ca_cert, ca_key, "DNS:client.test",
             "clientAuth", -1, 30, NULL))
        goto out;
    if (leaf(ca->expired_cert, ca->expired_key, "localhost", ca_cert, ca_key, local_san,
             "serverAuth", -3, -1, NULL))
        goto out;
    if (leaf(ca->self_cert, ca->self_key, "localhost", NULL, NULL, local_san, "serverAuth", -1, 30,
             NULL))
        goto out;
    if (leaf(ca->rogue_cert, ca->rogue_key, "localhost", rogue_ca, rogue_key, local_san,
             "serverAuth", -1, 30, NULL))
        goto out;
    rc = 0;
out:
    X509_free(ca_cert);
    X509_free(rogue_ca);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(rogue_key);
    ERR_clear_error();
    if (rc) test_ca_remove(ca);
    return rc;
}

void test_ca_remove(test_ca_t *ca)
{
    const char *files[] = {ca->ca,         ca->server_cert,  ca->server_key,  ca->client_cert,
                           ca->client_key, ca->expired_cert, ca->expired_key, ca->self_cert,
                           ca->self_key,   ca->rogue_cert,   ca->rogue_key};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        if (files[i][0]) unlink(files[i]);
    if (ca->dir[0]) rmdir(ca->dir);
    memset(ca, 0, sizeof(*ca));
}
