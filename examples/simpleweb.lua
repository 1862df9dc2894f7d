-- simpleweb — example web server: a listener on port 8001 handing each
-- connection to one of 20 agent services, which answer a request with a
-- description of what they received (host, path, query, header, body).
--
-- Our version of the reference's examples/simpleweb.lua, same behaviour.
-- Run as the start service (no arguments) it is the listener; the config
-- value `simpleweb_port` changes the port (default 8001, as in the
-- reference). `simpleweb agent [http|https]` is one agent; https needs the
-- ltls module and the `certfile` / `keyfile` config values (default
-- ./server-cert.pem and ./server-key.pem).

local skynet = require "skynet"
local socket = require "skynet.socket"
local httpd = require "http.httpd"
local sockethelper = require "http.sockethelper"
local urllib = require "http.url"

local role, scheme = ...
scheme = scheme or "http"

local AGENTS = 20
local DEFAULT_PORT = 8001
-- request bodies beyond this are refused with 413 (nil would mean no limit)
local BODY_LIMIT = 8192

---------------------------------------------------------------------------
-- Agent

-- Per scheme: the functions to talk over an accepted socket.
local connection = {}

function connection.http(fd)
  return {
    read = sockethelper.readfunc(fd),
    write = sockethelper.writefunc(fd),
  }
end

local https_ctx

function connection.https(fd)
  local tls = require "http.tlshelper"
  if https_ctx == nil then
    -- a test pair: openssl req -x509 -newkey rsa:2048 -days 3650 -nodes
    --   -keyout server-key.pem -out server-cert.pem
    local certfile = skynet.getenv "certfile" or "./server-cert.pem"
    local keyfile = skynet.getenv "keyfile" or "./server-key.pem"
    print(certfile, keyfile)
    https_ctx = tls.newctx()
    https_ctx:set_cert(certfile, keyfile)
  end
  local session = tls.newtls("server", https_ctx)
  local conn = { read = tls.readfunc(fd, session), write = tls.writefunc(fd, session) }
  -- the handshake runs first, the session ends after the socket closed
  conn.init, conn.close = tls.init_responsefunc(fd, session), tls.closefunc(session)
  return conn
end

-- The page answered to a good request.
local function report(url, header, body)
  local path, query = urllib.parse(url)
  local out = {}
  local function add(fmt, ...)
    out[#out + 1] = string.format(fmt, ...)
  end
  if header.host then
    add("host: %s", header.host)
  end
  add("path: %s", path)
  if query then
    for name, value in pairs(urllib.parse_query(query)) do
      add("query: %s= %s", name, value)
    end
  end
  add "-----header----"
  for name, value in pairs(header) do
    add("%s = %s", name, value)
  end
  add("-----body----\n%s", body)
  return table.concat(out, "\n")
end

local function answer(fd, write, status, body)
  local ok, err = httpd.write_response(write, status, body)
  if not ok then
    -- err is sockethelper.socket_error when the peer went away
    skynet.error(string.format("fd = %d, %s", fd, err))
  end
end

local function handle_request(fd, conn)
  local status, url, _, header, body = httpd.read_request(conn.read, BODY_LIMIT)
  if status == nil then
    -- reading failed; `url` holds the error
    skynet.error(url == sockethelper.socket_error and "socket closed" or url)
    return
  end
  -- an error status is answered without a body
  answer(fd, conn.write, status, status == 200 and report(url, header, body) or nil)
end

local function agent()
  local open = connection[scheme]
  if open == nil then
    error(string.format("Invalid protocol: %s", scheme))
  end
  skynet.dispatch("lua", function(_, _, fd)
    socket.start(fd)
    local conn = open(fd)
    if conn.init then
      conn.init()
    end
    handle_request(fd, conn)
    socket.close(fd)
    if conn.close then
      conn.close()
    end
  end)
end

---------------------------------------------------------------------------
-- Listener

local function listener()
  local agents = {}
  for i = 1, AGENTS do
    agents[i] = skynet.newservice(SERVICE_NAME, "agent", "http")
  end
  local port = tonumber(skynet.getenv "simpleweb_port") or DEFAULT_PORT
  local next_agent = 0
  local id = socket.listen("0.0.0.0", port)
  skynet.error(string.format("Listen web port %d protocol:%s", port, "http"))
  socket.start(id, function(fd, addr)
    next_agent = next_agent % AGENTS + 1
    local target = agents[next_agent]
    skynet.error(string.format("%s connected, pass it to agent :%08x", addr, target))
    skynet.send(target, "lua", fd)
  end)
end

skynet.start(role == "agent" and agent or listener)
