/* SPDX-License-Identifier: MIT */
/* Method and header names, header kinds, status phrases. */
#include <stdint.h>
#include <string.h>

#include "msg/chars.h"
#include "msg/msg_int.h"

/* An X-macro table, laid out by hand. */
/* clang-format off */
static const char *const method_names[] = {
    NULL,
#define M(e, s) s,
    SIP_METHOD_MAP(M)
#undef M
};
/* clang-format on */

sip_method_t sip_method_from_str(const char *s, size_t len)
{
    if (!s) return SIP_METHOD_UNKNOWN;
    /* Methods are case-sensitive; dispatch on length and first letter to compare once. */
    switch (s[0]) {
    case 'I':
        if (len == 6 && memcmp(s, "INVITE", 6) == 0) return SIP_METHOD_INVITE;
        if (len == 4 && memcmp(s, "INFO", 4) == 0) return SIP_METHOD_INFO;
        break;
    case 'A':
        if (len == 3 && memcmp(s, "ACK", 3) == 0) return SIP_METHOD_ACK;
        break;
    case 'B':
        if (len == 3 && memcmp(s, "BYE", 3) == 0) return SIP_METHOD_BYE;
        break;
    case 'C':
        if (len == 6 && memcmp(s, "CANCEL", 6) == 0) return SIP_METHOD_CANCEL;
        break;
    case 'O':
        if (len == 7 && memcmp(s, "OPTIONS", 7) == 0) return SIP_METHOD_OPTIONS;
        break;
    case 'R':
        if (len == 8 && memcmp(s, "REGISTER", 8) == 0) return SIP_METHOD_REGISTER;
        if (len == 5 && memcmp(s, "REFER", 5) == 0) return SIP_METHOD_REFER;
        break;
    case 'P':
        if (len == 5 && memcmp(s, "PRACK", 5) == 0) return SIP_METHOD_PRACK;
        if (len == 7 && memcmp(s, "PUBLISH", 7) == 0) return SIP_METHOD_PUBLISH;
        break;
    case 'U':
        if (len == 6 && memcmp(s, "UPDATE", 6) == 0) return SIP_METHOD_UPDATE;
        break;
    case 'S':
        if (len == 9 && memcmp(s, "SUBSCRIBE", 9) == 0) return SIP_METHOD_SUBSCRIBE;
        break;
    case 'N':
        if (len == 6 && memcmp(s, "NOTIFY", 6) == 0) return SIP_METHOD_NOTIFY;
        break;
    case 'M':
        if (len == 7 && memcmp(s, "MESSAGE", 7) == 0) return SIP_METHOD_MESSAGE;
        break;
    default: break;
    }
    return SIP_METHOD_UNKNOWN;
}

const char *sip_method_name(sip_method_t m)
{
    if ((unsigned)m >= sizeof(method_names) / sizeof(method_names[0])) return NULL;
    return method_names[m];
}

/* An X-macro table, laid out by hand. */
/* clang-format off */
const sip__hdr_info_t sip__hdr_info[SIP_HDR__COUNT] = {
    {NULL, NULL, SIP_HK_TEXT, 0},
#define H(e, n, c, k, m) {n, c, k, m},
    SIP_HEADER_MAP(H)
#undef H
};
/* clang-format on */

const char *sip_hdr_name(sip_hdr_id_t id)
{
    return (unsigned)id < SIP_HDR__COUNT ? sip__hdr_info[id].name : NULL;
}

const char *sip_hdr_compact_name(sip_hdr_id_t id)
{
    return (unsigned)id < SIP_HDR__COUNT ? sip__hdr_info[id].compact : NULL;
}

sip_hdr_kind_t sip_hdr_kind(sip_hdr_id_t id)
{
    return (unsigned)id < SIP_HDR__COUNT ? sip__hdr_info[id].kind : SIP_HK_TEXT;
}

/* The public lookup copies the name into a padded buffer so the word-wise matcher of the parser
 * can serve it too; that matcher relies on token characters (see name_eq8). */
sip_hdr_id_t sip_hdr_id_from_name(const char *s, size_t len)
{
    char buf[40];
    if (!s || len == 0 || len > 32) return SIP_HDR_OTHER;
    for (size_t i = 0; i < len; i++)
        if (!IS(s[i], SIP__C_TOKEN)) return SIP_HDR_OTHER;
    memcpy(buf, s, len);
    memset(buf + len, 0, 8);
    return sip__hdr_id_fast(buf, len);
}

/* Case-insensitive compare of a header name with a lower-case literal padded with NULs to a
 * multiple of 8, eight octets at a time. OR-ing 0x20 lower-cases letters and leaves every other
 * token character unchanged (only '_' moves, to DEL, which no known name holds). Reads up to 7
 * octets past the name: the parser guarantees they are inside its buffer. */
static inline int name_eq8(const char *s, size_t len, const char *lit)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t a, b;
        memcpy(&a, s + i, 8);
        memcpy(&b, lit + i, 8);
        if ((a | UINT64_C(0x2020202020202020)) != b) return 0;
    }
    if (i < len) {
        uint64_t a, b, mask = (UINT64_C(1) << ((len - i) * 8)) - 1;
        memcpy(&a, s + i, 8);
        memcpy(&b, lit + i, 8);
        if (((a | UINT64_C(0x2020202020202020)) & mask) != b) return 0;
    }
    return 1;
}

sip_hdr_id_t sip__hdr_id_fast(const char *s, size_t len)
{
    switch (len) {
    case 0: return SIP_HDR_OTHER;
    case 1:
        switch (s[0] | 0x20) {
        case 'b': return SIP_HDR_REFERRED_BY;
        case 'c': return SIP_HDR_CONTENT_TYPE;
        case 'e': return SIP_HDR_CONTENT_ENCODING;
        case 'f': return SIP_HDR_FROM;
        case 'i': return SIP_HDR_CALL_ID;
        case 'k': return SIP_HDR_SUPPORTED;
        case 'l': return SIP_HDR_CONTENT_LENGTH;
        case 'm': return SIP_HDR_CONTACT;
        case 'o': return SIP_HDR_EVENT;
        case 'r': return SIP_HDR_REFER_TO;
        case 's': return SIP_HDR_SUBJECT;
        case 't': return SIP_HDR_TO;
        case 'u': return SIP_HDR_ALLOW_EVENTS;
        case 'v': return SIP_HDR_VIA;
        case 'x': return SIP_HDR_SESSION_EXPIRES;
        case 'y': return SIP_HDR_IDENTITY;
        default: return SIP_HDR_OTHER;
        }
    case 2:
        switch (s[0] | 0x20) {
        case 't':
            if (name_eq8(s, 2, "to\0\0\0\0\0\0")) return SIP_HDR_TO;
            return SIP_HDR_OTHER;
        default: return SIP_HDR_OTHER;
        }
    case 3:
        switch (s[0] | 0x20) {
        case 'v':
            if (name_eq8(s, 3, "via\0\0\0\0\0")) return SIP_HDR_VIA;
            return SIP_HDR_OTHER;
        default: return SIP_HDR_OTHER;
        }
    case 4:
        switch (s[0] | 0x20) {
        case 'c':
            if (name_eq8(s, 4, "cseq\0\0\0\0")) return SIP_HDR_CSEQ;
            return SIP_HDR_OTHER;
        case 'd':
            if (name_eq8(s, 4, "date\0\0\0\0")) return SIP_HDR_DATE;
            return SIP_HDR_OTHER;
        case 'f':
            if (name_eq8(s, 4, "from\0\0\0\0")) return SIP_HDR_FROM;
            return SIP_HDR_OTHER;
        case 'p':
            if (name_eq8(s, 4, "path\0\0\0\0")) return SIP_HDR_PATH;
            return SIP_HDR_OTHER;
        case 'r':
            if (name_eq8(s, 4, "rack\0\0\0\0")) return SIP_HDR_RACK;
            if (name_eq8(s, 4, "rseq\0\0\0\0")) return SIP_HDR_RSEQ;
            return SIP_HDR_OTHER;
        default: return SIP_HDR_OTHER;
        }
    case 5:
        switch (s[0] | 0x20) {
        case 'a':
            if (name_eq8(s, 5, "allow\0\0\0")) return SIP_HDR_ALLOW;
            return SIP_HDR_OTHER;
        case 'e':
            if (name_eq8(s, 5, "event\0\0\0")) return SIP_HDR_EVENT;
            return SIP_HDR_OTHER;
        case 'r':
            if (name_eq8(s, 5, "route\0\0\0")) return SIP_HDR_ROUTE;
            return SIP_HDR_OTHER;
        default: return SIP_HDR_OTHER;
        }
    case 6:
        switch (s[0] | 0x20) {
        case 'a':
            if (name_eq8(s, 6, "accept\0\0")) return SIP_HDR_ACCEPT;
            return SIP_HDR_OTHER;
        case 'm':
            if (name_eq8(s, 6, "min-se\0\0")) return SIP_HDR_MIN_SE;
            return SIP_HDR_OTHER;
        case 'r':
            if (name_eq8(s, 6, "reason\0\0")) return SIP_HDR_REASON;
            return SIP_HDR_OTHER;
        case 's':
            if (name_eq8(s, 6, "server\0\0")) return SIP_HDR_SERVER;
            return SIP_HDR_OTHER;
        default: return SIP_HDR_OTHER;
        }
    case 7:
        switch (s[0] | 0x20) {
        case 'c':
            if (name_eq8(s, 7, "call-id\0")) return SIP_HDR_CALL_ID;
            if (name_eq8(s, 7, "contact\0")) return SIP_HDR_CONTACT;
            return SIP_HDR_OTHER;
        case 'e':
            if (name_eq8(s, 7, "expires\0")) return SIP_HDR_EXPIRES;
            return SIP_HDR_OTHER;
        case 'p':
            if (name_eq8(s, 7, "privacy\0")) return SIP_HDR_PRIVACY;
            return SIP_HDR_OTHER;
        case 'r':
            if (name_eq8(s, 7, "require\0")) return SIP_HDR_REQUIRE;
            return SIP_HDR_OTHER;
        case 's':
            if (name_eq8(s, 7, "subject\0")) return SIP_HDR_SUBJECT;
            return SIP_HDR_OTHER;
        case 'w':
            if (name_eq8(s, 7, "warning\0")) return SIP_HDR_WARNING;
            return SIP_HDR_OTHER;
        default: return SIP_HDR_OTHER;
        }
    case 8:
        switch (s[0] | 0x20) {
        case 'i':
            if (name_eq8(s, 8, "identity")) return SIP_HDR_IDENTITY;
            return SIP_HDR_OTHER;
        case 'p':
            if (name_eq8(s, 8, "priority")) return SIP_HDR_PRIORITY;
            return SIP_HDR_OTHER;
        case 'r':
            if (name_eq8(s, 8, "refer-to")) return SIP_HDR_REFER_TO;
            if (name_eq8(s, 8, "replaces")) return SIP_HDR_REPLACES;
            if (name_eq8(s, 8, "reply-to")) return SIP_HDR_REPLY_TO;
            return SIP_HDR_OTHER;
        default: return SIP_HDR_OTHER;
        }
    case 9:
        switch (s[0] | 0x20) {
        case 'c':
            if (name_eq8(s, 9, "call-info\0\0\0\0\0\0\0")) return SIP_HDR_CALL_INFO;
            return SIP_HDR_OTHER;
        case 's':
            if (name_eq8(s, 9, "supported\0\0\0\0\0\0\0")) return SIP_HDR_SUPPORTED;
            return SIP_HDR_OTHER;
        case 't':
            if (name_eq8(s, 9, "timestamp\0\0\0\0\0\0\0")) return SIP_HDR_TIMESTAMP;
            return SIP_HDR_OTHER;
        default: return SIP_HDR_OTHER;
        }
    case 10:
        switch (s[0] | 0x20) {
        case 'a':
            if (name_eq8(s, 10, "alert-info\0\0\0\0\0\0")) return SIP_HDR_ALERT_INFO;
            return SIP_HDR_OTHER;
        case 'e':
            if (name_eq8(s, 10, "error-info\0\0\0\0\0\0")) return SIP_HDR_ERROR_INFO;
            return SIP_HDR_OTHER;
        case 'u':
            if (name_eq8(s, 10, "user-agent\0\0\0\0\0\0")) return SIP_HDR_USER_AGENT;
            return SIP_HDR_OTHER;
        default: return SIP_HDR_OTHER;
        }
    case 11:
        switch (s[0] | 0x20) {
        case 'i':
            if (name_eq8(s, 11, "in-reply-to\0\0\0\0\0")) return SIP_HDR_IN_REPLY_TO;
            return SIP_HDR_OTHER;
        case 'm':
            if (name_eq8(s, 11, "min-expires\0\0\0\0\0")) return SIP_HDR_MIN_EXPIRES;
            return SIP_HDR_OTHER;
        case 'r':
            if (name_eq8(s, 11, "referred-by\0\0\0\0\0")) return SIP_HDR_REFERRED_BY;
            if (name_eq8(s, 11, "retry-after\0\0\0\0\0")) return SIP_HDR_RETRY_AFTER;
            return SIP_HDR_OTHER;
        case 'u':
            if (name_eq8(s, 11, "unsupported\0\0\0\0\0")) return SIP_HDR_UNSUPPORTED;
            return SIP_HDR_OTHER;
        default: return SIP_HDR_OTHER;
        }
    case 12:
        switch (s[0] | 0x20) {
        case 'a':
            if (name_eq8(s, 12, "allow-events\0\0\0\0")) return SIP_HDR_ALLOW_EVENTS;
            return SIP_HDR_OTHER;
        case 'c':
            if (name_eq8(s, 12, "content-type\0\0\0\0")) return SIP_HDR_CONTENT_TYPE;
            return SIP_HDR_OTHER;
        case 'm':
            if (name_eq8(s, 12, "max-forwards\0\0\0\0")) return SIP_HDR_MAX_FORWARDS;
            if (name_eq8(s, 12, "mime-version\0\0\0\0")) return SIP_HDR_MIME_VERSION;
            return SIP_HDR_OTHER;
        case 'o':
            if (name_eq8(s, 12, "organization\0\0\0\0")) return SIP_HDR_ORGANIZATION;
            return SIP_HDR_OTHER;
        case 'r':
            if (name_eq8(s, 12, "record-route\0\0\0\0")) return SIP_HDR_RECORD_ROUTE;
            return SIP_HDR_OTHER;
        default: return SIP_HDR_OTHER;
        }
    case 13:
        switch (s[0] | 0x20) {
        case 'a':
            if (name_eq8(s, 13, "authorization\0\0\0")) return SIP_HDR_AUTHORIZATION;
            return SIP_HDR_OTHER;
        case 'p':
            if (name_eq8(s, 13, "proxy-require\0\0\0")) return SIP_HDR_PROXY_REQUIRE;
            return SIP_HDR_OTHER;
        case 's':
            if (name_eq8(s, 13, "service-route\0\0\0")) return SIP_HDR_SERVICE_ROUTE;
            return SIP_HDR_OTHER;
        default: return SIP_HDR_OTHER;
        }
    case 14:
        switch (s[0] | 0x20) {
        case 'c':
            if (name_eq8(s, 14, "content-length\0\0")) return SIP_HDR_CONTENT_LENGTH;
            return SIP_HDR_OTHER;
        default: return SIP_HDR_OTHER;
        }
    case 15:
        switch (s[0] | 0x20) {
        case 'a':
            if (name_eq8(s, 15, "accept-encoding\0")) return SIP_HDR_ACCEPT_ENCODING;
            if (name_eq8(s, 15, "accept-language\0")) return SIP_HDR_ACCEPT_LANGUAGE;
            return SIP_HDR_OTHER;
        case 's':
            if (name_eq8(s, 15, "session-expires\0")) return SIP_HDR_SESSION_EXPIRES;
            return SIP_HDR_OTHER;
        default: return SIP_HDR_OTHER;
        }
    case 16:
        switch (s[0] | 0x20) {
        case 'c':
            if (name_eq8(s, 16, "content-encoding")) return SIP_HDR_CONTENT_ENCODING;
            if (name_eq8(s, 16, "content-language")) return SIP_HDR_CONTENT_LANGUAGE;
            return SIP_HDR_OTHER;
        case 'w':
            if (name_eq8(s, 16, "www-authenticate")) return SIP_HDR_WWW_AUTHENTICATE;
            return SIP_HDR_OTHER;
        default: return SIP_HDR_OTHER;
        }
    case 18:
        switch (s[0] | 0x20) {
        case 'p':
            if (name_eq8(s, 18, "proxy-authenticate\0\0\0\0\0\0"))
                return SIP_HDR_PROXY_AUTHENTICATE;
            return SIP_HDR_OTHER;
        case 's':
            if (name_eq8(s, 18, "subscription-state\0\0\0\0\0\0"))
                return SIP_HDR_SUBSCRIPTION_STATE;
            return SIP_HDR_OTHER;
        default: return SIP_HDR_OTHER;
        }
    case 19:
        switch (s[0] | 0x20) {
        case 'a':
            if (name_eq8(s, 19, "authentication-info\0\0\0\0\0"))
                return SIP_HDR_AUTHENTICATION_INFO;
            return SIP_HDR_OTHER;
        case 'c':
            if (name_eq8(s, 19, "content-disposition\0\0\0\0\0"))
                return SIP_HDR_CONTENT_DISPOSITION;
            return SIP_HDR_OTHER;
        case 'p':
            if (name_eq8(s, 19, "p-asserted-identity\0\0\0\0\0"))
                return SIP_HDR_P_ASSERTED_IDENTITY;
            if (name_eq8(s, 19, "proxy-authorization\0\0\0\0\0"))
                return SIP_HDR_PROXY_AUTHORIZATION;
            return SIP_HDR_OTHER;
        default: return SIP_HDR_OTHER;
        }
    case 20:
        switch (s[0] | 0x20) {
        case 'p':
            if (name_eq8(s, 20, "p-preferred-identity\0\0\0\0"))
                return SIP_HDR_P_PREFERRED_IDENTITY;
            return SIP_HDR_OTHER;
        default: return SIP_HDR_OTHER;
        }
    default: return SIP_HDR_OTHER;
    }
}

const char *sip_status_phrase(int status)
{
    switch (status) {
    case 100: return "Trying";
    case 180: return "Ringing";
    case 181: return "Call Is Being Forwarded";
    case 182: return "Queued";
    case 183: return "Session Progress";
    case 199: return "Early Dialog Terminated";
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Notification";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Moved Temporarily";
    case 305: return "Use Proxy";
    case 380: return "Alternative Service";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 410: return "Gone";
    case 412: return "Conditional Request Failed";
    case 413: return "Request Entity Too Large";
    case 414: return "Request-URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Unsupported URI Scheme";
    case 417: return "Unknown Resource-Priority";
    case 420: return "Bad Extension";
    case 421: return "Extension Required";
    case 422: return "Session Interval Too Small";
    case 423: return "Interval Too Brief";
    case 428: return "Use Identity Header";
    case 429: return "Provide Referrer Identity";
    case 433: return "Anonymity Disallowed";
    case 436: return "Bad Identity-Info";
    case 437: return "Unsupported Certificate";
    case 438: return "Invalid Identity Header";
    case 439: return "First Hop Lacks Outbound Support";
    case 440: return "Max-Breadth Exceeded";
    case 469: return "Bad Info Package";
    case 470: return "Consent Needed";
    case 480: return "Temporarily Unavailable";
    case 481: return "Call/Transaction Does Not Exist";
    case 482: return "Loop Detected";
    case 483: return "Too Many Hops";
    case 484: return "Address Incomplete";
    case 485: return "Ambiguous";
    case 486: return "Busy Here";
    case 487: return "Request Terminated";
    case 488: return "Not Acceptable Here";
    case 489: return "Bad Event";
    case 491: return "Request Pending";
    case 493: return "Undecipherable";
    case 494: return "Security Agreement Required";
    case 500: return "Server Internal Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Server Time-out";
    case 505: return "Version Not Supported";
    case 513: return "Message Too Large";
    case 555: return "Push Notification Service Not Supported";
    case 580: return "Precondition Failure";
    case 600: return "Busy Everywhere";
    case 603: return "Decline";
    case 604: return "Does Not Exist Anywhere";
    case 606: return "Not Acceptable";
    case 607: return "Unwanted";
    case 608: return "Rejected";
    default: return "Unknown";
    }
}
