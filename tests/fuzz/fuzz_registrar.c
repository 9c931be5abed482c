/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the registrar and the user table (sip/registrar.h). The input is
 *   "U" then a users file: read as a table; one that loads is saved and read back the same;
 *   anything else: a SIP message. A REGISTER is saved twice (a refresh of what the first one
 *   wrote), through server transactions, by a registrar writing into a location service in
 *   memory, first as the user "alice", then without a user with auth_required off.
 * Nothing may crash or leak; every status must be one the header documents. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sip/sip.h"
#include "txn/txn_int.h"

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_registrar: %s\n", what);
    abort();
}

/* ---- the user table ----------------------------------------------------------------------- */

static char users_path[64], saved_path[64];

static void users(const uint8_t *data, size_t size)
{
    if (!users_path[0]) {
        snprintf(users_path, sizeof(users_path), "/tmp/fuzz-registrar-%d.users", (int)getpid());
        snprintf(saved_path, sizeof(saved_path), "/tmp/fuzz-registrar-%d.saved", (int)getpid());
    }
    FILE *fp = fopen(users_path, "wb");
    if (!fp) fail("temporary file");
    if (size && fwrite(data, 1, size, fp) != size) fail("write");
    fclose(fp);
    sip_userdb_t *db = NULL, *back = NULL;
    int line = -1;
    int rc = sip_userdb_create(&db, users_path, &line);
    if (rc == SIP_EPARSE) {
        if (db || line <= 0) fail("a parse error without its line");
        return;
    }
    if (rc != 0 || !db || line != 0) fail("users: unexpected result");
    if (sip_userdb_save(db, saved_path) != 0) fail("save");
    if (sip_userdb_create(&back, saved_path, NULL) != 0) fail("a saved table does not load");
    if (sip_userdb_count(back) != sip_userdb_count(db)) fail("a saved table lost users");
    sip_userdb_unref(back);
    sip_userdb_unref(db);
}

/* ---- REGISTERs ---------------------------------------------------------------------------- */

static uint64_t clock_now(void *u)
{
    (void)u;
    return 1000;
}

static void clock_start(void *u, uint64_t delay, void (*fire)(void *), void *arg)
{
    (void)u;
    (void)delay;
    (void)fire;
    (void)arg;
}

static void clock_stop(void *u)
{
    (void)u;
}

static const sip_txn_clock_t hand_clock = {clock_now, clock_start, clock_stop, NULL};

static int io_send(void *ctx, sip_msg_t *msg, const sip_netinfo_t *dst, sip_transport_sent_cb cb,
                   void *user, sip_free_fn user_free)
{
    (void)ctx;
    (void)msg;
    (void)dst;
    (void)cb;
    if (user_free) user_free(user);
    return SIP_EINVAL;
}

static int answered;

static int io_send_response(void *ctx, sip_msg_t *rsp)
{
    (void)ctx;
    char buf[8192];
    /* A response the registrar made must print. */
    if (sip_msg_print(rsp, buf, sizeof(buf)) < 0) fail("a response that does not print");
    answered++;
    return 0;
}

static int io_send_raw(void *ctx, const sip_netinfo_t *ni, const char *data, size_t len)
{
    (void)ctx;
    (void)ni;
    (void)data;
    (void)len;
    return 0;
}

static int done;

static void on_saved(sip_registrar_t *r, int status, sip_msg_t *rsp, sip_bindings_t *set,
                     void *user)
{
    (void)r;
    (void)user;
    static const int allowed[] = {200, 400, 403, 404, 420, 423, 439, 500};
    int ok = 0;
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        ok |= status == allowed[i];
    if (!ok) fail("a status the registrar does not document");
    if (rsp && sip_msg_get_status(rsp) != status) fail("the response is not the status");
    if (status == 200 && !set) fail("a 200 without its bindings");
    /* No allocation fails here: a 200 is always built (a stored value that cannot go into it
     * would make every 2xx of the AOR fail). */
    if (status == 200 && !rsp) fail("a 200 that could not be built");
    done++;
}

static void save(sip_txn_layer_t *layer, sip_registrar_t *reg, sip_msg_t *req, const char *user,
                 sip_loop_t *loop)
{
    sip_txn_t *txn = NULL;
    if (sip_txn_server_create(&txn, layer, req) != 0) return;
    int before = done;
    int rc = sip_registrar_save(reg, txn, user, on_saved, NULL, NULL);
    if (rc != 0 && rc != SIP_EINVAL) fail("save failed");
    for (int i = 0; i < 8 && rc == 0 && done == before; i++)
        sip_loop_run_once(loop, 0);
    if (rc == 0 && done != before + 1) fail("no answer");
    sip_txn_unref(txn);
}

static void registers(const uint8_t *data, size_t size)
{
    sip_msg_t *m = NULL;
    if (sip_msg_parse(&m, (const char *)data, size, NULL) != 0) return;
    if (!sip_msg_is_request(m) || sip_msg_validate(m, NULL) != 0) {
        sip_msg_unref(m);
        return;
    }
    /* Where it came from: a stream for an odd length, so both kinds of flow are seen. */
    sip_netinfo_t ni = {size % 2 ? SIP_TRANSPORT_TCP : SIP_TRANSPORT_UDP,
                        "127.0.0.1",
                        5060,
                        "192.0.2.7",
                        40000,
                        size % 2 ? 3 : 0,
                        ""};
    sip_msg_set_netinfo(m, &ni);
    sip_loop_t *loop = NULL;
    sip_transport_t *tp = NULL;
    sip_txn_layer_t *layer = NULL;
    sip_location_t *loc = NULL;
    sip_registrar_t *reg = NULL, *open_reg = NULL;
    sip_txn_opts_t to;
    sip_txn_opts_init(&to);
    to.clock = &hand_clock;
    if (sip_loop_create(&loop) || sip_transport_create(&tp, loop, NULL) ||
        sip_txn_layer_create(&layer, tp, &to))
        fail("setup");
    sip__txn_io_t io = {io_send, io_send_response, io_send_raw, NULL, NULL};
    sip__txn_layer_set_io(layer, &io);
    if (sip_location_create(&loc, loop, NULL) ||
        sip_location_add_domain(loc, "example.com", NULL) ||
        sip_location_add_domain(loc, "atlanta.com", NULL) ||
        sip_location_add_alias(loc, "sip:1000@example.com", "sip:alice@example.com"))
        fail("location");
    sip_registrar_opts_t o;
    sip_registrar_opts_init(&o);
    o.service_route = "<sip:orig@example.com;lr>";
    if (sip_registrar_create(&reg, loc, &o)) fail("registrar");
    o.auth_required = 0;
    o.max_contacts = 3;
    if (sip_registrar_create(&open_reg, loc, &o)) fail("registrar");
    save(layer, reg, m, "alice", loop);
    /* The same request again as a new transaction: another branch. */
    sip_msg_t *again = NULL;
    if (sip_msg_clone(&again, m) == 0) {
        const sip_header_t *via = sip_msg_header_at(again, SIP_HDR_VIA, 0);
        if (via &&
            sip_msg_update_header(again, via, "SIP/2.0/UDP 192.0.2.7;branch=z9hG4bKagain") == 0) {
            sip_msg_set_netinfo(again, &ni);
            save(layer, open_reg, again, NULL, loop);
        }
        sip_msg_unref(again);
    }
    sip_registrar_unref(open_reg);
    sip_registrar_unref(reg);
    sip_location_close(loc);
    sip_location_unref(loc);
    sip_txn_layer_unref(layer);
    sip_transport_unref(tp);
    sip_loop_close(loop);
    sip_loop_unref(loop);
    sip_msg_unref(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size && data[0] == 'U')
        users(data + 1, size - 1);
    else
        registers(data, size);
    return 0;
}
