/* SPDX-License-Identifier: MIT */
/* Counters per loop (sip/stats.h): what they are, their values, and the Prometheus text. */
#include <string.h>

#include "core/fmt.h"
#include "stats/stats_int.h"

static const sip_stat_info_t stat_infos[SIP_STAT__COUNT] = {
#define SIP__STAT_INFO(id, name, labels, type, help)                                               \
    [SIP_STAT_##id] = {name, labels, help, SIP_STAT_##type},
    SIP_STATS_MAP(SIP__STAT_INFO)
#undef SIP__STAT_INFO
};

int sip_stat_info(sip_stat_id_t id, sip_stat_info_t *out)
{
    if (!out || (unsigned)id >= SIP_STAT__COUNT) return SIP_EINVAL;
    *out = stat_infos[id];
    return 0;
}

uint64_t sip_stat_get(const sip_loop_t *loop, sip_stat_id_t id)
{
    if (!loop || (unsigned)id >= SIP_STAT__COUNT) return 0;
    return ((const sip__stats_t *)(const void *)loop)->v[id];
}

void sip_stat_add(sip_loop_t *loop, sip_stat_id_t id, int64_t delta)
{
    if ((unsigned)id >= SIP_STAT__COUNT) return;
    sip__stat_add(loop, id, delta);
}

/* Appends to a buffer that may be too small: pos keeps counting so the caller learns the size
 * needed, as snprintf does. */
typedef struct outbuf {
    char *buf;
    size_t size, pos;
} outbuf_t;

static void put(outbuf_t *o, const char *s, size_t n)
{
    if (o->pos < o->size) {
        size_t room = o->size - o->pos;
        memcpy(o->buf + o->pos, s, n < room ? n : room);
    }
    o->pos += n;
}

static void puts_(outbuf_t *o, const char *s)
{
    put(o, s, strlen(s));
}

/* Help text escapes backslash and newline (Prometheus text format 0.0.4). */
static void put_help(outbuf_t *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            put(o, "\\\\", 2);
        else if (*s == '\n')
            put(o, "\\n", 2);
        else
            put(o, s, 1);
    }
}

int sip_stats_format(const sip_loop_t *loop, char *buf, size_t size)
{
    if (!loop || (!buf && size)) return SIP_EINVAL;
    const sip__stats_t *st = (const sip__stats_t *)(const void *)loop;
    outbuf_t o = {buf, size, 0};
    const char *family = NULL;
    for (unsigned i = 0; i < SIP_STAT__COUNT; i++) {
        const sip_stat_info_t *in = &stat_infos[i];
        /* One HELP and TYPE per family, before its first series: series of a family are
         * adjacent in the list. */
        if (!family || strcmp(family, in->name) != 0) {
            family = in->name;
            puts_(&o, "# HELP ");
            puts_(&o, in->name);
            puts_(&o, " ");
            put_help(&o, in->help);
            puts_(&o, "\n# TYPE ");
            puts_(&o, in->name);
            puts_(&o, in->type == SIP_STAT_GAUGE ? " gauge\n" : " counter\n");
        }
        puts_(&o, in->name);
        if (in->labels[0]) {
            puts_(&o, "{");
            puts_(&o, in->labels);
            puts_(&o, "}");
        }
        char num[24];
        size_t n;
        uint64_t v = st->v[i];
        num[0] = ' ';
        if (in->type == SIP_STAT_GAUGE && (int64_t)v < 0) {
            num[1] = '-';
            n = 2 + sip__fmt_u64(num + 2, (uint64_t)0 - v);
        } else {
            n = 1 + sip__fmt_u64(num + 1, v);
        }
        num[n++] = '\n';
        put(&o, num, n);
    }
    if (o.pos > (size_t)INT32_MAX) return SIP_ENOMEM;
    if (o.pos < size) buf[o.pos] = '\0';
    return (int)o.pos;
}
