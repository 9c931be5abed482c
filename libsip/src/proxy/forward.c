/* SPDX-License-Identifier: MIT */
/* What goes downstream: the loop hash and branches (RFC 3261 §16.6 step 8, §16.3 step 4), the
 * edits of a forwarded request (§16.6 steps 2-8, RFC 5658), stateless forwarding of requests
 * and responses (§16.11). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fmt.h"
#include "core/mem.h"
#include "proxy/proxy_int.h"
#include "sip/error.h"
#include "transport/raw.h"
#include "transport/transport_int.h"
#include "txn/txn_int.h"

/* ---- hashes ------------------------------------------------------------------------------ */

static inline uint64_t mix(uint64_t h, sip_str_t s)
{
    /* FNV-1a, with a separator so that fields cannot shift into one another. */
    for (size_t i = 0; i < s.len; i++)
        h = (h ^ (uint8_t)s.ptr[i]) * 0x100000001b3ull;
    return (h ^ 0xff) * 0x100000001b3ull;
}

static inline uint64_t finish(uint64_t h)
{
    /* splitmix64's finaliser spreads the bits over every hex digit. */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

/* RFC 3261 §16.6 step 8: what identifies the request as this proxy received it: Request-URI,
 * From tag, Call-ID, CSeq number and the top Via (its branch and sent-by when it has the magic
 * cookie, else all of it). The To tag, Proxy-Require and Proxy-Authorization that the step also
 * names are left out so that a CANCEL and the ACK of a non-2xx hash as their INVITE did (a
 * stateless proxy must give them its branch, §16.11); a request that changes those comes with
 * a new CSeq anyway. Keyed by the proxy's secret: nobody else makes our branches. */
uint64_t sip__proxy_loop_hash(const sip_proxy_t *p, const sip_msg_t *msg, size_t via_idx)
{
    uint64_t h = 0xcbf29ce484222325ull ^ p->key;
    const sip_uri_t *u = sip_msg_get_uri(msg);
    const sip_addr_t *from = sip_msg_get_from(msg);
    const sip_cseq_t *cs = sip_msg_get_cseq(msg);
    char seq[20];
    size_t n = sip__fmt_u64(seq, cs ? cs->seq : 0);
    h = mix(h, u ? u->raw : SIP_STR_NULL);
    h = mix(h, from ? from->tag : SIP_STR_NULL);
    h = mix(h, sip_msg_get_call_id(msg));
    h = mix(h, (sip_str_t){seq, n});
    const sip_header_t *vh = sip_msg_header_at(msg, SIP_HDR_VIA, via_idx);
    const sip_via_t *v = sip_header_via(vh);
    if (v && sip__txn_has_cookie(v->branch)) {
        char port[20];
        size_t pn = sip__fmt_u64(port, v->port);
        h = mix(h, v->branch);
        h = mix(h, v->host);
        h = mix(h, (sip_str_t){port, pn});
    } else if (vh) {
        h = mix(h, sip_header_get_value(vh));
    }
    return finish(h);
}

/* SipHash-2-4 (Aumasson and Bernstein), fed a byte at a time: what it keys is a few short
 * fields per message. */
typedef struct {
    uint64_t v0, v1, v2, v3, m;
    unsigned mlen;
    uint64_t total;
} siphash_t;

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void sip_round(siphash_t *h)
{
    h->v0 += h->v1;
    h->v1 = ROTL(h->v1, 13);
    h->v1 ^= h->v0;
    h->v0 = ROTL(h->v0, 32);
    h->v2 += h->v3;
    h->v3 = ROTL(h->v3, 16);
    h->v3 ^= h->v2;
    h->v0 += h->v3;
    h->v3 = ROTL(h->v3, 21);
    h->v3 ^= h->v0;
    h->v2 += h->v1;
    h->v1 = ROTL(h->v1, 17);
    h->v1 ^= h->v2;
    h->v2 = ROTL(h->v2, 32);
}

static void siphash_init(siphash_t *h, const uint64_t k[2])
{
    h->v0 = k[0] ^ 0x736f6d6570736575ull;
    h->v1 = k[1] ^ 0x646f72616e646f6dull;
    h->v2 = k[0] ^ 0x6c7967656e657261ull;
    h->v3 = k[1] ^ 0x7465646279746573ull;
    h->m = 0;
    h->mlen = 0;
    h->total = 0;
}

static void siphash_bytes(siphash_t *h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h->m |= (uint64_t)(uint8_t)p[i] << (8 * h->mlen);
        h->total++;
        if (++h->mlen == 8) {
            h->v3 ^= h->m;
            sip_round(h);
            sip_round(h);
            h->v0 ^= h->m;
            h->m = 0;
            h->mlen = 0;
        }
    }
}

/* A field with its length first, so that fields cannot shift into one another. */
static void siphash_field(siphash_t *h, sip_str_t s)
{
    char len[4] = {(char)(s.len >> 24), (char)(s.len >> 16), (char)(s.len >> 8), (char)s.len};
    siphash_bytes(h, len, sizeof(len));
    siphash_bytes(h, s.ptr, s.len);
}

static uint64_t siphash_final(siphash_t *h)
{
    uint64_t b = h->total << 56 | h->m;
    h->v3 ^= b;
    sip_round(h);
    sip_round(h);
    h->v0 ^= b;
    h->v2 ^= 0xff;
    for (int i = 0; i < 4; i++)
        sip_round(h);
    return h->v0 ^ h->v1 ^ h->v2 ^ h->v3;
}

/* The MAC that ends a branch of ours: keyed with the proxy's random key over the branch before
 * it and what of the request its responses carry back unchanged (§8.2.6.2, §16.7): Call-ID,
 * From tag, CSeq number and the Via after ours (index via_idx of msg), with its received and
 * rport, where a response goes next (§18.2.2). A response is forwarded statelessly only when
 * it verifies (§16.11): nobody else makes a branch that does, and one seen on the wire does not
 * take a response anywhere but where its request came from. */
static uint64_t branch_mac(const sip_proxy_t *p, sip_str_t prefix, const sip_msg_t *msg,
                           size_t via_idx)
{
    siphash_t h;
    siphash_init(&h, p->mac_key);
    const sip_addr_t *from = sip_msg_get_from(msg);
    const sip_cseq_t *cs = sip_msg_get_cseq(msg);
    char num[20];
    siphash_field(&h, prefix);
    siphash_field(&h, sip_msg_get_call_id(msg));
    siphash_field(&h, from ? from->tag : SIP_STR_NULL);
    siphash_field(&h, (sip_str_t){num, sip__fmt_u64(num, cs ? cs->seq : 0)});
    const sip_via_t *v = sip_header_via(sip_msg_header_at(msg, SIP_HDR_VIA, via_idx));
    if (v) {
        siphash_field(&h, v->transport);
        siphash_field(&h, v->host);
        siphash_field(&h, (sip_str_t){num, sip__fmt_u64(num, v->port)});
        siphash_field(&h, v->branch);
        siphash_field(&h, v->received);
        siphash_field(&h, (sip_str_t){num, sip__fmt_u64(num, (uint64_t)(v->rport + 1))});
    }
    return siphash_final(&h);
}

/* Appends ".<MAC>" to the branch text b of length l (room for 18 more octets); the new length. */
static size_t add_mac(const sip_proxy_t *p, char *b, size_t l, const sip_msg_t *msg)
{
    uint64_t mac = branch_mac(p, (sip_str_t){b, l}, msg, 0);
    b[l++] = '.';
    l += sip__fmt_hex(b + l, mac, 16);
    return l;
}

/* Whether a branch ends with the MAC this proxy gives it for the message (a response: the Via
 * after ours is the second). */
static int mac_ok(const sip_proxy_t *p, sip_str_t b, const sip_msg_t *msg, size_t via_idx)
{
    if (b.len < 17 || b.ptr[b.len - 17] != '.') return 0;
    char want[17];
    sip__fmt_hex(want, branch_mac(p, (sip_str_t){b.ptr, b.len - 17}, msg, via_idx), 16);
    /* Compared in full whatever differs first: the time says nothing about the MAC. */
    unsigned diff = 0;
    for (size_t i = 0; i < 16; i++)
        diff |= (unsigned)(uint8_t)(want[i] ^ b.ptr[b.len - 16 + i]);
    return diff == 0;
}

/* The loop hash a branch of ours carries, or 0 when it is not one of ours. */
static int branch_hash(sip_str_t b, uint64_t *out)
{
    /* A worker's branch has its mark after the cookie (sip/worker.h): "z9hG4bK" "Wxx" "P". */
    if (sip__txn_branch_owner(b) >= 0) {
        b.ptr += SIP__TXN_MARK_LEN;
        b.len -= SIP__TXN_MARK_LEN;
        if (b.len < SIP__PROXY_BRANCH_MARK_LEN + 17 ||
            b.ptr[SIP__PROXY_BRANCH_MARK_LEN - 1] != 'P' ||
            b.ptr[SIP__PROXY_BRANCH_MARK_LEN + 16] != '.')
            return 0;
    } else if (b.len < SIP__PROXY_BRANCH_MARK_LEN + 17 ||
               memcmp(b.ptr, SIP__PROXY_BRANCH_MARK, SIP__PROXY_BRANCH_MARK_LEN) != 0 ||
               b.ptr[SIP__PROXY_BRANCH_MARK_LEN + 16] != '.') {
        return 0;
    }
    uint64_t x = 0;
    for (size_t i = 0; i < 16; i++) {
        char c = b.ptr[SIP__PROXY_BRANCH_MARK_LEN + i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return 0;
        x = x << 4 | (uint64_t)d;
    }
    *out = x;
    return 1;
}

static int via_is_ours(const sip_proxy_t *p, const sip_via_t *v)
{
    sip_transport_type_t tr = sip_transport_from_name(v->transport.ptr, v->transport.len);
    return sip__proxy_host_is_ours(p, v->host, v->port, tr);
}

int sip__proxy_looped(const sip_proxy_t *p, const sip_msg_t *msg)
{
    /* §16.3 step 4: every Via this proxy put in the request is checked against the request
     * as it is now: the same hash means it came back unchanged (a loop); another means it
     * came back for a new target (a spiral). */
    size_t n = sip_msg_header_count(msg, SIP_HDR_VIA);
    for (size_t i = 0; i + 1 < n; i++) {
        const sip_via_t *v = sip_header_via(sip_msg_header_at(msg, SIP_HDR_VIA, i));
        uint64_t h;
        if (!v || !branch_hash(v->branch, &h) || !via_is_ours(p, v)) continue;
        if (h == sip__proxy_loop_hash(p, msg, i + 1)) return 1;
    }
    return 0;
}

void sip__proxy_branch_id(const sip_proxy_req_t *req, uint64_t n, char *buf, size_t size)
{
    /* SIP__PROXY_BRANCH_MARK "%016llx.%llx.%016llx", written by hand: this is per branch. */
    char b[SIP__PROXY_BRANCH_MARK_LEN + SIP__TXN_MARK_LEN + 16 + 1 + 16 + 1 + 16 + 1];
    size_t l = 7;
    memcpy(b, SIP__PROXY_BRANCH_MARK, l);
    /* A worker's mark (sip/worker.h): the response to this branch reaches its transaction
     * whichever worker receives it. */
    int mark = sip__txn_layer_mark(req->p->layer);
    if (mark >= 0) {
        sip__txn_mark_write(b + l, mark);
        l += SIP__TXN_MARK_LEN;
    }
    b[l++] = SIP__PROXY_BRANCH_MARK[7];
    l += sip__fmt_hex(b + l, req->lhash, 16);
    b[l++] = '.';
    l += sip__fmt_hex_min(b + l, n);
    /* A 2xx sent again after the transaction ended is forwarded only with it (§16.7 step 5). */
    l = add_mac(req->p, b, l, req->msg);
    b[l] = '\0';
    if (!size) return;
    if (l >= size) l = size - 1;
    memcpy(buf, b, l);
    buf[l] = '\0';
}

/* §16.11: a stateless proxy's branch is the same for every retransmission of the request (and
 * for its CANCEL and the ACK of a non-2xx): the loop hash and a hash of where it goes. */
static void stateless_branch(const sip_proxy_req_t *req, const sip_msg_t *msg, char *buf,
                             size_t size)
{
    const sip_uri_t *u = sip_msg_get_uri(msg);
    uint64_t h = finish(mix(req->lhash, u ? u->raw : SIP_STR_NULL));
    /* SIP__PROXY_BRANCH_MARK "%016llx.s%08x.%016llx", written by hand: this is per message. */
    char b[SIP__PROXY_BRANCH_MARK_LEN + 16 + 2 + 8 + 1 + 16 + 1];
    size_t l = SIP__PROXY_BRANCH_MARK_LEN;
    memcpy(b, SIP__PROXY_BRANCH_MARK, l);
    l += sip__fmt_hex(b + l, req->lhash, 16);
    b[l++] = '.';
    b[l++] = 's';
    l += sip__fmt_hex(b + l, h & 0xffffffffu, 8);
    /* Its responses have no transaction here: they are forwarded only with it (§16.11). */
    l = add_mac(req->p, b, l, msg);
    b[l] = '\0';
    if (!size) return;
    if (l >= size) l = size - 1;
    memcpy(buf, b, l);
    buf[l] = '\0';
}

/* ---- where a request goes ---------------------------------------------------------------- */

/* The address a URI names when its host is an IP address (maddr first), with its transport. */
static int uri_dst(const sip_uri_t *u, sip_netinfo_t *ni)
{
    if (!u || (u->scheme != SIP_URI_SIP && u->scheme != SIP_URI_SIPS)) return -1;
    sip_str_t h = u->maddr.len ? u->maddr : u->host;
    sip_host_type_t ht = u->host_type;
    if (u->maddr.len) ht = memchr(h.ptr, ':', h.len) ? SIP_HOST_IPV6 : SIP_HOST_IPV4;
    if (ht != SIP_HOST_IPV4 && ht != SIP_HOST_IPV6) return -1;
    if (ht == SIP_HOST_IPV4) {
        /* A name of digits and dots is not an address unless it is four numbers. */
        for (size_t i = 0; i < h.len; i++)
            if (!((h.ptr[i] >= '0' && h.ptr[i] <= '9') || h.ptr[i] == '.')) return -1;
    }
    *ni = (sip_netinfo_t){0};
    ni->transport = SIP_TRANSPORT_UDP;
    if (u->transport.len)
        ni->transport = sip_transport_from_name(u->transport.ptr, u->transport.len);
    if (u->scheme == SIP_URI_SIPS) ni->transport = SIP_TRANSPORT_TLS;
    if (ni->transport == SIP_TRANSPORT_NONE) return -1;
    if (h.len && h.ptr[0] == '[') h = (sip_str_t){h.ptr + 1, h.len - 2};
    if (!h.len || h.len >= sizeof(ni->remote_ip)) return -1;
    memcpy(ni->remote_ip, h.ptr, h.len);
    ni->remote_port = u->port ? u->port : sip_transport_default_port(ni->transport);
    return 0;
}

/* The transport a URI asks for (RFC 3263 would choose among more; this is for Record-Route
 * only when the address is not known yet). */
static sip_transport_type_t uri_transport(const sip_uri_t *u)
{
    sip_transport_type_t t = SIP_TRANSPORT_NONE;
    if (u && u->transport.len) t = sip_transport_from_name(u->transport.ptr, u->transport.len);
    if (u && u->scheme == SIP_URI_SIPS) t = SIP_TRANSPORT_TLS;
    return t ? t : SIP_TRANSPORT_UDP;
}

/* The URI the request goes to (§16.6 step 7, §16.12): a loose top Route, else the Request-URI. */
static const sip_uri_t *next_hop(const sip_msg_t *msg)
{
    const sip_addr_t *r = sip_header_addr(sip_msg_header_at(msg, SIP_HDR_ROUTE, 0));
    return r && r->uri.lr ? &r->uri : sip_msg_get_uri(msg);
}

int sip__proxy_flow_failed(sip_proxy_t *p, const sip__proxy_target_t *t)
{
    sip_transport_t *tp = p->layer ? sip_txn_layer_get_transport(p->layer) : NULL;
    /* Only stream connections make flows here (a UDP binding has no conn_id): its address is
     * the peer's ephemeral port, which nobody listens on. */
    sip_netinfo_t ni;
    return t && t->conn_id && tp && sip__transport_conn_info(tp, t->conn_id, &ni) != 0;
}

/* Where a target says to send, ahead of the routing: its flow while the connection is open
 * (RFC 5626 §5.3), else its dst URI (the received address behind a NAT). */
static int target_dst(sip_proxy_t *p, const sip__proxy_target_t *t, sip_netinfo_t *ni)
{
    sip_transport_t *tp = p->layer ? sip_txn_layer_get_transport(p->layer) : NULL;
    sip_netinfo_t c;
    /* The connection may be another worker's (sip/worker.h): its id says which. */
    if (tp && t->conn_id && sip__transport_conn_info(tp, t->conn_id, &c) == 0) {
        *ni = (sip_netinfo_t){0};
        ni->transport = c.transport;
        memcpy(ni->remote_ip, c.remote_ip, sizeof(ni->remote_ip));
        ni->remote_port = c.remote_port;
        ni->conn_id = c.conn_id;
        return 0;
    }
    if (t->dst && *t->dst) {
        sip_uri_t u;
        if (sip_uri_parse(&u, t->dst, strlen(t->dst)) == 0 && uri_dst(&u, ni) == 0) return 0;
    }
    return -1;
}

/* ---- Record-Route ------------------------------------------------------------------------- */

/* The listening point of a transport and address family, preferring the one whose address is
 * ip (the one a request came in on). */
static int pick_listener(sip_transport_t *tp, sip_transport_type_t tr, int v6, const char *ip,
                         uint16_t port, sip_netinfo_t *out)
{
    size_t n = sip_transport_listener_count(tp);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        sip_netinfo_t li;
        if (sip_transport_listener_info(tp, i, &li) || li.transport != tr) continue;
        if ((strchr(li.local_ip, ':') != NULL) != v6) continue;
        if (ip && port && li.local_port == port && strcmp(li.local_ip, ip) == 0) {
            *out = li;
            return 0;
        }
        if (!found) *out = li;
        found = 1;
    }
    return found ? 0 : -1;
}

/* "<sip:host:port;transport=x;lr>" for a listening point (or the configured host). */
static int rr_value(sip_proxy_t *p, sip_transport_t *tp, const sip_netinfo_t *li, int r2, char *buf,
                    size_t size)
{
    /* "<%s:%s%s;lr%s>" written by hand: this is per record-routed request. */
    sip__fmt_t f;
    sip__fmt_init(&f, buf, size);
    sip__fmt_str(&f, li->transport == SIP_TRANSPORT_TLS ? "<sips:" : "<sip:");
    if (p->rr_host) {
        sip__fmt_str(&f, p->rr_host);
    } else {
        const char *ip = li->local_ip;
        if ((!strcmp(ip, "0.0.0.0") || !strcmp(ip, "::")) && tp->opts.via_host)
            ip = tp->opts.via_host;
        int v6 = strchr(ip, ':') != NULL;
        if (v6) sip__fmt_mem(&f, "[", 1);
        sip__fmt_str(&f, ip);
        if (v6) sip__fmt_mem(&f, "]", 1);
        sip__fmt_mem(&f, ":", 1);
        sip__fmt_uint(&f, li->local_port);
    }
    switch (li->transport) {
    case SIP_TRANSPORT_TCP: sip__fmt_str(&f, ";transport=tcp"); break;
    case SIP_TRANSPORT_WS: sip__fmt_str(&f, ";transport=ws"); break;
    case SIP_TRANSPORT_WSS: sip__fmt_str(&f, ";transport=wss"); break;
    default: break;
    }
    sip__fmt_str(&f, r2 ? ";lr;r2=on>" : ";lr>");
    return f.ok ? 0 : SIP_ERANGE;
}

/* §16.6 step 4: this proxy's Record-Route, two of them when the request leaves through another
 * listening point than it came in on (RFC 5658 §4), the one facing downstream on top. */
static int record_route(sip_proxy_req_t *req, sip_msg_t *msg, const sip_netinfo_t *dst)
{
    sip_proxy_t *p = req->p;
    sip_transport_t *tp = p->layer ? sip_txn_layer_get_transport(p->layer) : NULL;
    if (!tp) return SIP_ECLOSED;
    sip_transport_type_t out_tr = dst ? dst->transport : uri_transport(next_hop(msg));
    int in_v6 = strchr(req->in.local_ip, ':') != NULL;
    int out_v6 = dst ? strchr(dst->remote_ip, ':') != NULL : in_v6;
    sip_netinfo_t lo, li;
    if (pick_listener(tp, out_tr, out_v6, NULL, 0, &lo) &&
        pick_listener(tp, SIP_TRANSPORT_UDP, out_v6, NULL, 0, &lo) &&
        pick_listener(tp, out_tr, !out_v6, NULL, 0, &lo))
        return SIP_ENOENT;
    if (!req->in.transport ||
        pick_listener(tp, req->in.transport, in_v6, req->in.local_ip, req->in.local_port, &li))
        li = lo;
    char a[400], b[400];
    int two = li.transport != lo.transport || li.local_port != lo.local_port ||
              strcmp(li.local_ip, lo.local_ip) != 0;
    int rc = rr_value(p, tp, &lo, two, a, sizeof(a));
    if (!rc && two) rc = rr_value(p, tp, &li, 1, b, sizeof(b));
    if (!rc && two && strcmp(a, b) == 0) {
        /* The configured host with the same transport: one value says it all. */
        two = 0;
        rc = rr_value(p, tp, &lo, 0, a, sizeof(a));
    }
    if (!rc && two) rc = sip_msg_prepend_header(msg, "Record-Route", b);
    if (!rc) rc = sip_msg_prepend_header(msg, "Record-Route", a);
    return rc;
}

/* ---- the edits of a forwarded request ----------------------------------------------------- */

int sip__proxy_prepare(sip_proxy_req_t *req, sip_msg_t *msg, const sip__proxy_target_t *t, int rr,
                       const char *branch, sip_netinfo_t *dst, int *has_dst)
{
    int rc;
    *has_dst = 0;
    /* §16.6 step 2: the target becomes the Request-URI. */
    if (t && t->uri && (rc = sip_msg_set_uri(msg, t->uri))) return rc;
    /* Step 5: a preloaded route (a binding's Path, RFC 3327 §5.2) goes before the others. */
    if (t && t->path && *t->path && (rc = sip_msg_prepend_header(msg, "Route", t->path)))
        return rc == SIP_EPARSE ? SIP_EINVAL : rc;
    /* Step 3: Max-Forwards one less, or 70 when the request had none. */
    const sip_header_t *mf = sip_msg_header_at(msg, SIP_HDR_MAX_FORWARDS, 0);
    if (mf) {
        const sip_num_t *num = sip_header_num(mf);
        char v[24];
        v[sip__fmt_u64(v, num && num->value ? num->value - 1 : 0)] = '\0';
        if ((rc = sip_msg_update_header(msg, mf, v))) return rc;
    } else if ((rc = sip_msg_add_header(msg, "Max-Forwards", "70"))) {
        return rc;
    }
    /* Step 6: a strict router next (no lr in the top Route) takes the Route in the
     * Request-URI; the Request-URI goes to the end of the Route set. */
    const sip_addr_t *top = sip_header_addr(sip_msg_header_at(msg, SIP_HDR_ROUTE, 0));
    if (top && !top->uri.lr) {
        const sip_uri_t *ru = sip_msg_get_uri(msg);
        char *old = sip__strndup(ru->raw.ptr, ru->raw.len);
        char *nu = sip__strndup(top->uri.raw.ptr, top->uri.raw.len);
        char *rv = old ? malloc(strlen(old) + 3) : NULL;
        rc = old && nu && rv ? 0 : SIP_ENOMEM;
        if (!rc) {
            sprintf(rv, "<%s>", old);
            rc = sip_msg_add_header(msg, "Route", rv);
        }
        if (!rc) rc = sip_msg_set_uri(msg, nu);
        if (!rc) rc = sip_msg_remove_header(msg, "Route", 0);
        free(old);
        free(nu);
        free(rv);
        if (rc) return rc;
    }
    /* Step 7: where it goes; the target's flow or address comes before the routing. */
    if (t && target_dst(req->p, t, dst) == 0)
        *has_dst = 1;
    else if (uri_dst(next_hop(msg), dst) == 0)
        *has_dst = 1;
    /* Step 4 (done here, once the next hop is known: RFC 5658 needs the interface). */
    if (rr && req->method != SIP_METHOD_ACK && req->method != SIP_METHOD_CANCEL &&
        (rc = record_route(req, msg, *has_dst ? dst : NULL)))
        return rc;
    /* Step 8: our Via with the branch; the transport writes its transport and sent-by. */
    char via[128];
    sip__fmt_t f;
    sip__fmt_init(&f, via, sizeof(via));
    sip__fmt_str(&f, "SIP/2.0/UDP 0.0.0.0;branch=");
    sip__fmt_str(&f, branch);
    return sip_msg_prepend_header(msg, "Via", via);
}

/* ---- stateless forwarding (§16.11) -------------------------------------------------------- */

int sip_proxy_req_forward(sip_proxy_req_t *req, const char *uri, int record_route)
{
    if (!req) return SIP_EINVAL;
    sip_proxy_t *p = req->p;
    if (p->closed || !p->layer) return SIP_ECLOSED;
    if (req->done || req->relaying) return SIP_EBUSY;
    sip__proxy_target_t one = {0}, *t = NULL;
    if (uri) {
        sip_uri_t u;
        if (sip_uri_parse(&u, uri, strlen(uri))) return SIP_EURI;
        one.uri = (char *)uri;
        t = &one;
    } else if (req->ntargets) {
        /* A target added (a registered contact with its flow or NAT address) says where. */
        t = &req->targets[0];
    }
    /* RFC 5626 §5.3: a flow that is gone cannot be reached; the program answers (430). */
    if (sip__proxy_flow_failed(p, t)) return SIP_ENOENT;
    /* A server transaction would answer 500 once nobody holds it: the request is no longer
     * this proxy's to answer, so the transaction goes (a retransmission is forwarded again,
     * as §16.11 has it). */
    if (req->txn) sip_txn_close(req->txn);
    sip_msg_t *msg = req->msg;
    /* The Request-URI first: the branch hashes where the request goes. */
    if (t && t->uri && sip_msg_set_uri(msg, t->uri)) return SIP_EURI;
    sip__proxy_target_t rest = t ? *t : one;
    rest.uri = NULL;
    char branch[64];
    stateless_branch(req, msg, branch, sizeof(branch));
    sip_netinfo_t dst;
    int has_dst;
    int rc = sip__proxy_prepare(req, msg, t ? &rest : NULL, record_route, branch, &dst, &has_dst);
    if (!rc) rc = sip_txn_send_stateless(p->layer, msg, has_dst ? &dst : NULL);
    req->done = 1;
    sip__proxy_targets_free(req);
    return rc;
}

/* A response for one of our branches that no transaction has (a stateless proxy's, or a 2xx
 * sent again after its transaction ended): our Via goes and it is sent where the next Via says
 * (§16.11, §18.2.2). */
int sip__proxy_stray_response(sip_proxy_t *p, sip_msg_t *rsp)
{
    const sip_via_t *v = sip_msg_get_via(rsp);
    uint64_t h;
    if (!v || !branch_hash(v->branch, &h)) return 0;
    /* Our sent-by and a branch this proxy made for this request, or it is not ours to send
     * on: anyone could use the proxy to reflect responses to any address. Dropped either way:
     * no element but this proxy has branches of this shape. */
    if (!via_is_ours(p, v) || !mac_ok(p, v->branch, rsp, 1)) return 1;
    if (sip_msg_header_count(rsp, SIP_HDR_VIA) < 2) return 1; /* nowhere to go: dropped */
    if (sip_msg_remove_header(rsp, "Via", 0)) return 1;
    v = sip_msg_get_via(rsp);
    sip_netinfo_t ni = {0};
    ni.transport = sip_transport_from_name(v->transport.ptr, v->transport.len);
    sip_str_t host = v->received.len ? v->received : v->host;
    if (host.len >= 2 && host.ptr[0] == '[') host = (sip_str_t){host.ptr + 1, host.len - 2};
    if (!ni.transport || !host.len || host.len >= sizeof(ni.remote_ip)) return 1;
    memcpy(ni.remote_ip, host.ptr, host.len);
    ni.remote_port = v->rport > 0 ? (uint16_t)v->rport
                     : v->port    ? v->port
                                  : sip_transport_default_port(ni.transport);
    /* Over a stream, the connection the request came in on when it is still open (found by
     * its address); over UDP the transport goes by the Via alone. */
    sip_msg_set_netinfo(rsp, ni.transport == SIP_TRANSPORT_UDP ? NULL : &ni);
    sip_txn_send_stateless(p->layer, rsp, NULL);
    return 1;
}
