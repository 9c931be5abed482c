/* SPDX-License-Identifier: MIT */
/* sipua: a small registering user agent on libsip's UA layer. It registers an address of record
 * at a registrar (digest credentials answered by the UA), answers every incoming call (180, then
 * 200 with an SDP answer from the offer/answer engine) and, with --call, places one call through
 * the registrar, hangs it up after --hangup-after seconds, unregisters and exits. */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sip/sip.h>

/* Exit statuses (--help and examples/README.md). */
enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

/* The media this UA offers and answers with: PCMU and PCMA with telephone-event. No RTP flows;
 * the example shows the signalling. */
#define MEDIA                                                                                      \
    "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"                    \
    "m=audio 40000 RTP/AVP 0 8 101\r\n"                                                            \
    "a=rtpmap:0 PCMU/8000\r\n"                                                                     \
    "a=rtpmap:8 PCMA/8000\r\n"                                                                     \
    "a=rtpmap:101 telephone-event/8000\r\n"
/* How long an unregistration may take at exit before we give up on its answer. */
#define UNREGISTER_WAIT_MS 3000

typedef struct app app_t;

/* One call, placed or answered. Freed by the call's user_free. */
typedef struct call {
    app_t *app;
    struct call *prev, *next;
    sip_call_t *call;   /* our reference */
    sip_timer_t *timer; /* --hangup-after, once answered */
    int placed;         /* this side placed it (--call) */
    int answered;       /* reached Confirmed */
    int held;           /* call holds our reference */
} call_t;

struct app {
    sip_loop_t *loop;
    sip_transport_t *tp;
    sip_txn_layer_t *layer;
    sip_ua_t *ua;
    sip_reg_t *reg;
    sip_signal_t *sigint, *sigterm;
    sip_timer_t *exit_timer;
    call_t *calls;
    const char *user, *target, *registrar;
    char aor[512];
    sip_netinfo_t proxy; /* the registrar's address, the next hop of our calls */
    int have_proxy;
    double hangup_after; /* seconds; 0: the call stays up until the other side ends it */
    int call_started, finishing, status, quiet;
};

__attribute__((format(printf, 2, 3))) static void say(const app_t *a, const char *fmt, ...)
{
    if (a->quiet) return;
    va_list ap;
    va_start(ap, fmt);
    printf("sipua: ");
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    va_end(ap);
}

static void finish(app_t *a, int status);

/* ---- calls ------------------------------------------------------------------------------------
 */

static void call_free(void *user)
{
    call_t *c = user;
    sip_timer_unref(c->timer);
    if (c->prev)
        c->prev->next = c->next;
    else if (c->app->calls == c)
        c->app->calls = c->next;
    if (c->next) c->next->prev = c->prev;
    free(c);
}

static call_t *call_new(app_t *a, int placed)
{
    call_t *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->app = a;
    c->placed = placed;
    c->next = a->calls;
    if (a->calls) a->calls->prev = c;
    a->calls = c;
    return c;
}

static void on_hangup_timer(sip_timer_t *t, void *user)
{
    (void)t;
    call_t *c = user;
    say(c->app, "hanging up after %g s", c->app->hangup_after);
    /* RFC 3261 §15.1.1: a BYE ends a confirmed call. */
    sip_call_hangup(c->call, NULL);
}

static void on_call(sip_call_t *call, sip_call_event_t ev, sip_msg_t *msg, sip_txn_t *txn,
                    void *user)
{
    (void)txn;
    call_t *c = user;
    app_t *a = c->app;
    if (ev == SIP_CALL_EVENT_RESPONSE && msg) {
        sip_str_t r = sip_msg_get_reason(msg);
        say(a, "response %d %.*s", sip_msg_get_status(msg), (int)r.len, r.ptr);
        return;
    }
    if (ev != SIP_CALL_EVENT_STATE) return;
    sip_call_state_t st = sip_call_get_state(call);
    if (st == SIP_CALL_CONFIRMED && !c->answered) {
        c->answered = 1;
        sip_str_t sdp = sip_call_get_remote_sdp(call);
        say(a, "call confirmed (remote SDP %zu bytes)", sdp.len);
        if (a->hangup_after > 0)
            sip_timer_start(&c->timer, a->loop, (uint64_t)(a->hangup_after * 1000.0), 0,
                            on_hangup_timer, c, NULL);
    } else if (st == SIP_CALL_ENDED) {
        int end = sip_call_get_end_status(call);
        say(a, "call ended: %d (%s)", end, sip_call_ended_locally(call) ? "by us" : "by the peer");
        sip_timer_stop(c->timer);
        int placed = c->placed, ok = c->answered;
        /* Our reference: the call is freed (call_free) once this callback returns. */
        c->held = 0;
        sip_call_unref(c->call);
        if (placed) finish(a, ok ? EXIT_OK : EXIT_FAILED);
    }
}

static void place_call(app_t *a)
{
    if (a->call_started || !a->target) return;
    a->call_started = 1;
    call_t *c = call_new(a, 1);
    if (!c) {
        finish(a, EXIT_FAILED);
        return;
    }
    sip_call_opts_t o;
    sip_call_opts_init(&o);
    o.media = MEDIA;
    o.from = a->aor;
    /* Through the registrar, as a phone sends through its outbound proxy (RFC 3261 §8.1.2). */
    if (a->have_proxy) o.dst = &a->proxy;
    say(a, "calling %s", a->target);
    int rc = sip_call_invite(&c->call, a->ua, a->target, &o, on_call, c, call_free);
    if (rc == 0) c->held = 1; /* else call_free ran: c is gone */
    if (rc) {
        fprintf(stderr, "sipua: cannot call %s: %s\n", a->target, sip_strerror(rc));
        finish(a, EXIT_FAILED);
    }
}

static void on_request(sip_ua_t *ua, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    app_t *a = user;
    if (sip_msg_get_method(req) == SIP_METHOD_OPTIONS) {
        sip_ua_answer_options(ua, txn);
        return;
    }
    if (sip_msg_get_method(req) != SIP_METHOD_INVITE) {
        /* RFC 3261 §21.5.2: nothing else is implemented here. */
        sip_txn_respond(txn, 501, NULL);
        return;
    }
    if (a->finishing) {
        sip_txn_respond(txn, 480, NULL);
        return;
    }
    const sip_addr_t *from = sip_msg_get_from(req);
    say(a, "incoming call from %.*s", from ? (int)from->uri.raw.len : 0,
        from ? from->uri.raw.ptr : "");
    /* RFC 5806: a call forwarded to us says from whom and why (a phone shows it). */
    for (size_t i = 0;; i++) {
        const sip_header_t *h = sip_msg_header_by_name(req, "Diversion", i);
        if (!h) break;
        sip_str_t v = sip_header_get_value(h);
        say(a, "diverted: %.*s", (int)v.len, v.ptr);
    }
    call_t *c = call_new(a, 0);
    if (!c) {
        sip_txn_respond(txn, 500, NULL);
        return;
    }
    sip_call_opts_t o;
    sip_call_opts_init(&o);
    o.media = MEDIA;
    int rc = sip_call_accept(&c->call, ua, txn, &o, on_call, c, call_free);
    if (rc == 0) c->held = 1; /* else call_free ran: c is gone */
    if (rc) {
        /* The call answered it (488 for an offer we cannot answer) or nothing was made. */
        say(a, "incoming call refused: %s", sip_strerror(rc));
        if (rc != SIP_ENOTACCEPTABLE) sip_txn_respond(txn, 500, NULL);
        return;
    }
    /* RFC 3261 §13.3.1.1: ringing, then the 200 with the engine's answer (§13.3.1.4). */
    sip_call_ring(c->call, 180, NULL);
    sip_call_answer(c->call, 200, NULL);
}

/* ---- registration and exit --------------------------------------------------------------------
 */

static void on_exit_timer(sip_timer_t *t, void *user)
{
    (void)t;
    app_t *a = user;
    say(a, "no answer to the unregistration");
    sip_loop_stop(a->loop);
}

static void on_reg(sip_reg_t *reg, sip_reg_event_t ev, int status, sip_msg_t *msg, void *user)
{
    (void)msg;
    app_t *a = user;
    switch (ev) {
    case SIP_REG_EVENT_REGISTERED:
        say(a, "registered %s (expires %u)", a->aor, (unsigned)sip_reg_get_expires(reg));
        place_call(a);
        break;
    case SIP_REG_EVENT_UNREGISTERED:
        say(a, "unregistered %s", a->aor);
        if (a->finishing) sip_loop_stop(a->loop);
        break;
    case SIP_REG_EVENT_FAILED:
        say(a, "registration failed: %d", status);
        if (a->finishing) {
            sip_loop_stop(a->loop);
        } else if (sip_reg_get_state(reg) == SIP_REG_STATE_FAILED) {
            fprintf(stderr, "sipua: cannot register %s: %d\n", a->aor, status);
            sip_reg_close(a->reg);
            finish(a, EXIT_FAILED);
        }
        break;
    default: break;
    }
}

/* Ends the program: calls hung up, the binding removed (RFC 3261 §10.2.2), then the loop stops. */
static void finish(app_t *a, int status)
{
    if (status > a->status) a->status = status;
    if (a->finishing) return;
    a->finishing = 1;
    for (call_t *c = a->calls, *next; c; c = next) {
        next = c->next;
        if (c->call && sip_call_get_state(c->call) != SIP_CALL_ENDED)
            sip_call_hangup(c->call, NULL);
    }
    if (a->reg && sip_reg_get_state(a->reg) != SIP_REG_STATE_FAILED &&
        sip_reg_unregister(a->reg, NULL) == 0 &&
        sip_timer_start(&a->exit_timer, a->loop, UNREGISTER_WAIT_MS, 0, on_exit_timer, a, NULL) ==
            0)
        return;
    sip_loop_stop(a->loop);
}

static void on_signal(sip_signal_t *sig, int signum, void *user)
{
    (void)sig;
    app_t *a = user;
    say(a, "signal %d", signum);
    finish(a, EXIT_OK);
}

/* The registrar URI's address, when it is a numeric one: the next hop of REGISTER and of calls. */
static int proxy_from_uri(app_t *a, const char *uri)
{
    sip_uri_t u;
    if (sip_uri_parse(&u, uri, strlen(uri)) != 0 ||
        (u.scheme != SIP_URI_SIP && u.scheme != SIP_URI_SIPS))
        return -1;
    if (u.host_type != SIP_HOST_IPV4 && u.host_type != SIP_HOST_IPV6) return 0;
    sip_netinfo_t *ni = &a->proxy;
    memset(ni, 0, sizeof(*ni));
    ni->transport = u.transport.len ? sip_transport_from_name(u.transport.ptr, u.transport.len)
                    : u.scheme == SIP_URI_SIPS ? SIP_TRANSPORT_TLS
                                               : SIP_TRANSPORT_UDP;
    if (ni->transport == SIP_TRANSPORT_NONE) return -1;
    sip_str_t h = u.host;
    if (u.host_type == SIP_HOST_IPV6) { /* the view keeps the brackets */
        h.ptr++;
        h.len -= 2;
    }
    if (h.len >= sizeof(ni->remote_ip)) return -1;
    memcpy(ni->remote_ip, h.ptr, h.len);
    ni->remote_port = u.port ? u.port : (u.scheme == SIP_URI_SIPS ? 5061 : 5060);
    a->have_proxy = 1;
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: sipua --user NAME [--password P] [--registrar URI] [--domain D]\n"
               "             [--listen SPEC] [--call URI [--hangup-after S]] [-q]\n"
               "\n"
               "A registering user agent: it registers sip:NAME@D at the registrar (answering\n"
               "digest challenges with --password), answers every incoming call (180, then 200\n"
               "with an SDP answer) and, with --call, places one call through the registrar.\n"
               "Without --call it runs until SIGINT or SIGTERM, then unregisters. A call\n"
               "forwarded to it prints its Diversion (RFC 5806).\n"
               "\n"
               "  -r, --registrar URI    where to register, \"sip:127.0.0.1:5060\" (a numeric\n"
               "                         address is also the next hop of calls); none: no\n"
               "                         registration: it answers calls on --listen and\n"
               "                         calls go straight to their URI\n"
               "  -u, --user NAME        the user of the address of record and of the credential\n"
               "  -p, --password P       the digest password\n"
               "  -d, --domain D         the domain of the address of record (default: the\n"
               "                         registrar's host)\n"
               "  -l, --listen SPEC      listening point (default udp:127.0.0.1:0, a free port)\n"
               "  -c, --call URI         call URI once registered; exit when the call ends\n"
               "  -t, --hangup-after S   hang up calls S seconds after they are answered\n"
               "                         (default: wait for the other side's BYE)\n"
               "  -q, --quiet            print nothing but errors\n"
               "  -h, --help             this text\n"
               "\n"
               "Exit status: 0 when the --call was answered and ended normally, or after\n"
               "SIGINT/SIGTERM; 1 when registration failed, the call failed or a listening\n"
               "point could not be opened; 2 for a usage error.\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"registrar", required_argument, NULL, 'r'},
        {"user", required_argument, NULL, 'u'},
        {"password", required_argument, NULL, 'p'},
        {"domain", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"call", required_argument, NULL, 'c'},
        {"hangup-after", required_argument, NULL, 't'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static app_t a;
    const char *password = NULL, *domain = NULL, *listen = "udp:127.0.0.1:0";
    int c;
    while ((c = getopt_long(argc, argv, "r:u:p:d:l:c:t:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'r': a.registrar = optarg; break;
        case 'u': a.user = optarg; break;
        case 'p': password = optarg; break;
        case 'd': domain = optarg; break;
        case 'l': listen = optarg; break;
        case 'c': a.target = optarg; break;
        case 't': {
            char *end;
            a.hangup_after = strtod(optarg, &end);
            if (end == optarg || *end || a.hangup_after < 0 || a.hangup_after > 86400) {
                fprintf(stderr, "sipua: --hangup-after wants seconds (0 to 86400)\n");
                return EXIT_USAGE;
            }
            break;
        }
        case 'q': a.quiet = 1; break;
        case 'h': usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc || !a.user || !*a.user) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (a.registrar && proxy_from_uri(&a, a.registrar) != 0) {
        fprintf(stderr, "sipua: --registrar wants a sip: or sips: URI\n");
        return EXIT_USAGE;
    }
    if (a.registrar) {
        sip_uri_t u;
        sip_uri_parse(&u, a.registrar, strlen(a.registrar));
        if (domain)
            snprintf(a.aor, sizeof(a.aor), "sip:%s@%s", a.user, domain);
        else
            snprintf(a.aor, sizeof(a.aor), "sip:%s@%.*s", a.user, (int)u.host.len, u.host.ptr);
    } else {
        snprintf(a.aor, sizeof(a.aor), "sip:%s@%s", a.user, domain ? domain : "localhost");
    }

    signal(SIGPIPE, SIG_IGN);
    int said = 0; /* the failure was explained already */
    int rc = sip_loop_create(&a.loop);
    if (rc == 0) rc = sip_transport_create(&a.tp, a.loop, NULL);
    if (rc == 0) {
        int idx = sip_transport_listen(a.tp, listen);
        if (idx < 0) {
            fprintf(stderr, "sipua: cannot listen on %s: %s\n", listen, sip_strerror(idx));
            rc = idx;
            said = 1;
        } else {
            sip_netinfo_t ni;
            sip_transport_listener_info(a.tp, (size_t)idx, &ni);
            say(&a, "listening on %s:%s:%u", sip_transport_param(ni.transport), ni.local_ip,
                ni.local_port);
        }
    }
    if (rc == 0) rc = sip_txn_layer_create(&a.layer, a.tp, NULL);
    sip_ua_opts_t uo;
    sip_ua_opts_init(&uo);
    uo.user_agent = "sipua (libsip example)";
    uo.contact_user = a.user;
    if (rc == 0) rc = sip_ua_create(&a.ua, a.layer, &uo, on_request, &a, NULL);
    if (rc == 0 && password) {
        /* Any realm: the registrar's (RFC 3261 §22.1) is not known before its challenge. */
        sip_auth_cred_t cred = {.realm = NULL, .user = a.user, .password = password};
        rc = sip_ua_add_credential(a.ua, &cred);
    }
    if (rc == 0) rc = sip_signal_start(&a.sigint, a.loop, SIGINT, on_signal, &a, NULL);
    if (rc == 0) rc = sip_signal_start(&a.sigterm, a.loop, SIGTERM, on_signal, &a, NULL);
    if (rc == 0 && a.registrar) {
        sip_reg_opts_t ro;
        sip_reg_opts_init(&ro);
        ro.registrar = a.registrar;
        ro.expires = 600;
        /* A failure is final here: a person runs this and reads why. */
        ro.retry_initial = 0;
        if (a.have_proxy) ro.dst = &a.proxy;
        rc = sip_reg_create(&a.reg, a.ua, a.aor, &ro, on_reg, &a, NULL);
    } else if (rc == 0) {
        place_call(&a);
    }
    if (rc) {
        if (!said) fprintf(stderr, "sipua: %s\n", sip_strerror(rc));
        a.status = EXIT_FAILED;
    } else {
        sip_loop_run(a.loop);
    }

    sip_timer_unref(a.exit_timer);
    sip_signal_unref(a.sigint);
    sip_signal_unref(a.sigterm);
    sip_reg_unref(a.reg);
    /* Our references go; calls still up end when the UA closes. */
    for (call_t *cl = a.calls, *next; cl; cl = next) {
        next = cl->next;
        if (cl->held) {
            cl->held = 0;
            sip_call_unref(cl->call);
        }
    }
    /* Closing the UA ends what is left without sending (each call's user_free runs). */
    if (a.ua) sip_ua_close(a.ua);
    sip_ua_unref(a.ua);
    if (a.layer) sip_txn_layer_close(a.layer);
    sip_txn_layer_unref(a.layer);
    if (a.tp) sip_transport_close(a.tp);
    sip_transport_unref(a.tp);
    sip_loop_unref(a.loop);
    return a.status;
}
