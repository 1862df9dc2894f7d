-- clusteragent — serves one connection from another node.
--
-- Stands for the reference's service/clusteragent.lua. clusterd launches it
-- as `clusteragent clusterd gate fd` for an accepted connection. The gate
-- forwards each request frame as a PTYPE_CLIENT message (session = fd). The
-- agent puts requests sent in parts back together, runs them against local
-- services (an address is a handle, a ".local" name, or an "@name"
-- registered with cluster.register, asked of clusterd and cached) and writes
-- the responses to the connection. Address 0 asks for the handle of a
-- registered name (cluster.query). Commands: "exit", "namechange".

local skynet = require "skynet"
local socket = require "skynet.socket"
local core = require "skynet.cluster.core"

local args = { ... }
local clusterd = tonumber(args[1])
local gate = tonumber(args[2])
local fd = tonumber(args[3])

------------------------------------------------------------------------
-- "@name" lookups, cached until clusterd says the names changed. An entry
-- is a handle, or (while clusterd is being asked) the lookup under way: the
-- coroutines waiting for it, and later its `.handle`. Lookups of one name
-- at the same time ask clusterd once.

local names = {}

local function lookup(name)
  local entry = names[name]
  if type(entry) == "number" then
    return entry
  end
  if entry then
    local me = coroutine.running()
    entry[#entry + 1] = me
    skynet.wait(me)
    return entry.handle
  end
  local pending = {}
  names[name] = pending
  -- clusterd keeps the names without the "@"
  pending.handle = skynet.call(clusterd, "lua", "queryname", name:sub(2))
  if names[name] == pending then
    -- still the same generation of names: keep the answer (if any)
    names[name] = pending.handle
  end
  for i = 1, #pending do
    skynet.wakeup(pending[i])
  end
  return pending.handle
end

------------------------------------------------------------------------
-- the connection's request stream

local stream = {
  tag = nil, -- the trace tag the peer sent for the next request
  partial = {}, -- session -> { addr, push, tag, parts = what core.append collects }
}

local BAD_FRAME = {} -- what decode gives for a frame it cannot read

-- A frame that cannot be read is logged (with the text of the error) and
-- closes this connection only; the gate then reports the close to
-- clusterd, which stops this agent.
local function decode(msg, sz)
  local r = table.pack(pcall(core.unpackrequest, msg, sz))
  if not r[1] then
    return BAD_FRAME, r[2]
  end
  return table.unpack(r, 2, r.n)
end

-- Takes in one frame of a request. Gives addr, msg, sz, push once the
-- request is whole; nothing while parts are missing; false with the
-- session when the last part does not complete a request.
local function take(addr, session, msg, sz, more, push)
  local held = stream.partial[session]
  if more then
    -- a head, or a part before the last
    if held == nil then
      held = { addr = addr, push = push, tag = stream.tag, parts = {} }
      stream.partial[session] = held
    end
    stream.tag = nil
    core.append(held.parts, msg, sz)
    return
  end
  if held then
    stream.partial[session] = nil
    stream.tag = held.tag
    core.append(held.parts, msg, sz)
    msg, sz = core.concat(held.parts)
    addr, push = held.addr, held.push
  end
  if msg == nil then
    stream.tag = nil
    return false
  end
  return addr, msg, sz, push
end

-- cluster.query: the handle registered under a name, packed.
local function answer_query(msg, sz)
  local name = skynet.unpack(msg, sz)
  skynet.trash(msg, sz)
  local handle = lookup("@" .. name)
  if handle == nil then
    return false, "name not found"
  end
  return true, skynet.packstring(handle)
end

-- Runs a whole request. Gives ok, msg, sz for the peer; nothing for a push.
local function perform(addr, msg, sz, push)
  if addr == 0 then
    return answer_query(msg, sz)
  end
  local target = addr
  if core.isname(addr) then
    target = lookup(addr)
    if target == nil then
      return false, "Invalid name"
    end
  end
  if push then
    skynet.rawsend(target, "lua", msg, sz)
    return
  end
  local tag = stream.tag
  if tag == nil then
    return pcall(skynet.rawcall, target, "lua", msg, sz)
  end
  stream.tag = nil
  return pcall(skynet.tracecall, tag, target, "lua", msg, sz)
end

local function respond(session, ok, msg, sz)
  if not ok then
    socket.write(fd, core.packresponse(session, false, msg))
    return
  end
  local frames = core.packresponse(session, true, msg, sz)
  if type(frames) ~= "table" then
    socket.write(fd, frames)
    return
  end
  -- a large answer: the head and its parts
  for i = 1, #frames do
    socket.lwrite(fd, frames[i])
  end
end

local function on_frame(_, _, addr, session, ...)
  skynet.ignoreret() -- the session is the fd: nothing goes back through skynet
  if addr == BAD_FRAME then
    skynet.error(string.format("Invalid cluster request from fd %d: %s", fd, tostring(session)))
    socket.close_fd(fd)
    return
  end
  if session == nil then
    -- a trace frame: addr is the tag
    stream.tag = addr
    return
  end
  local to, msg, sz, push = take(addr, session, ...)
  if to == false then
    respond(session, false, "Invalid large req")
  elseif to ~= nil then
    local ok, rmsg, rsz = perform(to, msg, sz, push)
    if ok ~= nil then
      respond(session, ok, rmsg, rsz)
    end
  end
end

------------------------------------------------------------------------

local control = {}

function control.exit()
  socket.close_fd(fd)
  skynet.exit()
end

function control.namechange()
  names = {}
end

local function on_control(_, source, cmd)
  local f = control[cmd]
  if f == nil then
    skynet.error(string.format("Invalid command %s from %s", cmd, skynet.address(source)))
    return
  end
  f()
end

skynet.register_protocol {
  id = skynet.PTYPE_CLIENT,
  name = "client",
  dispatch = on_frame,
  unpack = decode,
}

skynet.start(function()
  skynet.dispatch("lua", on_control)
  -- The gate passes the packages of fd on as client messages; this agent
  -- only writes to fd. The connection may be gone already, so may this.
  pcall(skynet.call, gate, "lua", "forward", fd)
end)
