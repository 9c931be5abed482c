/* SPDX-License-Identifier: MIT */
/* A dnsmasq serving test records on loopback, started and stopped by a test. */
#ifndef SIP_TEST_DNSMASQ_H
#define SIP_TEST_DNSMASQ_H

#include <stdint.h>
#include <sys/types.h>

#ifndef DNSMASQ_BIN
#define DNSMASQ_BIN "/usr/sbin/dnsmasq"
#endif

typedef struct dnsmasq {
    pid_t pid;
    uint16_t port;
} dnsmasq_t;

/* Starts /usr/sbin/dnsmasq (Debian's dnsmasq-base) on a free 127.0.0.1 port serving only the
 * given records (NULL-terminated dnsmasq options) and waits until it answers. 0 or -1. */
int dnsmasq_start(dnsmasq_t *d, const char *const *records);
/* Stops it (SIGTERM, then SIGKILL after 3 s) and reaps it. */
void dnsmasq_stop(dnsmasq_t *d);
/* A UDP socket on 127.0.0.1 with a kernel-chosen port (returns the fd; the port in *port). */
int udp_socket(uint16_t *port);
/* CLOCK_MONOTONIC in milliseconds. */
uint64_t mono_ms(void);

#endif
