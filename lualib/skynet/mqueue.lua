-- skynet.mqueue — serves incoming messages strictly one at a time
-- (deprecated: skynet.queue is the better tool).
--
-- Stands for the reference's lualib/skynet/mqueue.lua. Requiring it
-- registers the `queue` protocol (id 8); its messages go into a FIFO that a
-- single worker coroutine empties: each message runs the handler to the
-- end (sleeps included) before the next one starts.
--   register(f)       starts the worker, once per service
--   call(addr, ...)   the handler's results there, or its error raised here
--   send(addr, ...)   the handler must return nothing and must not fail
--   size()            messages waiting in this service's FIFO
-- The worker answers a call itself (pcall's results, packed), so skynet.lua
-- reports the request as unanswered ("Maybe forgot response ..."), as the
-- reference does. A send whose handler fails or returns something ends the
-- worker with an error; a fresh worker carries on with the FIFO.

local skynet = require "skynet"
local core = require "skynet.core"

local tunpack = table.unpack

local pending = { head = 1, tail = 0 } -- waiting messages at [head, tail]
local sleeper -- the worker, while it waits for a message
local started = false

local function take()
  local i = pending.head
  if i > pending.tail then
    return nil
  end
  local msg = pending[i]
  pending[i] = nil
  pending.head = i + 1
  return msg
end

skynet.register_protocol {
  name = "queue",
  id = skynet.PTYPE_QUEUE, -- 8
  pack = skynet.pack,
  unpack = skynet.unpack,
  dispatch = function(session, source, ...)
    local msg = table.pack(...)
    msg.session, msg.source = session, source
    pending.tail = pending.tail + 1
    pending[pending.tail] = msg
    local co = sleeper
    if co then
      sleeper = nil
      skynet.wakeup(co)
    end
  end,
}

local function serve(f)
  while true do
    local msg = take()
    if msg == nil then
      sleeper = coroutine.running()
      skynet.wait()
    elseif msg.session ~= 0 then
      core.send(msg.source, skynet.PTYPE_RESPONSE, msg.session,
        skynet.pack(pcall(f, tunpack(msg, 1, msg.n))))
    else
      local ok, result = pcall(f, tunpack(msg, 1, msg.n))
      local wrong
      if not ok then
        wrong = "throw an error : " .. tostring(result)
      elseif result ~= nil then
        wrong = "return something"
      end
      if wrong then
        skynet.fork(serve, f)
        error(string.format("[:%x] send a message to [:%x] %s", msg.source, skynet.self(), wrong))
      end
    end
  end
end

local mqueue = {}

function mqueue.size()
  return pending.tail - pending.head + 1
end

function mqueue.register(f)
  assert(not started)
  started = true
  skynet.fork(serve, f)
end

function mqueue.send(addr, ...)
  return skynet.send(addr, "queue", ...)
end

-- the remote results, or the remote error raised again
local function settle(ok, ...)
  if not ok then
    error(...)
  end
  return ...
end

function mqueue.call(addr, ...)
  return settle(skynet.call(addr, "queue", ...))
end

return mqueue
