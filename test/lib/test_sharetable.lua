-- test_sharetable — tests of skynet.sharetable and its native core (run by
-- tests/lib.rs).
--
-- Stands for the reference's test/testsharetable.lua in purpose. Data sets
-- are shared, not copied: the last case measures 1000 reader services.

local skynet = require "skynet"
local sharetable = require "skynet.sharetable"
local T = require "libtest"

local t1

T.case("loadtable_query", function()
  sharetable.loadtable("t1", { x = 1, y = { "a", "b" }, [1] = "one" })
  t1 = sharetable.query("t1")
  T.eq(type(t1), "table", "type")
  T.eq(t1.x, 1, "x")
  T.eq(t1.y[2], "b", "y[2]")
  T.eq(t1[1], "one", "[1]")
  T.eq(#t1.y, 2, "#y")
  T.eq(t1.nosuch, nil, "missing key")
  T.eq(t1.y, t1.y, "the same table each time")
  T.eq(sharetable.query("t1"), t1, "query gives the same table")
  T.eq(select("#", sharetable.query("nosuch")), 0, "unknown name: nothing")
  T.eq(type(sharetable.address), "number", "address")
end)

T.case("write", function()
  local err = T.raises("attempt to index a table value", function() t1.x = 5 end)
  T.ok(err:find("test_sharetable.lua:%d+:"), "position " .. err)
  T.raises("attempt to index a table value", function() t1.y[3] = "c" end)
  T.eq(t1.x, 1, "x unchanged")
  T.eq(#t1.y, 2, "y unchanged")
end)

T.case("iterate", function()
  T.eq(T.keys(t1), "1 x y", "pairs")
  local list = {}
  for i, v in ipairs(t1.y) do
    list[i] = v
  end
  T.eq(table.concat(list, ","), "a,b", "ipairs")
  T.eq(table.concat(t1.y, ","), "a,b", "table.concat reads through the proxy")
  T.eq(table.unpack(t1.y, 2), "b", "table.unpack")
end)

T.case("loadstring_loadfile", function()
  sharetable.loadstring("t2", "return { v = ... }", 7)
  T.eq(sharetable.query("t2").v, 7, "v from ...")
  sharetable.loadfile(skynet.getenv("testlib_dir") .. "/st_data.lua", 42)
  local f = sharetable.query(skynet.getenv("testlib_dir") .. "/st_data.lua")
  T.eq(f.arg, 42, "loadfile argument")
  T.eq(f.list[3], "r", "list")
end)

T.case("bad_input", function()
  T.raises("call failed", sharetable.loadstring, "t3", "return {}", "str")
  T.raises("assertion failed!", sharetable.loadtable, "bad", "str")
  T.raises("call failed", sharetable.loadstring, "t3", "return {")
  T.raises("call failed", sharetable.loadstring, "t3", "return 42")
  T.raises("call failed", sharetable.loadstring, "t3", "return setmetatable({}, {})")
  T.raises("call failed", sharetable.loadstring, "t3", "local up = 1 return { f = function() return up end }")
  T.raises("call failed", sharetable.loadstring, "t3", "return { co = coroutine.create(print) }")
  T.raises("call failed", sharetable.loadfile, "/nonexistent/file.lua")
  T.eq(select("#", sharetable.query("t3")), 0, "nothing loaded")
end)

T.case("functions", function()
  sharetable.loadstring("fn", [[
    local function double(a) return a * 2 end
    return { double = double, max = math.max, [double] = "by function", flag = true, pi = 3.5 }
  ]])
  local fn = sharetable.query("fn")
  T.eq(fn.double(21), 42, "a Lua function without upvalues")
  T.eq(fn.double, fn.double, "loaded once")
  T.eq(fn.max(1, 5), 5, "a light C function")
  T.eq(fn[fn.double], "by function", "a function as key")
  T.eq(fn.flag, true, "boolean")
  T.eq(fn.pi, 3.5, "float")
end)

T.case("shared_structure", function()
  sharetable.loadstring("graph", [[
    local s = { v = 1 }
    local r = { a = s, b = s }
    r.self = r
    return r
  ]])
  local g = sharetable.query("graph")
  T.eq(g.a, g.b, "a table reached twice is one table")
  T.eq(g.self, g, "cycle")
  T.eq(g.self.self.a.v, 1, "through the cycle")
  T.eq(g[g.a], nil, "a table key that is not in the data")
end)

T.case("queryall", function()
  local all = sharetable.queryall()
  T.ok(all.t1 == t1, "t1 in queryall()")
  T.ok(all.t2 and all.fn and all.graph, "the others")
  local some = sharetable.queryall { "t1", "nosuch" }
  T.eq(T.keys(some), "t1", "only existing names")
end)

T.case("reader", function()
  local r = skynet.newservice "st_reader"
  T.eq(skynet.call(r, "lua", "query", "t1"), true, "reader query")
  T.eq(skynet.call(r, "lua", "get", "x"), 1, "reader x")
  T.eq(skynet.call(r, "lua", "gety", 2), "b", "reader y[2]")
  -- reload; the reader keeps its version until it updates
  sharetable.loadtable("t1", { x = 2, y = { "c" } })
  T.eq(skynet.call(r, "lua", "get", "x"), 1, "old version before update")
  T.eq(skynet.call(r, "lua", "update", "t1"), true, "reader update")
  T.eq(skynet.call(r, "lua", "get", "x"), 2, "new version after update")
  T.eq(skynet.call(r, "lua", "gety", 1), "c", "a kept child table follows")
  T.eq(skynet.call(r, "lua", "gety", 2), nil, "removed element")
end)

T.case("update_inplace", function()
  local y = t1.y
  local holder = { ref = t1, [t1] = "key" }
  local function get_x()
    return t1.x
  end
  T.eq(t1.x, 1, "this service still reads version 1")
  sharetable.update("t1")
  T.eq(t1.x, 2, "x after update")
  T.eq(#y, 1, "#y after update")
  T.eq(y[1], "c", "y[1]")
  T.eq(holder.ref.x, 2, "a table field")
  T.eq(holder[t1], "key", "a table key still works")
  T.eq(get_x(), 2, "an upvalue")
  T.eq(sharetable.query("t1"), t1, "query gives the updated table")
end)

T.case("update_removed", function()
  sharetable.loadstring("t4", "return { a = { b = { c = 1 } }, k = { 1 }, stay = { 1 } }")
  local t = sharetable.query("t4")
  local a = t.a
  local b = a.b
  local keep = { b = b, [b] = true }
  local k = t.k
  local stay = t.stay
  sharetable.loadstring("t4", "return { k = 5, stay = { 2 } }")
  sharetable.update("t4")
  T.eq(t.a, nil, "a is gone")
  T.eq(a, nil, "a local holding the removed table is nil")
  T.eq(b, nil, "and its child")
  T.eq(keep.b, nil, "a field holding it")
  T.eq(next(keep), nil, "a key holding it")
  T.eq(k, 5, "a table that became a number")
  T.eq(stay[1], 2, "a table still there")
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
  sharetable.loadtable("big", data)
  data = nil
  local info = skynet.call(sharetable.address, "debug", "INFO")
  local stored = info.big.size
  local total, maxgrowth, heaps = 0, 0, 0
  for _ = 1, READERS do
    local r = skynet.newservice "st_reader"
    local growth, sum, heap = skynet.call(r, "lua", "measure", "big")
    T.ok(sum > 0, "reader read the data")
    total = total + growth
    heaps = heaps + heap
    if growth > maxgrowth then
      maxgrowth = growth
    end
  end
  T.note(string.format(
    "sharetable: data set %.1f KB as a Lua table, %.1f KB in the shared store; "
      .. "%d readers: %.1f KB in all (%.0f bytes each on average, %.0f at most), "
      .. "a copy per reader would be %.1f MB; the %d reader services' whole Lua heaps "
      .. "(skynet.lua and the rest included) add up to %.1f MB",
    as_lua / 1024, stored / 1024, READERS, total / 1024, total / READERS, maxgrowth,
    as_lua * READERS / 1024 / 1024, READERS, heaps / 1024 / 1024))
  T.ok(maxgrowth < as_lua / 50, "a reader's heap grows by far less than the data")
  T.eq(sharetable.query("big").items[5000].id, 5000, "the data is intact")
end)

skynet.start(function()
  T.run "sharetable"
end)
