-- snax.loginserver — a login service in two roles: one master owns the
-- listening socket and decides logins; several slaves (more instances of
-- the same service script) run the key exchange with each client.
--
-- Stands for the reference's lualib/snax/loginserver.lua. A service script
-- calls `require "snax.loginserver"(conf)`. The first instance finds no
-- service named `.<conf.name or "login">`, takes that name and becomes the
-- master, starting conf.instance (default 8) slaves of SERVICE_NAME.
--   conf.host ("0.0.0.0"), conf.port, conf.instance, conf.name,
--   conf.multilogin   true: the same uid may log in twice concurrently
--   conf.auth_handler(token) -> server, uid          (runs in the slaves)
--   conf.login_handler(server, uid, secret) -> subid (runs in the master)
--   conf.command_handler(cmd, ...)   answers lua messages to the master
--
-- The client conversation, one "\n"-terminated line each:
--   server: base64(8-byte random challenge)
--   client: base64(DH-exchange(8-byte client key))
--   server: base64(DH-exchange(8-byte server key))
--           (both sides: secret = DH-secret of the two keys)
--   client: base64(HMAC64(challenge, secret))
--   client: base64(DES(secret, token))
--   server: "200 base64(subid)", or "401 Unauthorized" (auth_handler
--           failed), "403 Forbidden" (login_handler failed), "406 Not
--           Acceptable" (the uid is logging in already)

local skynet = require "skynet"
require "skynet.manager"
local socket = require "skynet.socket"
local crypt = require "skynet.crypt"

local b64encode, b64decode = crypt.base64encode, crypt.base64decode

-- What is raised when the client's socket went away (after it was logged).
local LOST = {}

-- Master: uids between the slave's approval and the end of login_handler.
local in_progress = {}

-- `value`, unless it is false/nil: then the socket is gone during `step`.
local function alive(step, fd, value)
  if not value then
    skynet.error(string.format("%s failed: socket (fd = %d) closed", step, fd))
    error(LOST)
  end
  return value
end

local function put_line(step, fd, line)
  alive(step, fd, socket.write(fd, line .. "\n"))
end

local function get_line(step, fd)
  return alive(step, fd, socket.readline(fd))
end

---------------------------------------------------------------------------
-- Slave side

-- Agrees on a secret with the client; -> challenge, secret.
local function key_exchange(fd)
  local challenge = crypt.randomkey()
  put_line("auth", fd, b64encode(challenge))
  local client_key = b64decode(get_line("auth", fd))
  if #client_key ~= 8 then
    error "Invalid client key"
  end
  local server_key = crypt.randomkey()
  put_line("auth", fd, b64encode(crypt.dhexchange(server_key)))
  return challenge, crypt.dhsecret(client_key, server_key)
end

-- The whole conversation up to the token; -> what pcall(auth_handler, token)
-- gives (ok, server, uid), then the secret.
local function converse(auth_handler, fd)
  -- a client sending lines longer than 8 KB is cut off
  socket.limit(fd, 8192)
  local challenge, secret = key_exchange(fd)
  local proof = b64decode(get_line("auth", fd))
  if proof ~= crypt.hmac64(challenge, secret) then
    error "challenge failed"
  end
  local token = crypt.desdecode(secret, b64decode(get_line("auth", fd)))
  local ok, server, uid = pcall(auth_handler, token)
  return ok, server, uid, secret
end

-- The reply to the master, packed: converse's results when it ran through,
-- nil and "socket error" when the socket went away, false and the error
-- otherwise.
local function reply_of(ran, ...)
  if ran then
    return skynet.pack(...)
  end
  local err = ...
  if err ~= LOST then
    return skynet.pack(false, err)
  end
  return skynet.pack(nil, "socket error")
end

local function slave(auth_handler)
  -- the master asks: fd, addr
  local function handle(fd, addr)
    skynet.error(string.format("connect from %s (fd = %d)", addr, fd))
    socket.start(fd) -- raises when the fd is gone already
    local msg, sz = reply_of(pcall(converse, auth_handler, fd))
    -- the master writes the verdict: give the fd back
    socket.abandon(fd)
    return msg, sz
  end

  -- handle's packed reply, or false and its error packed
  local function packed(ok, ...)
    if ok then
      return ...
    end
    return skynet.pack(false, (...))
  end

  skynet.dispatch("lua", function(_, _, ...)
    skynet.ret(packed(pcall(handle, ...)))
  end)
end

---------------------------------------------------------------------------
-- Master side

-- Marks uid as logging in; false when it is already (and conf does not
-- allow multilogin).
local function claim(conf, uid)
  if conf.multilogin then
    return true
  end
  if in_progress[uid] then
    return false
  end
  in_progress[uid] = true
  return true
end

-- Settles one client: asks a slave to run the conversation, then logs the
-- user in and writes the verdict. Raises to refuse.
local function settle(conf, helper, fd, addr)
  -- the slave starts the fd; once it answered, the master may write to it
  local ok, server, uid, secret = skynet.call(helper, "lua", fd, addr)
  if ok == false then
    put_line("response 401", fd, "401 Unauthorized")
  end
  if not ok then
    error(server)
  end

  if not claim(conf, uid) then
    put_line("response 406", fd, "406 Not Acceptable")
    error(string.format("User %s is already login", uid))
  end
  local done, subid = pcall(conf.login_handler, server, uid, secret)
  in_progress[uid] = nil
  if not done then
    put_line("response 403", fd, "403 Forbidden")
    error(subid)
  end
  put_line("response 200", fd, "200 " .. b64encode(subid or ""))
end

local function master(conf)
  local port = assert(tonumber(conf.port))
  local count = conf.instance or 8
  assert(count > 0)

  skynet.dispatch("lua", function(_, _, command, ...)
    skynet.ret(skynet.pack(conf.command_handler(command, ...)))
  end)

  local helpers = {}
  for i = 1, count do
    helpers[i] = skynet.newservice(SERVICE_NAME)
  end
  -- the slaves take the clients in turn
  local served = 0

  local function on_accept(fd, addr)
    served = served + 1
    local helper = helpers[(served - 1) % #helpers + 1]
    local ok, err = pcall(settle, conf, helper, fd, addr)
    if not ok and err ~= LOST then
      skynet.error(string.format("invalid client (fd = %d) error = %s", fd, err))
    end
    socket.close(fd)
  end

  local host = conf.host or "0.0.0.0"
  skynet.error(string.format("login server listen at : %s %d", host, port))
  socket.start(socket.listen(host, port), on_accept)
end

return function(conf)
  local name = "." .. (conf.name or "login")
  skynet.start(function()
    if skynet.localname(name) then
      -- the master is there already: this is one of its slaves
      local auth_handler = assert(conf.auth_handler)
      conf = nil
      slave(auth_handler)
      return
    end
    assert(conf.login_handler and conf.command_handler)
    -- the master needs no auth_handler
    conf.auth_handler = nil
    skynet.register(name)
    master(conf)
  end)
end
