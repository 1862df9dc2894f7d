-- clustersender — the link from this node to one other node.
--
-- Stands for the reference's service/clustersender.lua. Launched by clusterd
-- as `clustersender node nodename address`; sends requests and pushes through
-- a socketchannel in session mode (responses matched by session, large ones
-- reassembled from parts). Commands (lua protocol):
--   req(addr, msg, sz)     a request; answers with the remote answer, or an
--                          error response when the link or the call failed
--   push(addr, msg, sz)    a request without answer
--   changenode(address)    reconnect to a new address; false closes the link

local skynet = require "skynet"
local sc = require "skynet.socketchannel"
local socket = require "skynet.socket"
local core = require "skynet.cluster.core"

local node, nodename, init_host, init_port = ...
local channel
local session = 1 -- next request session on this link
local command = {}

-- A trace tag goes out in its own frame before the request it tags.
local function send_trace(tag)
  if tag:sub(1, 1) ~= "(" then
    -- first hop: prefix where the call comes from
    local tagged = string.format("(%s-%s-%d)%s", nodename, node, session, tag)
    skynet.tracelog(tag, string.format("session %s", tagged))
    tag = tagged
  end
  skynet.tracelog(tag, string.format("cluster %s", node))
  channel:request(core.packtrace(tag))
end

local function send_request(addr, msg, sz)
  local this = session
  -- packrequest frees msg
  local request, next_session, parts = core.packrequest(addr, session, msg, sz)
  session = next_session
  local tag = skynet.tracetag()
  if tag then
    send_trace(tag)
  end
  return channel:request(request, this, parts)
end

function command.req(...)
  local ok, answer = pcall(send_request, ...)
  if ok then
    if type(answer) == "table" then
      -- a large answer: size and parts
      skynet.ret(core.concat(answer))
    else
      skynet.ret(answer)
    end
  else
    skynet.error(answer)
    skynet.response()(false)
  end
end

function command.push(addr, msg, sz)
  local request, next_session, parts = core.packpush(addr, session, msg, sz)
  if parts then
    -- only a push in parts uses up a session
    session = next_session
  end
  channel:request(request, nil, parts)
end

-- socketchannel response reader: one response frame
local function read_response(sock)
  local sz = socket.header(sock:read(2))
  local msg = sock:read(sz)
  return core.unpackresponse(msg) -- session, ok, data, padding
end

function command.changenode(host, port)
  if not host then
    skynet.error("Close cluster sender", channel.__host, channel.__port)
    channel:close()
  else
    channel:changehost(host, port)
    channel:connect(true)
  end
  skynet.ret(skynet.pack(nil))
end

skynet.start(function()
  channel = sc.channel {
    host = init_host,
    port = tonumber(init_port),
    response = read_response,
    nodelay = true,
  }
  skynet.dispatch("lua", function(_, _, cmd, ...)
    local f = assert(command[cmd])
    f(...)
  end)
end)
