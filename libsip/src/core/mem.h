/* SPDX-License-Identifier: MIT */
/* Small allocation helpers. Library code copies strings with these rather than strdup(), whose
 * allocation the C library makes where the tests' allocation hook cannot see or fail it. */
#ifndef SIP_CORE_MEM_H
#define SIP_CORE_MEM_H

#include <stdlib.h>
#include <string.h>

/* A NUL-terminated copy of n bytes of s, or NULL when out of memory. */
static inline char *sip__strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static inline char *sip__strdup(const char *s)
{
    return sip__strndup(s, strlen(s));
}

#endif
