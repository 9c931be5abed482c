/* SPDX-License-Identifier: MIT */
/* Symbol visibility for the libsip ABI. */
#ifndef SIP_EXPORT_H
#define SIP_EXPORT_H

#if defined(SIP_STATIC)
#define SIP_EXTERN
#elif defined(__GNUC__) || defined(__clang__)
#define SIP_EXTERN __attribute__((visibility("default")))
#else
#define SIP_EXTERN
#endif

#endif
