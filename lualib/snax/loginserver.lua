-- snax.loginserver — a login service framework: one master listens, slaves
-- run the authentication handshake of each connection.
--
-- Stands for the reference's lualib/snax/loginserver.lua. A service script
-- calls `require "snax.loginserver"(conf)`; the first instance (no local
-- name `.<conf.name or "login">` yet) becomes the master, registers that
-- name and starts conf.instance (8) slaves of the same script.
--   conf.host ("0.0.0.0"), conf.port, conf.instance, conf.name,
--   conf.multilogin (allow one uid to log in twice at the same time),
--   conf.auth_handler(token) -> server, uid        (runs in a slave)
--   conf.login_handler(server, uid, secret) -> subid (runs in the master)
--   conf.command_handler(cmd, ...)                 (lua commands to the master)
--
-- Line protocol (each line ends with "\n"):
--   S->C base64(8-byte challenge)
--   C->S base64(8-byte client key)      S->C base64(DH-exchange(server key))
--   both: secret = DH-secret(client key, server key)
--   C->S base64(HMAC64(challenge, secret))
--   C->S base64(DES(secret, token))
--   S->C "200 base64(subid)" | "401 Unauthorized" | "403 Forbidden" |
--        "406 Not Acceptable"

local skynet = require "skynet"
require "skynet.manager"
local socket = require "skynet.socket"
local crypt = require "skynet.crypt"

local assert, error, pcall, tonumber = assert, error, pcall, tonumber
local sformat = string.format

-- raised when a socket read or write fails (already logged)
local socket_error = {}

local function check_socket(step, v, fd)
  if v then
    return v
  end
  skynet.error(sformat("%s failed: socket (fd = %d) closed", step, fd))
  error(socket_error)
end

local function send_line(step, fd, text)
  check_socket(step, socket.write(fd, text), fd)
end

---------------------------------------------------------------------------
-- Slave: the handshake

local function run_slave(auth_handler)
  -- -> pcall-style result of auth_handler, and the shared secret
  local function handshake(fd)
    -- a client sending huge lines is dropped (8 KB limit)
    socket.limit(fd, 8192)

    local challenge = crypt.randomkey()
    send_line("auth", fd, crypt.base64encode(challenge) .. "\n")

    local clientkey = crypt.base64decode(check_socket("auth", socket.readline(fd), fd))
    if #clientkey ~= 8 then
      error "Invalid client key"
    end
    local serverkey = crypt.randomkey()
    send_line("auth", fd, crypt.base64encode(crypt.dhexchange(serverkey)) .. "\n")
    local secret = crypt.dhsecret(clientkey, serverkey)

    local proof = check_socket("auth", socket.readline(fd), fd)
    if crypt.hmac64(challenge, secret) ~= crypt.base64decode(proof) then
      error "challenge failed"
    end

    local etoken = check_socket("auth", socket.readline(fd), fd)
    local token = crypt.desdecode(secret, crypt.base64decode(etoken))
    local ok, server, uid = pcall(auth_handler, token)
    return ok, server, uid, secret
  end

  -- pack what handshake returned (or why it failed) as the reply
  local function pack_result(ran, first, ...)
    if ran then
      return skynet.pack(first, ...)
    end
    if first == socket_error then
      return skynet.pack(nil, "socket error")
    end
    return skynet.pack(false, first)
  end

  local function authenticate(fd, addr)
    skynet.error(sformat("connect from %s (fd = %d)", addr, fd))
    socket.start(fd) -- may raise
    local msg, sz = pack_result(pcall(handshake, fd))
    -- the master writes the verdict on this fd; hand it back
    socket.abandon(fd)
    return msg, sz
  end

  skynet.dispatch("lua", function(_, _, ...)
    local ok, msg, sz = pcall(authenticate, ...)
    if ok then
      skynet.ret(msg, sz)
    else
      skynet.ret(skynet.pack(false, msg))
    end
  end)
end

---------------------------------------------------------------------------
-- Master: accepting and the login step

-- uid -> true while that user is logging in
local logging_in = {}

local function serve_client(conf, slave, fd, addr)
  local ok, server, uid, secret = skynet.call(slave, "lua", fd, addr)
  -- the slave started the fd, so the master may write to it now
  if not ok then
    if ok ~= nil then
      send_line("response 401", fd, "401 Unauthorized\n")
    end
    error(server)
  end

  if not conf.multilogin then
    if logging_in[uid] then
      send_line("response 406", fd, "406 Not Acceptable\n")
      error(sformat("User %s is already login", uid))
    end
    logging_in[uid] = true
  end

  local done, subid = pcall(conf.login_handler, server, uid, secret)
  logging_in[uid] = nil

  if done then
    send_line("response 200", fd, "200 " .. crypt.base64encode(subid or "") .. "\n")
  else
    send_line("response 403", fd, "403 Forbidden\n")
    error(subid)
  end
end

local function run_master(conf)
  local count = conf.instance or 8
  assert(count > 0)
  local host = conf.host or "0.0.0.0"
  local port = assert(tonumber(conf.port))

  skynet.dispatch("lua", function(_, _, command, ...)
    skynet.ret(skynet.pack(conf.command_handler(command, ...)))
  end)

  local slaves = {}
  for i = 1, count do
    slaves[i] = skynet.newservice(SERVICE_NAME)
  end
  local turn = 1

  skynet.error(sformat("login server listen at : %s %d", host, port))
  local listen_fd = socket.listen(host, port)
  socket.start(listen_fd, function(fd, addr)
    local slave = slaves[turn]
    turn = turn % #slaves + 1
    local ok, err = pcall(serve_client, conf, slave, fd, addr)
    if not ok and err ~= socket_error then
      skynet.error(sformat("invalid client (fd = %d) error = %s", fd, err))
    end
    socket.close(fd)
  end)
end

local function login(conf)
  local name = "." .. (conf.name or "login")
  skynet.start(function()
    if skynet.localname(name) then
      -- a slave: the master is already there
      run_slave(assert(conf.auth_handler))
      conf = nil
    else
      conf.auth_handler = nil
      assert(conf.login_handler)
      assert(conf.command_handler)
      skynet.register(name)
      run_master(conf)
    end
  end)
end

return login
