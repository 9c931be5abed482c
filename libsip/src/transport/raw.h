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

#endif
