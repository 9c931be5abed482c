/* SPDX-License-Identifier: MIT */
/* The proxy's servers: location lookups, digest authentication, the registrar, redirects. */
#include <stdlib.h>

#include "proxy/proxy_int.h"
#include "sip/error.h"

void sip__proxy_auth_free(sip_proxy_req_t *req)
{
    if (req->query) {
        sip_auth_query_close(req->query);
        sip_auth_query_unref(req->query);
        req->query = NULL;
    }
}
