/* SPDX-License-Identifier: MIT */
/* b2bua: a back-to-back user agent on libsip's UA layer. Every incoming call is bridged to
 * --target (new Call-ID, tags and Via; provisionals, the answer, re-INVITE, UPDATE and INFO
 * relayed; BYE on one leg ends the other); when that target is busy and --forward-on-busy is
 * given, the caller is bridged to the second target instead. */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sip/sip.h>
#include <uv.h>

#define MAX_LISTEN 8

typedef struct leg leg_t;

typedef struct b2bua {
    sip_loop_t *loop;
    sip_ua_t *ua;
    leg_t *legs; /* the live calls, hung up at exit */
    const char *target, *busy_target;
    int verbose;
    unsigned long calls, answered, forwarded, failed, ended;
} b2bua_t;

/* One incoming call and the bridge that carries it now. Each bridge made for it holds a
 * reference (released by the bridge's user_free), so a leg forwarded to a second target
 * outlives its first bridge. */
struct leg {
    b2bua_t *b;
    leg_t *prev, *next;
    int refs;
    sip_call_t *a;    /* the incoming call (our reference) */
    sip_bridge_t *br; /* the current bridge (our reference), NULL once it ended */
    int forwarded;    /* bridged to --forward-on-busy already */
    int fail_status;  /* the current bridge's callee failed with this */
    unsigned long id; /* for the -v lines */
};

__attribute__((format(printf, 2, 3))) static void say(const leg_t *l, const char *fmt, ...)
{
    if (!l->b->verbose) return;
    va_list ap;
    va_start(ap, fmt);
    printf("call %lu: ", l->id);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    va_end(ap);
}

static void leg_release(void *user)
{
    leg_t *l = user;
    if (--l->refs) return;
    if (l->prev)
        l->prev->next = l->next;
    else
        l->b->legs = l->next;
    if (l->next) l->next->prev = l->prev;
    sip_call_unref(l->a);
    free(l);
}

static void on_bridge(sip_bridge_t *br, sip_bridge_event_t ev, sip_bridge_leg_t leg, sip_msg_t *msg,
                      void *user);

/* Bridges l->a to target; l->br holds the new bridge. */
static int bridge_to(leg_t *l, const char *target)
{
    sip_bridge_opts_t o;
    sip_bridge_opts_init(&o);
    /* Keep the caller waiting when the callee fails while a second target is left; without one
     * the caller gets the callee's final status. */
    o.keep_a_on_failure = l->b->busy_target && !l->forwarded;
    sip_bridge_t *br = NULL;
    l->fail_status = 0;
    l->refs++;
    int rc = sip_bridge_create(&br, l->a, target, &o, on_bridge, l, leg_release);
    if (rc == 0) l->br = br;
    return rc;
}

static void on_bridge(sip_bridge_t *br, sip_bridge_event_t ev, sip_bridge_leg_t leg, sip_msg_t *msg,
                      void *user)
{
    leg_t *l = user;
    b2bua_t *b = l->b;
    switch (ev) {
    case SIP_BRIDGE_EVENT_RELAY:
        if (msg && sip_msg_is_request(msg)) {
            sip_str_t m = sip_msg_get_method_str(msg);
            say(l, "%.*s relayed to leg %c", (int)m.len, m.ptr, leg == SIP_BRIDGE_A ? 'A' : 'B');
        }
        break;
    case SIP_BRIDGE_EVENT_ANSWERED:
        b->answered++;
        say(l, "answered");
        break;
    case SIP_BRIDGE_EVENT_FAILED:
        l->fail_status = msg ? sip_msg_get_status(msg) : 408;
        say(l, "outgoing leg failed with %d", l->fail_status);
        break;
    case SIP_BRIDGE_EVENT_ENDED:
        if (br != l->br) break;
        l->br = NULL;
        if (l->fail_status && b->busy_target && !l->forwarded) {
            /* The caller was kept waiting (keep_a_on_failure) and is free for a new bridge
             * now that this one is over. RFC 3261 §21.4.7 (486 Busy Here), §21.6.1 (600 Busy
             * Everywhere): it goes to the second target; any other failure is its answer. */
            int st = l->fail_status;
            l->forwarded = 1;
            if ((st == 486 || st == 600) && bridge_to(l, b->busy_target) == 0) {
                b->forwarded++;
                say(l, "forwarded to %s", b->busy_target);
            } else {
                b->failed++;
                b->ended++;
                sip_call_reject(l->a, st >= 300 ? st : 500, NULL);
            }
        } else {
            if (l->fail_status) b->failed++; /* the caller got the callee's status */
            b->ended++;
            say(l, "ended");
        }
        /* Our reference; the bridge is freed once this callback returns. */
        sip_bridge_unref(br);
        break;
    }
}

static void on_request(sip_ua_t *ua, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    b2bua_t *b = user;
    if (sip_msg_get_method(req) != SIP_METHOD_INVITE) {
        /* RFC 3261 §11.2: OPTIONS out of a call says we are here; nothing else is taken. */
        sip_txn_respond(txn, sip_msg_get_method(req) == SIP_METHOD_OPTIONS ? 200 : 501, NULL);
        return;
    }
    leg_t *l = calloc(1, sizeof(*l));
    if (!l) {
        sip_txn_respond(txn, 500, NULL);
        return;
    }
    l->b = b;
    l->refs = 1; /* ours until this function returns */
    l->next = b->legs;
    if (b->legs) b->legs->prev = l;
    b->legs = l;
    l->id = ++b->calls;
    /* No media option: the bridge relays each side's SDP as it is. */
    int rc = sip_call_accept(&l->a, ua, txn, NULL, NULL, NULL, NULL);
    if (rc == 0) rc = bridge_to(l, b->target);
    if (rc == 0) {
        say(l, "bridged to %s", b->target);
    } else {
        fprintf(stderr, "b2bua: call %lu: %s\n", l->id, sip_strerror(rc));
        b->failed++;
        if (l->a) sip_call_reject(l->a, 500, NULL);
    }
    leg_release(l);
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    sip_loop_stop(h->data);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: b2bua --listen SPEC [--listen SPEC ...] --target URI\n"
               "             [--forward-on-busy URI] [-v]\n"
               "\n"
               "Bridges every incoming call to --target: a new call with its own Call-ID, tags\n"
               "and Via carries the caller's offer; provisionals, the answer, re-INVITE, UPDATE\n"
               "and INFO go across, a CANCEL or BYE on one side ends the other. Runs until\n"
               "SIGINT or SIGTERM.\n"
               "\n"
               "  -l, --listen SPEC           listening point (udp:127.0.0.1:5070, tcp:...)\n"
               "  -t, --target URI            where calls go (sip:bob@127.0.0.1:5080)\n"
               "  -b, --forward-on-busy URI   bridge the caller here when --target answers 486\n"
               "                              or 600\n"
               "  -v, --verbose               one line per call event, counters at exit\n"
               "  -h, --help                  this text\n"
               "\n"
               "Exit status: 0 after a signal, 1 when a listening point cannot be opened, 2 for a\n"
               "usage error.\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"target", required_argument, NULL, 't'},
        {"forward-on-busy", required_argument, NULL, 'b'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *listen[MAX_LISTEN];
    int nlisten = 0, c;
    static b2bua_t b;
    while ((c = getopt_long(argc, argv, "l:t:b:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (nlisten == MAX_LISTEN) {
                fprintf(stderr, "b2bua: at most %d listening points\n", MAX_LISTEN);
                return 2;
            }
            listen[nlisten++] = optarg;
            break;
        case 't': b.target = optarg; break;
        case 'b': b.busy_target = optarg; break;
        case 'v': b.verbose = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || nlisten == 0 || !b.target) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    sip_transport_t *tp = NULL;
    sip_txn_layer_t *layer = NULL;
    int rc = sip_loop_create(&b.loop);
    if (rc == 0) rc = sip_transport_create(&tp, b.loop, NULL);
    for (int i = 0; rc == 0 && i < nlisten; i++) {
        int idx = sip_transport_listen(tp, listen[i]);
        if (idx < 0) {
            fprintf(stderr, "b2bua: cannot listen on %s: %s\n", listen[i], sip_strerror(idx));
            sip_transport_unref(tp);
            sip_loop_unref(b.loop);
            return 1;
        }
        if (b.verbose) {
            sip_netinfo_t ni;
            sip_transport_listener_info(tp, (size_t)idx, &ni);
            printf("listening on %s:%s:%u\n", sip_transport_param(ni.transport), ni.local_ip,
                   ni.local_port);
            fflush(stdout);
        }
    }
    if (rc == 0) rc = sip_txn_layer_create(&layer, tp, NULL);
    sip_ua_opts_t uo;
    sip_ua_opts_init(&uo);
    uo.user_agent = "b2bua (libsip example)";
    uo.contact_user = "b2bua";
    if (rc == 0) rc = sip_ua_create(&b.ua, layer, &uo, on_request, &b, NULL);
    if (rc) {
        fprintf(stderr, "b2bua: %s\n", sip_strerror(rc));
        sip_txn_layer_unref(layer);
        sip_transport_unref(tp);
        sip_loop_unref(b.loop);
        return 1;
    }
    uv_loop_t *uv = sip_loop_get_uv(b.loop);
    uv_signal_t sigint, sigterm;
    uv_signal_init(uv, &sigint);
    uv_signal_init(uv, &sigterm);
    sigint.data = sigterm.data = b.loop;
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    sip_loop_run(b.loop);
    uv_close((uv_handle_t *)&sigint, NULL);
    uv_close((uv_handle_t *)&sigterm, NULL);
    /* Calls still up are hung up (BYE or CANCEL on both legs, RFC 3261 §15): each bridge ends,
     * and our reference to it goes with its ENDED event. The UA then closes: whatever is left
     * ends without sending anything more. */
    for (leg_t *l = b.legs, *next; l; l = next) {
        next = l->next;
        if (l->br) sip_bridge_hangup(l->br, "SIP;cause=503;text=\"Service shutting down\"");
    }
    if (b.verbose) {
        printf("calls %lu answered %lu forwarded %lu failed %lu ended %lu\n", b.calls, b.answered,
               b.forwarded, b.failed, b.ended);
        fflush(stdout);
    }
    sip_ua_close(b.ua);
    sip_ua_unref(b.ua);
    sip_txn_layer_close(layer);
    sip_txn_layer_unref(layer);
    sip_transport_unref(tp);
    sip_loop_unref(b.loop);
    return 0;
}
