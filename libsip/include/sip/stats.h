/* SPDX-License-Identifier: MIT */
/* Counters of what a loop's objects did (requests and responses by kind, transactions,
 * registrations, dialogs, authentication failures, blocked sources, drops), kept per loop so
 * that two stacks in one process count apart, and named for the Prometheus text format
 * (sip/metrics.h serves them over HTTP). Counting costs one increment of a loop-owned array:
 * no lock, no atomic (a loop and its objects live on one thread). */
#ifndef SIP_STATS_H
#define SIP_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "sip/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * One list makes the enum, the names and the help texts.
 * X(ID, "metric name", "labels", type, "help")
 * type: SIP_STAT_COUNTER (only grows) or SIP_STAT_GAUGE (goes up and down).
 * Metrics that share a name differ by their labels (Prometheus: one family, several series).
 */
#define SIP_STATS_MAP(X)                                                                           \
    X(RX_REQ_INVITE, "sip_requests_received_total", "method=\"INVITE\"", COUNTER,                  \
      "SIP requests received, by method")                                                          \
    X(RX_REQ_ACK, "sip_requests_received_total", "method=\"ACK\"", COUNTER, "")                    \
    X(RX_REQ_BYE, "sip_requests_received_total", "method=\"BYE\"", COUNTER, "")                    \
    X(RX_REQ_CANCEL, "sip_requests_received_total", "method=\"CANCEL\"", COUNTER, "")              \
    X(RX_REQ_REGISTER, "sip_requests_received_total", "method=\"REGISTER\"", COUNTER, "")          \
    X(RX_REQ_OPTIONS, "sip_requests_received_total", "method=\"OPTIONS\"", COUNTER, "")            \
    X(RX_REQ_SUBSCRIBE, "sip_requests_received_total", "method=\"SUBSCRIBE\"", COUNTER, "")        \
    X(RX_REQ_NOTIFY, "sip_requests_received_total", "method=\"NOTIFY\"", COUNTER, "")              \
    X(RX_REQ_MESSAGE, "sip_requests_received_total", "method=\"MESSAGE\"", COUNTER, "")            \
    X(RX_REQ_OTHER, "sip_requests_received_total", "method=\"other\"", COUNTER, "")                \
    X(RX_RSP_1XX, "sip_responses_received_total", "class=\"1xx\"", COUNTER,                        \
      "SIP responses received, by class")                                                          \
    X(RX_RSP_2XX, "sip_responses_received_total", "class=\"2xx\"", COUNTER, "")                    \
    X(RX_RSP_3XX, "sip_responses_received_total", "class=\"3xx\"", COUNTER, "")                    \
    X(RX_RSP_4XX, "sip_responses_received_total", "class=\"4xx\"", COUNTER, "")                    \
    X(RX_RSP_5XX, "sip_responses_received_total", "class=\"5xx\"", COUNTER, "")                    \
    X(RX_RSP_6XX, "sip_responses_received_total", "class=\"6xx\"", COUNTER, "")                    \
    X(TX_RSP_1XX, "sip_responses_sent_total", "class=\"1xx\"", COUNTER,                            \
      "SIP responses sent, by class (forwarded ones included)")                                    \
    X(TX_RSP_2XX, "sip_responses_sent_total", "class=\"2xx\"", COUNTER, "")                        \
    X(TX_RSP_3XX, "sip_responses_sent_total", "class=\"3xx\"", COUNTER, "")                        \
    X(TX_RSP_4XX, "sip_responses_sent_total", "class=\"4xx\"", COUNTER, "")                        \
    X(TX_RSP_5XX, "sip_responses_sent_total", "class=\"5xx\"", COUNTER, "")                        \
    X(TX_RSP_6XX, "sip_responses_sent_total", "class=\"6xx\"", COUNTER, "")                        \
    X(TX_REQ, "sip_requests_sent_total", "", COUNTER, "SIP requests sent (forwarded included)")    \
    X(TXN_CREATED, "sip_transactions_total", "", COUNTER, "transactions created")                  \
    X(TXN_ACTIVE, "sip_transactions", "", GAUGE, "transactions alive now")                         \
    X(DIALOGS_CREATED, "sip_dialogs_total", "", COUNTER, "dialogs created")                        \
    X(DIALOGS_ACTIVE, "sip_dialogs", "", GAUGE, "dialogs alive now")                               \
    X(REG_OK, "sip_registrations_total", "result=\"ok\"", COUNTER,                                 \
      "REGISTER requests the registrar answered, by result")                                       \
    X(REG_FAILED, "sip_registrations_total", "result=\"failed\"", COUNTER, "")                     \
    X(BINDINGS, "sip_bindings", "", GAUGE, "bindings in the location services")                    \
    X(AUTH_OK, "sip_auth_total", "result=\"ok\"", COUNTER,                                         \
      "digest credentials checked, by result")                                                     \
    X(AUTH_FAILED, "sip_auth_total", "result=\"failed\"", COUNTER, "")                             \
    X(BLOCKED, "sip_blocked_total", "", COUNTER,                                                   \
      "messages dropped because their source is blocked")                                          \
    X(BLOCKED_SOURCES, "sip_blocked_sources", "", GAUGE, "source addresses blocked now")           \
    X(DROP_PARSE, "sip_dropped_total", "reason=\"parse\"", COUNTER, "messages dropped, by reason") \
    X(DROP_LIMIT, "sip_dropped_total", "reason=\"limit\"", COUNTER, "")                            \
    X(DROP_OTHER, "sip_dropped_total", "reason=\"other\"", COUNTER, "")                            \
    X(CONN_ACCEPTED, "sip_connections_accepted_total", "", COUNTER,                                \
      "stream connections accepted (TCP, TLS, WS, WSS)")                                           \
    X(CONN_EVICTED, "sip_connections_evicted_total", "", COUNTER,                                  \
      "connections closed to make room at the connection cap")                                     \
    X(CONN_ACTIVE, "sip_connections", "", GAUGE, "stream connections open now")

typedef enum sip_stat_type { SIP_STAT_COUNTER = 0, SIP_STAT_GAUGE = 1 } sip_stat_type_t;

/** The counters. */
typedef enum sip_stat_id {
#define SIP__STAT_ENUM(id, name, labels, type, help) SIP_STAT_##id,
    SIP_STATS_MAP(SIP__STAT_ENUM)
#undef SIP__STAT_ENUM
        SIP_STAT__COUNT /**< the number of counters (not a counter) */
} sip_stat_id_t;

/** What a counter is. All strings are static. */
typedef struct sip_stat_info {
    const char *name;     /**< the metric name: "sip_requests_received_total" */
    const char *labels;   /**< Prometheus labels without braces: "method=\"INVITE\"", or "" */
    const char *help;     /**< the family's help text ("" on the second series of a family) */
    sip_stat_type_t type; /**< counter or gauge */
} sip_stat_info_t;

/** Describes a counter. @return 0, or SIP_EINVAL for an unknown id or a NULL out. */
SIP_EXTERN int sip_stat_info(sip_stat_id_t id, sip_stat_info_t *out);

/** A counter's value on a loop. @return the value; 0 for a NULL loop or an unknown id. */
SIP_EXTERN uint64_t sip_stat_get(const sip_loop_t *loop, sip_stat_id_t id);

/** Adds delta (which may be negative for a gauge) to a counter: for programs that count
 * what they do beside the library (a routing script's own decisions). Ignores a NULL loop or
 * an unknown id. */
SIP_EXTERN void sip_stat_add(sip_loop_t *loop, sip_stat_id_t id, int64_t delta);

/**
 * Writes every counter of the loop in the Prometheus text exposition format (version 0.0.4:
 * "# HELP", "# TYPE", then one line per series) into buf.
 * @return the length written (without the NUL, which is written when it fits), or the length
 *         needed when size is too small (nothing useful written then, as snprintf), or
 *         SIP_EINVAL.
 */
SIP_EXTERN int sip_stats_format(const sip_loop_t *loop, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
