-- SPDX-License-Identifier: MIT
-- A small JSON decoder for the test data the Lua suite shares with Python
-- (tests/parity_cases.json): objects, arrays, strings (with \uXXXX as UTF-8), numbers (integers
-- stay integers), true, false, and null as json.null (so a null value is told from an absent key).
local json = { null = setmetatable({}, { __tostring = function() return "null" end }) }

local escapes = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n",
                  r = "\r", t = "\t" }

function json.decode(text)
    local pos = 1
    local function fail(what) error(("json: %s at offset %d"):format(what, pos), 0) end
    local function ws() pos = text:find("[^ \t\r\n]", pos) or #text + 1 end
    local value
    local function str()
        local out = {}
        pos = pos + 1
        while true do
            local c = text:sub(pos, pos)
            if c == "" then fail("unterminated string") end
            if c == '"' then pos = pos + 1; return table.concat(out) end
            if c == "\\" then
                local e = text:sub(pos + 1, pos + 1)
                if e == "u" then
                    out[#out + 1] = utf8.char(tonumber(text:sub(pos + 2, pos + 5), 16))
                    pos = pos + 6
                else
                    out[#out + 1] = escapes[e] or fail("bad escape")
                    pos = pos + 2
                end
            else
                out[#out + 1] = c
                pos = pos + 1
            end
        end
    end
    function value()
        ws()
        local c = text:sub(pos, pos)
        if c == "{" then
            local t = {}
            pos = pos + 1
            ws()
            if text:sub(pos, pos) == "}" then pos = pos + 1; return t end
            while true do
                ws()
                if text:sub(pos, pos) ~= '"' then fail("key expected") end
                local k = str()
                ws()
                if text:sub(pos, pos) ~= ":" then fail("':' expected") end
                pos = pos + 1
                t[k] = value()
                ws()
                c = text:sub(pos, pos)
                pos = pos + 1
                if c == "}" then return t end
                if c ~= "," then fail("',' or '}' expected") end
            end
        elseif c == "[" then
            local t = {}
            pos = pos + 1
            ws()
            if text:sub(pos, pos) == "]" then pos = pos + 1; return t end
            while true do
                t[#t + 1] = value()
                ws()
                c = text:sub(pos, pos)
                pos = pos + 1
                if c == "]" then return t end
                if c ~= "," then fail("',' or ']' expected") end
            end
        elseif c == '"' then
            return str()
        elseif text:find("^true", pos) then pos = pos + 4; return true
        elseif text:find("^false", pos) then pos = pos + 5; return false
        elseif text:find("^null", pos) then pos = pos + 4; return json.null
        else
            local num = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
            if not num or num == "" then fail("value expected") end
            pos = pos + #num
            return math.tointeger(tonumber(num)) or tonumber(num)
        end
    end
    local v = value()
    ws()
    if pos <= #text then fail("trailing text") end
    return v
end

return json
