/* SPDX-License-Identifier: MIT */
/* Character classes of the RFC 3261 grammar as constant lookup tables. */
#ifndef SIP_MSG_CHARS_H
#define SIP_MSG_CHARS_H

#include <stdint.h>

enum {
    SIP__C_TOKEN = 1 << 0, /* alphanum - . ! % * _ + ` ' ~ */
    SIP__C_WORD = 1 << 1,  /* token + ( ) < > : \ " / [ ] ? { } */
    SIP__C_WS = 1 << 2,    /* SP HT CR LF: inside a value, CR LF only appear as folding */
    SIP__C_DIGIT = 1 << 3,
    SIP__C_HOST = 1 << 4, /* alphanum - . (hostname, IPv4) */
    SIP__C_PVAL = 1 << 5, /* generic-param value: token + : [ ] / (IPv6 hosts, lenient) */
    SIP__C_TEXT = 1 << 6, /* any octet allowed in a header value: not CTL except HT */
};

#define SIP__ALNUM(c)                                                                              \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') || ((c) >= '0' && (c) <= '9'))
#define SIP__TOK(c)                                                                                \
    (SIP__ALNUM(c) || (c) == '-' || (c) == '.' || (c) == '!' || (c) == '%' || (c) == '*' ||        \
     (c) == '_' || (c) == '+' || (c) == '`' || (c) == '\'' || (c) == '~')
#define SIP__WORDX(c)                                                                              \
    ((c) == '(' || (c) == ')' || (c) == '<' || (c) == '>' || (c) == ':' || (c) == '\\' ||          \
     (c) == '"' || (c) == '/' || (c) == '[' || (c) == ']' || (c) == '?' || (c) == '{' ||           \
     (c) == '}')
#define SIP__CLS(c)                                                                                \
    ((SIP__TOK(c) ? SIP__C_TOKEN : 0) | ((SIP__TOK(c) || SIP__WORDX(c)) ? SIP__C_WORD : 0) |       \
     (((c) == ' ' || (c) == '\t' || (c) == '\r' || (c) == '\n') ? SIP__C_WS : 0) |                 \
     (((c) >= '0' && (c) <= '9') ? SIP__C_DIGIT : 0) |                                             \
     ((SIP__ALNUM(c) || (c) == '-' || (c) == '.') ? SIP__C_HOST : 0) |                             \
     ((SIP__TOK(c) || (c) == ':' || (c) == '[' || (c) == ']' || (c) == '/') ? SIP__C_PVAL : 0) |   \
     ((((c) >= 0x20 && (c) != 0x7f) || (c) == '\t') ? SIP__C_TEXT : 0))
#define SIP__C4(b) SIP__CLS((b)), SIP__CLS((b) + 1), SIP__CLS((b) + 2), SIP__CLS((b) + 3)
#define SIP__C16(b) SIP__C4(b), SIP__C4((b) + 4), SIP__C4((b) + 8), SIP__C4((b) + 12)
#define SIP__C64(b) SIP__C16(b), SIP__C16((b) + 16), SIP__C16((b) + 32), SIP__C16((b) + 48)

static const uint8_t sip__cls[256] = {SIP__C64(0), SIP__C64(64), SIP__C64(128), SIP__C64(192)};

#define IS(c, k) (sip__cls[(unsigned char)(c)] & (k))

#endif
