-- test_sharedata — tests of skynet.sharedata, its corelib, native core and
-- sharedatad (run by tests/lib.rs).
--
-- Stands for the reference's test/testsharedata.lua in purpose. Updates
-- reach other services deterministically: sharedatad answers the readers'
-- monitor calls before it answers the update call, so a call made to a
-- reader afterwards is handled after the reader learnt the new object.
-- The last case measures 1000 reader services on one data set.

local skynet = require "skynet"
local sharedata = require "skynet.sharedata"
local T = require "libtest"

local reader
local q, q_n

T.case("new_query", function()
  sharedata.new("cfg", { x = 1, arr = { 10, 20, 30 }, n = { m = "deep" } })
  q = sharedata.query("cfg")
  T.eq(q.x, 1, "x")
  T.eq(#q.arr, 3, "#arr")
  T.eq(q.arr[2], 20, "arr[2]")
  T.eq(q.n.m, "deep", "n.m")
  T.eq(q.nosuch, nil, "missing key")
  T.eq(sharedata.query("cfg"), q, "query is cached")
  T.eq(q.n, q.n, "child proxies are cached")
  T.eq(T.keys(q), "arr n x", "pairs keys")
  local sum = 0
  for i, v in ipairs(q.arr) do
    sum = sum + i * v
  end
  T.eq(sum, 140, "ipairs over an array")
  q_n = q.n
end)

T.case("new_twice", function()
  T.raises("call failed", sharedata.new, "cfg", { x = 9 })
  T.eq(q.x, 1, "data unchanged")
end)

T.case("from_string", function()
  sharedata.new("fromstr", "return { a = 1, b = ... }", "argB")
  local s = sharedata.query("fromstr")
  T.eq(s.a, 1, "a")
  T.eq(s.b, "argB", "b from ...")
  sharedata.new("globals", "x = 5 y = { 'z' }")
  local g = sharedata.query("globals")
  T.eq(g.x, 5, "global x")
  T.eq(g.y[1], "z", "global y")
  T.raises("call failed", sharedata.new, "syntax", "return {")
end)

T.case("from_file", function()
  sharedata.new("fromfile", "@" .. skynet.getenv("testlib_dir") .. "/sd_data.lua", 7)
  local f = sharedata.query("fromfile")
  T.eq(f.name, "from file", "name")
  T.eq(f.scale, 7, "argument")
  T.eq(#f.list, 3, "#list")
end)

T.case("empty", function()
  sharedata.new("empty")
  local e = sharedata.query("empty")
  T.eq(T.keys(e), "", "no keys")
  T.eq(#e, 0, "length")
end)

T.case("write_error", function()
  T.raises("Error newindex, the key []", function() q.x = 2 end)
  T.raises("Error newindex, the key [.n]", function() q.n.m = 2 end)
  T.eq(q.x, 1, "x unchanged")
end)

T.case("missing", function()
  T.raises("call failed", sharedata.query, "nosuch")
  T.raises("call failed", sharedata.delete, "nosuch")
end)

T.case("bad_types", function()
  -- values that cannot cross a message are made by a source string
  T.raises("call failed", sharedata.new, "bad1", "return { f = print }")
  T.raises("call failed", sharedata.new, "bad2", "return { [true] = 1 }")
  T.raises("call failed", sharedata.new, "bad3", "return { [1.5] = 1 }")
  T.raises("call failed", sharedata.new, "bad4", 42)
  T.raises("call failed", sharedata.query, "bad1")
end)

T.case("shared_structure", function()
  -- a table reached twice, and a cycle (made in sharedatad: a cycle cannot
  -- be packed into a message)
  sharedata.new("graph", [[
    local shared = { v = 1 }
    local root = { a = shared, b = shared }
    root.self = root
    return root
  ]])
  local g = sharedata.query("graph")
  T.eq(g.a.v, 1, "a.v")
  T.eq(g.b.v, 1, "b.v")
  T.eq(g.self.self.a.v, 1, "through the cycle")
  local copy = sharedata.deepcopy("graph")
  T.eq(copy.a, copy.b, "deepcopy keeps shared tables shared")
  T.eq(copy.self, copy, "deepcopy keeps the cycle")
end)

T.case("reader", function()
  reader = skynet.newservice "sd_reader"
  T.eq(skynet.call(reader, "lua", "query", "cfg"), true, "reader query")
  local ok, v = skynet.call(reader, "lua", "get", "n", "m")
  T.eq(ok, true, "reader get")
  T.eq(v, "deep", "reader reads n.m")
  T.eq(skynet.call(reader, "lua", "hold", "n"), "table", "reader holds n")
end)

T.case("update", function()
  local before = sharedata.deepcopy("cfg")
  sharedata.update("cfg", { x = 2, arr = { 1 } })
  T.eq(q.x, 2, "x after update")
  T.eq(#q.arr, 1, "#arr after update")
  T.eq(q.n, nil, "n removed")
  T.raises("The key [.n] doesn't exist after update", function() return q_n.m end)
  T.eq(before.x, 1, "an earlier deepcopy keeps the old data")
  T.eq(before.n.m, "deep", "old copy n.m")
  -- the other service
  local ok, v = skynet.call(reader, "lua", "get", "x")
  T.eq(ok, true, "reader get after update")
  T.eq(v, 2, "reader sees x = 2")
  T.eq(skynet.call(reader, "lua", "len", "arr"), 1, "reader #arr")
  local ok2, err = skynet.call(reader, "lua", "held", "m")
  T.eq(ok2, false, "reader's old child")
  T.ok(tostring(err):find("The key [.n] doesn't exist after update", 1, true), "reader error " .. tostring(err))
end)

T.case("update_twice", function()
  sharedata.update("cfg", { x = 3, arr = { 1, 2 }, n = { m = "back" } })
  -- Ask the reader once between the updates: it answers after it took the
  -- first new version, and by then it has asked sharedatad to watch for the
  -- next one, so the second update reaches it before our next call. (Two
  -- updates straight after each other may pass the reader's watch request;
  -- it then sees the last version a moment later, which this test does not
  -- wait for.)
  local ok1, v1 = skynet.call(reader, "lua", "get", "n", "m")
  T.eq(ok1, true, "reader get between the updates")
  T.eq(v1, "back", "reader n.m between the updates")
  sharedata.update("cfg", { x = 4, arr = { 1, 2, 3, 4 }, n = { m = "again" } })
  T.eq(q.x, 4, "x after two updates")
  T.eq(q.n.m, "again", "n back")
  local ok, v = skynet.call(reader, "lua", "get", "n", "m")
  T.eq(ok, true, "reader get")
  T.eq(v, "again", "reader n.m")
  sharedata.flush()
  T.eq(q.x, 4, "after flush")
end)

T.case("deepcopy", function()
  local c = sharedata.deepcopy("cfg")
  T.eq(getmetatable(c), nil, "plain table")
  T.eq(c.x, 4, "x")
  T.eq(#c.arr, 4, "#arr")
  T.eq(sharedata.deepcopy("cfg", "arr")[2], 2, "sub-path")
  T.eq(sharedata.deepcopy("cfg", "x"), 4, "a leaf")
  T.eq(sharedata.deepcopy("cfg", "nosuch"), nil, "missing path")
  -- from a service that never queried it
  local copy = skynet.call(reader, "lua", "deepcopy", "fromstr")
  T.eq(copy.b, "argB", "deepcopy without query")
end)

T.case("delete", function()
  sharedata.delete("cfg")
  T.raises("call failed", sharedata.query, "cfg")
  T.eq(q.x, 4, "an existing proxy keeps the last data")
  local ok, v = skynet.call(reader, "lua", "get", "x")
  T.eq(ok, true, "reader still reads")
  T.eq(v, 4, "reader keeps the last data")
  sharedata.update("created", { y = 1 })
  T.eq(sharedata.query("created").y, 1, "update creates")
end)

local READERS = 1000

T.case("memory_1000_readers", function()
  collectgarbage()
  collectgarbage()
  local before = collectgarbage("count")
  local data = T.big_data(5000)
  collectgarbage()
  collectgarbage()
  local as_lua = (collectgarbage("count") - before) * 1024
  sharedata.new("big", data)
  data = nil
  local big = sharedata.query("big")
  local stored = require("skynet.sharedata.core").size(big.__obj)

  local total, maxgrowth, heaps = 0, 0, 0
  for _ = 1, READERS do
    local r = skynet.newservice "sd_reader"
    local growth, sum, heap = skynet.call(r, "lua", "measure", "big")
    T.ok(sum > 0, "reader read the data")
    total = total + growth
    heaps = heaps + heap
    if growth > maxgrowth then
      maxgrowth = growth
    end
  end
  local avg = total / READERS
  T.note(string.format(
    "sharedata: data set %.1f KB as a Lua table, %.1f KB in the shared store; "
      .. "%d readers: %.1f KB in all (%.0f bytes each on average, %.0f at most), "
      .. "a copy per reader would be %.1f MB; the %d reader services' whole Lua heaps "
      .. "(skynet.lua and the rest included) add up to %.1f MB",
    as_lua / 1024, stored / 1024, READERS, total / 1024, avg, maxgrowth,
    as_lua * READERS / 1024 / 1024, READERS, heaps / 1024 / 1024))
  -- shared, not copied: a reader costs a tiny fraction of the data
  T.ok(maxgrowth < as_lua / 50, "a reader's heap grows by far less than the data")
  T.eq(big.items[5000].id, 5000, "the data is intact")
end)

skynet.start(function()
  T.run "sharedata"
end)
