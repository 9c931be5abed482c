/* SPDX-License-Identifier: MIT */
/* A throw-away test CA: keys and certificates made with OpenSSL at run time, written as PEM. */
#ifndef SIP_TEST_TESTCA_H
#define SIP_TEST_TESTCA_H

#define TEST_CA_PATH 128

/* Every path is a PEM file in a fresh temporary directory. */
typedef struct test_ca {
    char dir[32];                   /* /tmp/libsip-testca-XXXXXX */
    char ca[TEST_CA_PATH];          /* the CA certificate to trust */
    char server_cert[TEST_CA_PATH]; /* localhost, 127.0.0.1, ::1 (serverAuth), then the CA */
    char server_key[TEST_CA_PATH];
    char client_cert[TEST_CA_PATH]; /* client.test (clientAuth) */
    char client_key[TEST_CA_PATH];
    char expired_cert[TEST_CA_PATH]; /* localhost, by the CA, expired yesterday */
    char expired_key[TEST_CA_PATH];
    char self_cert[TEST_CA_PATH]; /* localhost, self-signed */
    char self_key[TEST_CA_PATH];
    char rogue_cert[TEST_CA_PATH]; /* localhost, by another CA nobody trusts */
    char rogue_key[TEST_CA_PATH];
} test_ca_t;

/* Makes the keys and certificates. Returns 0, or -1 (the directory is removed again). */
int test_ca_create(test_ca_t *ca);
/* Deletes the files and the directory. */
void test_ca_remove(test_ca_t *ca);

#endif
