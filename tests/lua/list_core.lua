-- SPDX-License-Identifier: MIT
-- Writes the name of every function in the flat core table (libsip_core), sorted, one per line,
-- for tests/bindings_coverage.py --lua-list.
-- usage: lua5.4 tests/lua/list_core.lua OUT
local core = require "libsip_core"
local out = assert(arg[1], "usage: list_core.lua OUT")
local names = {}
for k, v in pairs(core) do
    if type(v) == "function" then names[#names + 1] = k end
end
table.sort(names)
local f = assert(io.open(out, "w"))
for _, n in ipairs(names) do f:write(n, "\n") end
f:close()
