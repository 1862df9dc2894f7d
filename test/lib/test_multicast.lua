-- test_multicast — tests of skynet.multicast and multicastd (run by
-- tests/lib.rs).
--
-- Stands for the reference's test/testmulticast.lua in purpose. Ordering is
-- deterministic without sleeps: a publish is a call to multicastd, which
-- sends the message to every subscriber before it answers, so a call made
-- to a subscriber afterwards is handled after the delivery.

local skynet = require "skynet"
local multicast = require "skynet.multicast"
local T = require "libtest"

local main, sub1, sub2
local mine = {}

local function got(sub)
  return skynet.call(sub, "lua", "got")
end

T.case("new", function()
  main = multicast.new()
  T.eq(main.channel, 0, "first channel id")
  T.eq(math.type(main.channel), "integer", "id type")
  T.eq(tostring(main), "[Multicast:0]", "tostring")
  local second = multicast.new()
  T.eq(second.channel, 256, "second channel id")
  second:delete()
end)

T.case("publish", function()
  sub1 = skynet.newservice "mc_sub"
  sub2 = skynet.newservice "mc_sub"
  skynet.call(sub1, "lua", "sub", main.channel)
  skynet.call(sub2, "lua", "sub", main.channel)
  T.eq(select("#", main:publish("hello", 1, nil, { x = 1 })), 0, "publish returns nothing")
  for _, sub in ipairs { sub1, sub2 } do
    local list = got(sub)
    T.eq(#list, 1, "one message")
    local m = list[1]
    T.eq(m.channel, "[Multicast:0]", "dispatch gets the channel object")
    T.eq(m.source, skynet.self(), "source is the publisher")
    T.eq(m.n, 4, "nil argument kept")
    T.eq(m[1], "hello", "arg 1")
    T.eq(m[2], 1, "arg 2")
    T.eq(m[3], nil, "arg 3")
    T.eq(m[4].x, 1, "arg 4")
  end
end)

T.case("self_subscribe", function()
  local me = multicast.new {
    channel = main.channel,
    dispatch = function(_, source, v)
      mine[#mine + 1] = { source = source, v = v }
    end,
  }
  me:subscribe()
  main:publish("to all")
  T.eq(#mine, 1, "the publisher receives its own publication")
  T.eq(mine[1].v, "to all", "value")
  T.eq(#got(sub1), 2, "sub1 too")
  me:unsubscribe()
  main:publish("after unsubscribe")
  T.eq(#mine, 1, "nothing after unsubscribe")
  T.eq(#got(sub2), 3, "sub2 still receives")
end)

T.case("unsubscribe", function()
  skynet.call(sub2, "lua", "unsub")
  main:publish("only sub1")
  T.eq(#got(sub1), 4, "sub1 receives")
  T.eq(#got(sub2), 3, "sub2 no longer")
end)

T.case("subscribed_kept", function()
  -- as in the reference, a subscribed object stays registered (and its
  -- __gc unsubscribe only runs when the service's state is closed): losing
  -- the last reference to it does not stop the delivery
  local extra = skynet.newservice "mc_sub"
  skynet.call(extra, "lua", "sub", main.channel)
  main:publish("one")
  T.eq(#got(extra), 1, "extra receives")
  skynet.call(extra, "lua", "drop")
  main:publish("two")
  T.eq(#got(extra), 2, "still receives after the object was dropped")
  T.eq(#got(sub1), 6, "sub1 got both")
end)

T.case("dispatch_error", function()
  skynet.call(sub1, "lua", "fail", true)
  main:publish("boom")
  skynet.call(sub1, "lua", "fail", false)
  main:publish("fine")
  local list = got(sub1)
  T.eq(list[#list][1], "fine", "delivery goes on after a failing dispatch")
end)

T.case("custom_pack", function()
  local seen = {}
  local c = multicast.new {
    pack = function(...)
      return table.concat({ ... }, ",")
    end,
    unpack = function(msg, sz)
      return skynet.tostring(msg, sz)
    end,
    dispatch = function(_, _, text)
      seen[#seen + 1] = text
    end,
  }
  c:subscribe()
  c:publish("a", "b", "c")
  T.eq(seen[1], "a,b,c", "string packing")
  c:delete()
end)

T.case("delete", function()
  local id = main.channel
  local before = #got(sub1)
  main:delete()
  T.eq(main.channel, nil, "channel id cleared")
  local err = T.raises("assertion failed!", main.publish, main, "x")
  T.ok(err:find("multicast.lua:%d+: assertion failed!"), "position " .. err)
  -- the id is dead: publishing through another object reaches nobody
  local other = multicast.new { channel = id }
  T.eq(select("#", other:publish("to nobody")), 0, "no error")
  T.eq(#got(sub1), before, "a deleted channel delivers nothing")
  -- a fresh channel after the deleted one gets a new id
  local fresh = multicast.new()
  T.ok(fresh.channel ~= id, "ids are not reused while counting up")
  fresh:delete()
end)

T.case("bad_message", function()
  -- a multicast message that names no package: the receiver logs an error
  -- and goes on
  skynet.redirect(sub1, skynet.self(), "multicast", 0, "12345678")
  skynet.redirect(sub1, skynet.self(), "multicast", 0, "short")
  T.eq(type(got(sub1)), "table", "sub1 still serves")
end)

skynet.start(function()
  T.run "multicast"
end)
