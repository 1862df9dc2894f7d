-- service_cell — runs one service made by skynet.service.new.
--
-- Stands for the reference's service/service_cell.lua. Started by
-- service_provider as `service_cell <name>`; its `init` command loads the
-- dumped main function (chunk name = the service name) and runs it with the
-- given arguments. skynet.start inside that function is captured and its
-- start function runs right away, during `init`. Until the main function
-- installs its own, the lua dispatch raises "No dispatch function".

local skynet = require "skynet"

local name = ...
local handlers = {}

function handlers.init(code, ...)
  local start_func
  skynet.start = function(f)
    start_func = f
  end
  skynet.dispatch("lua", function()
    error "No dispatch function"
  end)
  local main = assert(load(code, name))
  assert(skynet.pcall(main, ...))
  if start_func then
    start_func()
  end
  skynet.ret()
end

skynet.start(function()
  skynet.dispatch("lua", function(_, _, cmd, ...)
    handlers[cmd](...)
  end)
end)
