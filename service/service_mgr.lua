-- service_mgr — unique services (skynet.uniqueservice / queryservice).
--
-- Stands for the reference's service/service_mgr.lua; registered as
-- `.service`, and in the node hosting the master also as the global name
-- SERVICE, which owns the cluster-wide ("@name") unique services.
-- Every name is in one of three states:
--   a handle (number)  launched;
--   a string           the launch failed, the text is raised to every asker;
--   a table            being launched or waited for: { launch = info of the
--                      LAUNCH in progress, [1..n] = waiting askers }.
-- Requests answer `handle` or `nil, error text`.

local skynet = require "skynet.manager"

local cmd = {}
local registry = {}

-- launch `name` with func(...) and publish the outcome to everyone waiting
local function launch_now(name, func, ...)
  local ok, result = pcall(func, ...)
  local entry = registry[name]
  assert(type(entry) == "table")
  if ok then
    registry[name] = result
  else
    registry[name] = tostring(result)
  end
  for _, asker in ipairs(entry) do
    skynet.wakeup(asker.co)
  end
  if not ok then
    error(tostring(result))
  end
  return result
end

-- handle of `name`; launches it with func(...) if nobody does yet (and func
-- is given), else waits for whoever launches it
local function resolve(name, func, ...)
  local entry = registry[name]
  if type(entry) == "number" then
    return entry
  end
  if type(entry) == "string" then
    error(entry)
  end
  if entry == nil then
    entry = {}
    registry[name] = entry
  end

  local session, source = skynet.context()
  local me = coroutine.running()
  if func and entry.launch == nil then
    entry.launch = { co = me, session = session, source = source }
    return launch_now(name, func, ...)
  end

  entry[#entry + 1] = { co = me, session = session, source = source }
  skynet.wait()
  entry = registry[name]
  if type(entry) == "string" then
    error(entry)
  end
  assert(type(entry) == "number")
  return entry
end

-- "@name" is the global flavour of "name"
local function plain_name(name)
  if name:sub(1, 1) == "@" then
    return name:sub(2)
  end
  return name
end

function cmd.LAUNCH(name, subname, ...)
  local real = plain_name(name)
  if real == "snaxd" then
    local snax = require "skynet.snax"
    return resolve(name .. "." .. subname, snax.rawnewservice, subname, ...)
  end
  return resolve(name, skynet.newservice, real, subname, ...)
end

function cmd.QUERY(name, subname)
  if plain_name(name) == "snaxd" then
    return resolve(name .. "." .. subname)
  end
  return resolve(name)
end

-- what every known name is doing, with tracebacks for pending launches
local function describe_all()
  local result = {}
  for name, entry in pairs(registry) do
    local text
    if type(entry) == "string" then
      text = "Error: " .. entry
    elseif type(entry) == "number" then
      text = skynet.address(entry)
    else
      local lines = {}
      local launch = entry.launch
      if launch then
        local session = skynet.task(launch.co)
        local booting = skynet.call(".launcher", "lua", "QUERY", session)
        if booting then
          lines[#lines + 1] = "Init as " .. skynet.address(booting)
          lines[#lines + 1] = skynet.call(booting, "debug", "TASK", "init")
          lines[#lines + 1] = "Launching from " .. skynet.address(launch.source)
          lines[#lines + 1] = skynet.call(launch.source, "debug", "TASK", launch.session)
        end
      end
      if #entry > 0 then
        lines[#lines + 1] = "Querying:"
        for _, asker in ipairs(entry) do
          lines[#lines + 1] = skynet.address(asker.source) .. " "
            .. tostring(skynet.call(asker.source, "debug", "TASK", asker.session))
        end
      end
      text = table.concat(lines, "\n")
    end
    result[name] = text
  end
  return result
end

-- this node owns the global unique services (it hosts SERVICE)
local function serve_globals()
  function cmd.GLAUNCH(name, ...)
    return cmd.LAUNCH("@" .. name, ...)
  end

  function cmd.GQUERY(name, ...)
    return cmd.QUERY("@" .. name, ...)
  end

  local reporters = {} -- service_mgr of other nodes
  function cmd.REPORT(mgr)
    reporters[mgr] = true
  end

  local function merge_remote(into, mgr)
    local suffix = "@" .. skynet.harbor(mgr)
    for name, text in pairs(skynet.call(mgr, "lua", "LIST")) do
      into[name .. suffix] = text
    end
  end

  function cmd.LIST()
    local result = {}
    for mgr in pairs(reporters) do
      pcall(merge_remote, result, mgr)
    end
    for name, text in pairs(describe_all()) do
      result[name] = text
    end
    return result
  end
end

-- global unique services live in the SERVICE of another node
local function forward_globals()
  local function remote(what, name, ...)
    local global = "@" .. name
    local key = global
    if name == "snaxd" then
      key = global .. "." .. (...)
    end
    return resolve(key, skynet.call, "SERVICE", "lua", what, global, ...)
  end

  function cmd.GLAUNCH(...)
    return remote("LAUNCH", ...)
  end

  function cmd.GQUERY(...)
    return remote("QUERY", ...)
  end

  function cmd.LIST()
    return describe_all()
  end

  skynet.call("SERVICE", "lua", "REPORT", skynet.self())
end

skynet.start(function()
  skynet.dispatch("lua", function(_, _, command, ...)
    local f = cmd[command]
    if not f then
      skynet.ret(skynet.pack(nil, "Invalid command " .. tostring(command)))
      return
    end
    local ok, result = pcall(f, ...)
    if ok then
      skynet.ret(skynet.pack(result))
    else
      skynet.ret(skynet.pack(nil, result))
    end
  end)

  local other = skynet.localname ".service"
  if other then
    skynet.error(".service is already register by ", skynet.address(other))
    skynet.exit()
  else
    skynet.register ".service"
  end

  if skynet.getenv "standalone" then
    skynet.register "SERVICE"
    serve_globals()
  else
    forward_globals()
  end
end)
