-- skynet.coroutine: coroutines for user code that may still block in skynet.
--
-- Stands for the reference's lualib/skynet/coroutine.lua (same functions, same
-- messages). A plain coroutine cannot call skynet.call or skynet.sleep: the
-- framework suspends the running service coroutine by yielding, and a plain
-- resume would catch that yield. Coroutines made here tell the two apart:
-- this module's `yield` sends the marker "USER" first and ends up in `resume`;
-- any other yield belongs to the framework, so `resume` yields it on to its
-- own caller and, when the framework answers, resumes the coroutine with the
-- answer. Meanwhile the coroutine is "blocked" and cannot be resumed.

local native = coroutine
local create_raw = native.create
local resume_raw = native.resume -- snlua's profiling resume
local yield_raw = native.yield
local status_raw = native.status
local running = native.running

local M = {
  isyieldable = native.isyieldable,
  running = running,
}

local USER = "USER"

-- Coroutines made by M.create: true while usable, false while blocked in
-- the framework, absent once finished (or closed).
local usable = setmetatable({}, { __mode = "kv" })

-- For each of them, the framework coroutine at the bottom of its resume chain.
local owner_thread = setmetatable({}, { __mode = "kv" })

-- A blocked coroutine counts as usable again only once the step that
-- brought it the framework's answer is over.
local function step_over(co, ...)
  usable[co] = true
  return ...
end

-- Sorts out what one resume_raw step of `co` handed back.
local function sort_out(co, ok, ...)
  if ok and (...) ~= USER and status_raw(co) ~= "dead" then
    -- a framework yield: pass it further up, then resume co with the answer
    usable[co] = false
    return sort_out(co, step_over(co, resume_raw(co, yield_raw(...))))
  end
  if not ok then
    return false, ...
  end
  if status_raw(co) == "dead" then
    usable[co] = nil
    return true, ...
  end
  return true, select(2, ...) -- the values given to M.yield
end

function M.create(f)
  local co = create_raw(f)
  usable[co] = true
  return co
end

function M.resume(co, ...)
  local mark = usable[co]
  if mark == false then
    return false, "cannot resume a skynet coroutine suspend by skynet framework"
  elseif mark == nil then
    if status_raw(co) == "dead" then
      return resume_raw(co, ...) -- false, "cannot resume dead coroutine"
    end
    return false, "cannot resume none skynet coroutine"
  end
  local me = running()
  owner_thread[co] = owner_thread[me] or me
  return sort_out(co, resume_raw(co, ...))
end

function M.yield(...)
  return yield_raw(USER, ...)
end

function M.status(co)
  local s = status_raw(co)
  if s == "suspended" and usable[co] == false then
    return "blocked"
  end
  return s
end

-- The framework coroutine that `co` (default: the running coroutine) runs
-- under, and whether `co` is itself a framework coroutine.
function M.thread(co)
  co = co or running()
  if usable[co] == nil then
    return co, true
  end
  return owner_thread[co], false
end

local function results_or_raise(ok, ...)
  if not ok then
    error((...))
  end
  return ...
end

function M.wrap(f)
  local co = M.create(f)
  return function(...)
    return results_or_raise(M.resume(co, ...))
  end
end

function M.close(co)
  usable[co] = nil
  return native.close(co)
end

return M
