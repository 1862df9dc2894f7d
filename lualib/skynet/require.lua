-- skynet.require — module loading with two-phase initialisation.
--
-- Stands for the reference's lualib/skynet/require.lua. Once the loader has
-- installed it as the global `require`, a module may register functions with
-- `skynet.init(f)`; they run after the module's main chunk:
--   * required from the service's main chunk: deferred until just before the
--     start function (`init_all`, called by skynet.init_service);
--   * required from a framework coroutine: right after the chunk, before
--     `require` returns. The chunk itself may block (skynet.call, sleep...);
--     other coroutines asking for the same module meanwhile wait for it.

local M = {}

local std_require = require
local loaded = package.loaded
local searchpath = package.searchpath
local corunning = coroutine.running
local xpcall = xpcall
local traceback = debug.traceback

local root, at_root = corunning()
assert(at_root, "skynet.require must initialize in main thread")

-- coroutine -> list of init functions collected while that coroutine loads a
-- module; the root list collects what the main chunk registers.
local pending_inits = { [root] = {} }

-- module name -> { owner = coroutine loading it, waiters = { coroutines } }
local in_progress = {}

local function framework()
  -- resolved lazily: skynet.lua requires this module while it loads
  return std_require "skynet"
end

local function wait_for(name, job, me)
  if job.owner == me then
    error "circular dependency"
  end
  local skynet = framework()
  job.waiters[#job.waiters + 1] = me
  skynet.wait(me)
  local value = loaded[name]
  if value == nil then
    error(string.format("require %s failed", name))
  end
  return value
end

local function load_in_coroutine(name, chunk, filename, me)
  local job = { owner = me, waiters = {} }
  in_progress[name] = job

  local saved = pending_inits[me]
  local inits = {}
  pending_inits[me] = inits

  -- The chunk runs as plain Lua (not through the C `require`) so it may yield.
  local ok, err = xpcall(function()
    local value = chunk(name, filename)
    for i = 1, #inits do
      inits[i]()
    end
    if value == nil then
      value = true
    end
    loaded[name] = value
  end, traceback)

  pending_inits[me] = saved
  in_progress[name] = nil
  if #job.waiters > 0 then
    local skynet = framework()
    for _, co in ipairs(job.waiters) do
      skynet.wakeup(co)
    end
  end

  if not ok then
    error(err)
  end
  return loaded[name]
end

function M.require(name)
  local value = loaded[name]
  if value ~= nil then
    return value
  end

  local me, is_root = corunning()
  if is_root then
    return std_require(name)
  end

  local job = in_progress[name]
  if job then
    return wait_for(name, job, me)
  end

  local filename = searchpath(name, package.path)
  local chunk = filename and loadfile(filename)
  if not chunk then
    -- C modules, preloads and load errors: let the standard loader answer
    return std_require(name)
  end
  return load_in_coroutine(name, chunk, filename, me)
end

-- Run what the main chunk registered; called once, before the start function.
function M.init_all()
  local list = pending_inits[root]
  pending_inits[root] = nil
  if list then
    for i = 1, #list do
      list[i]()
    end
  end
end

-- Register `f` for the module being loaded by the running coroutine. Outside
-- of any load this is a Lua error (there is no list to add to).
function M.init(f)
  assert(type(f) == "function")
  table.insert(pending_inits[corunning()], f)
end

return M
