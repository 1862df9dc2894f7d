-- launcher — creates services for skynet.newservice and keeps their list.
--
-- Stands for the reference's service/launcher.lua; named `.launcher` by
-- bootstrap. LAUNCH creates the service through the runtime and answers the
-- creator only when the new service reports back: LAUNCHOK (start function
-- returned) -> its handle; ERROR (load/start failure) -> error; REMOVE
-- (exited or killed during start) -> nil or error. C services report with a
-- text message ("" = ok, "ERROR"). Other commands inspect the services it
-- launched (LIST, STAT, MEM, GC), KILL one, or QUERY a pending launch.
-- Command names are case-insensitive; unknown ones answer {"Unknown command"}.

local skynet = require "skynet.manager"
local core = require "skynet.core"

local services = {} -- handle -> "<module> <args>" of live launched services
local starting = {} -- handle -> response closure of the LAUNCH that created it
local launch_session = {} -- handle -> session of that LAUNCH request
local NORET = {} -- the command answered (or will answer) by itself

-- Commands receive the requester's address first. Kept under the name
-- `command`: inject scripts patch it through _P.lua.command.
local command = {}

function command.LIST()
  local list = {}
  for handle, desc in pairs(services) do
    list[skynet.address(handle)] = desc
  end
  return list
end

-- Ask every launched service a debug command at once; `shape(reply, handle)`
-- makes the listed value; "ERROR"/"TIMEOUT" replace replies that failed or
-- did not come within `ti` ticks.
local function poll_services(ti, shape, ...)
  local list, pending = {}, {}
  local req = skynet.request()
  for handle in pairs(services) do
    local r = { handle, "debug", ... }
    req:add(r)
    pending[r] = handle
  end
  for r, reply in req:select(ti) do
    local handle = r[1]
    pending[r] = nil
    if reply then
      list[skynet.address(handle)] = shape(reply[1], handle)
    else
      list[skynet.address(handle)] = shape("ERROR", handle)
    end
  end
  for _, handle in pairs(pending) do
    list[skynet.address(handle)] = shape("TIMEOUT", handle)
  end
  return list
end

local function as_is(v)
  return v
end

local function memory_line(kb, handle)
  local desc = services[handle]
  if type(kb) == "string" then
    return string.format("%s (%s)", kb, desc)
  end
  return string.format("%.2f Kb (%s)", kb, desc)
end

function command.STAT(_, ti)
  return poll_services(ti, as_is, "STAT")
end

function command.MEM(_, ti)
  return poll_services(ti, memory_line, "MEM")
end

function command.GC(from, ti)
  for handle in pairs(services) do
    skynet.send(handle, "debug", "GC")
  end
  return command.MEM(from, ti)
end

function command.KILL(_, handle)
  skynet.kill(handle)
  local result = { [skynet.address(handle)] = tostring(services[handle]) }
  services[handle] = nil
  return result
end

-- sent by a service that exits (kill == false) or by skynet.kill (true)
function command.REMOVE(_, handle, kill)
  services[handle] = nil
  local respond = starting[handle]
  if respond then
    -- still starting: its creator gets nil (exit) or an error (kill)
    respond(not kill)
    starting[handle] = nil
    launch_session[handle] = nil
  end
  return NORET -- the sender may be gone already
end

local function start_service(module, ...)
  local args = table.concat({ ... }, " ")
  local handle = skynet.launch(module, args)
  local session = skynet.context()
  local respond = skynet.response()
  if not handle then
    respond(false)
    return
  end
  services[handle] = module .. " " .. args
  starting[handle] = respond
  launch_session[handle] = session
  return handle
end

function command.LAUNCH(_, module, ...)
  start_service(module, ...)
  return NORET
end

function command.LOGLAUNCH(_, module, ...)
  local handle = start_service(module, ...)
  if handle then
    core.command("LOGON", skynet.address(handle))
  end
  return NORET
end

-- the new service failed to load or start
function command.ERROR(handle)
  local respond = starting[handle]
  if respond then
    respond(false)
    starting[handle] = nil
    launch_session[handle] = nil
  end
  services[handle] = nil
  return NORET
end

-- the new service's start function returned
function command.LAUNCHOK(handle)
  local respond = starting[handle]
  if respond then
    respond(true, handle)
    starting[handle] = nil
    launch_session[handle] = nil
  end
  return NORET
end

-- which service is being launched for the LAUNCH request `session`
function command.QUERY(_, session)
  for handle, s in pairs(launch_session) do
    if s == session then
      return handle
    end
  end
end

-- C services report the end of their init with a text message
skynet.register_protocol {
  name = "text",
  id = skynet.PTYPE_TEXT,
  unpack = skynet.tostring,
  dispatch = function(_, source, text)
    if text == "" then
      command.LAUNCHOK(source)
    elseif text == "ERROR" then
      command.ERROR(source)
    else
      error("Invalid text command " .. text)
    end
  end,
}

skynet.dispatch("lua", function(_, source, cmd, ...)
  local f = command[string.upper(cmd)]
  if not f then
    skynet.ret(skynet.pack { "Unknown command" })
    return
  end
  local result = f(source, ...)
  if result ~= NORET then
    skynet.ret(skynet.pack(result))
  end
end)

skynet.start(function() end)
