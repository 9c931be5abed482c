/* SPDX-License-Identifier: MIT */
/* The peer offers: checking offers and answers (RFC 3264 §5, §6, §8) and answering. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oa/oa_int.h"

#define TYPE(m) (int)sip_sdp_media_get_type(m).len, sip_sdp_media_get_type(m).ptr

/* RFC 3264 §5.1 / RFC 8866 §5.14: the formats of an RTP stream are payload types 0-127. */
static int check_payload_types(const sip_sdp_media_t *m, size_t i, sip_oa_error_t *err)
{
    if (!sip__oa_is_rtp(m)) return 0;
    for (size_t f = 0; f < sip_sdp_media_format_count(m); f++) {
        sip_str_t fmt = sip_sdp_media_format_at(m, f);
        unsigned long pt;
        if (sip_str_to_u32(fmt, 127, &pt) < 0)
            return sip__oa_fail(err, (int)i, SIP_ESDP,
                                "stream %zu (m=%.*s): format %.*s is not an RTP payload type "
                                "(RFC 3264 §5.1)",
                                i, TYPE(m), (int)fmt.len, fmt.ptr);
    }
    return 0;
}

int sip__oa_check_offer(const sip_oa_t *oa, const sip_sdp_t *offer, sip_oa_error_t *err)
{
    size_t n = sip_sdp_media_count(offer), nl = oa->local ? sip_sdp_media_count(oa->local) : 0;
    int rc;
    for (size_t i = 0; i < n; i++) {
        const sip_sdp_media_t *m = sip_sdp_media_at(offer, i);
        if (!sip_sdp_media_get_port(m)) continue;
        if (!sip_sdp_media_get_connection(m))
            return sip__oa_fail(err, (int)i, SIP_ESDP,
                                "stream %zu (m=%.*s): no c= line for it (RFC 8866 §5.7)", i,
                                TYPE(m));
        if ((rc = check_payload_types(m, i, err)) < 0) return rc;
    }
    /* RFC 3264 §8: the m= lines of a session never go away nor move; new ones come last. */
    if (n < nl)
        return sip__oa_fail(err, -1, SIP_ESDP,
                            "the offer has %zu m= lines, the session %zu: a re-offer may not "
                            "remove m= lines (RFC 3264 §8)",
                            n, nl);
    /* §8.3.3 lets a stream change its media type in place (audio to image for T.38 fax): the
     * answer then takes the capabilities of the new type. */
    return 0;
}

int sip__oa_check_answer(const sip_sdp_t *offer, const sip_sdp_t *answer, sip_oa_error_t *err)
{
    size_t n = sip_sdp_media_count(offer), na = sip_sdp_media_count(answer);
    /* RFC 3264 §6: one m= line per offered one, in the same order. */
    if (na != n)
        return sip__oa_fail(err, -1, SIP_ESDP,
                            "the answer has %zu m= lines, the offer %zu (RFC 3264 §6)", na, n);
    for (size_t i = 0; i < n; i++) {
        const sip_sdp_media_t *o = sip_sdp_media_at(offer, i), *a = sip_sdp_media_at(answer, i);
        if (!sip_str_caseeq(sip_sdp_media_get_type(o), sip_sdp_media_get_type(a)))
            return sip__oa_fail(err, (int)i, SIP_ESDP,
                                "stream %zu (m=%.*s): answered as m=%.*s (RFC 3264 §6)", i, TYPE(o),
                                TYPE(a));
        if (!sip_sdp_media_get_port(a)) continue;
        if (!sip_sdp_media_get_port(o))
            return sip__oa_fail(err, (int)i, SIP_ESDP,
                                "stream %zu (m=%.*s): offered with port 0, answered with port %u "
                                "(RFC 3264 §6)",
                                i, TYPE(o), sip_sdp_media_get_port(a));
        if (!sip_str_caseeq(sip_sdp_media_get_proto(o), sip_sdp_media_get_proto(a)))
            return sip__oa_fail(err, (int)i, SIP_ESDP,
                                "stream %zu (m=%.*s): answered with another protocol (RFC 3264 §6)",
                                i, TYPE(o));
        if (!sip_sdp_media_get_connection(a))
            return sip__oa_fail(err, (int)i, SIP_ESDP,
                                "stream %zu (m=%.*s): no c= line for it (RFC 8866 §5.7)", i,
                                TYPE(o));
        int rc = check_payload_types(a, i, err);
        if (rc < 0) return rc;
        /* §6.1: sendonly is answered recvonly or inactive, recvonly sendonly or inactive,
         * inactive inactive. The offer's attribute alone counts: an RFC 2543 peer answers a
         * c=0.0.0.0 hold without one. */
        int offered = sip__oa_attr_bits(o), answered = sip__oa_attr_bits(a);
        int allowed = ((offered & OA_SEND) ? OA_RECV : 0) | ((offered & OA_RECV) ? OA_SEND : 0);
        if (answered & ~allowed)
            return sip__oa_fail(err, (int)i, SIP_ESDP,
                                "stream %zu (m=%.*s): answered %s to an offered %s stream "
                                "(RFC 3264 §6.1)",
                                i, TYPE(o), sip_sdp_dir_name(sip__oa_bits_dir(answered)),
                                sip_sdp_dir_name(sip__oa_bits_dir(offered)));
        /* §6.1: an accepted stream lists at least one offered format (it may add its own). */
        if (!sip__oa_common_format(o, a))
            return sip__oa_fail(err, (int)i, SIP_ESDP,
                                "stream %zu (m=%.*s): accepted with none of the offered formats "
                                "(RFC 3264 §6.1)",
                                i, TYPE(o));
    }
    return 0;
}

int sip_oa_set_remote_offer(sip_oa_t *oa, sip_sdp_t *offer, sip_oa_error_t *err)
{
    int rc;
    if (!oa || !offer) return sip__oa_fail(err, -1, SIP_EINVAL, "no negotiator or no offer");
    if (oa->state == SIP_OA_LOCAL_OFFER)
        return sip__oa_fail(err, -1, SIP_EINVAL,
                            "an offer of ours awaits its answer (glare: RFC 3261 §14.2 "
                            "answers 491)");
    if (oa->state == SIP_OA_REMOTE_OFFER)
        return sip__oa_fail(err, -1, SIP_EINVAL,
                            "a remote offer already awaits its answer (RFC 3261 §14.2 "
                            "answers 500)");
    if ((rc = sip__oa_check_offer(oa, offer, err)) < 0) return rc;
    oa->offer = sip_sdp_ref(offer);
    oa->state = SIP_OA_REMOTE_OFFER;
    return 0;
}

/* Is the capabilities m= line ci usable for the offered stream? */
static int caps_fits(const sip_oa_t *oa, const sip_sdp_media_t *om, const char *used, int ci)
{
    const sip_sdp_media_t *cm = ci >= 0 ? sip_sdp_media_at(oa->caps, (size_t)ci) : NULL;
    return cm && !used[ci] && sip_sdp_media_get_port(cm) &&
           sip_str_caseeq(sip_sdp_media_get_type(cm), sip_sdp_media_get_type(om)) &&
           sip_str_caseeq(sip_sdp_media_get_proto(cm), sip_sdp_media_get_proto(om));
}

/* The formats of om that cm has, each written with the offer's number (RFC 3264 §6.1) and
 * copied from cm's rtpmap/fmtp. Returns the count; *media counts the ones that are not aux. */
static size_t intersect(const sip_sdp_media_t *om, const sip_sdp_media_t *cm, oa_fmtmap_t *map,
                        size_t *media)
{
    size_t n = 0;
    *media = 0;
    for (size_t i = 0; i < sip_sdp_media_format_count(om); i++) {
        sip_str_t f = sip_sdp_media_format_at(om, i);
        oa_codec_t co;
        if (f.len >= sizeof(map[n].out)) continue;
        sip__oa_codec(om, f, &co);
        for (size_t j = 0; j < sip_sdp_media_format_count(cm); j++) {
            sip_str_t g = sip_sdp_media_format_at(cm, j);
            oa_codec_t cc;
            sip__oa_codec(cm, g, &cc);
            if (!sip__oa_codec_match(&co, &cc, f, g)) continue;
            map[n].src = g;
            snprintf(map[n].out, sizeof(map[n].out), "%.*s", (int)f.len, f.ptr);
            n++;
            if (!sip__oa_codec_is_aux(&co)) (*media)++;
            break;
        }
    }
    return n;
}

static int swap_bits(int b)
{
    return ((b & OA_SEND) ? OA_RECV : 0) | ((b & OA_RECV) ? OA_SEND : 0);
}

static void drop_offer(sip_oa_t *oa)
{
    sip_sdp_unref(oa->offer);
    oa->offer = NULL;
    oa->offer_app = 0;
    oa->state = oa->local ? SIP_OA_DONE : SIP_OA_IDLE;
}

/* Completes an exchange the peer offered, with `answer` ours. */
static void complete(sip_oa_t *oa, sip_sdp_t *answer, oa_slot_t *slots, size_t n, uint64_t version)
{
    for (size_t i = 0; i < oa->slots_cap; i++)
        sip__oa_slot_free(&oa->slots[i]);
    free(oa->slots);
    oa->slots = slots;
    oa->nslots = n;
    oa->slots_cap = n ? n : 1;
    oa->remote_changed = !sip__oa_same(oa->remote, oa->offer);
    sip_sdp_unref(oa->local);
    sip_sdp_unref(oa->remote);
    oa->local = answer;
    oa->remote = oa->offer;
    oa->offer = NULL;
    oa->version = version;
    oa->caps_changed = 0;
    oa->state = SIP_OA_DONE;
}

static void free_slots(oa_slot_t *slots, size_t n)
{
    if (!slots) return;
    for (size_t i = 0; i < n; i++)
        sip__oa_slot_free(&slots[i]);
    free(slots);
}

int sip_oa_create_answer(sip_oa_t *oa, sip_sdp_t **out, sip_oa_error_t *err)
{
    sip_sdp_t *sdp = NULL;
    oa_slot_t *slots = NULL;
    oa_fmtmap_t *map = NULL;
    char *used = NULL, why[160] = "";
    size_t n, offered = 0, accepted = 0, nc;
    uint64_t version;
    int rc, why_stream = -1;

    if (out) *out = NULL;
    if (!oa || !out) return sip__oa_fail(err, -1, SIP_EINVAL, "no negotiator or no out");
    if (oa->state != SIP_OA_REMOTE_OFFER)
        return sip__oa_fail(err, -1, SIP_EINVAL, "no remote offer awaits an answer (state %s)",
                            sip_oa_state_name(oa->state));
    if (!oa->caps)
        return sip__oa_fail(err, -1, SIP_EINVAL, "no local capabilities (sip_oa_set_local)");
    n = sip_sdp_media_count(oa->offer);
    nc = sip_sdp_media_count(oa->caps);
    slots = calloc(n ? n : 1, sizeof(*slots));
    used = calloc(nc ? nc : 1, 1);
    rc = SIP_ENOMEM;
    if (!slots || !used || (rc = sip__oa_skeleton(oa, oa->version, &sdp)) < 0) goto fail;
    for (size_t i = 0; i < n; i++) {
        const sip_sdp_media_t *om = sip_sdp_media_at(oa->offer, i), *cm = NULL;
        size_t nf = sip_sdp_media_format_count(om), nmap = 0, media = 0;
        int ci = -1, prefer = i < oa->nslots ? oa->slots[i].caps : -1;
        slots[i].caps = -1;
        free(map);
        if (!(map = calloc(nf ? nf : 1, sizeof(*map)))) {
            rc = SIP_ENOMEM;
            goto fail;
        }
        if (sip_sdp_media_get_port(om)) {
            offered++;
            /* The stream's own capabilities line first, then the others in order. */
            for (int k = -1; k < (int)nc && !media; k++) {
                int c = k < 0 ? prefer : k;
                if ((k >= 0 && c == prefer) || !caps_fits(oa, om, used, c)) continue;
                cm = sip_sdp_media_at(oa->caps, (size_t)c);
                nmap = intersect(om, cm, map, &media);
                ci = c;
            }
            if (!media && why[0] == '\0') {
                why_stream = (int)i;
                if (ci < 0)
                    snprintf(why, sizeof(why),
                             "stream %zu (m=%.*s %.*s): no such media in the local capabilities", i,
                             TYPE(om), (int)sip_sdp_media_get_proto(om).len,
                             sip_sdp_media_get_proto(om).ptr);
                else
                    snprintf(why, sizeof(why), "stream %zu (m=%.*s): no format in common", i,
                             TYPE(om));
            }
        }
        if (media) {
            int bits = swap_bits(sip__oa_dir_bits(om)) & sip__oa_dir_bits(cm);
            if (oa->hold) bits &= ~OA_RECV;
            rc = sip__oa_copy_media(sdp, cm, sip_sdp_media_get_port(cm), map, nmap,
                                    sip__oa_bits_dir(bits));
            used[ci] = 1;
            slots[i].caps = ci;
            slots[i].active = 1;
        } else {
            /* RFC 3264 §6: a refused stream is answered port 0 with the offered formats. */
            char *fm;
            rc = sip__oa_slot_set(&slots[i], om);
            fm = rc < 0 ? NULL : slots[i].fmts;
            if (fm) rc = sip__oa_add_disabled(sdp, slots[i].type, slots[i].proto, fm);
            slots[i].caps = prefer;
        }
        if (rc < 0) goto fail;
        if (media) accepted++;
        if ((rc = sip__oa_slot_set(&slots[i], sip_sdp_media_at(sdp, i))) < 0) goto fail;
    }
    if (offered && !accepted) {
        /* RFC 3261 §13.3.1.1 / RFC 3264 §6: nothing to answer with: 488 Not Acceptable Here. */
        rc = sip__oa_fail(err, offered == 1 ? why_stream : -1, SIP_ENOTACCEPTABLE,
                          "no offered stream can be accepted (488): %s", why);
        drop_offer(oa);
        goto out;
    }
    if ((rc = sip__oa_stamp(oa, &sdp, &version)) < 0) goto fail;
    complete(oa, sdp, slots, n, version);
    *out = sip_sdp_ref(sdp);
    free(map);
    free(used);
    return 0;
fail:
    rc = sip__oa_fail(err, -1, rc == SIP_ENOMEM ? rc : SIP_EINVAL, "could not build the answer: %s",
                      sip_strerror(rc));
out:
    free_slots(slots, n);
    free(map);
    free(used);
    sip_sdp_unref(sdp);
    return rc;
}

int sip_oa_set_local_answer(sip_oa_t *oa, sip_sdp_t *answer, sip_oa_error_t *err)
{
    oa_slot_t *slots;
    size_t n;
    uint64_t version;
    int rc;

    if (!oa || !answer) return sip__oa_fail(err, -1, SIP_EINVAL, "no negotiator or no answer");
    if (oa->state != SIP_OA_REMOTE_OFFER)
        return sip__oa_fail(err, -1, SIP_EINVAL, "no remote offer awaits an answer (state %s)",
                            sip_oa_state_name(oa->state));
    if ((rc = sip__oa_check_answer(oa->offer, answer, err)) < 0) return rc;
    n = sip_sdp_media_count(answer);
    if (!(slots = calloc(n ? n : 1, sizeof(*slots))))
        return sip__oa_fail(err, -1, SIP_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const sip_sdp_media_t *am = sip_sdp_media_at(answer, i);
        slots[i].caps = sip__oa_caps_for(oa, am);
        slots[i].active = sip_sdp_media_get_port(am) != 0;
        if ((rc = sip__oa_slot_set(&slots[i], am)) < 0) {
            free_slots(slots, n);
            return sip__oa_fail(err, -1, rc, "out of memory");
        }
    }
    /* Later descriptions continue the application's o= (RFC 3264 §8: same id, version + 1). */
    version = oa->version;
    if ((rc = sip__oa_adopt_origin(oa, answer, &version)) < 0) {
        free_slots(slots, n);
        return sip__oa_fail(err, -1, rc, "out of memory");
    }
    complete(oa, sip_sdp_ref(answer), slots, n, version);
    return 0;
}

int sip_oa_cancel_offer(sip_oa_t *oa)
{
    if (!oa) return SIP_EINVAL;
    if (oa->state != SIP_OA_LOCAL_OFFER && oa->state != SIP_OA_REMOTE_OFFER) return SIP_ENOENT;
    drop_offer(oa);
    return 0;
}
