-- skynet.mqueue — one-at-a-time processing of incoming messages (deprecated).
--
-- Stands for the reference's lualib/skynet/mqueue.lua; new code should use
-- skynet.queue. Requiring it registers the `queue` protocol (id 8). Messages
-- of that protocol are appended to a FIFO; a single worker coroutine, started
-- by `register(f)`, takes them one by one and runs f(...) to completion
-- (sleeps inside f included) before it looks at the next one.
--   register(f)        start the worker (once per service)
--   call(addr, ...)    f's results, or f's error re-raised here
--   send(addr, ...)    fire and forget; f must return nothing and not fail
--   size()             messages waiting in the FIFO
-- The answer to a call is `pcall(f, ...)` packed and sent by the worker, not
-- by the coroutine that received the request, so skynet.lua reports that
-- request as not answered ("Maybe forgot response ..."), as the reference
-- does.

local skynet = require "skynet"
local core = require "skynet.core"

local tremove, tunpack = table.remove, table.unpack
local sformat = string.format

local PTYPE_QUEUE = 8

local mqueue = {}

local pending = {} -- FIFO of { session, source, n, args... }
local idle_worker -- the worker coroutine while it waits for a message
local registered = false

local function enqueue(session, source, ...)
  pending[#pending + 1] = { session, source, select("#", ...), ... }
  if idle_worker then
    local co = idle_worker
    idle_worker = nil
    skynet.wakeup(co)
  end
end

skynet.register_protocol {
  name = "queue",
  id = PTYPE_QUEUE,
  pack = skynet.pack,
  unpack = skynet.unpack,
  dispatch = enqueue,
}

local function run(f, item)
  return pcall(f, tunpack(item, 4, item[3] + 3))
end

local worker

-- Serves the FIFO until an error ends this worker; a fresh worker is forked
-- first so that the remaining messages are still served.
worker = function(f)
  while true do
    local item = tremove(pending, 1)
    if item == nil then
      idle_worker = coroutine.running()
      skynet.wait()
    else
      local session, source = item[1], item[2]
      if session == 0 then
        local ok, result = run(f, item)
        if not ok then
          skynet.fork(worker, f)
          error(sformat("[:%x] send a message to [:%x] throw an error : %s",
            source, skynet.self(), tostring(result)))
        elseif result ~= nil then
          skynet.fork(worker, f)
          error(sformat("[:%x] send a message to [:%x] return something",
            source, skynet.self()))
        end
      else
        local msg, sz = skynet.pack(run(f, item))
        core.send(source, skynet.PTYPE_RESPONSE, session, msg, sz)
      end
    end
  end
end

function mqueue.register(f)
  assert(not registered)
  registered = true
  skynet.fork(worker, f)
end

local function unwrap(ok, ...)
  if not ok then
    error(...)
  end
  return ...
end

function mqueue.call(addr, ...)
  return unwrap(skynet.call(addr, "queue", ...))
end

function mqueue.send(addr, ...)
  return skynet.send(addr, "queue", ...)
end

function mqueue.size()
  return #pending
end

return mqueue
