-- harbor_wire — start service of the nodes of the wire-level tests in
-- tests/harbor.rs, where the test itself plays a harbor slave (id 4) over
-- raw TCP. Each node launches a harbor_echo service named ECHO<id> and
-- prints "HARBOR READY <id>". Node 1 waits for the global name FAKE4 (a
-- handle of the fake harbor), sends it a burst of 50 messages "msg1" ..
-- "msg50" and prints "HARBOR BURST 50". Node 2 waits for the global name
-- GO4 (registered by the test after it broke its link to node 2), then
-- calls ECHO1 across its link to node 1 and the GO4 handle across the
-- broken link, printing "HARBOR CALL1 ..." and "HARBOR FAKE ...".

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

skynet.start(function()
  local me = tonumber(skynet.getenv "harbor")
  local echo = skynet.newservice("harbor_echo")
  skynet.name("ECHO" .. me, echo)
  report("READY", me)
  if me == 1 then
    local fake = harbor.queryname("FAKE4")
    for i = 1, 50 do
      skynet.send(fake, "lua", "msg" .. i)
    end
    report("BURST", 50)
  else
    local go = harbor.queryname("GO4")
    report("CALL1", skynet.call("ECHO1", "lua", "echo", "after", me))
    report("FAKE", pcall(skynet.call, go, "lua", "echo", 1))
  end
end)
