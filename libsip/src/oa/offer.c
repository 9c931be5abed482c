/* SPDX-License-Identifier: MIT */
/* Our side offers: the first offer, re-offers (RFC 3264 §5, §8) and the answers they get. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oa/oa_int.h"

/* The active m= line of a description at a slot, or NULL when absent or port 0. */
static const sip_sdp_media_t *active_at(const sip_sdp_t *sdp, size_t i)
{
    const sip_sdp_media_t *m = sdp ? sip_sdp_media_at(sdp, i) : NULL;
    return m && sip_sdp_media_get_port(m) ? m : NULL;
}

static int pt_used(const sip_sdp_media_t *lm, const oa_fmtmap_t *map, size_t n, const char *pt)
{
    sip_str_t p = sip_str_from_cstr(pt);
    for (size_t i = 0; i < n; i++)
        if (strcmp(map[i].out, pt) == 0) return 1;
    if (lm)
        for (size_t i = 0; i < sip_sdp_media_format_count(lm); i++)
            if (sip_str_eq(sip_sdp_media_format_at(lm, i), p)) return 1;
    return 0;
}

/* The formats of a capabilities m= line, with the payload types the session already gave the
 * same codecs (RFC 3264 §8.3.2: a mapping stays for the session's life) and fresh dynamic ones
 * where a capability number is taken by another codec. */
static int caps_map(const sip_sdp_media_t *cm, const sip_sdp_media_t *lm, oa_fmtmap_t *map)
{
    size_t n = sip_sdp_media_format_count(cm), out = 0;
    for (size_t i = 0; i < n; i++) {
        sip_str_t f = sip_sdp_media_format_at(cm, i);
        oa_codec_t cc;
        int done = 0;
        if (f.len >= sizeof(map[out].out)) continue; /* longer than any format worth offering */
        map[out].src = f;
        sip__oa_codec(cm, f, &cc);
        for (size_t j = 0; lm && cc.pt >= 0 && j < sip_sdp_media_format_count(lm); j++) {
            sip_str_t g = sip_sdp_media_format_at(lm, j);
            oa_codec_t lc;
            sip__oa_codec(lm, g, &lc);
            if (g.len < sizeof(map[out].out) && sip__oa_codec_match(&cc, &lc, f, g)) {
                snprintf(map[out].out, sizeof(map[out].out), "%.*s", (int)g.len, g.ptr);
                if (!pt_used(NULL, map, out, map[out].out)) done = 1;
                break;
            }
        }
        if (!done) {
            snprintf(map[out].out, sizeof(map[out].out), "%.*s", (int)f.len, f.ptr);
            if (cc.pt >= 96 && pt_used(lm, map, out, map[out].out)) {
                int pt = 96;
                for (; pt <= 127; pt++) {
                    char b[16];
                    snprintf(b, sizeof(b), "%d", pt);
                    if (!pt_used(lm, map, out, b)) break;
                }
                if (pt > 127) continue; /* every dynamic number taken: leave this one out */
                snprintf(map[out].out, sizeof(map[out].out), "%d", pt);
            }
        }
        out++;
    }
    return (int)out;
}

static int offer_stream(sip_oa_t *oa, sip_sdp_t *sdp, size_t i)
{
    oa_slot_t *s = &oa->slots[i];
    const sip_sdp_media_t *cm =
        s->caps >= 0 && oa->caps ? sip_sdp_media_at(oa->caps, (size_t)s->caps) : NULL;
    const sip_sdp_media_t *lm = active_at(oa->local, i), *rm = active_at(oa->remote, i);
    const sip_sdp_media_t *base;
    oa_fmtmap_t *map;
    size_t n;
    unsigned port;
    int rc, bits;

    if (!s->active || (!cm && !lm) || (cm && !sip_sdp_media_get_port(cm) && !lm))
        return sip__oa_add_disabled(sdp, s->type, s->proto, s->fmts);
    /* RFC 3264 §8: a re-offer repeats the stream as the session has it (PJSIP does the same),
     * unless the capabilities changed since. */
    base = lm && (!oa->caps_changed || !cm) ? lm : cm;
    n = sip_sdp_media_format_count(base);
    map = calloc(n ? n : 1, sizeof(*map));
    if (!map) return SIP_ENOMEM;
    if (base == cm) {
        n = (size_t)caps_map(cm, lm, map);
    } else {
        size_t k = 0;
        for (size_t f = 0; f < n; f++) {
            sip_str_t v = sip_sdp_media_format_at(lm, f);
            if (v.len >= sizeof(map[k].out)) continue;
            map[k].src = v;
            snprintf(map[k].out, sizeof(map[k].out), "%.*s", (int)v.len, v.ptr);
            k++;
        }
        n = k;
    }
    port = sip_sdp_media_get_port(cm ? cm : lm);
    bits = cm ? sip__oa_dir_bits(cm) : OA_SEND | OA_RECV;
    if (oa->hold) {
        /* RFC 3264 §8.4: hold is sendonly; inactive when the peer already holds us. */
        bits &= ~OA_RECV;
        if (rm && !(sip__oa_dir_bits(rm) & OA_RECV)) bits &= ~OA_SEND;
    }
    if (n == 0)
        rc = sip__oa_add_disabled(sdp, s->type, s->proto, s->fmts);
    else
        rc = sip__oa_copy_media(sdp, base, port, map, n, sip__oa_bits_dir(bits));
    free(map);
    return rc;
}

int sip_oa_create_offer(sip_oa_t *oa, sip_sdp_t **out, sip_oa_error_t *err)
{
    sip_sdp_t *sdp = NULL;
    uint64_t version;
    int rc;

    if (out) *out = NULL;
    if (!oa || !out) return sip__oa_fail(err, -1, SIP_EINVAL, "no negotiator or no out");
    if (oa->state == SIP_OA_LOCAL_OFFER) {
        *out = sip_sdp_ref(oa->offer);
        return 0;
    }
    if (oa->state == SIP_OA_REMOTE_OFFER)
        return sip__oa_fail(err, -1, SIP_EINVAL,
                            "a remote offer awaits its answer (RFC 3264 §4: one offer at a time)");
    if (!oa->caps && !oa->local)
        return sip__oa_fail(err, -1, SIP_EINVAL, "no local capabilities (sip_oa_set_local)");
    if ((rc = sip__oa_skeleton(oa, oa->version, &sdp)) < 0) goto fail;
    for (size_t i = 0; i < oa->nslots; i++)
        if ((rc = offer_stream(oa, sdp, i)) < 0) goto fail;
    if ((rc = sip__oa_stamp(oa, &sdp, &version)) < 0) goto fail;
    oa->offer = sdp;
    oa->offer_version = version;
    oa->state = SIP_OA_LOCAL_OFFER;
    *out = sip_sdp_ref(sdp);
    return 0;
fail:
    sip_sdp_unref(sdp);
    return sip__oa_fail(err, -1, rc == SIP_ENOMEM ? rc : SIP_EINVAL,
                        "could not build the offer: %s", sip_strerror(rc));
}

int sip_oa_set_remote_answer(sip_oa_t *oa, sip_sdp_t *answer, sip_oa_error_t *err)
{
    int rc;
    if (!oa || !answer) return sip__oa_fail(err, -1, SIP_EINVAL, "no negotiator or no answer");
    if (oa->state != SIP_OA_LOCAL_OFFER)
        return sip__oa_fail(err, -1, SIP_EINVAL, "no offer of ours awaits an answer (state %s)",
                            sip_oa_state_name(oa->state));
    if ((rc = sip__oa_check_answer(oa->offer, answer, err)) < 0) return rc;
    size_t n = sip_sdp_media_count(oa->offer);
    uint64_t version = oa->offer_version;
    if ((rc = sip__oa_slots_reserve(oa, n)) < 0) return sip__oa_fail(err, -1, rc, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const sip_sdp_media_t *om = sip_sdp_media_at(oa->offer, i);
        if ((rc = sip__oa_slot_set(&oa->slots[i], om)) < 0)
            return sip__oa_fail(err, -1, rc, "out of memory");
    }
    /* An application's offer: later descriptions continue its o= (RFC 3264 §8). */
    if (oa->offer_app && (rc = sip__oa_adopt_origin(oa, oa->offer, &version)) < 0)
        return sip__oa_fail(err, -1, rc, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const sip_sdp_media_t *om = sip_sdp_media_at(oa->offer, i);
        const sip_sdp_media_t *am = sip_sdp_media_at(answer, i);
        if (i >= oa->nslots || oa->offer_app) oa->slots[i].caps = sip__oa_caps_for(oa, om);
        /* RFC 3264 §6: port 0 in the answer rejects the stream. */
        oa->slots[i].active = sip_sdp_media_get_port(om) && sip_sdp_media_get_port(am);
    }
    for (size_t i = n; i < oa->nslots; i++)
        sip__oa_slot_free(&oa->slots[i]);
    oa->nslots = n;
    oa->remote_changed = !sip__oa_same(oa->remote, answer);
    sip_sdp_unref(oa->local);
    sip_sdp_unref(oa->remote);
    oa->local = oa->offer;
    oa->remote = sip_sdp_ref(answer);
    oa->offer = NULL;
    oa->offer_app = 0;
    oa->version = version;
    oa->caps_changed = 0;
    oa->state = SIP_OA_DONE;
    return 0;
}

int sip_oa_set_local_offer(sip_oa_t *oa, sip_sdp_t *offer, sip_oa_error_t *err)
{
    int rc;
    if (!oa || !offer) return sip__oa_fail(err, -1, SIP_EINVAL, "no negotiator or no offer");
    if (oa->state == SIP_OA_LOCAL_OFFER || oa->state == SIP_OA_REMOTE_OFFER)
        return sip__oa_fail(err, -1, SIP_EINVAL,
                            "an offer is already in flight (state %s; RFC 3264 §4: one offer at "
                            "a time)",
                            sip_oa_state_name(oa->state));
    /* The rules a re-offer keeps are the same whoever wrote it (RFC 3264 §8). */
    if ((rc = sip__oa_check_offer(oa, offer, err)) < 0) return rc;
    oa->offer = sip_sdp_ref(offer);
    oa->offer_app = 1;
    oa->state = SIP_OA_LOCAL_OFFER;
    return 0;
}
