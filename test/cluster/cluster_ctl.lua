-- cluster_ctl — registered as "@ctl" by the client node of tests/cluster.rs:
-- a restarted server calls `back <name>` here; it is passed to the client's
-- start service (set with `owner`).

local skynet = require "skynet"

local owner

skynet.start(function()
  skynet.dispatch("lua", function(_, _, cmd, ...)
    if cmd == "owner" then
      owner = ...
      skynet.ret(skynet.pack(true))
    else
      skynet.ret(skynet.pack(skynet.call(owner, "lua", cmd, ...)))
    end
  end)
end)
