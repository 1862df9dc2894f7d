-- skynet.remotedebug — the debugged side of console `debug address`.
--
-- Stands for the reference's lualib/skynet/remotedebug.lua. The debug
-- command REMOTEDEBUG(fd, handle) calls `start(export, fd, handle)`: the
-- service enters debug mode, attaches to the debug_agent's channel and,
-- before every message it dispatches (a timer wakes it every 0.1 s), runs the
-- console lines found there. Output goes straight to the console socket `fd`.
--
-- A line is evaluated in the service: first as `return <line>` (its values are
-- printed), else as a statement. Globals are the service's; `print` writes to
-- the console; `watch(protoname [, cond])` breaks on the next message of that
-- protocol (for which `cond(...)`, if given, is true). While stopped in a
-- break: `s` steps into, `n` steps over, `c` continues, and other lines are
-- evaluated in the stopped frame (`_CO` is the stopped coroutine). `cont`
-- leaves debug mode and answers the REMOTEDEBUG request.

local skynet = require "skynet"
local debugchannel = require "skynet.debugchannel"
local socketdriver = require "skynet.socketdriver"
local injectrun = require "skynet.injectcode"

local sethook = debugchannel.sethook
local getinfo, getupvalue, setupvalue = debug.getinfo, debug.getupvalue, debug.setupvalue
local corunning = coroutine.running
local sformat = string.format

local M = {}

-- the upvalue of skynet.dispatch_message that routes one message
local ROUTE = "route"

local session -- the debug session in progress (nil when not debugging)

-- Index of the upvalue `name` of `func`, or nil.
local function upvalue_index(func, name)
  local i = 1
  while true do
    local n = getupvalue(func, i)
    if n == nil then
      return nil
    end
    if n == name then
      return i
    end
    i = i + 1
  end
end

local function upvalue(func, name)
  local i = upvalue_index(func, name)
  if i then
    return select(2, getupvalue(func, i))
  end
end

local function home_prompt()
  return sformat(":%08x>", skynet.self())
end

-- the sources a stepping break never stops in
local skynet_source = getinfo(skynet.start, "S").short_src
local own_source = getinfo(upvalue_index, "S").short_src

---------------------------------------------------------------------------
-- Evaluating console lines

local function show(print, ok, ...)
  if ok then
    print(...)
  end
  return ok
end

-- Runs `line` at stack `level` of coroutine `co`, as an expression first.
local function evaluate(print, line, env, co, level)
  if not show(print, injectrun("return " .. line, co, level, env)) then
    print(select(2, injectrun(line, co, level, env)))
  end
end

---------------------------------------------------------------------------
-- Breaks (watch) and stepping

-- per stopped-or-watched coroutine: { fresh = bool, step_over = bool, depth = n }
local breaks = {}

-- protocol class -> its own dispatch, for watches not fired yet
local watches = {}

local stepping

-- Hook while a step skips a call: back to stepping once it returned.
local function skipping(event)
  local ctx = breaks[corunning()]
  if ctx == nil then
    return
  end
  if event == "return" then
    ctx.depth = ctx.depth - 1
    if ctx.depth == 0 then
      ctx.fresh = true
      sethook(stepping, "crl")
    end
  elseif event == "call" then
    ctx.depth = ctx.depth + 1
  end
end

-- Hook while stepping: stops (yields the coroutine) at each new line.
function stepping(event, line)
  local co = corunning()
  local ctx = breaks[co]
  if ctx == nil then
    return
  end
  if event == "line" then
    if ctx.fresh then
      ctx.fresh = false
      ctx.source = getinfo(2, "S").short_src
      if ctx.source == own_source then
        -- back in the watch wrapper: the watched dispatch has finished
        breaks[co] = nil
        sethook()
        session.set_prompt(home_prompt())
        return
      end
    end
    session.set_prompt(sformat("%s(%d)>", ctx.source, line))
    return true -- yield: wait for the next console command
  end
  ctx.fresh = true
  if event ~= "return" and (ctx.step_over or getinfo(2, "S").short_src == skynet_source) then
    ctx.depth = 1
    sethook(skipping, "cr")
  end
end

-- Arms a break in the running coroutine at the first line of `target`.
local function arm(target)
  local co = corunning()
  local ctx = { fresh = true, step_over = false, depth = 0 }
  breaks[co] = ctx
  sethook(function(event)
    if event == "call" and getinfo(2, "f").func == target then
      sethook(stepping, "crl")
    end
  end, "c")
end

local function watch(protoname, cond)
  local proto = upvalue(skynet.register_protocol, "proto")
  assert(proto, "Can't find proto table")
  local p = proto[protoname]
  if p == nil then
    return "No " .. protoname
  end
  local dispatch = p.dispatch_origin or p.dispatch
  if dispatch == nil then
    return "No dispatch"
  end
  p.dispatch_origin = dispatch
  p.dispatch = function(...)
    if session and (not cond or cond(...)) then
      p.dispatch = dispatch
      watches[p] = nil
      arm(dispatch)
    end
    dispatch(...)
  end
  watches[p] = dispatch
end

-- Takes back the watches that did not fire.
local function unwatch()
  for p, dispatch in pairs(watches) do
    p.dispatch = dispatch
  end
  watches = {}
end

local function continue(co, ctx, step_over)
  ctx.step_over = step_over
  session.export.suspend(co, session.export.resume(co))
end

local break_commands = {}

function break_commands.s(co, ctx)
  continue(co, ctx, false)
end

function break_commands.n(co, ctx)
  continue(co, ctx, true)
end

function break_commands.c(co)
  sethook(co)
  breaks[co] = nil
  session.set_prompt(home_prompt())
  session.export.suspend(co, session.export.resume(co))
end

-- Clears every break; the coroutines stopped in one run on.
local function release_breaks()
  local stopped = breaks
  breaks = {}
  for co in pairs(stopped) do
    sethook(co)
  end
  for co in pairs(stopped) do
    if coroutine.status(co) == "suspended" then
      session.export.suspend(co, session.export.resume(co))
    end
  end
end

---------------------------------------------------------------------------
-- The session

-- `print` for the console: the values tostring'd and a final newline, all
-- joined by TAB ("2\t\n"; no values: "\n"), as the reference's redirected print.
local function console_print(fd)
  return function(...)
    local parts = table.pack(...)
    for i = 1, parts.n do
      parts[i] = tostring(parts[i])
    end
    parts[parts.n + 1] = "\n"
    socketdriver.send(fd, table.concat(parts, "\t", 1, parts.n + 1))
  end
end

local function leave()
  local s = session
  unwatch()
  release_breaks()
  setupvalue(s.dispatch, s.route_index, s.route)
  session = nil
  s.channel = nil
  skynet.error "Leave debug mode"
  s.respond(true)
end

-- Runs the console lines waiting in the channel (called before every
-- dispatched message while debugging).
local function poll(s)
  while true do
    if s.prompt_due then
      s.prompt_due = false
      socketdriver.send(s.fd, s.prompt)
    end
    local line = s.channel:read()
    if line == nil then
      return
    end
    if line == "cont" then
      return leave()
    end
    if line ~= "" then
      local co, ctx = next(breaks)
      if co == nil then
        -- level 3 is the pcall running the dispatch wrapper (evaluate 0,
        -- poll 1, wrapper 2): a C frame, so only globals and `env` are seen
        evaluate(s.print, line, s.env, corunning(), 3)
      else
        local command = break_commands[line]
        if command then
          command(co, ctx)
        else
          s.break_env._CO = co
          evaluate(s.print, line, s.break_env, co, 0)
        end
      end
    end
    s.prompt_due = true
  end
end

function M.start(export, fd, handle)
  assert(session == nil, "Already in debug mode")
  local dispatch = export.dispatch
  local route_index = upvalue_index(dispatch, ROUTE)
  assert(route_index, "Can't hook the message dispatcher")
  skynet.error "Enter debug mode"
  local channel = debugchannel.connect(handle)
  local print = console_print(fd)
  local s = {
    export = export,
    fd = fd,
    channel = channel,
    print = print,
    env = { print = print, watch = watch },
    break_env = { print = print },
    dispatch = dispatch,
    route_index = route_index,
    route = select(2, getupvalue(dispatch, route_index)),
    respond = skynet.response(),
    prompt = home_prompt(),
    prompt_due = true,
  }
  function s.set_prompt(text)
    s.prompt = text
    s.prompt_due = true
  end
  session = s

  local route = s.route
  setupvalue(dispatch, route_index, function(...)
    poll(s)
    route(...)
  end)

  -- wake up every 0.1 s to look at the channel while debugging
  local function tick()
    if session == s then
      skynet.timeout(10, tick)
    end
  end
  skynet.timeout(0, tick)
end

return M
