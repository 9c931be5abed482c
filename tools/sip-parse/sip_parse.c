/* SPDX-License-Identifier: MIT */
/* sip-parse: parses files as SIP messages and reports the verdict, or the parsed fields as JSON. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sip/msg.h>
#include <sip/uri.h>

/* Exit statuses: every file parsed / some file did not / bad usage or an unreadable file. */
enum { EXIT_ALL_OK = 0, EXIT_PARSE_FAILED = 1, EXIT_USAGE = 2 };

static const char usage_text[] =
    "usage: sip-parse [--json] [--pretty] [--max-size N] FILE...\n"
    "\n"
    "Parses each FILE (\"-\" reads standard input) as one SIP message, the way it would be\n"
    "parsed if it arrived as one UDP datagram, and prints one line per file:\n"
    "  FILE: ok\n"
    "  FILE: error: REASON (line L, column C[, header H]) -> STATUS PHRASE\n"
    "where STATUS PHRASE is the response a server would send (\"none\" for a response message,\n"
    "which is discarded instead).\n"
    "\n"
    "options:\n"
    "  --json        print one JSON object per file (one per line) with every parsed field\n"
    "  --pretty      with --json, indent the objects\n"
    "  --max-size N  refuse messages larger than N bytes (default 65536)\n"
    "  -h, --help    show this text\n"
    "\n"
    "exit status: 0 when every file parsed, 1 when any did not, 2 for usage errors or files\n"
    "that cannot be read.\n";

/* ---- JSON writer ----------------------------------------------------------------------------- */

#define JW_MAX_DEPTH 16

/* A streaming writer: it only has to remember, per open container, whether a comma is due. */
typedef struct jw {
    FILE *f;
    int pretty;
    int depth;
    int after_key;
    int has_items[JW_MAX_DEPTH];
} jw_t;

static void jw_newline(jw_t *w)
{
    if (!w->pretty) return;
    fputc('\n', w->f);
    for (int i = 0; i < w->depth; i++)
        fputs("  ", w->f);
}

/* Called before every value or key: a comma after the previous item, then the indentation. */
static void jw_item(jw_t *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->depth == 0) return;
    if (w->has_items[w->depth - 1]) fputc(',', w->f);
    w->has_items[w->depth - 1] = 1;
    jw_newline(w);
}

/* The message model nests at most six deep (message, headers, header, addr, uri, params). */
static void jw_open(jw_t *w, char c)
{
    jw_item(w);
    fputc(c, w->f);
    assert(w->depth < JW_MAX_DEPTH);
    w->has_items[w->depth++] = 0;
}

static void jw_close(jw_t *w, char c)
{
    assert(w->depth > 0);
    int had = w->has_items[--w->depth];
    if (had) jw_newline(w);
    fputc(c, w->f);
}

/*
 * Length of the valid UTF-8 sequence at p (RFC 3629 §4: no overlong forms, no surrogates, nothing
 * above U+10FFFF), or 0 when the bytes there are not one.
 */
static size_t utf8_seq_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len) return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xBF) return 0;
    return len;
}

/* Writes bytes as a JSON string (RFC 8259 §7). Octets that are not UTF-8 become \u00XX. */
static void jw_write_string(FILE *f, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t len = utf8_seq_len(p + i, n - i);
            if (len) {
                fwrite(p + i, 1, len, f);
                i += len;
            } else {
                fprintf(f, "\\u%04x", c);
                i++;
            }
            continue;
        }
        switch (c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (c < 0x20 || c == 0x7f)
                fprintf(f, "\\u%04x", c);
            else
                fputc(c, f);
        }
        i++;
    }
    fputc('"', f);
}

static void jw_key_bytes(jw_t *w, const char *k, size_t n)
{
    jw_item(w);
    jw_write_string(w->f, n ? k : "", n);
    fputs(w->pretty ? ": " : ":", w->f);
    w->after_key = 1;
}

static void jw_key(jw_t *w, const char *k)
{
    jw_key_bytes(w, k, strlen(k));
}

static void jw_bytes(jw_t *w, const char *s, size_t n)
{
    jw_item(w);
    jw_write_string(w->f, n ? s : "", n);
}

static void jw_null(jw_t *w)
{
    jw_item(w);
    fputs("null", w->f);
}

static void jw_bool(jw_t *w, int v)
{
    jw_item(w);
    fputs(v ? "true" : "false", w->f);
}

static void jw_long(jw_t *w, long long v)
{
    jw_item(w);
    fprintf(w->f, "%lld", v);
}

static void jw_cstr(jw_t *w, const char *s)
{
    jw_item(w);
    if (s)
        jw_write_string(w->f, s, strlen(s));
    else
        fputs("null", w->f);
}

/* Absent parts of a parsed message are empty views; they print as null. */
static void jw_view(jw_t *w, sip_str_t s)
{
    if (s.len)
        jw_bytes(w, s.ptr, s.len);
    else
        jw_null(w);
}

/* Same, but an empty view prints as "" (a value that is present even when empty). */
static void jw_view_str(jw_t *w, sip_str_t s)
{
    jw_bytes(w, s.ptr, s.len);
}

static void jw_kv_view(jw_t *w, const char *k, sip_str_t v)
{
    jw_key(w, k);
    jw_view(w, v);
}

/* Writes the key only when the view is not empty (optional fields of auth headers). */
static void jw_kv_view_opt(jw_t *w, const char *k, sip_str_t v)
{
    if (v.len) jw_kv_view(w, k, v);
}

/* ---- parsed fields as JSON ------------------------------------------------------------------- */

/* A ';'-separated parameter list as an object; a parameter without '=' has the value null. */
static void put_params(jw_t *w, sip_str_t params)
{
    sip_str_t name, value;
    jw_open(w, '{');
    while (sip_params_next(&params, &name, &value)) {
        jw_key_bytes(w, name.ptr, name.len);
        jw_view(w, value);
    }
    jw_close(w, '}');
}

/* URI headers (RFC 3261 §19.1.1 "?h=v&h=v", the '?' stripped) as an object. */
static void put_uri_headers(jw_t *w, sip_str_t hs)
{
    jw_open(w, '{');
    const char *p = hs.ptr, *end = hs.ptr + hs.len;
    while (hs.len && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        if (stop > p) {
            jw_key_bytes(w, p, (size_t)((eq ? eq : stop) - p));
            if (eq)
                jw_bytes(w, eq + 1, (size_t)(stop - eq - 1));
            else
                jw_null(w);
        }
        p = amp ? amp + 1 : end;
    }
    jw_close(w, '}');
}

static const char *host_type_name(sip_host_type_t t)
{
    switch (t) {
    case SIP_HOST_NAME: return "name";
    case SIP_HOST_IPV4: return "ipv4";
    case SIP_HOST_IPV6: return "ipv6";
    default: return NULL;
    }
}

static void put_port(jw_t *w, unsigned port)
{
    if (port)
        jw_long(w, port);
    else
        jw_null(w);
}

static void put_uri(jw_t *w, const sip_uri_t *u)
{
    jw_open(w, '{');
    jw_key(w, "scheme");
    const char *scheme = sip_uri_scheme_name(u->scheme);
    if (scheme)
        jw_cstr(w, scheme);
    else
        jw_view(w, u->scheme_str);
    jw_kv_view(w, "user", u->user);
    jw_kv_view(w, "password", u->password);
    jw_kv_view(w, "host", u->host);
    jw_key(w, "host_type");
    jw_cstr(w, host_type_name(u->host_type));
    jw_key(w, "port");
    put_port(w, u->port);
    jw_key(w, "params");
    put_params(w, u->params);
    jw_key(w, "headers");
    put_uri_headers(w, u->headers);
    if (u->scheme == SIP_URI_OTHER) jw_kv_view(w, "opaque", u->opaque);
    jw_kv_view(w, "raw", u->raw);
    jw_close(w, '}');
}

static void put_via(jw_t *w, const sip_via_t *v)
{
    jw_open(w, '{');
    jw_kv_view(w, "protocol", v->protocol);
    jw_kv_view(w, "version", v->version);
    jw_kv_view(w, "transport", v->transport);
    jw_kv_view(w, "host", v->host);
    jw_key(w, "host_type");
    jw_cstr(w, host_type_name(v->host_type));
    jw_key(w, "port");
    put_port(w, v->port);
    jw_kv_view(w, "branch", v->branch);
    jw_kv_view(w, "received", v->received);
    /* RFC 3581: "rport" alone asks for the port; with a value it reports it. */
    jw_key(w, "rport");
    if (v->rport < 0)
        jw_null(w);
    else if (v->rport == 0)
        jw_bool(w, 1);
    else
        jw_long(w, v->rport);
    jw_kv_view(w, "maddr", v->maddr);
    jw_key(w, "ttl");
    if (v->ttl < 0)
        jw_null(w);
    else
        jw_long(w, v->ttl);
    jw_key(w, "params");
    put_params(w, v->params);
    jw_close(w, '}');
}

static void put_addr(jw_t *w, const sip_addr_t *a)
{
    jw_open(w, '{');
    jw_kv_view(w, "display", a->display);
    jw_key(w, "uri");
    if (a->star)
        jw_null(w);
    else
        put_uri(w, &a->uri);
    jw_key(w, "star");
    jw_bool(w, a->star);
    jw_kv_view(w, "tag", a->tag);
    jw_key(w, "params");
    put_params(w, a->params);
    jw_key(w, "expires");
    if (a->expires < 0)
        jw_null(w);
    else
        jw_long(w, a->expires);
    /* q is kept in thousandths; print it as the decimal the header carried (RFC 3261 §20.10). */
    jw_key(w, "q");
    if (a->q < 0) {
        jw_null(w);
    } else {
        jw_item(w);
        fprintf(w->f, "%d.%03d", a->q / 1000, a->q % 1000);
    }
    jw_close(w, '}');
}

static void put_auth(jw_t *w, const sip_auth_t *a)
{
    jw_open(w, '{');
    jw_kv_view(w, "scheme", a->scheme);
    jw_kv_view_opt(w, "realm", a->realm);
    jw_kv_view_opt(w, "nonce", a->nonce);
    jw_kv_view_opt(w, "opaque", a->opaque);
    jw_kv_view_opt(w, "algorithm", a->algorithm);
    jw_kv_view_opt(w, "qop", a->qop);
    jw_kv_view_opt(w, "domain", a->domain);
    jw_kv_view_opt(w, "stale", a->stale);
    jw_kv_view_opt(w, "username", a->username);
    jw_kv_view_opt(w, "uri", a->uri);
    jw_kv_view_opt(w, "response", a->response);
    jw_kv_view_opt(w, "cnonce", a->cnonce);
    jw_kv_view_opt(w, "nc", a->nc);
    jw_kv_view_opt(w, "nextnonce", a->nextnonce);
    jw_kv_view_opt(w, "rspauth", a->rspauth);
    jw_kv_view(w, "params", a->params);
    jw_close(w, '}');
}

/* One header: name and value, then its typed fields under the name of its kind. */
static void put_header(jw_t *w, const sip_header_t *h)
{
    sip_hdr_id_t id = sip_header_get_id(h);
    jw_open(w, '{');
    jw_key(w, "name");
    jw_view_str(w, sip_header_get_name(h));
    jw_key(w, "value");
    jw_view_str(w, sip_header_get_value(h));

    switch (id == SIP_HDR_OTHER ? SIP_HK_TEXT : sip_hdr_kind(id)) {
    case SIP_HK_VIA: {
        const sip_via_t *v = sip_header_via(h);
        if (v) jw_key(w, "via"), put_via(w, v);
        break;
    }
    case SIP_HK_ADDR: {
        const sip_addr_t *a = sip_header_addr(h);
        if (a) jw_key(w, "addr"), put_addr(w, a);
        break;
    }
    case SIP_HK_CSEQ: {
        const sip_cseq_t *c = sip_header_cseq(h);
        if (!c) break;
        jw_key(w, "cseq");
        jw_open(w, '{');
        jw_key(w, "seq");
        jw_long(w, c->seq);
        jw_kv_view(w, "method", c->method_str);
        jw_close(w, '}');
        break;
    }
    case SIP_HK_NUM:
    case SIP_HK_DATE: {
        const sip_num_t *n = sip_header_num(h);
        if (!n) break;
        jw_key(w, "num");
        jw_open(w, '{');
        jw_key(w, "value");
        jw_long(w, n->value);
        jw_key(w, "params");
        put_params(w, n->params);
        if (n->comment.len) jw_kv_view(w, "comment", n->comment);
        if (id == SIP_HDR_DATE) {
            jw_key(w, "time");
            jw_long(w, (long long)n->time);
        }
        jw_close(w, '}');
        break;
    }
    case SIP_HK_TOKEN: {
        const sip_token_t *t = sip_header_token(h);
        if (!t) break;
        jw_key(w, "token");
        jw_open(w, '{');
        jw_kv_view(w, "value", t->value);
        jw_key(w, "params");
        put_params(w, t->params);
        jw_close(w, '}');
        break;
    }
    case SIP_HK_MEDIA: {
        const sip_media_t *m = sip_header_media(h);
        if (!m) break;
        jw_key(w, "media");
        jw_open(w, '{');
        jw_kv_view(w, "type", m->type);
        jw_kv_view(w, "subtype", m->subtype);
        jw_key(w, "params");
        put_params(w, m->params);
        jw_close(w, '}');
        break;
    }
    case SIP_HK_AUTH: {
        const sip_auth_t *a = sip_header_auth(h);
        if (a) jw_key(w, "auth"), put_auth(w, a);
        break;
    }
    case SIP_HK_WARNING: {
        const sip_warning_t *x = sip_header_warning(h);
        if (!x) break;
        jw_key(w, "warning");
        jw_open(w, '{');
        jw_key(w, "code");
        jw_long(w, x->code);
        jw_kv_view(w, "agent", x->agent);
        jw_kv_view(w, "text", x->text);
        jw_close(w, '}');
        break;
    }
    case SIP_HK_RACK: {
        const sip_rack_t *r = sip_header_rack(h);
        if (!r) break;
        jw_key(w, "rack");
        jw_open(w, '{');
        jw_key(w, "rseq");
        jw_long(w, r->rseq);
        jw_key(w, "cseq");
        jw_long(w, r->cseq);
        jw_kv_view(w, "method", r->method_str);
        jw_close(w, '}');
        break;
    }
    case SIP_HK_TEXT: break;
    }
    jw_close(w, '}');
}

static void put_msg_json(jw_t *w, const char *file, const sip_msg_t *msg)
{
    jw_open(w, '{');
    jw_key(w, "file");
    jw_cstr(w, file);
    jw_key(w, "ok");
    jw_bool(w, 1);
    if (sip_msg_is_request(msg)) {
        const sip_uri_t *uri = sip_msg_get_uri(msg);
        jw_key(w, "type");
        jw_cstr(w, "request");
        jw_kv_view(w, "method", sip_msg_get_method_str(msg));
        jw_key(w, "uri");
        if (uri)
            put_uri(w, uri);
        else
            jw_null(w);
    } else {
        jw_key(w, "type");
        jw_cstr(w, "response");
        jw_key(w, "status");
        jw_long(w, sip_msg_get_status(msg));
        jw_key(w, "reason");
        jw_view_str(w, sip_msg_get_reason(msg));
    }
    jw_key(w, "headers");
    jw_open(w, '[');
    for (const sip_header_t *h = sip_msg_header_first(msg); h; h = sip_header_next(h))
        put_header(w, h);
    jw_close(w, ']');
    jw_key(w, "body");
    jw_view_str(w, sip_msg_get_body(msg));
    jw_close(w, '}');
    fputc('\n', w->f);
}

static void put_error_json(jw_t *w, const char *file, int rc, const sip_parse_error_t *e)
{
    jw_open(w, '{');
    jw_key(w, "file");
    jw_cstr(w, file);
    jw_key(w, "ok");
    jw_bool(w, 0);
    jw_key(w, "error");
    jw_open(w, '{');
    jw_key(w, "code");
    jw_long(w, rc);
    jw_key(w, "name");
    jw_cstr(w, sip_err_name(rc));
    jw_key(w, "reason");
    jw_cstr(w, e->reason[0] ? e->reason : sip_strerror(rc));
    jw_key(w, "line");
    jw_long(w, e->line);
    jw_key(w, "column");
    jw_long(w, e->column);
    jw_key(w, "header");
    jw_cstr(w, e->header[0] ? e->header : NULL);
    jw_key(w, "status");
    jw_long(w, e->status);
    jw_key(w, "phrase");
    jw_cstr(w, e->phrase[0] ? e->phrase : NULL);
    jw_close(w, '}');
    jw_close(w, '}');
    fputc('\n', w->f);
}

static void put_error_text(FILE *f, const char *file, int rc, const sip_parse_error_t *e)
{
    fprintf(f, "%s: error: %s (line %u, column %u", file,
            e->reason[0] ? e->reason : sip_strerror(rc), e->line, e->column);
    if (e->header[0]) fprintf(f, ", header %s", e->header);
    fputc(')', f);
    /* A broken response is dropped, never answered (RFC 3261 §18.1.2). */
    if (e->status)
        fprintf(f, " -> %d %s\n", e->status,
                e->phrase[0] ? e->phrase : sip_status_phrase(e->status));
    else
        fputs(" -> none\n", f);
}

/* ---- input ----------------------------------------------------------------------------------- */

/*
 * Reads at most limit bytes of a file ("-" is standard input) into a new buffer. Reading stops one
 * byte past max_size, which is enough for the parser to say the message is too big.
 * Returns 0, or an errno value.
 */
static int read_input(const char *path, size_t limit, char **out, size_t *outlen)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return errno ? errno : EIO;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    int rc = 0;
    if (!buf) rc = ENOMEM;
    while (!rc && len < limit) {
        if (len == cap) {
            size_t ncap = cap * 2;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                rc = ENOMEM;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t want = cap - len;
        if (want > limit - len) want = limit - len;
        size_t got = fread(buf + len, 1, want, f);
        len += got;
        if (got < want) {
            if (ferror(f)) rc = errno ? errno : EIO;
            break;
        }
    }
    if (f != stdin) fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    *outlen = len;
    return 0;
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    if (!s || *s < '0' || *s > '9') return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v == 0 || v > SIZE_MAX / 2) return -1;
    *out = (size_t)v;
    return 0;
}

static int usage_error(const char *fmt, const char *arg)
{
    fputs("sip-parse: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    fputs(usage_text, stderr);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    int json = 0, pretty = 0, opts_done = 0;
    sip_parse_opts_t opts;
    sip_parse_opts_init(&opts);

    /* Options may come anywhere; "--" ends them so that a file may be called "--json". */
    char **files = calloc((size_t)argc, sizeof(*files));
    int nfiles = 0;
    if (!files) {
        fputs("sip-parse: out of memory\n", stderr);
        return EXIT_USAGE;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opts_done || a[0] != '-' || strcmp(a, "-") == 0) {
            files[nfiles++] = argv[i];
        } else if (strcmp(a, "--") == 0) {
            opts_done = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            free(files);
            fputs(usage_text, stdout);
            return fflush(stdout) == 0 ? EXIT_ALL_OK : EXIT_USAGE;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--pretty") == 0) {
            pretty = 1;
        } else if (strcmp(a, "--max-size") == 0 || strncmp(a, "--max-size=", 11) == 0) {
            const char *v = a[10] == '=' ? a + 11 : (i + 1 < argc ? argv[++i] : NULL);
            if (parse_size(v, &opts.max_size) != 0) {
                free(files);
                return usage_error("--max-size needs a positive number of bytes, not '%s'",
                                   v ? v : "");
            }
        } else {
            free(files);
            return usage_error("unknown option '%s'", a);
        }
    }
    if (nfiles == 0) {
        free(files);
        return usage_error("%s", "no FILE given");
    }

    int status = EXIT_ALL_OK;
    jw_t w = {.f = stdout, .pretty = pretty};
    for (int i = 0; i < nfiles; i++) {
        const char *file = files[i];
        char *buf = NULL;
        size_t len = 0;
        int rc = read_input(file, opts.max_size + 1, &buf, &len);
        if (rc) {
            fprintf(stderr, "sip-parse: %s: %s\n", file, strerror(rc));
            status = EXIT_USAGE;
            continue;
        }
        sip_msg_t *msg = NULL;
        sip_parse_error_t err;
        memset(&err, 0, sizeof(err));
        rc = sip_msg_parse_ex(&msg, buf, len, &opts, &err);
        free(buf);
        if (rc == 0) {
            if (json)
                put_msg_json(&w, file, msg);
            else
                printf("%s: ok\n", file);
        } else {
            if (json)
                put_error_json(&w, file, rc, &err);
            else
                put_error_text(stdout, file, rc, &err);
            if (status == EXIT_ALL_OK) status = EXIT_PARSE_FAILED;
        }
        sip_msg_unref(msg);
    }
    free(files);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "sip-parse: cannot write the output\n");
        return EXIT_USAGE;
    }
    return status;
}
