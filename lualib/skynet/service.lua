-- skynet.service — services defined by a Lua function instead of a file.
--
-- Stands for the reference's lualib/skynet/service.lua. A unique
-- `service_provider` keeps the named services; each runs in its own
-- `service_cell`, which loads the function's bytecode. The function must not
-- capture locals: its only upvalue may be _ENV.
--   new(name, mainfunc, ...) -> handle (existing one if the name is taken)
--   query(name) -> handle (waits until the service is booted)
--   close(name) -> true if it was known and has been killed

local skynet = require "skynet.manager" -- skynet.kill is used by close()

local service = {}
local known = {} -- name -> handle, per calling service
local provider

local function provider_handle()
  if not provider then
    provider = skynet.uniqueservice "service_provider"
  end
  return provider
end

local function check_upvalues(func)
  assert(debug.getinfo(func, "u").nups == 1)
  assert(debug.getupvalue(func, 1) == "_ENV")
end

function service.new(name, mainfunc, ...)
  local p = provider_handle()
  local handle, booting = skynet.call(p, "lua", "test", name)
  if not handle then
    if booting then
      handle = skynet.call(p, "lua", "query", name)
    else
      check_upvalues(mainfunc)
      handle = skynet.call(p, "lua", "launch", name, string.dump(mainfunc), ...)
    end
  end
  known[name] = handle
  return handle
end

function service.close(name)
  local handle = skynet.call(provider_handle(), "lua", "close", name)
  if handle then
    known[name] = nil
    skynet.kill(handle)
    return true
  end
  return false
end

function service.query(name)
  local handle = known[name]
  if not handle then
    handle = skynet.call(provider_handle(), "lua", "query", name)
    known[name] = handle
  end
  return handle
end

return service
