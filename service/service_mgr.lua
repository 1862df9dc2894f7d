-- service_mgr: the keeper of unique services (skynet.uniqueservice,
-- skynet.queryservice, and their snax counterparts).
--
-- Stands for the reference's service/service_mgr.lua (same commands, replies
-- and texts). Registered as `.service`; on the node that hosts the harbor
-- master (`standalone` set) also as the global name SERVICE, which keeps the
-- cluster-wide unique services, named "@<name>". Other nodes forward their
-- global requests to SERVICE and report themselves to it for LIST.
-- A `snaxd` service is kept under "<snaxd or @snaxd>.<snax name>".
-- Commands (lua protocol) answer `result` or `nil, error text`:
--   LAUNCH name, ...   launch once, everyone else waits for that launch
--   QUERY name         wait until someone has launched it
--   GLAUNCH / GQUERY   the same for global names
--   LIST               { name = ":%08x" | "Error: <text>" | diagnostics }
--   REPORT mgr         (SERVICE only) another node's service_mgr

local skynet = require "skynet.manager"

local commands = {}

---------------------------------------------------------------------------
-- The registry
--
-- key -> entry, either settled: { handle = h } or { failure = text },
-- or pending: { waiting = { asker, ... }, starter = asker or nil },
-- an asker being { co = coroutine, session = session, source = address }.

local entries = {}

local function asker()
  local session, source = skynet.context()
  return { co = coroutine.running(), session = session, source = source }
end

-- Runs the launch of `key` and settles the entry for all who wait.
local function start(key, pending, launch, ...)
  local ok, result = pcall(launch, ...)
  assert(entries[key] == pending)
  local text
  if not ok then
    text = tostring(result)
    entries[key] = { failure = text }
  elseif result == nil then
    entries[key] = nil
  else
    entries[key] = { handle = result }
  end
  for _, waiter in ipairs(pending.waiting) do
    skynet.wakeup(waiter.co)
  end
  if not ok then
    error(text)
  end
  return result
end

-- The handle kept under `key`. When `launch` is given and nobody is launching
-- yet, this request launches it with launch(...); otherwise it waits.
local function obtain(key, launch, ...)
  local entry = entries[key]
  if entry == nil then
    entry = { waiting = {} }
    entries[key] = entry
  elseif entry.handle then
    return entry.handle
  elseif entry.failure then
    error(entry.failure)
  end
  local me = asker()
  if launch and entry.starter == nil then
    entry.starter = me
    return start(key, entry, launch, ...)
  end
  table.insert(entry.waiting, me)
  skynet.wait()
  local now = entries[key]
  if now and now.failure then
    error(now.failure)
  end
  assert(now and now.handle)
  return now.handle
end

-- The registry key of a request, and the service name without its "@".
local function key_of(service_name, subname)
  local bare = service_name
  if string.byte(service_name) == 64 then -- "@"
    bare = string.sub(service_name, 2)
  end
  if bare == "snaxd" then
    return service_name .. "." .. subname, bare
  end
  return service_name, bare
end

function commands.LAUNCH(service_name, subname, ...)
  local key, bare = key_of(service_name, subname)
  if bare == "snaxd" then
    local snax = require "skynet.snax"
    return obtain(key, snax.rawnewservice, subname, ...)
  end
  return obtain(key, skynet.newservice, bare, subname, ...)
end

function commands.QUERY(service_name, subname)
  return obtain((key_of(service_name, subname)))
end

---------------------------------------------------------------------------
-- LIST

-- What a pending entry is busy with: the launch in progress (traced in the
-- new service and in the service that asked for it) and who else waits.
local function diagnose(entry)
  local lines = {}
  local function say(text)
    lines[#lines + 1] = text
  end
  local starter = entry.starter
  if starter then
    local launching = skynet.call(".launcher", "lua", "QUERY", skynet.task(starter.co))
    if launching then
      say("Init as " .. skynet.address(launching))
      say(skynet.call(launching, "debug", "TASK", "init"))
      say("Launching from " .. skynet.address(starter.source))
      say(skynet.call(starter.source, "debug", "TASK", starter.session))
    end
  end
  if #entry.waiting > 0 then
    say "Querying:"
    for _, waiter in ipairs(entry.waiting) do
      local task = skynet.call(waiter.source, "debug", "TASK", waiter.session)
      say(skynet.address(waiter.source) .. " " .. tostring(task))
    end
  end
  return table.concat(lines, "\n")
end

local function local_list()
  local list = {}
  for key, entry in pairs(entries) do
    if entry.failure then
      list[key] = "Error: " .. entry.failure
    elseif entry.handle then
      list[key] = skynet.address(entry.handle)
    else
      list[key] = diagnose(entry)
    end
  end
  return list
end

---------------------------------------------------------------------------
-- Global names

-- This node hosts SERVICE: global names are kept here.
local function keep_globals()
  local reporters = {}

  function commands.GLAUNCH(name, ...)
    return commands.LAUNCH("@" .. name, ...)
  end

  function commands.GQUERY(name, ...)
    return commands.QUERY("@" .. name, ...)
  end

  function commands.REPORT(mgr)
    reporters[mgr] = true
  end

  -- the lists of the other nodes (suffixed "@<harbor>"), then ours on top
  function commands.LIST()
    local list = {}
    for mgr in pairs(reporters) do
      pcall(function()
        local suffix = "@" .. skynet.harbor(mgr)
        for key, text in pairs(skynet.call(mgr, "lua", "LIST")) do
          list[key .. suffix] = text
        end
      end)
    end
    for key, text in pairs(local_list()) do
      list[key] = text
    end
    return list
  end
end

-- Another node hosts SERVICE: global requests go there, one at a time per name.
local function forward_globals()
  for command, remote in pairs { GLAUNCH = "LAUNCH", GQUERY = "QUERY" } do
    commands[command] = function(name, ...)
      local global = "@" .. name
      return obtain(key_of(global, (...)), skynet.call, "SERVICE", "lua", remote, global, ...)
    end
  end
  commands.LIST = local_list

  skynet.call("SERVICE", "lua", "REPORT", skynet.self())
end

---------------------------------------------------------------------------

local function serve(_, _, command, ...)
  local handler = commands[command]
  if handler == nil then
    return skynet.ret(skynet.pack(nil, "Invalid command " .. tostring(command)))
  end
  local ok, result = pcall(handler, ...)
  if not ok then
    return skynet.ret(skynet.pack(nil, result))
  end
  skynet.ret(skynet.pack(result))
end

skynet.start(function()
  skynet.dispatch("lua", serve)

  local taken_by = skynet.localname ".service"
  if taken_by then
    skynet.error(".service is already register by ", skynet.address(taken_by))
    skynet.exit()
  else
    skynet.register ".service"
  end

  if skynet.getenv "standalone" then
    skynet.register "SERVICE"
    keep_globals()
  else
    forward_globals()
  end
end)
