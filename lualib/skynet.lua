-- skynet — the Lua API of a skynet service.
--
-- Stands for the reference's lualib/skynet.lua. It owns everything a service
-- does with messages: the protocol table, dispatching every incoming message
-- into a (pooled) coroutine, sessions for calls/timers/waits, replies and
-- error propagation, forks and wake-ups, request objects (`select`), tracing,
-- service exit, and the helpers that create and find services. The runtime is
-- reached only through the native module `skynet.core`.
--
-- Scheduling model (one service, one Lua state, no parallelism):
--   a message arrives -> `dispatch_message` routes it and resumes one
--   coroutine; when that coroutine yields back, the coroutines woken meanwhile
--   run, then the sessions failed by ERROR messages, then the forks (FIFO),
--   each fork followed again by woken coroutines. Errors raised anywhere in
--   that round are collected and re-raised at the end, so the runtime logs
--   them with the header of the message being handled.
--
-- A framework coroutine yields one command word to the dispatcher:
--   "SUSPEND" waiting for a session (or parked back in the pool),
--   "QUIT"    the service exited, "USER" a misplaced skynet.coroutine.yield.

local core = require "skynet.core"
local modinit = require "skynet.require"

local assert, error, pairs, next, pcall, xpcall = assert, error, pairs, next, pcall, xpcall
local select, setmetatable, tostring, type = select, setmetatable, tostring, type
local sformat = string.format
local tinsert, tremove, tconcat = table.insert, table.remove, table.concat
local tpack, tunpack, tmove = table.pack, table.unpack, table.move
local cocreate, coyield, corunning = coroutine.create, coroutine.yield, coroutine.running
local coclose, costatus = coroutine.close, coroutine.status
-- snlua replaced coroutine.resume by the profiling one before any service code
local coresume = coroutine.resume
local traceback = debug.traceback
local csend = core.send

local PTYPE_RESPONSE = 1
local PTYPE_ERROR = 7
local PTYPE_TRACE = 12

-- Message type numbers (skynet.h). PTYPE_QUEUE serves only the deprecated
-- skynet.mqueue; PTYPE_TRACE carries the tag of a traced request.
local skynet = { PTYPE_TEXT = 0 }
for id, kind in ipairs {
  "RESPONSE", "MULTICAST", "CLIENT", "SYSTEM", "HARBOR", "SOCKET",
  "ERROR", "QUEUE", "DEBUG", "LUA", "SNAX", "TRACE",
} do
  skynet["PTYPE_" .. kind] = id
end
assert(skynet.PTYPE_RESPONSE == PTYPE_RESPONSE and skynet.PTYPE_ERROR == PTYPE_ERROR
  and skynet.PTYPE_TRACE == PTYPE_TRACE)

skynet.cache = require "skynet.codecache"

---------------------------------------------------------------------------
-- Protocols

-- name -> class and id -> class (the same table twice). Kept under the name
-- `proto`: debug RUN exposes it to injected code as `_U.proto`.
local proto = {}
skynet._proto = proto

function skynet.register_protocol(class)
  local name, id = class.name, class.id
  assert(type(name) == "string" and type(id) == "number" and id >= 0 and id <= 255
    and proto[name] == nil and proto[id] == nil)
  proto[name], proto[id] = class, class
end

---------------------------------------------------------------------------
-- Service state

-- Sessions: `waiting` maps a session to the coroutine that will consume its
-- answer ("BREAK": an answer may still come and is dropped silently),
-- `watching` to the service it waits on; `wait_ids` holds the sessions made
-- by skynet.wait, which no message ever answers.
local waiting, watching, wait_ids = {}, {}, {}
-- Requests being served, by coroutine: the session and source to answer
-- (`reply_session`, `reply_to`) and the trace tag (`co_tag`; false when
-- tracing is forced off). `trace_from` keeps the tag a TRACE message
-- announced for a source's next request; `owed` maps a skynet.response
-- closure to the address it still has to answer.
local reply_session, reply_to, co_tag, trace_from, owed = {}, {}, {}, {}, {}
-- Work left for the end of a dispatch round: `sleeping` (sleep/wait token
-- -> session), tokens woken by skynet.wakeup and sessions failed by ERROR
-- messages, both in arrival order, and the forks waiting to start
-- (forkq[fork_first .. fork_last]).
local sleeping, wake_fifo, failed_fifo = {}, {}, {}
local forkq, fork_first, fork_last = {}, 1, 0

-- the framework coroutine being run (a skynet.coroutine child runs on behalf
-- of the framework coroutine that resumed it, so coroutine.running() differs)
local current
-- the coroutine running the start function, while it runs
local init_co
-- set by skynet.exit: nothing runs any more in this service
local quitting = false
-- error texts collected while handling the current message
local faults

local function fault(text)
  if faults then
    faults[#faults + 1] = text
  else
    faults = { text }
  end
end

---------------------------------------------------------------------------
-- Session numbers
--
-- The runtime hands out sessions 1 .. 0x7fffffff and wraps back to 1. After a
-- wrap, a number may come back while an old request with that number is still
-- unanswered. After each allocation we look at the number the runtime will
-- hand out next and burn it (genid) while it is still in use.

local SESSION_MAX = 0x7fffffff

local function skip_busy(last)
  local upcoming = last == SESSION_MAX and 1 or last + 1
  while waiting[upcoming] ~= nil do
    last = core.genid()
    upcoming = last == SESSION_MAX and 1 or last + 1
  end
end

-- passes on a session just allocated by the core, after making sure the next one it hands out
-- is not still in use
local function unclaimed(session)
  if session then
    skip_busy(session)
  end
  return session
end

-- send with a freshly allocated session; nil for a bad address, false when
-- the message is too large
local function send_new_session(addr, id, msg, sz)
  return unclaimed(csend(addr, id, nil, msg, sz))
end

-- a timer session that no suspended coroutine holds
local function new_timer(ti)
  return unclaimed(core.intcommand("TIMEOUT", ti))
end

-- a session for skynet.wait's own use, likewise
local function new_wait_id()
  return unclaimed(core.genid())
end

function skynet.genid()
  return new_wait_id()
end

---------------------------------------------------------------------------
-- Coroutine pool
--
-- Every request, fork and timer runs its job in a pooled coroutine. A
-- coroutine that finished its job parks itself (yielding "SUSPEND") and is
-- handed the next job through `job_of` before it is resumed again with the
-- job's arguments.

local idle = setmetatable({}, { __mode = "kv" })
local job_of = setmetatable({}, { __mode = "k" })

local function job_finished(me, job)
  local session = reply_session[me]
  if session and session ~= 0 then
    local info = debug.getinfo(job, "S")
    skynet.error(sformat("Maybe forgot response session %s from %s : %s:%d",
      session, skynet.address(reply_to[me]), info.source, info.linedefined))
  end
  local tag = co_tag[me]
  if tag ~= nil then
    if tag then
      core.trace(tag, "end")
    end
    co_tag[me] = nil
  end
  reply_session[me] = nil
  reply_to[me] = nil
end

local function run_jobs(me, ...)
  local job = job_of[me]
  if job then
    job_of[me] = nil
    job(...)
    job_finished(me, job)
    job = nil
    idle[#idle + 1] = me
  end
  -- parked (a stray resume without a job is ignored); the next resume
  -- carries the arguments of the next job
  return run_jobs(me, coyield "SUSPEND")
end

local function pool_entry(...)
  return run_jobs(corunning(), ...)
end

local function spawn(job)
  local co = tremove(idle)
  while co and costatus(co) ~= "suspended" do
    co = tremove(idle)
  end
  co = co or cocreate(pool_entry)
  job_of[co] = job
  return co
end

---------------------------------------------------------------------------
-- Running coroutines

-- Handle what a framework coroutine handed back when it stopped running.
local function settle(co, ok, command)
  if not ok then
    local session = reply_session[co]
    if session then
      if session ~= 0 then
        local tag = co_tag[co]
        if tag then
          core.trace(tag, "error")
        end
        csend(reply_to[co], PTYPE_ERROR, session, "")
      end
      reply_session[co] = nil
    end
    reply_to[co] = nil
    co_tag[co] = nil
    local text = traceback(co, tostring(command))
    coclose(co)
    fault(text)
  elseif command == "SUSPEND" or command == nil then
    return
  elseif command == "QUIT" then
    coclose(co)
  elseif command == "USER" then
    fault("Call skynet.coroutine.yield out of skynet.coroutine.resume\n" .. traceback(co))
  else
    fault("Unknown command : " .. tostring(command) .. "\n" .. traceback(co))
  end
end

local function step(co, ...)
  current = co
  return settle(co, coresume(co, ...))
end

-- Resume what became ready while the last coroutine ran: woken sleepers first
-- (each of them may wake more), then the sessions failed by ERROR messages.
local function run_ready()
  while not quitting do
    local token = tremove(wake_fifo, 1)
    if token ~= nil then
      local session = sleeping[token]
      local co = session and waiting[session]
      if type(co) == "thread" then
        local tag = co_tag[co]
        if tag then
          core.trace(tag, "resume")
        end
        waiting[session] = "BREAK"
        step(co, false, "BREAK", nil, session)
      end
    else
      local session = tremove(failed_fifo, 1)
      if session == nil then
        return
      end
      local co = waiting[session]
      waiting[session] = nil
      if type(co) == "thread" then
        step(co, false, nil, nil, session)
      end
    end
  end
end

local function run_forks()
  while fork_first <= fork_last and not quitting do
    local co = forkq[fork_first]
    forkq[fork_first] = nil
    fork_first = fork_first + 1
    step(co)
    run_ready()
  end
  if fork_first > fork_last then
    fork_first, fork_last = 1, 0
  end
end

local function drain()
  run_ready()
  run_forks()
end

---------------------------------------------------------------------------
-- Incoming messages

local function unknown_request(session, address, msg, sz, prototype)
  skynet.error(sformat("Unknown request (%s): %s", prototype, core.tostring(msg, sz)))
  error(sformat("Unknown session : %d from %x", session, address))
end

function skynet.dispatch_unknown_request(handler)
  local previous = unknown_request
  unknown_request = handler
  return previous
end

local function unknown_response(session, address, msg, sz)
  skynet.error(sformat("Response message : %s", core.tostring(msg, sz)))
  error(sformat("Unknown session : %d from %x", session, address))
end

function skynet.dispatch_unknown_response(handler)
  local previous = unknown_response
  unknown_response = handler
  return previous
end

-- request whose payload is being decoded (an undecodable request is answered
-- with an ERROR so that its caller does not wait forever)
local decoding_session, decoding_source

-- The trace tag a new request runs under: false when its protocol forbids
-- tracing, the tag its sender announced, or nil (the caller then starts a
-- fresh trace when the protocol asks for every request to be traced).
local function request_tag(p, source)
  local announced = trace_from[source]
  trace_from[source] = nil
  if p.trace == false then
    return false
  end
  if announced then
    core.trace(announced, "request")
  end
  return announced
end

local function serve(p, handler, session, source, ...)
  decoding_session = nil
  local co = spawn(handler)
  reply_session[co] = session
  reply_to[co] = source
  local tag = request_tag(p, source)
  if tag == nil and p.trace then
    current = co
    skynet.trace()
  else
    co_tag[co] = tag
  end
  return step(co, session, source, ...)
end

-- An answer to one of our sessions: resumes the coroutine waiting for it
-- (nobody, for a session given up with "BREAK").
local function take_response(msg, sz, session, source)
  local co = waiting[session]
  if co == nil then
    return unknown_response(session, source, msg, sz)
  end
  waiting[session] = nil
  if co ~= "BREAK" then
    if co_tag[co] then
      core.trace(co_tag[co], "resume")
    end
    step(co, true, msg, sz, session)
  end
end

local function route(ptype, msg, sz, session, source)
  if ptype == PTYPE_RESPONSE then
    take_response(msg, sz, session, source)
    return
  end

  local p = proto[ptype]
  if p ~= nil and p.load_on_use then
    -- a protocol whose module loads on first use (the debug commands): run
    -- the real handler from the start, so reports name its function
    p.load_on_use()
    p = proto[ptype]
  end
  if p == nil then
    if ptype == PTYPE_TRACE then
      trace_from[source] = core.tostring(msg, sz)
    elseif session ~= 0 then
      csend(source, PTYPE_ERROR, session, "")
    else
      unknown_request(session, source, msg, sz, ptype)
    end
    return
  end

  local handler = p.dispatch
  if handler == nil then
    trace_from[source] = nil
    if session ~= 0 then
      csend(source, PTYPE_ERROR, session, "")
    else
      unknown_request(session, source, msg, sz, p.name)
    end
    return
  end

  decoding_session, decoding_source = session, source
  return serve(p, handler, session, source, p.unpack(msg, sz))
end

-- The message callback of every Lua service (installed by skynet.start).
function skynet.dispatch_message(ptype, msg, sz, session, source)
  local ok, err = pcall(route, ptype, msg, sz, session, source)
  if not ok then
    if decoding_session then
      if decoding_session ~= 0 then
        csend(decoding_source, PTYPE_ERROR, decoding_session, "")
      end
      decoding_session = nil
    end
    fault(tostring(err))
  end
  if wake_fifo[1] ~= nil or failed_fifo[1] ~= nil or fork_first <= fork_last then
    ok, err = pcall(drain)
    if not ok then
      fault(tostring(err))
    end
  end
  if faults then
    local text = tconcat(faults, "\n")
    faults = nil
    error(text, 0)
  end
end

---------------------------------------------------------------------------
-- Errors from other services

-- The keys of `map` whose value is `addr`.
local function keys_for(map, addr)
  local found = {}
  for key, value in pairs(map) do
    if value == addr then
      found[#found + 1] = key
    end
  end
  return found
end

-- `source` is down (session 0): every answer we owe it is dropped and every
-- session waiting on it fails. Otherwise the request `session` failed.
local function peer_failed(session, source)
  if session ~= 0 then
    if watching[session] then
      tinsert(failed_fifo, session)
    end
    return
  end
  for _, closure in ipairs(keys_for(owed, source)) do
    owed[closure] = nil
  end
  local failed = keys_for(watching, source)
  tmove(failed, 1, #failed, #failed_fifo + 1, failed_fifo)
end

local function error_dispatch(session, source)
  -- the session of an ERROR message names our request, not a reply we owe
  skynet.ignoreret()
  return peer_failed(session, source)
end

function skynet.term(service)
  return peer_failed(0, service)
end

---------------------------------------------------------------------------
-- Forks, timers, sleeping

-- `func` with its arguments bound (itself when there are none)
local function bound(func, ...)
  if select("#", ...) == 0 then
    return func
  end
  local args = tpack(...)
  return function()
    return func(tunpack(args, 1, args.n))
  end
end

function skynet.fork(func, ...)
  local co = spawn(bound(func, ...))
  fork_last = fork_last + 1
  forkq[fork_last] = co
  return co
end

-- While timeout tracing is on: coroutine -> "TIMER ..." traceback of the
-- place that set its timeout up (shown by skynet.task instead of the
-- coroutine's own stack). nil while tracing is off.
local timer_origin

function skynet.trace_timeout(on)
  if not on then
    timer_origin = nil
  elseif not timer_origin then
    timer_origin = {}
  end
end

function skynet.timeout(ti, func)
  local session = assert(new_timer(ti))
  assert(waiting[session] == nil)
  local origins = timer_origin
  local co
  if origins then
    -- the table is captured: tracing may be switched off before it fires
    co = spawn(function(...)
      origins[co] = nil
      return func(...)
    end)
    -- level 2: the caller of skynet.timeout
    origins[co] = traceback(sformat("TIMER %d+%d : ", skynet.now(), ti), 2)
  else
    co = spawn(func)
  end
  waiting[session] = co
  return co
end

local function park(session, token)
  local tag = co_tag[current]
  if tag then
    -- level 2: the skynet function that parks (sleep / wait)
    core.trace(tag, "sleep", 2)
  end
  waiting[session] = current
  sleeping[token] = session
  return coyield "SUSPEND"
end

function skynet.sleep(ti, token)
  token = token or corunning()
  if sleeping[token] ~= nil then
    error "token duplicative"
  end
  local session = new_timer(ti)
  assert(session)
  local ok, why = park(session, token)
  sleeping[token] = nil
  if not ok then
    -- woken by killthread ("BREAK") or failed
    if why ~= "BREAK" then
      error(why)
    end
    return why
  end
end

function skynet.wait(token)
  token = token or corunning()
  if sleeping[token] ~= nil then
    error "token duplicative"
  end
  local session = new_wait_id()
  wait_ids[session] = true
  park(session, token)
  sleeping[token] = nil
  waiting[session] = nil
  wait_ids[session] = nil
end

-- gives the other coroutines and services a turn: a sleep of no time
function skynet.yield()
  return skynet.sleep(0)
end

function skynet.wakeup(token)
  if sleeping[token] then
    tinsert(wake_fifo, token)
    return true
  end
end

local function session_of(target)
  if type(target) == "string" then
    for session, co in pairs(waiting) do
      if type(co) == "thread" and tostring(co):find(target, 1, true) then
        return session
      end
    end
    return
  end
  for session, co in pairs(waiting) do
    if co == target then
      return session
    end
  end
end

function skynet.killthread(target)
  if type(target) ~= "string" then
    -- a fork that has not started yet just leaves the queue
    for i = fork_first, fork_last do
      if forkq[i] == target then
        tmove(forkq, i + 1, fork_last, i)
        forkq[fork_last] = nil
        fork_last = fork_last - 1
        return target
      end
    end
  end
  local session = session_of(target)
  local co = session and waiting[session]
  if type(co) ~= "thread" then
    return
  end
  local to = reply_to[co]
  if to then
    local s = reply_session[co]
    if s and s > 0 then
      csend(to, PTYPE_ERROR, s, "")
    end
    reply_session[co] = nil
    reply_to[co] = nil
    co_tag[co] = nil
  end
  if wait_ids[session] then
    -- nothing will ever answer a wait
    waiting[session] = nil
    wait_ids[session] = nil
  else
    -- a reply or a timer expiry may still arrive: drop it silently
    waiting[session] = "BREAK"
  end
  watching[session] = nil
  for token, s in pairs(sleeping) do
    if s == session then
      sleeping[token] = nil
      break
    end
  end
  coclose(co)
  return co
end

---------------------------------------------------------------------------
-- Identity, time, environment

local self_handle

function skynet.self()
  if not self_handle then
    self_handle = core.addresscommand "REG"
  end
  return self_handle
end

function skynet.localname(name)
  return core.addresscommand("QUERY", name)
end

skynet.now = core.now
skynet.hpc = core.hpc

local boot_time

function skynet.starttime()
  if not boot_time then
    boot_time = core.intcommand "STARTTIME"
  end
  return boot_time
end

function skynet.time()
  return skynet.now() / 100 + (boot_time or skynet.starttime())
end

function skynet.getenv(key)
  return (core.command("GETENV", key))
end

function skynet.setenv(key, value)
  if core.command("GETENV", key) ~= nil then
    error("Can't setenv exist key : " .. key)
  end
  core.command("SETENV", key .. " " .. value)
end

function skynet.address(addr)
  if type(addr) == "number" then
    return sformat(":%08x", addr)
  end
  return tostring(addr)
end

-- straight from the core: error (log a line), tracelog, harbor (the harbor id of an address
-- and whether it is remote)
skynet.error, skynet.tracelog, skynet.harbor = core.error, core.trace, core.harbor

---------------------------------------------------------------------------
-- Tracing

local trace_serial = 0

function skynet.trace(info)
  local tag = co_tag[current]
  skynet.error("TRACE", tag)
  if tag == false then
    return -- tracing is forced off for this request
  end
  trace_serial = trace_serial + 1
  tag = sformat(":%08x-%d", skynet.self(), trace_serial)
  co_tag[current] = tag
  core.trace(tag, info and "trace " .. info or "trace")
end

function skynet.tracetag()
  return co_tag[current]
end

-- flag: true traces every request of the protocol, false never, nil only the
-- requests that arrive with a trace tag
function skynet.traceproto(prototype, flag)
  local p = assert(proto[prototype])
  p.trace = flag
end

---------------------------------------------------------------------------
-- Sending and calling

function skynet.send(addr, typename, ...)
  local p = proto[typename]
  return csend(addr, p.id, 0, p.pack(...))
end

function skynet.rawsend(addr, typename, msg, sz)
  local p = proto[typename]
  return csend(addr, p.id, 0, msg, sz)
end

function skynet.redirect(dest, source, typename, ...)
  return core.redirect(dest, source, proto[typename].id, ...)
end

-- the serialization and message-buffer helpers come straight from the core
for _, fname in ipairs { "pack", "packstring", "unpack", "tostring", "trash" } do
  skynet[fname] = assert(core[fname])
end

local function await_reply(addr, session)
  watching[session], waiting[session] = addr, current
  local ok, msg, sz = coyield "SUSPEND"
  watching[session] = nil
  if ok then
    return msg, sz
  end
  error "call failed"
end

local function announce_trace(addr)
  local tag = co_tag[current]
  if tag then
    -- level 3: the code that called skynet.call / rawcall
    core.trace(tag, "call", 3)
    csend(addr, PTYPE_TRACE, 0, tag)
  end
end

function skynet.call(addr, typename, ...)
  announce_trace(addr)
  local p = proto[typename]
  local session = send_new_session(addr, p.id, p.pack(...))
  if session == nil then
    error("call to invalid address " .. skynet.address(addr))
  elseif session == false then
    error "call failed" -- too large to be sent; the runtime logged why
  end
  return p.unpack(await_reply(addr, session))
end

function skynet.rawcall(addr, typename, msg, sz)
  announce_trace(addr)
  local p = proto[typename]
  local session = send_new_session(addr, p.id, msg, sz)
  if not session then
    error "call to invalid address"
  end
  return await_reply(addr, session)
end

function skynet.tracecall(tag, addr, typename, msg, sz)
  core.trace(tag, "tracecall begin")
  csend(addr, PTYPE_TRACE, 0, tag)
  local p = proto[typename]
  local session = send_new_session(addr, p.id, msg, sz)
  if not session then
    error "call to invalid address"
  end
  local rmsg, rsz = await_reply(addr, session)
  core.trace(tag, "tracecall end")
  return rmsg, rsz
end

---------------------------------------------------------------------------
-- Replying

-- The session and address a coroutine owes its answer to; the debt is cleared.
local function take_reply(co)
  local session = reply_session[co] or error "No session"
  reply_session[co] = nil
  return session, reply_to[co]
end

function skynet.ret(msg, sz)
  local co = current
  local tag = co_tag[co]
  if tag then
    core.trace(tag, "response")
  end
  local session, to = take_reply(co)
  if session ~= 0 then
    local sent = csend(to, PTYPE_RESPONSE, session, msg or "", sz)
    if sent == false then
      -- too large to be delivered: the caller gets an error instead
      csend(to, PTYPE_ERROR, session, "")
    end
    return sent ~= nil and sent ~= false
  end
  -- the request was a send: nobody waits, the answer is dropped
  if sz ~= nil then
    core.trash(msg, sz)
  end
  return false
end

function skynet.retpack(...)
  return skynet.ret(skynet.pack(...))
end

function skynet.context()
  return reply_session[current], reply_to[current]
end

function skynet.ignoreret()
  reply_session[current] = nil
end

function skynet.response(packer)
  packer = packer or skynet.pack
  local co = current
  local session = reply_session[co]
  if session == nil then
    error "no session"
  end
  reply_session[co] = nil
  local to = reply_to[co]
  if session == 0 then
    return function() end
  end

  local closure
  closure = function(ok, ...)
    if ok == "TEST" then
      return owed[closure] ~= nil
    end
    if not packer then
      error "Can't response more than once"
    end
    local posted = false
    if owed[closure] then
      local r
      if ok then
        r = csend(to, PTYPE_RESPONSE, session, packer(...))
        if r == false then
          csend(to, PTYPE_ERROR, session, "")
        end
      else
        r = csend(to, PTYPE_ERROR, session, "")
      end
      owed[closure] = nil
      posted = r ~= nil
    end
    packer = nil
    return posted
  end
  owed[closure] = to
  return closure
end

-- Sets the dispatch function of a protocol (answering the one it replaces), or answers the
-- current one when func is nil.
function skynet.dispatch(typename, func)
  local p = proto[typename]
  if not func then
    return p and p.dispatch
  end
  p.dispatch, func = func, p.dispatch
  return func
end

---------------------------------------------------------------------------
-- Request objects: several calls at once, answers in arrival order

local Request = {}
Request.__index = Request

-- While select runs, a request object keeps:
--   _pending   session -> request table, for the calls not answered yet
--   _npending  how many entries _pending has
--   _ready     { request, answer } pairs in the order they became known; answer is the
--              unpacked reply (a packed table), false for a call that failed, nil for a
--              request that could not be sent at all
--   _timer     the session of select's timeout while it runs

-- body of the coroutine that receives every answer of one request object
local function collect_answers(self)
  local pending, ready = self._pending, self._ready
  while true do
    local ok, msg, sz, session = coyield "SUSPEND"
    local req = pending[session]
    if req then
      pending[session] = nil
      watching[session] = nil
      self._npending = self._npending - 1
      ready[#ready + 1] = { req, ok and tpack(proto[req[2]].unpack(msg, sz)) }
    elseif session == self._timer then
      self.timeout = true
      self._timer = nil
    end
    skynet.wakeup(self)
  end
end

local function post_requests(self, collector)
  local pending, ready, count = self._pending, self._ready, 0
  local tag = co_tag[current]
  for _, req in ipairs(self) do
    local addr, p = req[1], proto[req[2]]
    assert(p.unpack)
    if tag then
      -- level 3: the code that called select
      core.trace(tag, "call", 3)
      csend(addr, PTYPE_TRACE, 0, tag)
    end
    local session = send_new_session(addr, p.id, p.pack(tunpack(req, 3, req.n)))
    if not session then
      -- an invalid address (nil) or a message too large to send (false): no answer will
      -- come, it is listed first
      ready[#ready + 1] = { req }
    else
      pending[session] = req
      count = count + 1
      watching[session] = addr
      waiting[session] = collector
    end
  end
  self._npending = count
end

local function next_answer(self)
  local ready = self._ready
  if ready[1] == nil then
    if self._npending == 0 or self.timeout then
      return
    end
    skynet.wait(self)
    if ready[1] == nil then
      return -- timed out (or closed meanwhile)
    end
  end
  local entry = tremove(ready, 1)
  return entry[1], entry[2]
end

function Request:add(req)
  assert(type(req) == "table" and not self._collector)
  self[#self + 1] = req
  return self
end

Request.__call = Request.add

function Request:select(timeout)
  assert(self._collector == nil)
  local collector = cocreate(collect_answers)
  self._collector = collector
  self._pending, self._ready = {}, {}
  post_requests(self, collector)
  if timeout then
    local session = new_timer(timeout)
    self._timer = session
    waiting[session] = collector
  end
  -- run the collector up to its first yield
  coresume(collector, self)
  return function()
    return next_answer(self)
  end, nil, nil, self
end

function Request:close()
  -- answers still on their way are dropped when they come
  local pending = self._pending
  if pending and self._npending > 0 then
    self._npending = 0
    for session in pairs(pending) do
      pending[session] = nil
      watching[session] = nil
      waiting[session] = "BREAK"
    end
  end
  local timer = self._timer
  if timer then
    self._timer = nil
    waiting[timer] = "BREAK"
  end
end

Request.__close = Request.close

function skynet.request(req)
  local obj = setmetatable({}, Request)
  if req then
    return obj:add(req)
  end
  return obj
end

---------------------------------------------------------------------------
-- Exit

function skynet.exit()
  -- queued forks never run
  forkq, fork_first, fork_last = {}, 1, 0
  wake_fifo, failed_fifo = {}, {}
  skynet.send(".launcher", "lua", "REMOVE", skynet.self(), false)
  -- fail every request still being handled
  for co, session in pairs(reply_session) do
    local to = reply_to[co]
    if session ~= 0 and to then
      csend(to, PTYPE_ERROR, session, "")
    end
  end
  -- close every other suspended coroutine (runs their to-be-closed variables)
  local victims = {}
  for _, co in pairs(waiting) do
    if type(co) == "thread" and co ~= current then
      victims[#victims + 1] = co
    end
  end
  for _, co in ipairs(victims) do
    coclose(co)
  end
  -- fail the answers promised with skynet.response
  local promised = {}
  for closure in pairs(owed) do
    promised[#promised + 1] = closure
  end
  for _, closure in ipairs(promised) do
    closure(false)
  end
  -- tell the services we still wait on that we are gone
  local peers = {}
  for _, addr in pairs(watching) do
    peers[addr] = true
  end
  for addr in pairs(peers) do
    csend(addr, PTYPE_ERROR, 0, "")
  end
  -- whatever arrives from now on gets an error back
  core.callback(function(_, _, _, session, source)
    if session ~= 0 and source ~= 0 then
      csend(source, PTYPE_ERROR, session, "")
    end
  end)
  quitting = true
  core.command "EXIT"
  coyield "QUIT"
end

---------------------------------------------------------------------------
-- Services

function skynet.newservice(name, ...)
  return skynet.call(".launcher", "lua", "LAUNCH", "snlua", name, ...)
end

-- service_mgr commands: a name of `true` means the node-global registry
local function service_mgr(local_cmd, name, ...)
  if name == true then
    return assert(skynet.call(".service", "lua", "G" .. local_cmd, ...))
  end
  return assert(skynet.call(".service", "lua", local_cmd, name, ...))
end

function skynet.uniqueservice(...)
  return service_mgr("LAUNCH", ...)
end

function skynet.queryservice(...)
  return service_mgr("QUERY", ...)
end

---------------------------------------------------------------------------
-- Default protocols

for _, class in ipairs {
  { name = "lua", id = skynet.PTYPE_LUA, pack = skynet.pack, unpack = skynet.unpack },
  { name = "response", id = PTYPE_RESPONSE },
  {
    name = "error",
    id = PTYPE_ERROR,
    unpack = function(...) return ... end,
    dispatch = error_dispatch,
  },
} do
  skynet.register_protocol(class)
end

---------------------------------------------------------------------------
-- Start

skynet.init = modinit.init
skynet.pcall = pcall -- deprecated alias

-- Runs the init functions (skynet.init) and the start function, then tells
-- the launcher how it went; a failed start ends the service.
function skynet.init_service(start)
  local ok, err = xpcall(function()
    modinit.init_all()
    start()
  end, traceback)
  if not ok then
    skynet.error("init service failed: " .. tostring(err))
    skynet.send(".launcher", "lua", "ERROR")
    return skynet.exit()
  end
  skynet.send(".launcher", "lua", "LAUNCHOK")
end

-- Installs the message callback; the start function runs on the next tick
-- in a timer coroutine (skynet.task("init") shows its stack meanwhile).
function skynet.start(start_func)
  core.callback(skynet.dispatch_message)
  local function boot()
    skynet.init_service(start_func)
    init_co = nil
  end
  init_co = skynet.timeout(0, boot)
end

---------------------------------------------------------------------------
-- Statistics and diagnostics

function skynet.stat(what)
  return core.intcommand("STAT", what)
end

function skynet.mqlen()
  return skynet.stat "mqlen"
end

function skynet.endless()
  return skynet.stat "endless" == 1
end

-- What skynet.task shows for a suspended entry: "BREAK" as is, the place a
-- traced timeout was set up, or the coroutine's stack.
local function describe_waiter(co)
  if co == "BREAK" then
    return co
  end
  return (timer_origin and timer_origin[co]) or traceback(co)
end

-- skynet.task(arg), by the type of arg
local task_query = {
  ["nil"] = function()
    local live = 0
    for _, co in pairs(waiting) do
      if co ~= "BREAK" then
        live = live + 1
      end
    end
    return live
  end,
  string = function(what)
    if what == "init" and init_co then
      return traceback(init_co)
    end
  end,
  table = function(out)
    for session, co in pairs(waiting) do
      out[sformat("%s session: %d", tostring(co), session)] = describe_waiter(co)
    end
  end,
  number = function(session)
    local co = waiting[session]
    return co and describe_waiter(co) or "No session"
  end,
  thread = function(co)
    return session_of(co)
  end,
}

function skynet.task(arg)
  local query = task_query[type(arg)]
  if query then
    return query(arg)
  end
end

-- Suspended sessions grouped by identical stacks: "<count>\tsessions:[...]\n"
-- -> stack; at most nine sessions are listed, "..." marks a longer group.
function skynet.uniqtask()
  local by_stack, order = {}, {}
  for session, co in pairs(waiting) do
    local stack = describe_waiter(co)
    local sessions = by_stack[stack]
    if sessions == nil then
      sessions = {}
      by_stack[stack] = sessions
      order[#order + 1] = stack
    end
    sessions[#sessions + 1] = session
  end
  local report = {}
  for _, stack in ipairs(order) do
    local sessions = by_stack[stack]
    local count = #sessions
    local shown = tconcat(sessions, ",", 1, math.min(count, 9))
    if count > 10 then
      shown = shown .. "..."
    end
    report[sformat("%d\tsessions:[%s]\n", count, shown)] = stack
  end
  return report
end

function skynet.memlimit(bytes)
  -- snlua applies the limit once the main chunk has returned
  debug.getregistry().memlimit = bytes
  skynet.memlimit = nil
end

---------------------------------------------------------------------------
-- The `debug` protocol (MEM, GC, STAT, TASK, RUN, ...)

-- The commands live in skynet.debug, which most services never need: it is
-- loaded by the first debug message (or the first skynet.info_func call).
-- Until then a stand-in protocol entry (which the dispatcher swaps for the
-- real one before running it) and info_func load it and pass on.

local debug_loaded = false

local function load_debug_commands()
  if debug_loaded then
    return
  end
  debug_loaded = true
  proto.debug, proto[skynet.PTYPE_DEBUG] = nil, nil
  require("skynet.debug").init(skynet, {
    dispatch = skynet.dispatch_message,
    suspend = settle,
    resume = function(co, ...)
      current = co
      return coresume(co, ...)
    end,
  })
end

function skynet.info_func(f)
  load_debug_commands()
  return skynet.info_func(f)
end

skynet.register_protocol {
  name = "debug",
  id = skynet.PTYPE_DEBUG,
  pack = skynet.pack,
  unpack = skynet.unpack,
  load_on_use = load_debug_commands,
  dispatch = function(...)
    load_debug_commands()
    return proto.debug.dispatch(...)
  end,
}

return skynet
