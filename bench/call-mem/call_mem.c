/* SPDX-License-Identifier: MIT */
/* Heap per established call, each side on its own, once the call's transactions have ended:
 * what a UA holding many calls pays for each (dialog, call, SDP; with the offer/answer engine,
 * its negotiator and session descriptions too). Two UAs back to back in memory
 * (tests/unit/support/ua_pair), so that no socket buffer or kernel cost enters the figure.
 * Usage: call-mem [calls]  (prints a table; exits non-zero when a call was not established) */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sip/sip.h"
#include "ua_pair.h"

#define OFFER                                                                                      \
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"                    \
    "m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"

static sip_call_t **uas_calls;
static int nuas, engine;

static void on_request(sip_ua_t *ua, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    (void)user;
    if (sip_msg_get_method(req) != SIP_METHOD_INVITE) return;
    sip_call_opts_t o;
    sip_call_opts_init(&o);
    o.media = engine ? OFFER : NULL;
    sip_call_t *c = NULL;
    if (sip_call_accept(&c, ua, txn, &o, NULL, NULL, NULL) != 0) return;
    if (sip_call_answer(c, 200, engine ? NULL : OFFER) != 0) return;
    uas_calls[nuas++] = c;
}

static size_t heap(void)
{
    return mallinfo2().uordblks;
}

static int run(int n, int with_engine, double *side_bytes, double *both_bytes)
{
    engine = with_engine;
    nuas = 0;
    sip_ua_request_cb cbs[2] = {NULL, on_request};
    pair_setup(NULL, cbs, NULL);
    sip_call_t **uac = calloc((size_t)n, sizeof(*uac));
    uas_calls = calloc((size_t)n, sizeof(*uas_calls));
    if (!uac || !uas_calls) return 1;
    size_t h0 = heap();
    for (int i = 0; i < n; i++) {
        sip_call_opts_t o;
        sip_call_opts_init(&o);
        if (with_engine)
            o.media = OFFER;
        else
            o.sdp = OFFER;
        if (sip_call_invite(&uac[i], pair[PAIR_A].ua, "sip:bob@127.0.0.1:5061", &o, NULL, NULL,
                            NULL) != 0)
            return 1;
        /* The in-memory wire holds a few hundred messages: deliver as we go. */
        if (i % 20 == 19) pair_advance(0);
    }
    pair_advance(0);
    /* Past 64*T1: every transaction has ended, the calls hold only their own state. */
    pair_advance(70000);
    size_t h1 = heap();
    int up = 0;
    for (int i = 0; i < n; i++)
        up += sip_call_get_state(uac[i]) == SIP_CALL_CONFIRMED;
    for (int i = 0; i < nuas; i++)
        up += sip_call_get_state(uas_calls[i]) == SIP_CALL_CONFIRMED;
    long txns = sip_live_count(SIP_LIVE_TXN);
    /* The two sides' objects are alike (a dialog, a call, SDP each): a side is half the sum. */
    *both_bytes = (double)(h1 - h0) / n;
    *side_bytes = *both_bytes / 2;
    for (int i = 0; i < n; i++) {
        sip_call_unref(uac[i]); /* hangs up */
        if (i % 20 == 19) pair_advance(0);
    }
    pair_advance(70000);
    for (int i = 0; i < nuas; i++)
        sip_call_unref(uas_calls[i]);
    free(uac);
    free(uas_calls);
    pair_teardown();
    return up == 2 * n && txns == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10000;
    if (n <= 0) {
        fprintf(stderr, "usage: call-mem [calls]\n");
        return 2;
    }
    printf("| calls | offer/answer engine | bytes per call, one side | both sides |\n");
    printf("|---|---|---|---|\n");
    int rc = 0;
    for (int e = 0; e < 2; e++) {
        double side = 0, both = 0;
        rc |= run(n, e, &side, &both);
        printf("| %d | %s | %.0f | %.0f |\n", n, e ? "yes" : "no", side, both);
    }
    if (rc) fprintf(stderr, "call-mem: not every call was established, or transactions remain\n");
    return rc;
}
