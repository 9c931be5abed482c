/* SPDX-License-Identifier: MIT */
/* RFC 4028 session timers: negotiation of the interval and the refresher, 422, timing. */
#include <stdio.h>
#include <string.h>

#include "call/ext.h"
#include "call/timer.h"

/* A peer that answers every retry with a slightly larger Min-SE must not keep the call setup
 * going for ever (RFC 4028 §7.3 only says the UAC MAY retry). */
#define MAX_422 4

static uint32_t max_u32(uint32_t a, uint32_t b)
{
    return a > b ? a : b;
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/* RFC 4028 §5: no Min-SE below 90 s, whatever the configuration says. */
static uint32_t cfg_min_se(const sip__timer_cfg_t *cfg)
{
    return max_u32(cfg->min_se, SIP__TIMER_MIN_SE);
}

static uint32_t cfg_se(const sip__timer_cfg_t *cfg)
{
    uint32_t se = cfg->session_expires ? cfg->session_expires : SIP__TIMER_DEFAULT_SE;
    return max_u32(se, cfg_min_se(cfg));
}

static const sip_num_t *num_header(const sip_msg_t *msg, sip_hdr_id_t id)
{
    return sip_header_num(sip_msg_header_at(msg, id, 0));
}

static sip__refresher_t refresher_param(const sip_num_t *se)
{
    sip_str_t v;
    if (!se || !sip_params_get(se->params, "refresher", &v)) return SIP__REFRESHER_NONE;
    if (sip_str_caseeq_cstr(v, "uac")) return SIP__REFRESHER_UAC;
    if (sip_str_caseeq_cstr(v, "uas")) return SIP__REFRESHER_UAS;
    return SIP__REFRESHER_NONE;
}

/* The preference as "this side" (1), "the peer" (-1) or no say (0). */
static int prefers_local(const sip__timer_cfg_t *cfg, int is_caller)
{
    switch (cfg->prefer) {
    case SIP__TIMER_PREFER_LOCAL: return 1;
    case SIP__TIMER_PREFER_REMOTE: return -1;
    case SIP__TIMER_PREFER_UAC: return is_caller ? 1 : -1;
    case SIP__TIMER_PREFER_UAS: return is_caller ? -1 : 1;
    default: return 0;
    }
}

void sip__timer_cfg_init(sip__timer_cfg_t *cfg)
{
    if (!cfg) return;
    memset(cfg, 0, sizeof(*cfg));
    cfg->mode = SIP__TIMER_SUPPORTED;
    cfg->session_expires = SIP__TIMER_DEFAULT_SE;
    cfg->min_se = SIP__TIMER_MIN_SE;
    cfg->prefer = SIP__TIMER_PREFER_ANY;
}

void sip__timer_init(sip__timer_t *t, const sip__timer_cfg_t *cfg, int is_caller)
{
    if (!t || !cfg) return;
    memset(t, 0, sizeof(*t));
    t->min_se = cfg_min_se(cfg);
    t->request_se = cfg_se(cfg);
    t->is_caller = is_caller ? 1 : 0;
}

void sip__timer_uac_request(const sip__timer_t *t, const sip__timer_cfg_t *cfg,
                            sip__timer_hdrs_t *out)
{
    if (!out) return;
    memset(out, 0, sizeof(*out));
    if (!t || !cfg || cfg->mode == SIP__TIMER_OFF) return;
    /* §7.1: a UAC that supports the extension lists "timer" in Supported of every request; it
     * MAY also Require it. */
    out->supported = SIP__EXT_TIMER;
    if (cfg->mode == SIP__TIMER_REQUIRED) out->require = SIP__EXT_TIMER;
    if (t->interval) {
        /* §7.4: a refresh carries the interval in force and names the refresher as it stands:
         * uac when the sender refreshes, uas when the receiver does, so roles stay put. */
        out->session_expires = t->interval;
        out->refresher = t->local_refresher ? SIP__REFRESHER_UAC : SIP__REFRESHER_UAS;
    } else {
        /* §7.1: the initial request MAY name a refresher; without a preference it is left out,
         * as recommended, for the UAS to choose (§9). */
        out->session_expires = t->request_se;
        int pref = prefers_local(cfg, t->is_caller);
        out->refresher = pref > 0   ? SIP__REFRESHER_UAC
                         : pref < 0 ? SIP__REFRESHER_UAS
                                    : SIP__REFRESHER_NONE;
    }
    /* §7.1/§7.4: Min-SE carries the largest of our own minimum, any 422's and the peer's. */
    out->min_se = t->min_se;
}

int sip__timer_uas_request(const sip__timer_t *t, const sip__timer_cfg_t *cfg, const sip_msg_t *req,
                           sip__timer_neg_t *out)
{
    if (!out) return SIP_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!t || !cfg || !req || !sip_msg_is_request(req)) return SIP_EINVAL;
    int required = sip__ext_has(req, SIP_HDR_REQUIRE, "timer");
    int uac_supports = required || sip__ext_has(req, SIP_HDR_SUPPORTED, "timer");
    out->min_se = t->min_se;
    if (cfg->mode == SIP__TIMER_OFF) {
        /* RFC 3261 §8.2.2.3: a required extension this side lacks is a 420. Otherwise the
         * request is served without a timer: the 2xx carries no Session-Expires, which tells
         * the UAC (§7.2) to refresh by itself if it still wants a timer. */
        out->status = required ? 420 : 0;
        return out->status;
    }
    out->hdrs.supported = SIP__EXT_TIMER;
    const sip_num_t *se = num_header(req, SIP_HDR_SESSION_EXPIRES);
    const sip_num_t *mse = num_header(req, SIP_HDR_MIN_SE);
    uint32_t req_min = mse ? max_u32(mse->value, SIP__TIMER_MIN_SE) : SIP__TIMER_MIN_SE;
    /* §9: never below the request's Min-SE (90 without one), nor below our own minimum. */
    uint32_t floor = max_u32(cfg_min_se(cfg), req_min);
    out->min_se = max_u32(t->min_se, req_min);
    uint32_t interval;
    sip__refresher_t refresher;
    if (se) {
        interval = se->value;
        if (interval < floor) {
            if (uac_supports) {
                /* §9: too small an interval is rejected with 422 and the Min-SE we accept. */
                out->status = 422;
                out->hdrs.min_se = floor;
                return out->status;
            }
            /* A proxy asked for the timer on behalf of a UAC that cannot take a 422 (it would
             * fail the call): raise the interval instead, as §8.1 has proxies do (RFC 4028
             * erratum 1687 asks the same of a UAS). */
            interval = floor;
        } else {
            /* §9: the UAS MAY lower the interval (to what it grants) but not below the floor,
             * and MUST NOT raise it. */
            interval = min_u32(interval, max_u32(cfg_se(cfg), floor));
        }
    } else if (cfg->mode >= SIP__TIMER_ALWAYS) {
        /* The UAC asked for no timer (§7.2 has UACs ready for a Session-Expires in the 2xx all
         * the same); this side wants one. */
        interval = max_u32(cfg_se(cfg), floor);
    } else {
        /* No timer asked for and none wanted: the 2xx carries none, which also ends a timer a
         * re-INVITE or UPDATE leaves out (§7.2). */
        return 0;
    }
    /* §9 table 2: the UAS copies a refresher the request names; a UAC without "timer" cannot
     * refresh, so then the UAS does; otherwise the UAS chooses. */
    sip__refresher_t asked = refresher_param(se);
    if (!uac_supports) {
        refresher = SIP__REFRESHER_UAS;
    } else if (asked != SIP__REFRESHER_NONE) {
        refresher = asked;
    } else if (t->interval) {
        /* A refresh without a refresher param: keep the roles that run now. */
        refresher = t->local_refresher ? SIP__REFRESHER_UAS : SIP__REFRESHER_UAC;
    } else {
        int pref = prefers_local(cfg, t->is_caller);
        refresher = pref > 0 ? SIP__REFRESHER_UAS : SIP__REFRESHER_UAC;
    }
    out->interval = interval;
    out->refresher = refresher;
    out->hdrs.session_expires = interval;
    out->hdrs.refresher = refresher;
    /* §9: Require: timer MUST be in the 2xx when the UAC refreshes and SHOULD be when the UAS
     * does and the UAC supports the extension; either way, exactly when the UAC supports it
     * (a UAC without it is never the refresher). */
    if (uac_supports) out->hdrs.require = SIP__EXT_TIMER;
    return 0;
}

int sip__timer_uac_response(const sip__timer_t *t, const sip__timer_cfg_t *cfg,
                            const sip_msg_t *req, const sip_msg_t *rsp, sip__timer_neg_t *out)
{
    if (!out) return SIP_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!t || !cfg || !req || !rsp) return SIP_EINVAL;
    int status = sip_msg_get_status(rsp);
    if (status < 200 || status > 299) return SIP_EINVAL;
    out->min_se = t->min_se;
    if (cfg->mode == SIP__TIMER_OFF) return 0;
    const sip_num_t *sent = num_header(req, SIP_HDR_SESSION_EXPIRES);
    const sip_num_t *sent_min = num_header(req, SIP_HDR_MIN_SE);
    const sip_num_t *se = num_header(rsp, SIP_HDR_SESSION_EXPIRES);
    if (se) {
        /* §7.2: the 2xx's Session-Expires is the interval and its refresher param says who
         * refreshes. §9 keeps a UAS from going below the request's Min-SE (or 90): a smaller
         * value from a broken peer is read as that floor rather than refreshing too often. */
        uint32_t floor = sent_min ? max_u32(sent_min->value, SIP__TIMER_MIN_SE) : SIP__TIMER_MIN_SE;
        out->interval = max_u32(se->value, floor);
        out->refresher = refresher_param(se);
        /* §7.2 promises the param with Require: timer; without one nobody else has taken the
         * refreshes on, so the UAC does as it would without any Session-Expires. */
        if (out->refresher == SIP__REFRESHER_NONE) out->refresher = SIP__REFRESHER_UAC;
        return 0;
    }
    if (sent && cfg->mode >= SIP__TIMER_ALWAYS) {
        /* §7.2: the UAS does not support the extension and no proxy asked for it; a UAC that
         * still wants the timer refreshes itself, as if the 2xx had carried its own
         * Session-Expires with refresher=uac. */
        out->interval = sent->value;
        out->refresher = SIP__REFRESHER_UAC;
        return 0;
    }
    /* §7.2: no Session-Expires in the 2xx, no session expiration (also mid-dialog: the timer
     * is turned off). */
    return 0;
}

int sip__timer_uac_422(sip__timer_t *t, const sip_msg_t *req, const sip_msg_t *rsp)
{
    if (!t || !req || !rsp || sip_msg_get_status(rsp) != 422) return SIP_EINVAL;
    const sip_num_t *mse = num_header(rsp, SIP_HDR_MIN_SE);
    /* §6: a 422 MUST carry Min-SE; without it a retry cannot know what to ask for. */
    if (!mse) return 0;
    uint32_t want = max_u32(mse->value, SIP__TIMER_MIN_SE);
    const sip_num_t *sent = num_header(req, SIP_HDR_SESSION_EXPIRES);
    /* A retry that would ask for what was just refused would loop. */
    if (sent && sent->value >= want) return 0;
    if (t->n422 >= MAX_422) return 0;
    t->n422++;
    /* §7.3: the retry's Min-SE is the largest any 422 gave (this session keeps it for its
     * later refreshes too, §7.4), and its Session-Expires at least that. */
    t->min_se = max_u32(t->min_se, want);
    t->request_se = max_u32(t->request_se, want);
    if (t->interval) t->interval = max_u32(t->interval, want);
    return 1;
}

void sip__timer_commit(sip__timer_t *t, const sip__timer_neg_t *n, int local_is_uac)
{
    if (!t || !n) return;
    t->n422 = 0;
    t->min_se = max_u32(t->min_se, n->min_se);
    t->interval = n->interval;
    if (!n->interval) {
        t->local_refresher = 0;
        return;
    }
    int uac_refreshes = n->refresher != SIP__REFRESHER_UAS;
    t->local_refresher = (uac_refreshes == (local_is_uac != 0)) ? 1 : 0;
}

int sip__timer_format_se(uint32_t se, sip__refresher_t refresher, char *buf, size_t size)
{
    const char *param = refresher == SIP__REFRESHER_UAC   ? ";refresher=uac"
                        : refresher == SIP__REFRESHER_UAS ? ";refresher=uas"
                                                          : "";
    int n = snprintf(buf, size, "%u%s", (unsigned)se, param);
    if (n < 0 || (size_t)n >= size) {
        if (buf && size) buf[0] = '\0';
        return SIP_ENOSPC;
    }
    return n;
}

int sip__timer_add_headers(sip_msg_t *msg, const sip__timer_hdrs_t *h)
{
    if (!msg || !h) return SIP_EINVAL;
    char buf[48];
    int rc;
    size_t before = sip_msg_header_count(msg, SIP_HDR_SESSION_EXPIRES);
    if (h->session_expires) {
        rc = sip__timer_format_se(h->session_expires, h->refresher, buf, sizeof(buf));
        if (rc < 0) return rc;
        if ((rc = sip_msg_add_header(msg, "Session-Expires", buf)) < 0) return rc;
    }
    if (h->min_se) {
        snprintf(buf, sizeof(buf), "%u", (unsigned)h->min_se);
        if ((rc = sip_msg_add_header(msg, "Min-SE", buf)) < 0) {
            /* All or nothing: a Session-Expires without its Min-SE would ask for less. */
            if (h->session_expires) sip_msg_remove_header(msg, "Session-Expires", before);
            return rc;
        }
    }
    return 0;
}

uint64_t sip__timer_refresh_ms(uint32_t interval)
{
    /* §10: "it is RECOMMENDED that this refresh be sent once half the session interval has
     * elapsed". */
    return (uint64_t)interval * 500;
}

uint64_t sip__timer_expire_ms(uint32_t interval)
{
    /* §10: the BYE goes min(32, interval / 3) seconds before the session would expire, so it
     * arrives while proxies still hold the session's state. */
    return ((uint64_t)interval - min_u32(32, interval / 3)) * 1000;
}

uint64_t sip__timer_next_ms(const sip__timer_t *t)
{
    if (!t || !t->interval) return 0;
    return t->local_refresher ? sip__timer_refresh_ms(t->interval)
                              : sip__timer_expire_ms(t->interval);
}

int sip__timer_refresh_fatal(int status)
{
    /* §10: a refresh that times out or gets 408 or 481 ends the session with a BYE. */
    return status == 0 || status == 408 || status == 481;
}
