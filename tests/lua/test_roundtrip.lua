-- SPDX-License-Identifier: MIT
-- A parsed message prints back byte for byte (tostring(sip.Message.parse(x)) == x), and an edit
-- changes only its own line: every .sip of bench/corpus and examples/messages and every message
-- the conformance manifests call valid (../shared/conformance: RFC 4475, RFC 5118 through its
-- CRLF wire/ copies; dblreq aside, its trailing octets are discarded). As
-- tests/python/test_roundtrip.py.
local T = ...
local sip = require "libsip"

local root = T.dir .. "/../.."
local conformance = root .. "/../shared/conformance"

local function read(path)
    local f = assert(io.open(path, "rb"))
    local data = f:read("a")
    f:close()
    return data
end

local function corpus()
    local files = {}
    for _, dir in ipairs({ root .. "/bench/corpus", root .. "/examples/messages" }) do
        local p = assert(io.popen('ls "' .. dir .. '"'))
        for name in p:lines() do
            if name:match("%.sip$") then files[#files + 1] = dir .. "/" .. name end
        end
        p:close()
    end
    for _, src in ipairs({ { "rfc4475", "" }, { "rfc5118", "wire/" } }) do
        local first = true
        for line in io.lines(conformance .. "/" .. src[1] .. "/MANIFEST.tsv") do
            local name, _, kind = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)")
            if not first and kind == "valid" and name ~= "dblreq" then
                files[#files + 1] = conformance .. "/" .. src[1] .. "/" .. src[2] .. name .. ".dat"
            end
            first = false
        end
    end
    return files
end

local FILES = corpus()

local function lines(text)
    local out = {}
    for l in (text .. "\r\n"):gmatch("(.-)\r\n") do out[#out + 1] = l end
    return out
end

-- The lines that differ between two texts, once the equal head and tail are set aside.
local function changed(before, after)
    local a, b = lines(before), lines(after)
    local head = 0
    while head < math.min(#a, #b) and a[head + 1] == b[head + 1] do head = head + 1 end
    local tail = 0
    while tail < math.min(#a, #b) - head and a[#a - tail] == b[#b - tail] do tail = tail + 1 end
    return table.move(a, head + 1, #a - tail, 1, {}), table.move(b, head + 1, #b - tail, 1, {})
end

T.case("round trip: the corpus is all there", function()
    T.ok(#FILES >= 29, "29 messages or more, got " .. #FILES)
end)

T.case("round trip: every message prints back as received", function()
    for _, path in ipairs(FILES) do
        local data = read(path)
        local m <close> = sip.Message.parse(data)
        T.eq(tostring(m), data, path)
    end
end)

T.case("round trip: set_header Max-Forwards changes only its line, in place", function()
    local edited = 0
    for _, path in ipairs(FILES) do
        local data = read(path)
        local m <close> = sip.Message.parse(data)
        if m:header("Max-Forwards") then
            m:set_header("Max-Forwards", 42)
            local old, new = changed(data, tostring(m))
            T.eq(#new, 1, path .. ": one line changed")
            T.eq(new[1], "Max-Forwards: 42", path)
            T.eq(#old, 1, path .. ": one line replaced")
            T.ok(old[1]:lower():match("^max%-forwards%s*:"), path .. ": the Max-Forwards line")
            edited = edited + 1
        end
    end
    T.ok(edited >= 20, "most messages have a Max-Forwards")
end)

T.case("round trip: prepend_header Via adds only its line, on top", function()
    local via = "Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKparity"
    for _, path in ipairs(FILES) do
        local data = read(path)
        local m <close> = sip.Message.parse(data)
        m:prepend_header("Via", via:sub(6))
        local start = data:find("\r\n", 1, true) + 1
        T.eq(tostring(m), data:sub(1, start) .. via .. "\r\n" .. data:sub(start + 1), path)
    end
end)
