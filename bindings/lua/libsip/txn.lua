-- SPDX-License-Identifier: MIT
-- libsip for Lua: transactions (RFC 3261 §17, RFC 6026) of a Stack made with transactions.

local core = require "libsip_core"
local errors = require "libsip.errors"
local message = require "libsip.message"
local loopm = require "libsip.loop"

local rawget, rawset, setmetatable, type = rawget, rawset, setmetatable, type
local raise, check, closed, class, nonempty = errors._raise, errors._check, errors._closed,
    errors._class, errors._nonempty
local new_error = errors._new_error
local wrap_msg, msg_p = message._wrap_msg, message._msg_p
local resume, current_task = loopm._resume, loopm._current_task

local M = {}

-- Transactions (RFC 3261 §17, RFC 6026) of a Stack made with transactions = true

local ServerTxn = class("ServerTransaction")
local ClientTxn = class("ClientTransaction")
local TxnLayer = class("TxnLayer")

local event_names = {
    [core.SIP_TXN_EVENT_CANCEL] = "cancel", [core.SIP_TXN_EVENT_TIMEOUT] = "timeout",
    [core.SIP_TXN_EVENT_ERROR] = "error",
}

local function txn_state(t)
    local p = rawget(t, "_p")
    if not p then return "Terminated" end
    return core.sip_txn_state_name(core.sip_txn_get_state(p))
end

local function txn_opts(cfg, keys)
    local o = core.sip_txn_opts_t()
    core.sip_txn_opts_init(o)
    for _, k in ipairs(keys) do
        local v = cfg[k]
        if v ~= nil then
            if type(v) ~= "number" or v < 0 then
                raise(core.SIP_EINVAL, k .. " must be a number of milliseconds >= 0")
            end
            o[k] = math.tointeger(v) or math.floor(v)
        end
    end
    return o
end
local LAYER_TIMERS = { "t1_ms", "t2_ms", "t4_ms", "timer_100_ms" }
local CLIENT_TIMERS = { "t1_ms", "t2_ms", "t4_ms" }

TxnLayer.props.t1_ms = function(l) return rawget(l, "_t")[1] end
TxnLayer.props.t2_ms = function(l) return rawget(l, "_t")[2] end
TxnLayer.props.t4_ms = function(l) return rawget(l, "_t")[3] end
TxnLayer.props.timer_100_ms = function(l) return rawget(l, "_t")[4] end
TxnLayer.props.count = function(l)
    local p = rawget(l, "_p")
    return p and core.sip_txn_layer_count(p) or 0
end
TxnLayer.props.closed = function(l) return rawget(l, "_p") == nil end
function TxnLayer.methods.close(l)
    local p = rawget(l, "_p")
    if p then
        rawset(l, "_p", nil)
        core.sip_txn_layer_close(p)
        core.sip_txn_layer_unref(p)
    end
end
TxnLayer.__gc = function(l)
    local p = rawget(l, "_p")
    if p then
        rawset(l, "_p", nil)
        core.sip_txn_layer_unref(p)
    end
end

-- Server transactions: the object owns one reference; dropping it (with its request) without
-- a final response makes the layer answer 500.
local function server_txn(p, stack)
    core.sip_txn_ref(p)
    return setmetatable({ _p = p, _stack = stack, _cancel = {}, _events = {}, cancelled = false },
        ServerTxn)
end

ServerTxn.props.state = txn_state
ServerTxn.props.is_client = function() return false end
ServerTxn.props.response = function(t)
    local p = rawget(t, "_p")
    local r = p and core.sip_txn_get_response(p)
    if not r then return nil end
    core.sip_msg_ref(r)
    return wrap_msg(r)
end

-- A response to the transaction's request with the To tag its responses carry (RFC 3261
-- §8.2.6.2: the request's own in a dialog, else the one of an earlier response, else a new
-- one the transaction keeps): C's sip_txn_create_response() decides, not this layer.
function ServerTxn.methods._response(t, status, reason)
    local p = rawget(t, "_p")
    if not p then raise(core.SIP_ECLOSED, "reply: the stack or transaction is closed") end
    local rc, rp = core.sip_txn_create_response(p, status, reason)
    if rc == core.SIP_EINVAL then
        raise(rc, ("reply: cannot send %d in transaction state %s"):format(status, txn_state(t)))
    elseif rc == core.SIP_ECLOSED then
        raise(rc, "reply: the stack or transaction is closed")
    elseif rc < 0 then
        raise(rc, ("reply: cannot make the %d response: %s"):format(status, core.sip_strerror(rc)))
    end
    return wrap_msg(rp)
end

function ServerTxn.methods._watch(t)
    if rawget(t, "_watching") then return end
    local p = rawget(t, "_p")
    if not p then closed() end
    -- The layer keeps this function until the transaction ends: it holds the object weakly, so
    -- a request nobody keeps still gets its 500.
    local weak = setmetatable({ t = t }, { __mode = "v" })
    local loop = rawget(t, "_stack").loop
    check(core.sip_txn_set_event_handler(p, function(_, event, mp)
        local st = weak.t
        if not st then return end
        local m
        if mp then
            core.sip_msg_ref(mp)
            m = wrap_msg(mp)
        end
        local name = event_names[event] or tostring(event)
        if name == "cancel" then
            rawset(st, "cancelled", true)
            for _, fn in ipairs(rawget(st, "_cancel")) do loop:spawn(fn, m) end
        end
        for _, fn in ipairs(rawget(st, "_events")) do loop:spawn(fn, name, m) end
    end))
    rawset(t, "_watching", true)
end

--- fn(cancel) in a new task when a CANCEL matches this INVITE.
function ServerTxn.methods.on_cancel(t, fn)
    errors._arg_fn(fn, "on_cancel: fn")
    t:_watch()
    local list = rawget(t, "_cancel")
    list[#list + 1] = fn
    return t
end
--- fn(event, msg) in a new task for "cancel" (msg the CANCEL), "timeout" (Timer H: no ACK for
--- a non-2xx final) and "error" (the transport failed to send a response).
function ServerTxn.methods.on_event(t, fn)
    errors._arg_fn(fn, "on_event: fn")
    t:_watch()
    local list = rawget(t, "_events")
    list[#list + 1] = fn
    return t
end

--- Stops the transaction (no more sending or events). Idempotent.
function ServerTxn.methods.close(t)
    local p = rawget(t, "_p")
    if p then
        rawset(t, "_p", nil)
        core.sip_txn_close(p)
        core.sip_txn_unref(p)
    end
end
ServerTxn.__gc = function(t)
    local p = rawget(t, "_p")
    if p then
        rawset(t, "_p", nil)
        core.sip_txn_unref(p)
    end
end
ServerTxn.__close = ServerTxn.methods.close

local function txn_reply(t, rsp, status)
    local p = rawget(t, "_p")
    if not p then closed() end
    local rc = core.sip_txn_reply(p, msg_p(rsp))
    if rc == core.SIP_EINVAL then
        raise(rc, ("reply: cannot send %d in transaction state %s"):format(status, txn_state(t)))
    elseif rc == core.SIP_ECLOSED then
        raise(rc, "reply: the stack or transaction is closed")
    end
    check(rc)
end

-- An answer for a request whose handler failed or is missing, if it has no final one yet.
local function answer_if_open(txnp, status)
    local st = core.sip_txn_get_state(txnp)
    if st == core.SIP_TXN_TRYING or st == core.SIP_TXN_PROCEEDING then
        core.sip_txn_respond(txnp, status, nil)
    end
end

-- Client transactions: the callback the layer keeps holds the object until the transaction
-- ends, so on_response runs though the script drops it.
ClientTxn.props.state = txn_state
ClientTxn.props.is_client = function() return true end
-- Kept by the object: the transaction drops its request once the final response has arrived
-- (it then keeps only what matching needs).
ClientTxn.props.request = function(t)
    if not rawget(t, "_p") then closed() end
    return rawget(t, "_req")
end

-- The outcome is set first and the waiting tasks resumed after: on_response for the final
-- response runs in between, so it has run when txn:wait() returns (as an await in Python).
local function client_settle(t, err)
    if rawget(t, "done") then return nil end
    rawset(t, "done", true)
    rawset(t, "error", err)
    local stack = rawget(t, "_stack")
    rawget(stack, "_clients")[t] = nil
    local waiters = rawget(t, "_waiters")
    rawset(t, "_waiters", {})
    return waiters
end

local function client_wake(t, waiters)
    local err = rawget(t, "error")
    for _, w in ipairs(waiters or {}) do
        if err then
            resume(w.loop, w.co, nil, err)
        else
            resume(w.loop, w.co, rawget(t, "response"))
        end
    end
end

local function client_finish(t, err)
    client_wake(t, client_settle(t, err))
end

--- Inside a task: waits for the final response and returns it (any class: a 487 after
--- cancel(), a 404...), or nil and an Error when the transaction ended without one (SIP_EIO
--- with status 408: timeout, 503: transport error) or the stack closed (SIP_ECLOSED).
function ClientTxn.methods.wait(t)
    if rawget(t, "done") then
        local err = rawget(t, "error")
        if err then return nil, err end
        return rawget(t, "response")
    end
    local co, l = current_task("transaction:wait")
    local waiters = rawget(t, "_waiters")
    waiters[#waiters + 1] = { co = co, loop = l }
    return coroutine.yield()
end

--- Cancels a pending INVITE (RFC 3261 §9.1): the CANCEL goes out once a provisional response
--- has arrived; the INVITE then ends with the server's 487. reason: a Reason header value for
--- the CANCEL (RFC 3326, 'SIP;cause=200;text="Call completed elsewhere"'), or nil.
function ClientTxn.methods.cancel(t, reason)
    local p = rawget(t, "_p")
    if not p then closed() end
    if reason ~= nil then errors._arg_string(reason, "cancel: reason") end
    local rc = core.sip_txn_cancel_with_reason(p, reason)
    if rc == core.SIP_ECLOSED then
        raise(rc, "cancel: the transaction has a final response or is closed")
    elseif rc == core.SIP_EINVAL then
        raise(rc, reason and ("cancel: only an INVITE can be cancelled, and the reason must "
            .. "parse as a header value (%q)"):format(reason)
            or "cancel: only an INVITE can be cancelled")
    end
    check(rc)
end

-- Closes the C transaction; a task waiting on it gets nil and err.
local function client_close(t, err)
    local p = rawget(t, "_p")
    if p then
        rawset(t, "_p", nil)
        core.sip_txn_close(p)
        core.sip_txn_unref(p)
    end
    client_finish(t, err)
end

--- Stops the transaction: no more retransmission or callback; a task waiting on it gets nil
--- and a SIP_ECLOSED error. Idempotent.
function ClientTxn.methods.close(t)
    client_close(t, new_error(core.SIP_ECLOSED, "transaction closed"))
end
ClientTxn.__gc = function(t)
    local p = rawget(t, "_p")
    if p then
        rawset(t, "_p", nil)
        core.sip_txn_unref(p)
    end
end
ClientTxn.__close = ClientTxn.methods.close


M.ServerTxn, M.ClientTxn, M.TxnLayer = ServerTxn, ClientTxn, TxnLayer
M._txn_opts, M._server_txn, M._txn_reply = txn_opts, server_txn, txn_reply
M._answer_if_open, M._client_finish = answer_if_open, client_finish
M._client_settle, M._client_wake, M._client_close = client_settle, client_wake, client_close
M.LAYER_TIMERS, M.CLIENT_TIMERS = LAYER_TIMERS, CLIENT_TIMERS
return M
