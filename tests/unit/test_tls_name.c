/* SPDX-License-Identifier: MIT */
/* TLS to a server found by name (RFC 5922 §4.1, §7.2): the SIP domain goes out as SNI and must
 * match the certificate, against `openssl s_server` holding a certificate for that name, the
 * name served by a local dnsmasq (A, SRV and NAPTR), certificates made here with the openssl
 * command. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc_hook.h"
#include "dnsmasq.h"
#include "pump.h"
#include "sip/sip.h"

static char dir[] = "/tmp/libsip-tlsname-XXXXXX";

/* Makes a CA, a server certificate for sip.test and secure.test (nothing else: not the SRV
 * target, not an address), and one for other.test, all signed by the CA. */
static int make_certs(void)
{
    char cmd[4096];
    snprintf(cmd, sizeof(cmd),
             "set -e; cd %s; "
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout ca.key -out ca.pem -days 2 -subj /CN=libsip-test-ca "
             "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign; "
             "for n in good:DNS:sip.test,DNS:secure.test other:DNS:other.test; do "
             "  f=${n%%%%:*}; san=${n#*:}; "
             "  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $f.key "
             "  -out $f.csr -subj /CN=libsip-test-server; "
             "  printf 'subjectAltName=%%s\\nextendedKeyUsage=serverAuth\\n' $san > $f.ext; "
             "  openssl x509 -req -in $f.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
             "  -extfile $f.ext -out $f.pem; "
             "done",
             dir);
    char full[4200];
    snprintf(full, sizeof(full), "(%s) >/dev/null 2>&1", cmd);
    return system(full) == 0 ? 0 : -1;
}

static int group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    if (!mkdtemp(dir)) return -1;
    if (make_certs()) {
        fprintf(stderr, "openssl could not make the test certificates\n");
        return -1;
    }
    if (access(DNSMASQ_BIN, X_OK) != 0) {
        fprintf(stderr, "%s is missing (Debian package dnsmasq-base)\n", DNSMASQ_BIN);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- openssl s_server ---- */

typedef struct sserver {
    pid_t pid;
    int stdin_fd; /* s_server ends at the end of its input: this end stays open until stop */
    uint16_t port;
    char out[128]; /* its output: the ClientHello extensions, then what the client sent */
} sserver_t;

static uint16_t free_tcp_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static int file_has(const char *path, const char *s)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The output may hold NULs from hex dumps; look at each piece. */
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
        if (strstr(buf + i, s)) return 1;
    return 0;
}

/* Starts s_server with name.pem/name.key on a free loopback port; waits until it accepts. */
static void sserver_start(sserver_t *s, const char *name)
{
    char cert[96], key[96];
    snprintf(cert, sizeof(cert), "%s/%s.pem", dir, name);
    snprintf(key, sizeof(key), "%s/%s.key", dir, name);
    snprintf(s->out, sizeof(s->out), "%s/s_server-%s.out", dir, name);
    for (int attempt = 0; attempt < 5; attempt++) {
        s->port = free_tcp_port();
        char accept[32];
        snprintf(accept, sizeof(accept), "127.0.0.1:%u", s->port);
        int in[2];
        assert_int_equal(pipe(in), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            int out = open(s->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (out < 0) _exit(127);
            close(in[1]);
            dup2(in[0], 0);
            dup2(out, 1);
            dup2(out, 2);
            execlp("openssl", "openssl", "s_server", "-accept", accept, "-cert", cert, "-key", key,
                   "-tlsextdebug", "-ign_eof", (char *)NULL);
            _exit(127);
        }
        close(in[0]);
        s->stdin_fd = in[1];
        s->pid = pid;
        uint64_t end = mono_ms() + 5000;
        while (mono_ms() < end) {
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid) {
                s->pid = 0;
                break; /* the port was taken meanwhile: another try */
            }
            if (file_has(s->out, "ACCEPT")) return;
            usleep(20000);
        }
        if (s->pid) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
            s->pid = 0;
        }
        close(s->stdin_fd);
    }
    fail_msg("openssl s_server did not start");
}

static void sserver_stop(sserver_t *s)
{
    if (s->pid <= 0) return;
    close(s->stdin_fd);
    kill(s->pid, SIGTERM);
    uint64_t end = mono_ms() + 3000;
    int st;
    while (waitpid(s->pid, &st, WNOHANG) == 0) {
        if (mono_ms() > end) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &st, 0);
            break;
        }
        usleep(10000);
    }
    s->pid = 0;
}

/* ---- the client ---- */

typedef struct {
    int calls, status;
    char log[2048];
} client_t;

static void on_log(sip_loop_t *loop, sip_log_level_t level, const char *module, const char *text,
                   void *user)
{
    (void)loop;
    (void)level;
    (void)module;
    client_t *c = user;
    size_t n = strlen(c->log);
    snprintf(c->log + n, sizeof(c->log) - n, "%s\n", text);
}

static void on_sent(sip_transport_t *tp, int status, void *user)
{
    (void)tp;
    client_t *c = user;
    c->calls++;
    c->status = status;
}

/* Sends an OPTIONS to each of uris in turn over one transport, through the resolver (pointed at
 * dns), trusting the test CA; fills each outcome and the port it went to. With serve, a libsip
 * TLS server on the same loop holds serve.pem (it takes any number of connections at once, which
 * s_server does not) and the uris are formats for its port. */
static void send_each(const dnsmasq_t *dns, const char *const *uris, size_t n, client_t *c,
                      int *status, uint16_t *port, const char *serve)
{
    long live = test_alloc_live();
    sip_loop_t *loop;
    assert_int_equal(sip_loop_create(&loop), 0);
    assert_int_equal(sip_loop_set_log(loop, SIP_LOG_DEBUG, on_log, c, NULL), 0);
    char servers[32], ca[96];
    snprintf(servers, sizeof(servers), "127.0.0.1:%u", dns->port);
    snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
    sip_resolver_opts_t ro;
    sip_resolver_opts_init(&ro);
    ro.servers = servers;
    ro.timeout_ms = 1000;
    ro.transports = (1u << SIP_TRANSPORT_UDP) | (1u << SIP_TRANSPORT_TCP) |
                    (1u << SIP_TRANSPORT_TLS) | (1u << SIP_TRANSPORT_WSS);
    sip_resolver_t *r;
    assert_int_equal(sip_resolver_create(&r, loop, &ro), 0);
    sip_transport_opts_t o;
    sip_transport_opts_init(&o);
    o.tls_ca_file = ca;
    sip_transport_t *tp;
    assert_int_equal(sip_transport_create(&tp, loop, &o), 0);
    assert_int_equal(sip_transport_set_resolver(tp, r), 0);
    sip_transport_t *srv = NULL;
    uint16_t srv_port = 0;
    if (serve) {
        char cert[96], key[96];
        snprintf(cert, sizeof(cert), "%s/%s.pem", dir, serve);
        snprintf(key, sizeof(key), "%s/%s.key", dir, serve);
        sip_transport_opts_t so;
        sip_transport_opts_init(&so);
        so.tls_cert_file = cert;
        so.tls_key_file = key;
        assert_int_equal(sip_transport_create(&srv, loop, &so), 0);
        /* The uris say which one they want: tls or wss. */
        const char *spec = strstr(uris[0], "transport=wss") ? "wss:127.0.0.1:0" : "tls:127.0.0.1:0";
        assert_int_equal(sip_transport_listen(srv, spec), 0);
        sip_netinfo_t ni;
        assert_int_equal(sip_transport_listener_info(srv, 0, &ni), 0);
        srv_port = ni.local_port;
    }
    for (size_t i = 0; i < n; i++) {
        sip_msg_t *m;
        char uri[128];
        snprintf(uri, sizeof(uri), uris[i], srv_port);
        assert_int_equal(sip_msg_create_request(&m, "OPTIONS", uri), 0);
        assert_int_equal(sip_msg_add_header(m, "Via", "SIP/2.0/TLS c.invalid;branch=z9hG4bKname"),
                         0);
        assert_int_equal(sip_msg_add_header(m, "To", "<sip:uas@sip.test>"), 0);
        assert_int_equal(sip_msg_add_header(m, "From", "<sip:uac@sip.test>;tag=1"), 0);
        assert_int_equal(sip_msg_add_header(m, "Call-ID", "tls-name-1"), 0);
        assert_int_equal(sip_msg_add_header(m, "CSeq", "1 OPTIONS"), 0);
        c->calls = 0;
        assert_int_equal(sip_transport_send_request(tp, m, on_sent, c, NULL), 0);
        assert_true(test_pump_until(loop, &c->calls, 1, 10000));
        status[i] = c->status;
        const sip_netinfo_t *ni = sip_msg_get_netinfo(m);
        port[i] = ni ? ni->remote_port : 0;
        /* Let the server read what was sent. */
        test_pump(loop, c->status ? 0 : 200);
        sip_msg_unref(m);
    }
    sip_transport_unref(tp);
    sip_transport_unref(srv);
    sip_resolver_unref(r);
    sip_loop_unref(loop);
    assert_int_equal(test_alloc_live(), live);
}

static int send_options(const dnsmasq_t *dns, const char *uri, client_t *c, uint16_t *port)
{
    int status;
    char fmt[128]; /* no format directives of its own */
    snprintf(fmt, sizeof(fmt), "%s", uri);
    const char *uris[] = {fmt};
    send_each(dns, uris, 1, c, &status, port, NULL);
    return status;
}

static void tls_name_is_sni_and_matches_certificate(void **state)
{
    (void)state;
    sserver_t s = {0};
    sserver_start(&s, "good");
    char srv[96];
    snprintf(srv, sizeof(srv), "--srv-host=_sips._tcp.secure.test,node1.secure.test,%u,10,10",
             s.port);
    const char *const records[] = {
        "--host-record=sip.test,127.0.0.1", "--host-record=node1.secure.test,127.0.0.1",
        "--naptr-record=secure.test,10,10,s,SIPS+D2T,,_sips._tcp.secure.test", srv, NULL};
    dnsmasq_t dns;
    assert_int_equal(dnsmasq_start(&dns, records), 0);

    /* A name with a port: A record only, the name itself checked (not 127.0.0.1). */
    char uri[96];
    snprintf(uri, sizeof(uri), "sip:uas@sip.test:%u;transport=tls", s.port);
    client_t c = {0};
    uint16_t port = 0;
    assert_int_equal(send_options(&dns, uri, &c, &port), 0);
    assert_int_equal(port, s.port);
    /* s_server saw the name in the ClientHello and then the request. */
    assert_true(file_has(s.out, "TLS client extension \"server name\""));
    for (int i = 0; i < 50 && !file_has(s.out, "OPTIONS sip:uas@sip.test"); i++)
        usleep(20000);
    assert_true(file_has(s.out, "OPTIONS sip:uas@sip.test"));

    /* sips: through NAPTR and SRV: the certificate names the SIP domain, not the SRV target. */
    client_t c2 = {0};
    port = 0;
    assert_int_equal(send_options(&dns, "sips:uas@secure.test", &c2, &port), 0);
    assert_int_equal(port, s.port);

    /* An address keeps address matching: this certificate names no address. */
    snprintf(uri, sizeof(uri), "sip:uas@127.0.0.1:%u;transport=tls", s.port);
    client_t c3 = {0};
    assert_int_equal(send_options(&dns, uri, &c3, &port), SIP_EIO);
    assert_non_null(strstr(c3.log, "certificate verify failed: IP address mismatch"));

    dnsmasq_stop(&dns);
    sserver_stop(&s);
}

/* A connection checked against one name carries no request for another name at the same
 * address: that one opens its own connection and is checked itself. */
static void tls_connection_not_reused_for_another_name(void **state)
{
    (void)state;
    const char *const records[] = {"--host-record=sip.test,127.0.0.1",
                                   "--host-record=elsewhere.test,127.0.0.1", NULL};
    dnsmasq_t dns;
    assert_int_equal(dnsmasq_start(&dns, records), 0);
    const char *uris[] = {"sip:uas@sip.test:%u;transport=tls",
                          "sip:uas@elsewhere.test:%u;transport=tls",
                          "sip:uas@sip.test:%u;transport=tls"};
    int status[3];
    uint16_t port[3];
    client_t c = {0};
    send_each(&dns, uris, 3, &c, status, port, "good");
    assert_int_equal(status[0], 0);
    assert_int_equal(status[1], SIP_EIO);
    assert_non_null(strstr(c.log, "certificate verify failed: hostname mismatch"));
    /* The first connection still serves its own name. */
    assert_int_equal(status[2], 0);
    dnsmasq_stop(&dns);
}

/* WSS: the same name check, over TLS under the WebSocket (and the name is the Host). */
static void tls_wss_by_name(void **state)
{
    (void)state;
    const char *const records[] = {"--host-record=sip.test,127.0.0.1",
                                   "--host-record=elsewhere.test,127.0.0.1", NULL};
    dnsmasq_t dns;
    assert_int_equal(dnsmasq_start(&dns, records), 0);
    const char *uris[] = {"sip:uas@sip.test:%u;transport=wss",
                          "sip:uas@elsewhere.test:%u;transport=wss"};
    int status[2];
    uint16_t port[2];
    client_t c = {0};
    send_each(&dns, uris, 2, &c, status, port, "good");
    assert_int_equal(status[0], 0);
    assert_int_equal(status[1], SIP_EIO);
    assert_non_null(strstr(c.log, "certificate verify failed: hostname mismatch"));
    dnsmasq_stop(&dns);
}

static void tls_certificate_for_another_name_refused(void **state)
{
    (void)state;
    sserver_t s = {0};
    sserver_start(&s, "other");
    const char *const records[] = {"--host-record=sip.test,127.0.0.1", NULL};
    dnsmasq_t dns;
    assert_int_equal(dnsmasq_start(&dns, records), 0);
    char uri[96];
    snprintf(uri, sizeof(uri), "sip:uas@sip.test:%u;transport=tls", s.port);
    client_t c = {0};
    uint16_t port;
    assert_int_equal(send_options(&dns, uri, &c, &port), SIP_EIO);
    assert_non_null(strstr(c.log, "certificate verify failed: hostname mismatch"));
    assert_false(file_has(s.out, "OPTIONS sip:"));
    dnsmasq_stop(&dns);
    sserver_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tls_name_is_sni_and_matches_certificate),
        cmocka_unit_test(tls_certificate_for_another_name_refused),
        cmocka_unit_test(tls_connection_not_reused_for_another_name),
        cmocka_unit_test(tls_wss_by_name),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
