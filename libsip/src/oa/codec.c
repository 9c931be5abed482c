/* SPDX-License-Identifier: MIT */
/* Formats as codecs: what makes two formats the same, directions as bits, capability checks. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "oa/oa_int.h"

/* RFC 3551 §6 tables 4 and 5: the static payload types, which need no a=rtpmap. */
static const struct {
    int pt;
    const char *name;
    uint32_t rate;
    unsigned channels;
} statics[] = {
    {0, "PCMU", 8000, 1},   {3, "GSM", 8000, 1},    {4, "G723", 8000, 1},   {5, "DVI4", 8000, 1},
    {6, "DVI4", 16000, 1},  {7, "LPC", 8000, 1},    {8, "PCMA", 8000, 1},   {9, "G722", 8000, 1},
    {10, "L16", 44100, 2},  {11, "L16", 44100, 1},  {12, "QCELP", 8000, 1}, {13, "CN", 8000, 1},
    {14, "MPA", 90000, 1},  {15, "G728", 8000, 1},  {16, "DVI4", 11025, 1}, {17, "DVI4", 22050, 1},
    {18, "G729", 8000, 1},  {25, "CelB", 90000, 1}, {26, "JPEG", 90000, 1}, {28, "nv", 90000, 1},
    {31, "H261", 90000, 1}, {32, "MPV", 90000, 1},  {33, "MP2T", 90000, 1}, {34, "H263", 90000, 1},
};

int sip__oa_fail(sip_oa_error_t *err, int stream, int rc, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->stream = stream;
        va_start(ap, fmt);
        vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
        va_end(ap);
    }
    return rc;
}

int sip__oa_is_rtp(const sip_sdp_media_t *m)
{
    /* RTP/AVP, RTP/SAVP, UDP/TLS/RTP/SAVPF ...: formats are payload types (RFC 8866 §5.14). */
    sip_str_t p = sip_sdp_media_get_proto(m);
    for (size_t i = 0; i + 3 <= p.len; i++)
        if ((i == 0 || p.ptr[i - 1] == '/') &&
            sip_str_caseeq_cstr((sip_str_t){p.ptr + i, 3}, "RTP") &&
            (i + 3 == p.len || p.ptr[i + 3] == '/'))
            return 1;
    return 0;
}

void sip__oa_codec(const sip_sdp_media_t *m, sip_str_t fmt, oa_codec_t *out)
{
    unsigned long pt;
    sip_sdp_rtpmap_t map;

    memset(out, 0, sizeof(*out));
    out->pt = -1;
    if (!sip__oa_is_rtp(m) || sip_str_to_u32(fmt, 127, &pt) < 0) return;
    out->pt = (int)pt;
    if (sip_sdp_media_rtpmap(m, (unsigned)pt, &map) == 0) {
        out->known = 1;
        out->name = map.encoding;
        out->rate = map.clock_rate;
        out->channels = map.channels ? map.channels : 1;
        return;
    }
    for (size_t i = 0; i < sizeof(statics) / sizeof(statics[0]); i++)
        if (statics[i].pt == out->pt) {
            out->known = 1;
            out->name = sip_str_from_cstr(statics[i].name);
            out->rate = statics[i].rate;
            out->channels = statics[i].channels;
            return;
        }
}

int sip__oa_codec_match(const oa_codec_t *a, const oa_codec_t *b, sip_str_t fa, sip_str_t fb)
{
    if (a->pt < 0 || b->pt < 0) return sip_str_eq(fa, fb); /* not RTP: the same token */
    /* RFC 3264 §6.1: the same codec is the same encoding name (case-insensitive, RFC 4855 §3),
     * clock rate and channels, whatever payload type number each side gave it. */
    if (a->known && b->known)
        return sip_str_caseeq(a->name, b->name) && a->rate == b->rate && a->channels == b->channels;
    /* A static type that neither side names can only be compared by number (RFC 3551 §6). */
    return !a->known && !b->known && a->pt == b->pt && a->pt < 96;
}

int sip__oa_codec_is_aux(const oa_codec_t *c)
{
    /* Events (RFC 4733) and comfort noise (RFC 3389) go with a codec; alone they carry no media. */
    return c->known &&
           (sip_str_caseeq_cstr(c->name, "telephone-event") || sip_str_caseeq_cstr(c->name, "CN"));
}

int sip__oa_common_format(const sip_sdp_media_t *a, const sip_sdp_media_t *b)
{
    size_t na = sip_sdp_media_format_count(a), nb = sip_sdp_media_format_count(b);
    for (size_t i = 0; i < na; i++) {
        sip_str_t fa = sip_sdp_media_format_at(a, i);
        oa_codec_t ca;
        sip__oa_codec(a, fa, &ca);
        for (size_t j = 0; j < nb; j++) {
            sip_str_t fb = sip_sdp_media_format_at(b, j);
            oa_codec_t cb;
            sip__oa_codec(b, fb, &cb);
            if (sip__oa_codec_match(&ca, &cb, fa, fb)) return 1;
        }
    }
    return 0;
}

int sip__oa_attr_bits(const sip_sdp_media_t *m)
{
    switch (sip_sdp_media_get_direction(m)) {
    case SIP_SDP_SENDONLY: return OA_SEND;
    case SIP_SDP_RECVONLY: return OA_RECV;
    case SIP_SDP_INACTIVE: return 0;
    default: return OA_SEND | OA_RECV;
    }
}

int sip__oa_dir_bits(const sip_sdp_media_t *m)
{
    /* RFC 3264 §8.4: c=0.0.0.0 is how RFC 2543 put a stream on hold: do not send to me. */
    const sip_sdp_conn_t *c = sip_sdp_media_get_connection(m);
    int held = c && sip_str_eq(c->address, SIP_STR("0.0.0.0"));
    int bits = sip__oa_attr_bits(m);
    return held ? bits & ~OA_RECV : bits;
}

sip_sdp_dir_t sip__oa_bits_dir(int bits)
{
    switch (bits & (OA_SEND | OA_RECV)) {
    case OA_SEND: return SIP_SDP_SENDONLY;
    case OA_RECV: return SIP_SDP_RECVONLY;
    case 0: return SIP_SDP_INACTIVE;
    default: return SIP_SDP_SENDRECV;
    }
}

int sip__oa_check_caps(const sip_sdp_t *caps, sip_oa_error_t *err)
{
    size_t n = sip_sdp_media_count(caps);
    for (size_t i = 0; i < n; i++) {
        const sip_sdp_media_t *m = sip_sdp_media_at(caps, i);
        sip_str_t type = sip_sdp_media_get_type(m);
        for (size_t f = 0; f < sip_sdp_media_format_count(m); f++) {
            sip_str_t fmt = sip_sdp_media_format_at(m, f);
            oa_codec_t c;
            sip__oa_codec(m, fmt, &c);
            /* RFC 3551 §3: a dynamic payload type means nothing without its a=rtpmap. */
            if (c.pt >= 96 && !c.known)
                return sip__oa_fail(err, (int)i, SIP_ESDP,
                                    "stream %zu (m=%.*s): format %.*s has no valid a=rtpmap", i,
                                    (int)type.len, type.ptr, (int)fmt.len, fmt.ptr);
            if (sip__oa_is_rtp(m) && c.pt < 0)
                return sip__oa_fail(err, (int)i, SIP_ESDP,
                                    "stream %zu (m=%.*s): format %.*s is not a payload type", i,
                                    (int)type.len, type.ptr, (int)fmt.len, fmt.ptr);
        }
    }
    return 0;
}
