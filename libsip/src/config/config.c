/* SPDX-License-Identifier: MIT */
/* The configuration: the table of known keys with their types, defaults and checks; values set
 * one by one, listed, checked as a whole and written back as YAML. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config_int.h"
#include "core/live_int.h"
#include "core/mem.h"
#include "sip/auth.h"
#include "sip/error.h"

#ifndef SIP_VERSION_STRING
#define SIP_VERSION_STRING "0"
#endif

/* ---- value checks ---------------------------------------------------------------------------- */

/* "1.2.3.4" or "::1" (no brackets). */
static int is_ip(const char *s, size_t n)
{
    char buf[64];
    unsigned char a[16];
    if (n == 0 || n >= sizeof(buf)) return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return inet_pton(AF_INET, buf, a) == 1 || inet_pton(AF_INET6, buf, a) == 1;
}

/* "addr:port" or "[v6]:port" with the port required when want_port; fills why. */
static int check_hostport(const char *s, int want_port, char *why, size_t size)
{
    const char *h = s, *he, *pp;
    if (*h == '[') {
        he = strchr(h, ']');
        if (!he) goto bad;
        h++;
        pp = he + 1;
    } else {
        he = strrchr(h, ':');
        /* A bare IPv6 address has several colons: it wants brackets to carry a port. */
        if (he && strchr(h, ':') != he) he = NULL;
        if (!he) he = h + strlen(h);
        pp = he;
    }
    if (!is_ip(h, (size_t)(he - h))) {
        snprintf(why, size, "\"%s\": wants an IP address (IPv6 in brackets)", s);
        return SIP_ECONFIG;
    }
    if (*pp == ':') {
        char *end;
        errno = 0;
        unsigned long v = strtoul(pp + 1, &end, 10);
        if (!isdigit((unsigned char)pp[1]) || *end || v > 65535 || errno) goto bad;
    } else if (*pp || want_port) {
        goto bad;
    }
    return 0;
bad:
    snprintf(why, size, "\"%s\": wants address:port", s);
    return SIP_ECONFIG;
}

static int check_listen(const char *v, char *why, size_t size)
{
    static const char *const protos[] = {"udp", "tcp", "tls", "ws", "wss"};
    const char *c = strchr(v, ':');
    for (size_t i = 0; c && i < sizeof(protos) / sizeof(protos[0]); i++) {
        if (strlen(protos[i]) != (size_t)(c - v) || strncasecmp(v, protos[i], (size_t)(c - v)))
            continue;
        if (check_hostport(c + 1, 0, why, size) == 0) return 0;
        snprintf(why, size, "\"%s\": wants transport:address:port, the address an IP", v);
        return SIP_ECONFIG;
    }
    snprintf(why, size, "\"%s\": wants udp:, tcp:, tls:, ws: or wss: then address:port", v);
    return SIP_ECONFIG;
}

static int check_domain(const char *v, char *why, size_t size)
{
    if (!*v) goto bad;
    for (const char *c = v; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr(".-_:[]", *c)) goto bad;
    return 0;
bad:
    snprintf(why, size, "\"%s\": wants a domain name or an IP address", v);
    return SIP_ECONFIG;
}

int sip__config_algorithms(const char *s)
{
    int set = 0;
    if (!s || !*s) return 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        char name[16];
        while (n && s[n - 1] == ' ')
            n--;
        if (n == 0 || n >= sizeof(name)) return 0;
        memcpy(name, s, n);
        name[n] = '\0';
        int a = sip_auth_algorithm_from_name(name);
        /* The users file keeps an HA1 of these two only. */
        if (a != SIP_AUTH_MD5 && a != SIP_AUTH_SHA256) return 0;
        set |= a;
        s += strcspn(s, ",");
        if (*s == ',') {
            s++;
            while (*s == ' ')
                s++;
            if (!*s) return 0;
        }
    }
    return set;
}

static int check_digest(const char *v, char *why, size_t size)
{
    if (sip__config_algorithms(v)) return 0;
    snprintf(why, size, "\"%s\": wants SHA-256, MD5 or both, comma-separated", v);
    return SIP_ECONFIG;
}

static int check_cidr(const char *v, char *why, size_t size)
{
    const char *slash = strchr(v, '/');
    size_t n = slash ? (size_t)(slash - v) : strlen(v);
    if (is_ip(v, n)) {
        if (!slash) return 0;
        unsigned max = memchr(v, ':', n) ? 128 : 32;
        char *end;
        unsigned long bits = strtoul(slash + 1, &end, 10);
        if (isdigit((unsigned char)slash[1]) && !*end && bits <= max) return 0;
    }
    snprintf(why, size, "\"%s\": wants an address or a CIDR (10.0.0.0/8, 2001:db8::/32)", v);
    return SIP_ECONFIG;
}

static int check_metrics(const char *v, char *why, size_t size)
{
    return *v ? check_hostport(v, 1, why, size) : 0;
}

/* "redis://host:port[/db]": the shared location store (sip_location_opts_t.redis_url). */
static int check_store(const char *v, char *why, size_t size)
{
    if (!*v) return 0;
    if (strncmp(v, "redis://", 8) != 0) {
        snprintf(why, size, "\"%s\": wants redis://host:port[/db]", v);
        return SIP_ECONFIG;
    }
    const char *hp = v + 8, *slash = strchr(hp, '/');
    char host[300];
    size_t n = slash ? (size_t)(slash - hp) : strlen(hp);
    if (n == 0 || n >= sizeof(host)) {
        snprintf(why, size, "\"%s\": wants redis://host:port[/db]", v);
        return SIP_ECONFIG;
    }
    if (slash) {
        const char *d = slash + 1;
        if (!*d || strspn(d, "0123456789") != strlen(d) || strlen(d) > 5) {
            snprintf(why, size, "\"%s\": the database after / is a number", v);
            return SIP_ECONFIG;
        }
    }
    const char *colon = memrchr(hp, ':', n);
    if (!colon || colon == hp || (size_t)(colon - hp) + 1 >= n) {
        snprintf(why, size, "\"%s\": wants redis://host:port[/db]", v);
        return SIP_ECONFIG;
    }
    unsigned long port = 0;
    for (const char *c = colon + 1; c < hp + n; c++) {
        if (*c < '0' || *c > '9' || (port = port * 10 + (unsigned long)(*c - '0')) > 65535) {
            snprintf(why, size, "\"%s\": the port is 1 to 65535", v);
            return SIP_ECONFIG;
        }
    }
    if (port == 0) {
        snprintf(why, size, "\"%s\": the port is 1 to 65535", v);
        return SIP_ECONFIG;
    }
    return 0;
}

/* ---- the keys ------------------------------------------------------------------------------ */

#define DEF(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NODEF ((const char *const[]){NULL})

/* The embedded defaults: those of sipd before it had a file (loopback only, so that a first
 * run exposes nothing), the guard's (sip_guard_opts_init()) and the transport's. Sections are
 * contiguous: sip_config_format() writes them in this order. */
const sip__cfg_key_t sip__cfg_keys[] = {
    {"listen", SIP__CFG_LIST, DEF("udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"), NULL, check_listen},
    {"domains", SIP__CFG_LIST, DEF("localhost"), NULL, check_domain},
    {"users", SIP__CFG_PATH, DEF(""), NULL, NULL},
    {"state", SIP__CFG_PATH, DEF(""), NULL, NULL},
    {"store", SIP__CFG_STRING, DEF(""), NULL, check_store},
    {"workers", SIP__CFG_UNSIGNED, DEF("0"), NULL, NULL},
    {"mode", SIP__CFG_ENUM, DEF("stateful"), "stateful|stateless|redirect", NULL},
    {"digest", SIP__CFG_STRING, DEF("SHA-256,MD5"), NULL, check_digest},
    {"script", SIP__CFG_PATH, DEF(""), NULL, NULL},
    {"server_header", SIP__CFG_STRING, DEF("sipd (libsip/" SIP_VERSION_STRING ")"), NULL, NULL},
    {"tls.cert", SIP__CFG_PATH, DEF(""), NULL, NULL},
    {"tls.key", SIP__CFG_PATH, DEF(""), NULL, NULL},
    {"tls.ca", SIP__CFG_PATH, DEF(""), NULL, NULL},
    {"tls.verify_client", SIP__CFG_ENUM, DEF("none"), "none|optional|required", NULL},
    {"limits.max_connections", SIP__CFG_UNSIGNED, DEF("1024"), NULL, NULL},
    {"limits.idle_timeout", SIP__CFG_SECONDS, DEF("300"), NULL, NULL},
    {"limits.rate", SIP__CFG_UNSIGNED, DEF("0"), NULL, NULL},
    {"limits.rate_window", SIP__CFG_SECONDS, DEF("2"), NULL, NULL},
    {"limits.rate_block", SIP__CFG_SECONDS, DEF("60"), NULL, NULL},
    {"limits.auth_failures", SIP__CFG_UNSIGNED, DEF("10"), NULL, NULL},
    {"limits.auth_window", SIP__CFG_SECONDS, DEF("600"), NULL, NULL},
    {"limits.auth_block", SIP__CFG_SECONDS, DEF("900"), NULL, NULL},
    {"limits.allow", SIP__CFG_LIST, NODEF, NULL, check_cidr},
    {"log.level", SIP__CFG_ENUM, DEF("notice"), "error|warn|notice|info|debug", NULL},
    {"log.requests", SIP__CFG_BOOL, DEF("false"), NULL, NULL},
    {"log.trace", SIP__CFG_BOOL, DEF("false"), NULL, NULL},
    {"metrics.listen", SIP__CFG_STRING, DEF(""), NULL, check_metrics},
    {"shutdown.grace", SIP__CFG_SECONDS, DEF("5"), NULL, NULL},
};
const size_t sip__cfg_nkeys = sizeof(sip__cfg_keys) / sizeof(sip__cfg_keys[0]);

int sip__config_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sip__cfg_nkeys; i++)
        if (strlen(sip__cfg_keys[i].name) == len && memcmp(sip__cfg_keys[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

int sip__config_is_section(const char *name, size_t len)
{
    for (size_t i = 0; i < sip__cfg_nkeys; i++) {
        const char *k = sip__cfg_keys[i].name;
        if (strlen(k) > len && memcmp(k, name, len) == 0 && k[len] == '.') return 1;
    }
    return 0;
}

const char *sip_config_key_at(size_t i)
{
    return i < sip__cfg_nkeys ? sip__cfg_keys[i].name : NULL;
}

void sip__config_error(sip_parse_error_t *err, const char *name, unsigned line, unsigned col,
                       const char *key, const char *fmt, ...)
{
    if (!err) return;
    memset(err, 0, sizeof(*err));
    err->code = SIP_ECONFIG;
    err->line = line;
    err->column = col;
    snprintf(err->header, sizeof(err->header), "%s", key ? key : "");
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    size_t n = 0;
    if (name && *name) {
        n += (size_t)snprintf(err->reason, sizeof(err->reason), "%s:", name);
        if (line && n < sizeof(err->reason))
            n += (size_t)snprintf(err->reason + n, sizeof(err->reason) - n, "%u:%u:", line, col);
        if (n < sizeof(err->reason))
            n += (size_t)snprintf(err->reason + n, sizeof(err->reason) - n, " ");
    }
    if (key && *key && n < sizeof(err->reason))
        n += (size_t)snprintf(err->reason + n, sizeof(err->reason) - n, "%s: ", key);
    if (n < sizeof(err->reason)) snprintf(err->reason + n, sizeof(err->reason) - n, "%s", why);
}

/* ---- typed values ---------------------------------------------------------------------------- */

int sip__config_parse_ms(const char *s, uint32_t *ms)
{
    /* "90", "1.5" (seconds, to the millisecond), "250ms", "2s". */
    uint64_t whole = 0, frac = 0;
    unsigned fdigits = 0;
    const char *c = s;
    if (!isdigit((unsigned char)*c)) return SIP_ECONFIG;
    while (isdigit((unsigned char)*c)) {
        whole = whole * 10 + (uint64_t)(*c++ - '0');
        if (whole > 4294967295ull) return SIP_ECONFIG;
    }
    if (*c == '.') {
        c++;
        if (!isdigit((unsigned char)*c)) return SIP_ECONFIG;
        while (isdigit((unsigned char)*c)) {
            if (++fdigits > 3) return SIP_ECONFIG;
            frac = frac * 10 + (uint64_t)(*c++ - '0');
        }
    }
    while (fdigits < 3 && fdigits > 0) {
        frac *= 10;
        fdigits++;
    }
    uint64_t v;
    if (strcmp(c, "ms") == 0) {
        if (fdigits) return SIP_ECONFIG;
        v = whole;
    } else if (*c == '\0' || strcmp(c, "s") == 0) {
        v = whole * 1000 + frac;
    } else {
        return SIP_ECONFIG;
    }
    if (v > UINT32_MAX) return SIP_ECONFIG;
    if (ms) *ms = (uint32_t)v;
    return 0;
}

static int parse_uint(const char *s, uint32_t *out)
{
    if (!isdigit((unsigned char)*s)) return SIP_ECONFIG;
    uint64_t v = 0;
    for (; isdigit((unsigned char)*s); s++) {
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > UINT32_MAX) return SIP_ECONFIG;
    }
    if (*s) return SIP_ECONFIG;
    if (out) *out = (uint32_t)v;
    return 0;
}

/* YAML 1.1's booleans, which operators write (Kamailio's yes/no too). */
static int parse_bool(const char *s)
{
    static const char *const t[] = {"true", "yes", "on", "1"}, *const f[] = {"false", "no", "off",
                                                                             "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, t[i]) == 0) return 1;
        if (strcasecmp(s, f[i]) == 0) return 0;
    }
    return -1;
}

/* Well-formed UTF-8 (RFC 3629 §4): what a YAML file holds, so that every value written back by
 * sip_config_format() loads again. */
static int utf8_ok(const unsigned char *s)
{
    while (*s) {
        unsigned c = *s++;
        int more;
        unsigned min;
        if (c < 0x80) continue;
        if (c >= 0xc2 && c <= 0xdf) {
            more = 1;
            min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            more = 2;
            min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3;
            min = 0x10000;
        } else {
            return 0;
        }
        unsigned v = c & (0x3fu >> more);
        for (int i = 0; i < more; i++, s++) {
            if ((*s & 0xc0) != 0x80) return 0;
            v = v << 6 | (*s & 0x3fu);
        }
        if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    }
    return 1;
}

int sip__config_value(const sip__cfg_key_t *k, const char *value, char **out, char *why,
                      size_t size)
{
    *out = NULL;
    const char *norm = value;
    char low[32];
    for (const char *c = value; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            snprintf(why, size, "a value may not hold control characters");
            return SIP_ECONFIG;
        }
    if (!utf8_ok((const unsigned char *)value)) {
        snprintf(why, size, "a value must be UTF-8");
        return SIP_ECONFIG;
    }
    switch (k->type) {
    case SIP__CFG_LIST:
    case SIP__CFG_STRING:
    case SIP__CFG_PATH: break;
    case SIP__CFG_ENUM: {
        size_t n = strlen(value);
        const char *c = k->choices;
        int found = 0;
        while (*c && !found) {
            size_t m = strcspn(c, "|");
            if (m == n && strncasecmp(c, value, n) == 0 && n < sizeof(low)) {
                memcpy(low, c, n);
                low[n] = '\0';
                norm = low;
                found = 1;
            }
            c += m;
            if (*c == '|') c++;
        }
        if (!found) {
            char list[96];
            size_t j = 0;
            for (c = k->choices; *c && j + 3 < sizeof(list); c++) {
                if (*c == '|') {
                    list[j++] = ',';
                    list[j++] = ' ';
                } else {
                    list[j++] = *c;
                }
            }
            list[j] = '\0';
            snprintf(why, size, "\"%s\": wants one of %s", value, list);
            return SIP_ECONFIG;
        }
        break;
    }
    case SIP__CFG_BOOL: {
        int b = parse_bool(value);
        if (b < 0) {
            snprintf(why, size, "\"%s\": wants true or false", value);
            return SIP_ECONFIG;
        }
        norm = b ? "true" : "false";
        break;
    }
    case SIP__CFG_UNSIGNED:
        if (parse_uint(value, NULL)) {
            snprintf(why, size, "\"%s\": wants a whole number (0 to 4294967295)", value);
            return SIP_ECONFIG;
        }
        break;
    case SIP__CFG_SECONDS:
        if (sip__config_parse_ms(value, NULL)) {
            snprintf(why, size, "\"%s\": wants a number of seconds (\"30\", \"1.5\", \"250ms\")",
                     value);
            return SIP_ECONFIG;
        }
        break;
    }
    if (k->check && k->check(norm, why, size)) return SIP_ECONFIG;
    *out = sip__strdup(norm);
    return *out ? 0 : SIP_ENOMEM;
}

void sip__config_val_free(sip__cfg_val_t *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->v[i]);
    free(v->v);
    v->v = NULL;
    v->n = 0;
}

static int val_copy(sip__cfg_val_t *dst, const char *const *src, size_t n)
{
    dst->v = NULL;
    dst->n = 0;
    if (n == 0) return 0;
    dst->v = calloc(n, sizeof(char *));
    if (!dst->v) return SIP_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        dst->v[i] = sip__strdup(src[i]);
        if (!dst->v[i]) {
            dst->n = i;
            sip__config_val_free(dst);
            return SIP_ENOMEM;
        }
    }
    dst->n = n;
    return 0;
}

static int val_default(sip__cfg_val_t *dst, const sip__cfg_key_t *k)
{
    size_t n = 0;
    while (k->defaults[n])
        n++;
    return val_copy(dst, k->defaults, n);
}

/* ---- the object ---------------------------------------------------------------------------- */

static void config_free(sip_config_t *cfg)
{
    if (cfg->vals)
        for (size_t i = 0; i < sip__cfg_nkeys; i++)
            sip__config_val_free(&cfg->vals[i]);
    free(cfg->vals);
    free(cfg);
    sip__live_dec(SIP_LIVE_CONFIG);
}

static sip_config_t *config_new(void)
{
    sip_config_t *cfg = calloc(1, sizeof(*cfg));
    if (!cfg) return NULL;
    sip__live_inc(SIP_LIVE_CONFIG);
    cfg->refs = 1;
    cfg->vals = calloc(sip__cfg_nkeys, sizeof(*cfg->vals));
    if (!cfg->vals) {
        config_free(cfg);
        return NULL;
    }
    return cfg;
}

int sip_config_create(sip_config_t **out)
{
    if (!out) return SIP_EINVAL;
    *out = NULL;
    sip_config_t *cfg = config_new();
    if (!cfg) return SIP_ENOMEM;
    for (size_t i = 0; i < sip__cfg_nkeys; i++) {
        if (val_default(&cfg->vals[i], &sip__cfg_keys[i])) {
            config_free(cfg);
            return SIP_ENOMEM;
        }
    }
    *out = cfg;
    return 0;
}

sip_config_t *sip_config_ref(sip_config_t *cfg)
{
    if (cfg) cfg->refs++;
    return cfg;
}

void sip_config_unref(sip_config_t *cfg)
{
    if (!cfg || --cfg->refs > 0) return;
    config_free(cfg);
}

int sip_config_clone(sip_config_t **out, const sip_config_t *cfg)
{
    if (!out) return SIP_EINVAL;
    *out = NULL;
    if (!cfg) return SIP_EINVAL;
    sip_config_t *c = config_new();
    if (!c) return SIP_ENOMEM;
    for (size_t i = 0; i < sip__cfg_nkeys; i++) {
        if (val_copy(&c->vals[i], (const char *const *)cfg->vals[i].v, cfg->vals[i].n)) {
            config_free(c);
            return SIP_ENOMEM;
        }
    }
    *out = c;
    return 0;
}

static int set_or_add(sip_config_t *cfg, const char *key, const char *value, int add,
                      sip_parse_error_t *err)
{
    if (!cfg || !key || !value) return SIP_EINVAL;
    int i = sip__config_find(key, strlen(key));
    if (i < 0) {
        sip__config_error(err, NULL, 0, 0, key, "unknown key");
        return SIP_ECONFIG;
    }
    const sip__cfg_key_t *k = &sip__cfg_keys[i];
    if (add && k->type != SIP__CFG_LIST) {
        sip__config_error(err, NULL, 0, 0, key, "holds one value, not a list");
        return SIP_ECONFIG;
    }
    char why[128], *v;
    int rc = sip__config_value(k, value, &v, why, sizeof(why));
    if (rc == SIP_ECONFIG) sip__config_error(err, NULL, 0, 0, key, "%s", why);
    if (rc) return rc;
    sip__cfg_val_t *cur = &cfg->vals[i];
    if (add) {
        char **nv = realloc(cur->v, (cur->n + 1) * sizeof(char *));
        if (!nv) {
            free(v);
            return SIP_ENOMEM;
        }
        cur->v = nv;
        cur->v[cur->n++] = v;
        return 0;
    }
    char **nv = malloc(sizeof(char *));
    if (!nv) {
        free(v);
        return SIP_ENOMEM;
    }
    nv[0] = v;
    sip__config_val_free(cur);
    cur->v = nv;
    cur->n = 1;
    return 0;
}

int sip_config_set(sip_config_t *cfg, const char *key, const char *value, sip_parse_error_t *err)
{
    return set_or_add(cfg, key, value, 0, err);
}

int sip_config_add(sip_config_t *cfg, const char *key, const char *value, sip_parse_error_t *err)
{
    return set_or_add(cfg, key, value, 1, err);
}

int sip_config_reset(sip_config_t *cfg, const char *key)
{
    if (!cfg || !key) return SIP_EINVAL;
    int i = sip__config_find(key, strlen(key));
    if (i < 0) return SIP_ECONFIG;
    sip__cfg_val_t nv = {0};
    if (sip__cfg_keys[i].type != SIP__CFG_LIST && val_default(&nv, &sip__cfg_keys[i]))
        return SIP_ENOMEM;
    sip__config_val_free(&cfg->vals[i]);
    cfg->vals[i] = nv;
    return 0;
}

size_t sip_config_count(const sip_config_t *cfg, const char *key)
{
    if (!cfg || !key) return 0;
    int i = sip__config_find(key, strlen(key));
    return i < 0 ? 0 : cfg->vals[i].n;
}

const char *sip_config_get(const sip_config_t *cfg, const char *key, size_t idx)
{
    if (!cfg || !key) return NULL;
    int i = sip__config_find(key, strlen(key));
    if (i < 0 || idx >= cfg->vals[i].n) return NULL;
    return cfg->vals[i].v[idx];
}

const char *sip__config_str(const sip_config_t *cfg, const char *key)
{
    const char *v = sip_config_get(cfg, key, 0);
    return v ? v : "";
}

uint32_t sip__config_uint(const sip_config_t *cfg, const char *key)
{
    uint32_t v = 0;
    parse_uint(sip__config_str(cfg, key), &v);
    return v;
}

int sip__config_bool(const sip_config_t *cfg, const char *key)
{
    return parse_bool(sip__config_str(cfg, key)) == 1;
}

uint32_t sip__config_ms(const sip_config_t *cfg, const char *key)
{
    uint32_t v = 0;
    sip__config_parse_ms(sip__config_str(cfg, key), &v);
    return v;
}

/* ---- the whole --------------------------------------------------------------------------- */

static int readable(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return -errno;
    if (S_ISDIR(st.st_mode)) return -EISDIR;
    if (access(path, R_OK) != 0) return -errno;
    return 0;
}

int sip_config_check(const sip_config_t *cfg, sip_parse_error_t *err)
{
    if (!cfg) return SIP_EINVAL;
    const char *cert = sip__config_str(cfg, "tls.cert"), *key = sip__config_str(cfg, "tls.key");
    if (!*cert != !*key) {
        sip__config_error(err, NULL, 0, 0, *cert ? "tls.key" : "tls.cert",
                          "tls.cert and tls.key go together");
        return SIP_ECONFIG;
    }
    if (sip_config_count(cfg, "listen") == 0) {
        sip__config_error(err, NULL, 0, 0, "listen", "wants at least one listening point");
        return SIP_ECONFIG;
    }
    for (size_t i = 0; i < sip_config_count(cfg, "listen"); i++) {
        const char *l = sip_config_get(cfg, "listen", i);
        char why[128];
        if (check_listen(l, why, sizeof(why))) {
            sip__config_error(err, NULL, 0, 0, "listen", "%s", why);
            return SIP_ECONFIG;
        }
        if ((strncasecmp(l, "tls:", 4) == 0 || strncasecmp(l, "wss:", 4) == 0) && !*cert) {
            sip__config_error(err, NULL, 0, 0, "listen", "%s needs tls.cert and tls.key", l);
            return SIP_ECONFIG;
        }
    }
    if (sip_config_count(cfg, "domains") == 0) {
        sip__config_error(err, NULL, 0, 0, "domains",
                          "wants at least one domain (the first is the digest realm)");
        return SIP_ECONFIG;
    }
    static const char *const files[] = {"users", "tls.cert", "tls.key", "tls.ca", "script"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        const char *p = sip__config_str(cfg, files[i]);
        int rc = *p ? readable(p) : 0;
        if (rc) {
            sip__config_error(err, NULL, 0, 0, files[i], "cannot read %s: %s", p, strerror(-rc));
            return SIP_ECONFIG;
        }
    }
    const char *script = sip__config_str(cfg, "script");
    size_t sl = strlen(script);
    if (sl && !(sl > 3 && strcmp(script + sl - 3, ".py") == 0) &&
        !(sl > 4 && strcmp(script + sl - 4, ".lua") == 0)) {
        sip__config_error(err, NULL, 0, 0, "script", "%s: a script ends in .py or .lua", script);
        return SIP_ECONFIG;
    }
    const char *state = sip__config_str(cfg, "state");
    struct stat st;
    if (*state && stat(state, &st) == 0 && !S_ISDIR(st.st_mode)) {
        sip__config_error(err, NULL, 0, 0, "state", "%s is not a directory", state);
        return SIP_ECONFIG;
    }
    return 0;
}

/* ---- YAML out ------------------------------------------------------------------------------ */

typedef struct out {
    char *buf;
    size_t size, len;
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (o->len < o->size) {
        size_t room = o->size - o->len - 1;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

static void puts_(out_t *o, const char *s)
{
    put(o, s, strlen(s));
}

/* A double-quoted YAML scalar: read back as the same text whatever it holds. */
static void put_quoted(out_t *o, const char *s)
{
    put(o, "\"", 1);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            char e[2] = {'\\', *s};
            put(o, e, 2);
        } else if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            char e[8];
            snprintf(e, sizeof(e), "\\x%02x", (unsigned char)*s);
            puts_(o, e);
        } else {
            put(o, s, 1);
        }
    }
    put(o, "\"", 1);
}

int sip_config_format(const sip_config_t *cfg, char *buf, size_t size)
{
    if (!cfg) return SIP_EINVAL;
    out_t o = {buf, buf ? size : 0, 0};
    char section[32] = "";
    for (size_t i = 0; i < sip__cfg_nkeys; i++) {
        const sip__cfg_key_t *k = &sip__cfg_keys[i];
        const char *dot = strchr(k->name, '.');
        const char *name = k->name, *indent = "";
        if (dot) {
            size_t sl = (size_t)(dot - k->name);
            if (strlen(section) != sl || strncmp(section, k->name, sl) != 0) {
                snprintf(section, sizeof(section), "%.*s", (int)sl, k->name);
                put(&o, section, strlen(section));
                puts_(&o, ":\n");
            }
            name = dot + 1;
            indent = "  ";
        } else {
            section[0] = '\0';
        }
        const sip__cfg_val_t *v = &cfg->vals[i];
        puts_(&o, indent);
        puts_(&o, name);
        puts_(&o, ":");
        if (k->type == SIP__CFG_LIST) {
            if (v->n == 0) puts_(&o, " []");
            puts_(&o, "\n");
            for (size_t j = 0; j < v->n; j++) {
                puts_(&o, indent);
                puts_(&o, "  - ");
                put_quoted(&o, v->v[j]);
                puts_(&o, "\n");
            }
            continue;
        }
        puts_(&o, " ");
        const char *s = v->n ? v->v[0] : "";
        if (k->type == SIP__CFG_BOOL || k->type == SIP__CFG_UNSIGNED)
            puts_(&o, s);
        else
            put_quoted(&o, s);
        puts_(&o, "\n");
    }
    if (o.size) o.buf[o.len < o.size ? o.len : o.size - 1] = '\0';
    return o.len > INT32_MAX ? SIP_ERANGE : (int)o.len;
}
