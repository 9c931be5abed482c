/* SPDX-License-Identifier: MIT */
/* Names and descriptions of error codes, generated from SIP_ERRNO_MAP. */
#include <string.h>

#include "sip/error.h"

const char *sip_strerror(int err)
{
    switch (err) {
#define SIP__ERR_DESC(name, value, desc)                                                           \
    case (value): return desc;
        SIP_ERRNO_MAP(SIP__ERR_DESC)
#undef SIP__ERR_DESC
    default:
        /* Any other -errno still deserves its system description. */
        if (err < 0 && err > -4096) return strerror(-err);
        return "unknown error";
    }
}

const char *sip_err_name(int err)
{
    switch (err) {
#define SIP__ERR_NAME(name, value, desc)                                                           \
    case (value): return "SIP_" #name;
        SIP_ERRNO_MAP(SIP__ERR_NAME)
#undef SIP__ERR_NAME
    default: return "SIP_EUNKNOWN";
    }
}
