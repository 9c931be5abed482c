# SPDX-License-Identifier: MIT
# bench/script: Kamailio's routing in Python (app_python3, KEMI), the same as route.py and
# bench/proxy/kamailio-proxy.cfg's stateful request_route.
import KSR


def mod_init():
    return kamailio()


class kamailio:
    def __init__(self):
        pass

    def child_init(self, rank):
        return 0

    # tm runs these around each relay: defined, and doing nothing, as the native config.
    def ksr_onsend_route(self, msg):
        return 1

    def ksr_reply_route(self, msg):
        return 1

    def ksr_request_route(self, msg):
        if KSR.maxfwd.process_maxfwd(70) < 0:
            KSR.sl.send_reply(483, "Too Many Hops")
            return 1
        if KSR.is_REGISTER():
            if KSR.auth_db.auth_check(KSR.pv.get("$fd"), "subscriber", 1) < 0:
                KSR.auth.auth_challenge(KSR.pv.get("$fd"), 1)
                return 1
            if KSR.registrar.save("location", 0) < 0:
                KSR.sl.sl_reply_error()
            return 1
        if KSR.siputils.has_totag() > 0 and KSR.rr.loose_route() > 0:
            KSR.tm.t_relay()
            return 1
        if KSR.is_CANCEL():
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return 1
        if KSR.siputils.has_totag() < 0:
            KSR.rr.record_route()
        if KSR.registrar.lookup("location") < 0:
            KSR.sl.send_reply(404, "Not Found")
            return 1
        KSR.tm.t_relay()
        return 1
