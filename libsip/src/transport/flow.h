/* SPDX-License-Identifier: MIT */
/* RFC 5626 flows over the stream connections of a transport: the CRLF keep-alive a client
 * sends and the pongs it gets back (§4.4.1), and word of a flow's connection closing. */
#ifndef SIP_TRANSPORT_FLOW_H
#define SIP_TRANSPORT_FLOW_H

#include <stdint.h>

#include "sip/transport.h"

/* A watch hears once, through closed(), that its connection closed; it is unlinked first. It
 * lives in its owner; unwatch it before the owner goes. */
typedef struct sip__flow_watch {
    struct sip__flow_watch *next, *prev;
    sip_transport_t *tp; /* while linked, else NULL */
    uint64_t conn_id;
    void (*closed)(struct sip__flow_watch *w);
} sip__flow_watch_t;

/* Watches the connection conn_id. 0, or SIP_ENOENT when it is not open (SIP_EINVAL: NULL). */
int sip__flow_watch(sip_transport_t *tp, sip__flow_watch_t *w, uint64_t conn_id);
/* Unlinks a watch (nothing when it is not linked). */
void sip__flow_unwatch(sip__flow_watch_t *w);
/* Sends a CRLFCRLF ping on the connection. 0, SIP_ENOENT (not open), or the write's error. */
int sip__flow_ping(sip_transport_t *tp, uint64_t conn_id);
/* The number of pongs (CRLFs between messages) the connection got so far; 0 when not open. */
uint64_t sip__flow_pongs(sip_transport_t *tp, uint64_t conn_id);

/* Closes the connection of a flow found dead (a missed pong, a failed ping: RFC 5626 §4.4.1),
 * so that the next request to its peer opens a new one (§4.5) rather than going over it. Its
 * watches fire. Nothing when it is not open. */
void sip__flow_close(sip_transport_t *tp, uint64_t conn_id);

/* conn.c: the connection closes; its watches fire. */
void sip__flow_conn_closed(sip_transport_t *tp, uint64_t conn_id);

#endif
