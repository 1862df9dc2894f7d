-- Client node of the cluster ping-pong benchmark: after 1000 warm-up calls,
-- makes bench_n `cluster.call`s one at a time to "echo" on node "server",
-- then bench_n calls from bench_conc coroutines at once, prints one BENCH
-- line and aborts.
local skynet = require "skynet"
require "skynet.manager"
local cluster = require "skynet.cluster"

skynet.start(function()
  local n = tonumber(skynet.getenv "bench_n") or 20000
  local conc = tonumber(skynet.getenv "bench_conc") or 50
  local payload = string.rep("x", 64)
  for _ = 1, 1000 do
    cluster.call("server", "@echo", payload)
  end
  local t0 = skynet.hpc()
  for _ = 1, n do
    cluster.call("server", "@echo", payload)
  end
  local serial = (skynet.hpc() - t0) / 1e9
  local t1 = skynet.hpc()
  local left = conc
  local co = coroutine.running()
  for _ = 1, conc do
    skynet.fork(function()
      for _ = 1, n // conc do
        cluster.call("server", "@echo", payload)
      end
      left = left - 1
      if left == 0 then
        skynet.wakeup(co)
      end
    end)
  end
  skynet.wait(co)
  local parallel = (skynet.hpc() - t1) / 1e9
  -- print, not skynet.error: the reference drops pending log lines on abort
  print(string.format(
    "BENCH name=cluster n=%d calls_per_s=%.0f call_us=%.3f conc=%d conc_calls_per_s=%.0f",
    n, n / serial, serial / n * 1e6, conc, (n // conc * conc) / parallel))
  io.stdout:flush()
  skynet.abort()
end)
