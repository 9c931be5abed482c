/* SPDX-License-Identifier: MIT */
/* Transaction state changes: each one checked against RFC 3261 §17 (figures 5-8) as RFC 6026
 * amends them, and logged at trace level. */
#include <assert.h>

#include "txn/txn_int.h"

#define B(s) (1u << (s))

/* Where each state may go, by kind of transaction (SIP__TXN_KIND_*). Terminated is reachable
 * from every state: besides the figures' timers and transport errors, the TU or the layer may
 * close a transaction at any time (sip_txn_close(), sip_txn_layer_close()). A Proceeding that
 * stays Proceeding is the figures' loop on further provisional responses. */
static const uint8_t next[4][SIP__TXN_NEW + 1] = {
    [SIP__TXN_KIND_INVITE_CLIENT] =
        {
            /* Figure 5 with RFC 6026 §8.4 (2xx: Accepted, not Terminated). */
            [SIP__TXN_NEW] = B(SIP_TXN_CALLING),
            [SIP_TXN_CALLING] = B(SIP_TXN_PROCEEDING) | B(SIP_TXN_COMPLETED) | B(SIP_TXN_ACCEPTED),
            [SIP_TXN_PROCEEDING] =
                B(SIP_TXN_PROCEEDING) | B(SIP_TXN_COMPLETED) | B(SIP_TXN_ACCEPTED),
        },
    [SIP__TXN_KIND_NON_INVITE_CLIENT] =
        {
            /* Figure 6. */
            [SIP__TXN_NEW] = B(SIP_TXN_TRYING),
            [SIP_TXN_TRYING] = B(SIP_TXN_PROCEEDING) | B(SIP_TXN_COMPLETED),
            [SIP_TXN_PROCEEDING] = B(SIP_TXN_PROCEEDING) | B(SIP_TXN_COMPLETED),
        },
    [SIP__TXN_KIND_INVITE_SERVER] =
        {
            /* Figure 7 with RFC 6026 §8.5 (2xx from the TU: Accepted, not Terminated). */
            [SIP__TXN_NEW] = B(SIP_TXN_PROCEEDING),
            [SIP_TXN_PROCEEDING] =
                B(SIP_TXN_PROCEEDING) | B(SIP_TXN_COMPLETED) | B(SIP_TXN_ACCEPTED),
            [SIP_TXN_COMPLETED] = B(SIP_TXN_CONFIRMED),
        },
    [SIP__TXN_KIND_NON_INVITE_SERVER] =
        {
            /* Figure 8. */
            [SIP__TXN_NEW] = B(SIP_TXN_TRYING),
            [SIP_TXN_TRYING] = B(SIP_TXN_PROCEEDING) | B(SIP_TXN_COMPLETED),
            [SIP_TXN_PROCEEDING] = B(SIP_TXN_PROCEEDING) | B(SIP_TXN_COMPLETED),
        },
};

int sip__txn_kind(const sip_txn_t *t)
{
    int client = (t->flags & SIP__TXN_CLIENT) != 0, invite = (t->flags & SIP__TXN_INVITE) != 0;
    return client ? (invite ? SIP__TXN_KIND_INVITE_CLIENT : SIP__TXN_KIND_NON_INVITE_CLIENT)
                  : (invite ? SIP__TXN_KIND_INVITE_SERVER : SIP__TXN_KIND_NON_INVITE_SERVER);
}

int sip__txn_transition_ok(int kind, unsigned from, unsigned to)
{
    if (kind < 0 || kind > 3 || from > SIP__TXN_NEW || to > SIP_TXN_TERMINATED) return 0;
    if (to == SIP_TXN_TERMINATED) return from != SIP_TXN_TERMINATED;
    return (next[kind][from] & B(to)) != 0;
}

static const char *state_name(unsigned s)
{
    return s == SIP__TXN_NEW ? "(new)" : sip_txn_state_name((sip_txn_state_t)s);
}

void sip__txn_set_state(sip_txn_t *t, sip_txn_state_t to)
{
    unsigned from = t->state;
    int ok = sip__txn_transition_ok(sip__txn_kind(t), from, (unsigned)to);
    t->state = (uint8_t)to;
    sip_loop_t *loop = t->layer ? t->layer->loop : NULL;
    if (from == (unsigned)to && ok) return; /* another provisional: no change */
    static const char *const kinds[] = {"INVITE client", "non-INVITE client", "INVITE server",
                                        "non-INVITE server"};
    const char *kind = kinds[sip__txn_kind(t)];
    const sip_str_t br = t->key.branch;
    if (!ok) {
        /* A bug in this layer: stop in debug builds; in release the change stands (refusing it
         * could leave the transaction stuck) and the log says what happened. */
        sip_log(loop, SIP_LOG_ERROR, "txn", "%s %.*s: illegal state change %s -> %s", kind,
                (int)br.len, br.ptr ? br.ptr : "", state_name(from), state_name((unsigned)to));
        assert(!"illegal transaction state change (RFC 3261 §17, RFC 6026)");
        return;
    }
    if (!sip__loop_log_enabled(loop, SIP_LOG_TRACE)) return;
    sip_log(loop, SIP_LOG_TRACE, "txn", "%s %.*s: %s -> %s", kind, (int)br.len,
            br.ptr ? br.ptr : "", state_name(from), state_name((unsigned)to));
}

int sip__txn_restart_state(sip_txn_t *t)
{
    if (!(t->flags & SIP__TXN_CLIENT) ||
        (t->state != SIP_TXN_CALLING && t->state != SIP_TXN_TRYING &&
         t->state != SIP_TXN_PROCEEDING))
        return -1;
    sip_txn_state_t first = (t->flags & SIP__TXN_INVITE) ? SIP_TXN_CALLING : SIP_TXN_TRYING;
    sip_loop_t *loop = t->layer ? t->layer->loop : NULL;
    if (sip__loop_log_enabled(loop, SIP_LOG_TRACE)) {
        const sip_str_t br = t->key.branch;
        sip_log(loop, SIP_LOG_TRACE, "txn", "%s %.*s: %s -> %s (next target)",
                (t->flags & SIP__TXN_INVITE) ? "INVITE client" : "non-INVITE client", (int)br.len,
                br.ptr ? br.ptr : "", state_name(t->state), state_name(first));
    }
    t->state = (uint8_t)first;
    return 0;
}

void sip__txn_end(sip_txn_t *t, void (*tell)(sip_txn_t *t))
{
    t->refs++;
    if (tell) tell(t);
    sip__txn_terminate(t);
    sip_txn_unref(t);
}
