/* SPDX-License-Identifier: MIT */
/* Zero-copy string views used across the libsip API. */
#ifndef SIP_STR_H
#define SIP_STR_H

#include <stddef.h>
#include <string.h>

#include "sip/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A view into memory owned by someone else (usually a parsed message). Not NUL-terminated. */
typedef struct sip_str {
    const char *ptr;
    size_t len;
} sip_str_t;

/** Builds a view of a string literal. */
#define SIP_STR(lit) ((sip_str_t){(lit), sizeof(lit) - 1})
/** The empty view. */
#define SIP_STR_NULL ((sip_str_t){NULL, 0})

/**
 * Makes a view of a NUL-terminated C string.
 * @param s  the string, or NULL (gives the empty view)
 * @return   a view of s; Borrowed: valid as long as s is.
 */
SIP_EXTERN sip_str_t sip_str_from_cstr(const char *s);

/**
 * Compares two views byte for byte.
 * @return 1 when equal, 0 otherwise.
 */
SIP_EXTERN int sip_str_eq(sip_str_t a, sip_str_t b);

/**
 * Compares two views ignoring ASCII case (header names, tokens).
 * @return 1 when equal, 0 otherwise.
 */
SIP_EXTERN int sip_str_caseeq(sip_str_t a, sip_str_t b);

/**
 * Compares a view with a NUL-terminated string ignoring ASCII case.
 * @return 1 when equal, 0 otherwise.
 */
SIP_EXTERN int sip_str_caseeq_cstr(sip_str_t a, const char *b);

/**
 * Copies a view into a caller buffer and NUL-terminates it.
 * @param s     the view
 * @param buf   destination
 * @param size  size of buf in bytes
 * @return the length of s (a return >= size means the copy was truncated), or SIP_EINVAL.
 */
SIP_EXTERN int sip_str_copy(sip_str_t s, char *buf, size_t size);

/**
 * Reads an unsigned decimal number that must fill the whole view.
 * @param s    digits only (no sign, no space)
 * @param max  the largest value accepted
 * @param out  receives the value
 * @return 0, SIP_EINVAL when s is empty or has a non-digit, SIP_ERANGE when above max.
 */
SIP_EXTERN int sip_str_to_u32(sip_str_t s, unsigned long max, unsigned long *out);

/**
 * Writes bits random bits as lowercase hex: a fresh tag, branch or Call-ID (RFC 3261 §19.3 asks
 * tags for at least 32 random bits, §8.1.1.4 Call-IDs to be globally unique). The bits come from
 * OpenSSL's RAND_bytes, drawn in blocks of 512 bytes kept per thread (and drawn again in a
 * forked child).
 * @param bits  a multiple of 8, at most 1024
 * @param buf   receives bits / 4 hex digits and a NUL (cut to size - 1, like snprintf)
 * @return bits / 4, SIP_EINVAL, or SIP_EIO when no random bits could be had.
 */
SIP_EXTERN int sip_random_hex(size_t bits, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
