-- clustersender — the link from this node to one other node.
--
-- Stands for the reference's service/clustersender.lua. clusterd launches it
-- as `clustersender node nodename address`. Requests and pushes go out
-- through a socketchannel in session mode: answers are matched by session,
-- and large ones arrive in parts that the channel collects. Commands (lua
-- protocol):
--   req(addr, msg, sz)     a request; answers with the remote answer, or an
--                          error response when the link or the call failed
--   push(addr, msg, sz)    a request without answer
--   changenode(address)    reconnect to a new address; false closes the link

local skynet = require "skynet"
local sc = require "skynet.socketchannel"
local socket = require "skynet.socket"
local core = require "skynet.cluster.core"

local peer, self_name, first_host, first_port = ...

-- `channel` is made at start; `session` is the next one to use on it
-- (a request in parts takes several).
local link = { session = 1 }

-- One response frame off the wire: session, ok, data, padding.
local function read_frame(sock)
  local len = socket.header(sock:read(2))
  return core.unpackresponse(sock:read(len))
end

-- A traced request sends its tag first, in a frame of its own. On the first
-- hop the tag gets a "(from-to-session)" prefix, logged under the old tag.
local function announce(tag)
  if tag:sub(1, 1) ~= "(" then
    local hop = string.format("(%s-%s-%d)%s", self_name, peer, link.session, tag)
    skynet.tracelog(tag, string.format("session %s", hop))
    tag = hop
  end
  skynet.tracelog(tag, string.format("cluster %s", peer))
  link.channel:request(core.packtrace(tag))
end

-- Sends a request and waits for its answer (a string, or the parts of a
-- large one). packrequest takes over msg.
local function roundtrip(addr, msg, sz)
  local mine = link.session
  local frame, following, parts = core.packrequest(addr, mine, msg, sz)
  link.session = following
  local tag = skynet.tracetag()
  if tag then
    announce(tag)
  end
  return link.channel:request(frame, mine, parts)
end

local handlers = {}

function handlers.req(...)
  local ok, answer = pcall(roundtrip, ...)
  if not ok then
    skynet.error(answer)
    return skynet.response()(false)
  end
  if type(answer) == "table" then
    return skynet.ret(core.concat(answer))
  end
  skynet.ret(answer)
end

function handlers.push(addr, msg, sz)
  local frame, following, parts = core.packpush(addr, link.session, msg, sz)
  -- a push in one frame needs no session; one in parts uses them up
  if parts then
    link.session = following
  end
  link.channel:request(frame, nil, parts)
end

function handlers.changenode(host, port)
  local channel = link.channel
  if host then
    channel:changehost(host, port)
    channel:connect(true)
  else
    skynet.error("Close cluster sender", channel.__host, channel.__port)
    channel:close()
  end
  skynet.retpack(nil)
end

local function on_command(_, _, cmd, ...)
  assert(handlers[cmd])(...)
end

skynet.start(function()
  link.channel = sc.channel {
    nodelay = true,
    response = read_frame,
    host = first_host,
    port = tonumber(first_port),
  }
  skynet.dispatch("lua", on_command)
end)
