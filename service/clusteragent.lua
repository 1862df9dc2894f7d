-- clusteragent — serves one connection from another node.
--
-- Stands for the reference's service/clusteragent.lua. Launched by clusterd
-- as `clusteragent clusterd gate fd` for an accepted connection. The gate
-- forwards each request frame as a PTYPE_CLIENT message (session = fd); the
-- agent reassembles requests sent in parts, runs them against local
-- services (an address is a handle, a ".local" name, or an "@name"
-- registered with cluster.register, asked of clusterd and cached) and
-- writes the responses to the connection. Address 0 asks for the handle of
-- a registered name (cluster.query). Commands: "exit", "namechange".

local skynet = require "skynet"
local socket = require "skynet.socket"
local core = require "skynet.cluster.core"

local clusterd, gate, fd = ...
clusterd = tonumber(clusterd)
gate = tonumber(gate)
fd = tonumber(fd)

local large_request = {} -- session -> request being reassembled
local resolving = {} -- "@name" -> coroutines waiting for the same lookup
local names -- "@name" -> handle (a cache, dropped on namechange)

local names_meta = {
  __index = function(self, name)
    local waiters = resolving[name]
    if waiters then
      local co = coroutine.running()
      waiters[#waiters + 1] = co
      skynet.wait(co)
      return rawget(names, name)
    end
    waiters = {}
    resolving[name] = waiters
    local addr = skynet.call(clusterd, "lua", "queryname", name:sub(2))
    if addr then
      names[name] = addr
    end
    resolving[name] = nil
    for _, co in ipairs(waiters) do
      skynet.wakeup(co)
    end
    return addr
  end,
}

local function reset_names()
  names = setmetatable({}, names_meta)
end
reset_names()

local tracetag -- the tag of the next request, if the peer sent one
local MALFORMED = {} -- what unpack_request gives for a frame it cannot read

-- A frame that cannot be read is logged (with the reference's text) and
-- closes this connection only; the gate then reports the close to clusterd,
-- which stops this agent.
local function unpack_request(msg, sz)
  local r = table.pack(pcall(core.unpackrequest, msg, sz))
  if r[1] then
    return table.unpack(r, 2, r.n)
  end
  return MALFORMED, r[2]
end

local function reply(response)
  if type(response) == "table" then
    for _, frame in ipairs(response) do
      socket.lwrite(fd, frame)
    end
  else
    socket.write(fd, response)
  end
end

-- Runs one whole request; returns ok, msg, sz (nothing for a push).
local function run(addr, msg, sz, is_push)
  if addr == 0 then
    -- cluster.query: the handle of a registered name
    local name = skynet.unpack(msg, sz)
    skynet.trash(msg, sz)
    local found = names["@" .. name]
    if found then
      return true, skynet.packstring(found)
    end
    return false, "name not found"
  end
  if core.isname(addr) then
    addr = names[addr]
  end
  if not addr then
    return false, "Invalid name"
  end
  if is_push then
    skynet.rawsend(addr, "lua", msg, sz)
    return
  end
  local tag = tracetag
  if tag then
    tracetag = nil
    return pcall(skynet.tracecall, tag, addr, "lua", msg, sz)
  end
  return pcall(skynet.rawcall, addr, "lua", msg, sz)
end

local function dispatch_request(_, _, addr, session, msg, sz, padding, is_push)
  skynet.ignoreret() -- the session is the fd: never answer through skynet
  if addr == MALFORMED then
    skynet.error(string.format("Invalid cluster request from fd %d: %s", fd, tostring(session)))
    socket.close_fd(fd)
    return
  end
  if session == nil then
    -- a trace frame: addr is the tag
    tracetag = addr
    return
  end
  if padding then
    -- a head or a part of a request in parts
    local req = large_request[session]
    if not req then
      req = { addr = addr, is_push = is_push, tracetag = tracetag }
      large_request[session] = req
    end
    tracetag = nil
    core.append(req, msg, sz)
    return
  end
  local req = large_request[session]
  if req then
    -- the last part
    large_request[session] = nil
    tracetag = req.tracetag
    core.append(req, msg, sz)
    msg, sz = core.concat(req)
    addr = req.addr
    is_push = req.is_push
  end
  if not msg then
    tracetag = nil
    socket.write(fd, core.packresponse(session, false, "Invalid large req"))
    return
  end
  local ok, rmsg, rsz = run(addr, msg, sz, is_push)
  if ok == nil then
    return -- a push
  end
  if ok then
    reply(core.packresponse(session, true, rmsg, rsz))
  else
    socket.write(fd, core.packresponse(session, false, rmsg))
  end
end

skynet.start(function()
  skynet.register_protocol {
    name = "client",
    id = skynet.PTYPE_CLIENT,
    unpack = unpack_request,
    dispatch = dispatch_request,
  }
  -- Packages of fd come from the gate as client messages; the agent only
  -- writes to fd. The forward may fail if the connection is already gone.
  pcall(skynet.call, gate, "lua", "forward", fd)

  skynet.dispatch("lua", function(_, source, cmd)
    if cmd == "exit" then
      socket.close_fd(fd)
      skynet.exit()
    elseif cmd == "namechange" then
      reset_names()
    else
      skynet.error(string.format("Invalid command %s from %s", cmd, skynet.address(source)))
    end
  end)
end)
