-- SPDX-License-Identifier: MIT
-- The idiomatic Lua layer of libsip: messages, URIs, SDP, loops, timers, tasks and stacks.
--
-- Built on the flat core module `libsip_core` (sip.core), which is C-shaped and private. This
-- layer adds objects with fields, errors raised as tables, `<close>`, garbage collection and
-- coroutine tasks; it holds no protocol logic of its own. One module per concern, as in the
-- Python package: errors, uri, message, sdp, loop, transport, txn, stack; `require "libsip"`
-- gathers them.
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
sip.Message = message.Message
sip.Sdp = sdp.Sdp
sip.Loop, sip.sleep = loop.Loop, loop.sleep
sip.Stack = stack.Stack
sip.Resolver = require("libsip.transport").Resolver

---------------------------------------------------------------------------------------------------
-- Small helpers

--- The standard reason phrase of a status code.
function sip.status_phrase(status) return core.sip_status_phrase(status) end

--- A fresh RFC 3261 §8.1.1.7 branch ("z9hG4bK" + random hex).
function sip.branch()
    local t = {}
    for i = 1, 16 do t[i] = ("%x"):format(math.random(0, 15)) end
    return "z9hG4bK" .. table.concat(t)
end

return sip
