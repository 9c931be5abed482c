/* SPDX-License-Identifier: MIT */
/* The proxy's routing program and what a server changes on a running proxy: the program
 * replaced (a script reloaded), the per-request hook, and the parts a configuration reload
 * swaps (users, digest servers, Server header). */
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy_int.h"
#include "sip/error.h"

int sip__proxy_route_new(sip__proxy_route_t **out, sip_proxy_route_cb cb, void *user,
                         sip_free_fn user_free)
{
    *out = NULL;
    if (!cb && !user_free) return 0;
    sip__proxy_route_t *r = calloc(1, sizeof(*r));
    if (!r) {
        if (user_free) user_free(user);
        return SIP_ENOMEM;
    }
    r->refs = 1;
    r->cb = cb;
    r->user = user;
    r->user_free = user_free;
    *out = r;
    return 0;
}

void sip__proxy_route_unref(sip__proxy_route_t *r)
{
    if (!r || --r->refs > 0) return;
    if (r->user_free) r->user_free(r->user);
    free(r);
}

void sip__proxy_route(sip_proxy_t *p, sip_proxy_req_t *req)
{
    sip__proxy_route_t *r = p->route;
    if (!r || !r->cb) {
        sip_proxy_route_default(req);
        return;
    }
    /* The request keeps its program: replacing the proxy's program during the callback, or
     * while the request waits for a lookup or a relay, does not free what it runs with. */
    if (!req->route) {
        req->route = r;
        r->refs++;
    }
    r->cb(p, req, r->user);
}

int sip_proxy_set_route(sip_proxy_t *p, sip_proxy_route_cb cb, void *user, sip_free_fn user_free)
{
    if (!p || p->closed) {
        if (user_free) user_free(user);
        return p ? SIP_ECLOSED : SIP_EINVAL;
    }
    sip__proxy_route_t *r;
    int rc = sip__proxy_route_new(&r, cb, user, user_free);
    if (rc) return rc;
    sip__proxy_route_t *old = p->route;
    p->route = r;
    sip__proxy_route_unref(old);
    return 0;
}

void sip__proxy_set_req_done(sip_proxy_t *p, void (*fn)(const sip_proxy_req_t *req, void *user),
                             void *user)
{
    p->req_done = fn;
    p->req_done_user = user;
}

void sip__proxy_reconfigure(sip_proxy_t *p, sip_registrar_t *registrar, sip_userdb_t *users,
                            sip_auth_server_t *auth, sip_auth_server_t *proxy_auth, char *server)
{
    if (registrar) sip_registrar_ref(registrar);
    sip_registrar_unref(p->registrar);
    p->registrar = registrar;
    free(p->server);
    p->server = server && *server ? server : NULL;
    if (server && !*server) free(server);
    if (users) sip_userdb_ref(users);
    sip_userdb_unref(p->users);
    p->users = users;
    if (auth) sip_auth_server_ref(auth);
    sip_auth_server_unref(p->auth);
    p->auth = auth;
    if (proxy_auth) sip_auth_server_ref(proxy_auth);
    sip_auth_server_unref(p->proxy_auth);
    p->proxy_auth = proxy_auth;
}
