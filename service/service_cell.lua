-- service_cell: the body of one service made by skynet.service.new.
--
-- Stands for the reference's service/service_cell.lua. service_provider
-- launches `service_cell <name>` and sends it one `init` command carrying the
-- dumped main function (bytecode) and its arguments. The function is loaded
-- under the chunk name <name> and run; if it calls skynet.start, the start
-- function is kept and run as soon as the main function returns, still inside
-- `init`, which is answered afterwards. Until the user's code installs its own
-- lua dispatch, lua messages fail with "No dispatch function".

local skynet = require "skynet"

local cell_name = ...

local function refuse()
  error "No dispatch function"
end

-- Runs the user's main function; returns the start function it gave to
-- skynet.start, if any.
local function run_main(bytecode, ...)
  local start_fn
  skynet.start = function(fn)
    start_fn = fn
  end
  skynet.dispatch("lua", refuse)
  local main = assert(load(bytecode, cell_name))
  assert(skynet.pcall(main, ...))
  return start_fn
end

local commands = {
  init = function(bytecode, ...)
    local start_fn = run_main(bytecode, ...)
    if start_fn then
      start_fn()
    end
    skynet.ret()
  end,
}

skynet.start(function()
  skynet.dispatch("lua", function(_, _, what, ...)
    return commands[what](...)
  end)
end)
