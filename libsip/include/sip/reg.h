/* SPDX-License-Identifier: MIT */
/* The registration client (RFC 3261 §10.2): binds contacts to an address of record at a
 * registrar and keeps the binding fresh, with 423 retries, unregistration, Service-Route
 * (RFC 3608), Path (RFC 3327) and SIP Outbound (RFC 5626) flows and keep-alives. */
#ifndef SIP_REG_H
#define SIP_REG_H

#include <stdint.h>

#include "sip/msg.h"
#include "sip/net.h"
#include "sip/ua.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One registration of an address of record. Opaque; reference counted. */
typedef struct sip_reg sip_reg_t;

/** Where a registration is. */
typedef enum sip_reg_state {
    SIP_REG_STATE_REGISTERING = 0, /**< the first REGISTER is out, nothing granted yet */
    SIP_REG_STATE_REGISTERED,      /**< the registrar granted the binding (refreshes keep it) */
    SIP_REG_STATE_RETRYING,        /**< a REGISTER failed; another goes at the retry time */
    SIP_REG_STATE_UNREGISTERING,   /**< the unregistering REGISTER is out */
    SIP_REG_STATE_UNREGISTERED,    /**< the binding is gone (after sip_reg_unregister()) */
    SIP_REG_STATE_FAILED,          /**< a final failure: nothing more is sent */
} sip_reg_state_t;

/** What a registration tells its application. */
typedef enum sip_reg_event {
    SIP_REG_EVENT_REGISTERING = 1, /**< a REGISTER went out (the first, a retry, after a lost
                                        flow); status 0, msg NULL */
    SIP_REG_EVENT_REGISTERED,      /**< the first 2xx, or the first after a failure: status and
                                        the 2xx; sip_reg_get_expires() is what was granted */
    SIP_REG_EVENT_REFRESHED,       /**< the 2xx of a refresh */
    SIP_REG_EVENT_UNREGISTERED,    /**< the 2xx of sip_reg_unregister() */
    SIP_REG_EVENT_FAILED,          /**< a final failure: status (408 or 503 with msg NULL for a
                                        timeout or a transport error) and the response; the state
                                        says whether a retry follows (RETRYING) or not (FAILED) */
    SIP_REG_EVENT_FLOW_LOST,       /**< RFC 5626 §4.4: the flow to the registrar closed or
                                        missed its pong; a new REGISTER follows at once */
} sip_reg_event_t;

/**
 * An event of a registration.
 * @param status  the response's status, or 0
 * @param msg     Borrowed for the call: the response, or NULL
 */
typedef void (*sip_reg_event_cb)(sip_reg_t *reg, sip_reg_event_t event, int status, sip_msg_t *msg,
                                 void *user);

/** Options; initialise with sip_reg_opts_init(). Strings are copied. */
typedef struct sip_reg_opts {
    const char *registrar;      /**< the Request-URI (RFC 3261 §10.2: default the AOR's domain,
                                     "sip:example.com", with its scheme) */
    const char *contacts;       /**< the Contact values to bind, as in a header: "<sip:a@192.0.2.1>;
                                     q=0.7, <sip:a@192.0.2.2>;q=0.3". NULL: the UA's Contact for the
                                     listening point the REGISTER goes through */
    const char *contact_params; /**< params added to each Contact (";+sip.ice") */
    const char *from;           /**< the From address, if not the AOR (a third-party
                                     registration, §10.2: "Boss <sip:boss@example.com>") */
    uint32_t expires;           /**< the Expires asked, in seconds (default 3600) */
    const char *instance_id;  /**< RFC 5626 §4.1 +sip.instance, "<urn:uuid:...>" (default none) */
    uint32_t reg_id;          /**< RFC 5626 §4.2 reg-id (with instance_id: Outbound; 0: none) */
    uint32_t keepalive_s;     /**< CRLF keep-alive period on a TCP/TLS flow (RFC 5626 §4.4.1):
                                   0 for the default (with reg_id: the registrar's Flow-Timer,
                                   else 90 s; without reg_id none) */
    uint32_t retry_s;         /**< the first wait after a failure (default 30); it doubles up
                                   to max_retry_s for each failure in a row (RFC 5626 §4.5) */
    uint32_t max_retry_s;     /**< the longest wait (default 1800) */
    int retry_initial;        /**< retry when the first REGISTER fails with 408, 480, 500,
                                   503, 504 or 600 (default 1); other failures, and every
                                   failure with 0, end the registration (FAILED) */
    const sip_netinfo_t *dst; /**< where to send (copied), or NULL for the registrar's RFC
                                   3263 targets (failing over to the next, §4.3) */
} sip_reg_opts_t;

/** Fills opts with the defaults. */
SIP_EXTERN void sip_reg_opts_init(sip_reg_opts_t *opts);

/**
 * Registers contacts for an address of record and keeps them registered (RFC 3261 §10.2): a
 * REGISTER with To and From the AOR, one Call-ID for every refresh and the CSeq one higher each
 * time; 401/407 answered with the UA's credentials (sip_ua_add_credential()); a 423 retried with
 * its Min-Expires; a refresh before the granted expiry (the expires param of our Contact in the
 * 2xx, else its Expires header): at half the grant when it is 64 s or less, else 32 s before
 * it (one transaction timeout), so that a refresh that times out is noticed in time.
 * @param out        New reference
 * @param ua         Takes its own reference
 * @param aor        the address of record ("sip:alice@example.com")
 * @param opts       NULL for the defaults
 * @param cb         the events (may be NULL)
 * @param user_free  runs once when the registration closes, or when this call fails
 * @return 0, SIP_EINVAL (NULL, bad options), SIP_EURI (aor or registrar), SIP_EPARSE
 *         (contacts, from), SIP_ECLOSED, SIP_ENOMEM, or the transport's immediate error.
 */
SIP_EXTERN int sip_reg_create(sip_reg_t **out, sip_ua_t *ua, const char *aor,
                              const sip_reg_opts_t *opts, sip_reg_event_cb cb, void *user,
                              sip_free_fn user_free);
/** Takes a reference. @return reg. */
SIP_EXTERN sip_reg_t *sip_reg_ref(sip_reg_t *reg);
/** Drops a reference; the last one closes the registration. Accepts NULL. */
SIP_EXTERN void sip_reg_unref(sip_reg_t *reg);
/**
 * Stops the registration without sending anything (the binding expires at the registrar): no
 * more refreshes or events; user_free runs. Idempotent; closing the UA does it too.
 */
SIP_EXTERN void sip_reg_close(sip_reg_t *reg);

/**
 * Removes bindings (RFC 3261 §10.2.2): contact NULL removes this registration's contacts
 * (each with ;expires=0, and Expires: 0), "*" every binding of the AOR (Contact: *), any other
 * value that one contact. Once the 2xx comes, SIP_REG_EVENT_UNREGISTERED; when no contact of
 * this registration is left, refreshes stop (state UNREGISTERED).
 * @return 0, SIP_EINVAL, SIP_EPARSE (contact), SIP_ECLOSED, SIP_ENOMEM, or the transport's
 *         immediate error.
 */
SIP_EXTERN int sip_reg_unregister(sip_reg_t *reg, const char *contact);
/**
 * Sends a REGISTER now (a refresh; after UNREGISTERED or FAILED, a registration again).
 * @return 0, SIP_EINVAL, SIP_ECLOSED, SIP_ENOMEM, or the transport's immediate error.
 */
SIP_EXTERN int sip_reg_refresh(sip_reg_t *reg);

/** The state. */
SIP_EXTERN sip_reg_state_t sip_reg_get_state(const sip_reg_t *reg);
/** Names a state ("registered"), or NULL. */
SIP_EXTERN const char *sip_reg_state_name(sip_reg_state_t state);
/** Names an event ("refreshed"), or NULL. */
SIP_EXTERN const char *sip_reg_event_name(sip_reg_event_t event);
/** The expiry granted by the last 2xx, in seconds (0 before any). */
SIP_EXTERN uint32_t sip_reg_get_expires(const sip_reg_t *reg);
/** Milliseconds until the next REGISTER goes (a refresh or retry), or -1 when none is due. */
SIP_EXTERN int64_t sip_reg_next_ms(const sip_reg_t *reg);
/** The address of record. Borrowed. */
SIP_EXTERN const char *sip_reg_get_aor(const sip_reg_t *reg);
/**
 * The Service-Route of the last 2xx (RFC 3608), comma-separated, or "" when none. Each
 * registration keeps its own: the UA preloads it as the Route of the out-of-dialog requests it
 * builds (sip_ua_create_request()) whose From is this registration's AOR (RFC 3608 §6), other
 * than REGISTER, while the registration lives and until an unregistration of all its
 * contacts. Borrowed, until the next 2xx.
 */
SIP_EXTERN const char *sip_reg_get_service_route(const sip_reg_t *reg);
/** The Path of the last 2xx (RFC 3327), comma-separated, or "". Borrowed, until the next 2xx. */
SIP_EXTERN const char *sip_reg_get_path(const sip_reg_t *reg);
/**
 * The bindings the last 2xx listed for the AOR (every Contact, ours and others', with their
 * expires), comma-separated, or "". Borrowed, until the next 2xx.
 */
SIP_EXTERN const char *sip_reg_get_bindings(const sip_reg_t *reg);
/** The UA. Borrowed; NULL once closed. */
SIP_EXTERN sip_ua_t *sip_reg_get_ua(sip_reg_t *reg);

#ifdef __cplusplus
}
#endif
#endif
