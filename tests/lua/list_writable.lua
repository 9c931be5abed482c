-- SPDX-License-Identifier: MIT
-- Writes "struct.field" for every field of the core's structs (libsip_core) that a script can set,
-- sorted, one per line, for tests/bindings_coverage.py --lua-fields: each field is read and
-- written back on a new struct, so a field is listed only when the assignment really works.
-- usage: lua5.4 tests/lua/list_writable.lua OUT
local core = require "libsip_core"
local out = assert(arg[1], "usage: list_writable.lua OUT")
local names = {}
for k, v in pairs(core) do
    if type(v) == "table" and k:match("^sip_.*_t$") then
        local ok, obj = pcall(v)
        local mt = ok and getmetatable(obj)
        if type(mt) == "table" and type(mt[".get"]) == "table" then
            for field in pairs(mt[".get"]) do
                if pcall(function() obj[field] = obj[field] end) then
                    names[#names + 1] = k .. "." .. field
                end
            end
        end
    end
end
table.sort(names)
local f = assert(io.open(out, "w"))
for _, n in ipairs(names) do f:write(n, "\n") end
f:close()
