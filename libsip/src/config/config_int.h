/* SPDX-License-Identifier: MIT */
/* Private side of the configuration: the table of known keys, the values, typed readers. */
#ifndef SIP_CONFIG_INT_H
#define SIP_CONFIG_INT_H

#include <stddef.h>
#include <stdint.h>

#include "sip/config.h"

typedef enum sip__cfg_type {
    SIP__CFG_LIST = 0,
    SIP__CFG_STRING,
    SIP__CFG_PATH,
    SIP__CFG_ENUM,
    SIP__CFG_BOOL,
    SIP__CFG_UNSIGNED,
    SIP__CFG_SECONDS,
} sip__cfg_type_t;

/* Checks one value of a key beyond its type; fills why (no key, no position) on failure. */
typedef int (*sip__cfg_check_fn)(const char *value, char *why, size_t size);

typedef struct sip__cfg_key {
    const char *name;
    sip__cfg_type_t type;
    const char *const *defaults; /* NULL-terminated; exactly one for a scalar */
    const char *choices;         /* SIP__CFG_ENUM: "a|b|c" */
    sip__cfg_check_fn check;     /* NULL: the type's own check only */
} sip__cfg_key_t;

/* One key's values (a scalar has one). */
typedef struct sip__cfg_val {
    char **v;
    size_t n;
} sip__cfg_val_t;

extern const sip__cfg_key_t sip__cfg_keys[];
extern const size_t sip__cfg_nkeys;

struct sip_config {
    int refs;
    sip__cfg_val_t *vals; /* sip__cfg_nkeys of them */
};

/* The index of a key, or -1. */
int sip__config_find(const char *name, size_t len);
/* 1 when name (len bytes) is a section: the prefix of keys "name.x". */
int sip__config_is_section(const char *name, size_t len);
/* Checks and normalises one value for key k into a new string (*out, malloc'd). 0,
 * SIP_ECONFIG (why filled), SIP_ENOMEM. */
int sip__config_value(const sip__cfg_key_t *k, const char *value, char **out, char *why,
                      size_t size);
/* Frees a value set. */
void sip__config_val_free(sip__cfg_val_t *v);
/* Fills an error: code SIP_ECONFIG, the position, the key, and the reason as a whole line
 * "name:line:column: key: why" (name and position left out when NULL or 0). */
void sip__config_error(sip_parse_error_t *err, const char *name, unsigned line, unsigned col,
                       const char *key, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Typed readers of a value the checks let in (unknown keys and bad text read as 0 / ""). */
const char *sip__config_str(const sip_config_t *cfg, const char *key);
uint32_t sip__config_uint(const sip_config_t *cfg, const char *key);
int sip__config_bool(const sip_config_t *cfg, const char *key);
/* A seconds key in milliseconds. */
uint32_t sip__config_ms(const sip_config_t *cfg, const char *key);
/* "1.5", "90", "250ms", "2s" into milliseconds. 0 or SIP_ECONFIG. */
int sip__config_parse_ms(const char *text, uint32_t *ms);
/* "SHA-256,MD5" into a set of sip_auth_algorithm_t; 0 when not valid. */
int sip__config_algorithms(const char *text);

#endif
