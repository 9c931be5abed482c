-- SPDX-License-Identifier: MIT
-- libsip for Lua: dialogs (RFC 3261 §12, sip/dialog.h) as read-only views of a call's dialog
-- (call.dialog): the call keeps them up to date.

local core = require "libsip_core"
local errors = require "libsip.errors"
local message = require "libsip.message"

local rawget, rawset, setmetatable = rawget, rawset, setmetatable
local closed, class, nonempty = errors._closed, errors._class, errors._nonempty

local M = {}

local Dialog = class("Dialog")

local function dialog_p(d)
    local p = rawget(d, "_p")
    if not p then closed() end
    return p
end

-- A Dialog for a borrowed handle (sip_call_get_dialog): the object takes its own reference, so
-- it reads the dialog after the call that had it has ended.
local function wrap_dialog(p)
    if p == nil then return nil end
    core.sip_dialog_ref(p)
    return setmetatable({ _p = p }, Dialog)
end

--- "Early", "Confirmed" or "Terminated" (sip_dialog_state_name).
Dialog.props.state = function(d)
    return core.sip_dialog_state_name(core.sip_dialog_get_state(dialog_p(d)))
end
Dialog.props.call_id = function(d) return core.sip_dialog_get_call_id(dialog_p(d)) end
Dialog.props.local_tag = function(d) return core.sip_dialog_get_local_tag(dialog_p(d)) end
--- nil for an RFC 2543 peer without a From tag.
Dialog.props.remote_tag = function(d)
    return nonempty(core.sip_dialog_get_remote_tag(dialog_p(d)))
end
--- This side's From/To value with its tag ("Alice <sip:a@x>;tag=1").
Dialog.props.local_address = function(d) return core.sip_dialog_get_local_addr(dialog_p(d)) end
Dialog.props.remote_address = function(d) return core.sip_dialog_get_remote_addr(dialog_p(d)) end
--- The other side's Contact URI, where in-dialog requests go.
Dialog.props.remote_target = function(d)
    return core.sip_dialog_get_remote_target(dialog_p(d))
end
Dialog.props.local_target = function(d) return core.sip_dialog_get_local_target(dialog_p(d)) end
--- The route set, a list of name-addrs ("<sip:p1.example.com;lr>"), in the order requests
--- carry them as Route (reversed from Record-Route for the UAC, RFC 3261 §12.1.2).
Dialog.props.route_set = function(d)
    local p = dialog_p(d)
    local out = {}
    for i = 0, core.sip_dialog_route_count(p) - 1 do out[i + 1] = core.sip_dialog_route_at(p, i) end
    return out
end
--- The last CSeq number this side sent.
Dialog.props.local_cseq = function(d) return core.sip_dialog_get_local_cseq(dialog_p(d)) end
--- The last CSeq number received, 0 while none was.
Dialog.props.remote_cseq = function(d) return core.sip_dialog_get_remote_cseq(dialog_p(d)) end
Dialog.props.is_uas = function(d) return core.sip_dialog_is_uas(dialog_p(d)) == 1 end
--- True for a sips dialog over TLS (RFC 3261 §12.1).
Dialog.props.secure = function(d) return core.sip_dialog_is_secure(dialog_p(d)) == 1 end
--- True when msg (a sip.Message) belongs to this dialog: its Call-ID and both tags.
function Dialog.methods.match(d, msg)
    return core.sip_dialog_match(dialog_p(d), message._check_msg(msg, "dialog:match")) == 1
end
-- The view keeps the dialog alive while the script holds it.
Dialog.__gc = function(d)
    local p = rawget(d, "_p")
    if p then
        rawset(d, "_p", nil)
        core.sip_dialog_unref(p)
    end
end
M.Dialog, M._wrap_dialog = Dialog, wrap_dialog
return M
