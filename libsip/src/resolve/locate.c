/* SPDX-License-Identifier: MIT */
/* RFC 3263 §4 server location: from a SIP URI to an ordered list of (transport, address, port). */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "resolve/resolve_int.h"

/* Negative answers without an SOA are kept this long (RFC 2308 leaves it to the resolver). */
#define NEG_TTL_DEFAULT_S 30u
#define NEG_TTL_MAX_S 3600u
#define POS_TTL_MAX_S 86400u

/* One host to look up (an SRV target, or the domain itself) and the addresses found. */
typedef struct rhost {
    sip_transport_type_t tp;
    uint16_t port;
    char name[SIP__DNS_NAME_MAX + 1];
    char (*v4)[48];
    size_t n4;
    char (*v6)[48];
    size_t n6;
} rhost_t;

/* One SRV name (from a NAPTR record, a transport, or none) and its hosts in SRV order. */
typedef struct rgroup {
    sip_transport_type_t tp;
    char name[SIP__DNS_NAME_MAX + 1];
    rhost_t *hosts;
    size_t nhosts;
    int has_srv; /* the SRV query found records */
} rgroup_t;

enum { STAGE_NAPTR, STAGE_SRV, STAGE_ADDR, STAGE_DONE };

struct sip__rjob {
    sip__rjob_t *prev, *next;
    sip_resolver_t *r;
    sip_resolve_cb cb;
    void *user;
    sip_free_fn user_free;
    unsigned long long id;
    int stage;
    int cancelled;
    unsigned pending; /* lookups in flight, plus guards while a step issues several */
    int sips;
    sip_transport_type_t tp;       /* from the transport parameter, or NONE */
    sip_transport_type_t naptr_tp; /* transport of the first usable NAPTR record */
    int err;                       /* first DNS failure other than "no such record" */
    char domain[SIP__DNS_NAME_MAX + 1];
    int numeric; /* domain is an IPv4 (4) or IPv6 (6) address */
    rgroup_t *groups;
    size_t ngroups;
    int status;
    sip_netinfo_t *targets;
    size_t ntargets;
};

/* The context of one c-ares query. */
typedef struct rquery {
    sip__rjob_t *job;
    uint16_t type;
    size_t group, host;
    char name[];
} rquery_t;

static void unpend(sip__rjob_t *job);
static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen);

static int supported(const sip_resolver_t *r, sip_transport_type_t tp)
{
    return tp != SIP_TRANSPORT_NONE && tp <= SIP_TRANSPORT_WSS &&
           (r->opts.transports & (1u << tp)) != 0;
}

/* RFC 3263 §4.1: without a transport, UDP for sip and TLS for sips. When UDP is not configured
 * here, the next reliable transport stands in for it; an endpoint that speaks only WebSocket
 * (RFC 7118) uses WS, or WSS for sips. */
static sip_transport_type_t default_transport(const sip_resolver_t *r, int sips)
{
    if (sips)
        return supported(r, SIP_TRANSPORT_TLS)   ? SIP_TRANSPORT_TLS
               : supported(r, SIP_TRANSPORT_WSS) ? SIP_TRANSPORT_WSS
                                                 : SIP_TRANSPORT_NONE;
    static const sip_transport_type_t order[] = {SIP_TRANSPORT_UDP, SIP_TRANSPORT_TCP,
                                                 SIP_TRANSPORT_TLS, SIP_TRANSPORT_WS,
                                                 SIP_TRANSPORT_WSS};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        if (supported(r, order[i])) return order[i];
    return SIP_TRANSPORT_NONE;
}

/* RFC 3263 §4.2 (and RFC 7118 for WebSocket): the SRV service label of a transport. TLS is
 * "_sips._tcp"; the secure WebSocket likewise "_sips._ws". */
static const char *srv_label(sip_transport_type_t tp)
{
    switch (tp) {
    case SIP_TRANSPORT_UDP: return "_sip._udp";
    case SIP_TRANSPORT_TCP: return "_sip._tcp";
    case SIP_TRANSPORT_TLS: return "_sips._tcp";
    case SIP_TRANSPORT_WS: return "_sip._ws";
    case SIP_TRANSPORT_WSS: return "_sips._ws";
    default: return NULL;
    }
}

/* RFC 3263 §4.1 and RFC 7118 §9: NAPTR services. */
static sip_transport_type_t naptr_transport(const char *service, int *secure)
{
    static const struct {
        const char *service;
        sip_transport_type_t tp;
        int secure;
    } map[] = {
        {"SIP+D2U", SIP_TRANSPORT_UDP, 0},  {"SIP+D2T", SIP_TRANSPORT_TCP, 0},
        {"SIPS+D2T", SIP_TRANSPORT_TLS, 1}, {"SIP+D2W", SIP_TRANSPORT_WS, 0},
        {"SIPS+D2W", SIP_TRANSPORT_WSS, 1},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (sip_str_caseeq_cstr(sip_str_from_cstr(service), map[i].service)) {
            *secure = map[i].secure;
            return map[i].tp;
        }
    }
    return SIP_TRANSPORT_NONE;
}

static int dns_error(int status)
{
    switch (status) {
    case ARES_SUCCESS:
    case ARES_ENODATA:
    case ARES_ENOTFOUND: return 0;
    case ARES_ETIMEOUT: return -ETIMEDOUT;
    case ARES_ECONNREFUSED: return -EHOSTUNREACH;
    case ARES_ENOMEM: return SIP_ENOMEM;
    default: return SIP_EIO;
    }
}

static void set_err(sip__rjob_t *job, int err)
{
    if (err && !job->err) job->err = err;
}

static void job_free(sip__rjob_t *job)
{
    for (size_t g = 0; g < job->ngroups; g++) {
        for (size_t h = 0; h < job->groups[g].nhosts; h++) {
            free(job->groups[g].hosts[h].v4);
            free(job->groups[g].hosts[h].v6);
        }
        free(job->groups[g].hosts);
    }
    free(job->groups);
    free(job->targets);
    free(job);
}

static void list_unlink(sip__rjob_t **head, sip__rjob_t *job)
{
    if (job->prev)
        job->prev->next = job->next;
    else
        *head = job->next;
    if (job->next) job->next->prev = job->prev;
    job->prev = job->next = NULL;
}

/* Appends a group with a single host (a direct A/AAAA lookup). Returns its index, or -1. */
static long add_direct_group(sip__rjob_t *job, sip_transport_type_t tp, uint16_t port)
{
    rgroup_t *g = realloc(job->groups, (job->ngroups + 1) * sizeof(*g));
    if (!g) return -1;
    job->groups = g;
    g = &job->groups[job->ngroups];
    memset(g, 0, sizeof(*g));
    g->tp = tp;
    g->hosts = calloc(1, sizeof(*g->hosts));
    if (!g->hosts) return -1;
    g->nhosts = 1;
    g->hosts[0].tp = tp;
    g->hosts[0].port = port;
    memcpy(g->hosts[0].name, job->domain, sizeof(job->domain));
    return (long)job->ngroups++;
}

static int add_addr(char (**list)[48], size_t *n, const char *ip)
{
    size_t len = strlen(ip);
    if (len >= sizeof(**list)) return SIP_EINVAL;
    char(*l)[48] = realloc(*list, (*n + 1) * sizeof(**list));
    if (!l) return SIP_ENOMEM;
    *list = l;
    memcpy(l[*n], ip, len + 1);
    (*n)++;
    return 0;
}

/* "_sip._udp." + domain into out; 0 when it fits a DNS name, -1 when not (no lookup then). */
static int srv_name(char out[SIP__DNS_NAME_MAX + 1], sip_transport_type_t tp, const char *domain)
{
    const char *label = srv_label(tp);
    size_t a = strlen(label), b = strlen(domain);
    out[0] = '\0';
    if (a + 1 + b > SIP__DNS_NAME_MAX) return -1;
    memcpy(out, label, a);
    out[a] = '.';
    memcpy(out + a + 1, domain, b + 1);
    return 0;
}

/* Flattens the groups into targets and queues the callback. */
static void finish(sip__rjob_t *job)
{
    sip_resolver_t *r = job->r;
    size_t total = 0;
    job->stage = STAGE_DONE;
    for (size_t g = 0; g < job->ngroups; g++)
        for (size_t h = 0; h < job->groups[g].nhosts; h++)
            total += job->groups[g].hosts[h].n4 + job->groups[g].hosts[h].n6;
    if (total) {
        job->targets = calloc(total, sizeof(*job->targets));
        if (!job->targets) set_err(job, SIP_ENOMEM);
    }
    if (job->targets) {
        /* Group order (NAPTR, or transport preference), then SRV order; per host IPv4 first. */
        for (size_t g = 0; g < job->ngroups; g++) {
            for (size_t h = 0; h < job->groups[g].nhosts; h++) {
                const rhost_t *host = &job->groups[g].hosts[h];
                for (int fam = 0; fam < 2; fam++) {
                    size_t n = fam ? host->n6 : host->n4;
                    for (size_t i = 0; i < n; i++) {
                        sip_netinfo_t *t = &job->targets[job->ntargets++];
                        t->transport = host->tp;
                        snprintf(t->remote_ip, sizeof(t->remote_ip), "%s",
                                 fam ? host->v6[i] : host->v4[i]);
                        t->remote_port = host->port;
                        /* RFC 5922 §4.1, §7.2: the certificate must name the SIP domain, not
                         * the SRV target or the address it led to; a numeric host is checked
                         * as an address (RFC 6066 §3: no address in SNI). */
                        if (!job->numeric)
                            memcpy(t->server_name, job->domain, strlen(job->domain) + 1);
                    }
                }
            }
        }
        /* Targets that failed lately go last (sip_resolver_mark_failed()). */
        sip__rfailed_order(r, job->targets, job->ntargets);
        job->status = 0;
    } else {
        job->status = job->err ? job->err : SIP_ENOENT;
    }
    sip_log(r->loop, SIP_LOG_DEBUG, "resolve", "#%llu %s: %zu target(s)%s%s", job->id, job->domain,
            job->ntargets, job->status ? ", " : "", job->status ? sip_err_name(job->status) : "");
    list_unlink(&r->active, job);
    job->prev = r->done_tail;
    job->next = NULL;
    if (r->done_tail)
        r->done_tail->next = job;
    else
        r->done_head = job;
    r->done_tail = job;
    sip__resolver_wake(r);
}

static void handle(sip__rjob_t *job, const rquery_t *q, int status, const sip__dns_answer_t *ans);

static void lookup(sip__rjob_t *job, const char *name, uint16_t type, size_t group, size_t host)
{
    sip_resolver_t *r = job->r;
    /* A log callback may have closed the resolver while this job was being worked on. */
    if (job->cancelled) return;
    job->pending++;
    sip__rcache_hit_t hit;
    if (sip__rcache_lookup(&r->cache, name, type, sip__resolver_now(r), &hit)) {
        sip_log(r->loop, SIP_LOG_DEBUG, "resolve", "#%llu %s %s: from the cache", job->id,
                sip__dns_type_name(type), name);
        sip__dns_answer_t ans;
        int status = hit.status;
        int prc = hit.len ? sip__dns_parse(hit.buf, hit.len, type, &ans) : SIP_EPARSE;
        rquery_t q = {job, type, group, host};
        if (prc == SIP_ENOMEM) status = ARES_ENOMEM;
        handle(job, &q, status, prc == 0 ? &ans : NULL);
        if (prc == 0) sip__dns_answer_free(&ans);
        unpend(job);
        return;
    }
    size_t n = strlen(name);
    rquery_t *rq = malloc(sizeof(*rq) + n + 1);
    if (!rq) {
        set_err(job, SIP_ENOMEM);
        unpend(job);
        return;
    }
    rq->job = job;
    rq->type = type;
    rq->group = group;
    rq->host = host;
    memcpy(rq->name, name, n + 1);
    sip_log(r->loop, SIP_LOG_DEBUG, "resolve", "#%llu query %s %s", job->id,
            sip__dns_type_name(type), name);
    ares_query(r->channel, name, 1 /* IN */, type, on_answer, rq);
    sip__resolver_schedule(r);
}

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void)timeouts;
    rquery_t *q = arg;
    sip__rjob_t *job = q->job;
    if (job->cancelled) {
        /* The resolver closed: user_free already ran; nothing else to tell. */
        free(q);
        unpend(job);
        return;
    }
    sip_resolver_t *r = job->r;
    sip__dns_answer_t ans;
    int parsed = 0;
    if ((status == ARES_SUCCESS || status == ARES_ENOTFOUND || status == ARES_ENODATA) && abuf &&
        alen > 0) {
        int prc = sip__dns_parse(abuf, (size_t)alen, q->type, &ans);
        if (prc == 0) {
            parsed = 1;
            uint64_t ttl;
            if (status == ARES_SUCCESS && ans.count) {
                ttl = ans.min_ttl < POS_TTL_MAX_S ? ans.min_ttl : POS_TTL_MAX_S;
            } else {
                /* RFC 2308 §5: NXDOMAIN and NODATA are cached as well. */
                ttl = ans.neg_ttl != UINT32_MAX ? ans.neg_ttl : NEG_TTL_DEFAULT_S;
                if (ttl > NEG_TTL_MAX_S) ttl = NEG_TTL_MAX_S;
                if (status == ARES_SUCCESS) status = ARES_ENODATA;
            }
            sip_log(r->loop, SIP_LOG_DEBUG, "resolve",
                    "#%llu answer %s %s: %zu record(s), ttl %llu", job->id,
                    sip__dns_type_name(q->type), q->name, ans.count, (unsigned long long)ttl);
            sip__rcache_store(&r->cache, q->name, q->type, status, abuf, (size_t)alen,
                              sip__resolver_now(r), ttl * 1000u);
        } else {
            status = prc == SIP_ENOMEM ? ARES_ENOMEM : ARES_EBADRESP;
        }
    }
    if (!parsed)
        sip_log(r->loop, SIP_LOG_DEBUG, "resolve", "#%llu answer %s %s: %s", job->id,
                sip__dns_type_name(q->type), q->name, ares_strerror(status));
    handle(job, q, status, parsed ? &ans : NULL);
    if (parsed) sip__dns_answer_free(&ans);
    free(q);
    unpend(job);
}

/* RFC 3263 §4.1: NAPTR records in order then preference; keep the SIP services this endpoint
 * can use (only SIPS ones for a sips URI), each naming an SRV record ("s" flag, no regexp). */
static void naptr_groups(sip__rjob_t *job, const sip__dns_answer_t *ans)
{
    sip_resolver_t *r = job->r;
    if (!ans->count) return;
    size_t *idx = malloc(ans->count * sizeof(*idx));
    job->groups = calloc(ans->count, sizeof(*job->groups));
    if (!idx || !job->groups) {
        free(idx);
        set_err(job, SIP_ENOMEM);
        return;
    }
    for (size_t i = 0; i < ans->count; i++) {
        /* Insertion sort: stable, and answers are small. */
        size_t j = i;
        const sip__dns_rr_t *a = &ans->rr[i];
        while (j > 0) {
            const sip__dns_rr_t *b = &ans->rr[idx[j - 1]];
            if (b->u.naptr.order < a->u.naptr.order ||
                (b->u.naptr.order == a->u.naptr.order &&
                 b->u.naptr.preference <= a->u.naptr.preference))
                break;
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    for (size_t i = 0; i < ans->count; i++) {
        const sip__dns_rr_t *rr = &ans->rr[idx[i]];
        int secure = 0;
        sip_transport_type_t tp = naptr_transport(rr->u.naptr.service, &secure);
        const char *why = NULL;
        if (tp == SIP_TRANSPORT_NONE)
            why = "service not known";
        else if (!sip_str_caseeq_cstr(sip_str_from_cstr(rr->u.naptr.flags), "s") ||
                 rr->u.naptr.has_regexp || !rr->u.naptr.replacement[0])
            why = "not an SRV pointer";
        else if (job->sips && !secure)
            why = "not secure (sips URI)";
        else if (!supported(r, tp))
            why = "transport not enabled";
        for (size_t g = 0; !why && g < job->ngroups; g++)
            if (job->groups[g].tp == tp &&
                sip_str_caseeq_cstr(sip_str_from_cstr(job->groups[g].name),
                                    rr->u.naptr.replacement))
                why = "duplicate";
        if (why) {
            sip_log(r->loop, SIP_LOG_DEBUG, "resolve", "#%llu NAPTR %u %u %s %s skipped: %s",
                    job->id, rr->u.naptr.order, rr->u.naptr.preference, rr->u.naptr.service,
                    rr->u.naptr.replacement, why);
            continue;
        }
        rgroup_t *g = &job->groups[job->ngroups++];
        g->tp = tp;
        memcpy(g->name, rr->u.naptr.replacement, sizeof(g->name));
    }
    free(idx);
    if (job->ngroups) job->naptr_tp = job->groups[0].tp;
}

void sip__srv_order(sip_resolver_t *r, sip__dns_rr_t *rr, size_t n)
{
    sip__dns_rr_t tmp;
    /* Stable sort by priority, lowest first (RFC 2782). */
    for (size_t i = 1; i < n; i++) {
        size_t j = i;
        tmp = rr[i];
        while (j > 0 && rr[j - 1].u.srv.priority > tmp.u.srv.priority) {
            rr[j] = rr[j - 1];
            j--;
        }
        rr[j] = tmp;
    }
    for (size_t a = 0; a < n;) {
        size_t b = a;
        while (b < n && rr[b].u.srv.priority == rr[a].u.srv.priority)
            b++;
        /* RFC 2782: put the weight-0 records first, so that each has a small chance of being
         * picked; then repeatedly draw a number in [0, sum of weights] and take the first record
         * whose running sum reaches it. */
        size_t z = a;
        for (size_t i = a; i < b; i++) {
            if (rr[i].u.srv.weight == 0) {
                tmp = rr[i];
                memmove(&rr[z + 1], &rr[z], (i - z) * sizeof(*rr));
                rr[z++] = tmp;
            }
        }
        for (size_t i = a; i + 1 < b; i++) {
            uint32_t sum = 0;
            for (size_t j = i; j < b; j++)
                sum += rr[j].u.srv.weight;
            uint32_t pick = sip__resolver_random(r, sum), run = 0;
            size_t j = i;
            for (; j < b; j++) {
                run += rr[j].u.srv.weight;
                if (run >= pick) break;
            }
            if (j == b) j = b - 1;
            tmp = rr[j];
            memmove(&rr[i + 1], &rr[i], (j - i) * sizeof(*rr));
            rr[i] = tmp;
        }
        a = b;
    }
}

static void srv_hosts(sip__rjob_t *job, size_t gi, sip__dns_answer_t *ans)
{
    rgroup_t *g = &job->groups[gi];
    g->has_srv = 1;
    sip__srv_order(job->r, ans->rr, ans->count);
    g->hosts = calloc(ans->count, sizeof(*g->hosts));
    if (!g->hosts) {
        set_err(job, SIP_ENOMEM);
        return;
    }
    for (size_t i = 0; i < ans->count; i++) {
        /* RFC 2782: a target of "." means the service is not offered at this domain. */
        if (!ans->rr[i].u.srv.target[0]) continue;
        rhost_t *h = &g->hosts[g->nhosts++];
        h->tp = g->tp;
        h->port = ans->rr[i].u.srv.port;
        memcpy(h->name, ans->rr[i].u.srv.target, sizeof(h->name));
    }
    /* RFC 3263 §4.2: every address of every target; hosts[] no longer moves. */
    for (size_t h = 0; h < g->nhosts; h++) {
        lookup(job, job->groups[gi].hosts[h].name, SIP__DNS_A, gi, h);
        lookup(job, job->groups[gi].hosts[h].name, SIP__DNS_AAAA, gi, h);
    }
}

static void handle(sip__rjob_t *job, const rquery_t *q, int status, const sip__dns_answer_t *ans)
{
    int err = dns_error(status);
    if (status == ARES_SUCCESS && !ans) err = SIP_EIO;
    switch (q->type) {
    case SIP__DNS_NAPTR:
        /* Some servers answer NAPTR with NOTIMP or SERVFAIL: that only means "no NAPTR", go on
         * with SRV. A server that does not answer at all ends the lookup. */
        if (err == -ETIMEDOUT || err == -EHOSTUNREACH || err == SIP_ENOMEM)
            set_err(job, err);
        else if (!err && ans)
            naptr_groups(job, ans);
        break;
    case SIP__DNS_SRV:
        if (err)
            set_err(job, err);
        else if (ans && ans->count)
            srv_hosts(job, q->group, (sip__dns_answer_t *)ans);
        break;
    case SIP__DNS_A:
    case SIP__DNS_AAAA: {
        if (err) {
            set_err(job, err);
            break;
        }
        if (!ans) break;
        rhost_t *h = &job->groups[q->group].hosts[q->host];
        for (size_t i = 0; i < ans->count; i++) {
            int rc = q->type == SIP__DNS_A ? add_addr(&h->v4, &h->n4, ans->rr[i].u.ip)
                                           : add_addr(&h->v6, &h->n6, ans->rr[i].u.ip);
            if (rc) set_err(job, rc);
        }
        break;
    }
    default: break;
    }
}

static void lookup_addresses(sip__rjob_t *job, long gi)
{
    lookup(job, job->domain, SIP__DNS_A, (size_t)gi, 0);
    lookup(job, job->domain, SIP__DNS_AAAA, (size_t)gi, 0);
}

/* Moves to the next step once every lookup of the current one has answered. */
static void advance(sip__rjob_t *job)
{
    sip_resolver_t *r = job->r;
    switch (job->stage) {
    case STAGE_NAPTR:
        if (job->err) break;
        if (job->ngroups == 0) {
            /* RFC 3263 §4.1: no usable NAPTR: SRV for each transport we support, in order of
             * preference (UDP, TCP, TLS, then RFC 7118's WS and WSS; secure ones only for
             * sips). */
            static const sip_transport_type_t order[] = {SIP_TRANSPORT_UDP, SIP_TRANSPORT_TCP,
                                                         SIP_TRANSPORT_TLS, SIP_TRANSPORT_WS,
                                                         SIP_TRANSPORT_WSS};
            size_t norder = sizeof(order) / sizeof(order[0]);
            free(job->groups);
            job->groups = calloc(norder, sizeof(*job->groups));
            if (!job->groups) {
                set_err(job, SIP_ENOMEM);
                break;
            }
            for (size_t i = 0; i < norder; i++) {
                if (job->sips && !sip_transport_is_secure(order[i])) continue;
                if (!supported(r, order[i])) continue;
                rgroup_t *g = &job->groups[job->ngroups];
                g->tp = order[i];
                if (srv_name(g->name, order[i], job->domain) == 0) job->ngroups++;
            }
            if (job->ngroups == 0) break;
        }
        job->stage = STAGE_SRV;
        job->pending++;
        for (size_t g = 0; g < job->ngroups; g++)
            if (job->groups[g].name[0]) lookup(job, job->groups[g].name, SIP__DNS_SRV, g, 0);
        unpend(job);
        return;
    case STAGE_SRV: {
        for (size_t g = 0; g < job->ngroups; g++)
            if (job->groups[g].has_srv) goto done;
        if (job->err) break;
        /* RFC 3263 §4.2: no SRV records: A/AAAA of the domain itself, on the transport already
         * chosen (parameter, then NAPTR) or the default, at its default port. */
        sip_transport_type_t tp = job->tp ? job->tp : job->naptr_tp;
        if (!tp) tp = default_transport(r, job->sips);
        if (!tp) break;
        job->stage = STAGE_ADDR;
        long gi = add_direct_group(job, tp, sip_transport_default_port(tp));
        if (gi < 0) {
            set_err(job, SIP_ENOMEM);
            break;
        }
        job->pending++;
        lookup_addresses(job, gi);
        unpend(job);
        return;
    }
    default: break;
    }
done:
    finish(job);
}

static void unpend(sip__rjob_t *job)
{
    if (--job->pending > 0) return;
    if (job->cancelled)
        job_free(job); /* the last query of a job ended by close */
    else
        advance(job);
}

/* The transport a URI asks for, as this endpoint would use it; SIP_TRANSPORT_NONE when absent,
 * -1 when it names one that cannot be used. */
static int uri_transport(const sip_resolver_t *r, const sip_uri_t *uri, int sips)
{
    if (!uri->transport.len) return SIP_TRANSPORT_NONE;
    sip_transport_type_t tp = sip_transport_from_name(uri->transport.ptr, uri->transport.len);
    if (sips) {
        /* RFC 3261 §26.2.2: "sips:...;transport=tcp" is TLS over TCP; sips over UDP is not. */
        if (tp == SIP_TRANSPORT_TCP) tp = SIP_TRANSPORT_TLS;
        if (tp == SIP_TRANSPORT_WS) tp = SIP_TRANSPORT_WSS;
        if (tp == SIP_TRANSPORT_UDP) tp = SIP_TRANSPORT_NONE;
    }
    return supported(r, tp) ? (int)tp : -1;
}

int sip__rjob_start(sip_resolver_t *r, const sip_uri_t *uri, sip_resolve_cb cb, void *user,
                    sip_free_fn user_free)
{
    int rc = SIP_EINVAL;
    if (uri->scheme != SIP_URI_SIP && uri->scheme != SIP_URI_SIPS) goto fail;
    /* RFC 3263 §4: maddr, when present, is the target instead of the host. */
    sip_str_t host = uri->maddr.len ? uri->maddr : uri->host;
    if (host.len >= 2 && host.ptr[0] == '[' && host.ptr[host.len - 1] == ']') {
        host.ptr++;
        host.len -= 2;
    }
    if (!host.len || host.len > SIP__DNS_NAME_MAX || memchr(host.ptr, '\0', host.len)) goto fail;
    sip__rjob_t *job = calloc(1, sizeof(*job));
    rc = SIP_ENOMEM;
    if (!job) goto fail;
    job->r = r;
    job->cb = cb;
    job->user = user;
    job->user_free = user_free;
    job->id = ++r->next_job_id;
    job->sips = uri->scheme == SIP_URI_SIPS;
    memcpy(job->domain, host.ptr, host.len);
    job->domain[host.len] = '\0';
    job->next = r->active;
    if (r->active) r->active->prev = job;
    r->active = job;

    int tp = uri_transport(r, uri, job->sips);
    unsigned char addr[16];
    int numeric = inet_pton(AF_INET, job->domain, addr) == 1    ? 4
                  : inet_pton(AF_INET6, job->domain, addr) == 1 ? 6
                                                                : 0;
    job->numeric = numeric;
    sip_log(r->loop, SIP_LOG_DEBUG, "resolve", "#%llu resolve %.*s (%s%s)", job->id,
            (int)uri->raw.len, uri->raw.ptr ? uri->raw.ptr : "",
            numeric     ? "numeric"
            : uri->port ? "port given"
            : tp        ? "transport given"
                        : "NAPTR",
            tp < 0 ? ", transport not usable" : "");
    job->pending = 1; /* guard: nothing finishes before this function returns */
    if (tp < 0) {
        /* Nothing to try: no DNS query either. */
        job->stage = STAGE_DONE;
    } else if (numeric || uri->port) {
        /* RFC 3263 §4.2: a numeric address, or a name with a port, uses A/AAAA only. */
        job->tp = tp ? (sip_transport_type_t)tp : default_transport(r, job->sips);
        job->stage = STAGE_ADDR;
        if (job->tp) {
            uint16_t port = uri->port ? uri->port : sip_transport_default_port(job->tp);
            long gi = add_direct_group(job, job->tp, port);
            if (gi < 0) {
                set_err(job, SIP_ENOMEM);
            } else if (numeric) {
                rhost_t *h = &job->groups[gi].hosts[0];
                set_err(job, numeric == 4 ? add_addr(&h->v4, &h->n4, job->domain)
                                          : add_addr(&h->v6, &h->n6, job->domain));
            } else {
                lookup_addresses(job, gi);
            }
        }
    } else if (tp) {
        /* RFC 3263 §4.2: a transport but no port: SRV for that transport, no NAPTR. */
        job->tp = (sip_transport_type_t)tp;
        job->stage = STAGE_SRV;
        job->groups = calloc(1, sizeof(*job->groups));
        if (!job->groups) {
            set_err(job, SIP_ENOMEM);
            job->stage = STAGE_DONE;
        } else {
            job->ngroups = 1;
            job->groups[0].tp = job->tp;
            /* A name too long for the SRV prefix goes on to A/AAAA as if there were no SRV. */
            if (srv_name(job->groups[0].name, job->tp, job->domain) == 0)
                lookup(job, job->groups[0].name, SIP__DNS_SRV, 0, 0);
        }
    } else {
        job->stage = STAGE_NAPTR;
        lookup(job, job->domain, SIP__DNS_NAPTR, 0, 0);
    }
    unpend(job);
    return 0;
fail:
    if (user_free) user_free(user);
    return rc;
}

void sip__rjob_deliver(sip_resolver_t *r)
{
    /* Only the jobs finished before this pass: a callback that starts another lookup answered
     * from the cache gets its answer in a later iteration, not in this loop. */
    size_t n = 0;
    for (sip__rjob_t *j = r->done_head; j; j = j->next)
        n++;
    while (n-- > 0 && !r->closed && r->done_head) {
        sip__rjob_t *job = r->done_head;
        list_unlink(&r->done_head, job);
        if (!r->done_head) r->done_tail = NULL;
        job->cb(r, job->status, job->targets, job->ntargets, job->user);
        if (job->user_free) job->user_free(job->user);
        job_free(job);
    }
}

void sip__rjob_cancel_all(sip_resolver_t *r)
{
    while (r->active || r->done_head) {
        sip__rjob_t *job;
        if (r->done_head) {
            job = r->done_head;
            list_unlink(&r->done_head, job);
            if (!r->done_head) r->done_tail = NULL;
        } else {
            job = r->active;
            list_unlink(&r->active, job);
        }
        job->cancelled = 1;
        sip_free_fn fn = job->user_free;
        void *user = job->user;
        job->user_free = NULL;
        /* Queries still in flight own the job now; the last one frees it. */
        if (job->pending == 0) job_free(job);
        if (fn) fn(user);
    }
}
