-- SPDX-License-Identifier: MIT
-- libsip for Lua: SDP offer/answer (RFC 3264, sip/oa.h), one sip.OfferAnswer per session.

local core = require "libsip_core"
local errors = require "libsip.errors"
require "libsip.sdp"

local rawget, rawset, setmetatable, type = rawget, rawset, setmetatable, type
local raise, check, closed, class = errors._raise, errors._check, errors._closed, errors._class
local check_args = errors._check_args

local M = {}

local OA = class("OfferAnswer")
local Sdp = errors._classes.Sdp

local OA_KEYS = errors._set { "address", "username", "session_id", "version", "session_name",
    "caps" }

local function oa_p(o)
    local p = rawget(o, "_p")
    if not p then closed() end
    return p
end

-- The error of a failed call: SIP_ENOTACCEPTABLE (answer 488), SIP_ESDP, SIP_EINVAL...; reason
-- and stream (the 0-based m= line, -1 for the session) as Python's exceptions carry them.
local function fail(rc, err)
    local extra = { stream = err and err.stream or -1 }
    if rc == core.SIP_ENOTACCEPTABLE then extra.status = 488 end
    raise(rc, err and err.reason or nil, extra)
end

local function sdp_in(v, what)
    if type(v) == "string" then v = require("libsip.sdp").Sdp.parse(v) end
    if getmetatable(v) ~= Sdp then
        raise(core.SIP_EINVAL, ("OfferAnswer:%s: an Sdp or its text expected, got %s"):format(
            what, type(v)))
    end
    local p = rawget(v, "_p")
    if not p then closed() end
    return p
end

local function sdp_out(p, borrowed)
    if p == nil then return nil end
    if borrowed then core.sip_sdp_ref(p) end
    return setmetatable({ _p = p }, Sdp)
end

--- A negotiator: sip.OfferAnswer{ address = "192.0.2.1", username =, session_id =, version =,
--- session_name =, caps = sdp_or_text } (Python: libsip.OfferAnswer(address, ...)).
function M.OfferAnswer(cfg)
    cfg = errors._check_opts(cfg, OA_KEYS, "sip.OfferAnswer")
    if type(cfg.address) ~= "string" then
        raise(core.SIP_EINVAL, "sip.OfferAnswer: address must be a string, got " ..
            type(cfg.address))
    end
    local o = core.sip_oa_opts_t()
    core.sip_oa_opts_init(o)
    local opts = {}
    for _, k in ipairs { "address", "username", "session_id", "version", "session_name" } do
        opts[k] = cfg[k]
    end
    errors._set_struct(o, opts, "sip.OfferAnswer")
    local rc, p = core.sip_oa_create(o)
    if rc < 0 then raise(rc, "sip.OfferAnswer: bad options (address " .. cfg.address .. ")") end
    local self = setmetatable({ _p = p }, OA)
    if cfg.caps ~= nil then self:set_local(cfg.caps) end
    return self
end

--- A copy with the same capabilities, session, offer in flight and hold (one per fork).
function OA.methods.clone(o)
    local rc, p = core.sip_oa_clone(oa_p(o))
    check(rc)
    return setmetatable({ _p = p }, OA)
end
--- Sets the local capabilities (an Sdp or its text).
function OA.methods.set_local(o, caps)
    local rc, err = core.sip_oa_set_local(oa_p(o), sdp_in(caps, "set_local"))
    if rc < 0 then fail(rc, err) end
end
--- Makes an offer (the first or a re-offer); returns the Sdp.
function OA.methods.create_offer(o)
    local rc, p, err = core.sip_oa_create_offer(oa_p(o))
    if rc < 0 then fail(rc, err) end
    return sdp_out(p, false)
end
--- Makes an offer written elsewhere (a B2BUA relays the other leg's) the offer in flight.
function OA.methods.set_local_offer(o, offer)
    local rc, err = core.sip_oa_set_local_offer(oa_p(o), sdp_in(offer, "set_local_offer"))
    if rc < 0 then fail(rc, err) end
end
--- Takes the peer's answer to our offer and completes the exchange.
function OA.methods.set_remote_answer(o, answer)
    local rc, err = core.sip_oa_set_remote_answer(oa_p(o), sdp_in(answer, "set_remote_answer"))
    if rc < 0 then fail(rc, err) end
end
--- Takes the peer's offer.
function OA.methods.set_remote_offer(o, offer)
    local rc, err = core.sip_oa_set_remote_offer(oa_p(o), sdp_in(offer, "set_remote_offer"))
    if rc < 0 then fail(rc, err) end
end
--- Answers the remote offer from the capabilities; SIP_ENOTACCEPTABLE (status 488) when no
--- stream can be accepted.
function OA.methods.create_answer(o)
    local rc, p, err = core.sip_oa_create_answer(oa_p(o))
    if rc < 0 then fail(rc, err) end
    return sdp_out(p, false)
end
--- Completes the exchange with an answer made elsewhere (a B2BUA relays the other leg's).
function OA.methods.set_local_answer(o, answer)
    local rc, err = core.sip_oa_set_local_answer(oa_p(o), sdp_in(answer, "set_local_answer"))
    if rc < 0 then fail(rc, err) end
end
--- Drops the offer in flight; SIP_ENOENT when there is none.
function OA.methods.cancel_offer(o)
    local rc = core.sip_oa_cancel_offer(oa_p(o))
    if rc < 0 then raise(rc, "no offer in flight") end
end
--- Holds (true) or resumes (false) from the next offer on.
function OA.methods.set_hold(o, hold)
    check(core.sip_oa_set_hold(oa_p(o), hold and 1 or 0))
end
--- Adds a stream from the capabilities' m= line caps_index (0-based, as the C API and Python
--- count streams); returns the stream's index.
function OA.methods.add_media(o, caps_index)
    local rc = core.sip_oa_add_media(oa_p(o), errors._arg_int(caps_index,
        "OfferAnswer:add_media: caps_index"))
    if rc < 0 then raise(rc, ("no m= line %d in the local capabilities"):format(caps_index)) end
    return rc
end
--- Removes stream index (0-based) from the next offer: port 0, the line stays.
function OA.methods.remove_media(o, index)
    local rc = core.sip_oa_remove_media(oa_p(o), errors._arg_int(index,
        "OfferAnswer:remove_media: index"))
    if rc < 0 then raise(rc, ("no stream %d"):format(index)) end
end
function OA.methods.close(o)
    local p = rawget(o, "_p")
    if p then
        rawset(o, "_p", nil)
        core.sip_oa_unref(p)
    end
end

OA.props.closed = function(o) return rawget(o, "_p") == nil end
OA.props.hold = function(o) return core.sip_oa_get_hold(oa_p(o)) == 1 end
OA.props.remote_hold = function(o) return core.sip_oa_get_remote_hold(oa_p(o)) == 1 end
OA.props.remote_changed = function(o) return core.sip_oa_get_remote_changed(oa_p(o)) == 1 end
OA.props.media_count = function(o) return core.sip_oa_media_count(oa_p(o)) end
--- "idle", "local_offer", "remote_offer" or "done" (Python: an OaState).
OA.props.state = function(o) return core.sip_oa_state_name(core.sip_oa_get_state(oa_p(o))) end
OA.props.local_sdp = function(o) return sdp_out(core.sip_oa_get_local(oa_p(o)), true) end
OA.props.remote_sdp = function(o) return sdp_out(core.sip_oa_get_remote(oa_p(o)), true) end
OA.props.offer = function(o) return sdp_out(core.sip_oa_get_offer(oa_p(o)), true) end
OA.__gc = OA.methods.close
OA.__close = OA.methods.close

check_args("OfferAnswer", OA.methods, {
    add_media = { "caps_index:integer" }, remove_media = { "index:integer" },
})

return M
