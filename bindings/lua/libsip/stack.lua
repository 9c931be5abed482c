-- SPDX-License-Identifier: MIT
-- libsip for Lua: Stack, a loop and a transport with handlers per method, and replies.

local core = require "libsip_core"
local errors = require "libsip.errors"
local message = require "libsip.message"
local loopm = require "libsip.loop"
local txnm = require "libsip.txn"
local transport = require "libsip.transport"

local rawget, rawset, setmetatable, type, tostring = rawget, rawset, setmetatable, type, tostring
local raise, check, closed, class = errors._raise, errors._check, errors._closed, errors._class
local new_error, report = errors._new_error, errors._report
local Message, wrap_msg, msg_p = message._class, message._wrap_msg, message._msg_p
local loop_p, resume, current_task, task_loops = loopm._loop_p, loopm._resume, loopm._current_task,
    loopm._task_loops
local ServerTxn, ClientTxn, TxnLayer = txnm.ServerTxn, txnm.ClientTxn, txnm.TxnLayer
local txn_opts, server_txn, txn_reply = txnm._txn_opts, txnm._server_txn, txnm._txn_reply
local answer_if_open, client_finish = txnm._answer_if_open, txnm._client_finish
local client_settle, client_wake, client_close = txnm._client_settle, txnm._client_wake,
    txnm._client_close
local LAYER_TIMERS, CLIENT_TIMERS = txnm.LAYER_TIMERS, txnm.CLIENT_TIMERS
local dest_netinfo = transport._dest_netinfo

local M = {}

-- Stack: a loop (own or given) and a transport, with handlers per method.

local Stack = class("Stack")

local function stack_tp(s)
    local p = rawget(s, "_tp")
    if not p then closed() end
    return p
end

local STACK_KEYS = errors._set { "listen", "loop", "options", "log", "log_level", "trace",
    "transactions", "resolver" }

--- sip.Stack{ listen = {"udp:127.0.0.1:0", ...} or "udp:127.0.0.1:0",
---            loop = Loop (default: its own), options = { mtu = ..., tls_cert_file = ... },
---            transactions = true | { t1_ms =, t2_ms =, t4_ms =, timer_100_ms = },
---            resolver = sip.Resolver{...} (default: its own, with the system's DNS servers),
---            log = fn, log_level = "info", trace = true (every message sent and received
---            logged) }
--- An unknown key raises SIP_EINVAL naming it.
function M.Stack(cfg)
    cfg = errors._check_opts(cfg, STACK_KEYS, "sip.Stack")
    local listen = cfg.listen
    if type(listen) == "string" then listen = { listen } end
    if listen ~= nil and type(listen) ~= "table" then
        raise(core.SIP_EINVAL, "sip.Stack: listen must be a string or a list of strings such as "
            .. "\"udp:127.0.0.1:5060\", got " .. type(listen))
    end
    if cfg.loop ~= nil and getmetatable(cfg.loop) ~= loopm._Loop then
        raise(core.SIP_EINVAL, "sip.Stack: loop must be a sip.Loop, got " .. type(cfg.loop))
    end
    local resolver = cfg.resolver
    if resolver ~= nil and getmetatable(resolver) ~= transport._Resolver then
        raise(core.SIP_EINVAL, "sip.Stack: resolver must be a sip.Resolver, got " .. type(resolver))
    end
    local layer_opts
    if cfg.transactions ~= nil and cfg.transactions ~= false then
        local tcfg = cfg.transactions
        if tcfg == true then
            tcfg = {}
        elseif type(tcfg) ~= "table" then
            raise(core.SIP_EINVAL, "sip.Stack: transactions must be true or a table of timers "
                .. "(t1_ms, t2_ms, t4_ms, timer_100_ms), got " .. type(tcfg))
        end
        errors._check_opts(tcfg, errors._set(LAYER_TIMERS), "sip.Stack: transactions")
        layer_opts = txn_opts(tcfg, LAYER_TIMERS)
    end
    local opts = core.sip_transport_opts_t()
    core.sip_transport_opts_init(opts)
    if cfg.options ~= nil then errors._set_struct(opts, cfg.options, "sip.Stack: options") end
    local loop = cfg.loop or loopm.Loop()
    local s = setmetatable({
        loop = loop, _own_loop = cfg.loop == nil, _handlers = {}, _responders = {},
        _unanswered = setmetatable({}, { __mode = "k" }),
    }, Stack)
    local rc, tp = core.sip_transport_create(loop_p(loop), opts)
    if rc < 0 then
        if cfg.loop == nil then loop:close() end
        raise(rc, "sip.Stack: cannot create the transport: " .. core.sip_strerror(rc))
    end
    rawset(s, "_tp", tp)
    -- RFC 3263: a request sent without a destination is located from its Route or Request-URI
    -- through this resolver.
    rawset(s, "_own_resolver", resolver == nil)
    resolver = resolver or transport.Resolver()
    resolver:_bind(loop)
    rawset(s, "_resolver", resolver)
    check(core.sip_transport_set_resolver(tp, rawget(resolver, "_p")))
    -- The handler holds the stack weakly, so a stack nobody keeps can be collected.
    local weak = setmetatable({ s = s }, { __mode = "v" })
    check(core.sip_transport_set_handler(tp, function(_, mp)
        local st = weak.s
        if st then st:_on_message(mp) end
    end))
    if layer_opts then
        -- The layer becomes the transport's message handler (RFC 3261 §17).
        local o = layer_opts
        local lrc, lp = core.sip_txn_layer_create(tp, o)
        check(lrc)
        rawset(s, "_layer", setmetatable({ _p = lp, _t = { o.t1_ms, o.t2_ms, o.t4_ms,
            o.timer_100_ms } }, TxnLayer))
        rawset(s, "_clients", {})
        check(core.sip_txn_layer_set_request_handler(lp, function(_, txnp, mp)
            local st = weak.s
            if st then st:_on_txn_request(txnp, mp) end
        end))
        check(core.sip_txn_layer_set_stray_handler(lp, function(_, mp)
            local st = weak.s
            if st then st:_on_message(mp) end
        end))
    end
    if cfg.log ~= nil or cfg.log_level ~= nil then loop:set_log(cfg.log, cfg.log_level) end
    if cfg.trace then loop:set_trace(true) end
    for _, spec in ipairs(listen or {}) do s:listen(spec) end
    return s
end

--- A user agent on this stack's transaction layer: stack:ua{ user_agent = ..., ... } is
--- sip.UA(stack, {...}) (docs/LUA.md: Calls).
function Stack.methods.ua(s, opts)
    return require("libsip.ua").new(s, opts)
end

--- The transaction layer (Stack{transactions = true | {t1_ms=, t2_ms=, t4_ms=,
--- timer_100_ms=}}), with its timers as fields (t1_ms...) and count; nil without.
Stack.props.transactions = function(s) return rawget(s, "_layer") end
--- The RFC 3263 resolver that locates requests sent without a destination.
Stack.props.resolver = function(s)
    stack_tp(s)
    return rawget(s, "_resolver")
end

-- Requests whose handler's task ended without a final response. Python answers such a request
-- 500 as soon as nothing refers to it any more (reference counting); here one full collection,
-- in the next loop iteration and only when such requests exist, finds the ones nothing keeps:
-- their server transaction's last reference goes and the layer answers 500 (RFC 3261 §8.2: no
-- request is left without a final response). A request the script keeps is answered later.
local function check_unanswered(s)
    if rawget(s, "_check_posted") or not rawget(s, "_tp") then return end
    rawset(s, "_check_posted", true)
    local weak = setmetatable({ s = s }, { __mode = "v" })
    s.loop:post(function()
        local st = weak.s
        if not st then return end
        rawset(st, "_check_posted", nil)
        local pending = rawget(st, "_unanswered")
        if next(pending) == nil then return end
        st = nil
        collectgarbage()
        -- The requests still here are kept by the script; it answers them.
        for t in pairs(pending) do pending[t] = nil end
    end)
end

-- A server transaction whose handler's task ended without a final response: answered 500 in
-- the next loop iteration unless the script keeps it (the UA's handlers use this too).
function Stack.methods._answer_later(s, t)
    rawget(s, "_unanswered")[t] = true
    check_unanswered(s)
end

function Stack.methods._on_txn_request(s, txnp, mp)
    core.sip_msg_ref(mp)
    local m = wrap_msg(mp)
    local loop = s.loop
    rawset(m, "_stack", s)
    if txnp then rawset(m, "_txn", server_txn(txnp, s)) end
    local fn = s._handlers[m.method] or s._handlers["*"]
    if not fn then
        -- RFC 3261 §8.2.1: a method this UAS does not handle.
        if txnp then core.sip_txn_respond(txnp, 501, nil) end
        return
    end
    if not txnp then
        loop:spawn(fn, m)
        return
    end
    loop:spawn(function(req)
        local ok, err = xpcall(fn, debug.traceback, req)
        local t = rawget(req, "_txn")
        req = nil
        local p = rawget(t, "_p")
        if not ok then
            -- A handler that fails leaves no request without a final response: 500 at once.
            -- The error is reported here, once, with the handler's traceback.
            if p then answer_if_open(p, 500) end
            report(loop_p(loop), err)
            return
        end
        local state = p and core.sip_txn_get_state(p)
        if state == core.SIP_TXN_TRYING or state == core.SIP_TXN_PROCEEDING then
            rawget(s, "_unanswered")[t] = true
            t = nil
            check_unanswered(s)
        end
    end, m)
end

--- Opens a listening point ("udp:127.0.0.1:0" picks a free port). Returns its address.
function Stack.methods.listen(s, spec)
    local tp = stack_tp(s)
    return transport._listener_list(tp)[transport._listen_on(tp, s.loop, spec, "listen")]
end

--- The listening points: { {transport=, host=, port=, spec="udp:127.0.0.1:5060"}, ... }.
function Stack.methods.listeners(s)
    return transport._listener_list(stack_tp(s))
end

--- The stack's sip.Transport (its connections, sends); its messages go to the stack's
--- handlers, so its on_message raises.
Stack.props.transport = function(s)
    local tp = stack_tp(s)
    local t = rawget(s, "_transport")
    if not t then
        t = transport._wrap_transport(tp, s.loop, s)
        rawset(s, "_transport", t)
    end
    return t
end

--- Calls fn(req) in a new task for every request with this method ("*": any method without
--- its own handler). req:reply(status) answers it.
function Stack.methods.on_request(s, method, fn)
    stack_tp(s)
    errors._arg_string(method, 'on_request: method ("INVITE", "*" for any)')
    if fn ~= nil then errors._arg_fn(fn, "on_request: handler") end
    s._handlers[method] = fn
    return s
end

--- Calls fn(rsp) in a new task for every response no stack:request() waits for.
function Stack.methods.on_response(s, fn)
    stack_tp(s)
    if fn ~= nil then errors._arg_fn(fn, "on_response: handler") end
    s._responders[1] = fn
    return s
end

function Stack.methods._on_message(s, mp)
    core.sip_msg_ref(mp)
    local m = wrap_msg(mp)
    local loop = s.loop
    if core.sip_msg_is_request(mp) == 1 then
        rawset(m, "_stack", s)
        local fn = s._handlers[m.method] or s._handlers["*"]
        if fn then
            loop:spawn(fn, m)
        else
            core.sip_log_write(loop_p(loop), core.SIP_LOG_DEBUG, "lua",
                "no handler for " .. tostring(m.method) .. "; request dropped")
        end
        return
    end
    local fn = s._responders[1]
    if fn then loop:spawn(fn, m) end
end

--- Sends a message without a transaction: to dst ("udp:127.0.0.1:5060" or {transport=, host=,
--- port=}), or, for a request without dst, where its Route or Request-URI says (RFC 3263
--- through stack.resolver). Inside a task it waits for the outcome and returns the status (0,
--- or a negative error code); outside it returns 0 once queued. Immediate failures raise.
function Stack.methods.send(s, msg, dst)
    local tp = stack_tp(s)
    local mp = message._check_msg(msg, "stack:send")
    local ni
    if dst ~= nil then
        ni = dest_netinfo(dst)
    elseif core.sip_msg_is_request(mp) == 0 then
        raise(core.SIP_EINVAL, "stack:send: a response without a destination goes with "
            .. "stack:send_response(rsp)")
    end
    return transport._send_on(tp, mp, ni, "stack:send")
end

-- Why a request cannot start a client transaction, in words (C answers only a code), or nil.
local function request_problem(mp)
    if core.sip_msg_is_request(mp) == 0 then return "a response cannot start a client transaction" end
    local method = core.sip_msg_get_method_str(mp)
    if method == "ACK" then
        return "an ACK is not sent in a client transaction (RFC 3261 §17.1.1.3): send it with "
            .. "stack:send()"
    end
    -- The layer adds the Via; what else is wrong is C's to say (sip_msg_validate names the first
    -- header missing or repeated, RFC 3261 §8.1.1 and §7.3.1).
    local rc, probe = core.sip_msg_clone(mp)
    if rc < 0 then return nil end
    if core.sip_msg_get_via(probe) == nil then
        core.sip_msg_add_header(probe, "Via", "SIP/2.0/UDP invalid;branch=z9hG4bKcheck")
    end
    local vrc, err = core.sip_msg_validate(probe)
    core.sip_msg_unref(probe)
    if vrc < 0 and err ~= nil then
        return ("the %s request is not valid: %s (RFC 3261 §8.1.1)"):format(method, err.reason)
    end
    return nil
end

local REQUEST_KEYS = errors._set { "dst", "on_response", "t1_ms", "t2_ms", "t4_ms" }

--- stack:request(msg, {dst=, on_response=fn, t1_ms=, t2_ms=, t4_ms=}) sends the request in a
--- client transaction (RFC 3261 §17.1) and returns it at once (also outside a task); it needs
--- Stack{transactions = true}. dst ("udp:127.0.0.1:5060" or {transport=, host=, port=}) may
--- also be the second argument itself; without one the request goes where its Route or
--- Request-URI says (RFC 3263, through stack.resolver). on_response(status, rsp, txn) runs for
--- every response, and once with rsp nil for a 408 (timeout) or 503 (transport error) end;
--- for the final response it runs before txn:wait() returns. Inside a task, txn:wait() yields
--- until the final response. A top Via with a fresh branch is added when the request has none.
function Stack.methods.request(s, req, opts)
    stack_tp(s)
    local layer = rawget(s, "_layer")
    if not layer then
        -- Matching responses to requests is the transaction layer's work (RFC 3261 §17.1.3).
        raise(core.SIP_EINVAL, "stack:request needs a stack with transactions: "
            .. "sip.Stack{transactions = true, ...}; stack:send sends without a transaction")
    end
    local mp = message._check_msg(req, "stack:request")
    if type(opts) ~= "table" or opts.host then
        opts = { dst = opts }
    else
        errors._check_opts(opts, REQUEST_KEYS, "stack:request")
    end
    if opts.on_response ~= nil and type(opts.on_response) ~= "function" then
        raise(core.SIP_EINVAL, "stack:request: on_response must be a function, got "
            .. type(opts.on_response))
    end
    local ni = opts.dst ~= nil and dest_netinfo(opts.dst) or nil
    local o = nil
    for _, k in ipairs(CLIENT_TIMERS) do
        if opts[k] ~= nil then o = txn_opts(opts, CLIENT_TIMERS) break end
    end
    local t = setmetatable({ _stack = s, _req = req, _waiters = {}, status = 0, done = false },
        ClientTxn)
    local on_response = opts.on_response
    local loop = s.loop
    local lp = rawget(layer, "_p")
    if not lp then closed() end
    local rc, p = core.sip_txn_client_create(lp, mp, ni, o, function(_, status, rp)
        local m
        if rp then
            core.sip_msg_ref(rp)
            m = wrap_msg(rp)
        end
        local waiters = nil
        if not rawget(t, "done") then
            rawset(t, "status", status)
            rawset(t, "response", m)
            if status >= 200 then
                waiters = client_settle(t, not m and new_error(core.SIP_EIO,
                    status == 408 and "request timed out" or "transport error",
                    { status = status }) or nil)
            end
        end
        -- RFC 6026: 2xx retransmissions (and other forks' 2xx) still arrive in Accepted.
        if on_response then
            local ok, err = xpcall(on_response, debug.traceback, status, m, t)
            if not ok then report(loop_p(loop), err) end
        end
        if waiters then client_wake(t, waiters) end
    end)
    if rc < 0 then
        raise(rc, "stack:request: cannot send: " .. (request_problem(mp) or core.sip_strerror(rc)))
    end
    rawset(t, "_p", p)
    rawget(s, "_clients")[t] = true
    return t
end

--- Sends a response where RFC 3261 §18.2.2 says (the request's connection or Via).
function Stack.methods.send_response(s, rsp)
    transport._send_response_on(stack_tp(s), rsp, "send_response")
end

--- Runs the loop until stack:stop() or stack:close(); raises "already running" inside it.
function Stack.methods.run(s)
    stack_tp(s)
    s.loop:run()
end

--- Runs one iteration of the loop (wait true: block until something happens); true while
--- work is pending. Raises "already running" inside run().
function Stack.methods.run_once(s, wait)
    stack_tp(s)
    return s.loop:run_once(wait)
end

local function close_clients(s, why)
    local clients = rawget(s, "_clients")
    if not clients then return end
    local list = {}
    for t in pairs(clients) do list[#list + 1] = t end
    for _, t in ipairs(list) do client_close(t, new_error(core.SIP_ECLOSED, why)) end
end

--- Makes run() return; asked before run(), run() returns at once. The pending client
--- transactions of this stack are closed: a task in txn:wait() gets nil and SIP_ECLOSED.
function Stack.methods.stop(s)
    stack_tp(s)
    close_clients(s, "the stack stopped before the transaction ended")
    s.loop:stop()
end
--- Spawns a task on the stack's loop.
function Stack.methods.spawn(s, fn, ...)
    stack_tp(s)
    errors._arg_fn(fn, "Stack:spawn: fn")
    return s.loop:spawn(fn, ...)
end

--- Closes the transactions, the transport, the resolver it made and the loop when it made it;
--- a task in txn:wait() gets nil and SIP_ECLOSED. Idempotent.
function Stack.methods.close(s)
    local tp = rawget(s, "_tp")
    if not tp then return end
    close_clients(s, "stack closed")
    -- Its UA first: the calls end (waiting tasks resume) while the layer is still there.
    local ua = rawget(s, "_ua")
    if ua then ua:close() end
    rawset(s, "_tp", nil)
    local layer = rawget(s, "_layer")
    if layer then layer:close() end
    -- stack.transport, when a script took it, answers SIP_ECLOSED from now on.
    local t = rawget(s, "_transport")
    if t then t:close() end
    core.sip_transport_close(tp)
    core.sip_transport_unref(tp)
    local r = rawget(s, "_resolver")
    rawset(s, "_resolver", nil)
    if r and rawget(s, "_own_resolver") then r:close() end
    if rawget(s, "_own_loop") then s.loop:close() end
end
Stack.props.closed = function(s) return rawget(s, "_tp") == nil end
Stack.__gc = function(s)
    local tp = rawget(s, "_tp")
    if tp then
        rawset(s, "_tp", nil)
        -- The resolver holds its loop; the transport, kept by that loop until it closes, would
        -- hold the resolver: the link goes first, so a stack nobody closed leaves nothing live.
        core.sip_transport_set_resolver(tp, nil)
        core.sip_transport_unref(tp)
    end
end
Stack.__close = Stack.methods.close


---------------------------------------------------------------------------------------------------
-- Requests received by a Stack: replies and CANCEL/event watches

local REPLY_KEYS = errors._set { "headers", "body", "content_type" }

--- Sends a response to a request received by a Stack: req:reply(status [, reason] [, opts])
--- with status 100-699, reason a string or nil (the standard phrase), opts
--- { headers = { {name, value}, ... } or {Name = value}, body = "...", content_type = "..." }
--- (a body needs its content_type). On a stack with transactions it goes through the request's
--- server transaction (provisional or final, now or later; every response of the transaction
--- carries the same To tag, as C's sip_txn_create_response() gives it). Returns the response.
function Message.methods.reply(m, status, reason, opts)
    msg_p(m)
    if type(reason) == "table" and opts == nil then reason, opts = nil, reason end
    local stack = rawget(m, "_stack")
    if not stack then raise(core.SIP_EINVAL, "reply: not a request received by a Stack") end
    status = errors._arg_status(status, "reply")
    if reason ~= nil then errors._arg_string(reason, "reply: reason") end
    errors._check_opts(opts, REPLY_KEYS, "reply")
    if opts and opts.body ~= nil then
        message._check_body("reply", opts.body, opts.content_type)
    end
    local txn = rawget(m, "_txn")
    if txn == nil and rawget(stack, "_layer") then
        raise(core.SIP_EINVAL, "reply: an ACK gets no response (RFC 3261 §17.1.1.3)")
    end
    local rsp
    if txn then
        local kept = rawget(txn, "_accepted")
        local tp = rawget(txn, "_p")
        if status >= 200 and status < 300 and kept and tp
            and core.sip_txn_get_state(tp) == core.SIP_TXN_ACCEPTED then
            -- RFC 3261 §13.3.1.4: the TU retransmits a 2xx as it was first sent (RFC 6026 §7.1).
            txn_reply(txn, kept, status)
            return kept
        end
        rsp = txn:_response(status, reason)
    else
        rsp = m:response(status, reason)
    end
    if opts then
        if opts.headers ~= nil then message._add_headers("reply", rsp, opts.headers) end
        if opts.body ~= nil then rsp:set_body(opts.body, opts.content_type) end
    end
    if txn then
        txn_reply(txn, rsp, status)
        if status >= 200 and status < 300 then
            local tp = rawget(txn, "_p")
            if tp and core.sip_txn_get_state(tp) == core.SIP_TXN_ACCEPTED then
                -- Kept for the retransmissions above.
                rawset(txn, "_accepted", rsp)
            end
        end
    else
        stack:send_response(rsp)
    end
    return rsp
end

--- fn(cancel) when a CANCEL matches this INVITE (RFC 3261 §9.2): the layer has answered the
--- CANCEL 200 and the INVITE 487 (unless a final response went first). Runs in a new task.
function Message.methods.on_cancel(m, fn)
    local txn = rawget(m, "_txn")
    if not txn then raise(core.SIP_EINVAL, "on_cancel: the request has no server transaction") end
    txn:on_cancel(fn)
    return m
end

--- fn(event, msg) for the server transaction's events ("cancel", "timeout", "error").
function Message.methods.on_event(m, fn)
    local txn = rawget(m, "_txn")
    if not txn then raise(core.SIP_EINVAL, "on_event: the request has no server transaction") end
    txn:on_event(fn)
    return m
end

return M
