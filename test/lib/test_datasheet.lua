-- test_datasheet — tests of skynet.datasheet (builder, dump, reader side,
-- native core) (run by tests/lib.rs).
--
-- Stands for the reference's test/testdatasheet.lua in purpose. Updates
-- reach readers deterministically: the datasheet service answers the
-- readers' monitor calls before it answers the builder's update call.

local skynet = require "skynet"
local builder = require "skynet.datasheet.builder"
local dump = require "skynet.datasheet.dump"
local T = require "libtest"

local datasheet -- required after the builder made the service
local reader
local obj, c

local function hex(s)
  return (s:gsub(".", function(ch)
    return string.format("%02x", ch:byte())
  end))
end

T.case("compile", function()
  -- { 1, 2 }: one table, two integers, no strings
  local doc = builder.compile { 1, 2 }
  local tbl = string.pack("<i4i4", 2, 0) .. "\1\1\0\0" .. string.pack("<i4i4", 1, 2)
  T.eq(hex(doc), hex(string.pack("<I4I4I4", 8 + 4 + #tbl, 1, 0) .. tbl .. "\0"), "{1, 2}")
  -- { "x", k = "x" }: strings are stored once, NUL-terminated
  doc = builder.compile { "x", k = "x" }
  tbl = string.pack("<i4i4", 1, 1) .. "\5\5\0\0" .. string.pack("<I4I4I4", 0, 2, 0)
  T.eq(hex(doc), hex(string.pack("<I4I4I4", 8 + 4 + #tbl, 1, 0) .. tbl .. "x\0k\0"), "strings")
  -- floats and large integers are 32-bit floats; booleans
  doc = builder.compile { 1.5, 2 ^ 40, true }
  tbl = string.pack("<i4i4", 3, 0) .. "\2\2\3\0" .. string.pack("<ff", 1.5, 2 ^ 40) .. "\0\0\0\1"
  T.eq(hex(doc), hex(string.pack("<I4I4I4", 8 + 4 + #tbl, 1, 0) .. tbl .. "\0"), "numbers")
  T.raises("Unsupport value", builder.compile, { f = print })
  T.raises("assertion failed!", builder.compile, { [5] = 1 })
end)

T.case("undump_diff", function()
  local last = builder.compile { a = 1, b = { 2 }, c = { 3 } }
  local t, last_numbers = dump.undump(last)
  T.eq(t.a, 1, "undump a")
  T.eq(t.b[1], 2, "undump b")
  local current = builder.compile { b = { 20 }, d = { 4 } }
  local diff = dump.diff(last, current)
  local d, numbers = dump.undump(diff)
  T.eq(d.b[1], 20, "diff keeps the values")
  T.eq(d.d[1], 4, "new table")
  T.eq(d.a, nil, "removed key")
  -- b keeps its number; d comes after last's three tables; c is gone
  T.eq(numbers[d.b], last_numbers[t.b], "b keeps its table number")
  T.eq(numbers[d.d], 3, "a new table is numbered after the old ones")
  local n = string.unpack("<I4", diff, 5)
  T.eq(n, 4, "table count")
  T.eq(string.unpack("<I4", diff, 9 + 4 * last_numbers[t.c]), 0xffffffff, "c is marked gone")
end)

-- A reader's monitor coroutine is forked by its first query and asks the
-- service for newer versions once the querying coroutine yields. Each
-- query below is followed by a call (which yields here, and reaches the
-- reader after its monitor asked), so the monitors are registered before
-- the builder's next update: the updates are then seen deterministically.
T.case("query", function()
  builder.new("foobar", { a = 1, b = 2, c = { 3 }, list = { "x", "y", "z" } })
  datasheet = require "skynet.datasheet"
  obj = datasheet.query "foobar"
  c = obj.c
  reader = skynet.newservice "ds_reader"
  T.eq(skynet.call(reader, "lua", "query", "foobar"), true, "reader query")
  T.eq(skynet.call(reader, "lua", "get", "a"), 1, "a")
  T.eq(skynet.call(reader, "lua", "get", "b"), 2, "b")
  T.eq(skynet.call(reader, "lua", "get", "c", 1), 3, "c[1]")
  T.eq(datasheet.query "foobar", obj, "cached")
  T.eq(#obj.list, 3, "#list")
  T.eq(table.concat(obj.list, ","), "x,y,z", "list")
  T.eq(T.keys(obj), "a b c list", "pairs")
end)

T.case("update", function()
  builder.update("foobar", { b = 4, c = { 5 }, list = { "x" } })
  T.eq(obj.b, 4, "b after update")
  T.eq(obj.a, nil, "a removed")
  T.eq(c[1], 5, "a held table shows the new value")
  T.eq(#obj.list, 1, "#list")
  T.eq(skynet.call(reader, "lua", "get", "b"), 4, "reader b")
  T.eq(skynet.call(reader, "lua", "get", "a"), nil, "reader a removed")
  local ok, v = skynet.call(reader, "lua", "getc", 1)
  T.eq(ok, true, "reader c")
  T.eq(v, 5, "reader's held c[1]")
end)

T.case("update_type_change", function()
  builder.update("foobar", { a = 6, c = 7, d = 8 })
  T.eq(obj.c, 7, "c became a number")
  T.eq(obj.d, 8, "d")
  T.eq(obj.a, 6, "a back")
  T.raises("Invalid proxy (index = ", function() return c[1] end)
  local ok, err = skynet.call(reader, "lua", "getc", 1)
  T.eq(ok, false, "reader's held c is gone")
  T.ok(tostring(err):find("Invalid proxy", 1, true), "reader error " .. tostring(err))
end)

T.case("versions_released", function()
  -- every reader moved to the last version: the service holds only it
  local info = skynet.call(require("skynet.service").query "datasheet", "debug", "INFO")
  T.eq(T.keys(info), "foobar", "only the current version is kept")
  T.eq(info.foobar.monitors, 3, "builder + two readers")
end)

T.case("assign", function()
  obj.newfield = 5
  T.eq(obj.newfield, 5, "an assigned field reads back")
  obj.b = "shadow"
  T.eq(obj.b, "shadow", "assignment shadows")
end)

T.case("missing", function()
  local e1 = T.raises("call failed", datasheet.query, "nosuch")
  local e2 = T.raises("call failed", datasheet.query, "nosuch")
  T.eq(e1, e2, "the failure is kept")
  local r1, r2 = skynet.call(reader, "lua", "fail", "nosuch")
  T.ok(tostring(r1):find("call failed", 1, true), "reader error")
  T.eq(r1, r2, "reader's failure is kept")
end)

T.case("concurrent_query", function()
  builder.new("second", { v = 1 })
  T.eq(skynet.call(reader, "lua", "twice", "second"), true, "both coroutines get one object")
end)

T.case("bad_proxy", function()
  local core = require "skynet.datasheet.core"
  T.raises("Invalid proxy table", core.update, {}, nil)
end)

skynet.start(function()
  T.run "datasheet"
end)
