-- skynet.require: `require` for services, with two-step module initialisation.
--
-- Stands for the reference's lualib/skynet/require.lua. The loader installs
-- M.require as the global `require`. A module may hand functions to
-- skynet.init(f) (M.init) while its main chunk runs; they are run after it:
--   * when the module is required from the service's main chunk, not before
--     the start function (skynet.init_service calls M.init_all);
--   * when it is required from any other coroutine, as soon as the chunk has
--     returned, before `require` does.
-- In a coroutine the chunk runs as plain Lua, so it may block (skynet.call,
-- skynet.sleep, ...). Another coroutine asking for a module that is still
-- loading waits for it and gets it, or "require <name> failed" if loading
-- failed; the loading coroutine asking for it again gets
-- "circular dependency".

local M = {}

local builtin_require = require
local loaded = package.loaded

local main_thread, on_main = coroutine.running()
assert(on_main, "skynet.require must initialize in main thread")

-- Init functions waiting to run, per coroutine that is loading a module;
-- the main thread's list waits for init_all.
local inits_of = { [main_thread] = {} }

-- Modules being loaded right now: name -> { loader = coroutine, waiting = { coroutine, ... } }
local loading = {}

-- skynet.lua requires this module while it loads itself, so the framework is
-- looked up only when it is needed.
local function framework()
  return builtin_require "skynet"
end

-- Calls every function of `list`, including ones added meanwhile.
local function drain(list)
  local i = 1
  while list[i] do
    list[i]()
    i = i + 1
  end
end

-- The chunk of a Lua module on package.path, or nothing (not found, or it
-- does not compile: the builtin require then gives the error).
local function lua_chunk(name)
  local filename = package.searchpath(name, package.path)
  if filename then
    local chunk = loadfile(filename)
    if chunk then
      return chunk, filename
    end
  end
end

local function wait_for(name, job, me)
  if job.loader == me then
    error("circular dependency", 0)
  end
  table.insert(job.waiting, me)
  framework().wait(me)
  -- woken by the loader, whatever the outcome
  local value = loaded[name]
  if value ~= nil then
    return value
  end
  error(string.format("require %s failed", name))
end

local function load_here(name, chunk, filename, me)
  local job = { loader = me, waiting = {} }
  loading[name] = job
  local outer_inits = inits_of[me]
  local my_inits = {}
  inits_of[me] = my_inits

  local ok, err = xpcall(function()
    local value = chunk(name, filename)
    drain(my_inits)
    if value == nil then
      value = true
    end
    loaded[name] = value
  end, debug.traceback)

  inits_of[me] = outer_inits
  loading[name] = nil
  if job.waiting[1] then
    local skynet = framework()
    for _, co in ipairs(job.waiting) do
      skynet.wakeup(co)
    end
  end

  if not ok then
    error(err)
  end
  return loaded[name]
end

-- A module not loaded yet. Only coroutines other than the main thread load
-- Lua modules themselves; everything else goes to the builtin require.
local function first_require(name)
  local me, main = coroutine.running()
  local chunk, filename
  if not main then
    chunk, filename = lua_chunk(name)
  end
  if chunk == nil then
    return builtin_require(name)
  end
  local job = loading[name]
  if job == nil then
    return load_here(name, chunk, filename, me)
  end
  return wait_for(name, job, me)
end

function M.require(name)
  local value = loaded[name]
  if value == nil then
    return first_require(name)
  end
  return value
end

-- Runs what was registered while the main chunk loaded modules (once).
function M.init_all()
  local list = inits_of[main_thread]
  inits_of[main_thread] = nil
  if list then
    drain(list)
  end
end

-- Registers `f` with the module the running coroutine is loading. Outside of
-- any loading there is no list, and table.insert says so.
function M.init(f)
  assert(type(f) == "function")
  table.insert(inits_of[coroutine.running()], f)
end

return M
