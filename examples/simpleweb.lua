-- simpleweb — example HTTP server: port 8001, 20 agent services, each
-- answering a request with a dump of what it received.
--
-- Stands for the reference's examples/simpleweb.lua. `simpleweb` (no
-- arguments) listens and hands every accepted socket to an agent, round
-- robin; `simpleweb agent [http|https]` is one agent. https needs the ltls
-- module and the certfile/keyfile config values (default
-- ./server-cert.pem, ./server-key.pem).

local skynet = require "skynet"
local socket = require "skynet.socket"
local httpd = require "http.httpd"
local sockethelper = require "http.sockethelper"
local urllib = require "http.url"

local mode, protocol = ...
protocol = protocol or "http"

local function respond(id, write, ...)
  local ok, err = httpd.write_response(write, ...)
  if not ok then
    -- err is sockethelper.socket_error when the client went away
    skynet.error(string.format("fd = %d, %s", id, err))
  end
end

local server_tls_ctx

local function make_interface(fd)
  if protocol == "http" then
    return {
      read = sockethelper.readfunc(fd),
      write = sockethelper.writefunc(fd),
    }
  end
  if protocol == "https" then
    local tls = require "http.tlshelper"
    if not server_tls_ctx then
      server_tls_ctx = tls.newctx()
      -- openssl req -x509 -newkey rsa:2048 -days 3650 -nodes -keyout server-key.pem -out server-cert.pem
      local certfile = skynet.getenv "certfile" or "./server-cert.pem"
      local keyfile = skynet.getenv "keyfile" or "./server-key.pem"
      print(certfile, keyfile)
      server_tls_ctx:set_cert(certfile, keyfile)
    end
    local ctx = tls.newtls("server", server_tls_ctx)
    return {
      init = tls.init_responsefunc(fd, ctx),
      close = tls.closefunc(ctx),
      read = tls.readfunc(fd, ctx),
      write = tls.writefunc(fd, ctx),
    }
  end
  error(string.format("Invalid protocol: %s", protocol))
end

-- the text answered to a good request
local function describe(url, header, body)
  local lines = {}
  if header.host then
    lines[#lines + 1] = string.format("host: %s", header.host)
  end
  local path, query = urllib.parse(url)
  lines[#lines + 1] = string.format("path: %s", path)
  if query then
    for k, v in pairs(urllib.parse_query(query)) do
      lines[#lines + 1] = string.format("query: %s= %s", k, v)
    end
  end
  lines[#lines + 1] = "-----header----"
  for k, v in pairs(header) do
    lines[#lines + 1] = string.format("%s = %s", k, v)
  end
  lines[#lines + 1] = "-----body----\n" .. body
  return table.concat(lines, "\n")
end

local function serve(id)
  socket.start(id)
  local interface = make_interface(id)
  if interface.init then
    interface.init()
  end
  -- request bodies are limited to 8192 bytes (nil: no limit)
  local code, url, method, header, body = httpd.read_request(interface.read, 8192)
  if code then
    if code ~= 200 then
      respond(id, interface.write, code)
    else
      respond(id, interface.write, code, describe(url, header, body))
    end
  elseif url == sockethelper.socket_error then
    skynet.error "socket closed"
  else
    skynet.error(url)
  end
  socket.close(id)
  if interface.close then
    interface.close()
  end
end

if mode == "agent" then
  skynet.start(function()
    skynet.dispatch("lua", function(_, _, id)
      serve(id)
    end)
  end)
else
  skynet.start(function()
    local agents = {}
    for i = 1, 20 do
      agents[i] = skynet.newservice(SERVICE_NAME, "agent", "http")
    end
    local turn = 1
    local id = socket.listen("0.0.0.0", 8001)
    skynet.error(string.format("Listen web port 8001 protocol:%s", "http"))
    socket.start(id, function(fd, addr)
      skynet.error(string.format("%s connected, pass it to agent :%08x", addr, agents[turn]))
      skynet.send(agents[turn], "lua", fd)
      turn = turn % #agents + 1
    end)
  end)
end
