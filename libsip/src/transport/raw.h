/* SPDX-License-Identifier: MIT */
/* What the layers above a transport may use of it beyond sip/transport.h: sending bytes printed
 * before. No layout: the transport's struct stays private to transport/. */
#ifndef SIP_TRANSPORT_RAW_H
#define SIP_TRANSPORT_RAW_H

#include <stddef.h>

#include "sip/transport.h"

/* Sends bytes printed before, to where an earlier message went (ni as the transport set it on
 * that message: listening point, peer, connection). For retransmissions of messages a
 * transaction keeps only in wire form. 0, SIP_EINVAL, SIP_ECLOSED, SIP_ENOENT (that listening
 * point or connection is gone), or the socket's error. */
int sip__transport_send_raw(sip_transport_t *tp, const sip_netinfo_t *ni, const char *data,
                            size_t len);
/* The bytes msg went out as, when it is the last message this transport printed (right after
 * sending it): 0 and data/len pointing into the transport's buffer (valid until its next send),
 * or SIP_ENOENT. */
int sip__transport_last_wire(sip_transport_t *tp, const sip_msg_t *msg, const char **data,
                             size_t *len);

/* ---- several workers on one endpoint (sip/worker.h) ----------------------------------------- */

struct sip__tp_worker;
/* Makes tp one worker of several (w copied; NULL: none): connection ids made from now on carry
 * w->index, received messages go through w->steer. 0, SIP_EINVAL, SIP_ECLOSED. */
int sip__transport_set_worker(sip_transport_t *tp, const struct sip__tp_worker *w);
/* A message another worker received for this one enters as if received here (parsed, checked,
 * handed to the chain, never steered again). 0, SIP_EPARSE (dropped), SIP_ECLOSED. */
int sip__transport_inject(sip_transport_t *tp, const sip_netinfo_t *ni, const char *data,
                          size_t len, int trusted);
/* A message arriving on tp as a socket would deliver it: parsed, then steered to its owner
 * or handed to the chain here (tests stand in for the kernel's choice of worker with it). */
int sip__transport_receive(sip_transport_t *tp, const sip_netinfo_t *ni, const char *data,
                           size_t len, int trusted);
/* Sends bytes over this worker's connection conn_id (another worker asked). 0, SIP_ENOENT,
 * or the write's error. */
int sip__transport_send_conn(sip_transport_t *tp, uint64_t conn_id, const char *data, size_t len);
/* Calls fn for each open connection of this worker whose names are known. */
void sip__transport_each_conn(sip_transport_t *tp, void (*fn)(void *ctx, const sip_netinfo_t *ni),
                              void *ctx);
/* The netinfo of an open connection, this worker's or another's. 0 or SIP_ENOENT. */
int sip__transport_conn_info(sip_transport_t *tp, uint64_t conn_id, sip_netinfo_t *out);

#endif
