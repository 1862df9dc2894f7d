-- test_memory — tests of skynet.memory (run by tests/lib.rs).
--
-- Stands for the reference's service/cmemory.lua in purpose. Without
-- jemalloc the jemalloc calls log "No jemalloc ..." and give zeros (as the
-- reference built with NOUSE_JEMALLOC); info/total/current report Lua heaps
-- of the Lua services.

local skynet = require "skynet"
local memory = require "skynet.memory"
local T = require "libtest"

T.case("current", function()
  local before = memory.current()
  T.eq(math.type(before), "integer", "current is an integer")
  T.ok(before > 0, "current > 0")
  local keep = {}
  for i = 1, 10000 do
    keep[i] = { i }
  end
  local after = memory.current()
  local counted = collectgarbage("count") * 1024
  T.ok(after > before + 10000 * 16, "growing the heap shows in current")
  T.eq(after, counted // 1, "current is the Lua heap")
  keep = nil
end)

T.case("info", function()
  -- a service that holds ~1 MB of Lua data; it answers after building it,
  -- and its heap is measured after that dispatch
  local big = skynet.newservice "mem_holder"
  skynet.call(big, "lua", "fill", 1024 * 1024)
  skynet.call(big, "lua", "ping") -- another dispatch: the figure is fresh
  local info = memory.info()
  T.ok(info[big] and info[big] > 1024 * 1024, "holder heap " .. tostring(info[big]))
  T.ok(info[skynet.self()] and info[skynet.self()] > 0, "own entry")
  local sum = 0
  for handle, bytes in pairs(info) do
    T.eq(math.type(handle), "integer", "handle key")
    sum = sum + bytes
  end
  local total = memory.total()
  T.ok(total >= info[big], "total covers the holder")
  local services = 0
  for _ in pairs(info) do
    services = services + 1
  end
  T.note(string.format("memory.total() = %.1f KB over %d Lua services", total / 1024, services))
  skynet.send(big, "lua", "exit")
end)

T.case("gc_mode", function()
  -- snlua runs a service's collector in generational mode, as the reference does; switching
  -- mode answers the previous one.
  T.eq(collectgarbage("incremental"), "generational", "mode of a new service")
  T.eq(collectgarbage("generational"), "incremental", "mode after switching")
  local other = skynet.newservice "mem_holder"
  T.eq(skynet.call(other, "lua", "gcmode"), "generational", "mode of another service")
end)

T.case("no_jemalloc", function()
  T.eq(memory.block(), 0, "block")
  T.eq(memory.mallctl("opt.narenas"), 0, "mallctl")
  local st = memory.jestat()
  T.eq(st["stats.allocated"], 0, "jestat allocated")
  T.eq(st["stats.active"], 0, "jestat active")
  T.eq(memory.profactive(true), false, "profactive")
  memory.dumpinfo()
  memory.dumpheap()
  memory.dump()
  T.raises("bad argument #1", memory.mallctl)
end)

skynet.start(function()
  T.run "memory"
end)
