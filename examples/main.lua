-- main — start service of the example configs.
--
-- Shows the everyday API without sockets: creates services, calls them,
-- uses a unique service, the datacenter, a fork and a timer, then exits;
-- the node keeps running (launcher, service_mgr, the example services...).

local skynet = require "skynet"
local datacenter = require "skynet.datacenter"

skynet.start(function()
  skynet.error "Server start"

  local db = skynet.uniqueservice "simpledb"
  skynet.call(db, "lua", "SET", "greeting", "hello skynet")
  skynet.error("simpledb GET greeting ->", skynet.call(db, "lua", "GET", "greeting"))

  local ping = skynet.newservice("pingpong", "ping")
  local pong = skynet.newservice("pingpong", "pong")
  local rounds = skynet.call(ping, "lua", "play", pong, 3)
  skynet.error(string.format("pingpong finished %d rounds", rounds))

  datacenter.set("example", "started", skynet.now())
  skynet.fork(function()
    local at = datacenter.wait("example", "ready")
    skynet.error("datacenter: example.ready =", at)
  end)
  skynet.timeout(10, function()
    datacenter.set("example", "ready", skynet.now())
  end)

  skynet.error("services launched:", table.concat((function()
    local names = {}
    for addr, desc in pairs(skynet.call(".launcher", "lua", "LIST")) do
      names[#names + 1] = addr .. "=" .. desc
    end
    table.sort(names)
    return names
  end)(), ", "))
end)
