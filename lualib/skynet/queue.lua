-- skynet.queue: critical sections shared by the coroutines of one service.
--
-- Stands for the reference's lualib/skynet/queue.lua. `require "skynet.queue"`
-- gives a constructor (also installed as skynet.queue). Every call of it makes
-- a new section: a function `cs(f, ...)` that runs f(...) and returns its
-- results, with at most one coroutine inside the section at a time. Other
-- coroutines queue up and get in first come, first served; the coroutine
-- inside may enter again (nesting). If f raises, the section is released and
-- the error, carrying f's traceback, is raised again unchanged.

local skynet = require "skynet"

local running = coroutine.running
local traceback = debug.traceback

local function section()
  -- Who is inside, how many times it entered, and a FIFO of waiting
  -- coroutines kept in waiting[head .. tail].
  local owner, entries = nil, 0
  local waiting, head, tail = {}, 1, 0

  -- Runs when f returns or fails: hands the section on after the owner's
  -- outermost entry, then passes f's outcome through.
  local function leave(ok, ...)
    entries = entries - 1
    if entries == 0 then
      owner = waiting[head]
      if owner then
        waiting[head] = nil
        head = head + 1
        skynet.wakeup(owner)
      end
    end
    if ok then
      return ...
    end
    error((...), 0)
  end

  -- Queues `me` and sleeps until leave() hands it the section.
  local function wait_turn(me)
    tail = tail + 1
    waiting[tail] = me
    skynet.wait()
    assert(entries == 0)
  end

  return function(f, ...)
    local me = running()
    if owner == nil then
      owner = me
    elseif owner ~= me then
      wait_turn(me)
      owner = me
    end
    entries = entries + 1
    return leave(xpcall(f, traceback, ...))
  end
end

skynet.queue = section

return section
