/* SPDX-License-Identifier: MIT */
/* Differential parser test: what each parser reports about one message, in a common form. */
#ifndef SIP_DIFF_H
#define SIP_DIFF_H

#include <stddef.h>

/* The fields compared when every parser accepts a message. Text fields are NUL-terminated copies
 * (truncated to fit); an absent field is the empty string, an absent number -1. */
typedef struct diff_fields {
    int vias;             /* Via values, every header line and comma list counted */
    char via_host[128];   /* top Via sent-by host as written */
    char via_branch[128]; /* top Via branch */
    char call_id[256];    /* Call-ID as written */
    long cseq;            /* CSeq number */
    char cseq_method[64]; /* CSeq method */
    char from_tag[128];   /* From tag */
    char to_tag[128];     /* To tag */
    long content_length;  /* the (first) Content-Length value, -1 without one */
    long body_len;        /* body octets the parser hands the application */
} diff_fields_t;

/* Each returns 1 when the parser accepts the message (and fills *f), 0 when it refuses it.
 * why (may be NULL) receives a short reason for a refusal. */
int diff_libsip_parse(const char *buf, size_t len, diff_fields_t *f, char *why, size_t cap);
int diff_sofia_setup(void);
int diff_sofia_parse(const char *buf, size_t len, diff_fields_t *f, char *why, size_t cap);
void diff_sofia_teardown(void);
int diff_osip2_setup(void);
int diff_osip2_parse(const char *buf, size_t len, diff_fields_t *f, char *why, size_t cap);

/* Copies a possibly NULL C string into a field. */
void diff_copy(char *dst, size_t cap, const char *src);

#endif

/* ---- the cases and the allow-list ---- */

/* The mutations applied to the seed messages. */
typedef enum diff_mut {
    MUT_NONE,       /* the seed itself */
    MUT_FLIP,       /* one octet replaced by another */
    MUT_INSERT_CR,  /* a CR inserted */
    MUT_INSERT_LF,  /* an LF inserted */
    MUT_INSERT_NUL, /* a NUL inserted */
    MUT_INSERT_CTL, /* another control octet (0x01-0x1F but HT CR LF, or DEL) inserted */
    MUT_DELETE,     /* one octet deleted */
    MUT_DUP_LINE,   /* a header line repeated right after itself */
    MUT_DUP_ALTER,  /* a header line repeated with one digit or letter of its value changed */
    MUT_DUP_PARAM,  /* a ;param of a header repeated (same value, another value or no value) */
    MUT_FOLD,       /* a blank in a header value replaced by CRLF SP (a fold, RFC 3261 §7.3.1) */
    MUT_TRUNCATE,   /* the message cut short */
    MUT__COUNT,
    MUT_FIXED = MUT__COUNT /* one of the hand-written cases of diff_parsers.c, not drawn */
} diff_mut_t;

/* One case and what the three parsers said about it. */
typedef struct diff_case {
    const char *seed_name;
    const char *seed;
    size_t seed_len;
    diff_mut_t mut;
    size_t pos;        /* where the mutation applied, in the mutated message */
    unsigned char oct; /* the octet written (flip, insert) */
    const char *buf;   /* the mutated message */
    size_t len;
    int ok[3];        /* accepted by libsip, Sofia-SIP, oSIP2 */
    char why[3][160]; /* their reasons for a refusal */
    diff_fields_t f[3];
    const char *field; /* the field libsip alone disagrees on, when all accepted; else NULL */
} diff_case_t;

enum { P_LIBSIP, P_SOFIA, P_OSIP2 };

/* A named reason why libsip may disagree with both peers: the RFC text that backs libsip, and
 * a function recognising the cases it covers. */
typedef struct diff_reason {
    const char *name;
    const char *rfc;
    int (*match)(const diff_case_t *c);
} diff_reason_t;

extern const diff_reason_t diff_reasons[];
extern const size_t diff_nreasons;

const char *diff_mut_name(diff_mut_t m);
