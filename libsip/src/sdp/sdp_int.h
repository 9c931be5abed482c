/* SPDX-License-Identifier: MIT */
/* Private layout of session descriptions, shared by the sdp/ sources. */
#ifndef SIP_SDP_INT_H
#define SIP_SDP_INT_H

#include <stdarg.h>
#include <stdint.h>

#include "sip/sdp.h"

/* Memory for the input copy, records and edited text lives in chunks the session owns. Chunks never
 * move or shrink, so every view handed out stays valid until the last unref. */
typedef struct sip__sdp_chunk {
    struct sip__sdp_chunk *next;
    size_t size, used;
    /* data follows, aligned like max_align_t */
} sip__sdp_chunk_t;

typedef struct sdp_strnode {
    struct sdp_strnode *next;
    sip_str_t s;
} sdp_strnode_t;

typedef struct sdp_strlist {
    sdp_strnode_t *first, *last;
    size_t count;
} sdp_strlist_t;

typedef struct sdp_conn {
    sip_sdp_conn_t pub;
    struct sdp_conn *next;
    sip_str_t raw; /* the value as printed */
} sdp_conn_t;

typedef struct sdp_bw {
    sip_sdp_bandwidth_t pub;
    struct sdp_bw *next;
    sip_str_t raw;
} sdp_bw_t;

typedef struct sdp_attr {
    sip_sdp_attr_t pub;
    struct sdp_attr *next;
} sdp_attr_t;

typedef struct sdp_repeat {
    sip_sdp_repeat_t pub;
    struct sdp_repeat *next;
    sip_str_t raw;
    uint64_t *offsets;
} sdp_repeat_t;

typedef struct sdp_time {
    sip_sdp_time_t pub;
    struct sdp_time *next;
    sip_str_t raw;
    sdp_repeat_t *rfirst, *rlast;
    sip_str_t zraw; /* ptr NULL when the time description has no z= */
    sip_sdp_zone_t *zones;
} sdp_time_t;

typedef struct sdp_conn_list {
    sdp_conn_t *first, *last;
    size_t count;
} sdp_conn_list_t;

typedef struct sdp_bw_list {
    sdp_bw_t *first, *last;
    size_t count;
} sdp_bw_list_t;

typedef struct sdp_attr_list {
    sdp_attr_t *first, *last;
    size_t count;
} sdp_attr_list_t;

struct sip_sdp_media {
    struct sip_sdp *sdp;
    struct sip_sdp_media *next;
    sip_str_t raw; /* the m= value as printed */
    sip_str_t type, proto;
    unsigned port, nports;
    sip_str_t *fmts;
    size_t nfmts;
    sip_str_t info; /* ptr NULL when absent */
    sdp_conn_list_t conns;
    sdp_bw_list_t bws;
    sip_str_t key; /* ptr NULL when absent */
    sdp_attr_list_t attrs;
};

struct sip_sdp {
    int refs;
    sip__sdp_chunk_t *chunks; /* newest first */
    sip_sdp_origin_t origin;
    sip_str_t origin_raw;
    sip_str_t name;
    sip_str_t info, uri; /* ptr NULL when absent */
    sdp_strlist_t emails, phones;
    sdp_conn_t *conn; /* NULL when absent */
    sdp_bw_list_t bws;
    sdp_time_t *tfirst, *tlast;
    size_t ntimes;
    sip_str_t key; /* ptr NULL when absent */
    sdp_attr_list_t attrs;
    struct sip_sdp_media *mfirst, *mlast;
    size_t nmedia;
    sip_str_t ssrc, format; /* GB28181 y= and f= (ptr NULL when absent) */
};

/* Allocates n zeroed bytes from the session's chunks; NULL when out of memory. */
void *sip__sdp_alloc(sip_sdp_t *sdp, size_t n);
/* Copies bytes into the session's chunks. */
int sip__sdp_dup(sip_sdp_t *sdp, const char *s, size_t n, sip_str_t *out);
/* printf into the session's chunks. */
int sip__sdp_fmt(sip_sdp_t *sdp, sip_str_t *out, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
sip_sdp_t *sip__sdp_new(size_t first_chunk);

/* Where a field error is reported. err may be NULL (builder checks). */
typedef struct sdp_ctx {
    sip_sdp_error_t *err;
    unsigned line;
    char type;
    const char *line_start; /* the type letter */
} sdp_ctx_t;

int sip__sdp_fail(sdp_ctx_t *ctx, const char *at, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Field parsers: fill the record from a value (the text after "x="); the record's views point
 * into that value. Return 0, SIP_ESDP (reported through ctx) or SIP_ENOMEM. */
int sip__sdp_parse_origin(sdp_ctx_t *ctx, sip_str_t v, sip_sdp_origin_t *o);
int sip__sdp_parse_conn(sdp_ctx_t *ctx, sip_str_t v, sip_sdp_conn_t *c);
int sip__sdp_parse_bw(sdp_ctx_t *ctx, sip_str_t v, sip_sdp_bandwidth_t *b);
int sip__sdp_parse_time(sdp_ctx_t *ctx, sip_str_t v, sip_sdp_time_t *t);
int sip__sdp_parse_repeat(sdp_ctx_t *ctx, sip_sdp_t *sdp, sip_str_t v, sdp_repeat_t *r);
int sip__sdp_parse_zone(sdp_ctx_t *ctx, sip_sdp_t *sdp, sip_str_t v, sdp_time_t *t);
int sip__sdp_parse_key(sdp_ctx_t *ctx, sip_str_t v);
int sip__sdp_parse_attr(sdp_ctx_t *ctx, sip_str_t v, sip_sdp_attr_t *a);
int sip__sdp_parse_media(sdp_ctx_t *ctx, sip_sdp_t *sdp, sip_str_t v, struct sip_sdp_media *m);
int sip__sdp_check_text(sdp_ctx_t *ctx, sip_str_t v, int allow_empty);

#endif
