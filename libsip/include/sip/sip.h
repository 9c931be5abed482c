/* SPDX-License-Identifier: MIT */
/* The whole public libsip API. */
#ifndef SIP_SIP_H
#define SIP_SIP_H

#include "sip/export.h"
#include "sip/error.h"
#include "sip/str.h"
#include "sip/param.h"
#include "sip/uri.h"
#include "sip/msg.h"
#include "sip/multipart.h"
#include "sip/sdp.h"
#include "sip/net.h"
#include "sip/loop.h"
#include "sip/resolve.h"
#include "sip/transport.h"
#include "sip/txn.h"
#include "sip/dialog.h"
#include "sip/ua.h"
#include "sip/call.h"
#include "sip/bridge.h"
#include "sip/live.h"
#include "sip/oa.h"
#include "sip/auth.h"
#include "sip/reg.h"
#include "sip/sub.h"
#include "sip/location.h"
#include "sip/registrar.h"
#include "sip/proxy.h"
#include "sip/stats.h"
#include "sip/guard.h"
#include "sip/metrics.h"
#include "sip/config.h"
#include "sip/server.h"

#endif
