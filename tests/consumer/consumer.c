/* SPDX-License-Identifier: MIT */
/* A program outside the source tree that uses an installed libsip, as a packager's user would. */
#include <stdio.h>
#include <string.h>

#include <sip/sip.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "consumer: check failed at line %d: %s\n", __LINE__, #cond);           \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

static const char options[] = "OPTIONS sip:carol@chicago.example.com SIP/2.0\r\n"
                              "Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bKhjhs8ass877\r\n"
                              "Max-Forwards: 70\r\n"
                              "To: <sip:carol@chicago.example.com>\r\n"
                              "From: Alice <sip:alice@example.com>;tag=1928301774\r\n"
                              "Call-ID: a84b4c76e66710\r\n"
                              "CSeq: 63104 OPTIONS\r\n"
                              "Accept: application/sdp\r\n"
                              "Content-Length: 0\r\n"
                              "\r\n";

int main(void)
{
    CHECK(strcmp(sip_strerror(SIP_EPARSE), "malformed message") == 0);
    CHECK(strcmp(sip_err_name(SIP_EPARSE), "SIP_EPARSE") == 0);

    sip_msg_t *msg = NULL;
    sip_parse_error_t err;
    int rc = sip_msg_parse(&msg, options, sizeof(options) - 1, &err);
    if (rc != 0) {
        fprintf(stderr, "consumer: parse failed: %s: %s\n", sip_err_name(rc), err.reason);
        return 1;
    }
    CHECK(sip_msg_is_request(msg) == 1);
    CHECK(sip_msg_get_method(msg) == SIP_METHOD_OPTIONS);
    const sip_uri_t *uri = sip_msg_get_uri(msg);
    CHECK(uri != NULL && uri->scheme == SIP_URI_SIP);
    CHECK(sip_str_eq(uri->user, SIP_STR("carol")));
    CHECK(sip_str_eq(uri->host, SIP_STR("chicago.example.com")));
    CHECK(sip_str_eq(sip_msg_get_call_id(msg), SIP_STR("a84b4c76e66710")));
    const sip_cseq_t *cseq = sip_msg_get_cseq(msg);
    CHECK(cseq != NULL && cseq->seq == 63104 && cseq->method == SIP_METHOD_OPTIONS);
    const sip_via_t *via = sip_msg_get_via(msg);
    CHECK(via != NULL && sip_str_eq(via->branch, SIP_STR("z9hG4bKhjhs8ass877")));
    CHECK(sip_msg_get_max_forwards(msg) == 70);
    CHECK(sip_msg_header_total(msg) == 8);
    sip_msg_unref(msg);

    /* A bad message must come back as an error with a position, not as a crash. */
    msg = NULL;
    rc = sip_msg_parse(&msg, "OPTIONS sip:x SIP/7.0\r\n\r\n", 25, &err);
    CHECK(rc == SIP_EVERSION && msg == NULL && err.status == 505);

    printf("consumer: ok\n");
    return 0;
}
