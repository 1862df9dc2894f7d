-- skynet.queue — critical sections between coroutines of one service.
--
-- Stands for the reference's lualib/skynet/queue.lua. `require "skynet.queue"`
-- returns a constructor; each lock it makes is a function `cs(f, ...)` that
-- runs f(...) while no other coroutine is inside the same lock. Waiters are
-- served first come, first served; the owner may enter again (nested calls).
-- An error in f releases the lock and is re-raised with f's traceback.

local skynet = require "skynet"
local corunning = coroutine.running
local traceback = debug.traceback
local tremove = table.remove

local function new_lock()
  local owner -- coroutine inside the lock
  local depth = 0 -- nested entries of the owner
  local queue = {} -- coroutines waiting to enter

  local function leave(ok, ...)
    depth = depth - 1
    if depth == 0 then
      owner = tremove(queue, 1)
      if owner then
        skynet.wakeup(owner)
      end
    end
    if not ok then
      error((...))
    end
    return ...
  end

  return function(f, ...)
    local me = corunning()
    if owner and owner ~= me then
      queue[#queue + 1] = me
      skynet.wait()
      -- leave() handed the lock to us before waking us
    end
    owner = me
    depth = depth + 1
    return leave(xpcall(f, traceback, ...))
  end
end

skynet.queue = new_lock

return new_lock
