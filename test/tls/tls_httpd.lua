-- tls_httpd — helper service of the TLS tests: an https server (http.httpd
-- over http.tlshelper) on 127.0.0.1, port chosen by the OS, with the
-- certificate and key named by the config's `certfile` / `keyfile`.
--
-- GET /echo?... answers "method=..;path=..;query=..;body=<size>:<sum>"
-- where <sum> is the byte sum of the body mod 2^32 (large bodies are not
-- echoed back); GET /big/<n> answers n bytes of a fixed pattern; anything
-- else is a 404. lua command `listen()` -> port.
--
-- Stands for the reference's examples/simpleweb.lua https branch; test
-- infrastructure.

local skynet = require "skynet"
local socket = require "skynet.socket"
local httpd = require "http.httpd"
local urllib = require "http.url"
local tls = require "http.tlshelper"

local ctx

local function checksum(s)
  local sum = 0
  for i = 1, #s do
    sum = (sum + s:byte(i)) % 4294967296
  end
  return sum
end

local function pattern(n)
  local unit = "0123456789abcdefghijklmnopqrstuvwxyz"
  return string.rep(unit, n // #unit + 1):sub(1, n)
end

local function serve(fd)
  local session = tls.newtls("server", ctx)
  local init = tls.init_responsefunc(fd, session)
  local read = tls.readfunc(fd, session)
  local write = tls.writefunc(fd, session)
  init()
  local code, url, method, _, body = httpd.read_request(read, 1024 * 1024)
  if not code then
    return
  end
  if code ~= 200 then
    httpd.write_response(write, code)
    return
  end
  local path, query = urllib.parse(url)
  if path == "/echo" then
    local text = string.format("method=%s;path=%s;query=%s;body=%d:%d",
      method, path, query, #body, checksum(body))
    httpd.write_response(write, 200, text, { ["x-server"] = "tls_httpd" })
  elseif path:match "^/big/%d+$" then
    httpd.write_response(write, 200, pattern(tonumber(path:match "%d+")))
  else
    httpd.write_response(write, 404, "not found")
  end
  tls.closefunc(session)()
end

skynet.start(function()
  ctx = tls.newctx()
  ctx:set_cert(assert(skynet.getenv "certfile"), assert(skynet.getenv "keyfile"))
  skynet.dispatch("lua", function()
    local id, _, port = socket.listen("127.0.0.1", 0)
    socket.start(id, function(fd)
      skynet.fork(function()
        socket.start(fd)
        local ok, err = pcall(serve, fd)
        if not ok then
          skynet.error("tls_httpd: " .. tostring(err))
        end
        socket.close(fd)
      end)
    end)
    skynet.retpack(port)
  end)
end)
