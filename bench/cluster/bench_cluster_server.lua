-- Server node of the cluster ping-pong benchmark (bench/cluster/run): opens
-- the cluster port named "server" in the node table and registers an echo
-- service as "echo". Uses only the public API, so it runs unchanged on
-- skynet-rs and on the reference.
local skynet = require "skynet"
local cluster = require "skynet.cluster"

skynet.start(function()
  local echo = skynet.newservice("bench_cluster_echo")
  cluster.register("echo", echo)
  cluster.open("server")
  skynet.error("BENCH_CLUSTER_SERVER_READY")
end)
