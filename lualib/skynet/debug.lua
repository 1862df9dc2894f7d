-- skynet.debug — the `debug` protocol (id 9) that every Lua service serves.
--
-- Stands for the reference's lualib/skynet/debug.lua. skynet.lua calls
-- `init(skynet, internals)` once while it loads: that adds
-- `skynet.info_func(f)` and registers the protocol. `internals` carries
-- pieces of skynet.lua (`dispatch`, `suspend`, `resume`) that RUN (inject)
-- and REMOTEDEBUG need. `reg_debugcmd(name, fn)` adds further commands; a
-- built-in command of the same name wins. The commands, their answers and
-- log lines are described in lua-api.md (debug protocol) and
-- debug-console.md.

-- set by init: the skynet table and the internals of skynet.lua
local api, internals

-- the function installed by skynet.info_func (INFO calls it)
local info_provider

-- name -> handler(...) for the built-in commands and for reg_debugcmd ones
local builtin = {}
local added = {}

local function answer(...)
  return api.ret(api.pack(...))
end

---------------------------------------------------------------------------
-- Questions about the service

function builtin.PING()
  return api.ret()
end

function builtin.MEM()
  answer(collectgarbage "count")
end

local STAT_COUNTERS = { "mqlen", "cpu", "message" }

function builtin.STAT()
  local stat = { task = api.task() }
  for _, counter in ipairs(STAT_COUNTERS) do
    stat[counter] = api.stat(counter)
  end
  answer(stat)
end

function builtin.INFO(...)
  if not info_provider then
    return answer(nil)
  end
  answer(info_provider(...))
end

-- is there a dispatch function for protocol `name`?
function builtin.SUPPORT(name)
  return answer(api.dispatch(name) ~= nil)
end

-- without a session: every waiting coroutine and its traceback
function builtin.TASK(session)
  if session then
    return answer(api.task(session))
  end
  local tasks = {}
  api.task(tasks)
  answer(tasks)
end

function builtin.UNIQTASK()
  answer(api.uniqtask())
end

---------------------------------------------------------------------------
-- Acting on the service

function builtin.KILLTASK(threadname)
  local killed = api.killthread(threadname)
  if not killed then
    api.error("Kill " .. tostring(threadname) .. " : Not found")
    return answer "Not found"
  end
  api.error("Kill " .. tostring(killed))
  api.ret()
end

-- Sent, not called: no answer. While one collection is in progress further
-- GC requests are dropped.
local collecting = false

local function usage()
  return collectgarbage "count", api.now()
end

function builtin.GC()
  if collecting then
    return
  end
  collecting = true
  local kb_before, ticks_before = usage()
  collectgarbage "collect"
  -- give queued GC requests the chance to arrive (and be dropped)
  api.yield()
  local kb_after, ticks_after = usage()
  collecting = false
  api.error(string.format("GC %.2f Kb -> %.2f Kb, cost %.2f sec", kb_before, kb_after,
    (ticks_after - ticks_before) / 100))
end

function builtin.EXIT()
  api.exit()
end

-- Calls waiting on `service` fail. Never answered.
function builtin.TERM(service)
  api.ignoreret()
  api.term(service)
end

-- Takes the reply and never gives it: the caller's call fails once this
-- service exits.
function builtin.LINK()
  api.response()
end

-- TRACELOG([proto,] flag): proto defaults to "lua"
function builtin.TRACELOG(proto, flag)
  if type(proto) ~= "string" then
    proto, flag = "lua", proto
  end
  api.error(string.format("Turn trace log %s for %s", flag, proto))
  api.traceproto(proto, flag)
  api.ret()
end

-- Runs injected source; answers (ok, the printed lines joined by "\n").
function builtin.RUN(source, filename, ...)
  local inject = require "skynet.inject"
  local ok, printed = inject(api, source, filename, table.pack(...), internals.dispatch, api.register_protocol)
  collectgarbage "collect"
  answer(ok, table.concat(printed, "\n"))
end

-- Enters the interactive debugger (console `debug`); answered when it is
-- left.
function builtin.REMOTEDEBUG(...)
  require("skynet.remotedebug").start(internals, ...)
end

---------------------------------------------------------------------------

local function debug_dispatch(_, _, name, ...)
  local handler = builtin[name] or added[name]
  assert(handler, name)
  handler(...)
end

local M = {}

function M.reg_debugcmd(name, fn)
  added[name] = fn
end

function M.init(skynet, export)
  api, internals = skynet, export
  skynet.info_func = function(f)
    info_provider = f
  end
  skynet.register_protocol {
    id = skynet.PTYPE_DEBUG,
    name = "debug",
    pack = skynet.pack,
    unpack = skynet.unpack,
    dispatch = debug_dispatch,
  }
end

return M
