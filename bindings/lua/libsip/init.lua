-- SPDX-License-Identifier: MIT
-- The idiomatic Lua layer of libsip: messages, URIs, SDP, loops, timers, tasks and stacks.
--
-- Built on the flat core module `libsip_core` (sip.core), which is C-shaped and private. This
-- layer adds objects with fields, errors raised as tables, `<close>`, garbage collection and
-- coroutine tasks; it holds no protocol logic of its own. One module per concern, as in the
-- Python package: errors, uri, message, sdp, loop, transport, txn, stack, oa, dialog, call,
-- bridge, ua; `require "libsip"` gathers them.
--
-- Ownership: every object owns one reference to its C handle. __gc drops it, close() drops it at
-- once; afterwards every method raises a SIP_ECLOSED error, and close() or __gc again does
-- nothing. Values read from a message (strings, URIs, header tables) are copies that outlive it.

local core = require "libsip_core"
local errors = require "libsip.errors"
local uri = require "libsip.uri"
local message = require "libsip.message"
local sdp = require "libsip.sdp"
local loop = require "libsip.loop"
local stack = require "libsip.stack"

local sip = { core = core, VERSION = "0.1.0" }

sip.Error, sip.is_error, sip.on_error = errors.Error, errors.is_error, errors.on_error
sip.Uri = uri.Uri
sip.Message, sip.Address = message.Message, message.Address
sip.Sdp, sip.Multipart = sdp.Sdp, sdp.Multipart
sip.Loop, sip.sleep = loop.Loop, loop.sleep
sip.Stack = stack.Stack
sip.Resolver = require("libsip.transport").Resolver
sip.Transport = require("libsip.transport").Transport
sip.OfferAnswer = require("libsip.oa").OfferAnswer
sip.UA = require("libsip.ua").new
sip.refer_target = require("libsip.sub").refer_target
-- Digest authentication (libsip.auth): the client's credential store and the server's checks.
sip.AuthClient = require("libsip.auth").AuthClient
sip.AuthServer = require("libsip.auth").AuthServer
-- The registrar and the user table (libsip.registrar).
sip.Registrar = require("libsip.registrar").Registrar
sip.UserDB = require("libsip.registrar").UserDB
-- Proxies and routing programs (libsip.proxy): the proxy core and the API a route uses.
sip.Proxy = require("libsip.proxy").new

---------------------------------------------------------------------------------------------------
-- Small helpers

--- How many libsip objects of each kind exist now in the process (sip_live_count):
--- { msg =, txn =, txn_layer =, transport =, conn =, resolver =, loop =, sdp =, dialog =, ua =,
--- call =, oa =, bridge =, auth_server =, auth_query =, reg =, sub = } (Python:
--- libsip.live_objects()). Objects a script dropped count until the collector frees them:
--- collectgarbage() first to see what is really left.
function sip.live_objects()
    local out = {}
    for kind = 0, core.SIP_LIVE__COUNT - 1 do
        out[core.sip_live_name(kind)] = core.sip_live_count(kind)
    end
    return out
end

--- The standard reason phrase of a status code.
function sip.status_phrase(status)
    return core.sip_status_phrase(errors._arg_int(status, "sip.status_phrase: status"))
end

-- n random bits (a multiple of 32) in hex. lua5.4 seeds math.random from the time and an
-- address at start-up; these are unique identifiers, not secrets.
-- Random bits from C (OpenSSL's RAND_bytes), as Python's: math.random is no source of tags.
local function random_hex(bits)
    local rc, text = core.sip_random_hex(bits)
    errors._check(rc, "sip_random_hex")
    return text
end

--- A fresh Via branch: the RFC 3261 §8.1.1.7 magic cookie "z9hG4bK" and 64 random bits in hex
--- (Python: libsip.branch()).
function sip.branch()
    return "z9hG4bK" .. random_hex(64)
end

--- A fresh From or To tag: 64 random bits in hex (RFC 3261 §19.3 asks for at least 32)
--- (Python: libsip.tag()).
function sip.tag()
    return random_hex(64)
end

--- A fresh Call-ID: 128 random bits in hex, then "@host" when host is given (RFC 3261
--- §8.1.1.4) (Python: libsip.call_id(host)).
function sip.call_id(host)
    if host ~= nil then errors._arg_string(host, "sip.call_id: host") end
    local cid = random_hex(128)
    if host and host ~= "" then return cid .. "@" .. host end
    return cid
end

-- The location service (libsip.location): bindings of AORs to contacts, in memory or on SQLite.
sip.Location = require("libsip.location").Location
-- Counters per loop and the /metrics endpoint (libsip.stats); loop:stats() reads the counters.
sip.Metrics = require("libsip.stats").Metrics
-- Per-source limits against abuse (libsip.guard): transport:set_guard(g), Proxy{ guard = g }.
sip.Guard = require("libsip.guard").Guard

-- The configuration and the server sipd runs (libsip.server).
sip.Config = require("libsip.server").Config
sip.Server = require("libsip.server").Server
-- Worker processes serving one endpoint and their hub (libsip.worker).
sip.Hub = require("libsip.worker").Hub
sip.Worker = require("libsip.worker").Worker

return sip
