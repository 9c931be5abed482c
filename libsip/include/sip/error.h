/* SPDX-License-Identifier: MIT */
/* Error codes: 0 is success, negative is failure. System failures are -errno. */
#ifndef SIP_ERROR_H
#define SIP_ERROR_H

#include <errno.h>

#include "sip/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * One list makes the enum, sip_err_name() and sip_strerror().
 * X(NAME, VALUE, "description")
 */
#define SIP_ERRNO_MAP(X)                                                                           \
    X(OK, 0, "success")                                                                            \
    X(ENOMEM, -ENOMEM, "out of memory")                                                            \
    X(EINVAL, -EINVAL, "invalid argument")                                                         \
    X(ENOENT, -ENOENT, "not found")                                                                \
    X(ERANGE, -ERANGE, "value out of range")                                                       \
    X(ENOSPC, -ENOSPC, "buffer too small")                                                         \
    X(EIO, -EIO, "input/output error")                                                             \
    X(EEXIST, -EEXIST, "already exists")                                                           \
    X(EPARSE, -1000, "malformed message")                                                          \
    X(ETOOBIG, -1001, "message exceeds a size limit")                                              \
    X(EVERSION, -1002, "unsupported SIP version")                                                  \
    X(EINCOMPLETE, -1003, "message is incomplete")                                                 \
    X(ECLOSED, -1004, "handle is closed")                                                          \
    X(ETYPE, -1005, "header has another type")                                                     \
    X(EURI, -1006, "malformed URI")                                                                \
    X(ESDP, -1007, "malformed SDP")                                                                \
    X(EBODY, -1008, "malformed body")                                                              \
    X(ENOTACCEPTABLE, -1009, "no offered stream can be accepted")                                  \
    X(EBUSY, -1010, "another exchange is in progress")                                             \
    X(EAUTH, -1011, "no credentials answer the challenge")                                         \
    X(ENOTSUP, -1012, "operation not supported")                                                   \
    X(EBLOCKED, -1013, "source address is blocked")                                                \
    X(ECONFIG, -1014, "invalid configuration")

/** libsip error codes. */
typedef enum sip_err {
#define SIP__ERR_ENUM(name, value, desc) SIP_##name = (value),
    SIP_ERRNO_MAP(SIP__ERR_ENUM)
#undef SIP__ERR_ENUM
} sip_err_t;

/**
 * Describes an error code in words.
 * @param err  a libsip error code (or any -errno)
 * @return a static string; never NULL ("unknown error" for unknown codes).
 */
SIP_EXTERN const char *sip_strerror(int err);

/**
 * Names an error code ("SIP_EPARSE").
 * @param err  a libsip error code
 * @return a static string; never NULL ("SIP_EUNKNOWN" for unknown codes).
 */
SIP_EXTERN const char *sip_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif
