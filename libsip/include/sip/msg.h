/* SPDX-License-Identifier: MIT */
/* The SIP message model: parse, inspect, build, edit and print requests and responses. */
#ifndef SIP_MSG_H
#define SIP_MSG_H

#include <stdint.h>

#include "sip/error.h"
#include "sip/net.h"
#include "sip/param.h"
#include "sip/str.h"
#include "sip/uri.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A parsed or built SIP message. Opaque; reference counted. */
typedef struct sip_msg sip_msg_t;
/** One header value inside a message. Borrowed from the message; lives as long as it does. */
typedef struct sip_header sip_header_t;

/* ---- methods ------------------------------------------------------------------------------- */

/** X(ENUM, "NAME") for every method libsip knows. */
#define SIP_METHOD_MAP(X)                                                                          \
    X(INVITE, "INVITE")                                                                            \
    X(ACK, "ACK")                                                                                  \
    X(BYE, "BYE")                                                                                  \
    X(CANCEL, "CANCEL")                                                                            \
    X(OPTIONS, "OPTIONS")                                                                          \
    X(REGISTER, "REGISTER")                                                                        \
    X(PRACK, "PRACK")                                                                              \
    X(UPDATE, "UPDATE")                                                                            \
    X(SUBSCRIBE, "SUBSCRIBE")                                                                      \
    X(NOTIFY, "NOTIFY")                                                                            \
    X(REFER, "REFER")                                                                              \
    X(MESSAGE, "MESSAGE")                                                                          \
    X(INFO, "INFO")                                                                                \
    X(PUBLISH, "PUBLISH")

/** Request methods. Extension methods are SIP_METHOD_UNKNOWN; their name is still available. */
typedef enum sip_method {
    SIP_METHOD_UNKNOWN = 0,
#define SIP__METHOD_ENUM(e, s) SIP_METHOD_##e,
    SIP_METHOD_MAP(SIP__METHOD_ENUM)
#undef SIP__METHOD_ENUM
} sip_method_t;

/**
 * Looks up a method by name. Methods are case-sensitive (RFC 3261 §7.1).
 * @return the method, or SIP_METHOD_UNKNOWN for an extension method.
 */
SIP_EXTERN sip_method_t sip_method_from_str(const char *s, size_t len);
/** Names a method ("INVITE"); NULL for SIP_METHOD_UNKNOWN. */
SIP_EXTERN const char *sip_method_name(sip_method_t m);

/* ---- headers ------------------------------------------------------------------------------- */

/** The shape a header's value is parsed into; selects the typed getter that answers. */
typedef enum sip_hdr_kind {
    SIP_HK_TEXT = 0, /**< free text, only the raw value (Subject, User-Agent, unknown headers) */
    SIP_HK_ADDR,     /**< name-addr / addr-spec with params: sip_header_addr() */
    SIP_HK_VIA,      /**< sip_header_via() */
    SIP_HK_CSEQ,     /**< sip_header_cseq() */
    SIP_HK_NUM,      /**< a number with optional params/comment: sip_header_num() */
    SIP_HK_TOKEN,    /**< a token (or word) with optional params: sip_header_token() */
    SIP_HK_MEDIA,    /**< type/subtype with params: sip_header_media() */
    SIP_HK_AUTH,     /**< digest challenge or credentials: sip_header_auth() */
    SIP_HK_WARNING,  /**< sip_header_warning() */
    SIP_HK_RACK,     /**< sip_header_rack() */
    SIP_HK_DATE,     /**< RFC 1123 date (or GB/T 28181's 2026-12-07T21:51:33.123, read as GMT):
                          sip_header_num() gives seconds since the epoch */
} sip_hdr_kind_t;

/**
 * X(ENUM, "Name", "compact form or NULL", KIND, MULTI) for every known header.
 * MULTI is 1 when the grammar allows a comma-separated list on one line (each value becomes its
 * own sip_header_t).
 */
#define SIP_HEADER_MAP(X)                                                                          \
    X(ACCEPT, "Accept", NULL, SIP_HK_MEDIA, 1)                                                     \
    X(ACCEPT_ENCODING, "Accept-Encoding", NULL, SIP_HK_TOKEN, 1)                                   \
    X(ACCEPT_LANGUAGE, "Accept-Language", NULL, SIP_HK_TOKEN, 1)                                   \
    X(ALERT_INFO, "Alert-Info", NULL, SIP_HK_ADDR, 1)                                              \
    X(ALLOW, "Allow", NULL, SIP_HK_TOKEN, 1)                                                       \
    X(ALLOW_EVENTS, "Allow-Events", "u", SIP_HK_TOKEN, 1)                                          \
    X(AUTHENTICATION_INFO, "Authentication-Info", NULL, SIP_HK_AUTH, 0)                            \
    X(AUTHORIZATION, "Authorization", NULL, SIP_HK_AUTH, 0)                                        \
    X(CALL_ID, "Call-ID", "i", SIP_HK_TOKEN, 0)                                                    \
    X(CALL_INFO, "Call-Info", NULL, SIP_HK_ADDR, 1)                                                \
    X(CONTACT, "Contact", "m", SIP_HK_ADDR, 1)                                                     \
    X(CONTENT_DISPOSITION, "Content-Disposition", NULL, SIP_HK_TOKEN, 0)                           \
    X(CONTENT_ENCODING, "Content-Encoding", "e", SIP_HK_TOKEN, 1)                                  \
    X(CONTENT_LANGUAGE, "Content-Language", NULL, SIP_HK_TOKEN, 1)                                 \
    X(CONTENT_LENGTH, "Content-Length", "l", SIP_HK_NUM, 0)                                        \
    X(CONTENT_TYPE, "Content-Type", "c", SIP_HK_MEDIA, 0)                                          \
    X(CSEQ, "CSeq", NULL, SIP_HK_CSEQ, 0)                                                          \
    X(DATE, "Date", NULL, SIP_HK_DATE, 0)                                                          \
    X(ERROR_INFO, "Error-Info", NULL, SIP_HK_ADDR, 1)                                              \
    X(EVENT, "Event", "o", SIP_HK_TOKEN, 0)                                                        \
    X(EXPIRES, "Expires", NULL, SIP_HK_NUM, 0)                                                     \
    X(FROM, "From", "f", SIP_HK_ADDR, 0)                                                           \
    X(IDENTITY, "Identity", "y", SIP_HK_TEXT, 0)                                                   \
    X(IN_REPLY_TO, "In-Reply-To", NULL, SIP_HK_TOKEN, 1)                                           \
    X(MAX_FORWARDS, "Max-Forwards", NULL, SIP_HK_NUM, 0)                                           \
    X(MIME_VERSION, "MIME-Version", NULL, SIP_HK_TEXT, 0)                                          \
    X(MIN_EXPIRES, "Min-Expires", NULL, SIP_HK_NUM, 0)                                             \
    X(MIN_SE, "Min-SE", NULL, SIP_HK_NUM, 0)                                                       \
    X(ORGANIZATION, "Organization", NULL, SIP_HK_TEXT, 0)                                          \
    X(P_ASSERTED_IDENTITY, "P-Asserted-Identity", NULL, SIP_HK_ADDR, 1)                            \
    X(P_PREFERRED_IDENTITY, "P-Preferred-Identity", NULL, SIP_HK_ADDR, 1)                          \
    X(PATH, "Path", NULL, SIP_HK_ADDR, 1)                                                          \
    X(PRIORITY, "Priority", NULL, SIP_HK_TOKEN, 0)                                                 \
    X(PRIVACY, "Privacy", NULL, SIP_HK_TOKEN, 0)                                                   \
    X(PROXY_AUTHENTICATE, "Proxy-Authenticate", NULL, SIP_HK_AUTH, 0)                              \
    X(PROXY_AUTHORIZATION, "Proxy-Authorization", NULL, SIP_HK_AUTH, 0)                            \
    X(PROXY_REQUIRE, "Proxy-Require", NULL, SIP_HK_TOKEN, 1)                                       \
    X(RACK, "RAck", NULL, SIP_HK_RACK, 0)                                                          \
    X(REASON, "Reason", NULL, SIP_HK_TOKEN, 1)                                                     \
    X(RECORD_ROUTE, "Record-Route", NULL, SIP_HK_ADDR, 1)                                          \
    X(REFER_TO, "Refer-To", "r", SIP_HK_ADDR, 0)                                                   \
    X(REFERRED_BY, "Referred-By", "b", SIP_HK_ADDR, 0)                                             \
    X(REPLACES, "Replaces", NULL, SIP_HK_TOKEN, 0)                                                 \
    X(REPLY_TO, "Reply-To", NULL, SIP_HK_ADDR, 0)                                                  \
    X(REQUIRE, "Require", NULL, SIP_HK_TOKEN, 1)                                                   \
    X(RETRY_AFTER, "Retry-After", NULL, SIP_HK_NUM, 0)                                             \
    X(ROUTE, "Route", NULL, SIP_HK_ADDR, 1)                                                        \
    X(RSEQ, "RSeq", NULL, SIP_HK_NUM, 0)                                                           \
    X(SERVER, "Server", NULL, SIP_HK_TEXT, 0)                                                      \
    X(SERVICE_ROUTE, "Service-Route", NULL, SIP_HK_ADDR, 1)                                        \
    X(SESSION_EXPIRES, "Session-Expires", "x", SIP_HK_NUM, 0)                                      \
    X(SUBJECT, "Subject", "s", SIP_HK_TEXT, 0)                                                     \
    X(SUBSCRIPTION_STATE, "Subscription-State", NULL, SIP_HK_TOKEN, 0)                             \
    X(SUPPORTED, "Supported", "k", SIP_HK_TOKEN, 1)                                                \
    X(TIMESTAMP, "Timestamp", NULL, SIP_HK_TEXT, 0)                                                \
    X(TO, "To", "t", SIP_HK_ADDR, 0)                                                               \
    X(UNSUPPORTED, "Unsupported", NULL, SIP_HK_TOKEN, 1)                                           \
    X(USER_AGENT, "User-Agent", NULL, SIP_HK_TEXT, 0)                                              \
    X(VIA, "Via", "v", SIP_HK_VIA, 1)                                                              \
    X(WARNING, "Warning", NULL, SIP_HK_WARNING, 1)                                                 \
    X(WWW_AUTHENTICATE, "WWW-Authenticate", NULL, SIP_HK_AUTH, 0)

/** Header ids. Compact forms share the id of their long form. */
typedef enum sip_hdr_id {
    SIP_HDR_OTHER = 0, /**< a header libsip does not know; find it by name */
/* clang-format off */
#define SIP__HDR_ENUM(e, n, c, k, m) SIP_HDR_##e,
    SIP_HEADER_MAP(SIP__HDR_ENUM)
#undef SIP__HDR_ENUM
    SIP_HDR__COUNT
    /* clang-format on */
} sip_hdr_id_t;

/**
 * Looks up a header name (long or compact form, any case).
 * @return the id, or SIP_HDR_OTHER.
 */
SIP_EXTERN sip_hdr_id_t sip_hdr_id_from_name(const char *name, size_t len);
/** The canonical long name of a header id ("Call-ID"); NULL for SIP_HDR_OTHER. */
SIP_EXTERN const char *sip_hdr_name(sip_hdr_id_t id);
/** The compact form of a header id ("i"), or NULL when it has none. */
SIP_EXTERN const char *sip_hdr_compact_name(sip_hdr_id_t id);
/** The value shape of a header id. */
SIP_EXTERN sip_hdr_kind_t sip_hdr_kind(sip_hdr_id_t id);

/* Typed header values. All are read-only views into the message. Absent parts are empty views. */

/** Via (RFC 3261 §20.42, RFC 3581 rport). */
typedef struct sip_via {
    sip_str_t protocol;  /**< "SIP" */
    sip_str_t version;   /**< "2.0" */
    sip_str_t transport; /**< "UDP", "TCP", "TLS", "SCTP", "WS", "WSS" or any token */
    sip_str_t host;      /**< sent-by host; IPv6 keeps brackets */
    sip_host_type_t host_type;
    uint16_t port;    /**< 0 when absent */
    sip_str_t params; /**< every parameter, leading ';' stripped */
    sip_str_t branch;
    sip_str_t received;
    sip_str_t maddr;
    int rport; /**< -1 absent, 0 present without value, else the port */
    int ttl;   /**< -1 when absent */
} sip_via_t;

/** name-addr or addr-spec with header params: From, To, Contact, Route, Path, Refer-To, ... */
typedef struct sip_addr {
    sip_str_t display; /**< display name as written (quotes kept); empty when absent */
    sip_uri_t uri;
    int bracketed;    /**< 1 when the URI was written in < > */
    int star;         /**< Contact: * (then uri is empty) */
    sip_str_t params; /**< header params after the address, leading ';' stripped */
    sip_str_t tag;
    int expires; /**< Contact expires param; -1 when absent */
    int q;       /**< Contact q param in thousandths (q=0.5 -> 500); -1 when absent */
} sip_addr_t;

/** CSeq. */
typedef struct sip_cseq {
    uint32_t seq;
    sip_method_t method;
    sip_str_t method_str;
} sip_cseq_t;

/**
 * A number: Content-Length, Max-Forwards, Expires, Min-Expires, RSeq, Min-SE, Session-Expires,
 * Retry-After, and Date (seconds since the epoch).
 */
typedef struct sip_num {
    uint32_t value;
    sip_str_t params;  /**< Session-Expires refresher, Retry-After duration, Min-SE params */
    sip_str_t comment; /**< Retry-After comment, without parentheses */
    int64_t time;      /**< Date: seconds since the epoch */
} sip_num_t;

/**
 * A token with params: Allow, Supported, Require, Event (id param), Subscription-State (expires,
 * reason), Content-Disposition, Priority, Privacy, Reason (cause, text), Replaces (to-tag,
 * from-tag), Call-ID (the whole word@word), Accept-Encoding, Accept-Language, ...
 */
typedef struct sip_token {
    sip_str_t value;
    sip_str_t params;
} sip_token_t;

/** type/subtype with params: Content-Type, Accept. */
typedef struct sip_media {
    sip_str_t type;
    sip_str_t subtype;
    sip_str_t params;
} sip_media_t;

/**
 * A challenge (WWW-/Proxy-Authenticate), credentials (Authorization, Proxy-Authorization) or
 * Authentication-Info. Quoted values are given without their quotes.
 */
typedef struct sip_auth {
    sip_str_t scheme; /**< "Digest", or the unknown scheme; empty for Authentication-Info */
    sip_str_t params; /**< every auth-param, ','-separated, as written */
    sip_str_t realm, nonce, opaque, algorithm, qop, domain, stale;
    sip_str_t username, uri, response, cnonce, nc;
    sip_str_t nextnonce, rspauth;
} sip_auth_t;

/** Warning. */
typedef struct sip_warning {
    unsigned code;
    sip_str_t agent;
    sip_str_t text; /**< with its quotes */
} sip_warning_t;

/** RAck (RFC 3262). */
typedef struct sip_rack {
    uint32_t rseq;
    uint32_t cseq;
    sip_method_t method;
    sip_str_t method_str;
} sip_rack_t;

/** The id of a header. */
SIP_EXTERN sip_hdr_id_t sip_header_get_id(const sip_header_t *h);
/** The header name as written on the wire (or as given when added). Borrowed. */
SIP_EXTERN sip_str_t sip_header_get_name(const sip_header_t *h);
/** The value text (one element of a comma list), without surrounding whitespace. Borrowed. */
SIP_EXTERN sip_str_t sip_header_get_value(const sip_header_t *h);
/** The typed value, or NULL when the header has another kind. Borrowed from the message. */
SIP_EXTERN const sip_via_t *sip_header_via(const sip_header_t *h);
SIP_EXTERN const sip_addr_t *sip_header_addr(const sip_header_t *h);
SIP_EXTERN const sip_cseq_t *sip_header_cseq(const sip_header_t *h);
SIP_EXTERN const sip_num_t *sip_header_num(const sip_header_t *h);
SIP_EXTERN const sip_token_t *sip_header_token(const sip_header_t *h);
SIP_EXTERN const sip_media_t *sip_header_media(const sip_header_t *h);
SIP_EXTERN const sip_auth_t *sip_header_auth(const sip_header_t *h);
SIP_EXTERN const sip_warning_t *sip_header_warning(const sip_header_t *h);
SIP_EXTERN const sip_rack_t *sip_header_rack(const sip_header_t *h);
/** Next header in wire order, or NULL. Borrowed. */
SIP_EXTERN const sip_header_t *sip_header_next(const sip_header_t *h);

/* ---- parsing ------------------------------------------------------------------------------- */

/** Limits and switches for sip_msg_parse_ex(). Initialise with sip_parse_opts_init(). */
typedef struct sip_parse_opts {
    size_t max_size;    /**< largest message accepted, bytes (default 65536) */
    size_t max_headers; /**< most header values (default 256) */
    size_t max_line;    /**< longest header line, unfolded, bytes (default 8192) */
    int stream;         /**< 1: the buffer comes from a stream transport; Content-Length is
                             required and must be exact (default 0: a datagram) */
} sip_parse_opts_t;

/** Fills opts with the defaults. */
SIP_EXTERN void sip_parse_opts_init(sip_parse_opts_t *opts);

/** Where and why a parse failed, and what a server should answer. */
typedef struct sip_parse_error {
    int code;         /**< SIP_EPARSE, SIP_ETOOBIG, SIP_EVERSION, SIP_EINCOMPLETE, ... */
    unsigned line;    /**< 1-based line of the fault (0 when not tied to a line) */
    unsigned column;  /**< 1-based column */
    char header[48];  /**< the header name at fault, or "" (start line, body) */
    char reason[160]; /**< what is wrong, in words */
    int status;       /**< the response a server should send (400, 413, 505, 501, ...); 0 for a
                           response message, which is discarded, not answered */
    char phrase[96];  /**< the reason phrase for that response ("Bad Request (Malformed Via)") */
} sip_parse_error_t;

/**
 * Parses one message from a buffer (a datagram, or one framed message from a stream). The input is
 * copied once; every view points into that copy.
 * @param out  receives the message (NULL on failure); New reference
 * @param buf  the bytes
 * @param len  their length
 * @param err  filled on failure; may be NULL
 * @return 0, SIP_EPARSE, SIP_ETOOBIG, SIP_EVERSION, SIP_EINCOMPLETE, SIP_ENOMEM, SIP_EINVAL.
 */
SIP_EXTERN int sip_msg_parse(sip_msg_t **out, const char *buf, size_t len, sip_parse_error_t *err);

/**
 * Checks what the grammar alone does not: that a message has To, From, CSeq, Call-ID and Via
 * (RFC 3261 §8.1.1) and at most one Call-ID, CSeq, From, To, Max-Forwards, Content-Length and
 * Content-Type (§7.3.1; RFC 4475 insuf, multi01, mcl01). The transport runs it on every received
 * message: a request that fails is answered with err->status, a response is dropped.
 * @param err  filled on failure (header names the header; status 400 with a phrase that names it
 *             for a request, 0 for a response); may be NULL
 * @return 0, SIP_EPARSE, SIP_EINVAL.
 */
SIP_EXTERN int sip_msg_validate(const sip_msg_t *msg, sip_parse_error_t *err);

/** sip_msg_parse() with limits; opts may be NULL for the defaults. */
SIP_EXTERN int sip_msg_parse_ex(sip_msg_t **out, const char *buf, size_t len,
                                const sip_parse_opts_t *opts, sip_parse_error_t *err);

/**
 * Finds where the first message in a stream buffer ends (headers + Content-Length body), skipping
 * leading CRLFs (keep-alives).
 * @param buf     received bytes
 * @param len     their length
 * @param skip    receives the count of leading CRLF octets to drop before the message
 * @param msglen  receives the length of the message after those octets
 * @return 0 when a whole message is there, SIP_EINCOMPLETE when more bytes are needed,
 *         SIP_EPARSE when framing is impossible (no or bad Content-Length).
 */
SIP_EXTERN int sip_msg_frame(const char *buf, size_t len, size_t *skip, size_t *msglen);

/**
 * Takes a reference. A reference count is not part of the message's value, so a const message
 * can be kept too: the Borrowed `const sip_msg_t *` a callback hands (sip_response_cb,
 * sip_txn_event_cb) is kept with sip_msg_ref() and later dropped with sip_msg_unref().
 * @return msg (NULL for NULL), a reference the caller owns.
 */
SIP_EXTERN sip_msg_t *sip_msg_ref(const sip_msg_t *msg);
/** Drops a reference; frees the message with the last one. Accepts NULL. */
SIP_EXTERN void sip_msg_unref(sip_msg_t *msg);

/* ---- inspecting ---------------------------------------------------------------------------- */

/** 1 for a request, 0 for a response. */
SIP_EXTERN int sip_msg_is_request(const sip_msg_t *msg);
/** The request method (SIP_METHOD_UNKNOWN for extension methods and for responses). */
SIP_EXTERN sip_method_t sip_msg_get_method(const sip_msg_t *msg);
/** The request method as written; empty for a response. Borrowed. */
SIP_EXTERN sip_str_t sip_msg_get_method_str(const sip_msg_t *msg);
/** The Request-URI; NULL for a response. Borrowed. */
SIP_EXTERN const sip_uri_t *sip_msg_get_uri(const sip_msg_t *msg);
/** The status code of a response; 0 for a request. */
SIP_EXTERN int sip_msg_get_status(const sip_msg_t *msg);
/** The reason phrase of a response. Borrowed. */
SIP_EXTERN sip_str_t sip_msg_get_reason(const sip_msg_t *msg);
/** The body (may hold any octets, including NUL). Borrowed. */
SIP_EXTERN sip_str_t sip_msg_get_body(const sip_msg_t *msg);

/** Number of values of a known header (each comma-separated value counts). */
SIP_EXTERN size_t sip_msg_header_count(const sip_msg_t *msg, sip_hdr_id_t id);
/** The i-th value of a known header, or NULL. Borrowed. */
SIP_EXTERN const sip_header_t *sip_msg_header_at(const sip_msg_t *msg, sip_hdr_id_t id, size_t i);
/** The i-th value of a header found by name (long or compact form, any case; unknown headers
 * too), or NULL. Borrowed. */
SIP_EXTERN const sip_header_t *sip_msg_header_by_name(const sip_msg_t *msg, const char *name,
                                                      size_t i);
/** The first header in wire order (walk on with sip_header_next()), or NULL. Borrowed. */
SIP_EXTERN const sip_header_t *sip_msg_header_first(const sip_msg_t *msg);
/** The number of header values in the message. */
SIP_EXTERN size_t sip_msg_header_total(const sip_msg_t *msg);

/* Shortcuts to the headers every transaction needs. NULL / empty when absent. Borrowed. */
SIP_EXTERN sip_str_t sip_msg_get_call_id(const sip_msg_t *msg);
SIP_EXTERN const sip_cseq_t *sip_msg_get_cseq(const sip_msg_t *msg);
SIP_EXTERN const sip_addr_t *sip_msg_get_from(const sip_msg_t *msg);
SIP_EXTERN const sip_addr_t *sip_msg_get_to(const sip_msg_t *msg);
/** The top Via. */
SIP_EXTERN const sip_via_t *sip_msg_get_via(const sip_msg_t *msg);
/** Max-Forwards value, or -1 when absent. */
SIP_EXTERN int sip_msg_get_max_forwards(const sip_msg_t *msg);
/** Expires header value, or -1 when absent. */
SIP_EXTERN int sip_msg_get_expires(const sip_msg_t *msg);
/** The Content-Type, or NULL. */
SIP_EXTERN const sip_media_t *sip_msg_get_content_type(const sip_msg_t *msg);

/* ---- building and editing ------------------------------------------------------------------ */

/**
 * Creates a request with a start line only ("METHOD uri SIP/2.0").
 * @param out     New reference
 * @param method  method name (any token)
 * @param uri     Request-URI text; must parse as a URI
 * @return 0, SIP_EINVAL, SIP_EURI, SIP_ENOMEM.
 */
SIP_EXTERN int sip_msg_create_request(sip_msg_t **out, const char *method, const char *uri);

/**
 * Creates a response to a request as RFC 3261 §8.2.6.2 says: Via (all, in order), From, To,
 * Call-ID, CSeq copied; Record-Route copied for 18x/2xx to dialog-creating requests is left to the
 * dialog layer. A To tag is added when the request's To has none and status > 100.
 * @param out     New reference
 * @param req     the request
 * @param status  100 to 699
 * @param reason  reason phrase, or NULL for the standard one
 * @param to_tag  the To tag to add, or NULL to generate a random one
 * @return 0, SIP_EINVAL, SIP_ENOMEM.
 */
SIP_EXTERN int sip_msg_create_response(sip_msg_t **out, const sip_msg_t *req, int status,
                                       const char *reason, const char *to_tag);

/**
 * Adds a header after the others of the message. The value is parsed like a received one; a
 * comma list adds several values.
 * @return 0, SIP_EPARSE when the value is malformed for that header, SIP_EINVAL, SIP_ENOMEM.
 */
SIP_EXTERN int sip_msg_add_header(sip_msg_t *msg, const char *name, const char *value);
/** Like sip_msg_add_header() but before every other header (a proxy's new Via). */
SIP_EXTERN int sip_msg_prepend_header(sip_msg_t *msg, const char *name, const char *value);
/**
 * Adds a copy of a header value already parsed (of this message or another) after the others.
 * The copy owns its text, so the source may go; nothing is parsed again, which makes it the
 * cheap way to put the same header into many messages (a Contact or Allow kept in a template).
 * @return 0, SIP_EINVAL, SIP_ENOMEM.
 */
SIP_EXTERN int sip_msg_add_header_copy(sip_msg_t *msg, const sip_header_t *h);
/**
 * Removes the i-th value of a header found by name (any form).
 * @return 0, SIP_ENOENT.
 */
SIP_EXTERN int sip_msg_remove_header(sip_msg_t *msg, const char *name, size_t i);
/** Removes every value of a header. @return the count removed. */
SIP_EXTERN int sip_msg_remove_headers(sip_msg_t *msg, const char *name);
/** Replaces every value of a header with one new value (adds it when absent). */
SIP_EXTERN int sip_msg_set_header(sip_msg_t *msg, const char *name, const char *value);
/**
 * Sets the body and its Content-Type (NULL content_type removes the Content-Type header; len 0
 * removes the body). Content-Length is computed when printing.
 */
SIP_EXTERN int sip_msg_set_body(sip_msg_t *msg, const char *content_type, const char *body,
                                size_t len);
/** Sets the status and reason phrase of a response. */
SIP_EXTERN int sip_msg_set_status(sip_msg_t *msg, int status, const char *reason);
/** Sets the Request-URI of a request (must parse as a URI). */
SIP_EXTERN int sip_msg_set_uri(sip_msg_t *msg, const char *uri);

/**
 * Prints the wire form, with Content-Length equal to the body length.
 * @return the length of the wire form (>= size: buf was too small and holds a truncated copy,
 *         like snprintf), or a negative error.
 */
SIP_EXTERN int sip_msg_print(const sip_msg_t *msg, char *buf, size_t size);

/**
 * Makes an independent deep copy.
 * @param out  New reference
 */
SIP_EXTERN int sip_msg_clone(sip_msg_t **out, const sip_msg_t *msg);

/**
 * Replaces one header value in place (same position in the wire order); the new value is parsed
 * like a received one and must be a single value.
 * @param h  a header of msg
 * @return 0, SIP_EPARSE (nothing changed), SIP_EINVAL, SIP_ENOMEM.
 */
SIP_EXTERN int sip_msg_update_header(sip_msg_t *msg, const sip_header_t *h, const char *value);

/**
 * Where the message came from or went (set by the transport); NULL for a message that has not
 * touched the network. A response made by sip_msg_create_response() inherits its request's, so it
 * can go back the same way. Borrowed.
 */
SIP_EXTERN const sip_netinfo_t *sip_msg_get_netinfo(const sip_msg_t *msg);
/** Records where the message came from or went; NULL clears it. */
SIP_EXTERN int sip_msg_set_netinfo(sip_msg_t *msg, const sip_netinfo_t *info);

/** The standard reason phrase of a status code ("Not Found"), or "Unknown". */
SIP_EXTERN const char *sip_status_phrase(int status);

#ifdef __cplusplus
}
#endif
#endif
