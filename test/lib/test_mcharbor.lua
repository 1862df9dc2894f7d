-- test_mcharbor — multicast across two harbor nodes (run by tests/lib.rs,
-- which starts node 1, the master, with mc_role "owner" and node 2 with
-- mc_role "remote").
--
-- Stands for the reference's test/testmulticast2.lua in purpose. The
-- channel belongs to node 1; node 2 subscribes to it through its own
-- multicastd (SUBR), publishes on it (forwarded to the owner) and gets
-- publications as copies. The nodes meet through the datacenter (on the
-- master node); each waits for the messages it expects with skynet.wait,
-- woken by its dispatch function, so nothing depends on timing.
-- Node 1 leaves last: it hosts the master and the datacenter, so node 2's
-- final datacenter call needs it alive until its answer is back. After the
-- remote node says it is done, node 1 waits (harbor.link) until node 2's
-- harbor connection is gone before it ends its suite and aborts.

local skynet = require "skynet"
local multicast = require "skynet.multicast"
local datacenter = require "skynet.datacenter"
local harbor = require "skynet.harbor"
local T = require "libtest"

local role = skynet.getenv "mc_role"

local received = {}
local waiting

local function dispatch(_, source, text, n)
  received[#received + 1] = { source = source, text = text, n = n }
  if waiting then
    local co = waiting
    waiting = nil
    skynet.wakeup(co)
  end
end

-- the `count`-th message received (waits for it)
local function message(count)
  while #received < count do
    waiting = coroutine.running()
    skynet.wait(waiting)
  end
  return received[count]
end

local ch

if role == "owner" then
  T.case("owner_channel", function()
    ch = multicast.new { dispatch = dispatch }
    T.eq(ch.channel % 256, 1, "the channel id carries the owner's harbor id")
    ch:subscribe()
    datacenter.set("mctest", "channel", ch.channel)
    T.eq(datacenter.wait("mctest", "ready"), true, "the remote node subscribed")
  end)

  T.case("owner_publish", function()
    ch:publish("from owner", 1)
    local m = message(1)
    T.eq(m.text, "from owner", "the owner's own subscriber")
    T.eq(datacenter.wait("mctest", "got1"), "from owner", "the remote subscriber got a copy")
  end)

  T.case("remote_publish", function()
    local m = message(2)
    T.eq(m.text, "from remote", "a publication of the remote node reaches the owner")
    T.eq(m.n, 2, "its arguments")
    T.eq(skynet.harbor(m.source), 2, "the source is the remote publisher")
    T.eq(datacenter.wait("mctest", "got2"), "from remote", "and the remote subscriber")
  end)

  T.case("owner_delete", function()
    ch:delete()
    datacenter.set("mctest", "deleted", true)
    T.eq(datacenter.wait("mctest", "done"), true, "the remote node finished")
    -- node 2 still waits for the answer to its "done" update; aborting
    -- now could drop that answer and leave node 2 hanging
    harbor.link(2)
  end)

  skynet.start(function()
    T.run "mcharbor_owner"
  end)
else
  T.case("remote_subscribe", function()
    local id = datacenter.wait("mctest", "channel")
    ch = multicast.new { channel = id, dispatch = dispatch }
    ch:subscribe()
    datacenter.set("mctest", "ready", true)
  end)

  T.case("remote_receive", function()
    local m = message(1)
    T.eq(m.text, "from owner", "a copy of the owner's publication")
    T.eq(skynet.harbor(m.source), 1, "its source is on the owner node")
    datacenter.set("mctest", "got1", m.text)
  end)

  T.case("remote_publish", function()
    ch:publish("from remote", 2)
    local m = message(2)
    T.eq(m.text, "from remote", "the publication comes back through the owner")
    datacenter.set("mctest", "got2", m.text)
  end)

  T.case("after_delete", function()
    T.eq(datacenter.wait("mctest", "deleted"), true, "the owner deleted the channel")
    datacenter.set("mctest", "done", true)
  end)

  skynet.start(function()
    T.run "mcharbor_remote"
  end)
end
