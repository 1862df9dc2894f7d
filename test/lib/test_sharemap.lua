-- test_sharemap — tests of skynet.sharemap (run by tests/lib.rs).
--
-- Stands for the "master" half of the reference's test/testsm.lua in
-- purpose: a writer here, a reader in another service.

local skynet = require "skynet"
local sharemap = require "skynet.sharemap"
local T = require "libtest"

local writer, reader

T.case("register_writer", function()
  sharemap.register(skynet.getenv("testlib_dir") .. "/sharemap_test.sp")
  writer = sharemap.writer("foobar", { x = 0, y = 0, s = "hello" })
  T.eq(writer.x, 0, "writer reads its table")
  reader = skynet.newservice "sm_reader"
  local x, s = skynet.call(reader, "lua", "init", "foobar", writer:copy())
  T.eq(x, 0, "reader starts with the first version")
  T.eq(s, "hello", "s")
end)

T.case("commit_update", function()
  writer.x = 1
  local x = skynet.call(reader, "lua", "peek")
  T.eq(x, 0, "nothing visible before commit")
  writer:commit()
  T.eq(skynet.call(reader, "lua", "peek"), 0, "nothing visible before update")
  local rx, ry, rs, _, changed = skynet.call(reader, "lua", "read")
  T.eq(changed, true, "update found a new version")
  T.eq(rx, 1, "x")
  T.eq(ry, 0, "y")
  T.eq(rs, "hello", "s")
  writer.y = 2
  writer.s = "world"
  writer.list = { 1, 2, 3 }
  writer:commit()
  local _, y, s, n = skynet.call(reader, "lua", "read")
  T.eq(y, 2, "y")
  T.eq(s, "world", "s")
  T.eq(n, 3, "#list")
end)

T.case("no_change", function()
  local _, _, _, _, changed = skynet.call(reader, "lua", "read")
  T.eq(changed, false, "update without a commit finds nothing new")
end)

T.case("read_only", function()
  local ok = skynet.call(reader, "lua", "write")
  T.eq(ok, false, "a reader cannot be assigned")
end)

T.case("bad_type", function()
  T.raises("type not found", sharemap.writer, "foobaz", {})
end)

skynet.start(function()
  T.run "sharemap"
end)
