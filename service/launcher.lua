-- launcher — creates the services asked for by skynet.newservice and keeps
-- the list of those still alive.
--
-- Stands for the reference's service/launcher.lua; named `.launcher` by
-- bootstrap. Protocol (runtime.md / lua-api.md):
--   LAUNCH module args...     create the service; the creator is answered
--   LOGLAUNCH module args...  when the new service reports: LAUNCHOK -> its
--                             handle, ERROR -> error, REMOVE while starting
--                             -> nil (it exited) or error (it was killed).
--                             LOGLAUNCH also opens its message log.
--   LIST / STAT / MEM / GC    tables over the launched services.
--   KILL handle               kill one, answer its launch string.
--   QUERY session             which service the LAUNCH request `session` is
--                             creating.
-- C services report through the "text" protocol ("" = ok, "ERROR").
-- Command names are case-insensitive; an unknown one is answered with
-- {"Unknown command"}.

local skynet = require "skynet"
local core = require "skynet.core"
require "skynet.manager" -- skynet.launch, skynet.kill

-- live services started here: handle -> "<module> <args>"
local launched = {}

-- LAUNCH requests still waiting for their service:
-- handle -> { reply = response closure, session = request session }
local waiting_launch = {}

-- Every command answers its caller through `reply` when it has something
-- to say. The table keeps the name `command`: hotfix scripts reach it as
-- _P.lua.command.
local command = {}

local function reply(...)
  return skynet.ret(skynet.pack(...))
end

-- Takes over the reply to the current request: the response closure and the
-- request's session (read first: response() takes the session away).
local function defer_reply()
  local session = skynet.context()
  return skynet.response(), session
end

-- Gives the creator of `handle` its answer, if it is still waiting.
local function answer_creator(handle, ...)
  local waiter = waiting_launch[handle]
  if waiter == nil then
    return
  end
  waiting_launch[handle] = nil
  waiter.reply(...)
end

---------------------------------------------------------------------------
-- Creating services

-- LAUNCH / LOGLAUNCH: the answer is deferred until the new service reports.
local function create(open_log, module, ...)
  local params = table.concat({ ... }, " ")
  local handle = skynet.launch(module, params)
  local respond, session = defer_reply()
  if handle == nil then
    return respond(false)
  end
  launched[handle] = module .. " " .. params
  waiting_launch[handle] = { reply = respond, session = session }
  if open_log then
    core.command("LOGON", skynet.address(handle))
  end
end

function command.LAUNCH(_, ...)
  create(false, ...)
end

function command.LOGLAUNCH(_, ...)
  create(true, ...)
end

-- the new service's start function has returned
function command.LAUNCHOK(handle)
  answer_creator(handle, true, handle)
end

-- the new service failed to load or to start
function command.ERROR(handle)
  launched[handle] = nil
  answer_creator(handle, false)
end

-- Sent by a service that exits (killed = false) and by skynet.kill (true).
-- Not answered: the sender may be gone already.
function command.REMOVE(_, handle, killed)
  launched[handle] = nil
  answer_creator(handle, not killed)
end

function command.QUERY(_, session)
  for handle, waiter in pairs(waiting_launch) do
    if waiter.session == session then
      return reply(handle)
    end
  end
  reply(nil)
end

---------------------------------------------------------------------------
-- Looking at the launched services

local function by_address(handles, label)
  local list = {}
  for handle, value in pairs(handles) do
    list[skynet.address(handle)] = label(handle, value)
  end
  return list
end

function command.LIST()
  reply(by_address(launched, function(_, desc)
    return desc
  end))
end

-- Asks every launched service the debug command `what` at once and waits at
-- most `ticks` (nil: no bound). `label(handle, value)` makes the entry of a
-- service from its answer, "ERROR" when its request failed, or "TIMEOUT".
local function survey(ticks, what, label)
  local list = {}
  local unanswered = {}
  local batch = skynet.request()
  for handle in pairs(launched) do
    unanswered[handle] = true
    batch:add { handle, "debug", what }
  end
  for sent, answer in batch:select(ticks) do
    local handle = sent[1]
    unanswered[handle] = nil
    local value = "ERROR"
    if answer then
      value = answer[1]
    end
    list[skynet.address(handle)] = label(handle, value)
  end
  for handle in pairs(unanswered) do
    list[skynet.address(handle)] = label(handle, "TIMEOUT")
  end
  return list
end

local function stat_label(_, stat)
  return stat
end

-- "<kb> Kb (<launch string>)", or "<problem> (<launch string>)"
local function memory_label(handle, kb)
  local amount = kb
  if type(kb) ~= "string" then
    amount = string.format("%.2f Kb", kb)
  end
  return string.format("%s (%s)", amount, launched[handle])
end

function command.STAT(_, ticks)
  reply(survey(ticks, "STAT", stat_label))
end

function command.MEM(_, ticks)
  reply(survey(ticks, "MEM", memory_label))
end

function command.GC(source, ticks)
  for handle in pairs(launched) do
    skynet.send(handle, "debug", "GC")
  end
  return command.MEM(source, ticks)
end

function command.KILL(_, handle)
  skynet.kill(handle)
  local desc = launched[handle]
  launched[handle] = nil
  reply { [skynet.address(handle)] = tostring(desc) }
end

---------------------------------------------------------------------------
-- Protocols

-- text message -> the command it stands for
local TEXT_REPORTS = {
  [""] = "LAUNCHOK",
  ERROR = "ERROR",
}

local function text_report(_, source, text)
  local report = TEXT_REPORTS[text]
  if report == nil then
    error("Invalid text command " .. text)
  end
  command[report](source)
end

skynet.register_protocol {
  id = skynet.PTYPE_TEXT,
  name = "text",
  unpack = skynet.tostring,
  dispatch = text_report,
}

skynet.dispatch("lua", function(_, source, name, ...)
  local handler = command[string.upper(name)]
  if handler then
    return handler(source, ...)
  end
  reply { "Unknown command" }
end)

skynet.start(function() end)
