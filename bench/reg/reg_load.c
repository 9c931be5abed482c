/* SPDX-License-Identifier: MIT */
/* reg-load: many registrations from one process against a registrar (bench/reg).
 *
 *   reg-load REGISTRAR --count N [--rate R] [--expires S] [--duration S] [--user U
 *            --password P] [--challenge-each] [--domain D] [--listen SPEC]
 *
 * Starts N registrations (AORs sip:u<i>@D, one UA, one Call-ID each) at R per second, then keeps
 * them registered for --duration seconds (the library refreshes each before its granted
 * expiry) and unregisters them. With --challenge-each the UA's cached challenge is dropped
 * before each new registration, so that every first REGISTER is challenged (401 + the
 * authorised REGISTER: the cost of a digest registration, not of a cached one).
 *
 * Prints: the time to register all N and the rate, the CPU (user+system) per registration of
 * that phase, then the refreshes, failures and MISSED refreshes of the hold phase: a binding is
 * missed when a registration's 2xx came later than the expiry its previous 2xx granted (or it
 * had none by the end while one was due). Exit 0 when every registration registered and none
 * missed a refresh. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <sip/sip.h>
#include <uv.h>

typedef struct slot {
    sip_reg_t *reg;
    uint64_t last_ok_ms; /* loop time of the last 2xx */
    uint32_t granted;
    int registered;
} slot_t;

static struct {
    sip_loop_t *loop;
    uv_loop_t *uv;
    sip_ua_t *ua;
    const char *registrar, *domain, *user, *password;
    uint32_t count, expires, duration_s;
    double rate;
    int challenge_each;
    slot_t *slots;
    uint32_t started, registered, failed, refreshes, missed, unregistered, unreg_next;
    int phase; /* 0 registering, 1 holding, 2 unregistering */
    uint64_t t0_ms, t_all_ms;
    uv_timer_t pacer, deadline;
    struct rusage ru0, ru1;
} B;

static void on_deadline(uv_timer_t *t);

static uint64_t now_ms(void)
{
    return uv_now(B.uv);
}

static void on_event(sip_reg_t *reg, sip_reg_event_t ev, int status, sip_msg_t *msg, void *user)
{
    (void)msg;
    slot_t *s = user;
    uint64_t now = now_ms();
    if (ev == SIP_REG_EVENT_REGISTERED || ev == SIP_REG_EVENT_REFRESHED) {
        /* A 2xx after the previous grant ran out: the binding lapsed in between. */
        if (s->last_ok_ms && now > s->last_ok_ms + (uint64_t)s->granted * 1000) B.missed++;
        if (s->registered) B.refreshes++;
        s->last_ok_ms = now;
        s->granted = sip_reg_get_expires(reg);
        if (!s->registered) {
            s->registered = 1;
            if (++B.registered == B.count) {
                B.t_all_ms = now;
                getrusage(RUSAGE_SELF, &B.ru1);
                if (B.phase == 0) {
                    /* Every one registered: the hold phase runs for --duration from now. */
                    B.phase = 1;
                    uv_timer_start(&B.deadline, on_deadline, (uint64_t)B.duration_s * 1000, 0);
                }
            }
        }
    } else if (ev == SIP_REG_EVENT_FAILED) {
        B.failed++;
        if (B.failed <= 5) fprintf(stderr, "reg-load: a REGISTER failed: %d\n", status);
    } else if (ev == SIP_REG_EVENT_UNREGISTERED) {
        if (++B.unregistered == B.registered) sip_loop_stop(B.loop);
    }
}

static int start_one(uint32_t i)
{
    char aor[128];
    snprintf(aor, sizeof(aor), "sip:u%" PRIu32 "@%s", i, B.domain);
    if (B.challenge_each && B.user) {
        /* Every first REGISTER challenged: no cached nonce to authorise it at once. */
        sip_auth_client_t *ac = sip_ua_get_auth(B.ua);
        sip_auth_client_clear(ac);
        sip_auth_cred_t cred = {0};
        cred.user = B.user;
        cred.password = B.password;
        sip_ua_add_credential(B.ua, &cred);
    }
    sip_reg_opts_t o;
    sip_reg_opts_init(&o);
    o.registrar = B.registrar;
    o.expires = B.expires;
    o.retry_s = 5;
    o.max_retry_s = 30;
    return sip_reg_create(&B.slots[i].reg, B.ua, aor, &o, on_event, &B.slots[i], NULL);
}

static double credit;
static uint64_t last_ns;

static void on_pace(uv_timer_t *t)
{
    uint64_t ns = uv_hrtime();
    credit += (double)(ns - last_ns) / 1e9 * B.rate;
    last_ns = ns;
    while (credit >= 1 && B.started < B.count) {
        credit -= 1;
        int rc = start_one(B.started);
        if (rc) {
            fprintf(stderr, "reg-load: cannot start registration %" PRIu32 ": %s\n", B.started,
                    sip_strerror(rc));
            B.failed++;
        }
        B.started++;
    }
    if (B.started == B.count) uv_timer_stop(t);
}

static void on_deadline(uv_timer_t *t)
{
    (void)t;
    sip_loop_stop(B.loop);
}

static void on_pace_unregister(uv_timer_t *t)
{
    uint64_t ns = uv_hrtime();
    credit += (double)(ns - last_ns) / 1e9 * B.rate;
    last_ns = ns;
    while (credit >= 1 && B.unreg_next < B.count) {
        slot_t *s = &B.slots[B.unreg_next++];
        if (!s->registered) continue;
        credit -= 1;
        if (sip_reg_unregister(s->reg, NULL) != 0 && ++B.unregistered == B.registered)
            sip_loop_stop(B.loop);
    }
    if (B.unreg_next == B.count) uv_timer_stop(t);
}

static double cpu_ms(const struct rusage *a, const struct rusage *b)
{
    double ua = (double)a->ru_utime.tv_sec * 1e3 + (double)a->ru_utime.tv_usec / 1e3;
    double sa = (double)a->ru_stime.tv_sec * 1e3 + (double)a->ru_stime.tv_usec / 1e3;
    double ub = (double)b->ru_utime.tv_sec * 1e3 + (double)b->ru_utime.tv_usec / 1e3;
    double sb = (double)b->ru_stime.tv_sec * 1e3 + (double)b->ru_stime.tv_usec / 1e3;
    return (ub + sb) - (ua + sa);
}

static int usage(void)
{
    fprintf(stderr, "usage: reg-load REGISTRAR --count N [--rate R] [--expires S] "
                    "[--duration S] [--user U --password P] [--challenge-each] [--domain D] "
                    "[--listen SPEC]\n");
    return 2;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"count", required_argument, NULL, 'n'},    {"rate", required_argument, NULL, 'r'},
        {"expires", required_argument, NULL, 'e'},  {"duration", required_argument, NULL, 'd'},
        {"user", required_argument, NULL, 'u'},     {"password", required_argument, NULL, 'p'},
        {"domain", required_argument, NULL, 'D'},   {"listen", required_argument, NULL, 'l'},
        {"challenge-each", no_argument, NULL, 'c'}, {NULL, 0, NULL, 0},
    };
    const char *listen = "udp:127.0.0.1:0";
    B.count = 1000;
    B.rate = 1000;
    B.expires = 60;
    B.duration_s = 0;
    B.domain = "example.com";
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'n': B.count = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'r': B.rate = strtod(optarg, NULL); break;
        case 'e': B.expires = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'd': B.duration_s = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'u': B.user = optarg; break;
        case 'p': B.password = optarg; break;
        case 'D': B.domain = optarg; break;
        case 'l': listen = optarg; break;
        case 'c': B.challenge_each = 1; break;
        default: return usage();
        }
    }
    if (optind + 1 != argc || !B.count || B.rate <= 0 || !B.expires) return usage();
    B.registrar = argv[optind];
    B.slots = calloc(B.count, sizeof(*B.slots));
    sip_transport_t *tp = NULL;
    sip_txn_layer_t *layer = NULL;
    if (!B.slots || sip_loop_create(&B.loop) || sip_transport_create(&tp, B.loop, NULL) ||
        sip_transport_listen(tp, listen) < 0 || sip_txn_layer_create(&layer, tp, NULL) ||
        sip_ua_create(&B.ua, layer, NULL, NULL, NULL, NULL)) {
        fprintf(stderr, "reg-load: cannot start (listen %s)\n", listen);
        return 1;
    }
    B.uv = sip_loop_get_uv(B.loop);
    if (B.user) {
        sip_auth_cred_t cred = {0};
        cred.user = B.user;
        cred.password = B.password;
        sip_ua_add_credential(B.ua, &cred);
    }
    uv_timer_init(B.uv, &B.pacer);
    uv_timer_init(B.uv, &B.deadline);
    getrusage(RUSAGE_SELF, &B.ru0);
    B.t0_ms = now_ms();
    last_ns = uv_hrtime();
    credit = 1;
    uv_timer_start(&B.pacer, on_pace, 0, 1);
    /* Registering, then holding: a fixed end, so that a slow registrar shows as unregistered
     * rather than as a hang. */
    uint64_t budget = (uint64_t)((double)B.count / B.rate * 1000) + 40000;
    uv_timer_start(&B.deadline, on_deadline, budget + (uint64_t)B.duration_s * 1000, 0);
    sip_loop_run(B.loop);
    double secs = B.t_all_ms ? (double)(B.t_all_ms - B.t0_ms) / 1000 : 0;
    printf("registered %" PRIu32 " of %" PRIu32 " in %.3f s: %.0f registrations/s\n", B.registered,
           B.count, secs, secs > 0 ? B.registered / secs : 0.0);
    if (B.t_all_ms)
        printf("cpu per registration: %.1f us (user+system, this process)\n",
               cpu_ms(&B.ru0, &B.ru1) * 1000 / B.count);
    /* A registration whose next refresh was due before the end and never came missed it. */
    uint64_t end = now_ms();
    for (uint32_t i = 0; i < B.count; i++)
        if (B.slots[i].registered && end > B.slots[i].last_ok_ms + B.slots[i].granted * 1000ull)
            B.missed++;
    printf("hold %" PRIu32 " s: refreshes %" PRIu32 ", failures %" PRIu32 ", missed %" PRIu32 "\n",
           B.duration_s, B.refreshes, B.failed, B.missed);
    fflush(stdout);
    uint32_t ok = B.registered;
    /* Unregister everything at the same pace as the registrations (a burst of thousands at
     * once only measures the registrar's socket buffer), waiting a bounded time. */
    B.phase = 2;
    uint32_t sent = 0;
    for (uint32_t i = 0; i < B.count; i++)
        sent += B.slots[i].registered;
    if (sent) {
        B.registered = sent;
        B.unreg_next = 0;
        credit = 1;
        last_ns = uv_hrtime();
        uv_timer_start(&B.pacer, on_pace_unregister, 0, 1);
        uv_timer_start(&B.deadline, on_deadline, (uint64_t)((double)sent / B.rate * 1000) + 40000,
                       0);
        sip_loop_run(B.loop);
    }
    for (uint32_t i = 0; i < B.count; i++)
        sip_reg_unref(B.slots[i].reg);
    uv_close((uv_handle_t *)&B.pacer, NULL);
    uv_close((uv_handle_t *)&B.deadline, NULL);
    sip_ua_close(B.ua);
    sip_ua_unref(B.ua);
    sip_txn_layer_unref(layer);
    sip_transport_unref(tp);
    sip_loop_unref(B.loop);
    free(B.slots);
    return ok == B.count && !B.missed ? 0 : 1;
}
