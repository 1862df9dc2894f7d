-- Loads Lua C modules built for Lua 5.4 by Debian (lua-cjson, lua-lpeg)
-- through lua_cpath inside a service and uses them; tests/cmodules.rs
-- checks the lines it logs.
local skynet = require "skynet"
require "skynet.manager" -- skynet.abort

local function report(name, ok, detail)
  skynet.error(string.format("CMODULE %s %s %s", ok and "PASS" or "FAIL", name, tostring(detail)))
end

skynet.start(function()
  local ok, cjson = pcall(require, "cjson")
  report("require-cjson", ok, ok and "" or cjson)
  if ok then
    local text = cjson.encode({ list = { 1, 2, 3 }, name = "skynet" })
    local back = cjson.decode(text)
    report("cjson-roundtrip", back.name == "skynet" and #back.list == 3 and back.list[3] == 3, text)
    local bad_ok, bad_err = pcall(cjson.decode, "{broken")
    report("cjson-error", not bad_ok, bad_err)
  end
  local okl, lpeg = pcall(require, "lpeg")
  report("require-lpeg", okl, okl and "" or lpeg)
  if okl then
    local digits = lpeg.C(lpeg.R("09") ^ 1)
    local list = lpeg.Ct(digits * ("," * digits) ^ 0)
    local t = list:match("10,20,30")
    report("lpeg-match", t and #t == 3 and t[2] == "20", t and table.concat(t, "|"))
  end
  -- The same module is loaded once per process but opened in each state:
  -- a second service uses it independently.
  local other = skynet.newservice("cmodules_peer")
  local answer = skynet.call(other, "lua", "encode", { x = 1 })
  report("cjson-other-service", answer == '{"x":1}', answer)
  skynet.error("CMODULES DONE")
  skynet.abort()
end)
