-- test_stm — tests of skynet.stm (run by tests/lib.rs).
--
-- Stands for the reference's test/teststm.lua in purpose. A writer here
-- publishes versions; reader services see the newest one once, then false
-- until the next; after the writer is collected they read false.

local skynet = require "skynet"
local stm = require "skynet.stm"
local T = require "libtest"

local writer, r1, r2

T.case("first_read", function()
  writer = stm.new(skynet.pack(1, "one"))
  r1 = skynet.newservice "stm_reader"
  r2 = skynet.newservice "stm_reader"
  T.eq(skynet.call(r1, "lua", "attach", stm.copy(writer)), true, "attach r1")
  T.eq(skynet.call(r2, "lua", "attach", stm.copy(writer)), true, "attach r2")
  local ok, ud, a, b = skynet.call(r1, "lua", "read")
  T.eq(ok, true, "r1 first read")
  T.eq(ud, "ud", "extra argument")
  T.eq(a, 1, "r1 a")
  T.eq(b, "one", "r1 b")
  T.eq(skynet.call(r1, "lua", "read"), false, "r1 second read: nothing new")
end)

T.case("update", function()
  writer(skynet.pack(2, "two"))
  local ok, _, a, b = skynet.call(r1, "lua", "read")
  T.eq(ok, true, "r1 sees the update")
  T.eq(a, 2, "r1 a")
  T.eq(b, "two", "r1 b")
  -- r2 never read: it sees only the newest version
  ok, _, a = skynet.call(r2, "lua", "read")
  T.eq(ok, true, "r2 reads")
  T.eq(a, 2, "r2 skipped version 1")
  -- a string message is copied
  writer(skynet.packstring(3, "three"))
  ok, _, a, b = skynet.call(r2, "lua", "read")
  T.eq(ok, true, "r2 sees the string version")
  T.eq(b, "three", "r2 b")
end)

T.case("bad_ticket", function()
  local ticket = stm.copy(writer)
  T.eq(skynet.call(r1, "lua", "attach_again", ticket), true, "first newcopy works")
  local ok, err = skynet.call(r1, "lua", "attach_again", ticket)
  T.eq(ok, false, "a used ticket fails")
  T.ok(tostring(err):find("Invalid stm copy", 1, true), "error text " .. tostring(err))
  T.raises("(userdata expected, got string)", stm.newcopy, "not a ticket")
  T.raises("skynet.stm.writer expected", stm.copy, {})
end)

T.case("writer_gone", function()
  writer(skynet.pack(4))
  writer = nil
  collectgarbage()
  collectgarbage()
  T.eq(skynet.call(r1, "lua", "read"), false, "no version after the writer is gone")
  T.eq(skynet.call(r2, "lua", "read"), false, "r2 too")
end)

skynet.start(function()
  T.run "stm"
end)
