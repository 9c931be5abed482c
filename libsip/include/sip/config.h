/* SPDX-License-Identifier: MIT */
/* The configuration of a server (sip/server.h; what `sipd` runs): a set of known keys with
 * embedded defaults, read from a YAML file (through Debian's libyaml, which reports where each
 * node is, so that an error names the file, line and key), set one by one from a command line
 * or a script, and checked as a whole. Every value keeps its text form; the server reads them
 * typed. docs/SIPD.md lists the keys.
 *
 * Keys are dotted paths of the file's mappings:
 *   listen (list)          "udp:127.0.0.1:5060", "tcp:[::1]:5060", "tls:...", "ws:...", "wss:..."
 *   domains (list)         our domains; the first is the digest realm
 *   users                  the users file (sip/registrar.h, sip_userdb_create())
 *   state                  the directory of the SQLite location service ("" : in memory)
 *   store                  "redis://host:port[/db]": a location service shared on Redis
 *                          ("": none; excludes state)
 *   workers                worker processes (0: one per core)
 *   mode                   stateful | stateless | redirect
 *   digest                 "SHA-256,MD5", "MD5"...
 *   script                 a routing script (.py or .lua) the host program runs
 *   server_header          the Server header ("" : none)
 *   tls.cert tls.key tls.ca
 *   tls.verify_client      none | optional | required
 *   limits.max_connections limits.idle_timeout (seconds) limits.rate limits.rate_window
 *   limits.rate_block limits.auth_failures limits.auth_window limits.auth_block
 *   limits.allow (list)    addresses and CIDRs the guard never limits
 *   log.level              error | warn | notice | info | debug
 *   log.requests           true | false: one line per request at info
 *   log.trace              true | false: every message sent and received (at SIP_LOG_INFO: a
 *                          server raises its loop's level to info while it is on)
 *   metrics.listen         "127.0.0.1:9090": the Prometheus endpoint ("": none)
 *   shutdown.grace         seconds pending transactions get at SIGTERM
 */
#ifndef SIP_CONFIG_H
#define SIP_CONFIG_H

#include <stddef.h>

#include "sip/msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A configuration. Opaque; reference counted. */
typedef struct sip_config sip_config_t;

/** Creates a configuration holding the embedded defaults. @param out New reference.
 * @return 0 or SIP_ENOMEM. */
SIP_EXTERN int sip_config_create(sip_config_t **out);
/** Takes a reference. @return cfg. */
SIP_EXTERN sip_config_t *sip_config_ref(sip_config_t *cfg);
/** Drops a reference. Accepts NULL. */
SIP_EXTERN void sip_config_unref(sip_config_t *cfg);
/** A copy (for a reload that may be refused). @param out New reference. */
SIP_EXTERN int sip_config_clone(sip_config_t **out, const sip_config_t *cfg);

/**
 * Reads a YAML file: each key it sets replaces the value held (a list replaces the whole
 * list). On failure nothing changes and err says where: line and column of the node, the key
 * in err->header, and the reason ("unknown key", "wants a number of seconds", "duplicate key",
 * libyaml's own message for bad YAML...).
 * @return 0, SIP_ECONFIG (err filled), -errno for a file that cannot be read, SIP_ENOMEM.
 */
SIP_EXTERN int sip_config_load(sip_config_t *cfg, const char *path, sip_parse_error_t *err);
/** As sip_config_load() from text in memory; name is what errors call it. */
SIP_EXTERN int sip_config_load_text(sip_config_t *cfg, const char *text, size_t len,
                                    const char *name, sip_parse_error_t *err);

/**
 * Sets a key from its text form, checked as the file's value would be. For a list key it
 * replaces the list with this one value.
 * @return 0, SIP_ECONFIG (unknown key or bad value; err filled; err may be NULL), SIP_ENOMEM.
 */
SIP_EXTERN int sip_config_set(sip_config_t *cfg, const char *key, const char *value,
                              sip_parse_error_t *err);
/** Appends a value to a list key. @return as sip_config_set() (SIP_ECONFIG for a scalar key). */
SIP_EXTERN int sip_config_add(sip_config_t *cfg, const char *key, const char *value,
                              sip_parse_error_t *err);
/** Empties a list key, or puts a scalar key back to its default. @return 0 or SIP_ECONFIG. */
SIP_EXTERN int sip_config_reset(sip_config_t *cfg, const char *key);

/** The number of values of a key (1 for a scalar, 0..n for a list); 0 for an unknown key. */
SIP_EXTERN size_t sip_config_count(const sip_config_t *cfg, const char *key);
/** The i-th value of a key in its text form. Borrowed: valid until the key changes. NULL for
 * an unknown key or i out of range. */
SIP_EXTERN const char *sip_config_get(const sip_config_t *cfg, const char *key, size_t i);
/** The i-th known key (for listing and documenting them). NULL past the last one. */
SIP_EXTERN const char *sip_config_key_at(size_t i);

/**
 * Checks the whole: what no single key can say (tls.cert and tls.key together, a tls: or
 * wss: listening point needs them, files that exist and can be read, a script ending in .py
 * or .lua, listening points that parse).
 * @return 0, or SIP_ECONFIG with err naming the key (line 0).
 */
SIP_EXTERN int sip_config_check(const sip_config_t *cfg, sip_parse_error_t *err);

/** Writes the configuration as YAML (every key, defaults included) into buf.
 * @return the length, or the length needed when size is too small (as snprintf). */
SIP_EXTERN int sip_config_format(const sip_config_t *cfg, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
