-- skynet.coroutine — user coroutines whose bodies may call blocking skynet APIs.
--
-- Stands for the reference's lualib/skynet/coroutine.lua. A coroutine made by
-- `create` may block inside the framework (call, sleep, wait): the framework's
-- yield travels up through `resume` to the enclosing framework coroutine and
-- the answer travels back down, so `resume` only returns when the body uses
-- this module's `yield` or finishes. Yields reaching `resume` carry the word
-- "USER" first; anything else is a framework yield to pass through.

local cocreate = coroutine.create
local coresume = coroutine.resume -- the profiling resume installed by snlua
local coyield = coroutine.yield
local costatus = coroutine.status
local corunning = coroutine.running
local coclose = coroutine.close
local select = select

local M = {
  isyieldable = coroutine.isyieldable,
  running = coroutine.running,
}

-- skynet coroutine -> true (ready or running) | false (blocked in the framework)
local state = setmetatable({}, { __mode = "kv" })
-- skynet coroutine -> framework coroutine at the root of its resume chain
local root_of = setmetatable({}, { __mode = "kv" })

function M.create(f)
  local co = cocreate(f)
  state[co] = true
  return co
end

local relay

-- hand the framework's answer back down to the blocked coroutine
local function pass_down(co, ...)
  state[co] = true
  return relay(co, coresume(co, ...))
end

-- what the coroutine handed back from coresume
function relay(co, ok, ...)
  if not ok then
    return false, ...
  end
  if costatus(co) == "dead" then
    state[co] = nil
    return true, ...
  end
  if (...) == "USER" then
    return true, select(2, ...)
  end
  -- blocked inside the framework: pass the yield up, wait for the answer
  state[co] = false
  return pass_down(co, coyield(...))
end

function M.resume(co, ...)
  local st = state[co]
  if not st then
    if st == false then
      return false, "cannot resume a skynet coroutine suspend by skynet framework"
    end
    if costatus(co) == "dead" then
      return coresume(co, ...) -- false, "cannot resume dead coroutine"
    end
    return false, "cannot resume none skynet coroutine"
  end
  local from = corunning()
  root_of[co] = root_of[from] or from
  return relay(co, coresume(co, ...))
end

function M.status(co)
  local s = costatus(co)
  if s == "suspended" and state[co] == false then
    return "blocked"
  end
  return s
end

function M.yield(...)
  return coyield("USER", ...)
end

local function unwrap(ok, ...)
  if ok then
    return ...
  end
  error((...))
end

function M.wrap(f)
  local co = M.create(f)
  return function(...)
    return unwrap(M.resume(co, ...))
  end
end

-- the framework coroutine behind `co` (default: the running one), and
-- whether `co` itself is a framework coroutine
function M.thread(co)
  co = co or corunning()
  if state[co] ~= nil then
    return root_of[co], false
  end
  return co, true
end

function M.close(co)
  state[co] = nil
  return coclose(co)
end

return M
