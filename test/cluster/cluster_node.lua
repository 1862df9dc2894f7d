-- cluster_node — start service of the nodes of tests/cluster.rs. Config
-- keys: `cluster` (the node table file), `cluster_name` (this node's name
-- in it), `cluster_role` ("server" or "client").
--
-- A server opens its node name, registers a cluster_svc as "svc", prints
-- "CLUSTER READY <name>" and tells the node named "client" (if the table
-- has it and it is up) "back <name>" through its "@ctl" service.
--
-- Servers also start the snax service pingserver.
--
-- The client opens its own name with a ctl service, runs the checks below
-- against servers s1 and s2 (and "bogus", which the test makes answer
-- garbage) (one "CLUSTER <check> ..." line each), then
-- starts a call that s1 never answers; the test kills s1 meanwhile. Once the
-- call failed and a call to the dead s1 failed too, it waits for s1's "back"
-- (the test restarts it, on a new port written to the table file), reloads
-- the table and calls s1 again; last line: "CLUSTER DONE".

local skynet = require "skynet"
local cluster = require "skynet.cluster"
local snax = require "skynet.snax"

local function report(what, ...)
  local parts = { "CLUSTER", what }
  for i = 1, select("#", ...) do
    parts[#parts + 1] = tostring((select(i, ...)))
  end
  print(table.concat(parts, " "))
end

local function server(name)
  local svc = skynet.newservice("cluster_svc", name)
  cluster.register("svc", svc)
  snax.uniqueservice("pingserver")
  cluster.open(name)
  report("READY", name)
  -- ask whether a client waits for us; the table may have none
  local ok = pcall(cluster.call, "client", "@ctl", "back", name)
  report("TOLD", name, ok)
end

local function client(name)
  local back = {} -- names of servers that came back
  local waiting -- coroutine waiting for a "back"
  local ctl = skynet.newservice("cluster_ctl")
  cluster.register("ctl", ctl)
  cluster.open(name)
  -- the ctl service forwards "back" here
  skynet.dispatch("lua", function(_, _, cmd, who)
    assert(cmd == "back")
    back[who] = true
    if waiting then
      skynet.wakeup(waiting)
    end
    skynet.ret(skynet.pack(true))
  end)
  skynet.call(ctl, "lua", "owner", skynet.self())

  report("ECHO1", cluster.call("s1", "@svc", "echo", "a", 1))
  report("ECHO2", cluster.call("s2", "@svc", "echo", "b", 2))
  local big = string.rep("L", 300 * 1024) .. "tail"
  local n, head, tail, answer = cluster.call("s1", "@svc", "size", big)
  report("LARGE", n, head, tail, #answer)
  cluster.send("s2", "@svc", "note", string.rep("P", 70000))
  local h = cluster.query("s1", "svc")
  report("QUERY", type(h), (cluster.call("s1", h, "echo", "byhandle")))
  local proxy = cluster.proxy("s2@svc")
  report("PROXY", skynet.call(proxy, "lua", "echo", "viaproxy"))
  skynet.send(proxy, "lua", "note", "proxied push")
  report("RELAY", cluster.call("s1", "@svc", "relay", "s2", "hop"))
  report("NONODE", pcall(cluster.call, "nonode", "@svc", "echo"))
  report("NONAME", pcall(cluster.call, "s1", "@nosuch", "echo"))
  report("NOLOCAL", pcall(cluster.call, "s1", ".nosuch", "echo"))
  report("NOQUERY", pcall(cluster.query, "s1", "nosuch"))
  -- "bogus" answers with a frame that is no response
  report("BOGUS", pcall(cluster.call, "bogus", "@svc", "echo"))
  report("SNAX", cluster.snax("s2", "pingserver").req.ping("snax over cluster"))
  -- snax methods travel as numbers, counted from each side's own copy of
  -- pingserver.lua: ours must number them as the reference's does, or a
  -- reference node calling ours runs the wrong method
  local ids = snax.interface("pingserver")
  report("SNAXIDS", ids.response.ping, ids.accept.sleep, ids.accept.hello, ids.accept.exit,
    ids.response.error)

  -- s1 will be killed while this call waits
  skynet.fork(function()
    report("SLOW", pcall(cluster.call, "s1", "@svc", "slow"))
    report("DOWNCALL", pcall(cluster.call, "s1", "@svc", "echo", "down"))
    while not back.s1 do
      waiting = coroutine.running()
      skynet.wait(waiting)
      waiting = nil
    end
    cluster.reload()
    report("AGAIN", cluster.call("s1", "@svc", "echo", "again"))
    report("DONE")
  end)
end

skynet.start(function()
  local name = assert(skynet.getenv "cluster_name")
  if skynet.getenv "cluster_role" == "client" then
    client(name)
  else
    server(name)
  end
end)
