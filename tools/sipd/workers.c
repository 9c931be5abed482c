/* SPDX-License-Identifier: MIT */
/* sipd --workers N (workers.h): the parent process and a worker's control channel. The parent
 * links the workers (sip_hub_*), owns the location service of `state` (SQLite has one writer:
 * the workers' writes reach it through the hub), serves the metrics with the workers' counters
 * summed, forwards SIGHUP and SIGTERM, and starts again a worker that died, with a backoff.
 * Each worker is this very program (uv_spawn() of /proc/self/exe) given the command line again
 * with the internal flags; it inherits its hub link and its control channel as descriptors
 * SIPD_WORKER_LINK_FD and SIPD_WORKER_CONTROL_FD. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "sipd.h"
#include "workers.h"

#define STATE_FILE "location.sqlite"
/* How often a worker sends its counters (when they changed). */
#define STATS_MS 250
/* A worker that lived this long before it died was not failing at start: its next restart is
 * quick again. */
#define STABLE_MS 10000
/* The first restart waits this long, each quick death doubles it, up to BACKOFF_MAX_MS. */
#define BACKOFF_MS 100
#define BACKOFF_MAX_MS 10000
/* After the grace time a worker still running at shutdown gets this long, then SIGKILL. */
#define KILL_AFTER_MS 5000

/* Control records, one per SOCK_SEQPACKET message: a type byte and its payload. */
enum { REC_READY = 'R', REC_STATS = 'S' };

unsigned sipd_workers_count(const sip_config_t *cfg)
{
    const char *v = sip_config_get(cfg, "workers", 0);
    unsigned long n = v ? strtoul(v, NULL, 10) : 0;
    /* One per core this process may run on (its CPU affinity, as a container or systemd's
     * CPUAffinity= sets it), not per core of the machine. */
    if (n == 0) n = uv_available_parallelism();
    return n > SIP_WORKERS_MAX ? SIP_WORKERS_MAX : (unsigned)n;
}

static sip_log_level_t level_of(const char *name)
{
    if (name == NULL) return SIP_LOG_WARN;
    if (strcmp(name, "error") == 0) return SIP_LOG_ERROR;
    if (strcmp(name, "info") == 0) return SIP_LOG_INFO;
    if (strcmp(name, "debug") == 0) return SIP_LOG_DEBUG;
    return SIP_LOG_WARN;
}

/* ---- the parent ---------------------------------------------------------------------------- */

typedef struct parent parent_t;

typedef struct child {
    parent_t *p;
    unsigned index;
    uv_process_t *proc; /* NULL while no process runs */
    int pid;
    int ctl; /* our end of its control channel, -1 when closed */
    uv_poll_t *poll;
    int ready;
    uint64_t started_ms;
    unsigned quick_deaths;
    sip_timer_t *restart;
    uint64_t snap[SIP_STAT__COUNT]; /* its counters, as last sent */
} child_t;

struct parent {
    const sipd_parent_opts_t *o;
    sip_loop_t *loop;
    uv_loop_t *uv;
    sip_config_t *cfg; /* the one in force (reloads replace it) */
    sip_location_t *loc;
    sip_hub_t *hub;
    sip_metrics_t *metrics;
    sip_signal_t *sighup, *sigint, *sigterm;
    sip_timer_t *kill_timer;
    child_t kids[SIP_WORKERS_MAX];
    unsigned n;
    char exe[4096];
    char *start_text; /* worker 0's lines at start */
    char **listen;    /* worker 0's listening points, when a port 0 was configured */
    size_t nlisten;
    int started; /* every worker was ready once */
    int stopping, signalled;
    int status;                        /* the exit status */
    size_t bindings;                   /* when the shutdown began */
    uint64_t retired[SIP_STAT__COUNT]; /* the counters of workers that have ended */
    uint64_t applied[SIP_STAT__COUNT]; /* what was added to the parent's loop */
    int pid_written;
};

static void plog(parent_t *p, sip_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void plog(parent_t *p, sip_log_level_t level, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    /* As main.c's lines: SIP_LOG_INFO is sipd's own notice (shown unless log.level is error
     * or warn), SIP_LOG_DEBUG a detail shown at info and debug. */
    const char *lvl = p->cfg ? sip_config_get(p->cfg, "log.level", 0) : "notice";
    if (!lvl) lvl = "notice";
    int quiet = strcmp(lvl, "error") == 0 || strcmp(lvl, "warn") == 0;
    int detail = strcmp(lvl, "info") == 0 || strcmp(lvl, "debug") == 0;
    if ((level == SIP_LOG_INFO && quiet) || (level >= SIP_LOG_DEBUG && !detail)) return;
    const char *name = level == SIP_LOG_INFO    ? "notice"
                       : level >= SIP_LOG_DEBUG ? "info"
                                                : sip_log_level_name(level);
    fprintf(stderr, "sipd %s sipd: %s\n", name, buf);
}

static void on_log(sip_loop_t *loop, sip_log_level_t level, const char *module, const char *text,
                   void *user)
{
    (void)loop;
    (void)user;
    fprintf(stderr, "sipd %s %s: %s\n", sip_log_level_name(level), module, text);
}

/* The workers' counters summed into the parent's loop, whose metrics endpoint serves them with
 * the parent's own (the location service's sip_bindings: the workers' copies of the index are
 * not counted again). A worker that ended keeps what its counters reached; its gauges go. */
static void sum_stats(parent_t *p)
{
    for (int id = 0; id < SIP_STAT__COUNT; id++) {
        if (id == SIP_STAT_BINDINGS) continue;
        sip_stat_info_t info;
        sip_stat_info((sip_stat_id_t)id, &info);
        uint64_t total = info.type == SIP_STAT_COUNTER ? p->retired[id] : 0;
        for (unsigned k = 0; k < p->n; k++)
            total += p->kids[k].snap[id];
        if (total != p->applied[id])
            sip_stat_add(p->loop, (sip_stat_id_t)id, (int64_t)(total - p->applied[id]));
        p->applied[id] = total;
    }
}

static void retire_stats(parent_t *p, child_t *c)
{
    for (int id = 0; id < SIP_STAT__COUNT; id++) {
        sip_stat_info_t info;
        sip_stat_info((sip_stat_id_t)id, &info);
        if (info.type == SIP_STAT_COUNTER) p->retired[id] += c->snap[id];
        c->snap[id] = 0;
    }
    sum_stats(p);
}

static unsigned live_count(const parent_t *p)
{
    unsigned live = 0;
    for (unsigned k = 0; k < p->n; k++)
        if (p->kids[k].proc) live++;
    return live;
}

static void finish_if_done(parent_t *p)
{
    if (p->stopping && live_count(p) == 0) sip_loop_stop(p->loop);
}

static void handle_freed(uv_handle_t *h)
{
    free(h);
}

static void close_control(child_t *c)
{
    if (c->poll) {
        uv_close((uv_handle_t *)c->poll, handle_freed);
        c->poll = NULL;
    }
    if (c->ctl >= 0) close(c->ctl);
    c->ctl = -1;
}

static void signal_all(parent_t *p, int signum)
{
    for (unsigned k = 0; k < p->n; k++)
        if (p->kids[k].proc) uv_process_kill(p->kids[k].proc, signum);
}

static void on_kill_timer(sip_timer_t *t, void *user)
{
    (void)t;
    parent_t *p = user;
    if (live_count(p)) plog(p, SIP_LOG_WARN, "workers still running after the grace time: killed");
    signal_all(p, SIGKILL);
}

static uint32_t grace_ms(const sip_config_t *cfg)
{
    uint32_t ms = 5000;
    const char *g = sip_config_get(cfg, "shutdown.grace", 0);
    if (g) {
        double s = strtod(g, NULL);
        size_t n = strlen(g);
        ms = n > 2 && strcmp(g + n - 2, "ms") == 0 ? (uint32_t)s : (uint32_t)(s * 1000);
    }
    return ms;
}

/* Stops every worker (each shuts down cleanly on its SIGTERM) and, once they have all ended,
 * the parent's loop. */
static void stop_all(parent_t *p)
{
    if (p->stopping) return;
    p->stopping = 1;
    p->bindings = p->loc ? sip_location_count(p->loc) : 0;
    for (unsigned k = 0; k < p->n; k++)
        sip_timer_stop(p->kids[k].restart);
    signal_all(p, SIGTERM);
    sip_timer_start(&p->kill_timer, p->loop, (uint64_t)grace_ms(p->cfg) + KILL_AFTER_MS, 0,
                    on_kill_timer, p, NULL);
    finish_if_done(p);
}

static int spawn(child_t *c);

static void on_restart(sip_timer_t *t, void *user)
{
    (void)t;
    child_t *c = user;
    parent_t *p = c->p;
    if (p->stopping || c->proc) return;
    int rc = spawn(c);
    if (rc) {
        uint64_t delay = BACKOFF_MS << (c->quick_deaths < 7 ? c->quick_deaths : 7);
        if (delay > BACKOFF_MAX_MS) delay = BACKOFF_MAX_MS;
        c->quick_deaths++;
        plog(p, SIP_LOG_ERROR, "worker %u: cannot start: %s; again in %llu ms", c->index,
             sip_strerror(rc), (unsigned long long)delay);
        sip_timer_unref(c->restart);
        c->restart = NULL;
        sip_timer_start(&c->restart, p->loop, delay, 0, on_restart, c, NULL);
    }
}

static void on_exit_cb(uv_process_t *proc, int64_t status, int term_signal)
{
    child_t *c = proc->data;
    parent_t *p = c->p;
    int pid = c->pid;
    uv_close((uv_handle_t *)proc, handle_freed);
    c->proc = NULL;
    c->pid = 0;
    close_control(c);
    retire_stats(p, c);
    int was_ready = c->ready;
    c->ready = 0;
    sip_hub_unlink(p->hub, c->index);
    char how[64];
    if (term_signal)
        snprintf(how, sizeof(how), "killed by signal %d", term_signal);
    else
        snprintf(how, sizeof(how), "exited with status %lld", (long long)status);
    if (p->stopping) {
        if (status || (term_signal && term_signal != SIGTERM))
            plog(p, SIP_LOG_WARN, "worker %u (pid %d) %s at shutdown", c->index, pid, how);
        finish_if_done(p);
        return;
    }
    if (!p->started) {
        /* A worker that cannot start (its listening point taken, a users file that does not
         * read, a script that does not load) has said why on stderr: sipd does not start. */
        if (!was_ready && status == 0 && !term_signal)
            plog(p, SIP_LOG_ERROR, "worker %u (pid %d) %s before it was ready", c->index, pid, how);
        p->status = EXIT_RUNTIME;
        stop_all(p);
        return;
    }
    /* Restart with a backoff: a worker that keeps dying at once (a broken script after a
     * reload, no memory) must not spin. */
    uint64_t lived = sip_loop_now(p->loop) - c->started_ms;
    if (lived >= STABLE_MS) c->quick_deaths = 0;
    uint64_t delay = BACKOFF_MS << (c->quick_deaths < 7 ? c->quick_deaths : 7);
    if (delay > BACKOFF_MAX_MS) delay = BACKOFF_MAX_MS;
    c->quick_deaths++;
    plog(p, SIP_LOG_WARN, "worker %u (pid %d) %s after %llu ms; restarting it in %llu ms", c->index,
         pid, how, (unsigned long long)lived, (unsigned long long)delay);
    sip_timer_unref(c->restart);
    c->restart = NULL;
    if (sip_timer_start(&c->restart, p->loop, delay, 0, on_restart, c, NULL) != 0)
        plog(p, SIP_LOG_ERROR, "worker %u: cannot schedule its restart", c->index);
}

static int print_started(parent_t *p)
{
    fputs(p->start_text ? p->start_text : "", stdout);
    if (p->metrics) {
        /* The address as configured, with the port chosen for port 0. */
        const char *ml = sip_config_get(p->cfg, "metrics.listen", 0);
        const char *colon = strrchr(ml, ':');
        printf("metrics on http://%.*s:%u/metrics\n", (int)(colon ? colon - ml : 0), ml,
               sip_metrics_get_port(p->metrics));
    }
    printf("%u workers (pids", p->n);
    for (unsigned k = 0; k < p->n; k++)
        printf(" %d", p->kids[k].pid);
    printf(")\n");
    fflush(stdout);
    if (p->o->pid_file) {
        FILE *f = fopen(p->o->pid_file, "w");
        if (!f || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0) {
            fprintf(stderr, "sipd: --pid-file %s: %s\n", p->o->pid_file, strerror(errno));
            return -1;
        }
        p->pid_written = 1;
    }
    return 0;
}

/* A configured listening point on port 0 is given a port by worker 0; the others listen on
 * the same ones. */
static int has_port_zero(const sip_config_t *cfg)
{
    for (size_t i = 0; i < sip_config_count(cfg, "listen"); i++) {
        const char *l = sip_config_get(cfg, "listen", i);
        size_t n = strlen(l);
        if (n > 2 && strcmp(l + n - 2, ":0") == 0) return 1;
    }
    return 0;
}

static void take_listen(parent_t *p, const char *text)
{
    for (const char *s = text; (s = strstr(s, "listening on ")) != NULL;) {
        s += strlen("listening on ");
        size_t n = strcspn(s, "\n");
        char **l = realloc(p->listen, (p->nlisten + 1) * sizeof(*l));
        if (l == NULL) return;
        p->listen = l;
        p->listen[p->nlisten] = strndup(s, n);
        if (p->listen[p->nlisten]) p->nlisten++;
        s += n;
    }
}

static void on_ready(parent_t *p, child_t *c, const char *text, size_t len)
{
    if (c->ready) return;
    c->ready = 1;
    if (p->started) {
        plog(p, SIP_LOG_INFO, "worker %u (pid %d) ready", c->index, c->pid);
        return;
    }
    if (c->index == 0) {
        p->start_text = strndup(text, len);
        if (has_port_zero(p->cfg)) take_listen(p, p->start_text ? p->start_text : "");
        /* Worker 0 opened the listening points (and chose the ports of port 0): the others
         * join them. */
        for (unsigned k = 1; k < p->n; k++) {
            int rc = spawn(&p->kids[k]);
            if (rc) {
                fprintf(stderr, "sipd: worker %u: %s\n", k, sip_strerror(rc));
                p->status = EXIT_RUNTIME;
                stop_all(p);
                return;
            }
        }
    }
    for (unsigned k = 0; k < p->n; k++)
        if (!p->kids[k].ready) return;
    p->started = 1;
    if (print_started(p) != 0) {
        p->status = EXIT_RUNTIME;
        stop_all(p);
    }
}

static void on_control(uv_poll_t *h, int status, int events)
{
    (void)events;
    child_t *c = h->data;
    parent_t *p = c->p;
    unsigned char buf[8192];
    for (;;) {
        ssize_t n = status < 0 ? 0 : recv(c->ctl, buf, sizeof(buf) - 1, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
        if (n <= 0) {
            /* The worker has gone (its exit is handled when its process is reaped). */
            close_control(c);
            return;
        }
        if (buf[0] == REC_READY) {
            buf[n] = '\0';
            on_ready(p, c, (const char *)buf + 1, (size_t)n - 1);
        } else if (buf[0] == REC_STATS && (size_t)n >= 1 + sizeof(c->snap)) {
            memcpy(c->snap, buf + 1, sizeof(c->snap));
            sum_stats(p);
        }
        if (c->ctl < 0) return; /* closed by what the record did (a failed start) */
    }
}

static int spawn(child_t *c)
{
    parent_t *p = c->p;
    int link = -1, sv[2] = {-1, -1};
    int rc = sip_hub_link(p->hub, c->index, &link);
    if (rc) return rc;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        rc = -errno;
        close(link);
        return rc;
    }
    /* sipd's command line again, then what makes it a worker. A later flag wins over an
     * earlier one, so --workers and --metrics override the operator's: the parent serves the
     * metrics, and every worker must agree on the count. */
    enum { EXTRA = 16 };
    char **argv = calloc((size_t)p->o->argc + EXTRA + 2 * p->nlisten + 1, sizeof(*argv));
    char nbuf[16], ibuf[16], lbuf[16], cbuf[16];
    if (argv == NULL) {
        close(link);
        close(sv[0]);
        close(sv[1]);
        return SIP_ENOMEM;
    }
    int a = 0;
    argv[a++] = p->exe;
    for (int i = 1; i < p->o->argc; i++)
        argv[a++] = p->o->argv[i];
    snprintf(nbuf, sizeof(nbuf), "%u", p->n);
    snprintf(ibuf, sizeof(ibuf), "%u", c->index);
    snprintf(lbuf, sizeof(lbuf), "%d", SIPD_WORKER_LINK_FD);
    snprintf(cbuf, sizeof(cbuf), "%d", SIPD_WORKER_CONTROL_FD);
    argv[a++] = "--workers";
    argv[a++] = nbuf;
    argv[a++] = "--metrics=";
    argv[a++] = "--worker-index";
    argv[a++] = ibuf;
    argv[a++] = "--worker-link";
    argv[a++] = lbuf;
    argv[a++] = "--worker-control";
    argv[a++] = cbuf;
    for (size_t i = 0; i < p->nlisten; i++) {
        argv[a++] = "--worker-listen";
        argv[a++] = p->listen[i];
    }
    argv[a] = NULL;

    uv_stdio_container_t stdio[5];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = 1;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    stdio[SIPD_WORKER_LINK_FD].flags = UV_INHERIT_FD;
    stdio[SIPD_WORKER_LINK_FD].data.fd = link;
    stdio[SIPD_WORKER_CONTROL_FD].flags = UV_INHERIT_FD;
    stdio[SIPD_WORKER_CONTROL_FD].data.fd = sv[1];
    uv_process_options_t opt;
    memset(&opt, 0, sizeof(opt));
    opt.file = p->exe;
    opt.args = argv;
    opt.exit_cb = on_exit_cb;
    opt.stdio = stdio;
    opt.stdio_count = 5;
    /* Its own session: a Ctrl-C at the terminal reaches the parent only, which stops the
     * workers once (a second signal would cut their grace time short). */
    opt.flags = UV_PROCESS_DETACHED;
    uv_process_t *proc = calloc(1, sizeof(*proc));
    uv_poll_t *poll = calloc(1, sizeof(*poll));
    int spawned = proc && poll;
    rc = spawned ? uv_spawn(p->uv, proc, &opt) : SIP_ENOMEM;
    free(argv);
    close(link);
    close(sv[1]);
    if (rc) {
        /* A handle uv_spawn() failed on is initialised still: it is closed, not freed. */
        if (spawned)
            uv_close((uv_handle_t *)proc, handle_freed);
        else
            free(proc);
        free(poll);
        close(sv[0]);
        return rc;
    }
    proc->data = c;
    c->proc = proc;
    c->pid = proc->pid;
    c->ready = 0;
    c->started_ms = sip_loop_now(p->loop);
    memset(c->snap, 0, sizeof(c->snap));
    c->ctl = sv[0];
    fcntl(c->ctl, F_SETFL, fcntl(c->ctl, F_GETFL) | O_NONBLOCK);
    if (uv_poll_init(p->uv, poll, c->ctl) == 0) {
        poll->data = c;
        c->poll = poll;
        uv_poll_start(poll, UV_READABLE | UV_DISCONNECT, on_control);
    } else {
        free(poll);
    }
    plog(p, SIP_LOG_DEBUG, "worker %u started (pid %d)", c->index, c->pid);
    return 0;
}

/* ---- the parent's signals ------------------------------------------------------------------ */

static void on_stop_signal(sip_signal_t *sig, int signum, void *user)
{
    (void)sig;
    parent_t *p = user;
    p->signalled = signum;
    if (p->stopping) {
        /* A second signal: the workers' second one skips the rest of their grace time. */
        signal_all(p, SIGTERM);
        return;
    }
    plog(p, SIP_LOG_INFO, "signal %d: shutting down %u workers (%u ms grace)", signum,
         live_count(p), grace_ms(p->cfg));
    stop_all(p);
}

static int open_metrics(parent_t *p, const sip_config_t *cfg)
{
    const char *ml = sip_config_get(cfg, "metrics.listen", 0);
    if (ml == NULL || !*ml) return 0;
    return sip_metrics_create(&p->metrics, p->loop, ml, NULL, NULL, NULL, NULL);
}

static void on_hup(sip_signal_t *sig, int signum, void *user)
{
    (void)sig;
    (void)signum;
    parent_t *p = user;
    if (p->stopping) return;
    sip_config_t *cfg = NULL;
    char why[512];
    if (p->o->rebuild(p->o->rebuild_user, &cfg, why, sizeof(why)) != EXIT_CLEAN) {
        fprintf(stderr, "sipd: reload refused: %s; the old configuration keeps running\n", why);
        return;
    }
    /* The parent's part: the log level and the metrics endpoint; each worker reloads the rest
     * (and refuses, logging why, what it cannot apply). */
    const char *old_ml = sip_config_get(p->cfg, "metrics.listen", 0);
    const char *new_ml = sip_config_get(cfg, "metrics.listen", 0);
    if (strcmp(old_ml ? old_ml : "", new_ml ? new_ml : "") != 0) {
        sip_metrics_t *old = p->metrics;
        p->metrics = NULL;
        int rc = open_metrics(p, cfg);
        if (rc) {
            fprintf(stderr,
                    "sipd: reload refused: metrics.listen: cannot serve on %s: %s; the "
                    "old configuration keeps running\n",
                    new_ml, sip_strerror(rc));
            p->metrics = old;
            sip_config_unref(cfg);
            return;
        }
        sip_metrics_close(old);
        sip_metrics_unref(old);
    }
    sip_loop_set_log_level(p->loop, level_of(sip_config_get(cfg, "log.level", 0)));
    sip_config_unref(p->cfg);
    p->cfg = cfg;
    signal_all(p, SIGHUP);
}

/* ---- the parent's run ---------------------------------------------------------------------- */

/* The workers open their listening points with SO_REUSEPORT, which another program of this
 * user doing the same (a second sipd started by mistake) would share silently, splitting the
 * traffic. Each configured point is bound once here without it: a port taken by anyone stops
 * sipd at start, as it stops a single sipd. */
static int probe_listen(const sip_config_t *cfg)
{
    for (size_t i = 0; i < sip_config_count(cfg, "listen"); i++) {
        const char *spec = sip_config_get(cfg, "listen", i);
        const char *addr = strchr(spec, ':'), *colon = strrchr(spec, ':');
        if (addr == NULL || colon == addr) continue;
        char host[64];
        addr++;
        size_t hl = (size_t)(colon - addr);
        if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') {
            addr++;
            hl -= 2;
        }
        if (hl >= sizeof(host)) continue;
        memcpy(host, addr, hl);
        host[hl] = '\0';
        int port = atoi(colon + 1);
        if (port <= 0) continue; /* port 0: any free one, chosen by worker 0 */
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof(ss));
        socklen_t sl;
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
            a4->sin_family = AF_INET;
            a4->sin_port = htons((uint16_t)port);
            sl = sizeof(*a4);
        } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
            a6->sin6_family = AF_INET6;
            a6->sin6_port = htons((uint16_t)port);
            sl = sizeof(*a6);
        } else {
            continue; /* the workers say what is wrong with it */
        }
        int udp = strncmp(spec, "udp:", 4) == 0;
        int fd = socket(ss.ss_family, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
        if (fd < 0) continue;
        int one = 1;
        /* TCP: as the transport does, so that connections in TIME_WAIT do not count. */
        if (!udp) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        int rc = bind(fd, (struct sockaddr *)&ss, sl) == 0 ? 0 : -errno;
        close(fd);
        if (rc) {
            fprintf(stderr, "sipd: listen: cannot listen on %s: %s\n", spec, sip_strerror(rc));
            return -1;
        }
    }
    return 0;
}

static int open_location(parent_t *p, const sip_config_t *cfg)
{
    const char *store = sip_config_get(cfg, "store", 0);
    if (store && *store) return 0; /* Redis: every worker uses it itself */
    const char *state = sip_config_get(cfg, "state", 0);
    char db[4200];
    sip_location_opts_t lo;
    sip_location_opts_init(&lo);
    if (state && *state) {
        struct stat st;
        if (stat(state, &st) != 0 && mkdir(state, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "sipd: state: %s: %s\n", state, strerror(errno));
            return -1;
        }
        snprintf(db, sizeof(db), "%s/" STATE_FILE, state);
        lo.db_path = db;
    }
    int rc = sip_location_create(&p->loc, p->loop, &lo);
    if (rc) {
        fprintf(stderr, "sipd: state: cannot open the location service%s%s: %s\n",
                lo.db_path ? " in " : "", lo.db_path ? db : "", sip_strerror(rc));
        return -1;
    }
    return 0;
}

static void teardown(parent_t *p)
{
    for (unsigned k = 0; k < p->n; k++) {
        child_t *c = &p->kids[k];
        sip_timer_unref(c->restart);
        c->restart = NULL;
        close_control(c);
        if (c->proc) {
            /* Only when the loop failed: no worker may outlive the parent. */
            uv_process_kill(c->proc, SIGKILL);
            uv_close((uv_handle_t *)c->proc, handle_freed);
            c->proc = NULL;
        }
    }
    sip_timer_unref(p->kill_timer);
    sip_signal_unref(p->sighup);
    sip_signal_unref(p->sigint);
    sip_signal_unref(p->sigterm);
    if (p->hub) sip_hub_close(p->hub);
    if (p->hub) sip_hub_unref(p->hub);
    if (p->metrics) sip_metrics_close(p->metrics);
    sip_metrics_unref(p->metrics);
    /* Closing the location service commits every write still queued (SQLite). */
    if (p->loc) sip_location_close(p->loc);
    sip_location_unref(p->loc);
    if (p->loop) sip_loop_run_once(p->loop, 0);
    sip_loop_unref(p->loop);
    sip_config_unref(p->cfg);
    free(p->start_text);
    for (size_t i = 0; i < p->nlisten; i++)
        free(p->listen[i]);
    free(p->listen);
    if (p->pid_written) unlink(p->o->pid_file);
}

int sipd_parent_run(const sip_config_t *cfg, const sipd_parent_opts_t *o)
{
    static parent_t p;
    memset(&p, 0, sizeof(p));
    p.o = o;
    p.n = o->workers;
    p.cfg = sip_config_ref((sip_config_t *)cfg);
    for (unsigned k = 0; k < p.n; k++)
        p.kids[k] = (child_t){.p = &p, .index = k, .ctl = -1};
    ssize_t len = readlink("/proc/self/exe", p.exe, sizeof(p.exe) - 1);
    if (len <= 0) {
        fprintf(stderr, "sipd: /proc/self/exe: %s\n", strerror(errno));
        teardown(&p);
        return EXIT_RUNTIME;
    }
    p.exe[len] = '\0';
    int rc;
    if (probe_listen(cfg) != 0) {
        teardown(&p);
        return EXIT_RUNTIME;
    }
    rc = sip_loop_create(&p.loop);
    if (rc) {
        fprintf(stderr, "sipd: %s\n", sip_strerror(rc));
        teardown(&p);
        return EXIT_RUNTIME;
    }
    p.uv = sip_loop_get_uv(p.loop);
    sip_loop_set_log(p.loop, level_of(sip_config_get(cfg, "log.level", 0)), on_log, NULL, NULL);
    if (open_location(&p, cfg) != 0) {
        teardown(&p);
        return EXIT_RUNTIME;
    }
    sip_hub_opts_t ho;
    sip_hub_opts_init(&ho);
    ho.workers = p.n;
    ho.location = p.loc;
    rc = sip_hub_create(&p.hub, p.loop, &ho);
    if (rc == 0) rc = open_metrics(&p, cfg);
    if (rc) {
        fprintf(stderr, "sipd: %s%s\n", p.hub ? "metrics.listen: " : "", sip_strerror(rc));
        teardown(&p);
        return EXIT_RUNTIME;
    }
    rc = sip_signal_start(&p.sigint, p.loop, SIGINT, on_stop_signal, &p, NULL);
    if (rc == 0) rc = sip_signal_start(&p.sigterm, p.loop, SIGTERM, on_stop_signal, &p, NULL);
    if (rc == 0) rc = sip_signal_start(&p.sighup, p.loop, SIGHUP, on_hup, &p, NULL);
    if (rc == 0) rc = spawn(&p.kids[0]);
    if (rc) {
        fprintf(stderr, "sipd: %s\n", sip_strerror(rc));
        teardown(&p);
        return EXIT_RUNTIME;
    }
    rc = sip_loop_run(p.loop);
    if (rc < 0 && !p.stopping) {
        fprintf(stderr, "sipd: the loop failed: %s\n", sip_strerror(rc));
        p.status = EXIT_RUNTIME;
    }
    int status = p.status, signalled = p.signalled;
    size_t bindings = p.bindings;
    teardown(&p);
    if (signalled && status == EXIT_CLEAN)
        printf("stopped on signal %d; %zu bindings\n", signalled, bindings);
    fflush(stdout);
    return status;
}

/* ---- a worker's control channel ------------------------------------------------------------ */

struct sipd_control {
    sip_loop_t *loop;
    int fd;
    uv_poll_t *poll;
    sip_timer_t *timer;
    uint64_t last[SIP_STAT__COUNT];
    void (*gone)(void *user);
    void *user;
    int sent_once;
};

static void send_stats(sipd_control_t *c)
{
    unsigned char buf[1 + sizeof(c->last)];
    uint64_t now[SIP_STAT__COUNT];
    for (int id = 0; id < SIP_STAT__COUNT; id++)
        now[id] = sip_stat_get(c->loop, (sip_stat_id_t)id);
    if (c->sent_once && memcmp(now, c->last, sizeof(now)) == 0) return;
    buf[0] = REC_STATS;
    memcpy(buf + 1, now, sizeof(now));
    /* Never blocks: a parent too busy to read gets the next one. */
    if (send(c->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)sizeof(buf)) {
        memcpy(c->last, now, sizeof(now));
        c->sent_once = 1;
    }
}

static void on_stats_timer(sip_timer_t *t, void *user)
{
    (void)t;
    send_stats(user);
}

static void on_parent(uv_poll_t *h, int status, int events)
{
    sipd_control_t *c = h->data;
    if (status == 0 && !(events & UV_DISCONNECT)) {
        char b[64];
        ssize_t n = recv(c->fd, b, sizeof(b), MSG_DONTWAIT);
        if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)))
            return; /* the parent sends nothing yet: a record is ignored */
    }
    /* The parent closed its end: it has gone (a SIGKILL closes it too). */
    uv_poll_stop(h);
    sip_timer_stop(c->timer);
    if (c->gone) {
        void (*gone)(void *) = c->gone;
        c->gone = NULL;
        gone(c->user);
    }
}

int sipd_control_open(sipd_control_t **out, sip_loop_t *loop, int fd, void (*gone)(void *user),
                      void *user)
{
    *out = NULL;
    sipd_control_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return SIP_ENOMEM;
    }
    c->loop = loop;
    c->fd = fd;
    c->gone = gone;
    c->user = user;
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    c->poll = calloc(1, sizeof(*c->poll));
    int rc = c->poll ? uv_poll_init(sip_loop_get_uv(loop), c->poll, fd) : SIP_ENOMEM;
    if (rc) {
        free(c->poll);
        c->poll = NULL;
        sipd_control_close(c);
        return rc;
    }
    c->poll->data = c;
    uv_poll_start(c->poll, UV_READABLE | UV_DISCONNECT, on_parent);
    rc = sip_timer_start(&c->timer, loop, STATS_MS, STATS_MS, on_stats_timer, c, NULL);
    if (rc) {
        sipd_control_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

int sipd_control_ready(sipd_control_t *c, const char *text)
{
    size_t n = strlen(text);
    char *buf = malloc(n + 1);
    if (buf == NULL) return SIP_ENOMEM;
    buf[0] = REC_READY;
    memcpy(buf + 1, text, n);
    ssize_t w = send(c->fd, buf, n + 1, MSG_NOSIGNAL);
    free(buf);
    return w == (ssize_t)(n + 1) ? 0 : -errno;
}

void sipd_control_close(sipd_control_t *c)
{
    if (c == NULL) return;
    sip_timer_stop(c->timer);
    sip_timer_unref(c->timer);
    if (c->poll) {
        uv_close((uv_handle_t *)c->poll, handle_freed);
        sip_loop_run_once(c->loop, 0);
    }
    if (c->fd >= 0) close(c->fd);
    free(c);
}
