-- SPDX-License-Identifier: MIT
-- libsip for Lua: errors raised as tables, where callback errors go, and the small class helper.

local core = require "libsip_core"

local rawget, setmetatable, getmetatable, type, tostring = rawget, setmetatable, getmetatable,
    type, tostring

local M = {}

-- Errors

--- An error raised by this layer:
--- {code=, name=, reason=, line=, column=, header=, status=, phrase=}.
local Error = { __name = "libsip.Error" }
Error.__index = Error
Error.__tostring = function(e)
    local s = (e.name or "SIP_EUNKNOWN") .. ": " .. tostring(e.reason or "")
    if e.line and e.line > 0 then
        s = s .. (" (line %d, column %d)"):format(e.line, e.column or 0)
    end
    return s
end

-- System failures are -errno (Linux numbers): their name, as C's errno.h spells it.
local errno_names = {
    [1] = "EPERM", [2] = "ENOENT", [4] = "EINTR", [5] = "EIO", [9] = "EBADF", [11] = "EAGAIN",
    [12] = "ENOMEM", [13] = "EACCES", [17] = "EEXIST", [19] = "ENODEV", [22] = "EINVAL",
    [24] = "EMFILE", [28] = "ENOSPC", [32] = "EPIPE", [90] = "EMSGSIZE",
    [93] = "EPROTONOSUPPORT", [95] = "EOPNOTSUPP", [97] = "EAFNOSUPPORT", [98] = "EADDRINUSE",
    [99] = "EADDRNOTAVAIL", [100] = "ENETDOWN", [101] = "ENETUNREACH", [103] = "ECONNABORTED",
    [104] = "ECONNRESET", [105] = "ENOBUFS", [107] = "ENOTCONN", [110] = "ETIMEDOUT",
    [111] = "ECONNREFUSED", [112] = "EHOSTDOWN", [113] = "EHOSTUNREACH", [125] = "ECANCELED",
}

--- The name of an error code: SIP_EPARSE..., or the errno name (EADDRINUSE) of a system one.
local function err_name(code)
    local name = core.sip_err_name(code)
    if name == "SIP_EUNKNOWN" and errno_names[-code] then return errno_names[-code] end
    return name
end

local function new_error(code, reason, extra)
    local e = setmetatable({
        code = code,
        name = err_name(code),
        reason = reason or core.sip_strerror(code),
    }, Error)
    if extra then
        for k, v in pairs(extra) do e[k] = v end
    end
    return e
end

local function raise(code, reason, extra)
    error(new_error(code, reason, extra), 0)
end

local function check(rc)
    if rc < 0 then raise(rc) end
    return rc
end

local function closed()
    raise(core.SIP_ECLOSED, "handle is closed")
end

--- Is v an error raised by libsip (optionally with this name, "SIP_EPARSE")?
function M.is_error(v, name)
    return getmetatable(v) == Error and (name == nil or v.name == name)
end

-- Errors of callbacks and tasks: to the hook when set, else to the logger of the loop that runs
-- them (the innermost loop:run()), else to stderr.
local error_hook = nil
local running = {}       -- loops inside run()/run_once(), innermost last
local interrupted = false
local reporting = false

--- Sends every error raised inside a callback or task to fn(message_with_traceback); nil resets
--- to the default (the running loop's logger at level "error", module "lua").
function M.on_error(fn)
    if fn ~= nil and type(fn) ~= "function" then
        raise(core.SIP_EINVAL, "sip.on_error: fn must be a function or nil, got " .. type(fn))
    end
    error_hook = fn
end

-- lua5.4 turns SIGINT into the error "interrupted!" raised at the next Lua instruction, which
-- is usually inside a callback: it stops every running loop and loop:run() raises it again, so
-- Ctrl-C ends a script as it would end one without libsip.
local function is_interrupt(text)
    local first = tostring(text):match("^[^\n]*")
    return first:sub(-12) == "interrupted!"
end

local function report(loop_p, text)
    text = tostring(text)
    if is_interrupt(text) then
        interrupted = true
        for _, l in ipairs(running) do
            local p = rawget(l, "_p")
            if p then core.sip_loop_stop(p) end
        end
        return
    end
    if reporting then
        -- The logger itself failed: do not loop through it again.
        io.stderr:write("libsip lua: ", text, "\n")
        return
    end
    reporting = true
    local ok, err = true, nil
    if error_hook then
        ok, err = pcall(error_hook, text)
        if not ok then io.stderr:write("libsip lua: error hook failed: ", tostring(err), "\n") end
    end
    if not error_hook or not ok then
        if not loop_p then
            local l = running[#running]
            loop_p = l and rawget(l, "_p")
        end
        if loop_p then
            core.sip_log_write(loop_p, core.SIP_LOG_ERROR, "lua", text)
        else
            io.stderr:write("libsip lua: ", text, "\n")
        end
    end
    reporting = false
end
-- Errors the core's trampolines catch (with their traceback) come here too.
core.set_error_hook(function(text) report(nil, text) end)

---------------------------------------------------------------------------------------------------
-- Small class helper: methods, then read-only properties computed on access.

-- Every class made here, by name: tests/parity.py walks them to compare the API with Python's.
local classes = {}

local function class(name)
    local C = { __name = "libsip." .. name, methods = {}, props = {} }
    classes[name] = C
    local methods, props = C.methods, C.props
    C.__index = function(self, k)
        local m = methods[k]
        if m ~= nil then return m end
        local p = props[k]
        if p ~= nil then return p(self) end
        return nil
    end
    return C
end

local function nonempty(s)
    if s == nil or s == "" then return nil end
    return s
end

local level_ids = {
    error = core.SIP_LOG_ERROR, warn = core.SIP_LOG_WARN, info = core.SIP_LOG_INFO,
    debug = core.SIP_LOG_DEBUG, trace = core.SIP_LOG_TRACE,
}
local function level_id(level)
    if level == nil then return core.SIP_LOG_WARN end
    if type(level) == "number" then return level end
    local id = level_ids[level]
    if not id then raise(core.SIP_EINVAL, "unknown log level '" .. tostring(level) .. "'") end
    return id
end


--- Raises SIP_EINVAL unless opts is nil or a table whose keys are all in allowed (a set);
--- the error names the unknown key and the known ones. Returns opts or {}.
local function check_opts(opts, allowed, what)
    if opts == nil then return {} end
    if type(opts) ~= "table" then
        raise(core.SIP_EINVAL, ("%s: options must be a table, got %s"):format(what, type(opts)))
    end
    for k in pairs(opts) do
        if not allowed[k] then
            local names = {}
            for n in pairs(allowed) do names[#names + 1] = n end
            table.sort(names)
            raise(core.SIP_EINVAL, ("%s: unknown option %s (known: %s)"):format(what,
                type(k) == "string" and "'" .. k .. "'" or tostring(k), table.concat(names, ", ")))
        end
    end
    return opts
end

--- A set from a list of names.
local function set(list)
    local out = {}
    for _, k in ipairs(list) do out[k] = true end
    return out
end

--- Copies an options table into a SWIG options struct (sip_transport_opts_t...), checking
--- every key and value here so that SWIG's own messages never reach a script: an unknown key,
--- a value of the wrong type (numbers for numeric fields, true/false for flags, strings for
--- file names and paths, a table for a nested struct) raise SIP_EINVAL naming the option.
local function set_struct(o, opts, what)
    if type(opts) ~= "table" then
        raise(core.SIP_EINVAL, ("%s: options must be a table, got %s"):format(what, type(opts)))
    end
    local mt = getmetatable(o)
    local setters = mt and mt[".set"] or {}
    for k, v in pairs(opts) do
        if type(k) ~= "string" or not setters[k] then
            local names = {}
            for n in pairs(setters) do names[#names + 1] = n end
            table.sort(names)
            raise(core.SIP_EINVAL, ("%s: unknown option %s (known: %s)"):format(what,
                type(k) == "string" and "'" .. k .. "'" or tostring(k), table.concat(names, ", ")))
        end
        local cur = o[k]
        local name = what .. ": option '" .. k .. "'"
        if type(cur) == "userdata" then
            set_struct(cur, v, name)
        elseif type(cur) == "number" then
            if type(v) == "boolean" then v = v and 1 or 0 end
            if math.type(v) ~= "integer" then
                raise(core.SIP_EINVAL, ("%s must be an integer (or true/false), got %s"):format(
                    name, type(v) == "number" and tostring(v) or type(v)))
            end
            local ok = pcall(function() o[k] = v end)
            if not ok or o[k] ~= v then
                raise(core.SIP_EINVAL, ("%s: %d is out of range"):format(name, v))
            end
        else
            if type(v) ~= "string" then
                raise(core.SIP_EINVAL, ("%s must be a string, got %s"):format(name, type(v)))
            end
            o[k] = v
        end
    end
    return o
end

--- v as a string argument, or SIP_EINVAL naming what wanted it ("add_header: name").
local function arg_string(v, what)
    if type(v) ~= "string" then
        raise(core.SIP_EINVAL, ("%s must be a string, got %s"):format(what,
            type(v) == "nil" and "nil" or type(v)))
    end
    return v
end

--- v as an integer argument (a float with an integral value too), or SIP_EINVAL.
local function arg_int(v, what)
    local i = type(v) == "number" and math.tointeger(v) or nil
    if i == nil then
        raise(core.SIP_EINVAL, ("%s must be an integer, got %s"):format(what,
            type(v) == "number" and tostring(v) or type(v)))
    end
    return i
end

--- v as a function argument, or SIP_EINVAL.
local function arg_fn(v, what)
    if type(v) ~= "function" then
        raise(core.SIP_EINVAL, ("%s must be a function, got %s"):format(what, type(v)))
    end
    return v
end

--- A status code 100-699 (RFC 3261 §7.2, §21), or SIP_EINVAL giving the range.
local function arg_status(v, what)
    local i = type(v) == "number" and math.tointeger(v) or nil
    if i == nil then
        raise(core.SIP_EINVAL, ("%s: status must be an integer 100-699, got %s"):format(what,
            type(v) == "number" and tostring(v) or type(v)))
    end
    if i < 100 or i > 699 then
        raise(core.SIP_EINVAL, ("%s: status must be 100-699, not %d"):format(what, i))
    end
    return i
end

local arg_checks = {
    string = function(v) return type(v) == "string" end,
    integer = function(v) return math.type(v) == "integer" end,
    number = function(v) return type(v) == "number" end,
    ["function"] = function(v) return type(v) == "function" end,
    table = function(v) return type(v) == "table" end,
    ["string|table"] = function(v) return type(v) == "string" or type(v) == "table" end,
    ["string|integer"] = function(v) return type(v) == "string" or math.type(v) == "integer" end,
}

--- Checks the arguments of methods against their signatures before the C functions see them:
--- sigs = { method = { "name:string", "i:integer?" }, ... } (a trailing ? allows nil). A wrong
--- one raises SIP_EINVAL naming the method, the argument and the type given.
local function check_args(class_name, methods, sigs)
    for name, sig in pairs(sigs) do
        local fn = methods[name]
        local specs = {}
        for i, spec in ipairs(sig) do
            local arg, kind = spec:match("^([%w_]+):([%w_|]+%??)$")
            local optional = kind:sub(-1) == "?"
            if optional then kind = kind:sub(1, -2) end
            specs[i] = { arg = arg, kind = kind, optional = optional, test = arg_checks[kind] }
        end
        local n = #specs
        methods[name] = function(self, ...)
            for i = 1, n do
                local sp = specs[i]
                local v = (select(i, ...))
                if not (v == nil and sp.optional) and not sp.test(v) then
                    raise(core.SIP_EINVAL, ("%s:%s: %s must be %s%s, got %s"):format(class_name,
                        name, sp.arg, sp.kind:gsub("|", " or "), sp.optional and " or nil" or "",
                        math.type(v) == "float" and "float " .. tostring(v) or type(v)))
                end
            end
            return fn(self, ...)
        end
    end
end

M.Error = Error
M._check_args = check_args
M._err_name, M._arg_string, M._arg_int, M._arg_fn, M._arg_status = err_name, arg_string,
    arg_int, arg_fn, arg_status
M._set_struct = set_struct
M._check_opts, M._set = check_opts, set
M._new_error, M._raise, M._check, M._closed = new_error, raise, check, closed
M._report, M._is_interrupt, M._running = report, is_interrupt, running
M._class, M._nonempty, M._level_id = class, nonempty, level_id
M._classes = classes
--- The loops stopped by an interrupt: run() raises it again once the outermost returns.
function M._take_interrupt()
    local was = interrupted
    interrupted = false
    return was
end

return M
