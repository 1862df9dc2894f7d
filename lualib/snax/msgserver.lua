-- snax.msgserver — a gate for users who logged in through a login server.
-- A connection proves who it is with the secret the login server agreed on;
-- after that it exchanges requests and answers, and an answer that could
-- not be delivered is kept so that the same request sent again after a
-- reconnect gets it.
--
-- Stands for the reference's lualib/snax/msgserver.lua. Packages use
-- snax.gateserver's framing (2-byte big-endian length); integers are
-- big-endian.
--   first package:  base64(uid)@base64(server)#base64(subid):index:base64(hmac)
--     hmac = crypt.hmac_hash(secret, "<username>:<index>"); `index` must be
--     larger than the one of any earlier connection of the user. The gate
--     answers "200 OK", or "404 User Not Found", "403 Index Expired",
--     "401 Unauthorized", "400 Bad Request" and closes the connection.
--   request:   content .. dword session
--   answer:    content .. byte ok (1, or 0 with empty content) .. dword session
-- API: server.userid(username) -> uid, subid, server
--      server.username(uid, subid, server) -> username
--      server.login(username, secret), server.logout(username),
--      server.ip(username) -> the peer address while connected, else nil
--      server.start(conf)
-- conf: login_handler(uid, secret) -> subid, logout_handler(uid, subid),
--   kick_handler(uid, subid) (these three are also the lua commands login,
--   logout and kick), request_handler(username, msg) -> answer,
--   register_handler(servername) (when the gate opened), disconnect_handler
--   (username) (optional), expired_number (default 128: how many delivered
--   answers stay cached).

local skynet = require "skynet"
local gateserver = require "snax.gateserver"
local netpack = require "skynet.netpack"
local crypt = require "skynet.crypt"
local driver = require "skynet.socketdriver"

local b64encode, b64decode = crypt.base64encode, crypt.base64decode

local server = {}

-- Logged-in users by username. A user record:
--   name, secret
--   generation  the index of its current connection (0: none yet)
--   clock       counts delivered answers, for retiring old ones
--   answers     session -> { to, packed, generation, stamp }: `to` is the fd
--               still owed the answer (nil once sent), `packed` the framed
--               answer (nil while the request runs), `stamp` the clock value
--               it was sent at
--   fd, ip      the connection that proved itself, while it lasts
local users = {}
-- fd -> user record of a proven connection
local proven = {}
-- fd -> peer address, for connections whose first package is still due
local unproven = {}

function server.login(username, secret)
  assert(users[username] == nil)
  users[username] = {
    name = username,
    secret = secret,
    generation = 0,
    clock = 0,
    answers = {},
  }
end

function server.logout(username)
  local fd = users[username].fd
  users[username] = nil
  if fd and proven[fd] then
    proven[fd] = nil
    gateserver.closeclient(fd)
  end
end

function server.ip(username)
  local user = users[username]
  return user and user.fd and user.ip or nil
end

function server.username(uid, subid, servername)
  local parts = { b64encode(uid), "@", b64encode(servername), "#", b64encode(tostring(subid)) }
  return table.concat(parts)
end

-- the inverse of server.username
function server.userid(username)
  local parts = { username:match "([^@]*)@([^#]*)#(.*)" } -- uid, server, subid
  return b64decode(parts[1]), b64decode(parts[3]), b64decode(parts[2])
end

-- the answers to a refused first package
local REFUSAL = {
  unknown = "404 User Not Found",
  expired = "403 Index Expired",
  forged = "401 Unauthorized",
  malformed = "400 Bad Request",
}

-- Judges the first package `text` of fd: nil when the connection is now
-- the user's, else the REFUSAL key. Raises on malformed text. Must not
-- yield: the user may not change meanwhile.
local function judge(fd, addr, text)
  local username, index, proof = text:match "([^:]*):([^:]*):([^:]*)"
  local user = users[username]
  if user then
    -- both raise on malformed text, before the other checks
    local n = assert(tonumber(index))
    local mac = b64decode(proof)
    if n <= user.generation then
      return "expired"
    end
    if mac ~= crypt.hmac_hash(user.secret, username .. ":" .. index) then
      return "forged"
    end
    proven[fd] = user
    user.generation, user.fd, user.ip = n, fd, addr
    return nil
  end
  return "unknown"
end

local function malformed(err)
  skynet.error(err)
  return "malformed"
end

-- The framed answer to `session`: the handler's result with ok = 1, or,
-- when it raised, nothing but ok = 0 (the error is logged).
local function framed_answer(handler, user, session, content)
  local ok, result = pcall(handler, user.name, content)
  result = result or ""
  local body
  if ok then
    body = result .. string.pack(">BI4", 1, session)
  else
    skynet.error(result)
    body = string.pack(">BI4", 0, session)
  end
  return string.pack(">s2", body)
end

-- request handlers pass requests on to agents as "client" messages
skynet.register_protocol {
  name = "client",
  id = skynet.PTYPE_CLIENT,
}

function server.start(conf)
  local keep = conf.expired_number or 128
  local commands = {
    login = assert(conf.login_handler),
    logout = assert(conf.logout_handler),
    kick = assert(conf.kick_handler),
  }
  local on_request = assert(conf.request_handler)

  -- Once the clock reached twice `keep`, answers delivered more than `keep`
  -- ticks ago are forgotten and the clock restarts after the newest kept.
  local function retire(user)
    if user.clock < 2 * keep then
      return
    end
    local newest = 0
    for session, a in pairs(user.answers) do
      if a.to == nil then
        local stamp = a.stamp - keep
        if stamp < 0 then
          user.answers[session] = nil
        else
          a.stamp = stamp
          newest = math.max(newest, stamp)
        end
      end
    end
    user.clock = newest + 1
  end

  -- The cache entry that serves `session` for fd, or nil when the request
  -- is still running (its answer will go to fd then).
  local function entry_for(user, fd, session, content)
    local a = user.answers[session]
    if a and a.generation == user.generation then
      -- the same connection uses the session again: a new request, unless
      -- the old one has not been answered yet
      user.answers[session] = nil
      if not a.packed then
        local text = string.format("Conflict session %s", crypt.hexencode(session))
        skynet.error(text)
        error(text)
      end
      a = nil
    end
    if a then
      -- sent before the reconnect: re-send to the new fd
      a.to, a.generation, a.stamp = fd, user.generation, user.clock
      return a.packed and a
    end
    a = { to = fd }
    user.answers[session] = a
    -- may yield: the connection may be gone when it returns
    a.packed = framed_answer(on_request, user, session, content)
    a.generation, a.stamp = user.generation, user.clock
    return a
  end

  local function serve(fd, text)
    local user = assert(proven[fd], "invalid fd")
    local session = string.unpack(">I4", text, -4)
    local a = entry_for(user, fd, session, text:sub(1, -5))
    if not a then
      return
    end
    user.clock = user.clock + 1
    local to = a.to
    a.to = nil
    if proven[to] then
      driver.send(to, a.packed)
    end
    retire(user)
  end

  local function first_package(fd, addr, text)
    local _, verdict = xpcall(judge, malformed, fd, addr, text)
    if verdict == nil then
      driver.send(fd, netpack.pack "200 OK")
      return
    end
    driver.send(fd, netpack.pack(REFUSAL[verdict]))
    gateserver.closeclient(fd)
  end

  local function later_package(fd, text)
    local ok, err = pcall(serve, fd, text)
    if ok then
      return
    end
    skynet.error(string.format("Invalid package %s : %s", err, text))
    if proven[fd] then
      gateserver.closeclient(fd)
    end
  end

  local function gone(fd)
    unproven[fd] = nil
    local user = proven[fd]
    if not user then
      return
    end
    local notify = conf.disconnect_handler
    if notify then
      notify(user.name)
    end
    -- the handler may have closed it itself
    if proven[fd] then
      proven[fd] = nil
      user.fd = nil
      gateserver.closeclient(fd)
    end
  end

  return gateserver.start {
    command = function(cmd, _, ...)
      return assert(commands[cmd])(...)
    end,

    open = function(_, gateconf)
      return conf.register_handler(assert(gateconf.servername))
    end,

    connect = function(fd, addr)
      unproven[fd] = addr
      gateserver.openclient(fd)
    end,

    message = function(fd, msg, sz)
      local text = netpack.tostring(msg, sz)
      local addr = unproven[fd]
      if addr then
        unproven[fd] = nil
        first_package(fd, addr, text)
      else
        later_package(fd, text)
      end
    end,

    disconnect = gone,
    error = gone,
  }
end

return server
