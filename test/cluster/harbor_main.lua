-- harbor_main — start service of the nodes of tests/harbor.rs. Each node
-- (config key `harbor`, 1..3) launches a harbor_echo service named by the
-- global name ECHO<id>, prints "HARBOR READY <id>", then exercises the
-- nodes started before it: names across nodes (harbor.queryname, sends and
-- calls by global name and by remote handle), a 1 MiB message, a missing
-- remote service. Node 1 also watches node 3 (harbor.connect / harbor.link)
-- and prints "HARBOR LINK 3 DOWN" when it goes. Every check prints a
-- "HARBOR <what> <result>" line for the test to read.

local skynet = require "skynet"
local harbor = require "skynet.harbor"
require "skynet.manager"

local function report(what, ...)
  local parts = { "HARBOR", what }
  for i = 1, select("#", ...) do
    parts[#parts + 1] = tostring((select(i, ...)))
  end
  print(table.concat(parts, " "))
end

local function exercise(me, other)
  local name = "ECHO" .. other
  local h = harbor.queryname(name)
  report("QUERY" .. other, string.format(":%08x", h), (skynet.harbor(h)))
  report("CALLNAME" .. other, skynet.call(name, "lua", "echo", "hello", me))
  local self_handle, where = skynet.call(h, "lua", "whoami")
  report("CALLHANDLE" .. other, self_handle == h, where)
  local big = string.rep("B", 1024 * 1024 - 3) .. me .. "xy"
  report("LARGE" .. other, skynet.call(h, "lua", "size", big))
  skynet.send(name, "lua", "note", string.format("from %d to %d", me, other))
  -- a handle of that node where no service lives
  local missing = (h & 0xff000000) | 0xffff
  report("MISSING" .. other, pcall(skynet.call, missing, "lua", "echo", 1))
end

skynet.start(function()
  local me = tonumber(skynet.getenv "harbor")
  local echo = skynet.newservice("harbor_echo")
  skynet.name("ECHO" .. me, echo)
  report("READY", me)
  if me == 1 then
    skynet.fork(function()
      harbor.connect(3)
      report("CONNECTED", 3)
      harbor.link(3)
      report("LINK", 3, "DOWN")
    end)
  end
  for other = 1, me - 1 do
    exercise(me, other)
  end
  -- ask back: the older nodes reach this one too
  for other = 1, me - 1 do
    skynet.send("ECHO" .. other, "lua", "note", string.format("%d joined", me))
  end
  report("DONE", me)
end)
