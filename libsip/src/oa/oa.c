/* SPDX-License-Identifier: MIT */
/* The negotiator's life cycle, capabilities, streams, hold and state. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/live_int.h"
#include "oa/oa_int.h"

void sip_oa_opts_init(sip_oa_opts_t *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof(*opts));
    opts->version = -1;
}

static int digits(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

static char *dup_or(const char *s, const char *dflt)
{
    s = s && *s ? s : dflt;
    return sip__oa_dup(s, strlen(s));
}

static void oa_free(sip_oa_t *oa)
{
    /* Up to the capacity: a call that failed half-way may have filled slots past nslots. */
    for (size_t i = 0; i < oa->slots_cap; i++)
        sip__oa_slot_free(&oa->slots[i]);
    free(oa->slots);
    sip_sdp_unref(oa->caps);
    sip_sdp_unref(oa->local);
    sip_sdp_unref(oa->remote);
    sip_sdp_unref(oa->offer);
    free(oa->address);
    free(oa->session_name);
    free(oa->o_username);
    free(oa->o_address);
    free(oa->o_addrtype);
    free(oa);
}

int sip_oa_create(sip_oa_t **out, const sip_oa_opts_t *opts)
{
    sip_oa_t *oa;
    uint64_t id;

    if (out) *out = NULL;
    if (!out || !opts || !opts->address || !*opts->address || opts->version < -1 ||
        (opts->session_id && !digits(opts->session_id, 19)))
        return SIP_EINVAL;
    if (opts->session_id) {
        id = strtoull(opts->session_id, NULL, 10);
    } else {
        /* RFC 8866 §5.2: a sess-id should be unique; 62 random bits also leave room for
         * versions that count up from the same value (an NTP-like start, as §5.2 suggests). */
        char hex[17];
        if (sip_random_hex(64, hex, sizeof(hex)) < 0) return SIP_EIO;
        id = strtoull(hex, NULL, 16) >> 2;
    }
    if (!(oa = calloc(1, sizeof(*oa)))) return SIP_ENOMEM;
    oa->refs = 1;
    oa->addrtype = strchr(opts->address, ':') ? "IP6" : "IP4";
    oa->address = dup_or(opts->address, "");
    oa->session_name = dup_or(opts->session_name, "-");
    oa->o_username = dup_or(opts->username, "-");
    oa->o_address = dup_or(opts->address, "");
    oa->o_addrtype = dup_or(oa->addrtype, "");
    if (opts->session_id)
        snprintf(oa->sess_id, sizeof(oa->sess_id), "%s", opts->session_id);
    else
        snprintf(oa->sess_id, sizeof(oa->sess_id), "%" PRIu64, id);
    oa->version = opts->version >= 0 ? (uint64_t)opts->version : id;
    if (!oa->address || !oa->session_name || !oa->o_username || !oa->o_address || !oa->o_addrtype) {
        oa_free(oa);
        return SIP_ENOMEM;
    }
    /* Catch what sip_sdp_set_origin() and the s= check would refuse now, not at the first offer. */
    sip_sdp_t *probe;
    int rc = sip__oa_skeleton(oa, oa->version, &probe);
    if (rc < 0) {
        oa_free(oa);
        return rc;
    }
    sip_sdp_unref(probe);
    sip__live_inc(SIP_LIVE_OA);
    *out = oa;
    return 0;
}

static int dup_field(char **dst, const char *src)
{
    *dst = src ? sip__oa_dup(src, strlen(src)) : NULL;
    return !src || *dst ? 0 : SIP_ENOMEM;
}

int sip_oa_clone(sip_oa_t **out, const sip_oa_t *oa)
{
    sip_oa_t *c;
    if (out) *out = NULL;
    if (!out || !oa) return SIP_EINVAL;
    if (!(c = calloc(1, sizeof(*c)))) return SIP_ENOMEM;
    c->refs = 1;
    c->addrtype = oa->addrtype;
    memcpy(c->sess_id, oa->sess_id, sizeof(c->sess_id));
    c->version = oa->version;
    c->offer_version = oa->offer_version;
    c->offer_app = oa->offer_app;
    c->caps_changed = oa->caps_changed;
    c->remote_changed = oa->remote_changed;
    c->state = oa->state;
    c->hold = oa->hold;
    /* Descriptions are never edited once a negotiator holds them: sharing is copying. */
    c->caps = oa->caps ? sip_sdp_ref(oa->caps) : NULL;
    c->local = oa->local ? sip_sdp_ref(oa->local) : NULL;
    c->remote = oa->remote ? sip_sdp_ref(oa->remote) : NULL;
    c->offer = oa->offer ? sip_sdp_ref(oa->offer) : NULL;
    if (dup_field(&c->address, oa->address) < 0 ||
        dup_field(&c->session_name, oa->session_name) < 0 ||
        dup_field(&c->o_username, oa->o_username) < 0 ||
        dup_field(&c->o_address, oa->o_address) < 0 ||
        dup_field(&c->o_addrtype, oa->o_addrtype) < 0 || sip__oa_slots_reserve(c, oa->nslots) < 0)
        goto fail;
    for (size_t i = 0; i < oa->nslots; i++) {
        const oa_slot_t *s = &oa->slots[i];
        oa_slot_t *d = &c->slots[i];
        d->caps = s->caps;
        d->active = s->active;
        if (dup_field(&d->type, s->type) < 0 || dup_field(&d->proto, s->proto) < 0 ||
            dup_field(&d->fmts, s->fmts) < 0)
            goto fail;
    }
    c->nslots = oa->nslots;
    sip__live_inc(SIP_LIVE_OA);
    *out = c;
    return 0;
fail:
    oa_free(c);
    return SIP_ENOMEM;
}

sip_oa_t *sip_oa_ref(sip_oa_t *oa)
{
    if (oa) oa->refs++;
    return oa;
}

void sip_oa_unref(sip_oa_t *oa)
{
    if (!oa || --oa->refs > 0) return;
    oa_free(oa);
    sip__live_dec(SIP_LIVE_OA);
}

int sip_oa_set_local(sip_oa_t *oa, sip_sdp_t *caps, sip_oa_error_t *err)
{
    int rc;
    if (!oa || !caps) return sip__oa_fail(err, -1, SIP_EINVAL, "no negotiator or no capabilities");
    if ((rc = sip__oa_check_caps(caps, err)) < 0) return rc;
    if (!oa->local) {
        /* Before the first exchange the streams are the capabilities' m= lines (RFC 3264 §5). */
        size_t n = sip_sdp_media_count(caps);
        if ((rc = sip__oa_slots_reserve(oa, n)) < 0)
            return sip__oa_fail(err, -1, rc, "out of memory");
        for (size_t i = 0; i < n; i++) {
            const sip_sdp_media_t *m = sip_sdp_media_at(caps, i);
            if ((rc = sip__oa_slot_set(&oa->slots[i], m)) < 0)
                return sip__oa_fail(err, -1, rc, "out of memory");
            oa->slots[i].caps = (int)i;
            oa->slots[i].active = sip_sdp_media_get_port(m) != 0;
        }
        for (size_t i = n; i < oa->nslots; i++)
            sip__oa_slot_free(&oa->slots[i]);
        oa->nslots = n;
    } else {
        oa->caps_changed = 1;
    }
    sip_sdp_ref(caps);
    sip_sdp_unref(oa->caps);
    oa->caps = caps;
    return 0;
}

int sip_oa_set_hold(sip_oa_t *oa, int hold)
{
    if (!oa) return SIP_EINVAL;
    oa->hold = hold != 0;
    return 0;
}

int sip_oa_get_hold(const sip_oa_t *oa)
{
    return oa ? oa->hold : SIP_EINVAL;
}

int sip_oa_get_remote_hold(const sip_oa_t *oa)
{
    size_t active = 0;
    if (!oa) return SIP_EINVAL;
    if (!oa->remote || !oa->local) return 0;
    for (size_t i = 0; i < sip_sdp_media_count(oa->remote); i++) {
        const sip_sdp_media_t *r = sip_sdp_media_at(oa->remote, i);
        const sip_sdp_media_t *l = sip_sdp_media_at(oa->local, i);
        if (!l || !sip_sdp_media_get_port(r) || !sip_sdp_media_get_port(l)) continue;
        active++;
        /* RFC 3264 §8.4: the peer holds us when it wants to receive nothing. */
        if (sip__oa_dir_bits(r) & OA_RECV) return 0;
    }
    return active > 0;
}

int sip_oa_get_remote_changed(const sip_oa_t *oa)
{
    return oa ? oa->remote_changed : SIP_EINVAL;
}

int sip_oa_add_media(sip_oa_t *oa, size_t caps_idx)
{
    const sip_sdp_media_t *cm;
    size_t i;
    int rc;

    if (!oa || !oa->caps || !(cm = sip_sdp_media_at(oa->caps, caps_idx))) return SIP_EINVAL;
    /* RFC 3264 §8.1: a disabled slot may carry a new stream, when it is of the same type. */
    for (i = 0; i < oa->nslots; i++)
        if (!oa->slots[i].active &&
            sip_str_caseeq_cstr(sip_sdp_media_get_type(cm), oa->slots[i].type))
            break;
    if (i == oa->nslots) {
        if ((rc = sip__oa_slots_reserve(oa, oa->nslots + 1)) < 0) return rc;
        if ((rc = sip__oa_slot_set(&oa->slots[i], cm)) < 0) return rc;
        oa->nslots++;
    }
    oa->slots[i].caps = (int)caps_idx;
    oa->slots[i].active = 1;
    return (int)i;
}

int sip_oa_remove_media(sip_oa_t *oa, size_t idx)
{
    if (!oa || idx >= oa->nslots) return SIP_EINVAL;
    oa->slots[idx].active = 0;
    return 0;
}

size_t sip_oa_media_count(const sip_oa_t *oa)
{
    return oa ? oa->nslots : 0;
}

sip_oa_state_t sip_oa_get_state(const sip_oa_t *oa)
{
    return oa ? oa->state : SIP_OA_IDLE;
}

const char *sip_oa_state_name(sip_oa_state_t state)
{
    switch (state) {
    case SIP_OA_IDLE: return "idle";
    case SIP_OA_LOCAL_OFFER: return "local_offer";
    case SIP_OA_REMOTE_OFFER: return "remote_offer";
    case SIP_OA_DONE: return "done";
    }
    return NULL;
}

const sip_sdp_t *sip_oa_get_local(const sip_oa_t *oa)
{
    return oa ? oa->local : NULL;
}

const sip_sdp_t *sip_oa_get_remote(const sip_oa_t *oa)
{
    return oa ? oa->remote : NULL;
}

const sip_sdp_t *sip_oa_get_offer(const sip_oa_t *oa)
{
    return oa ? oa->offer : NULL;
}
