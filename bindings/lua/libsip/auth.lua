-- SPDX-License-Identifier: MIT
-- libsip for Lua: HTTP digest authentication (sip/auth.h; RFC 3261 §22, RFC 7616, RFC 8760).
--
-- The client half, sip.AuthClient(), answers 401 and 407 challenges with stored credentials.
-- The server half, sip.AuthServer{ realm = ... }, challenges requests and checks their
-- credentials; its lookup(check) gives a user's password or HA1 and runs as a task when the
-- request came from a Stack, so it may wait (sip.sleep, stack:request) without blocking the loop:
--
--   local auth = require "libsip.auth"
--   local server = sip.AuthServer{ realm = "example.com" }
--   stack:on_request("REGISTER", function(req)
--       local check = server:check(req, function(c) return passwords[c.user] end):wait()
--       if not check.ok then check:reply() else check:reply(200) end
--   end)
--
-- auth.check(req, lookup) does the same with one server per realm, made on first use.

local core = require "libsip_core"
local errors = require "libsip.errors"
local message = require "libsip.message"
local loopm = require "libsip.loop"

local rawget, rawset, setmetatable, type = rawget, rawset, setmetatable, type
local raise, check, closed, class = errors._raise, errors._check, errors._closed, errors._class
local resume, current_task = loopm._resume, loopm._current_task
local Message, wrap_msg, check_msg = message._class, message._wrap_msg, message._check_msg

local M = {}

--- A lookup returns auth.LATER when it answers with check:answer{...} itself, later.
M.LATER = setmetatable({}, { __name = "libsip.auth.LATER",
    __tostring = function() return "libsip.auth.LATER" end })

local VERDICTS = { [core.SIP_AUTH_PENDING] = "pending", [core.SIP_AUTH_OK] = "ok",
    [core.SIP_AUTH_CHALLENGE] = "challenge", [core.SIP_AUTH_STALE] = "stale",
    [core.SIP_AUTH_FAILED] = "failed", [core.SIP_AUTH_REPLAY] = "replay",
    [core.SIP_AUTH_MALFORMED] = "malformed" }
local QOPS = { auth = core.SIP_AUTH_QOP_AUTH, ["auth-int"] = core.SIP_AUTH_QOP_AUTH_INT }

--- The name of one algorithm ("SHA-256") from its number, or nil.
function M.algorithm_name(alg)
    return core.sip_auth_algorithm_name(errors._arg_int(alg, "algorithm_name: algorithm"))
end

--- The number of an algorithm name (any case), or 0 for an unknown one.
function M.algorithm_from_name(name)
    return core.sip_auth_algorithm_from_name(errors._arg_string(name,
        "algorithm_from_name: name"))
end

local function algorithm(v, what)
    if type(v) == "string" then
        local a = core.sip_auth_algorithm_from_name(v)
        if a == 0 then raise(core.SIP_EINVAL, what .. ": unknown algorithm " .. v) end
        return a
    end
    if math.type(v) == "integer" then return v end
    raise(core.SIP_EINVAL, what .. ": an algorithm name or number expected, got " .. type(v))
end

local function algorithms(v, what)
    if type(v) ~= "table" then return algorithm(v, what) end
    local out = 0
    for _, a in ipairs(v) do out = out | algorithm(a, what) end
    return out
end

local function opt_string(v, what)
    if v ~= nil and type(v) ~= "string" then
        raise(core.SIP_EINVAL, what .. " must be a string, got " .. type(v))
    end
    return v
end

---------------------------------------------------------------------------------------------------
-- Client

local AuthClient = class("AuthClient")

local function client_p(ac)
    local p = rawget(ac, "_p")
    if not p then closed() end
    return p
end

--- An empty credential store (Python: libsip.AuthClient()).
function M.AuthClient()
    local rc, p = core.sip_auth_client_create()
    check(rc)
    return setmetatable({ _p = p }, AuthClient)
end

-- A UA's store (Borrowed), with a reference of its own.
function M._borrow_client(p)
    return setmetatable({ _p = core.sip_auth_client_ref(p) }, AuthClient)
end

local ADD_KEYS = errors._set { "realm", "ha1", "algorithm" }

--- Adds a credential: ac:add(user, password [, { realm =, ha1 =, algorithm = }]); a password,
--- or (password nil) the HA1 of algorithm (default "MD5") for a named realm. realm nil or "*"
--- answers any realm; one for the same realm and user replaces the earlier one.
function AuthClient.methods.add(ac, user, password, opts)
    local p = client_p(ac)
    errors._arg_string(user, "add: user")
    opt_string(password, "add: password")
    opts = errors._check_opts(opts, ADD_KEYS, "add")
    local c = core.sip_auth_cred_t()
    c.user = user
    if password ~= nil then c.password = password end
    if opts.ha1 ~= nil then c.ha1 = opt_string(opts.ha1, "add: ha1") end
    if opts.realm ~= nil then c.realm = opt_string(opts.realm, "add: realm") end
    c.algorithm = opts.algorithm == nil and 0 or algorithm(opts.algorithm, "add: algorithm")
    local rc = core.sip_auth_client_add(p, c)
    if rc < 0 then
        raise(rc, "add: a credential needs a user and a password, or an HA1 of the "
            .. "algorithm's length for a named realm")
    end
end

--- Forgets every credential and every cached challenge.
function AuthClient.methods.clear(ac)
    core.sip_auth_client_clear(client_p(ac))
end

AuthClient.props.count = function(ac) return core.sip_auth_client_count(client_p(ac)) end

--- Answers the challenges of a 401/407 to sent: adds Authorization or Proxy-Authorization to
--- next. Raises SIP_EAUTH when no credential answers or the password was refused.
function AuthClient.methods.authorize(ac, next, sent, challenge)
    local rc = core.sip_auth_client_authorize(client_p(ac), check_msg(next, "authorize: next"),
        check_msg(sent, "authorize: sent"), check_msg(challenge, "authorize: challenge"))
    if rc == core.SIP_EAUTH then
        raise(rc, "no credential answers the challenge, or the password was refused")
    elseif rc < 0 then
        raise(rc, "authorize: challenge must be a 401 or 407 with a Digest challenge, next a "
            .. "request")
    end
end

--- Authorises a new request at once with the challenges answered before.
function AuthClient.methods.prepare(ac, req)
    check(core.sip_auth_client_prepare(client_p(ac), check_msg(req, "prepare: req")))
end

--- Takes in the response to a request this client authorised (RFC 7616 §3.5): checks the
--- rspauth of its Authentication-Info and takes its nextnonce (nonce count again from 1).
--- Raises SIP_EAUTH for a rspauth the credentials sent do not give.
function AuthClient.methods.update(ac, req, rsp)
    local rc = core.sip_auth_client_update(client_p(ac), check_msg(req, "update: req"),
        check_msg(rsp, "update: rsp"))
    if rc == core.SIP_EAUTH then
        raise(rc, "the server's rspauth does not match the credentials sent")
    elseif rc < 0 then
        raise(rc, "update: req must be a request, rsp a response")
    end
end

--- Drops the store now (later use raises SIP_ECLOSED). Idempotent.
function AuthClient.methods.close(ac)
    local p = rawget(ac, "_p")
    if p then
        rawset(ac, "_p", nil)
        core.sip_auth_client_unref(p)
    end
end
AuthClient.__gc = AuthClient.methods.close
AuthClient.__close = AuthClient.methods.close

---------------------------------------------------------------------------------------------------
-- Server

local AuthServer = class("AuthServer")
local AuthCheck = class("AuthCheck")

local function server_p(s)
    local p = rawget(s, "_p")
    if not p then closed() end
    return p
end

local function check_p(c)
    local p = rawget(c, "_p")
    if not p then closed() end
    return p
end

local SERVER_KEYS = errors._set { "realm", "secret", "nonce_lifetime", "algorithms", "qop",
    "proxy", "replay_slots" }

--- A digest server for one realm: sip.AuthServer{ realm = "example.com", secret =,
--- nonce_lifetime = 300 (seconds), algorithms = { "SHA-256", "MD5" }, qop = { "auth" },
--- proxy = false, replay_slots = 4096 } (Python: libsip.AuthServer(realm, ...)). secret nil:
--- random, so the nonces end with the server; qop {}: RFC 2069's none; proxy: 407.
function M.AuthServer(cfg)
    if type(cfg) == "string" then cfg = { realm = cfg } end
    cfg = errors._check_opts(cfg, SERVER_KEYS, "sip.AuthServer")
    errors._arg_string(cfg.realm, "sip.AuthServer: realm")
    local o = core.sip_auth_server_opts_t()
    core.sip_auth_server_opts_init(o)
    o.realm = cfg.realm
    if cfg.secret ~= nil then o.secret = opt_string(cfg.secret, "sip.AuthServer: secret") end
    if cfg.nonce_lifetime ~= nil then
        o.nonce_lifetime_s = errors._arg_int(cfg.nonce_lifetime, "sip.AuthServer: nonce_lifetime")
    end
    if cfg.replay_slots ~= nil then
        o.replay_slots = errors._arg_int(cfg.replay_slots, "sip.AuthServer: replay_slots")
    end
    if cfg.algorithms ~= nil then
        o.algorithms = algorithms(cfg.algorithms, "sip.AuthServer: algorithms")
    end
    if cfg.qop ~= nil then
        local q = 0
        for _, v in ipairs(type(cfg.qop) == "table" and cfg.qop or { cfg.qop }) do
            if not QOPS[v] then
                raise(core.SIP_EINVAL, "sip.AuthServer: qop " .. tostring(v)
                    .. " is not \"auth\" or \"auth-int\"")
            end
            q = q | QOPS[v]
        end
        o.qop = q
    end
    o.proxy = cfg.proxy and 1 or 0
    local rc, p = core.sip_auth_server_create(o)
    if rc < 0 then raise(rc, "sip.AuthServer: bad options (realm " .. cfg.realm .. ")") end
    return setmetatable({ _p = p }, AuthServer)
end

AuthServer.props.realm = function(s) return core.sip_auth_server_get_realm(server_p(s)) end
-- The C options the table's keys set (nonce_lifetime is nonce_lifetime_s), as Python's
-- AuthServer.OPTIONS.
local SERVER_OPTIONS = { "realm", "secret", "nonce_lifetime_s", "algorithms", "qop", "proxy",
    "replay_slots" }
AuthServer.props.OPTIONS = function() return SERVER_OPTIONS end

--- Adds the challenges to a response (one per algorithm, a fresh nonce; stale: stale=true).
function AuthServer.methods.challenge(s, rsp, stale)
    local rc = core.sip_auth_server_challenge(server_p(s), check_msg(rsp, "challenge: rsp"),
        stale and 1 or 0)
    if rc < 0 then raise(rc, "challenge: rsp must be a response") end
end

--- Drops the server now (checks in progress finish). Idempotent.
function AuthServer.methods.close(s)
    local p = rawget(s, "_p")
    if p then
        rawset(s, "_p", nil)
        core.sip_auth_server_unref(p)
    end
end
AuthServer.__gc = AuthServer.methods.close
AuthServer.__close = AuthServer.methods.close

local function wake(c)
    local waiters = rawget(c, "_waiters")
    rawset(c, "_waiters", {})
    for _, w in ipairs(waiters) do resume(w.loop, w.co, c) end
end

-- What a lookup returned, as the answer.
local function answer_with(c, r)
    if r == M.LATER or not rawget(c, "_p") or not c.pending then return end
    if r == nil or r == false then
        c:answer()
    elseif type(r) == "string" then
        c:answer(r)
    elseif type(r) == "table" and (r.ha1 ~= nil or r.password ~= nil) then
        c:answer(r)
    else
        raise(core.SIP_EINVAL, "a lookup returns a password, { ha1 = hex }, nil (no such user) "
            .. "or auth.LATER, not " .. type(r))
    end
end

-- Runs the lookup; as a task of the request's stack's loop when there is one. An error counts
-- as "no such user" (and is reported): the check never hangs on it.
local function run_lookup(c, lookup)
    local function body()
        local ok, err = pcall(function() answer_with(c, lookup(c)) end)
        if not ok then
            local p = rawget(c, "_p")
            if p and c.pending then core.sip_auth_query_answer_unknown(p) end
            error(err, 0)
        end
    end
    local req = rawget(c, "_request")
    local stack = req and rawget(req, "_stack")
    if stack and stack.loop and not stack.loop.closed then
        stack.loop:spawn(body)
    else
        local ok, err = pcall(body)
        if not ok then errors._report(nil, err) end
    end
end

--- Checks req's credentials and returns the AuthCheck (c:wait() inside a task waits for the
--- verdict). lookup(check) runs when req carries credentials for the realm: it returns the
--- user's password, { ha1 = hex } for check.algorithm, nil for no such user, or auth.LATER
--- and calls check:answer{...} later (Python: server.check(req, lookup)).
function AuthServer.methods.check(s, req, lookup)
    local sp = server_p(s)
    local rp = check_msg(req, "check: req")
    errors._arg_fn(lookup, "check: lookup")
    local c = setmetatable({ _server = s, _request = req, _waiters = {} }, AuthCheck)
    local rc, q = core.sip_auth_server_check(sp, rp, function(qp, event)
        if not rawget(c, "_p") and not rawget(c, "_closed") then
            rawset(c, "_p", core.sip_auth_query_ref(qp))
        end
        if event == core.SIP_AUTH_EVENT_LOOKUP then
            run_lookup(c, lookup)
        else
            wake(c)
        end
    end)
    check(rc)
    if rawget(c, "_p") then core.sip_auth_query_unref(q) else rawset(c, "_p", q) end
    return c
end

AuthCheck.props.server = function(c) return rawget(c, "_server") end
AuthCheck.props.request = function(c) return rawget(c, "_request") end
AuthCheck.props.user = function(c) return core.sip_auth_query_get_user(check_p(c)) end
AuthCheck.props.realm = function(c) return core.sip_auth_query_get_realm(check_p(c)) end
AuthCheck.props.algorithm = function(c)
    return core.sip_auth_algorithm_name(core.sip_auth_query_get_algorithm(check_p(c)))
end
--- "pending", "ok", "challenge", "stale", "failed", "replay" or "malformed".
AuthCheck.props.verdict = function(c)
    return VERDICTS[core.sip_auth_query_get_verdict(check_p(c))]
end
AuthCheck.props.ok = function(c)
    return core.sip_auth_query_get_verdict(check_p(c)) == core.SIP_AUTH_OK
end
AuthCheck.props.pending = function(c)
    return core.sip_auth_query_get_verdict(check_p(c)) == core.SIP_AUTH_PENDING
end
AuthCheck.props.status = function(c) return core.sip_auth_query_get_status(check_p(c)) end

--- Answers the lookup: c:answer(password), c:answer{ ha1 = hex } or c:answer{ password = ... },
--- or c:answer() for no such user (the verdict is then "failed", with the same work as a
--- wrong password).
function AuthCheck.methods.answer(c, v)
    local p = check_p(c)
    local rc
    if type(v) == "table" then
        if v.ha1 ~= nil and v.password ~= nil then
            raise(core.SIP_EINVAL, "answer: a password or an ha1, not both")
        end
        if v.ha1 ~= nil then
            rc = core.sip_auth_query_answer_ha1(p, opt_string(v.ha1, "answer: ha1"))
        else
            rc = core.sip_auth_query_answer_password(p, opt_string(v.password,
                "answer: password"))
        end
    elseif v ~= nil then
        rc = core.sip_auth_query_answer_password(p, opt_string(v, "answer: password"))
    else
        rc = core.sip_auth_query_answer_unknown(p)
    end
    if rc == core.SIP_EBUSY then raise(core.SIP_EINVAL, "answer: the lookup was answered already") end
    if rc < 0 then raise(rc, "answer: an HA1 is the hex of the algorithm's hash") end
end

--- Inside a task: waits for the verdict and returns the check (at once when it is in).
function AuthCheck.methods.wait(c)
    if not rawget(c, "_p") or not c.pending then return c end
    local co, l = current_task("check:wait")
    local waiters = rawget(c, "_waiters")
    waiters[#waiters + 1] = { co = co, loop = l }
    return coroutine.yield()
end

--- The response the verdict asks for (not ok): 401/407 with challenges, or 400.
function AuthCheck.methods.response(c)
    local rc, rsp = core.sip_auth_query_create_response(check_p(c))
    if rc < 0 then
        raise(rc, "response: the check is pending or ok (answer it yourself, with add_info)")
    end
    return wrap_msg(rsp)
end

--- Adds Authentication-Info (nextnonce, rspauth: RFC 7616 §3.5) to the 2xx of an ok check.
function AuthCheck.methods.add_info(c, rsp)
    local rc = core.sip_auth_query_add_info(check_p(c), check_msg(rsp, "add_info: rsp"))
    if rc < 0 then raise(rc, rc == core.SIP_EINVAL and "add_info: the check is not ok" or nil) end
end

local function headers_named(m, names)
    local out = {}
    for _, h in ipairs(m:header_list()) do
        if names[h[1]:lower()] then out[#out + 1] = h end
    end
    return out
end

--- Answers the request checked (one a Stack received) and returns the response: without a
--- status, the one the verdict asks for; with one (a 2xx when ok), that response with
--- Authentication-Info. opts as req:reply()'s.
function AuthCheck.methods.reply(c, status, reason, opts)
    check_p(c)
    local req = rawget(c, "_request")
    if type(reason) == "table" and opts == nil then reason, opts = nil, reason end
    local extra = {}
    if status == nil then
        local made = c:response()
        status = made.status
        extra = headers_named(made, { ["www-authenticate"] = true,
            ["proxy-authenticate"] = true })
        made:close()
    elseif c.ok and status >= 200 and status < 300 then
        local made = req:response(status, reason, opts and { body = opts.body,
            content_type = opts.content_type } or nil)
        c:add_info(made)
        extra = headers_named(made, { ["authentication-info"] = true })
        made:close()
    end
    local o = {}
    for k, v in pairs(opts or {}) do o[k] = v end
    local hs = {}
    for k, v in pairs(o.headers or {}) do hs[k] = v end
    for _, h in ipairs(extra) do hs[#hs + 1] = h end
    o.headers = hs
    return req:reply(status, reason, o)
end

--- Stops a check still waiting for its lookup (no verdict comes) and drops it. Idempotent.
function AuthCheck.methods.close(c)
    local p = rawget(c, "_p")
    rawset(c, "_closed", true)
    if p then
        rawset(c, "_p", nil)
        core.sip_auth_query_close(p)
        core.sip_auth_query_unref(p)
    end
    wake(c)
end
AuthCheck.__gc = function(c)
    local p = rawget(c, "_p")
    if p then
        rawset(c, "_p", nil)
        core.sip_auth_query_unref(p)
    end
end
AuthCheck.__close = AuthCheck.methods.close

local servers = {}

--- server:check(req, lookup) with one server per realm (and role), made on first use with the
--- defaults; realm defaults to the Request-URI's host (opts: { realm =, proxy = }).
function M.check(req, lookup, opts)
    opts = errors._check_opts(opts, errors._set { "realm", "proxy" }, "auth.check")
    local realm = opts.realm
    if realm == nil then
        local uri = core.sip_msg_get_uri(check_msg(req, "auth.check: req"))
        if uri == nil then raise(core.SIP_EINVAL, "auth.check: req must be a request") end
        realm = uri.host
    end
    local key = realm .. (opts.proxy and "\0proxy" or "")
    local s = servers[key]
    if not s or not rawget(s, "_p") then
        s = M.AuthServer{ realm = realm, proxy = opts.proxy and true or false }
        servers[key] = s
    end
    return s:check(req, lookup)
end

return M
