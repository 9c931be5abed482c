/* SPDX-License-Identifier: MIT */
/* A dnsmasq serving test records on loopback, started and stopped by a test. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dnsmasq.h"


uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A UDP socket on 127.0.0.1 with a kernel-chosen port; returns the fd, the port in *port. */
int udp_socket(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

/* Sends one A query for "probe.test" and waits up to ms for any reply with its id. */
static int dns_probe(uint16_t port, int ms)
{
    static const unsigned char q[] = {0x12, 0x34, 0x01, 0x00, 0,   1,   0,   0,   0, 0,
                                      0,    0,    5,    'p',  'r', 'o', 'b', 'e', 4, 't',
                                      'e',  's',  't',  0,    0,   1,   0,   1};
    uint16_t local;
    int fd = udp_socket(&local);
    if (fd < 0) return 0;
    struct sockaddr_in to;
    memset(&to, 0, sizeof(to));
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(port);
    int ok = 0;
    if (sendto(fd, q, sizeof(q), 0, (struct sockaddr *)&to, sizeof(to)) == (ssize_t)sizeof(q)) {
        struct pollfd p = {fd, POLLIN, 0};
        unsigned char buf[512];
        if (poll(&p, 1, ms) == 1) {
            ssize_t n = recv(fd, buf, sizeof(buf), 0);
            ok = n >= 12 && buf[0] == 0x12 && buf[1] == 0x34;
        }
    }
    close(fd);
    return ok;
}

void dnsmasq_stop(dnsmasq_t *d)
{
    if (d->pid <= 0) return;
    kill(d->pid, SIGTERM);
    uint64_t end = mono_ms() + 3000;
    int st;
    while (waitpid(d->pid, &st, WNOHANG) == 0) {
        if (mono_ms() > end) {
            kill(d->pid, SIGKILL);
            waitpid(d->pid, &st, 0);
            break;
        }
        usleep(10000);
    }
    d->pid = 0;
}

/* Starts dnsmasq on a free loopback port serving only the given records (NULL-terminated
 * options) and waits, at most 5 s per try, until it answers. Returns 0 or -1. */
int dnsmasq_start(dnsmasq_t *d, const char *const *records)
{
    d->pid = 0;
    for (int attempt = 0; attempt < 5; attempt++) {
        /* A port free for UDP now; dnsmasq failing to bind it (a race) is a retry. */
        int probe_fd = udp_socket(&d->port);
        if (probe_fd < 0) return -1;
        close(probe_fd);
        char port_opt[32];
        snprintf(port_opt, sizeof(port_opt), "--port=%u", d->port);
        const char *argv[64];
        size_t n = 0;
        const char *fixed[] = {DNSMASQ_BIN,
                               "--no-daemon",
                               "--conf-file=/dev/null",
                               "--no-resolv",
                               "--no-hosts",
                               "--bind-interfaces",
                               "--listen-address=127.0.0.1",
                               port_opt,
                               "--log-facility=-",
                               "--pid-file=",
                               "--local=/test/"};
        for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
            argv[n++] = fixed[i];
        for (size_t i = 0; records[i] && n < 63; i++)
            argv[n++] = records[i];
        argv[n] = NULL;
        pid_t pid = fork();
        if (pid < 0) return -1;
        if (pid == 0) {
            int devnull = open("/dev/null", O_RDWR);
            if (devnull >= 0) {
                dup2(devnull, 0);
                if (!getenv("SIP_TEST_DNSMASQ_LOG")) {
                    dup2(devnull, 1);
                    dup2(devnull, 2);
                }
            }
            execv(DNSMASQ_BIN, (char *const *)argv);
            _exit(127);
        }
        d->pid = pid;
        uint64_t end = mono_ms() + 5000;
        while (mono_ms() < end) {
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid) {
                d->pid = 0;
                break;
            }
            if (dns_probe(d->port, 100)) return 0;
        }
        dnsmasq_stop(d);
    }
    return -1;
}

