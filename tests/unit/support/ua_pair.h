/* SPDX-License-Identifier: MIT */
/* Two user agents wired back to back in memory under a hand-driven clock, for the tests of
 * calls: what one side's transaction layer sends is printed, parsed and handed to the other's. */
#ifndef SIP_TEST_UA_PAIR_H
#define SIP_TEST_UA_PAIR_H

#include <stdint.h>

#include "sip/sip.h"

enum { PAIR_A = 0, PAIR_B = 1 };

typedef struct pair_side {
    sip_transport_t *tp;
    sip_txn_layer_t *layer;
    sip_ua_t *ua;
    int idx;
    uint16_t port; /* 5060 for A, 5061 for B (nothing listens: the wire is in memory) */
} pair_side_t;

extern pair_side_t pair[2];
extern uint64_t pair_now_ms;
/* Drops what a side sends when it returns nonzero (a lost message); NULL: none. */
extern int (*pair_drop)(int from, const sip_msg_t *msg);
/* Sees everything a side sends, dropped or not (NULL: none). */
extern void (*pair_spy)(int from, const sip_msg_t *msg);

/* Creates the loop, both transports, layers and UAs (UA options from ua_opts[i], which may be
 * NULL; the clock and contact host are the pair's). cb/user: the UAs' request callbacks. */
void pair_setup(const sip_ua_opts_t *ua_opts[2], sip_ua_request_cb cb[2], void *user[2]);
void pair_teardown(void);
/* Delivers what is on the wire until it is quiet. */
void pair_pump(void);
/* Moves time forward, firing each wake-up at its time and delivering what it sends. */
void pair_advance(uint64_t ms);
/* Hands a message to a side as if it came from the other. */
void pair_inject(int to, sip_msg_t *msg);

/* Subscriptions: a request built from one a side sent (its Request-URI, From, To, Call-ID,
 * Contact, Event), with another method, Event (NULL: none), CSeq (the request's plus
 * cseq_add) and a new Via branch, to hand to the other side as if that side sent it. */
void pair_rebuild_request(sip_msg_t **out, const sip_msg_t *req, const char *method,
                          const char *event, uint32_t cseq_add);
/* The NOTIFY another fork of a SUBSCRIBE would send: notify with its From tag replaced by tag
 * and its body by body (same type). */
void pair_fork_notify(sip_msg_t **out, const sip_msg_t *notify, const char *tag, const char *body);

#endif
