/* SPDX-License-Identifier: MIT */
/* SDP session descriptions (RFC 8866): parse, inspect, build, edit and print. */
#ifndef SIP_SDP_H
#define SIP_SDP_H

#include <stdint.h>

#include "sip/error.h"
#include "sip/export.h"
#include "sip/str.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A parsed or built session description. Opaque; reference counted. */
typedef struct sip_sdp sip_sdp_t;
/** One media description ("m=" section). Borrowed from its session; lives as long as it does. */
typedef struct sip_sdp_media sip_sdp_media_t;

/** Where and why sip_sdp_parse() failed. */
typedef struct sip_sdp_error {
    unsigned line;    /**< 1-based line of the fault (0 when not tied to a line) */
    unsigned column;  /**< 1-based column inside that line */
    char type;        /**< the type letter of the line at fault ('c'), or 0 */
    char reason[160]; /**< "line 5 (c=): missing address type" */
} sip_sdp_error_t;

/** o= (RFC 8866 §5.2). Every field is a view. */
typedef struct sip_sdp_origin {
    sip_str_t username; /**< "-" when the host has no user ids */
    sip_str_t sess_id;  /**< a numeric string; may be longer than 64 bits */
    sip_str_t sess_version;
    sip_str_t nettype;  /**< "IN" */
    sip_str_t addrtype; /**< "IP4" or "IP6" */
    sip_str_t address;
} sip_sdp_origin_t;

/** c= (RFC 8866 §5.7). */
typedef struct sip_sdp_conn {
    sip_str_t nettype;  /**< "IN" */
    sip_str_t addrtype; /**< "IP4" or "IP6" (other types are kept as written) */
    sip_str_t address;  /**< without the "/ttl/count" suffix */
    int ttl;            /**< IP4 multicast TTL (0-255), -1 when absent */
    unsigned count;     /**< number of addresses ("/n"); 1 when absent */
} sip_sdp_conn_t;

/** b= (RFC 8866 §5.8). */
typedef struct sip_sdp_bandwidth {
    sip_str_t type; /**< "CT", "AS", "TIAS", ... */
    uint64_t value; /**< kilobits per second for CT and AS */
} sip_sdp_bandwidth_t;

/** One time description: t= with its r= and z= lines (RFC 8866 §5.9-§5.11). */
typedef struct sip_sdp_time {
    uint64_t start;      /**< NTP seconds; 0 for an unbounded session */
    uint64_t stop;       /**< NTP seconds; 0 for an unbounded session */
    size_t repeat_count; /**< r= lines: sip_sdp_repeat_at() */
    size_t zone_count;   /**< z= adjustments: sip_sdp_zone_at() */
} sip_sdp_time_t;

/** r= (RFC 8866 §5.10). Values are in seconds, units (d, h, m, s) already applied. */
typedef struct sip_sdp_repeat {
    uint64_t interval;
    uint64_t duration;
    size_t offset_count; /**< offsets: sip_sdp_repeat_offset_at() */
} sip_sdp_repeat_t;

/** One adjustment of a z= line (RFC 8866 §5.11). */
typedef struct sip_sdp_zone {
    uint64_t time;  /**< NTP seconds when the adjustment takes effect */
    int64_t offset; /**< seconds, may be negative */
} sip_sdp_zone_t;

/** a= (RFC 8866 §5.13): "a=name" (a flag) or "a=name:value". */
typedef struct sip_sdp_attr {
    sip_str_t name;
    sip_str_t value; /**< empty for a flag */
    int has_value;   /**< 1 when written with ':' */
} sip_sdp_attr_t;

/** a=rtpmap (RFC 8866 §6.6). */
typedef struct sip_sdp_rtpmap {
    unsigned payload;    /**< RTP payload type, 0-127 */
    sip_str_t encoding;  /**< "PCMU", "H264", ... */
    uint32_t clock_rate; /**< Hz */
    sip_str_t params;    /**< encoding parameters; empty when absent */
    unsigned channels;   /**< params as a number for audio; 1 when absent or not numeric */
} sip_sdp_rtpmap_t;

/** a=fmtp (RFC 8866 §6.15). */
typedef struct sip_sdp_fmtp {
    sip_str_t format; /**< the media format ("96") */
    sip_str_t params; /**< everything after the first space, as written */
} sip_sdp_fmtp_t;

/** Media direction (RFC 8866 §6.7; RFC 3264 §5.1). */
typedef enum sip_sdp_dir {
    SIP_SDP_SENDRECV = 0,
    SIP_SDP_SENDONLY,
    SIP_SDP_RECVONLY,
    SIP_SDP_INACTIVE,
} sip_sdp_dir_t;

/* ---- life cycle ------------------------------------------------------------------------------ */

/**
 * Parses a session description. Lines end in CRLF or a bare LF; empty lines are allowed only at
 * the end. Line order and every field are checked against the RFC 8866 §9 grammar, except that
 * an empty s= line is accepted (RFC 5118 §4.8 uses one) and fields may be separated by more than
 * one space. Unknown line types are rejected (RFC 8866 §5 allows it), except GB28181's y= and f=
 * (sip_sdp_get_ssrc(), sip_sdp_get_format()); unknown attributes are kept
 * in order. The input is copied once; every view points into that copy.
 * @param out  receives the session (NULL on failure); New reference
 * @param buf  the bytes (not NUL-terminated)
 * @param len  their length
 * @param err  filled on failure; may be NULL
 * @return 0, SIP_ESDP (err says which line and why), SIP_EINVAL, SIP_ENOMEM.
 */
SIP_EXTERN int sip_sdp_parse(sip_sdp_t **out, const char *buf, size_t len, sip_sdp_error_t *err);

/**
 * Creates a minimal session to build on:
 * "v=0" "o=- 0 0 IN IP4 0.0.0.0" "s=-" "t=0 0", no media.
 * @param out  receives the session; New reference
 * @return 0, SIP_EINVAL, SIP_ENOMEM.
 */
SIP_EXTERN int sip_sdp_create(sip_sdp_t **out);

/** Takes a reference. @return sdp. */
SIP_EXTERN sip_sdp_t *sip_sdp_ref(sip_sdp_t *sdp);
/** Drops a reference; frees the session and every view into it with the last one. Accepts NULL. */
SIP_EXTERN void sip_sdp_unref(sip_sdp_t *sdp);

/**
 * Prints the wire form, every line ending in CRLF, in RFC 8866 order.
 * @param sdp   the session
 * @param buf   destination; may be NULL when size is 0
 * @param size  size of buf; the output is NUL-terminated when size > 0
 * @return the length of the wire form (>= size: buf was too small and holds a truncated copy,
 *         like snprintf), or SIP_EINVAL, SIP_ERANGE (longer than INT_MAX).
 */
SIP_EXTERN int sip_sdp_print(const sip_sdp_t *sdp, char *buf, size_t size);

/* ---- session level --------------------------------------------------------------------------- */

/** The o= line. Borrowed; never NULL for a valid handle. */
SIP_EXTERN const sip_sdp_origin_t *sip_sdp_get_origin(const sip_sdp_t *sdp);
/** The s= text (may be empty). Borrowed. */
SIP_EXTERN sip_str_t sip_sdp_get_session_name(const sip_sdp_t *sdp);
/** The session i= text; empty when absent. Borrowed. */
SIP_EXTERN sip_str_t sip_sdp_get_info(const sip_sdp_t *sdp);
/** The u= text; empty when absent. Borrowed. */
SIP_EXTERN sip_str_t sip_sdp_get_uri(const sip_sdp_t *sdp);
/** Number of e= lines. */
SIP_EXTERN size_t sip_sdp_email_count(const sip_sdp_t *sdp);
/** The i-th e= text; empty when out of range. Borrowed. */
SIP_EXTERN sip_str_t sip_sdp_email_at(const sip_sdp_t *sdp, size_t i);
/** Number of p= lines. */
SIP_EXTERN size_t sip_sdp_phone_count(const sip_sdp_t *sdp);
/** The i-th p= text; empty when out of range. Borrowed. */
SIP_EXTERN sip_str_t sip_sdp_phone_at(const sip_sdp_t *sdp, size_t i);
/** The session c= line, or NULL when absent. Borrowed. */
SIP_EXTERN const sip_sdp_conn_t *sip_sdp_get_connection(const sip_sdp_t *sdp);
/** Number of session b= lines. */
SIP_EXTERN size_t sip_sdp_bandwidth_count(const sip_sdp_t *sdp);
/** The i-th session b= line, or NULL. Borrowed. */
SIP_EXTERN const sip_sdp_bandwidth_t *sip_sdp_bandwidth_at(const sip_sdp_t *sdp, size_t i);
/** Number of time descriptions (at least 1). */
SIP_EXTERN size_t sip_sdp_time_count(const sip_sdp_t *sdp);
/** The i-th time description, or NULL. Borrowed. */
SIP_EXTERN const sip_sdp_time_t *sip_sdp_time_at(const sip_sdp_t *sdp, size_t i);
/** The i-th r= line of a time description, or NULL. Borrowed. */
SIP_EXTERN const sip_sdp_repeat_t *sip_sdp_repeat_at(const sip_sdp_time_t *t, size_t i);
/** The i-th offset of an r= line in seconds; 0 when out of range. */
SIP_EXTERN uint64_t sip_sdp_repeat_offset_at(const sip_sdp_repeat_t *r, size_t i);
/** The i-th z= adjustment of a time description, or NULL. Borrowed. */
SIP_EXTERN const sip_sdp_zone_t *sip_sdp_zone_at(const sip_sdp_time_t *t, size_t i);
/** The session k= value ("method" or "method:key"); empty when absent. Borrowed. */
SIP_EXTERN sip_str_t sip_sdp_get_key(const sip_sdp_t *sdp);
/**
 * The GB28181 y= value (GB/T 28181-2016 Annex F: the RTP SSRC of the stream, ten digits, the
 * first 0 for live video and 1 for playback), kept by sip_sdp_parse() wherever it appears
 * after t= and printed last.
 * @param sdp  the session
 * @return the value; empty (ptr NULL) when absent. Borrowed.
 */
SIP_EXTERN sip_str_t sip_sdp_get_ssrc(const sip_sdp_t *sdp);
/**
 * The GB28181 f= value (GB/T 28181-2016 Annex F: the media format, "v/codec/resolution/frame
 * rate/rate type/bit rate" then "a/codec/bit rate/sample rate"), kept like y=.
 * @param sdp  the session
 * @return the value (may be empty text: "f="); ptr NULL when absent. Borrowed.
 */
SIP_EXTERN sip_str_t sip_sdp_get_format(const sip_sdp_t *sdp);

/** Number of session a= lines. */
SIP_EXTERN size_t sip_sdp_attr_count(const sip_sdp_t *sdp);
/** The i-th session a= line in wire order, or NULL. Borrowed. */
SIP_EXTERN const sip_sdp_attr_t *sip_sdp_attr_at(const sip_sdp_t *sdp, size_t i);
/**
 * The i-th session a= line with a given name (case-sensitive, RFC 8866 §9), or NULL. Borrowed.
 */
SIP_EXTERN const sip_sdp_attr_t *sip_sdp_attr_get(const sip_sdp_t *sdp, const char *name, size_t i);
/** The session direction attribute; SIP_SDP_SENDRECV when none (RFC 8866 §6.7). */
SIP_EXTERN sip_sdp_dir_t sip_sdp_get_direction(const sip_sdp_t *sdp);

/** Number of media descriptions. */
SIP_EXTERN size_t sip_sdp_media_count(const sip_sdp_t *sdp);
/** The i-th media description, or NULL. Borrowed. */
SIP_EXTERN const sip_sdp_media_t *sip_sdp_media_at(const sip_sdp_t *sdp, size_t i);

/* ---- media level ----------------------------------------------------------------------------- */

/** The media type ("audio", "video", "application", ...). Borrowed. */
SIP_EXTERN sip_str_t sip_sdp_media_get_type(const sip_sdp_media_t *m);
/** The transport port (0 marks a rejected or disabled stream, RFC 3264 §6). */
SIP_EXTERN unsigned sip_sdp_media_get_port(const sip_sdp_media_t *m);
/** The "/n" port count; 1 when absent. */
SIP_EXTERN unsigned sip_sdp_media_get_port_count(const sip_sdp_media_t *m);
/** The transport protocol ("RTP/AVP", "UDP/TLS/RTP/SAVPF", ...). Borrowed. */
SIP_EXTERN sip_str_t sip_sdp_media_get_proto(const sip_sdp_media_t *m);
/** Number of media formats (at least 1). */
SIP_EXTERN size_t sip_sdp_media_format_count(const sip_sdp_media_t *m);
/** The i-th media format ("0", "101", "*"); empty when out of range. Borrowed. */
SIP_EXTERN sip_str_t sip_sdp_media_format_at(const sip_sdp_media_t *m, size_t i);
/** The media i= text; empty when absent. Borrowed. */
SIP_EXTERN sip_str_t sip_sdp_media_get_info(const sip_sdp_media_t *m);
/** Number of c= lines of the media itself (not counting the session one). */
SIP_EXTERN size_t sip_sdp_media_connection_count(const sip_sdp_media_t *m);
/** The i-th media c= line, or NULL. Borrowed. */
SIP_EXTERN const sip_sdp_conn_t *sip_sdp_media_connection_at(const sip_sdp_media_t *m, size_t i);
/**
 * The connection that applies to a media: its first c= line, else the session c= line
 * (RFC 8866 §5.7).
 * @return the connection, or NULL when neither exists. Borrowed.
 */
SIP_EXTERN const sip_sdp_conn_t *sip_sdp_media_get_connection(const sip_sdp_media_t *m);
/** Number of media b= lines. */
SIP_EXTERN size_t sip_sdp_media_bandwidth_count(const sip_sdp_media_t *m);
/** The i-th media b= line, or NULL. Borrowed. */
SIP_EXTERN const sip_sdp_bandwidth_t *sip_sdp_media_bandwidth_at(const sip_sdp_media_t *m,
                                                                 size_t i);
/** The media k= value; empty when absent. Borrowed. */
SIP_EXTERN sip_str_t sip_sdp_media_get_key(const sip_sdp_media_t *m);
/** Number of media a= lines. */
SIP_EXTERN size_t sip_sdp_media_attr_count(const sip_sdp_media_t *m);
/** The i-th media a= line in wire order, or NULL. Borrowed. */
SIP_EXTERN const sip_sdp_attr_t *sip_sdp_media_attr_at(const sip_sdp_media_t *m, size_t i);
/** The i-th media a= line with a given name (case-sensitive), or NULL. Borrowed. */
SIP_EXTERN const sip_sdp_attr_t *sip_sdp_media_attr_get(const sip_sdp_media_t *m, const char *name,
                                                        size_t i);
/**
 * The direction of a media: its own sendrecv/sendonly/recvonly/inactive attribute, else the
 * session one, else SIP_SDP_SENDRECV (RFC 8866 §6.7).
 */
SIP_EXTERN sip_sdp_dir_t sip_sdp_media_get_direction(const sip_sdp_media_t *m);
/**
 * a=ptime (RFC 8866 §6.4) in whole milliseconds (a fraction is dropped).
 * @return the value, -1 when absent, SIP_ESDP when malformed.
 */
SIP_EXTERN int sip_sdp_media_get_ptime(const sip_sdp_media_t *m);
/**
 * a=maxptime (RFC 8866 §6.5) in whole milliseconds.
 * @return the value, -1 when absent, SIP_ESDP when malformed.
 */
SIP_EXTERN int sip_sdp_media_get_maxptime(const sip_sdp_media_t *m);
/**
 * Finds the a=rtpmap of a payload type in a media.
 * @param m    the media
 * @param pt   the payload type
 * @param out  filled on success; its views are Borrowed from the session
 * @return 0, SIP_ENOENT when no rtpmap names pt, SIP_ESDP when that rtpmap is malformed,
 *         SIP_EINVAL.
 */
SIP_EXTERN int sip_sdp_media_rtpmap(const sip_sdp_media_t *m, unsigned pt, sip_sdp_rtpmap_t *out);
/**
 * Finds the a=fmtp of a format in a media.
 * @param m    the media
 * @param fmt  the format as written in m= ("96")
 * @param out  filled on success; Borrowed views
 * @return 0, SIP_ENOENT, SIP_ESDP, SIP_EINVAL.
 */
SIP_EXTERN int sip_sdp_media_fmtp(const sip_sdp_media_t *m, const char *fmt, sip_sdp_fmtp_t *out);
/**
 * Reads an attribute as a=rtpmap ("<pt> <encoding>/<clock rate>[/<params>]").
 * @return 0, SIP_ESDP when malformed, SIP_EINVAL (NULL, or not named rtpmap).
 */
SIP_EXTERN int sip_sdp_attr_rtpmap(const sip_sdp_attr_t *a, sip_sdp_rtpmap_t *out);
/**
 * Reads an attribute as a=fmtp ("<format> <params>").
 * @return 0, SIP_ESDP when malformed, SIP_EINVAL (NULL, or not named fmtp).
 */
SIP_EXTERN int sip_sdp_attr_fmtp(const sip_sdp_attr_t *a, sip_sdp_fmtp_t *out);

/* ---- building and editing -------------------------------------------------------------------
 * Every edit checks its arguments with the same grammar as the parser, so a built session always
 * prints to a description sip_sdp_parse() accepts. Edits append to memory the session owns:
 * views and pointers obtained earlier stay valid (a removed attribute keeps its old contents).
 * A failed edit leaves the session as it was. */

/**
 * Sets the o= line.
 * @return 0, SIP_EINVAL (NULL or a field the o= grammar refuses), SIP_ENOMEM.
 */
SIP_EXTERN int sip_sdp_set_origin(sip_sdp_t *sdp, const char *username, const char *sess_id,
                                  const char *sess_version, const char *nettype,
                                  const char *addrtype, const char *address);
/**
 * Sets the s= text (NULL or "" gives "s=-", RFC 8866 §5.3).
 * @return 0, SIP_EINVAL (CR, LF), SIP_ENOMEM.
 */
SIP_EXTERN int sip_sdp_set_session_name(sip_sdp_t *sdp, const char *name);
/**
 * Sets (or with address NULL removes) the session c= line.
 * @param address  may carry "/ttl[/count]" (IP4) or "/count" (IP6)
 * @return 0, SIP_EINVAL, SIP_ENOMEM.
 */
SIP_EXTERN int sip_sdp_set_connection(sip_sdp_t *sdp, const char *nettype, const char *addrtype,
                                      const char *address);
/**
 * Replaces every time description with one "t=start stop" line.
 * @return 0, SIP_EINVAL, SIP_ENOMEM.
 */
SIP_EXTERN int sip_sdp_set_time(sip_sdp_t *sdp, uint64_t start, uint64_t stop);
/**
 * Adds a session a= line after the others.
 * @param name   attribute name (a token)
 * @param value  value, or NULL for a flag attribute
 * @return 0, SIP_EINVAL, SIP_ENOMEM.
 */
SIP_EXTERN int sip_sdp_add_attr(sip_sdp_t *sdp, const char *name, const char *value);
/** Removes every session a= line with that name. @return the count removed, or SIP_EINVAL. */
SIP_EXTERN int sip_sdp_remove_attr(sip_sdp_t *sdp, const char *name);
/**
 * Sets the session direction: removes every session direction attribute and adds the new one
 * (nothing for SIP_SDP_SENDRECV, the default).
 * @return 0, SIP_EINVAL, SIP_ENOMEM.
 */
SIP_EXTERN int sip_sdp_set_direction(sip_sdp_t *sdp, sip_sdp_dir_t dir);

/**
 * Adds a media description after the others.
 * @param type     "audio", "video", ...
 * @param port     0-65535
 * @param proto    "RTP/AVP", ...
 * @param formats  space-separated formats ("0 8 101")
 * @return the index of the new media (>= 0), SIP_EINVAL, SIP_ENOMEM.
 */
SIP_EXTERN int sip_sdp_add_media(sip_sdp_t *sdp, const char *type, unsigned port, const char *proto,
                                 const char *formats);
/**
 * Sets the port of the media at index idx (0 rejects the stream, RFC 3264 §6). A port count
 * stays as it was.
 * @return 0, SIP_EINVAL (bad index or port), SIP_ENOMEM.
 */
SIP_EXTERN int sip_sdp_media_set_port(sip_sdp_t *sdp, size_t idx, unsigned port);
/**
 * Replaces the c= lines of a media with one (or with address NULL removes them, so the session
 * c= applies).
 * @return 0, SIP_EINVAL, SIP_ENOMEM.
 */
SIP_EXTERN int sip_sdp_media_set_connection(sip_sdp_t *sdp, size_t idx, const char *nettype,
                                            const char *addrtype, const char *address);
/**
 * Adds an a= line after the others of a media.
 * @return 0, SIP_EINVAL, SIP_ENOMEM.
 */
SIP_EXTERN int sip_sdp_media_add_attr(sip_sdp_t *sdp, size_t idx, const char *name,
                                      const char *value);
/** Removes every a= line with that name from a media. @return the count removed, or SIP_EINVAL. */
SIP_EXTERN int sip_sdp_media_remove_attr(sip_sdp_t *sdp, size_t idx, const char *name);
/**
 * Sets the direction of a media: removes its direction attributes and adds the new one (always
 * written, so it overrides a session-level direction).
 * @return 0, SIP_EINVAL, SIP_ENOMEM.
 */
SIP_EXTERN int sip_sdp_media_set_direction(sip_sdp_t *sdp, size_t idx, sip_sdp_dir_t dir);

/** The attribute name of a direction ("sendrecv"); NULL for a value out of range. */
SIP_EXTERN const char *sip_sdp_dir_name(sip_sdp_dir_t dir);

#ifdef __cplusplus
}
#endif
#endif
