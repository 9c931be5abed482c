/* SPDX-License-Identifier: MIT */
/* Multipart message bodies (RFC 5621, syntax of RFC 2046 §5.1): parse, build and print. */
#ifndef SIP_MULTIPART_H
#define SIP_MULTIPART_H

#include "sip/error.h"
#include "sip/export.h"
#include "sip/str.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A parsed or built multipart body. Opaque; reference counted. */
typedef struct sip_multipart sip_multipart_t;
/** One body part. Borrowed from its multipart; lives as long as it does. */
typedef struct sip_multipart_part sip_multipart_part_t;

/**
 * Splits a multipart body into its parts. The preamble and epilogue are ignored. Delimiter lines
 * may end in CRLF or a bare LF; the line break before a delimiter belongs to the delimiter
 * (RFC 2046 §5.1.1), so each part body is exact, whatever octets it holds. A nested multipart is
 * a part whose Content-Type is multipart/...: parse its body again.
 * The inputs are copied once; every view points into that copy.
 * @param out           receives the body (NULL on failure); New reference
 * @param content_type  the Content-Type value ("multipart/mixed;boundary=xyz"; the boundary may
 *                      be quoted)
 * @param ct_len        its length
 * @param body          the body octets
 * @param len           their length
 * @return 0, SIP_EBODY (not multipart/..., no boundary parameter, no delimiter, no close
 *         delimiter, no part, or a malformed part header), SIP_EINVAL, SIP_ENOMEM.
 */
SIP_EXTERN int sip_multipart_parse(sip_multipart_t **out, const char *content_type, size_t ct_len,
                                   const char *body, size_t len);

/**
 * Creates an empty multipart body to add parts to.
 * @param out       receives the body; New reference
 * @param subtype   "mixed", "alternative", "related", ...; NULL gives "mixed"
 * @param boundary  1 to 70 characters of RFC 2046 §5.1.1 bchars, not ending in a space
 * @return 0, SIP_EINVAL, SIP_ENOMEM.
 */
SIP_EXTERN int sip_multipart_create(sip_multipart_t **out, const char *subtype,
                                    const char *boundary);

/** Takes a reference. @return mp. */
SIP_EXTERN sip_multipart_t *sip_multipart_ref(sip_multipart_t *mp);
/** Drops a reference; frees the body and every view into it with the last one. Accepts NULL. */
SIP_EXTERN void sip_multipart_unref(sip_multipart_t *mp);

/** The multipart subtype ("mixed"). Borrowed. */
SIP_EXTERN sip_str_t sip_multipart_get_subtype(const sip_multipart_t *mp);
/** The boundary, without quotes. Borrowed. */
SIP_EXTERN sip_str_t sip_multipart_get_boundary(const sip_multipart_t *mp);
/** The number of parts. */
SIP_EXTERN size_t sip_multipart_count(const sip_multipart_t *mp);
/** The i-th part, or NULL. Borrowed. */
SIP_EXTERN const sip_multipart_part_t *sip_multipart_part_at(const sip_multipart_t *mp, size_t i);

/** The body of a part: exact length, any octets (NUL, CR, LF, binary). Borrowed. */
SIP_EXTERN sip_str_t sip_multipart_part_get_body(const sip_multipart_part_t *part);
/**
 * The Content-Type value of a part ("text/plain"); empty when the part has none, which
 * RFC 2046 §5.1 reads as text/plain; charset=us-ascii. Borrowed.
 */
SIP_EXTERN sip_str_t sip_multipart_part_get_content_type(const sip_multipart_part_t *part);
/** The number of headers of a part. */
SIP_EXTERN size_t sip_multipart_part_header_count(const sip_multipart_part_t *part);
/**
 * The i-th header of a part in wire order.
 * @param name   receives the name as written; Borrowed
 * @param value  receives the value without surrounding whitespace (folds kept); Borrowed
 * @return 0, SIP_ENOENT when i is out of range, SIP_EINVAL.
 */
SIP_EXTERN int sip_multipart_part_header_at(const sip_multipart_part_t *part, size_t i,
                                            sip_str_t *name, sip_str_t *value);
/**
 * Finds the i-th header of a part with a given name (any case).
 * @param value  receives the value; Borrowed; may be NULL
 * @return 1 when found, 0 otherwise.
 */
SIP_EXTERN int sip_multipart_part_header(const sip_multipart_part_t *part, const char *name,
                                         size_t i, sip_str_t *value);

/**
 * Adds a part after the others; the body is copied.
 * @param content_type  its Content-Type value, or NULL for none
 * @param body          the octets (may be NULL when len is 0)
 * @return the index of the new part (>= 0), SIP_EINVAL (a body holding the delimiter, or a
 *         content type with CR or LF), SIP_ENOMEM.
 */
SIP_EXTERN int sip_multipart_add_part(sip_multipart_t *mp, const char *content_type,
                                      const char *body, size_t len);
/**
 * Adds a header (Content-Disposition, Content-ID, ...) to the part at index idx.
 * @return 0, SIP_EINVAL (bad index, name not a token, value with CR or LF), SIP_ENOMEM.
 */
SIP_EXTERN int sip_multipart_part_add_header(sip_multipart_t *mp, size_t idx, const char *name,
                                             const char *value);

/**
 * Prints the body: every part between delimiter lines, headers as "Name: value", lines ending
 * in CRLF, then the close delimiter and CRLF. No preamble or epilogue.
 * @return the length (>= size: truncated, like snprintf), SIP_EINVAL, SIP_ERANGE.
 */
SIP_EXTERN int sip_multipart_print(const sip_multipart_t *mp, char *buf, size_t size);
/**
 * Prints the Content-Type value for the body ("multipart/mixed;boundary=xyz", the boundary
 * quoted when it holds a tspecial of RFC 2045 §5.1).
 * @return the length (>= size: truncated, like snprintf), SIP_EINVAL, SIP_ERANGE.
 */
SIP_EXTERN int sip_multipart_print_content_type(const sip_multipart_t *mp, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
