-- service_provider: keeper of the services made by skynet.service.new.
--
-- Stands for the reference's service/service_provider.lua (a unique service,
-- same commands and replies). Each name gets one `service_cell`, booted with
-- the bytecode of the user's main function and its arguments. Commands
-- (lua protocol, answered with skynet.ret):
--   test name    -> address | nil, true (booting) | nothing; raises the boot
--                   error of a name that failed
--   launch name, bytecode, ...  -> address (boots the cell unless another
--                   launch does; then waits for that one)
--   query name   -> address, once booted (waits; raises if the boot failed)
--   close name   -> the address, forgetting the name (nil if unknown or
--                   still booting)
-- The debug INFO lists every cell: name, init arguments, boot time, status.

local skynet = require "skynet"

-- name -> cell:
--   waiters  responses owed until the boot settles (nil once settled)
--   booting  true while a launch is under way
--   address  the service_cell, once booted
--   failure  the boot error, when it failed
--   init     the boot arguments as text; time  when it booted
local cells = {}

local function cell_of(name)
  local cell = cells[name]
  if cell == nil then
    cell = { waiters = {} }
    cells[name] = cell
  end
  return cell
end

local function reply(...)
  skynet.ret(skynet.pack(...))
end

-- Answers later, when the boot of `cell` settles.
local function postpone(cell)
  table.insert(cell.waiters, skynet.response())
end

-- Answers everyone waiting for `cell`: its address, or a failure.
local function settle(cell, address)
  local waiters = cell.waiters or {}
  cell.waiters = nil
  for _, respond in ipairs(waiters) do
    if address then
      respond(true, address)
    else
      respond(false)
    end
  end
end

local function args_text(...)
  local n = select("#", ...)
  if n == 0 then
    return nil
  end
  local words = {}
  for i = 1, n do
    words[i] = tostring((select(i, ...)))
  end
  return table.concat(words, ",")
end

-- Runs the user's code in the new cell and notes how it was booted.
local function initialise(cell, address, bytecode, ...)
  skynet.call(address, "lua", "init", bytecode, ...)
  cell.init = args_text(...) or cell.init
  cell.time = skynet.time()
end

-- true, address | false, error [, address of a cell to get rid of]
local function boot(cell, name, bytecode, ...)
  local made, address = pcall(skynet.newservice, "service_cell", name)
  if not made then
    return false, address
  end
  local ok, err = xpcall(initialise, debug.traceback, cell, address, bytecode, ...)
  if not ok then
    return false, err, address
  end
  return true, address
end

local commands = {}

function commands.launch(name, bytecode, ...)
  local cell = cell_of(name)
  if cell.address then
    return reply(cell.address)
  end
  if cell.booting then
    return postpone(cell)
  end
  cell.booting = true
  local ok, result, leftover = boot(cell, name, bytecode, ...)
  cell.booting = nil
  if ok then
    cell.address = result
    settle(cell, result)
    return reply(result)
  end
  if leftover then
    skynet.send(leftover, "debug", "EXIT")
  end
  cell.failure = result
  settle(cell, nil)
  error(result)
end

function commands.query(name)
  local cell = cell_of(name)
  if cell.waiters then
    return postpone(cell)
  end
  if cell.address then
    return reply(cell.address)
  end
  error(cell.failure)
end

function commands.test(name)
  local cell = cell_of(name)
  if cell.booting then
    return reply(nil, true)
  end
  if cell.address then
    return reply(cell.address)
  end
  if cell.failure then
    error(cell.failure)
  end
  skynet.ret()
end

function commands.close(name)
  local cell = cells[name]
  if cell == nil or cell.booting then
    return reply(nil)
  end
  cells[name] = nil
  reply(cell.address)
end

-- "booting", "waiting(<n>)" while askers wait for the first launch, or nil.
local function status_of(cell)
  if cell.booting then
    return "booting"
  end
  return cell.waiters and string.format("waiting(%d)", #cell.waiters)
end

-- debug INFO: address -> { name, init, status, time }
local function info()
  local out = {}
  for name, cell in pairs(cells) do
    local booted = cell.time and os.date("%Y %b %d %T %z", math.floor(cell.time))
    out[skynet.address(cell.address)] = {
      name = name,
      init = cell.init,
      status = status_of(cell),
      time = booted,
    }
  end
  return out
end

local function serve(_, _, command, ...)
  commands[command](...)
end

skynet.start(function()
  skynet.info_func(info)
  skynet.dispatch("lua", serve)
end)
