-- skynet.service: named services whose code is a Lua function, not a file.
--
-- Stands for the reference's lualib/skynet/service.lua. The unique service
-- `service_provider` owns the names; each named service runs in its own
-- `service_cell`, which loads the function's bytecode. Because only bytecode
-- travels, the function may not capture locals: its single upvalue must be
-- _ENV (anything else fails with "assertion failed!").
--   new(name, mainfunc, ...) -> address   (the existing one if name is taken)
--   query(name) -> address                (blocks until name has booted)
--   close(name) -> true if name was running and is now killed, else false

local skynet = require "skynet.manager" -- close() needs skynet.kill

local service = {}

-- Addresses this service has already learnt, by name.
local seen = {}

local provider_address

-- One request to the provider (launched on first use).
local function ask(command, ...)
  provider_address = provider_address or skynet.uniqueservice "service_provider"
  return skynet.call(provider_address, "lua", command, ...)
end

local function remember(name, address)
  seen[name] = address
  return address
end

-- A main function is shipped as bytecode, so it must not close over locals.
local function assert_portable(fn)
  assert(debug.getinfo(fn, "u").nups == 1)
  assert(debug.getupvalue(fn, 1) == "_ENV")
end

function service.new(name, mainfunc, ...)
  local address, booting = ask("test", name)
  if booting then
    -- someone else is launching it: wait for the outcome
    address = ask("query", name)
  elseif address == nil then
    assert_portable(mainfunc)
    address = ask("launch", name, string.dump(mainfunc), ...)
  end
  return remember(name, address)
end

function service.query(name)
  return seen[name] or remember(name, ask("query", name))
end

function service.close(name)
  local address = ask("close", name)
  if not address then
    return false
  end
  seen[name] = nil
  skynet.kill(address)
  return true
end

return service
