-- skynet.remotedebug — the debugged side of the console's `debug address`.
--
-- Stands for the reference's lualib/skynet/remotedebug.lua (behaviour in
-- debug-console.md, "debug address"). The debug command REMOTEDEBUG(fd,
-- handle) calls `start(internals, fd, handle)`: the service logs "Enter debug
-- mode", connects to the debug_agent's channel and, until the console sends
-- "cont", looks at that channel before every message it dispatches (a timer
-- makes sure that happens at least every 0.1 s). Output goes straight to the
-- console socket `fd`; the prompt is written whenever it is due.
--
-- A console line is evaluated inside the service, first as `return <line>`
-- (values printed TAB-terminated), else as a statement. Globals are the
-- service's; `print` writes to the console; `watch(protoname [, cond])`
-- arms a break on the next message of that protocol (for which `cond(...)`
-- holds, when given). While a coroutine is stopped at a break the prompt is
-- `<source>(<line>)>`: `s` steps into, `n` steps over, `c` continues, and
-- other lines are evaluated in the stopped frame (`_CO` = the coroutine).
-- "cont" leaves debug mode ("Leave debug mode") and answers REMOTEDEBUG.

local skynet = require "skynet"
local injectrun = require "skynet.injectcode"
local socketdriver = require "skynet.socketdriver"
local debugchannel = require "skynet.debugchannel"

-- like debug.sethook, but a hook returning true yields the coroutine
local sethook = debugchannel.sethook

-- the upvalue of skynet.dispatch_message that handles one message
local ROUTE_UPVALUE = "route"

-- frames in skynet.lua are stepped over even by `s`; reaching a line of this
-- file again means the watched dispatch function has returned
local SKYNET_SOURCE = debug.getinfo(skynet.start, "S").short_src
local THIS_SOURCE = debug.getinfo(1, "S").short_src

-- the Debugger of the session in progress (nil when not debugging)
local active

-- The index and value of the upvalue called `wanted` of `fn`.
local function find_upvalue(fn, wanted)
  for index = 1, math.huge do
    local name, value = debug.getupvalue(fn, index)
    if name == nil then
      return nil
    end
    if name == wanted then
      return index, value
    end
  end
end

local function home_prompt()
  return string.format(":%08x>", skynet.self())
end

-- A print for the console: every value followed by a TAB, then a newline
-- ("2\t\n"; no values: "\n").
local function console_writer(fd)
  return function(...)
    local pieces = {}
    for i = 1, select("#", ...) do
      pieces[i] = tostring((select(i, ...))) .. "\t"
    end
    pieces[#pieces + 1] = "\n"
    socketdriver.send(fd, table.concat(pieces))
  end
end

-- Evaluates `line` in frame `level` of `co` (for the running coroutine,
-- level 0 is this function): as an expression if it compiles as one, else
-- as a statement. Prints the values, or the error.
local function evaluate(print, line, env, co, level)
  local values = table.pack(injectrun("return " .. line, co, level, env))
  if values[1] then
    print(table.unpack(values, 2, values.n))
    return
  end
  print(select(2, injectrun(line, co, level, env)))
end

---------------------------------------------------------------------------
-- Hooks. Each coroutine stopped (or about to stop) at a break has a `stop`
-- record in the active debugger:
--   fresh      a call or return happened since the last line event, so the
--              source file has to be looked up again
--   source     short_src of the function being stepped through
--   step_over  `n` (true) or `s` (false) was the last step command
--   depth      calls entered while a step skips them
--   halted     the coroutine is yielded at a break, waiting for a command

local function running_stop()
  local dbg = active
  if dbg == nil then
    return nil
  end
  local co = coroutine.running()
  return dbg, co, dbg.stops[co]
end

local step_hook

-- While a step runs through a call it does not stop in: follow the call
-- depth and go back to stepping once the skipped call has returned.
local DEPTH_CHANGE = { call = 1, ["return"] = -1 }

local function skip_hook(event)
  local _, _, stop = running_stop()
  local change = DEPTH_CHANGE[event]
  if stop == nil or change == nil then
    return
  end
  stop.depth = stop.depth + change
  if stop.depth == 0 then
    stop.fresh = true
    sethook(step_hook, "crl")
  end
end

-- While stepping: stop (yield) at every new line; calls are skipped on `n`
-- and when they go into skynet.lua.
function step_hook(event, line)
  local dbg, co, stop = running_stop()
  if stop == nil then
    return
  end
  local where = debug.getinfo(2, "S").short_src
  if event == "line" then
    return dbg:arrive(co, stop, where, line)
  end
  stop.fresh = true
  if event ~= "return" and (stop.step_over or where == SKYNET_SOURCE) then
    stop.depth = 1
    sethook(skip_hook, "cr")
  end
end

---------------------------------------------------------------------------
-- The debugger (one per session)

local Debugger = {}
Debugger.__index = Debugger

function Debugger:set_prompt(text)
  self.prompt = text
  self.prompt_due = true
end

-- A stepping coroutine reached `line` of `where`; true makes it yield.
function Debugger:arrive(co, stop, where, line)
  if stop.fresh then
    stop.fresh = false
    stop.source = where
    if where == THIS_SOURCE then
      -- back in the watch wrapper: the watched dispatch has returned
      self.stops[co] = nil
      sethook()
      self:set_prompt(home_prompt())
      return
    end
  end
  stop.halted = true
  self:set_prompt(string.format("%s(%d)>", stop.source, line))
  return true
end

-- Lets a halted coroutine run on until it stops again (or finishes).
function Debugger:run_on(co, stop)
  stop.halted = false
  self.internals.suspend(co, self.internals.resume(co))
end

-- Installs a break in the running coroutine at the first line of `target`.
function Debugger:arm(target)
  self.stops[coroutine.running()] = { fresh = true, step_over = false, depth = 0, halted = false }
  sethook(function(event)
    if event == "call" and debug.getinfo(2, "f").func == target then
      sethook(step_hook, "crl")
    end
  end, "c")
end

-- The class of protocol `protoname` and its own dispatch function; or nil
-- and the text watch() answers with.
local function watch_target(protoname)
  local _, protocols = find_upvalue(skynet.register_protocol, "proto")
  assert(protocols, "Can't find proto table")
  local class = protocols[protoname]
  if class == nil then
    return nil, "No " .. protoname
  end
  -- an earlier watch may have wrapped the dispatch already
  local own = class.dispatch_origin or class.dispatch
  if own == nil then
    return nil, "No dispatch"
  end
  return class, own
end

-- watch(protoname [, cond]) as seen by console lines: the next message of
-- that protocol (passing `cond`) stops at the first line of its dispatch.
function Debugger:watch(protoname, cond)
  local class, own = watch_target(protoname)
  if class == nil then
    return own
  end
  local function one_shot(...)
    if active == self and (not cond or cond(...)) then
      class.dispatch = own
      self.watches[class] = nil
      self:arm(own)
    end
    own(...)
  end
  class.dispatch_origin = own
  class.dispatch = one_shot
  self.watches[class] = own
end

-- `s` / `n` / `c` at a break; false for any other line.
local STEP_OVER = { s = false, n = true }

function Debugger:break_command(co, stop, line)
  local over = STEP_OVER[line]
  if over ~= nil then
    stop.step_over = over
  elseif line == "c" then
    sethook(co)
    self.stops[co] = nil
    self:set_prompt(home_prompt())
  else
    return false
  end
  self:run_on(co, stop)
  return true
end

-- the coroutine halted at a break, if any
function Debugger:halted()
  for co, stop in pairs(self.stops) do
    if stop.halted then
      return co, stop
    end
  end
end

function Debugger:handle(line)
  local co, stop = self:halted()
  if co == nil then
    -- in the frame of pcall (a C function): only globals and env are seen
    pcall(evaluate, self.print, line, self.env, coroutine.running(), 1)
  elseif not self:break_command(co, stop, line) then
    self.break_env._CO = co
    evaluate(self.print, line, self.break_env, co, 0)
  end
end

-- The console lines waiting in the channel; the prompt is written first
-- whenever it is due.
function Debugger:waiting_lines()
  return function()
    if self.prompt_due then
      self.prompt_due = false
      socketdriver.send(self.fd, self.prompt)
    end
    return self.channel:read()
  end
end

-- Runs before every dispatched message while debugging.
function Debugger:poll()
  for line in self:waiting_lines() do
    if line == "cont" then
      return self:leave()
    end
    if line ~= "" then
      self:handle(line)
    end
    self.prompt_due = true
  end
end

function Debugger:leave()
  -- watches that did not fire give their protocol its dispatch back
  for class, original in pairs(self.watches) do
    class.dispatch = original
  end
  self.watches = {}
  -- breaks are dropped; coroutines halted at one run on
  local stops = self.stops
  self.stops = {}
  for co in pairs(stops) do
    sethook(co)
  end
  for co, stop in pairs(stops) do
    if stop.halted then
      self:run_on(co, stop)
    end
  end
  debug.setupvalue(self.internals.dispatch, self.route_index, self.route)
  active = nil
  self.channel = nil
  skynet.error "Leave debug mode"
  self.respond(true)
end

local M = {}

function M.start(internals, fd, handle)
  assert(active == nil, "Already in debug mode")
  local route_index, route = find_upvalue(internals.dispatch, ROUTE_UPVALUE)
  assert(route_index, "Can't hook the message dispatcher")
  skynet.error "Enter debug mode"
  local channel = debugchannel.connect(handle)
  local print = console_writer(fd)
  local dbg = setmetatable({
    internals = internals,
    fd = fd,
    channel = channel,
    respond = skynet.response(),
    route_index = route_index,
    route = route,
    print = print,
    break_env = { print = print },
    stops = {},
    watches = {},
    prompt = home_prompt(),
    prompt_due = true,
  }, Debugger)
  dbg.env = {
    print = print,
    watch = function(...)
      return dbg:watch(...)
    end,
  }
  active = dbg

  debug.setupvalue(internals.dispatch, route_index, function(...)
    dbg:poll()
    route(...)
  end)

  -- a message at least every 0.1 s while debugging, so lines get read
  local function tick()
    if active == dbg then
      skynet.timeout(10, tick)
    end
  end
  skynet.timeout(0, tick)
end

return M
