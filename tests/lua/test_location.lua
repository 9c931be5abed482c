-- SPDX-License-Identifier: MIT
-- The location service from Lua (libsip.location): writes, lookups with aliases and domains,
-- ordering, the SQLite store across a restart, argument checks.
local T = ...
local sip = require "libsip"

local function later(s) return os.time() + (s or 3600) end

local function contacts(list)
    local out = {}
    for i, b in ipairs(list) do out[i] = b.contact end
    return table.concat(out, " ")
end

-- Runs fn as a task on loop until it ends (10 s at most).
local function run(loop, fn)
    local done, err = false, nil
    loop:spawn(function()
        local ok, e = xpcall(fn, debug.traceback)
        done, err = true, not ok and e or nil
        loop:stop()
    end)
    if not done then
        local guard = loop:timer(10000, function() loop:stop() end)
        loop:run()
        guard:close()
    end
    if err then error(err, 0) end
    T.ok(done, "the task finished within 10 s")
end

local function finish(loop)
    loop:close()
    for _ = 1, 3 do collectgarbage() end
    T.eq(sip.live_objects().location, 0, "live location services")
    T.eq(sip.live_objects().bindings, 0, "live binding sets")
end

T.case("location: put, lookup and replace", function()
    local loop = sip.Loop()
    do
        local loc <close> = sip.Location(loop)
        T.eq(loc:put("sip:alice@example.com", "sip:alice@192.0.2.1:5060", { expires = later(),
            q = 0.5, call_id = "c1", cseq = 1, user_agent = "phone/1", path = "<sip:p;lr>",
            received = "sip:198.51.100.7:5060", socket = "udp:127.0.0.1:5060",
            params = ";ob" }), true, "put")
        loc:put("sip:alice@example.com", "sip:alice@192.0.2.2", { expires = later() })
        -- An equal Contact URI replaces (RFC 3261 §19.1.4).
        loc:put("sip:alice@example.com", "SIP:alice@192.0.2.1:5060",
            { expires = later(), q = 0.5, cseq = 2 })
        T.eq(loc.count, 2, "count")
        T.eq(loc.aor_count, 1, "aor_count")
        local found = loc:lookup_now("sip:alice@example.com;transport=tcp")
        T.eq(contacts(found), "sip:alice@192.0.2.2 SIP:alice@192.0.2.1:5060", "order")
        local b = found[2]
        T.eq(b.aor, "sip:alice@example.com", "aor")
        T.eq(b.q, 0.5, "q")
        T.eq(b.cseq, 2, "cseq")
        T.eq(found[1].q, nil, "no q")
        -- An instance with a reg-id replaces whatever the contact (RFC 5626 §6).
        for _, port in ipairs { 5060, 6000 } do
            loc:put("sip:bob@example.com", "sip:bob@192.0.2.9:" .. port .. ";ob",
                { expires = later(), instance = "<urn:uuid:1>", reg_id = 1, conn_id = 7 })
        end
        local got = loc:lookup_now("sip:bob@example.com")
        T.eq(#got, 1, "one flow binding")
        T.eq(got[1].contact, "sip:bob@192.0.2.9:6000;ob", "the new contact")
        T.eq(got[1].conn_id, 7, "conn_id")
        T.eq(got[1].instance, "<urn:uuid:1>", "instance")
        loc:remove("sip:alice@example.com", "sip:alice@192.0.2.2")
        T.eq(loc.count, 2, "one removed")
        loc:remove("sip:alice@example.com")
        T.eq(#loc:lookup_now("sip:alice@example.com"), 0, "all removed")
        loc:put("sip:bob@example.com", "sip:x@192.0.2.9",
            { expires = 0, instance = "<urn:uuid:1>", reg_id = 1 })
        T.eq(loc.count, 0, "an expiry in the past removes")
        T.eq(loc:expire(), 0, "nothing to expire")
    end
    finish(loop)
end)

T.case("location: lookups and writes in a task", function()
    local loop = sip.Loop()
    local loc = sip.Location(loop)
    run(loop, function()
        T.eq(loc:put("sip:carol@example.com", "sip:carol@192.0.2.3", { expires = later() }),
            true, "put")
        T.eq(contacts(loc:lookup("sip:carol@example.com")), "sip:carol@192.0.2.3", "lookup")
        T.eq(#loc:lookup("sip:nobody@example.com"), 0, "none")
        loc:remove("sip:carol@example.com")
    end)
    T.eq(loc.count, 0, "removed")
    loc:close()
    loc:close()
    T.ok(loc.closed, "closed")
    T.raises("SIP_ECLOSED", loc.put, loc, "sip:a@example.com", "sip:a@h", { expires = later() })
    finish(loop)
end)

T.case("location: domains, aliases and keys", function()
    local loop = sip.Loop()
    local loc = sip.Location(loop)
    T.eq(loc.domain_count, 0, "no domain")
    T.ok(loc:is_local("anything.org"), "every host is local without domains")
    loc:add_domain("example.com")
    loc:add_domain("sip.example.com", "example.com")
    T.raises("SIP_EEXIST", loc.add_domain, loc, "example.com")
    T.raises("SIP_EINVAL", loc.add_domain, loc, "x.org", "unknown.org")
    T.eq(loc.domain_count, 2, "domains")
    T.ok(loc:is_local("SIP.example.com"), "an alias is local")
    T.ok(not loc:is_local("example.org"), "not ours")
    T.eq(loc:aor("sips:%61lice:pw@SIP.example.com:5061;transport=tls"), "sip:alice@example.com",
        "key")
    T.eq(loc:aor(sip.Uri.parse("sip:bob@example.org:5080")), "sip:bob@example.org:5080", "port")
    T.raises("SIP_EURI", loc.aor, loc, "tel:+15551234")
    T.raises("SIP_EURI", loc.aor, loc, "sip:example.com")
    loc:put("sip:alice@sip.example.com", "sip:alice@192.0.2.1", { expires = later() })
    loc:add_alias("sip:1000@example.com", "sip:alice@example.com")
    T.raises("SIP_EEXIST", loc.add_alias, loc, "sip:1000@example.com", "sip:bob@example.com")
    T.eq(loc:lookup_now("sip:1000@sip.example.com")[1].aor, "sip:alice@example.com", "alias")
    loc:remove_alias("sip:1000@example.com")
    T.raises("SIP_ENOENT", loc.remove_alias, loc, "sip:1000@example.com")
    T.eq(#loc:lookup_now("sip:1000@example.com"), 0, "alias gone")
    loc:close()
    finish(loop)
end)

T.case("location: ordering by q, then the most recent", function()
    local loop = sip.Loop()
    local loc = sip.Location(loop)
    for _, c in ipairs { { "sip:a@h", 0.5, 10 }, { "sip:b@h", 1.0, 10 }, { "sip:c@h", 0.5, 30 },
        { "sip:d@h", 0.1, 40 } } do
        loc:put("sip:o@example.com", c[1], { expires = later(), q = c[2], updated = c[3] })
    end
    T.eq(contacts(loc:lookup_now("sip:o@example.com")), "sip:b@h sip:c@h sip:a@h sip:d@h",
        "order")
    loc:close()
    finish(loop)
end)

T.case("location: argument checks", function()
    local loop = sip.Loop()
    local loc = sip.Location(loop)
    T.raises("SIP_EINVAL", sip.Location, "not a loop")
    T.raises("SIP_EINVAL", sip.Location, loop, { unknown = 1 })
    T.raises("SIP_EINVAL", sip.Location, loop, { batch_ms = "2" })
    T.raises("SIP_EINVAL", loc.put, loc, "sip:a@example.com", "sip:a@h", { expires = "soon" })
    T.raises("SIP_EINVAL", loc.put, loc, "sip:a@example.com", 5, { expires = later() })
    T.raises("SIP_EINVAL", loc.put, loc, "sip:a@example.com", "sip:a@h",
        { expires = later(), q = 1.5 })
    T.raises("SIP_EINVAL", loc.put, loc, "sip:a@example.com", "sip:a@h",
        { expires = later(), bogus = 1 })
    T.raises("SIP_EURI", loc.put, loc, "tel:+1555", "sip:a@h", { expires = later() })
    T.raises("SIP_EURI", loc.put, loc, "sip:a@example.com", "not a uri", { expires = later() })
    T.raises("SIP_EURI", loc.lookup_now, loc, "sip:example.com")
    T.raises("SIP_EINVAL", loc.is_local, loc, 5)
    T.raises("SIP_EIO", sip.Location, loop, { db_path = "/nonexistent-dir/x/location.db" })
    loc:close()
    finish(loop)
end)

T.case("location: SQLite keeps bindings across a restart", function()
    local dir = os.tmpname()
    os.remove(dir)
    local db = dir .. ".db"
    local loop = sip.Loop()
    local loc = sip.Location(loop, { db_path = db, batch_ms = 1 })
    run(loop, function()
        loc:put("sip:p@example.com", "sip:p@192.0.2.1", { expires = later(), q = 0.25,
            instance = "<urn:uuid:2>", reg_id = 3, conn_id = 9, path = "<sip:edge;lr>" })
        for i = 0, 99 do
            loc:put("sip:u" .. i .. "@example.com", "sip:u@192.0.2.1", { expires = later() })
        end
        loc:remove("sip:u0@example.com")
    end)
    -- Outside a task a write returns at once; close commits it.
    loc:put("sip:late@example.com", "sip:late@192.0.2.1", { expires = later() })
    loc:close()
    do
        local again <close> = sip.Location(loop, { db_path = db })
        T.eq(again.count, 101, "bindings after the restart")
        local b = again:lookup_now("sip:p@example.com")[1]
        T.eq(b.q, 0.25, "q")
        T.eq(b.instance, "<urn:uuid:2>", "instance")
        T.eq(b.reg_id, 3, "reg_id")
        T.eq(b.path, "<sip:edge;lr>", "path")
        T.eq(b.conn_id, 0, "a connection does not outlive the process")
        T.eq(#again:lookup_now("sip:u0@example.com"), 0, "removed")
        T.eq(#again:lookup_now("sip:late@example.com"), 1, "committed by close")
    end
    for _, s in ipairs { "", "-wal", "-shm" } do os.remove(db .. s) end
    finish(loop)
end)

-- The Redis store, against a redis-server of its own on 127.0.0.1:50310 (no persistence).
local REDIS_PORT = 50310

local function redis_cli(args)
    return os.execute(("redis-cli -p %d %s >/dev/null 2>&1"):format(REDIS_PORT, args))
end

T.case("location: Redis shares bindings between nodes", function()
    local pidfile = os.tmpname()
    T.ok(os.execute(("redis-server --port %d --bind 127.0.0.1 --save '' --appendonly no "
        .. "--daemonize yes --pidfile %s >/dev/null 2>&1"):format(REDIS_PORT, pidfile)),
        "redis-server started")
    local up = false
    for _ = 1, 500 do
        if redis_cli("ping") then up = true break end
        os.execute("sleep 0.02")
    end
    T.ok(up, "redis-server answers")
    local url = ("redis://127.0.0.1:%d"):format(REDIS_PORT)
    local loop = sip.Loop()
    local ok, err = pcall(function()
        local a = sip.Location(loop, { redis_url = url })
        local b = sip.Location(loop, { redis_url = url })
        run(loop, function()
            -- In a task a write returns once Redis has it.
            a:put("sip:r@example.com", "sip:r@192.0.2.1", { expires = later(), q = 0.5,
                instance = "<urn:uuid:7>", reg_id = 1, conn_id = 4, user_agent = "ua/1" })
            for _ = 1, 1000 do
                if b.count == 1 then break end
                sip.sleep(10)
            end
            local found = b:lookup_now("sip:r@example.com")
            T.eq(#found, 1, "seen by the other node")
            T.eq(found[1].contact, "sip:r@192.0.2.1", "contact")
            T.eq(found[1].instance, "<urn:uuid:7>", "instance")
            T.eq(found[1].conn_id, 0, "a connection is the node's own")
            b:remove("sip:r@example.com")
            for _ = 1, 1000 do
                if a.count == 0 then break end
                sip.sleep(10)
            end
            T.eq(a.count, 0, "the removal reached the first node")
        end)
        a:put("sip:s@example.com", "sip:s@192.0.2.2", { expires = later() })
        a:close()
        local c <close> = sip.Location(loop, { redis_url = url })
        T.eq(#c:lookup_now("sip:s@example.com"), 1, "loaded by a node that starts later")
        b:close()
        T.raises("SIP_EINVAL", function() sip.Location(loop, { redis_url = 5 }) end)
        T.raises("SIP_EINVAL", function()
            sip.Location(loop, { redis_url = "http://127.0.0.1:1" })
        end)
        -- Nothing listens there.
        T.raises("SIP_EIO", function()
            sip.Location(loop, { redis_url = "redis://127.0.0.1:50311" })
        end)
    end)
    redis_cli("shutdown nosave")
    os.remove(pidfile)
    finish(loop)
    if not ok then error(err, 0) end
end)

