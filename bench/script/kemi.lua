-- SPDX-License-Identifier: MIT
-- bench/script: Kamailio's routing in Lua (app_lua, KEMI), the same as route.lua and
-- bench/proxy/kamailio-proxy.cfg's stateful request_route.

function ksr_request_route()
    if KSR.maxfwd.process_maxfwd(70) < 0 then
        KSR.sl.send_reply(483, "Too Many Hops")
        return 1
    end
    if KSR.is_REGISTER() then
        if KSR.auth_db.auth_check(KSR.pv.get("$fd"), "subscriber", 1) < 0 then
            KSR.auth.auth_challenge(KSR.pv.get("$fd"), 1)
            return 1
        end
        if KSR.registrar.save("location", 0) < 0 then KSR.sl.sl_reply_error() end
        return 1
    end
    if KSR.siputils.has_totag() > 0 and KSR.rr.loose_route() > 0 then
        KSR.tm.t_relay()
        return 1
    end
    if KSR.is_CANCEL() then
        if KSR.tm.t_check_trans() > 0 then KSR.tm.t_relay() end
        return 1
    end
    if KSR.siputils.has_totag() < 0 then KSR.rr.record_route() end
    if KSR.registrar.lookup("location") < 0 then
        KSR.sl.send_reply(404, "Not Found")
        return 1
    end
    KSR.tm.t_relay()
    return 1
end
