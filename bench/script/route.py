# SPDX-License-Identifier: MIT
# bench/script: the routing of bench/proxy's stateful run as a sipd Python script, the same as
# kemi.py does in Kamailio: REGISTER authenticated and saved, requests of a record-routed dialog
# relayed as their Route says, the rest record-routed and relayed to the callee's registered
# contacts (a location lookup), 404 when there is none.


async def route(req):
    method = req.method
    if method == "REGISTER":
        return req.default_route()  # digest check and save, as auth_check() and save()
    if req.routed:
        if method == "ACK":
            return req.forward()
        return req.relay()
    if method == "ACK" or method == "CANCEL":
        return req.default_route()
    targets = await req.lookup()
    if not targets:
        return req.reply(404)
    # Relayed without waiting for the outcome (Kamailio's t_relay()): the proxy forwards the
    # best response itself.
    req.relay(targets, record_route=True)
