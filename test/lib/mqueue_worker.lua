-- mqueue_worker — helper service for test_mqueue: serves skynet.mqueue.
--
-- Stands for no file of the reference (test service). Handlers:
--   add n      -> n + 1 after sleeping a tick (the queue must hold others)
--   log x      -> records x (in arrival order), no answer needed
--   journal    -> the recorded values, in order
--   fail       -> raises "mqerr"
--   give       -> returns a value (an error when sent, not called)
--   hold       -> waits until released through the lua protocol
-- and, through the lua protocol: size (mqueue.size), release (ends hold).

local skynet = require "skynet"
local mqueue = require "skynet.mqueue"

local journal = {}

local handlers = {}

function handlers.add(n)
  skynet.sleep(1)
  return n + 1
end

function handlers.log(x)
  skynet.sleep(1)
  journal[#journal + 1] = x
end

function handlers.journal()
  return table.concat(journal, ",")
end

function handlers.fail()
  error "mqerr"
end

function handlers.give()
  return "something"
end

local held = {}

function handlers.hold()
  skynet.wait(held)
end

skynet.start(function()
  skynet.dispatch("lua", function(_, _, cmd)
    if cmd == "size" then
      skynet.retpack(mqueue.size())
    else
      skynet.retpack(skynet.wakeup(held))
    end
  end)
  mqueue.register(function(cmd, ...)
    return handlers[cmd](...)
  end)
end)
