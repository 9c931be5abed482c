# SPDX-License-Identifier: MIT
"""A sipd routing script: least-cost routing of telephone numbers to gateways from SQLite.

Run it with sipd:

    LCR_DB=/var/lib/sipd/lcr.db LCR_COUNTRY_CODE=49 sipd --script examples/python/lcr_route.py

or load route() into a libsip.Proxy of your own (tests/examples/test_lcr_route.py does both).

What it shows, in the ProxyRequest API of docs/PYTHON.md ("Proxy and routing"):

- Number normalisation: a Request-URI whose user part is a telephone number in national
  (0301234567) or international (00493012345678) dialling form, or E.164 with visual
  separators (+49 30 123-4567), becomes E.164 (+49301234567); COUNTRY_CODE, NATIONAL_PREFIX
  and INTERNATIONAL_PREFIX say how (Germany's by default). A subscriber number without an
  area code cannot be normalised: 484 Address Incomplete.
- Least-cost routing: the table `routes (prefix, gateway, cost)` of the SQLite file LCR_DB
  (created empty when missing) gives the gateways whose prefix begins the E.164 number
  (digits after the +), longest prefix first, then the cheapest. The call goes to the first;
  on a 5xx or no response within LCR_TIMEOUT seconds (408) the next gets it (failover), on any
  other answer the caller gets it. A gateway is a SIP URI without a user part
  ("sip:gw1.example.net:5060;transport=tcp"); the number becomes its user part, with
  user=phone (RFC 3261 §19.1.6).
- Header rewriting: a P-Asserted-Identity (RFC 3325) from outside is not trusted: it and
  P-Preferred-Identity are removed from every request that does not come from an address in
  LCR_TRUSTED ("ip" or "ip:port", comma separated). Calls to numbers must authenticate
  (digest: sipd's users file answers req.authenticate()): the proxy then asserts the caller with P-Asserted-Identity
  <sip:USER@LCR_DOMAIN>. Each branch carries X-LCR-Route naming the prefix, gateway and cost
  it was routed by (the gateway's CDRs can tell which rule sent a call).
- Everything else (REGISTER, calls to local users, in-dialog requests) takes sipd's default
  routing.

The table is read at each call (one indexed query on a local file: short enough to run on the
loop); edit it with the sqlite3 shell while sipd runs:

    sqlite3 lcr.db "INSERT INTO routes VALUES ('4930', 'sip:gw1.example.net', 0.010)"
"""

import logging
import os
import re
import sqlite3
from typing import List, Optional, Tuple

import libsip

log = logging.getLogger("lcr_route")

# The configuration: environment variables, or edit the defaults here.
DB_PATH = os.environ.get("LCR_DB", "lcr.db")
COUNTRY_CODE = os.environ.get("LCR_COUNTRY_CODE", "49")
NATIONAL_PREFIX = os.environ.get("LCR_NATIONAL_PREFIX", "0")
INTERNATIONAL_PREFIX = os.environ.get("LCR_INTERNATIONAL_PREFIX", "00")
DOMAIN = os.environ.get("LCR_DOMAIN", "example.com")
TRUSTED = {t.strip() for t in os.environ.get("LCR_TRUSTED", "").split(",") if t.strip()}
TIMEOUT = float(os.environ.get("LCR_TIMEOUT", "10"))
ROUTE_HEADER = "X-LCR-Route"

SCHEMA = """
CREATE TABLE IF NOT EXISTS routes (
    prefix  TEXT NOT NULL,      -- E.164 digits without the +: '49', '4930', '1212'
    gateway TEXT NOT NULL,      -- a SIP URI without a user part
    cost    REAL NOT NULL,      -- per minute, any unit: lower is cheaper
    PRIMARY KEY (prefix, gateway)
)"""

# RFC 3966 §5.1.1: visual separators a dialled number may carry.
_SEPARATORS = re.compile(r"[\s\-.()]")
_DIGITS = re.compile(r"\+?[0-9]+")

# Module-level state lives across requests (sipd keeps the module loaded).
_db: Optional[sqlite3.Connection] = None


def db() -> sqlite3.Connection:
    """The routes table, opened on first use."""
    global _db
    if _db is None:
        _db = sqlite3.connect(DB_PATH)
        _db.execute(SCHEMA)
        _db.commit()
    return _db


def normalise(number: str, country_code: str = COUNTRY_CODE) -> Optional[str]:
    """A dialled number in E.164 form (+CC...), or None when it is not a telephone number or
    lacks the area code."""
    n = _SEPARATORS.sub("", number)
    if not _DIGITS.fullmatch(n):
        return None
    if n.startswith("+"):
        e164 = n
    elif INTERNATIONAL_PREFIX and n.startswith(INTERNATIONAL_PREFIX):
        e164 = "+" + n[len(INTERNATIONAL_PREFIX):]
    elif NATIONAL_PREFIX and n.startswith(NATIONAL_PREFIX):
        e164 = "+" + country_code + n[len(NATIONAL_PREFIX):]
    else:
        return None
    # ITU-T E.164 §6: at most 15 digits; a country code and something after it.
    return e164 if 3 <= len(e164) - 1 <= 15 else None


def gateways(e164: str) -> List[Tuple[str, str, float]]:
    """(prefix, gateway, cost) of every route whose prefix begins the number: the longest
    prefix first, then the cheapest."""
    digits = e164.lstrip("+")
    rows = db().execute(
        "SELECT prefix, gateway, cost FROM routes WHERE substr(?, 1, length(prefix)) = prefix "
        "ORDER BY length(prefix) DESC, cost ASC, gateway ASC", (digits,))
    return [(p, g, float(c)) for p, g, c in rows]


def target(gateway: str, e164: str) -> str:
    """The gateway's URI with the number as its user part: sip:+4930...@host;user=phone."""
    scheme, _, rest = gateway.partition(":")
    return f"{scheme}:{e164}@{rest};user=phone"


def trusted(req: libsip.ProxyRequest) -> bool:
    """Whether the request comes from a peer whose asserted identities we take."""
    ni = req.msg.netinfo
    if ni is None:
        return False
    return ni.remote_ip in TRUSTED or f"{ni.remote_ip}:{ni.remote_port}" in TRUSTED


async def route(req: libsip.ProxyRequest) -> None:
    """Routes every request sipd receives."""
    if req.routed:
        # Inside a record-routed dialog (ACK, BYE, re-INVITE): along the Route set.
        await req.default_route()
        return
    if not trusted(req):
        # RFC 3325 §5: an identity asserted by an untrusted peer is removed.
        req.msg.remove_header("P-Asserted-Identity")
        req.msg.remove_header("P-Preferred-Identity")
    uri = req.uri
    number = normalise(uri.user) if uri is not None and uri.user else None
    if req.method != "INVITE" or number is None:
        if req.method == "INVITE" and uri is not None and uri.user_param == "phone":
            req.reply(484, "Address Incomplete")
            return
        await req.default_route()
        return
    user = await req.authenticate()
    if user is None:
        # Calls to the telephone network cost money: only our users place them.
        req.challenge()
        return
    req.msg.remove_header("P-Asserted-Identity")
    req.msg.add_header("P-Asserted-Identity", f"<sip:{user}@{DOMAIN}>")
    routes = gateways(number)
    if not routes:
        log.info("%s: no route for %s", user, number)
        req.reply(404, "No Route")
        return
    out = None
    for prefix, gw, cost in routes:
        req.msg.remove_header(ROUTE_HEADER)
        req.msg.add_header(ROUTE_HEADER, f"prefix={prefix};gateway=\"{gw}\";cost={cost:g}")
        out = await req.proxy([target(gw, number)], record_route=True, timeout=TIMEOUT)
        log.info("%s -> %s via %s (prefix %s, cost %g): %d", user, number, gw, prefix, cost,
                 out.status)
        # Failover on a gateway failure (5xx) or no response at all (408); any other answer
        # (2xx, busy, a 4xx about the number, the caller's CANCEL: 487) is the caller's.
        if not (out.status == 408 or 500 <= out.status < 600):
            return
    # Every gateway failed: returning forwards the last one's response.
