-- snax.msgserver — a gate for logged-in users: authenticates each connection
-- with the secret the login server handed out, then runs request/response
-- traffic that survives reconnects (answers are cached and re-sent).
--
-- Stands for the reference's lualib/snax/msgserver.lua. All integers are
-- big-endian; packages use gateserver's 2-byte length framing.
--   handshake (first package): base64(uid)@base64(server)#base64(subid):index:base64(hmac)
--       hmac = HMAC-hash(secret, "<username>:<index>"); index must grow with
--       every connection. Answer: "200 OK", "404 User Not Found",
--       "403 Index Expired", "401 Unauthorized" or "400 Bad Request" (then
--       the connection is closed).
--   request: content .. dword session
--   response: content .. byte ok (1/0) .. dword session
-- API: server.userid(username) -> uid, subid, server;
--      server.username(uid, subid, server) -> username;
--      server.login(username, secret); server.logout(username);
--      server.ip(username); server.start(conf)
-- conf: login_handler(uid, secret) -> subid, logout_handler(uid, subid),
--       kick_handler(uid, subid), request_handler(username, msg) -> answer,
--       register_handler(servername), disconnect_handler(username) (optional),
--       expired_number (128: answers kept after they were sent)
-- Lua commands: login, logout, kick (to the handlers above).

local skynet = require "skynet"
local gateserver = require "snax.gateserver"
local netpack = require "skynet.netpack"
local crypt = require "skynet.crypt"
local socketdriver = require "skynet.socketdriver"

local assert, error, pairs, pcall, tonumber, tostring =
  assert, error, pairs, pcall, tonumber, tostring
local spack, sunpack, sformat = string.pack, string.unpack, string.format
local b64encode = crypt.base64encode
local b64decode = crypt.base64decode

local server = {}

skynet.register_protocol {
  name = "client",
  id = skynet.PTYPE_CLIENT,
}

-- username -> { secret, version, index, username, response, fd, ip }
local user_online = {}
-- fd -> peer address, until its handshake package arrived
local handshake = {}
-- fd -> user
local connection = {}

function server.userid(username)
  local uid, servername, subid = username:match "([^@]*)@([^#]*)#(.*)"
  return b64decode(uid), b64decode(subid), b64decode(servername)
end

function server.username(uid, subid, servername)
  return sformat("%s@%s#%s", b64encode(uid), b64encode(servername), b64encode(tostring(subid)))
end

function server.logout(username)
  local u = user_online[username]
  user_online[username] = nil
  if u.fd and connection[u.fd] then
    gateserver.closeclient(u.fd)
    connection[u.fd] = nil
  end
end

function server.login(username, secret)
  assert(user_online[username] == nil)
  user_online[username] = {
    secret = secret,
    version = 0, -- index of the current connection
    index = 0, -- answers sent so far (for expiry)
    username = username,
    -- session -> { fd still to answer, packed answer, version, index }
    response = {},
  }
end

function server.ip(username)
  local u = user_online[username]
  if u and u.fd then
    return u.ip
  end
end

function server.start(conf)
  local expired_number = conf.expired_number or 128
  local request_handler = assert(conf.request_handler)

  local CMD = {
    login = assert(conf.login_handler),
    logout = assert(conf.logout_handler),
    kick = assert(conf.kick_handler),
  }

  local handler = {}

  function handler.command(cmd, _, ...)
    local f = assert(CMD[cmd])
    return f(...)
  end

  function handler.open(_, gateconf)
    return conf.register_handler(assert(gateconf.servername))
  end

  function handler.connect(fd, addr)
    handshake[fd] = addr
    gateserver.openclient(fd)
  end

  function handler.disconnect(fd)
    handshake[fd] = nil
    local u = connection[fd]
    if not u then
      return
    end
    if conf.disconnect_handler then
      conf.disconnect_handler(u.username)
    end
    -- the handler may have closed it already
    if connection[fd] then
      u.fd = nil
      connection[fd] = nil
      gateserver.closeclient(fd)
    end
  end

  handler.error = handler.disconnect

  -- Check the handshake package; nil when accepted, else the refusal.
  -- Never yields.
  local function check_handshake(fd, message, addr)
    local username, index, hmac = message:match "([^:]*):([^:]*):([^:]*)"
    local u = user_online[username]
    if u == nil then
      return "404 User Not Found"
    end
    local idx = assert(tonumber(index))
    hmac = b64decode(hmac)
    if idx <= u.version then
      return "403 Index Expired"
    end
    local expected = crypt.hmac_hash(u.secret, sformat("%s:%s", username, index))
    if expected ~= hmac then
      return "401 Unauthorized"
    end
    u.version = idx
    u.fd = fd
    u.ip = addr
    connection[fd] = u
  end

  local function on_handshake(fd, addr, msg, sz)
    local message = netpack.tostring(msg, sz)
    local ok, refusal = pcall(check_handshake, fd, message, addr)
    if not ok then
      skynet.error(refusal)
      refusal = "400 Bad Request"
    end
    socketdriver.send(fd, netpack.pack(refusal or "200 OK"))
    if refusal then
      gateserver.closeclient(fd)
    end
  end

  -- Drop cached answers older than expired_number once the counter grew
  -- to twice that, renumbering the rest.
  local function expire_answers(u)
    if u.index < expired_number * 2 then
      return
    end
    local newest = 0
    local cache = u.response
    for session, p in pairs(cache) do
      if p[1] == nil then -- answered
        if p[4] < expired_number then
          cache[session] = nil
        else
          p[4] = p[4] - expired_number
          if p[4] > newest then
            newest = p[4]
          end
        end
      end
    end
    u.index = newest + 1
  end

  local function handle_request(fd, message)
    local u = assert(connection[fd], "invalid fd")
    local session = sunpack(">I4", message, -4)
    message = message:sub(1, -5)
    local p = u.response[session]
    if p and p[3] == u.version then
      -- the same connection reuses a session: start over, unless the old
      -- request is still running
      u.response[session] = nil
      if p[2] == nil then
        local text = sformat("Conflict session %s", crypt.hexencode(session))
        skynet.error(text)
        error(text)
      end
      p = nil
    end

    if p == nil then
      p = { fd }
      u.response[session] = p
      local ok, answer = pcall(request_handler, u.username, message)
      -- the handler may have yielded: the connection may be gone by now
      answer = answer or ""
      if ok then
        answer = answer .. spack(">BI4", 1, session)
      else
        skynet.error(answer)
        answer = spack(">BI4", 0, session)
      end
      p[2] = spack(">s2", answer)
      p[3] = u.version
      p[4] = u.index
    else
      -- a request repeated after a reconnect: answer on the new fd
      p[1] = fd
      p[3] = u.version
      p[4] = u.index
      if p[2] == nil then
        return -- still being handled; the answer will go to the new fd
      end
    end
    u.index = u.index + 1
    local to = p[1]
    if connection[to] then
      socketdriver.send(to, p[2])
    end
    p[1] = nil
    expire_answers(u)
  end

  local function on_request(fd, msg, sz)
    local message = netpack.tostring(msg, sz)
    local ok, err = pcall(handle_request, fd, message)
    if not ok then
      skynet.error(sformat("Invalid package %s : %s", err, message))
      if connection[fd] then
        gateserver.closeclient(fd)
      end
    end
  end

  function handler.message(fd, msg, sz)
    local addr = handshake[fd]
    if addr then
      on_handshake(fd, addr, msg, sz)
      handshake[fd] = nil
    else
      on_request(fd, msg, sz)
    end
  end

  return gateserver.start(handler)
end

return server
