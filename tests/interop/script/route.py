# SPDX-License-Identifier: MIT
# The routing script of tests/interop/script (Python): calls go to $ROUTE_TARGET with
# Record-Route, REGISTER and routed requests take sipd's default routing, and OPTIONS to a
# few users show module state (X-Count), the version loaded (X-Version), asyncio inside a
# route, and what a script error does.
import asyncio
import os

VERSION = "@VERSION@"
TARGET = os.environ.get("ROUTE_TARGET")
count = 0


async def route(req):
    global count
    count += 1
    user = req.uri.user if req.uri is not None else None
    if req.method == "OPTIONS" and user == "boom":
        raise RuntimeError("boom from the route script")
    if req.method == "OPTIONS" and user == "sleep":
        await asyncio.sleep(0.05)
        return req.reply(200, headers={"X-Slept": "yes", "X-Version": VERSION})
    if req.method == "OPTIONS":
        return req.reply(200, headers={"X-Count": str(count), "X-Version": VERSION})
    if req.routed or not TARGET or req.method == "REGISTER":
        return req.default_route()
    # SIPp's built-in uac sends its ACK and BYE to sipd without a Route: the fixed target.
    if req.method == "ACK":
        return req.forward(TARGET)
    out = await req.proxy(TARGET, record_route=True)
    if not out.ok:
        req.reply(out.status, headers={"X-Version": VERSION})
