-- net_httpd — helper service of the HTTP tests: an http.httpd server on
-- 127.0.0.1 (port chosen by the OS), one request per connection.
--
-- Routes:
--   /echo...        200, body "method=..;path=..;query=..;body=..;x-test=.."
--                   (query fields sorted "k=v&...")
--   /chunked        200, body sent chunked in three pieces "ab", "", "cde"
--   /headers        200, repeated header field "x-multi" (two values)
--   /nolength       raw reply without content-length, then close
--   /status/<n>     status n, no body
--   /hang           no reply until the client goes away
--   anything else   404
-- Bodies are limited to 8192 bytes (413 beyond).
-- lua command `listen()` -> port.
--
-- Stands for no file of the reference; test infrastructure.

local skynet = require "skynet"
local socket = require "skynet.socket"
local httpd = require "http.httpd"
local sockethelper = require "http.sockethelper"
local urllib = require "http.url"

local function sorted_query(query)
  local q = urllib.parse_query(query)
  local keys = {}
  for k in pairs(q) do
    keys[#keys + 1] = k
  end
  table.sort(keys)
  local out = {}
  for i, k in ipairs(keys) do
    local v = q[k]
    if type(v) == "table" then
      v = table.concat(v, "|")
    end
    out[i] = k .. "=" .. v
  end
  return table.concat(out, "&")
end

local function handle(fd)
  local read = sockethelper.readfunc(fd)
  local write = sockethelper.writefunc(fd)
  local code, url, method, header, body = httpd.read_request(read, 8192)
  if not code then
    return
  end
  if code ~= 200 then
    httpd.write_response(write, code)
    return
  end
  local path, query = urllib.parse(url)
  if path:sub(1, 5) == "/echo" then
    local text = string.format("method=%s;path=%s;query=%s;body=%s;x-test=%s",
      method, path, sorted_query(query), body, tostring(header["x-test"]))
    httpd.write_response(write, 200, text, { ["x-server"] = "net_httpd" })
  elseif path == "/chunked" then
    local pieces = { "ab", "", "cde" }
    local i = 0
    httpd.write_response(write, 200, function()
      i = i + 1
      return pieces[i]
    end)
  elseif path == "/headers" then
    httpd.write_response(write, 200, "h", { ["x-multi"] = { "one", "two" } })
  elseif path == "/nolength" then
    socket.write(fd, "HTTP/1.1 200 OK\r\nx-kind: nolength\r\n\r\nuntil the close")
  elseif path:match "^/status/%d+$" then
    httpd.write_response(write, tonumber(path:match "%d+"))
  elseif path == "/hang" then
    socket.readall(fd)
  else
    httpd.write_response(write, 404, "not found")
  end
end

skynet.start(function()
  skynet.dispatch("lua", function()
    local id, _, port = socket.listen("127.0.0.1", 0)
    socket.start(id, function(fd)
      skynet.fork(function()
        socket.start(fd)
        handle(fd)
        socket.close(fd)
      end)
    end)
    skynet.retpack(port)
  end)
end)
