/* SPDX-License-Identifier: MIT */
/* Writing descriptions: the session lines, m= sections copied with their formats, o= versions. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oa/oa_int.h"

/* Not strdup: every allocation goes through malloc, which the tests' failure hook wraps. */
char *sip__oa_dup(const char *p, size_t n)
{
    return sip__oa_dup_str((sip_str_t){p, n});
}

char *sip__oa_dup_str(sip_str_t s)
{
    char *p = malloc(s.len + 1);
    if (!p) return NULL;
    if (s.len) memcpy(p, s.ptr, s.len);
    p[s.len] = '\0';
    return p;
}

int sip__oa_skeleton(const sip_oa_t *oa, uint64_t version, sip_sdp_t **out)
{
    sip_sdp_t *sdp;
    char ver[24];
    int rc = sip_sdp_create(&sdp);
    if (rc < 0) return rc;
    snprintf(ver, sizeof(ver), "%" PRIu64, version);
    if ((rc = sip_sdp_set_origin(sdp, oa->o_username, oa->sess_id, ver, "IN", oa->o_addrtype,
                                 oa->o_address)) < 0 ||
        (rc = sip_sdp_set_session_name(sdp, oa->session_name)) < 0 ||
        (rc = sip_sdp_set_connection(sdp, "IN", oa->addrtype, oa->address)) < 0) {
        sip_sdp_unref(sdp);
        return rc == SIP_ENOMEM ? rc : SIP_EINVAL;
    }
    *out = sdp;
    return 0;
}

static int is_dir_attr(sip_str_t name)
{
    return sip_str_eq(name, SIP_STR("sendrecv")) || sip_str_eq(name, SIP_STR("sendonly")) ||
           sip_str_eq(name, SIP_STR("recvonly")) || sip_str_eq(name, SIP_STR("inactive"));
}

/* Attributes whose value starts with the format they describe (RFC 8866 §6.6, §6.15; RFC 4585
 * §4.2 for rtcp-fb, where "*" means every format). */
static int is_fmt_attr(sip_str_t name)
{
    return sip_str_eq(name, SIP_STR("rtpmap")) || sip_str_eq(name, SIP_STR("fmtp")) ||
           sip_str_eq(name, SIP_STR("rtcp-fb"));
}

/* The value of a format-bound attribute written for the copy, or NULL (*skip set) when its
 * format is not copied. */
static char *fmt_attr_value(sip_str_t v, const oa_fmtmap_t *map, size_t nmap, int *skip)
{
    size_t sp = 0;
    while (sp < v.len && v.ptr[sp] != ' ')
        sp++;
    sip_str_t fmt = {v.ptr, sp}, rest = {v.ptr + sp, v.len - sp};
    *skip = 0;
    if (sip_str_eq(fmt, SIP_STR("*"))) return sip__oa_dup_str(v);
    for (size_t i = 0; i < nmap; i++) {
        if (!sip_str_eq(fmt, map[i].src)) continue;
        size_t ol = strlen(map[i].out);
        char *p = malloc(ol + rest.len + 1);
        if (!p) return NULL;
        memcpy(p, map[i].out, ol);
        if (rest.len) memcpy(p + ol, rest.ptr, rest.len);
        p[ol + rest.len] = '\0';
        return p;
    }
    *skip = 1;
    return NULL;
}

int sip__oa_copy_media(sip_sdp_t *dst, const sip_sdp_media_t *src, unsigned port,
                       const oa_fmtmap_t *map, size_t nmap, sip_sdp_dir_t dir)
{
    char *type = sip__oa_dup_str(sip_sdp_media_get_type(src));
    char *proto = sip__oa_dup_str(sip_sdp_media_get_proto(src));
    size_t flen = 1;
    for (size_t i = 0; i < nmap; i++)
        flen += strlen(map[i].out) + 1;
    char *fmts = malloc(flen);
    int rc = SIP_ENOMEM, idx = -1;
    if (!type || !proto || !fmts) goto done;
    fmts[0] = '\0';
    for (size_t i = 0; i < nmap; i++) {
        if (i) strcat(fmts, " ");
        strcat(fmts, map[i].out);
    }
    if ((rc = idx = sip_sdp_add_media(dst, type, port, proto, fmts)) < 0) goto done;
    rc = 0;
    if (port == 0) goto done; /* RFC 3264 §6: a rejected stream needs no attributes */
    const sip_sdp_conn_t *c =
        sip_sdp_media_connection_count(src) ? sip_sdp_media_connection_at(src, 0) : NULL;
    if (c) {
        char *nt = sip__oa_dup_str(c->nettype), *at = sip__oa_dup_str(c->addrtype),
             *ad = sip__oa_dup_str(c->address);
        rc = nt && at && ad ? sip_sdp_media_set_connection(dst, (size_t)idx, nt, at, ad)
                            : SIP_ENOMEM;
        free(nt);
        free(at);
        free(ad);
        if (rc < 0) goto done;
    }
    for (size_t i = 0; i < sip_sdp_media_attr_count(src); i++) {
        const sip_sdp_attr_t *a = sip_sdp_media_attr_at(src, i);
        if (is_dir_attr(a->name)) continue;
        char *name = sip__oa_dup_str(a->name), *value = NULL;
        int skip = 0;
        if (!name) {
            rc = SIP_ENOMEM;
            goto done;
        }
        if (a->has_value)
            value = is_fmt_attr(a->name) ? fmt_attr_value(a->value, map, nmap, &skip)
                                         : sip__oa_dup_str(a->value);
        if (skip) {
            free(name);
            continue;
        }
        rc = a->has_value && !value ? SIP_ENOMEM
                                    : sip_sdp_media_add_attr(dst, (size_t)idx, name, value);
        free(name);
        free(value);
        if (rc < 0) goto done;
    }
    rc = sip_sdp_media_set_direction(dst, (size_t)idx, dir);
done:
    free(type);
    free(proto);
    free(fmts);
    return rc < 0 ? rc : idx;
}

int sip__oa_add_disabled(sip_sdp_t *dst, const char *type, const char *proto, const char *fmts)
{
    return sip_sdp_add_media(dst, type, 0, proto, fmts);
}

static int print_all(const sip_sdp_t *sdp, char **out)
{
    int n = sip_sdp_print(sdp, NULL, 0);
    if (n < 0) return n;
    char *p = malloc((size_t)n + 1);
    if (!p) return SIP_ENOMEM;
    sip_sdp_print(sdp, p, (size_t)n + 1);
    *out = p;
    return n;
}

int sip__oa_same(const sip_sdp_t *a, const sip_sdp_t *b)
{
    char *ta = NULL, *tb = NULL;
    int same = 0;
    if (a == b) return 1;
    if (!a || !b) return 0;
    /* Out of memory counts as a change: the safe answer for whoever re-reads the session. */
    if (print_all(a, &ta) >= 0 && print_all(b, &tb) >= 0) same = strcmp(ta, tb) == 0;
    free(ta);
    free(tb);
    return same;
}

int sip__oa_stamp(sip_oa_t *oa, sip_sdp_t **sdp, uint64_t *version)
{
    char *a = NULL, *b = NULL, ver[24];
    int rc, same;

    *version = oa->version;
    if (!oa->local) return 0; /* the first description carries the first version */
    if ((rc = print_all(*sdp, &a)) < 0 || (rc = print_all(oa->local, &b)) < 0) goto done;
    same = strcmp(a, b) == 0;
    rc = 0;
    /* RFC 3264 §8: an offer that changes nothing keeps the version; any change adds one. */
    if (!same) {
        *version = oa->version + 1;
        snprintf(ver, sizeof(ver), "%" PRIu64, *version);
        rc = sip_sdp_set_origin(*sdp, oa->o_username, oa->sess_id, ver, "IN", oa->o_addrtype,
                                oa->o_address);
    }
done:
    free(a);
    free(b);
    return rc;
}

void sip__oa_slot_free(oa_slot_t *s)
{
    free(s->type);
    free(s->proto);
    free(s->fmts);
    s->type = s->proto = s->fmts = NULL;
}

int sip__oa_slot_set(oa_slot_t *s, const sip_sdp_media_t *m)
{
    size_t len = 0, n = sip_sdp_media_format_count(m);
    for (size_t i = 0; i < n; i++)
        len += sip_sdp_media_format_at(m, i).len + 1;
    char *type = sip__oa_dup_str(sip_sdp_media_get_type(m));
    char *proto = sip__oa_dup_str(sip_sdp_media_get_proto(m));
    char *fmts = malloc(len + 1);
    if (!type || !proto || !fmts) {
        free(type);
        free(proto);
        free(fmts);
        return SIP_ENOMEM;
    }
    fmts[0] = '\0';
    for (size_t i = 0, at = 0; i < n; i++) {
        sip_str_t f = sip_sdp_media_format_at(m, i);
        if (i) fmts[at++] = ' ';
        memcpy(fmts + at, f.ptr, f.len);
        at += f.len;
        fmts[at] = '\0';
    }
    sip__oa_slot_free(s);
    s->type = type;
    s->proto = proto;
    s->fmts = fmts;
    return 0;
}

int sip__oa_slots_reserve(sip_oa_t *oa, size_t n)
{
    if (n <= oa->slots_cap) return 0;
    size_t cap = oa->slots_cap ? oa->slots_cap * 2 : 4;
    while (cap < n)
        cap *= 2;
    oa_slot_t *s = realloc(oa->slots, cap * sizeof(*s));
    if (!s) return SIP_ENOMEM;
    memset(s + oa->slots_cap, 0, (cap - oa->slots_cap) * sizeof(*s));
    oa->slots = s;
    oa->slots_cap = cap;
    return 0;
}

int sip__oa_adopt_origin(sip_oa_t *oa, const sip_sdp_t *sdp, uint64_t *version)
{
    const sip_sdp_origin_t *o = sip_sdp_get_origin(sdp);
    unsigned long long v = 0;
    char *user, *addr, *atype;
    if (o->sess_id.len >= sizeof(oa->sess_id) || o->sess_version.len > 19) return 1;
    for (size_t i = 0; i < o->sess_version.len; i++) {
        char c = o->sess_version.ptr[i];
        if (c < '0' || c > '9') return 1;
        v = v * 10 + (unsigned)(c - '0');
    }
    user = sip__oa_dup(o->username.ptr, o->username.len);
    addr = sip__oa_dup(o->address.ptr, o->address.len);
    atype = sip__oa_dup(o->addrtype.ptr, o->addrtype.len);
    if (!user || !addr || !atype) {
        free(user);
        free(addr);
        free(atype);
        return SIP_ENOMEM;
    }
    free(oa->o_username);
    free(oa->o_address);
    free(oa->o_addrtype);
    oa->o_username = user;
    oa->o_address = addr;
    oa->o_addrtype = atype;
    memcpy(oa->sess_id, o->sess_id.ptr, o->sess_id.len);
    oa->sess_id[o->sess_id.len] = '\0';
    *version = (uint64_t)v;
    return 0;
}

int sip__oa_caps_for(const sip_oa_t *oa, const sip_sdp_media_t *m)
{
    /* The first capabilities line of the same media type and protocol, for later offers. */
    for (size_t c = 0; oa->caps && c < sip_sdp_media_count(oa->caps); c++) {
        const sip_sdp_media_t *cm = sip_sdp_media_at(oa->caps, c);
        if (sip_str_caseeq(sip_sdp_media_get_type(cm), sip_sdp_media_get_type(m)) &&
            sip_str_caseeq(sip_sdp_media_get_proto(cm), sip_sdp_media_get_proto(m)))
            return (int)c;
    }
    return -1;
}
