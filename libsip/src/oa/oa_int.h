/* SPDX-License-Identifier: MIT */
/* Private layout of the offer/answer negotiator, shared by the oa/ sources. */
#ifndef SIP_OA_INT_H
#define SIP_OA_INT_H

#include <stdint.h>

#include "sip/oa.h"

/* Direction as two bits, from the point of view of the side that wrote the description: RFC 3264
 * §6.1 answers the offer's bits swapped, limited to what the answerer wants. */
enum { OA_SEND = 1, OA_RECV = 2 };

/* One m= line of the session (RFC 3264 §8: slots keep their place for the session's life). */
typedef struct oa_slot {
    char *type, *proto, *fmts; /* as last written: what a port 0 line repeats */
    int caps;                  /* the capabilities' m= line it follows; -1 for none */
    int active;                /* 1: offered with a port; 0: port 0 */
} oa_slot_t;

struct sip_oa {
    int refs;
    char *address, *session_name;
    const char *addrtype; /* of address: "IP4" or "IP6" */
    /* o= (RFC 8866 §5.2): ours, or taken from an application's answer (sip_oa_set_local_answer) */
    char *o_username, *o_address, *o_addrtype;
    char sess_id[24];
    uint64_t version;       /* of the active local description; the first one's before any */
    uint64_t offer_version; /* of our offer in flight */

    sip_sdp_t *caps;
    int caps_changed;          /* sip_oa_set_local() after an exchange: rebuild active streams */
    int remote_changed;        /* the last exchange changed the remote description */
    sip_sdp_t *local, *remote; /* the active session; NULL before the first exchange */
    sip_sdp_t *offer;          /* in flight: ours (LOCAL_OFFER) or the peer's (REMOTE_OFFER) */
    int offer_app;             /* our offer in flight came from the application */
    sip_oa_state_t state;
    int hold;

    oa_slot_t *slots;
    size_t nslots, slots_cap;
};

/* A format of an m= line as a codec (RTP/AVP profile, RFC 3551 §6 for static types). */
typedef struct oa_codec {
    int pt;    /* payload type, -1 when the format is not a number */
    int known; /* 1 when name, rate and channels are known */
    sip_str_t name;
    uint32_t rate;
    unsigned channels;
} oa_codec_t;

/* A format to copy: the one of the source m= line, written as out (a payload type remapped). */
typedef struct oa_fmtmap {
    sip_str_t src;
    char out[16];
} oa_fmtmap_t;

int sip__oa_fail(sip_oa_error_t *err, int stream, int rc, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* codec.c */
void sip__oa_codec(const sip_sdp_media_t *m, sip_str_t fmt, oa_codec_t *out);
int sip__oa_codec_match(const oa_codec_t *a, const oa_codec_t *b, sip_str_t fa, sip_str_t fb);
int sip__oa_codec_is_aux(const oa_codec_t *c);
int sip__oa_is_rtp(const sip_sdp_media_t *m);
/* The direction attribute alone; with c=0.0.0.0 counted as sendonly (RFC 3264 §8.4). */
int sip__oa_attr_bits(const sip_sdp_media_t *m);
int sip__oa_dir_bits(const sip_sdp_media_t *m);
sip_sdp_dir_t sip__oa_bits_dir(int bits);
int sip__oa_common_format(const sip_sdp_media_t *a, const sip_sdp_media_t *b);
int sip__oa_check_caps(const sip_sdp_t *caps, sip_oa_error_t *err);

/* build.c */
char *sip__oa_dup(const char *p, size_t n);
char *sip__oa_dup_str(sip_str_t s);
int sip__oa_skeleton(const sip_oa_t *oa, uint64_t version, sip_sdp_t **out);
int sip__oa_copy_media(sip_sdp_t *dst, const sip_sdp_media_t *src, unsigned port,
                       const oa_fmtmap_t *map, size_t nmap, sip_sdp_dir_t dir);
int sip__oa_add_disabled(sip_sdp_t *dst, const char *type, const char *proto, const char *fmts);
int sip__oa_stamp(sip_oa_t *oa, sip_sdp_t **sdp, uint64_t *version);
int sip__oa_slot_set(oa_slot_t *s, const sip_sdp_media_t *m);
void sip__oa_slot_free(oa_slot_t *s);
int sip__oa_slots_reserve(sip_oa_t *oa, size_t n);
/* Takes the o= of an application's description as ours; 1 when it has no usable version. */
int sip__oa_adopt_origin(sip_oa_t *oa, const sip_sdp_t *sdp, uint64_t *version);
int sip__oa_caps_for(const sip_oa_t *oa, const sip_sdp_media_t *m);
/* 1 when both print the same bytes (RFC 3264 §8: an unchanged description). */
int sip__oa_same(const sip_sdp_t *a, const sip_sdp_t *b);

/* answer.c */
int sip__oa_check_answer(const sip_sdp_t *offer, const sip_sdp_t *answer, sip_oa_error_t *err);
int sip__oa_check_offer(const sip_oa_t *oa, const sip_sdp_t *offer, sip_oa_error_t *err);

#endif
