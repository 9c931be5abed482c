-- SPDX-License-Identifier: MIT
-- libsip for Lua: the event loop, timers, signal watches and coroutine tasks.

local core = require "libsip_core"
local errors = require "libsip.errors"

local rawget, rawset, setmetatable, type = rawget, rawset, setmetatable, type
local raise, check, closed, class = errors._raise, errors._check, errors._closed, errors._class
local report, is_interrupt, running = errors._report, errors._is_interrupt, errors._running
local level_id = errors._level_id

local M = {}

-- Loop, timers and tasks

local Loop = class("Loop")
local Timer = class("Timer")
local Signal = class("Signal")

-- The loop of each running task (a coroutine started by loop:spawn or a Stack handler).
local task_loops = setmetatable({}, { __mode = "k" })

local function loop_p(l)
    local p = rawget(l, "_p")
    if not p then closed() end
    return p
end

--- A new event loop.
local LOOP_KEYS = errors._set { "log", "log_level", "trace" }

--- A new event loop: sip.Loop() or sip.Loop{ log = fn, log_level = "info", trace = true }
--- (loop:set_log and loop:set_trace at once).
function M.Loop(cfg)
    cfg = errors._check_opts(cfg, LOOP_KEYS, "sip.Loop")
    local rc, p = core.sip_loop_create()
    check(rc)
    -- _live keeps active timers (and their functions) alive while nothing else refers to them.
    local l = setmetatable({ _p = p, _live = {} }, Loop)
    if cfg.log ~= nil or cfg.log_level ~= nil then
        local ok, err = pcall(l.set_log, l, cfg.log, cfg.log_level)
        if not ok then
            l:close()
            error(err, 0)
        end
    end
    if cfg.trace then l:set_trace(true) end
    return l
end

local function run_with(l, fn, p, ...)
    if rawget(l, "_running") then raise(core.SIP_EINVAL, "the loop is already running") end
    rawset(l, "_running", true)
    running[#running + 1] = l
    local rc = fn(p, ...)
    running[#running] = nil
    rawset(l, "_running", nil)
    if rawget(l, "_close_pending") then l:close() end
    if #running == 0 and errors._take_interrupt() then
        error("interrupted!", 0)
    end
    return check(rc)
end

--- Runs until loop:stop() or until nothing is left to do.
function Loop.methods.run(l)
    run_with(l, core.sip_loop_run, loop_p(l))
end

--- One iteration (wait: block for an event). Returns true while work is pending.
function Loop.methods.run_once(l, wait)
    return run_with(l, core.sip_loop_run_once, loop_p(l), wait and 1 or 0) == 1
end

function Loop.methods.stop(l)
    core.sip_loop_stop(loop_p(l))
end

--- The loop's time in milliseconds (monotonic).
function Loop.methods.now(l)
    return core.sip_loop_now(loop_p(l))
end

-- The C logger for fn (nil: the stderr default).
local function c_logger(fn)
    if not fn then return nil end
    return function(_, lvl, module, text)
        local ok, err = pcall(fn, core.sip_log_level_name(lvl), module, text)
        if not ok then
            -- Never through the logger that just failed.
            if is_interrupt(err) then report(nil, err) return end
            io.stderr:write("libsip lua: logger failed: ", tostring(err), "\n")
        end
    end
end

--- Sets the logger: fn(level_name, module, text), down to level ("warn" by default).
--- fn nil restores the stderr default.
function Loop.methods.set_log(l, fn, level)
    if fn ~= nil then errors._arg_fn(fn, "set_log: logger") end
    local id = level_id(level)
    check(core.sip_loop_set_log(loop_p(l), id, c_logger(fn)))
    rawset(l, "_log_fn", fn)
    rawset(l, "_log_level", id)
end

-- Runs call() with the log lines for which drop(level, module, text) is true left out (the
-- others go where they would have gone), then puts the logger back. For a failure that the
-- caller raises as an error: reported once, not as a log line too.
function Loop.methods._without_log(l, drop, call)
    local p = loop_p(l)
    local fn, id = rawget(l, "_log_fn"), rawget(l, "_log_level") or core.SIP_LOG_WARN
    local out = c_logger(fn)
    check(core.sip_loop_set_log(p, id, function(lp, lvl, module, text)
        if drop(lvl, module, text) then return end
        if out then
            out(lp, lvl, module, text)
        else
            io.stderr:write(("libsip %s %s: %s\n"):format(core.sip_log_level_name(lvl), module,
                text))
        end
    end))
    local ok, r = pcall(call)
    core.sip_loop_set_log(p, id, c_logger(fn))
    if not ok then error(r, 0) end
    return r
end

--- Logs every SIP message sent and received (level "info", module "trace").
function Loop.methods.set_trace(l, on)
    core.sip_loop_set_trace(loop_p(l), on and 1 or 0)
end

--- Writes one line through the loop's logger.
function Loop.methods.log(l, level, module, text)
    core.sip_log_write(loop_p(l), level_id(level), module, text)
end

--- Runs fn on the loop in a later iteration.
function Loop.methods.post(l, fn)
    check(core.sip_loop_post(loop_p(l), function() fn() end))
end

local function timer_p(t)
    local p = rawget(t, "_p")
    if not p then closed() end
    return p
end

--- Starts a timer: fn(timer) after ms, then every repeat_ms when given. The timer stays alive
--- while it is active, whether or not the script keeps the object.
function Loop.methods.timer(l, ms, fn, repeat_ms)
    local p = loop_p(l)
    local live = rawget(l, "_live")
    local t = setmetatable({ _loop = l }, Timer)
    local one_shot = not repeat_ms or repeat_ms == 0
    local rc, tp = core.sip_timer_start(p, ms, repeat_ms or 0, function()
        if one_shot then
            -- Ends the registration now: the function (and t through it) is released from the
            -- registry, so an expired timer can be collected.
            live[t] = nil
            local tp = rawget(t, "_p")
            if tp then core.sip_timer_stop(tp) end
        end
        fn(t)
    end)
    check(rc)
    rawset(t, "_p", tp)
    live[t] = true
    return t
end

Timer.props.active = function(t)
    local p = rawget(t, "_p")
    return p ~= nil and core.sip_timer_is_active(p) == 1
end
--- Stops the timer: no callback after this. Idempotent.
function Timer.methods.stop(t)
    local p = rawget(t, "_p")
    if p then core.sip_timer_stop(p) end
    local l = rawget(t, "_loop")
    rawget(l, "_live")[t] = nil
end
function Timer.methods.close(t)
    local p = rawget(t, "_p")
    if p then
        rawset(t, "_p", nil)
        core.sip_timer_unref(p)
    end
    rawget(rawget(t, "_loop"), "_live")[t] = nil
end
Timer.__gc = function(t)
    local p = rawget(t, "_p")
    if p then
        rawset(t, "_p", nil)
        core.sip_timer_unref(p)
    end
end
Timer.__close = Timer.methods.close

--- Watches a signal ("TERM", "SIGINT" or a number): fn(watch, signum) runs on the loop instead
--- of the signal's default action until watch:stop(); it wakes a loop blocked in run() at once.
--- A watch alone does not keep run() going. The loop keeps the watch until it is stopped.
function Loop.methods.on_signal(l, sig, fn)
    local p = loop_p(l)
    local num = sig
    if type(sig) == "string" then
        num = core.sip_signal_number(sig)
        if num < 0 then raise(num, "unknown signal " .. sig) end
    elseif math.type(sig) ~= "integer" then
        raise(core.SIP_EINVAL, "a signal is a name or a number")
    end
    local live = rawget(l, "_live")
    local s = setmetatable({ _loop = l, signum = num }, Signal)
    local rc, sp = core.sip_signal_start(p, num, function(_, signum) fn(s, signum) end)
    check(rc)
    rawset(s, "_p", sp)
    live[s] = true
    return s
end

Signal.props.active = function(s)
    local p = rawget(s, "_p")
    return p ~= nil and core.sip_signal_is_active(p) == 1
end
--- Ends the watch: no callback after this; the default action is back once no watch is left.
function Signal.methods.stop(s)
    local p = rawget(s, "_p")
    if p then
        rawset(s, "_p", nil)
        core.sip_signal_stop(p)
        core.sip_signal_unref(p)
    end
    rawget(rawget(s, "_loop"), "_live")[s] = nil
end
Signal.methods.close = Signal.methods.stop
Signal.__gc = function(s)
    local p = rawget(s, "_p")
    if p then
        rawset(s, "_p", nil)
        core.sip_signal_unref(p)
    end
end
Signal.__close = Signal.methods.stop

-- Resumes a task; its error (with the task's traceback) goes to the error hook or the logger.
local function resume(l, co, ...)
    local ok, err = coroutine.resume(co, ...)
    if not ok then
        local text = debug.traceback(co, tostring(err))
        coroutine.close(co)
        task_loops[co] = nil
        report(rawget(l, "_p"), text)
    elseif coroutine.status(co) == "dead" then
        task_loops[co] = nil
    end
end

--- Runs fn(...) as a task: a coroutine that may wait (sip.sleep, stack:send, stack:request)
--- without blocking the loop. Returns the coroutine.
function Loop.methods.spawn(l, fn, ...)
    loop_p(l)
    local co = coroutine.create(fn)
    task_loops[co] = l
    resume(l, co, ...)
    return co
end

local function current_task(what)
    local co, main = coroutine.running()
    local l = not main and task_loops[co]
    if not l then
        raise(core.SIP_EINVAL, what .. ": not inside a libsip task (loop:spawn or a handler)")
    end
    return co, l
end

--- Waits ms milliseconds inside a task; the loop runs meanwhile.
function M.sleep(ms)
    local co, l = current_task("sip.sleep")
    l:timer(ms, function() resume(l, co) end)
    return coroutine.yield()
end
function Loop.methods.sleep(l, ms)
    local co = current_task("loop:sleep")
    l:timer(ms, function() resume(l, co) end)
    return coroutine.yield()
end

--- Closes every handle on the loop (timers, stacks...) and the loop. From inside loop:run() it
--- stops the loop and closes once run() returns. Idempotent.
function Loop.methods.close(l)
    local p = rawget(l, "_p")
    if not p then return end
    if rawget(l, "_running") then
        rawset(l, "_close_pending", true)
        core.sip_loop_stop(p)
        return
    end
    rawset(l, "_close_pending", nil)
    rawset(l, "_p", nil)
    core.sip_loop_close(p)
    core.sip_loop_unref(p)
    rawset(l, "_live", {})
end
Loop.props.closed = function(l) return rawget(l, "_p") == nil end
Loop.__gc = function(l)
    local p = rawget(l, "_p")
    if p then
        rawset(l, "_p", nil)
        core.sip_loop_unref(p)
    end
end
Loop.__close = Loop.methods.close


errors._check_args("Loop", Loop.methods, {
    post = { "fn:function" }, timer = { "delay_ms:integer", "fn:function", "repeat_ms:integer?" },
    on_signal = { "signal:string|integer", "fn:function" }, spawn = { "fn:function" },
    sleep = { "ms:integer" }, log = { "level:string|integer", "module:string", "text:string" },
})
local sleep = M.sleep
function M.sleep(ms)
    if math.type(ms) ~= "integer" then
        raise(core.SIP_EINVAL, "sip.sleep: ms must be integer, got " .. type(ms))
    end
    return sleep(ms)
end

-- Tasks waiting on an object (a call, bridge, registration, subscription): obj[key] is a list
-- of waiters, each resumed once, with (true, value) by settle() or (false, error), or by its
-- timeout.
local ETIMEDOUT = -110

local function wait_on(obj, key, timeout, what)
    if timeout ~= nil and (type(timeout) ~= "number" or timeout < 0) then
        raise(core.SIP_EINVAL, ("%s: timeout must be a number of seconds >= 0, got %s"):format(
            what, type(timeout) == "number" and tostring(timeout) or type(timeout)))
    end
    local co, l = current_task(what)
    local w = { co = co, loop = l }
    local list = rawget(obj, key)
    list[#list + 1] = w
    local timer
    if timeout then
        timer = l:timer(math.floor(timeout * 1000 + 0.5), function()
            if w.done then return end
            w.done = true
            resume(l, co, false, errors._new_error(ETIMEDOUT,
                ("%s: nothing within %g s"):format(what, timeout)))
        end)
    end
    local ok, v = coroutine.yield()
    if timer then timer:close() end
    if not ok then error(v, 0) end
    return v
end

local function settle(list, ok, v)
    for _, w in ipairs(list) do
        if not w.done then
            w.done = true
            resume(w.loop, w.co, ok, v)
        end
    end
end

M._loop_p, M._resume, M._current_task, M._task_loops = loop_p, resume, current_task, task_loops
M._wait_on, M._settle = wait_on, settle
M._Loop = Loop
return M
