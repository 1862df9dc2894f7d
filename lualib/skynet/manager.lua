-- skynet.manager — service management on top of `skynet`.
--
-- Stands for the reference's lualib/skynet/manager.lua. Requiring it adds to
-- the skynet table (and returns it): launch, kill, abort, register, name,
-- forward_type, filter, monitor.

local skynet = require "skynet"
local core = require "skynet.core"

-- integer handle for 12345 / ":3039" forms, nil for names
local function handle_of(addr)
  local kind = type(addr)
  if kind == "number" then
    return addr
  end
  if kind == "string" then
    local hex = addr:match "^:(%x+)"
    if hex then
      return tonumber(hex, 16)
    end
  end
end

-- Create a service directly through the runtime (not known to the launcher).
function skynet.launch(...)
  local reply = core.command("LAUNCH", table.concat({ ... }, " "))
  if reply then
    return tonumber(reply:sub(2), 16)
  end
end

function skynet.kill(name)
  local handle = handle_of(name)
  if handle then
    skynet.send(".launcher", "lua", "REMOVE", handle, true)
    name = skynet.address(handle)
  end
  core.command("KILL", name)
end

function skynet.abort()
  core.command "ABORT"
end

-- Register `name` globally (through the harbor) when it is a global name;
-- false for a local (".name") one.
local function register_global(name, handle)
  local first = name:sub(1, 1)
  assert(first ~= ":")
  if first == "." then
    return false
  end
  assert(#name < 16) -- the harbor keeps at most 15 characters
  assert(tonumber(name) == nil)
  require("skynet.harbor").globalname(name, handle)
  return true
end

function skynet.register(name)
  if not register_global(name) then
    core.command("REG", name)
  end
end

function skynet.name(name, handle)
  if not register_global(name, handle) then
    core.command("NAME", name .. " " .. skynet.address(handle))
  end
end

local dispatch_message = skynet.dispatch_message

-- Remap protocol types before dispatch; message buffers are not freed by the
-- runtime in this mode, so unmapped ones are freed here.
function skynet.forward_type(map, start_func)
  core.callback(function(ptype, msg, sz, ...)
    local mapped = map[ptype]
    if mapped then
      return dispatch_message(mapped, msg, sz, ...)
    end
    local ok, err = pcall(dispatch_message, ptype, msg, sz, ...)
    core.trash(msg, sz)
    if not ok then
      error(err, 0)
    end
  end, true)
  skynet.timeout(0, function()
    skynet.init_service(start_func)
  end)
end

-- Let `f` rewrite every message (type, msg, sz, session, source) first.
function skynet.filter(f, start_func)
  core.callback(function(...)
    return dispatch_message(f(...))
  end)
  skynet.timeout(0, function()
    skynet.init_service(start_func)
  end)
end

-- Install a (global unique) service as the node's exit monitor.
function skynet.monitor(service, query)
  local handle
  if query then
    handle = skynet.queryservice(true, service)
  else
    handle = skynet.uniqueservice(true, service)
  end
  assert(handle, "Monitor launch failed")
  core.command("MONITOR", string.format(":%08x", handle))
  return handle
end

return skynet
