-- test_mqueue — tests of skynet.mqueue (run by tests/lib.rs).
--
-- Stands for no file of the reference (test service). The worker service
-- (mqueue_worker) handles one message at a time even when its handler
-- sleeps; calls get the handler's results or its error; sends must return
-- nothing and not fail (each violation is logged by the worker, which keeps
-- serving).

local skynet = require "skynet"
local mqueue = require "skynet.mqueue"
local T = require "libtest"

local worker

T.case("call", function()
  T.eq(mqueue.call(worker, "add", 41), 42, "add 41")
end)

T.case("order", function()
  -- sends sleep inside the handler: they must still be handled one by one,
  -- in arrival order, before the call that follows them
  for i = 1, 5 do
    mqueue.send(worker, "log", i)
  end
  T.eq(mqueue.call(worker, "journal"), "1,2,3,4,5", "journal")
end)

T.case("error", function()
  local err = T.raises("mqerr", mqueue.call, worker, "fail")
  T.ok(err:find("mqueue.lua:%d+: .*mqueue_worker.lua:%d+: mqerr"), "error text " .. err)
  -- the worker keeps serving after an error
  T.eq(mqueue.call(worker, "add", 1), 2, "after error")
end)

T.case("send", function()
  mqueue.send(worker, "log", "x")
  T.eq(mqueue.call(worker, "journal"), "1,2,3,4,5,x", "journal after send")
end)

T.case("send_error", function()
  -- a failing or value-returning handler of a send is logged by the worker,
  -- which forks a fresh worker coroutine and goes on
  mqueue.send(worker, "fail")
  mqueue.send(worker, "give")
  T.eq(mqueue.call(worker, "add", 2), 3, "after send errors")
end)

T.case("size", function()
  -- "hold" blocks the worker: what is sent after it waits in the queue
  mqueue.send(worker, "hold")
  mqueue.send(worker, "log", "a")
  mqueue.send(worker, "log", "b")
  T.eq(skynet.call(worker, "lua", "size"), 2, "queued behind hold")
  T.eq(skynet.call(worker, "lua", "release"), true, "release")
  T.eq(mqueue.call(worker, "journal"), "1,2,3,4,5,x,a,b", "journal after hold")
  T.eq(skynet.call(worker, "lua", "size"), 0, "drained")
  T.eq(mqueue.size(), 0, "nothing queued here")
end)

skynet.start(function()
  worker = skynet.newservice "mqueue_worker"
  T.run "mqueue"
end)
