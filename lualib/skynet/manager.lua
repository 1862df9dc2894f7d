-- skynet.manager — service management added to the `skynet` table.
--
-- Stands for the reference's lualib/skynet/manager.lua (lua-api.md section
-- 8). `require "skynet.manager"` extends the skynet table and returns it:
--   launch(...)            create a service directly through the runtime
--                          (the launcher does not know it) -> handle | nothing
--   kill(addr)             kill a service (handles are reported to the
--                          launcher first)
--   abort()                stop the node
--   register(name)         name this service; name(name, handle) names another
--   forward_type(map, f)   remap protocol types before dispatch, then start f
--   filter(f, start)       rewrite every message before dispatch, then start
--   monitor(svc [, query]) make a unique service the node's exit monitor

local skynet = require "skynet"
local core = require "skynet.core"

local dispatch_message = skynet.dispatch_message

-- The numeric handle of an address given as a number or as ":hex"; nil for
-- a name.
local handle_by_type = {
  number = function(addr)
    return addr
  end,
  string = function(addr)
    local hex = addr:match "^:(%x+)"
    return hex and tonumber(hex, 16)
  end,
}

local function numeric_handle(addr)
  local convert = handle_by_type[type(addr)]
  return convert and convert(addr)
end

function skynet.launch(...)
  -- the runtime answers ":hex", or nothing when the launch failed
  local reply = core.command("LAUNCH", table.concat({ ... }, " "))
  if reply == nil then
    return
  end
  return numeric_handle(reply)
end

function skynet.kill(addr)
  local handle = numeric_handle(addr)
  if handle == nil then
    core.command("KILL", addr)
    return
  end
  -- the launcher forgets it (and answers its creator if it is still starting)
  skynet.send(".launcher", "lua", "REMOVE", handle, true)
  core.command("KILL", skynet.address(handle))
end

function skynet.abort()
  core.command "ABORT"
end

---------------------------------------------------------------------------
-- Names: ".name" is local to the node; anything else is global and lives
-- in the harbor (at most 15 characters, never a number).

local function is_local_name(name)
  local sigil = name:sub(1, 1)
  assert(sigil ~= ":")
  return sigil == "."
end

local function name_globally(name, handle)
  assert(#name < 16)
  assert(tonumber(name) == nil)
  require("skynet.harbor").globalname(name, handle)
end

function skynet.register(name)
  if is_local_name(name) then
    core.command("REG", name)
  else
    name_globally(name)
  end
end

function skynet.name(name, handle)
  if is_local_name(name) then
    core.command("NAME", name .. " " .. skynet.address(handle))
  else
    name_globally(name, handle)
  end
end

---------------------------------------------------------------------------
-- Replacing the message callback

-- Installs `callback` (in forward mode: message buffers are not freed by
-- the runtime) and starts the service with `start_func` on the next tick.
local function take_over(callback, forward, start_func)
  core.callback(callback, forward)
  skynet.timeout(0, function()
    skynet.init_service(start_func)
  end)
end

-- A to-be-closed value that frees a message buffer when its scope ends,
-- also when the scope is left by an error.
local function buffer_release(msg, sz)
  return setmetatable({}, {
    __close = function()
      core.trash(msg, sz)
    end,
  })
end

function skynet.forward_type(map, start_func)
  take_over(function(ptype, msg, sz, ...)
    local retyped = map[ptype]
    if retyped == nil then
      -- an unmapped message: its buffer is freed here once dispatched
      local _ <close> = buffer_release(msg, sz)
      dispatch_message(ptype, msg, sz, ...)
    else
      -- the buffer travels on with the remapped message
      dispatch_message(retyped, msg, sz, ...)
    end
  end, true, start_func)
end

function skynet.filter(f, start_func)
  take_over(function(...)
    dispatch_message(f(...))
  end, false, start_func)
end

function skynet.monitor(service, query)
  local find = skynet.uniqueservice
  if query then
    find = skynet.queryservice
  end
  local handle = find(true, service)
  assert(handle, "Monitor launch failed")
  core.command("MONITOR", skynet.address(handle))
  return handle
end

return skynet
