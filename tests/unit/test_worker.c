/* SPDX-License-Identifier: MIT */
/* Unit tests of the worker module (sip/worker.h): a hub on its own loop and thread, as the
 * parent process runs it, and two workers on the test's loop, linked by socket pairs as worker
 * processes are. A response or a CANCEL that lands on the wrong worker reaches its transaction,
 * a message for another worker's connection goes out on it, location writes are shared, and a
 * worker that comes back gets the index. Ports 52000-52099. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "pump.h"
#include "sip/sip.h"
#include "transport/raw.h"
#include "worker/worker_int.h"

#define UDP_PORT 52000
#define TCP_PORT0 52001
#define TCP_PORT1 52002
#define PEER_PORT 52010

/* ---- the hub side: its loop runs on a thread --------------------------------------------- */

typedef struct fx {
    sip_loop_t *hl, *wl;
    sip_hub_t *hub;
    sip_location_t *hloc;
    sip_timer_t *keep;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sip_worker_t *w[2];
    sip_transport_t *tp[2];
    sip_txn_layer_t *layer[2];
    sip_location_t *loc[2];
    int nreq[2];
    int respond; /* on_request answers 200 at once */
    sip_txn_t *srv;
    int peer; /* a UDP socket standing for the other end */
} fx_t;

typedef struct call {
    fx_t *fx;
    void (*fn)(fx_t *fx, void *arg);
    void *arg;
    int done;
} call_t;

static void *hub_main(void *arg)
{
    fx_t *fx = arg;
    sip_loop_run(fx->hl);
    return NULL;
}

static void call_run(sip_loop_t *loop, void *user)
{
    (void)loop;
    call_t *c = user;
    c->fn(c->fx, c->arg);
    pthread_mutex_lock(&c->fx->mu);
    c->done = 1;
    pthread_cond_broadcast(&c->fx->cv);
    pthread_mutex_unlock(&c->fx->mu);
}

/* Runs fn on the hub's thread and waits for it. */
static void hub_call(fx_t *fx, void (*fn)(fx_t *fx, void *arg), void *arg)
{
    call_t c = {fx, fn, arg, 0};
    assert_int_equal(sip_loop_post(fx->hl, call_run, &c, NULL), 0);
    pthread_mutex_lock(&fx->mu);
    while (!c.done)
        pthread_cond_wait(&fx->cv, &fx->mu);
    pthread_mutex_unlock(&fx->mu);
}

typedef struct {
    unsigned k;
    int fd;
} link_arg_t;

static void do_link(fx_t *fx, void *arg)
{
    link_arg_t *a = arg;
    assert_int_equal(sip_hub_link(fx->hub, a->k, &a->fd), 0);
}

static void do_unlink(fx_t *fx, void *arg)
{
    sip_hub_unlink(fx->hub, *(unsigned *)arg);
}

static void do_count(fx_t *fx, void *arg)
{
    *(size_t *)arg = sip_location_count(fx->hloc);
}

static void do_ready(fx_t *fx, void *arg)
{
    *(unsigned *)arg = sip_hub_ready_count(fx->hub);
}

static void do_stop(fx_t *fx, void *arg)
{
    (void)arg;
    sip_hub_close(fx->hub);
    sip_location_close(fx->hloc);
    sip_timer_stop(fx->keep);
    sip_loop_stop(fx->hl);
}

static void keep_alive(sip_timer_t *t, void *user)
{
    (void)t;
    (void)user;
}

static size_t hub_count(fx_t *fx)
{
    size_t n = 0;
    hub_call(fx, do_count, &n);
    return n;
}

static void start_worker(fx_t *fx, unsigned k)
{
    link_arg_t a = {k, -1};
    hub_call(fx, do_link, &a);
    sip_worker_opts_t wo;
    sip_worker_opts_init(&wo);
    wo.index = k;
    wo.count = 2;
    wo.fd = a.fd;
    assert_int_equal(sip_worker_create(&fx->w[k], fx->wl, &wo), 0);
    assert_int_equal(sip_worker_index(fx->w[k]), k);
    assert_int_equal(sip_worker_count(fx->w[k]), 2);
    assert_int_equal(sip_worker_is_linked(fx->w[k]), 1);
}

static void on_request(sip_txn_layer_t *layer, sip_txn_t *txn, sip_msg_t *req, void *user)
{
    fx_t *fx = user;
    (void)req;
    int k = layer == fx->layer[1];
    fx->nreq[k]++;
    if (txn && fx->respond) {
        sip_txn_respond(txn, 200, NULL);
        return;
    }
    if (txn && !fx->srv) fx->srv = sip_txn_ref(txn);
}

static void attach(fx_t *fx, unsigned k)
{
    assert_int_equal(sip_worker_attach(fx->w[k], fx->tp[k], fx->layer[k]), 0);
    assert_int_equal(sip_worker_attach(fx->w[k], fx->tp[k], fx->layer[k]), SIP_EEXIST);
}

/* The hub's service on SQLite (setup_sqlite), else in memory. */
static char db_dir[64];

static int setup_bare(void **state)
{
    fx_t *fx = calloc(1, sizeof(*fx));
    pthread_mutex_init(&fx->mu, NULL);
    pthread_cond_init(&fx->cv, NULL);
    assert_int_equal(sip_loop_create(&fx->hl), 0);
    assert_int_equal(sip_loop_create(&fx->wl), 0);
    sip_location_opts_t hlo;
    sip_location_opts_init(&hlo);
    char db[128];
    if (db_dir[0]) {
        snprintf(db, sizeof(db), "%s/location.sqlite", db_dir);
        hlo.db_path = db;
    }
    assert_int_equal(sip_location_create(&fx->hloc, fx->hl, &hlo), 0);
    sip_hub_opts_t ho;
    sip_hub_opts_init(&ho);
    ho.workers = 2;
    ho.location = fx->hloc;
    assert_int_equal(sip_hub_create(&fx->hub, fx->hl, &ho), 0);
    assert_int_equal(sip_timer_start(&fx->keep, fx->hl, 1000, 1000, keep_alive, NULL, NULL), 0);
    assert_int_equal(pthread_create(&fx->th, NULL, hub_main, fx), 0);
    start_worker(fx, 0);
    start_worker(fx, 1);
    unsigned ready = 0;
    hub_call(fx, do_ready, &ready);
    assert_int_equal(ready, 2);
    /* Worker 0 hears of worker 1 after its own handshake. */
    test_pump(fx->wl, 50);
    fx->peer = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PEER_PORT)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fx->peer, (struct sockaddr *)&a, sizeof(a)), 0);
    *state = fx;
    return 0;
}

static int setup(void **state);

static int setup_sqlite(void **state)
{
    strcpy(db_dir, "/tmp/test_worker_XXXXXX");
    assert_non_null(mkdtemp(db_dir));
    return setup(state);
}

static int teardown(void **state);

static int teardown_sqlite(void **state)
{
    teardown(state);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", db_dir);
    assert_int_equal(system(cmd), 0);
    db_dir[0] = '\0';
    return 0;
}

static int setup(void **state)
{
    setup_bare(state);
    fx_t *fx = *state;
    for (unsigned k = 0; k < 2; k++) {
        sip_transport_opts_t to;
        sip_transport_opts_init(&to);
        to.reuseport = 1;
        assert_int_equal(sip_transport_create(&fx->tp[k], fx->wl, &to), 0);
        char spec[64];
        snprintf(spec, sizeof(spec), "udp:127.0.0.1:%d", UDP_PORT);
        assert_true(sip_transport_listen(fx->tp[k], spec) >= 0);
        snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%d", k ? TCP_PORT1 : TCP_PORT0);
        assert_true(sip_transport_listen(fx->tp[k], spec) >= 0);
        assert_int_equal(sip_txn_layer_create(&fx->layer[k], fx->tp[k], NULL), 0);
        assert_int_equal(sip_txn_layer_set_request_handler(fx->layer[k], on_request, fx, NULL), 0);
        attach(fx, k);
    }
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    sip_txn_unref(fx->srv);
    for (unsigned k = 0; k < 2; k++) {
        sip_location_unref(fx->loc[k]);
        sip_txn_layer_unref(fx->layer[k]);
        sip_transport_unref(fx->tp[k]);
        sip_worker_unref(fx->w[k]);
    }
    test_pump(fx->wl, 20);
    hub_call(fx, do_stop, NULL);
    pthread_join(fx->th, NULL);
    sip_hub_unref(fx->hub);
    sip_location_unref(fx->hloc);
    sip_timer_unref(fx->keep);
    sip_loop_close(fx->hl);
    sip_loop_unref(fx->hl);
    sip_loop_close(fx->wl);
    sip_loop_unref(fx->wl);
    close(fx->peer);
    pthread_mutex_destroy(&fx->mu);
    pthread_cond_destroy(&fx->cv);
    free(fx);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------------- */

static sip_netinfo_t from_peer(sip_transport_type_t t)
{
    sip_netinfo_t ni = {0};
    ni.transport = t;
    strcpy(ni.local_ip, "127.0.0.1");
    ni.local_port = UDP_PORT;
    strcpy(ni.remote_ip, "127.0.0.1");
    ni.remote_port = PEER_PORT;
    return ni;
}

/* Reads what the peer socket got within ms (pumping the workers' loop), into buf. */
static int peer_read(fx_t *fx, char *buf, size_t size, int ms)
{
    for (int i = 0; i < ms; i++) {
        ssize_t n = recv(fx->peer, buf, size - 1, 0);
        if (n > 0) {
            buf[n] = '\0';
            return (int)n;
        }
        sip_loop_run_once(fx->wl, 0);
        usleep(1000);
    }
    return -1;
}

static void on_response(sip_txn_t *txn, int status, const sip_msg_t *rsp, void *user)
{
    (void)txn;
    (void)rsp;
    *(int *)user = status;
}

/* ---- a response on the wrong worker ---------------------------------------------------------- */

static void worker_response_reaches_its_transaction(void **state)
{
    fx_t *fx = *state;
    const char *req_text = "OPTIONS sip:peer@127.0.0.1:52010 SIP/2.0\r\n"
                           "From: <sip:a@example.com>;tag=1\r\n"
                           "To: <sip:peer@127.0.0.1>\r\n"
                           "Call-ID: resp-wrong-worker\r\n"
                           "CSeq: 1 OPTIONS\r\n"
                           "Max-Forwards: 70\r\n"
                           "Content-Length: 0\r\n\r\n";
    sip_msg_t *req;
    assert_int_equal(sip_msg_parse(&req, req_text, strlen(req_text), NULL), 0);
    sip_netinfo_t dst = from_peer(SIP_TRANSPORT_UDP);
    int status = 0;
    sip_txn_t *t;
    assert_int_equal(
        sip_txn_client_create(&t, fx->layer[0], req, &dst, NULL, on_response, &status, NULL), 0);
    sip_msg_unref(req);
    char buf[4096];
    assert_true(peer_read(fx, buf, sizeof(buf), 2000) > 0);
    /* The branch carries worker 0's mark. */
    assert_non_null(strstr(buf, "branch=z9hG4bKW00"));
    sip_msg_t *got, *rsp;
    assert_int_equal(sip_msg_parse(&got, buf, strlen(buf), NULL), 0);
    assert_int_equal(sip_msg_create_response(&rsp, got, 200, NULL, "t1"), 0);
    char out[4096];
    int n = sip_msg_print(rsp, out, sizeof(out));
    assert_true(n > 0);
    /* It lands on worker 1, as the kernel may choose. */
    sip_netinfo_t ni = from_peer(SIP_TRANSPORT_UDP);
    assert_int_equal(sip__transport_receive(fx->tp[1], &ni, out, (size_t)n, 0), 0);
    assert_true(test_pump_until(fx->wl, &status, 200, 2000));
    assert_int_equal(status, 200);
    sip_msg_unref(got);
    sip_msg_unref(rsp);
    sip_txn_unref(t);
}

/* ---- a retransmission and a CANCEL through the other worker ---------------------------------- */

static void worker_cancel_reaches_owner(void **state)
{
    fx_t *fx = *state;
    char inv[1024], cancel[1024];
    /* A call whose owner is worker 1; every message is given to worker 0. */
    for (int i = 0;; i++) {
        snprintf(inv, sizeof(inv),
                 "INVITE sip:bob@127.0.0.1:52000 SIP/2.0\r\n"
                 "Via: SIP/2.0/UDP 127.0.0.1:52010;branch=z9hG4bKcancel%d\r\n"
                 "From: <sip:a@example.com>;tag=1\r\n"
                 "To: <sip:bob@example.com>\r\n"
                 "Call-ID: cancel-owner-%d\r\n"
                 "CSeq: 1 INVITE\r\n"
                 "Contact: <sip:a@127.0.0.1:52010>\r\n"
                 "Max-Forwards: 70\r\n"
                 "Content-Length: 0\r\n\r\n",
                 i, i);
        int o = sip__worker_owner(fx->w[0], inv, strlen(inv));
        if (o == 1) {
            snprintf(cancel, sizeof(cancel),
                     "CANCEL sip:bob@127.0.0.1:52000 SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP 127.0.0.1:52010;branch=z9hG4bKcancel%d\r\n"
                     "From: <sip:a@example.com>;tag=1\r\n"
                     "To: <sip:bob@example.com>\r\n"
                     "Call-ID: cancel-owner-%d\r\n"
                     "CSeq: 1 CANCEL\r\n"
                     "Max-Forwards: 70\r\n"
                     "Content-Length: 0\r\n\r\n",
                     i, i);
            break;
        }
    }
    sip_netinfo_t ni = from_peer(SIP_TRANSPORT_UDP);
    assert_int_equal(sip__transport_receive(fx->tp[0], &ni, inv, strlen(inv), 0), 0);
    assert_true(test_pump_until(fx->wl, &fx->nreq[1], 1, 2000));
    /* The retransmission is absorbed by the owner's transaction: one INVITE for the TU. */
    assert_int_equal(sip__transport_receive(fx->tp[0], &ni, inv, strlen(inv), 0), 0);
    test_pump(fx->wl, 50);
    assert_int_equal(fx->nreq[0], 0);
    assert_int_equal(fx->nreq[1], 1);
    assert_non_null(fx->srv);
    assert_int_equal(sip_txn_get_layer(fx->srv), fx->layer[1]);
    /* RFC 3261 §9.2: the CANCEL gets 200 and the INVITE 487, from the owner. */
    assert_int_equal(sip__transport_receive(fx->tp[0], &ni, cancel, strlen(cancel), 0), 0);
    int got200 = 0, got487 = 0;
    char buf[4096];
    for (int i = 0; i < 20 && !(got200 && got487); i++) {
        if (peer_read(fx, buf, sizeof(buf), 200) <= 0) continue;
        if (!strncmp(buf, "SIP/2.0 200", 11) && strstr(buf, "CANCEL")) got200 = 1;
        if (!strncmp(buf, "SIP/2.0 487", 11)) got487 = 1;
    }
    assert_true(got200);
    assert_true(got487);
    assert_int_equal(fx->nreq[0], 0);
    assert_int_equal(fx->nreq[1], 1);
}

/* ---- a burst on the shared port ----------------------------------------------------------------
 */

static void worker_burst_answered_once(void **state)
{
    fx_t *fx = *state;
    fx->respond = 1;
    /* Twenty requests at once: a worker's receive batch passes its siblings' share in one call
     * at its end; each is answered once, by its owner. */
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(UDP_PORT)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    enum { N = 20 };
    for (int i = 0; i < N; i++) {
        char m[1024];
        int n = snprintf(m, sizeof(m),
                         "OPTIONS sip:w@127.0.0.1:52000 SIP/2.0\r\n"
                         "Via: SIP/2.0/UDP 127.0.0.1:52010;branch=z9hG4bKburst%d;rport\r\n"
                         "From: <sip:p@example.com>;tag=%d\r\n"
                         "To: <sip:w@example.com>\r\n"
                         "Call-ID: burst-%d\r\n"
                         "CSeq: 1 OPTIONS\r\n"
                         "Max-Forwards: 70\r\n"
                         "Content-Length: 0\r\n\r\n",
                         i, i, i);
        assert_int_equal(sendto(fx->peer, m, (size_t)n, 0, (struct sockaddr *)&sa, sizeof(sa)), n);
    }
    int seen[N] = {0}, answers = 0;
    char buf[4096];
    while (answers < N && peer_read(fx, buf, sizeof(buf), 2000) > 0) {
        assert_int_equal(strncmp(buf, "SIP/2.0 200", 11), 0);
        const char *b = strstr(buf, "branch=z9hG4bKburst");
        assert_non_null(b);
        int i = atoi(b + 19);
        assert_true(i >= 0 && i < N);
        seen[i]++;
        answers++;
    }
    assert_int_equal(answers, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(fx->nreq[0] + fx->nreq[1], N);
    assert_true(fx->nreq[0] > 0 && fx->nreq[1] > 0);
}

/* ---- a malformed request is answered by its owner as the receiver would have ---------------- */

static void worker_malformed_answered_by_owner(void **state)
{
    fx_t *fx = *state;
    char bad[1024];
    for (int i = 0;; i++) {
        snprintf(bad, sizeof(bad),
                 "OPTIONS sip:bob@127.0.0.1:52000 SIP/2.0\r\n"
                 "Via: SIP/2.0/UDP 127.0.0.1:52010;branch=z9hG4bKbad%d\r\n"
                 "From: <sip:a@example.com>;tag=1\r\n"
                 "To: <sip:bob@example.com>\r\n"
                 "Call-ID: malformed-%d\r\n"
                 "CSeq: many OPTIONS\r\n"
                 "Max-Forwards: 70\r\n"
                 "Content-Length: 0\r\n\r\n",
                 i, i);
        if (sip__worker_owner(fx->w[0], bad, strlen(bad)) == 1) break;
    }
    sip_netinfo_t ni = from_peer(SIP_TRANSPORT_UDP);
    sip_loop_set_log_level(fx->wl, SIP_LOG_ERROR);
    assert_int_equal(sip__transport_receive(fx->tp[0], &ni, bad, strlen(bad), 0), 0);
    char buf[4096];
    assert_true(peer_read(fx, buf, sizeof(buf), 2000) > 0);
    assert_int_equal(strncmp(buf, "SIP/2.0 400", 11), 0);
    assert_non_null(strstr(buf, "branch=z9hG4bKbad"));
    assert_int_equal(fx->nreq[0] + fx->nreq[1], 0);
}

/* ---- sending over another worker's connection ------------------------------------------------ */

static void grab_id(void *ctx, const sip_netinfo_t *ni)
{
    *(uint64_t *)ctx = ni->conn_id;
}

static void worker_send_over_other_connection(void **state)
{
    fx_t *fx = *state;
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(TCP_PORT1)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
    uint64_t id = 0;
    for (int i = 0; i < 2000 && !id; i++) {
        sip_loop_run_once(fx->wl, 0);
        sip__transport_each_conn(fx->tp[1], grab_id, &id);
        if (!id) usleep(1000);
    }
    assert_true(id != 0);
    /* Its id names the worker holding it. */
    assert_int_equal(id >> 56, 1);
    sip_netinfo_t ni;
    for (int i = 0; i < 2000 && sip__transport_conn_info(fx->tp[0], id, &ni) != 0; i++) {
        sip_loop_run_once(fx->wl, 0);
        usleep(1000);
    }
    assert_int_equal(sip__transport_conn_info(fx->tp[0], id, &ni), 0);
    assert_int_equal(ni.transport, SIP_TRANSPORT_TCP);
    assert_int_equal(ni.conn_id, id);
    const char *text = "OPTIONS sip:c@127.0.0.1 SIP/2.0\r\n"
                       "Via: SIP/2.0/TCP 0.0.0.0;branch=z9hG4bKother\r\n"
                       "From: <sip:a@example.com>;tag=1\r\n"
                       "To: <sip:c@127.0.0.1>\r\n"
                       "Call-ID: other-conn\r\n"
                       "CSeq: 1 OPTIONS\r\n"
                       "Max-Forwards: 70\r\n"
                       "Content-Length: 0\r\n\r\n";
    sip_msg_t *msg;
    assert_int_equal(sip_msg_parse(&msg, text, strlen(text), NULL), 0);
    sip_netinfo_t dst = {0};
    dst.transport = SIP_TRANSPORT_TCP;
    strcpy(dst.remote_ip, ni.remote_ip);
    dst.remote_port = ni.remote_port;
    dst.conn_id = id;
    assert_int_equal(sip_transport_send(fx->tp[0], msg, &dst, NULL, NULL, NULL), 0);
    sip_msg_unref(msg);
    char buf[4096] = "";
    size_t got = 0;
    for (int i = 0; i < 2000 && !strstr(buf, "\r\n\r\n"); i++) {
        sip_loop_run_once(fx->wl, 0);
        ssize_t n = recv(c, buf + got, sizeof(buf) - 1 - got, MSG_DONTWAIT);
        if (n > 0) got += (size_t)n;
        buf[got] = '\0';
        usleep(1000);
    }
    assert_non_null(strstr(buf, "OPTIONS sip:c@127.0.0.1 SIP/2.0"));
    /* Worker 0 opened nothing of its own. */
    assert_int_equal(sip_transport_connection_count(fx->tp[0]), 0);
    /* The connection closing is heard by the other worker. */
    close(c);
    for (int i = 0; i < 2000 && sip__transport_conn_info(fx->tp[0], id, &ni) == 0; i++) {
        sip_loop_run_once(fx->wl, 0);
        usleep(1000);
    }
    assert_int_equal(sip__transport_conn_info(fx->tp[0], id, &ni), SIP_ENOENT);
}

/* ---- a worker gone: its messages are served where they land, its connections forgotten ------ */

static void worker_gone_its_share_served_here(void **state)
{
    fx_t *fx = *state;
    /* Worker 1 holds a connection worker 0 knows of. */
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(TCP_PORT1)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
    uint64_t id = 0;
    for (int i = 0; i < 2000 && !id; i++) {
        sip_loop_run_once(fx->wl, 0);
        sip__transport_each_conn(fx->tp[1], grab_id, &id);
        if (!id) usleep(1000);
    }
    sip_netinfo_t ni;
    for (int i = 0; i < 2000 && sip__transport_conn_info(fx->tp[0], id, &ni) != 0; i++) {
        sip_loop_run_once(fx->wl, 0);
        usleep(1000);
    }
    assert_int_equal(sip__transport_conn_info(fx->tp[0], id, &ni), 0);
    /* Its process ends: the hub tells worker 0. */
    sip_worker_close(fx->w[1]);
    unsigned k = 1;
    hub_call(fx, do_unlink, &k);
    for (int i = 0; i < 2000 && sip__transport_conn_info(fx->tp[0], id, &ni) == 0; i++) {
        sip_loop_run_once(fx->wl, 0);
        usleep(1000);
    }
    assert_int_equal(sip__transport_conn_info(fx->tp[0], id, &ni), SIP_ENOENT);
    /* A request worker 1 owned is served by worker 0, where it landed. */
    char inv[1024];
    for (int i = 0;; i++) {
        snprintf(inv, sizeof(inv),
                 "OPTIONS sip:bob@127.0.0.1:52000 SIP/2.0\r\n"
                 "Via: SIP/2.0/UDP 127.0.0.1:52010;branch=z9hG4bKgone%d\r\n"
                 "From: <sip:a@example.com>;tag=1\r\n"
                 "To: <sip:bob@example.com>\r\n"
                 "Call-ID: gone-%d\r\n"
                 "CSeq: 1 OPTIONS\r\n"
                 "Max-Forwards: 70\r\n"
                 "Content-Length: 0\r\n\r\n",
                 i, i);
        if (sip__worker_owner(fx->w[0], inv, strlen(inv)) == 1) break;
    }
    sip_netinfo_t from = from_peer(SIP_TRANSPORT_UDP);
    assert_int_equal(sip__transport_receive(fx->tp[0], &from, inv, strlen(inv), 0), 0);
    assert_true(test_pump_until(fx->wl, &fx->nreq[0], 1, 2000));
    assert_int_equal(fx->nreq[1], 0);
    close(c);
}

/* ---- the location service -------------------------------------------------------------------- */

typedef struct {
    int calls, status;
} done_t;

static void on_done(sip_location_t *loc, int status, void *user)
{
    (void)loc;
    done_t *d = user;
    d->calls++;
    d->status = status;
}

static void open_location(fx_t *fx, unsigned k)
{
    sip_location_opts_t lo;
    sip_location_opts_init(&lo);
    lo.worker = fx->w[k];
    assert_int_equal(sip_location_create(&fx->loc[k], fx->wl, &lo), 0);
}

static int wait_count(fx_t *fx, sip_location_t *loc, size_t want)
{
    for (int i = 0; i < 2000; i++) {
        if (sip_location_count(loc) == want) return 1;
        sip_loop_run_once(fx->wl, 0);
        usleep(1000);
    }
    return sip_location_count(loc) == want;
}

static void put(fx_t *fx, unsigned k, const char *aor, const char *contact)
{
    sip_binding_t b = {0};
    b.aor = aor;
    b.contact = contact;
    b.expires = time(NULL) + 3600;
    b.q = -1;
    done_t d = {0};
    assert_int_equal(sip_location_put(fx->loc[k], &b, on_done, &d, NULL), 0);
    /* Complete only once the hub has it. */
    assert_true(test_pump_until(fx->wl, &d.calls, 1, 2000));
    assert_int_equal(d.status, 0);
}

static void worker_location_shared(void **state)
{
    fx_t *fx = *state;
    open_location(fx, 0);
    open_location(fx, 1);
    put(fx, 0, "sip:alice@example.com", "sip:alice@127.0.0.1:5070");
    assert_int_equal(hub_count(fx), 1);
    assert_true(wait_count(fx, fx->loc[1], 1));
    sip_uri_t u;
    assert_int_equal(sip_uri_parse(&u, "sip:alice@example.com", 21), 0);
    sip_bindings_t *set;
    assert_int_equal(sip_location_lookup_now(&set, fx->loc[1], &u), 0);
    assert_int_equal(sip_bindings_count(set), 1);
    assert_string_equal(sip_bindings_at(set, 0)->contact, "sip:alice@127.0.0.1:5070");
    sip_bindings_unref(set);
    /* A refresh replaces everywhere; a removal on worker 1 reaches worker 0 and the hub. */
    put(fx, 1, "sip:alice@example.com", "sip:alice@127.0.0.1:5070");
    test_pump(fx->wl, 20);
    assert_int_equal(sip_location_count(fx->loc[0]), 1);
    assert_int_equal(hub_count(fx), 1);
    done_t d = {0};
    assert_int_equal(
        sip_location_remove(fx->loc[1], "sip:alice@example.com", NULL, on_done, &d, NULL), 0);
    assert_true(test_pump_until(fx->wl, &d.calls, 1, 2000));
    assert_int_equal(d.status, 0);
    assert_true(wait_count(fx, fx->loc[0], 0));
    assert_int_equal(hub_count(fx), 0);
}

static void worker_comes_back_with_the_index(void **state)
{
    fx_t *fx = *state;
    open_location(fx, 0);
    open_location(fx, 1);
    put(fx, 0, "sip:alice@example.com", "sip:alice@127.0.0.1:5070");
    put(fx, 0, "sip:bob@example.com", "sip:bob@127.0.0.1:5071");
    assert_true(wait_count(fx, fx->loc[1], 2));
    /* Worker 1 ends (its process died) and the parent starts it again. */
    sip_location_unref(fx->loc[1]);
    fx->loc[1] = NULL;
    sip_worker_close(fx->w[1]);
    sip_worker_unref(fx->w[1]);
    fx->w[1] = NULL;
    unsigned k = 1;
    hub_call(fx, do_unlink, &k);
    unsigned ready = 9;
    hub_call(fx, do_ready, &ready);
    assert_int_equal(ready, 1);
    /* Written while it was away. */
    put(fx, 0, "sip:carol@example.com", "sip:carol@127.0.0.1:5072");
    start_worker(fx, 1);
    attach(fx, 1);
    open_location(fx, 1);
    /* The index is there when create returns. */
    assert_int_equal(sip_location_count(fx->loc[1]), 3);
    /* And the links work again both ways. */
    put(fx, 1, "sip:dave@example.com", "sip:dave@127.0.0.1:5073");
    assert_true(wait_count(fx, fx->loc[0], 4));
    assert_int_equal(hub_count(fx), 4);
}

static void worker_write_durable_in_the_hub(void **state)
{
    fx_t *fx = *state;
    open_location(fx, 0);
    open_location(fx, 1);
    /* Acknowledged once the parent's SQLite commit returned: another reader finds it. */
    put(fx, 1, "sip:erin@example.com", "sip:erin@127.0.0.1:5074");
    sip_loop_t *other;
    assert_int_equal(sip_loop_create(&other), 0);
    sip_location_opts_t lo;
    sip_location_opts_init(&lo);
    char db[128];
    snprintf(db, sizeof(db), "%s/location.sqlite", db_dir);
    lo.db_path = db;
    sip_location_t *reader;
    assert_int_equal(sip_location_create(&reader, other, &lo), 0);
    assert_int_equal(sip_location_count(reader), 1);
    sip_location_close(reader);
    sip_location_unref(reader);
    sip_loop_close(other);
    sip_loop_unref(other);
    assert_true(wait_count(fx, fx->loc[0], 1));
}

static void worker_bad_arguments(void **state)
{
    fx_t *fx = *state;
    sip_worker_t *w = (sip_worker_t *)1;
    sip_worker_opts_t wo;
    sip_worker_opts_init(&wo);
    assert_int_equal(wo.fd, -1);
    assert_int_equal(sip_worker_create(&w, fx->wl, &wo), SIP_EINVAL);
    assert_null(w);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    wo.fd = sv[0];
    wo.index = 2;
    wo.count = 2;
    assert_int_equal(sip_worker_create(&w, fx->wl, &wo), SIP_EINVAL);
    /* A hub that never answers. */
    close(sv[1]);
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    wo.fd = sv[0];
    wo.index = 0;
    close(sv[1]);
    assert_int_equal(sip_worker_create(&w, fx->wl, &wo), SIP_EIO);
    sip_hub_t *h = (sip_hub_t *)1;
    sip_hub_opts_t ho;
    sip_hub_opts_init(&ho);
    ho.workers = 0;
    assert_int_equal(sip_hub_create(&h, fx->wl, &ho), SIP_EINVAL);
    assert_null(h);
    ho.workers = SIP_WORKERS_MAX + 1;
    assert_int_equal(sip_hub_create(&h, fx->wl, &ho), SIP_EINVAL);
    ho.workers = 2;
    ho.location = fx->hloc; /* on another loop */
    assert_int_equal(sip_hub_create(&h, fx->wl, &ho), SIP_EINVAL);
    assert_int_equal(sip_worker_attach(fx->w[0], fx->tp[1], fx->layer[1]), SIP_EEXIST);
    assert_int_equal(sip_worker_attach(NULL, fx->tp[1], fx->layer[1]), SIP_EINVAL);
    int fd = 5;
    ho.location = NULL;
    assert_int_equal(sip_hub_create(&h, fx->wl, &ho), 0);
    assert_int_equal(sip_hub_link(h, 2, &fd), SIP_EINVAL);
    assert_int_equal(fd, -1);
    sip_hub_close(h);
    assert_int_equal(sip_hub_link(h, 0, &fd), SIP_ECLOSED);
    sip_hub_unref(h);
}

/* ---- two worker servers: a TCP-registered user called over UDP --------------------------------
 */

#define SRV_PORT 52020

/* Reads one message from a stream socket within ms (pumping the loop). */
static int tcp_read(fx_t *fx, int c, char *buf, size_t size, int ms)
{
    size_t got = 0;
    buf[0] = '\0';
    for (int i = 0; i < ms; i++) {
        sip_loop_run_once(fx->wl, 0);
        ssize_t n = recv(c, buf + got, size - 1 - got, MSG_DONTWAIT);
        if (n > 0) got += (size_t)n;
        buf[got] = '\0';
        if (strstr(buf, "\r\n\r\n")) return (int)got;
        usleep(1000);
    }
    return -1;
}

static void worker_servers_register_and_call(void **state)
{
    fx_t *fx = *state;
    sip_config_t *cfg;
    assert_int_equal(sip_config_create(&cfg), 0);
    assert_int_equal(sip_config_set(cfg, "listen", "udp:127.0.0.1:52020", NULL), 0);
    assert_int_equal(sip_config_add(cfg, "listen", "tcp:127.0.0.1:52020", NULL), 0);
    assert_int_equal(sip_config_set(cfg, "log.level", "error", NULL), 0);
    sip_server_t *srv[2];
    for (int k = 0; k < 2; k++)
        assert_int_equal(sip_server_create_worker(&srv[k], fx->wl, cfg, fx->w[k], NULL), 0);
    /* A worker on another loop, and a second server on one worker, are refused. */
    sip_server_t *other = (sip_server_t *)1;
    assert_int_equal(sip_server_create_worker(&other, fx->hl, cfg, fx->w[0], NULL), SIP_EINVAL);
    assert_null(other);
    assert_int_equal(sip_server_create_worker(&other, fx->wl, cfg, fx->w[0], NULL), SIP_EEXIST);
    assert_null(other);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(SRV_PORT)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
    const char *reg = "REGISTER sip:127.0.0.1:52020 SIP/2.0\r\n"
                      "Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bKreg1\r\n"
                      "From: <sip:alice@127.0.0.1>;tag=a1\r\n"
                      "To: <sip:alice@127.0.0.1>\r\n"
                      "Call-ID: reg-1\r\n"
                      "CSeq: 1 REGISTER\r\n"
                      "Contact: <sip:alice@127.0.0.1:5999;transport=tcp>\r\n"
                      "Expires: 3600\r\n"
                      "Max-Forwards: 70\r\n"
                      "Content-Length: 0\r\n\r\n";
    assert_int_equal(send(c, reg, strlen(reg), 0), (ssize_t)strlen(reg));
    char buf[8192];
    assert_true(tcp_read(fx, c, buf, sizeof(buf), 3000) > 0);
    assert_int_equal(strncmp(buf, "SIP/2.0 200", 11), 0);
    /* Both workers know the binding once the hub acknowledged it. */
    for (int k = 0; k < 2; k++)
        assert_true(wait_count(fx, sip_server_get_location(srv[k]), 1));
    const char *inv = "INVITE sip:alice@127.0.0.1:52020 SIP/2.0\r\n"
                      "Via: SIP/2.0/UDP 127.0.0.1:52010;branch=z9hG4bKinv1;rport\r\n"
                      "From: <sip:bob@127.0.0.1>;tag=b1\r\n"
                      "To: <sip:alice@127.0.0.1>\r\n"
                      "Call-ID: call-1\r\n"
                      "CSeq: 1 INVITE\r\n"
                      "Contact: <sip:bob@127.0.0.1:52010>\r\n"
                      "Max-Forwards: 70\r\n"
                      "Content-Length: 0\r\n\r\n";
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(SRV_PORT)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(sendto(fx->peer, inv, strlen(inv), 0, (struct sockaddr *)&sa, sizeof(sa)),
                     (ssize_t)strlen(inv));
    /* The INVITE reaches alice over her flow, whichever worker holds it. */
    assert_true(tcp_read(fx, c, buf, sizeof(buf), 3000) > 0);
    assert_int_equal(strncmp(buf, "INVITE sip:alice@127.0.0.1:5999", 31), 0);
    sip_msg_t *got, *rsp;
    assert_int_equal(sip_msg_parse(&got, buf, strlen(buf), NULL), 0);
    assert_int_equal(sip_msg_create_response(&rsp, got, 486, NULL, "al"), 0);
    char out[8192];
    int n = sip_msg_print(rsp, out, sizeof(out));
    assert_true(n > 0);
    assert_int_equal(send(c, out, (size_t)n, 0), n);
    /* Her 486 reaches the proxy's transaction and goes upstream. */
    int busy = 0;
    for (int i = 0; i < 20 && !busy; i++)
        if (peer_read(fx, buf, sizeof(buf), 200) > 0 && !strncmp(buf, "SIP/2.0 486", 11)) busy = 1;
    assert_true(busy);
    sip_msg_unref(got);
    sip_msg_unref(rsp);
    close(c);
    for (int k = 0; k < 2; k++) {
        sip_server_close(srv[k]);
        sip_server_unref(srv[k]);
    }
    sip_config_unref(cfg);
}

/* ---- one secret for the set: nonces and stateless branches --------------------------------- */

static void on_check_pw(sip_auth_query_t *q, sip_auth_event_t ev, void *user)
{
    int *verdict = user;
    if (ev == SIP_AUTH_EVENT_DONE) {
        *verdict = (int)sip_auth_query_get_verdict(q);
        return;
    }
    assert_int_equal(sip_auth_query_answer_password(q, "secret"), 0);
}

static void worker_nonce_taken_by_the_other(void **state)
{
    fx_t *fx = *state;
    char s0[80], s1[80];
    assert_int_equal(sip_worker_secret(fx->w[0], s0, sizeof(s0)), 64);
    assert_int_equal(sip_worker_secret(fx->w[1], s1, sizeof(s1)), 64);
    assert_int_equal(strlen(s0), 64);
    assert_string_equal(s0, s1);
    char cut[5];
    assert_int_equal(sip_worker_secret(fx->w[0], cut, sizeof(cut)), 64);
    assert_int_equal(strlen(cut), 4);
    assert_int_equal(sip_worker_secret(NULL, s0, sizeof(s0)), SIP_EINVAL);
    assert_int_equal(sip_worker_secret(fx->w[0], NULL, 4), SIP_EINVAL);
    char users[64] = "/tmp/test_worker_users_XXXXXX";
    int ufd = mkstemp(users);
    assert_true(ufd >= 0);
    const char *line = "alice:example.com:MD5:b1726872c344b6dc8365b774f8fd6412\n";
    assert_int_equal(write(ufd, line, strlen(line)), (ssize_t)strlen(line));
    close(ufd);
    sip_config_t *cfg;
    assert_int_equal(sip_config_create(&cfg), 0);
    assert_int_equal(sip_config_set(cfg, "listen", "udp:127.0.0.1:52020", NULL), 0);
    assert_int_equal(sip_config_set(cfg, "domains", "example.com", NULL), 0);
    assert_int_equal(sip_config_set(cfg, "users", users, NULL), 0);
    assert_int_equal(sip_config_set(cfg, "digest", "MD5", NULL), 0);
    assert_int_equal(sip_config_set(cfg, "log.level", "error", NULL), 0);
    sip_server_t *srv[2];
    for (int k = 0; k < 2; k++)
        assert_int_equal(sip_server_create_worker(&srv[k], fx->wl, cfg, fx->w[k], NULL), 0);
    sip_auth_server_t *a0 = sip_proxy_get_auth(sip_server_get_proxy(srv[0]));
    sip_auth_server_t *a1 = sip_proxy_get_auth(sip_server_get_proxy(srv[1]));
    assert_non_null(a0);
    assert_non_null(a1);
    /* A challenge of worker 0 answered, the retry landing on worker 1: its nonce is good
     * there (RFC 7616 §3.3: not stale). */
    const char *text = "REGISTER sip:example.com SIP/2.0\r\n"
                       "Via: SIP/2.0/UDP 127.0.0.1:52010;branch=z9hG4bKn1\r\n"
                       "Max-Forwards: 70\r\n"
                       "From: <sip:alice@example.com>;tag=a1\r\n"
                       "To: <sip:alice@example.com>\r\n"
                       "Call-ID: nonce-1\r\n"
                       "CSeq: 1 REGISTER\r\n"
                       "Contact: <sip:alice@127.0.0.1:52010>\r\n"
                       "Content-Length: 0\r\n\r\n";
    sip_msg_t *sent, *next, *rsp;
    assert_int_equal(sip_msg_parse(&sent, text, strlen(text), NULL), 0);
    assert_int_equal(sip_msg_parse(&next, text, strlen(text), NULL), 0);
    assert_int_equal(sip_msg_create_response(&rsp, sent, 401, NULL, NULL), 0);
    assert_int_equal(sip_auth_server_challenge(a0, rsp, 0), 0);
    sip_auth_client_t *ac;
    assert_int_equal(sip_auth_client_create(&ac), 0);
    sip_auth_cred_t c = {.realm = "example.com", .user = "alice", .password = "secret"};
    assert_int_equal(sip_auth_client_add(ac, &c), 0);
    assert_int_equal(sip_auth_client_authorize(ac, next, sent, rsp), 0);
    int verdict = -1;
    sip_auth_query_t *q;
    assert_int_equal(sip_auth_server_check(&q, a1, next, on_check_pw, &verdict, NULL), 0);
    sip_auth_query_unref(q);
    assert_int_equal(verdict, SIP_AUTH_OK);
    sip_auth_client_unref(ac);
    sip_msg_unref(rsp);
    sip_msg_unref(sent);
    sip_msg_unref(next);
    for (int k = 0; k < 2; k++) {
        sip_server_close(srv[k]);
        sip_server_unref(srv[k]);
    }
    sip_config_unref(cfg);
    unlink(users);
}

static void worker_stateless_response_on_the_other(void **state)
{
    fx_t *fx = *state;
    sip_config_t *cfg;
    assert_int_equal(sip_config_create(&cfg), 0);
    assert_int_equal(sip_config_set(cfg, "listen", "udp:127.0.0.1:52020", NULL), 0);
    assert_int_equal(sip_config_set(cfg, "mode", "stateless", NULL), 0);
    assert_int_equal(sip_config_set(cfg, "log.level", "error", NULL), 0);
    sip_server_t *srv[2];
    for (int k = 0; k < 2; k++)
        assert_int_equal(sip_server_create_worker(&srv[k], fx->wl, cfg, fx->w[k], NULL), 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(SRV_PORT)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const char *reg = "REGISTER sip:127.0.0.1:52020 SIP/2.0\r\n"
                      "Via: SIP/2.0/UDP 127.0.0.1:52010;branch=z9hG4bKsreg1\r\n"
                      "From: <sip:bob@127.0.0.1>;tag=r1\r\n"
                      "To: <sip:bob@127.0.0.1>\r\n"
                      "Call-ID: sl-reg-1\r\n"
                      "CSeq: 1 REGISTER\r\n"
                      "Contact: <sip:bob@127.0.0.1:52010>\r\n"
                      "Expires: 3600\r\n"
                      "Max-Forwards: 70\r\n"
                      "Content-Length: 0\r\n\r\n";
    assert_int_equal(sendto(fx->peer, reg, strlen(reg), 0, (struct sockaddr *)&sa, sizeof(sa)),
                     (ssize_t)strlen(reg));
    char buf[8192];
    assert_true(peer_read(fx, buf, sizeof(buf), 3000) > 0);
    assert_int_equal(strncmp(buf, "SIP/2.0 200", 11), 0);
    for (int k = 0; k < 2; k++)
        assert_true(wait_count(fx, sip_server_get_location(srv[k]), 1));
    const char *opt = "OPTIONS sip:bob@127.0.0.1:52020 SIP/2.0\r\n"
                      "Via: SIP/2.0/UDP 127.0.0.1:52010;branch=z9hG4bKsopt1;rport\r\n"
                      "From: <sip:carol@127.0.0.1>;tag=c1\r\n"
                      "To: <sip:bob@127.0.0.1>\r\n"
                      "Call-ID: sl-opt-1\r\n"
                      "CSeq: 1 OPTIONS\r\n"
                      "Max-Forwards: 70\r\n"
                      "Content-Length: 0\r\n\r\n";
    int owner = sip__worker_owner(fx->w[0], opt, strlen(opt));
    assert_true(owner == 0 || owner == 1);
    assert_int_equal(sendto(fx->peer, opt, strlen(opt), 0, (struct sockaddr *)&sa, sizeof(sa)),
                     (ssize_t)strlen(opt));
    /* bob (the peer socket too) gets it forwarded with the owner's stateless branch. */
    assert_true(peer_read(fx, buf, sizeof(buf), 3000) > 0);
    assert_int_equal(strncmp(buf, "OPTIONS sip:bob@127.0.0.1:52010", 31), 0);
    sip_msg_t *got, *rsp;
    assert_int_equal(sip_msg_parse(&got, buf, strlen(buf), NULL), 0);
    assert_int_equal(sip_msg_create_response(&rsp, got, 200, NULL, "b1"), 0);
    char out[8192];
    int n = sip_msg_print(rsp, out, sizeof(out));
    assert_true(n > 0);
    /* bob's 200 lands on the other worker: it verifies the MAC (one key for the set) and
     * sends it on (RFC 3261 §16.11), to the caller. */
    sip_netinfo_t ni = from_peer(SIP_TRANSPORT_UDP);
    ni.local_port = SRV_PORT;
    assert_int_equal(
        sip__transport_receive(sip_server_get_transport(srv[1 - owner]), &ni, out, (size_t)n, 0),
        0);
    int fwd = 0;
    for (int i = 0; i < 20 && !fwd; i++)
        if (peer_read(fx, buf, sizeof(buf), 100) > 0 && !strncmp(buf, "SIP/2.0 200", 11) &&
            strstr(buf, "z9hG4bKsopt1"))
            fwd = 1;
    assert_true(fwd);
    sip_msg_unref(got);
    sip_msg_unref(rsp);
    for (int k = 0; k < 2; k++) {
        sip_server_close(srv[k]);
        sip_server_unref(srv[k]);
    }
    sip_config_unref(cfg);
}

/* ---- requests owned by their Call-ID ----------------------------------------------------------
 */

static int owner_of_text(fx_t *fx, const char *fmt, const char *cid_line, const char *branch)
{
    char m[1024];
    snprintf(m, sizeof(m), fmt, branch, cid_line);
    return sip__worker_owner(fx->w[0], m, strlen(m));
}

static void worker_requests_owned_by_call_id(void **state)
{
    fx_t *fx = *state;
    static const char fmt[] = "BYE sip:bob@127.0.0.1:52000 SIP/2.0\r\n"
                              "Via: SIP/2.0/UDP 127.0.0.1:52010;branch=z9hG4bK%s\r\n"
                              "From: <sip:a@example.com>;tag=1\r\n"
                              "To: <sip:bob@example.com>;tag=2\r\n"
                              "%s"
                              "CSeq: 2 BYE\r\n"
                              "Max-Forwards: 70\r\n"
                              "Content-Length: 0\r\n\r\n";
    /* A Call-ID of each owner. */
    char cid[2][64];
    int have[2] = {0, 0};
    for (int i = 0; !(have[0] && have[1]); i++) {
        char line[96];
        snprintf(line, sizeof(line), "Call-ID: own%d@example.com\r\n", i);
        int o = owner_of_text(fx, fmt, line, "x1");
        assert_true(o == 0 || o == 1);
        if (!have[o]) {
            snprintf(cid[o], sizeof(cid[o]), "own%d@example.com", i);
            have[o] = 1;
        }
    }
    for (int o = 0; o < 2; o++) {
        char line[160];
        /* Whatever the branch, the name's form and case, the whitespace and folds (RFC 3261
         * §7.3.1), the Call-ID decides. */
        const char *forms[] = {"Call-ID: %s\r\n", "i:%s\r\n", "CALL-id  :  %s  \r\n",
                               "call-id:\r\n  %s\r\n", "I:\r\n\t \r\n %s\r\n"};
        for (size_t f = 0; f < sizeof(forms) / sizeof(*forms); f++) {
            snprintf(line, sizeof(line), forms[f], cid[o]);
            assert_int_equal(owner_of_text(fx, fmt, line, "x1"), o);
            assert_int_equal(owner_of_text(fx, fmt, line, "other-branch"), o);
        }
        /* A header whose name only ends in Call-ID is not it. */
        snprintf(line, sizeof(line), "X-Call-ID: %s\r\nCall-ID: %s\r\n", cid[1 - o], cid[o]);
        assert_int_equal(owner_of_text(fx, fmt, line, "x1"), o);
    }
    /* No Call-ID: handled where it lands (its parser answers 400). */
    assert_int_equal(owner_of_text(fx, fmt, "", "x1"), -1);
    assert_int_equal(owner_of_text(fx, fmt, "Call-ID:\r\n", "x1"), -1);
    /* An ACK for a 2xx and the BYE after it, each with its own branch, landing on worker 0 for
     * a call of worker 1: both reach worker 1 (its dialog), in the order they came. */
    char ack[1024], bye[1024], line[96];
    snprintf(ack, sizeof(ack),
             "ACK sip:bob@127.0.0.1:52000 SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 127.0.0.1:52010;branch=z9hG4bKack2xx\r\n"
             "From: <sip:a@example.com>;tag=1\r\n"
             "To: <sip:bob@example.com>;tag=2\r\n"
             "Call-ID: %s\r\n"
             "CSeq: 1 ACK\r\n"
             "Max-Forwards: 70\r\n"
             "Content-Length: 0\r\n\r\n",
             cid[1]);
    snprintf(line, sizeof(line), "i: %s\r\n", cid[1]);
    snprintf(bye, sizeof(bye), fmt, "bye2", line);
    fx->respond = 1;
    sip_netinfo_t ni = from_peer(SIP_TRANSPORT_UDP);
    assert_int_equal(sip__transport_receive(fx->tp[0], &ni, ack, strlen(ack), 0), 0);
    assert_int_equal(sip__transport_receive(fx->tp[0], &ni, bye, strlen(bye), 0), 0);
    assert_true(test_pump_until(fx->wl, &fx->nreq[1], 2, 2000));
    assert_int_equal(fx->nreq[0], 0);
    char buf[4096];
    assert_true(peer_read(fx, buf, sizeof(buf), 2000) > 0);
    assert_int_equal(strncmp(buf, "SIP/2.0 200", 11), 0);
    assert_non_null(strstr(buf, "z9hG4bKbye2"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(worker_response_reaches_its_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(worker_cancel_reaches_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(worker_burst_answered_once, setup, teardown),
        cmocka_unit_test_setup_teardown(worker_requests_owned_by_call_id, setup, teardown),
        cmocka_unit_test_setup_teardown(worker_malformed_answered_by_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(worker_send_over_other_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(worker_gone_its_share_served_here, setup, teardown),
        cmocka_unit_test_setup_teardown(worker_location_shared, setup, teardown),
        cmocka_unit_test_setup_teardown(worker_comes_back_with_the_index, setup, teardown),
        cmocka_unit_test_setup_teardown(worker_write_durable_in_the_hub, setup_sqlite,
                                        teardown_sqlite),
        cmocka_unit_test_setup_teardown(worker_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(worker_servers_register_and_call, setup_bare, teardown),
        cmocka_unit_test_setup_teardown(worker_nonce_taken_by_the_other, setup_bare, teardown),
        cmocka_unit_test_setup_teardown(worker_stateless_response_on_the_other, setup_bare,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
