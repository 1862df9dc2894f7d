-- http.httpd — the server side of HTTP/1.x: read one request, write one
-- response.
--
-- Stands for the reference's lualib/http/httpd.lua. API:
--   httpd.read_request(read [, bodylimit])
--       -> 200, url, method, header, body
--       -> an error status (413 too large, 505 bad version, 400 bad
--          header, 501 unknown transfer-encoding)
--       -> nil, error (the read raised, e.g. the socket closed)
--   httpd.write_response(write, status [, body [, header]]) -> ok [, err]
--       body: a string (sent with content-length), a function returning
--       the next piece or nil at the end (sent chunked), or nil.

local internal = require "http.internal"

local assert, ipairs, pairs, pcall, tonumber, type =
  assert, ipairs, pairs, pcall, tonumber, type
local sformat = string.format

local httpd = {}

local status_text = {
  [100] = "Continue",
  [101] = "Switching Protocols",
  [200] = "OK",
  [201] = "Created",
  [202] = "Accepted",
  [203] = "Non-Authoritative Information",
  [204] = "No Content",
  [205] = "Reset Content",
  [206] = "Partial Content",
  [300] = "Multiple Choices",
  [301] = "Moved Permanently",
  [302] = "Found",
  [303] = "See Other",
  [304] = "Not Modified",
  [305] = "Use Proxy",
  [307] = "Temporary Redirect",
  [400] = "Bad Request",
  [401] = "Unauthorized",
  [402] = "Payment Required",
  [403] = "Forbidden",
  [404] = "Not Found",
  [405] = "Method Not Allowed",
  [406] = "Not Acceptable",
  [407] = "Proxy Authentication Required",
  [408] = "Request Time-out",
  [409] = "Conflict",
  [410] = "Gone",
  [411] = "Length Required",
  [412] = "Precondition Failed",
  [413] = "Request Entity Too Large",
  [414] = "Request-URI Too Large",
  [415] = "Unsupported Media Type",
  [416] = "Requested range not satisfiable",
  [417] = "Expectation Failed",
  [500] = "Internal Server Error",
  [501] = "Not Implemented",
  [502] = "Bad Gateway",
  [503] = "Service Unavailable",
  [504] = "Gateway Time-out",
  [505] = "HTTP Version not supported",
}

local function read_whole(read, bodylimit)
  local lines = {}
  local pending = internal.recvheader(read, lines, "")
  if not pending then
    return 413
  end
  local method, url, version = assert(lines[1]):match "^(%a+)%s+(.-)%s+HTTP/([%d%.]+)$"
  assert(method and url and version)
  version = assert(tonumber(version))
  if version < 1.0 or version > 1.1 then
    return 505
  end
  local header = internal.parseheader(lines, 2, {})
  if not header then
    return 400
  end
  local mode = header["transfer-encoding"]
  if mode and mode ~= "identity" and mode ~= "chunked" then
    return 501
  end

  local body
  if mode == "chunked" then
    body, header = internal.recvchunkedbody(read, bodylimit, header, pending)
    if not body then
      return 413
    end
  else
    body = pending
    local length = header["content-length"]
    length = length and tonumber(length)
    if length then
      if bodylimit and length > bodylimit then
        return 413
      end
      if #body >= length then
        body = body:sub(1, length)
      else
        body = body .. read(length - #body)
      end
    end
  end
  return 200, url, method, header, body
end

function httpd.read_request(...)
  local ok, code, url, method, header, body = pcall(read_whole, ...)
  if ok then
    return code, url, method, header, body
  end
  return nil, code
end

local function write_whole(write, status, body, header)
  write(sformat("HTTP/1.1 %03d %s\r\n", status, status_text[status] or ""))
  if header then
    for k, v in pairs(header) do
      if type(v) == "table" then
        for _, each in ipairs(v) do
          write(sformat("%s: %s\r\n", k, each))
        end
      else
        write(sformat("%s: %s\r\n", k, v))
      end
    end
  end
  local kind = type(body)
  if kind == "string" then
    write(sformat("content-length: %d\r\n\r\n", #body))
    write(body)
  elseif kind == "function" then
    write "transfer-encoding: chunked\r\n"
    while true do
      local piece = body()
      if not piece then
        write "\r\n0\r\n\r\n"
        break
      end
      if piece ~= "" then
        write(sformat("\r\n%x\r\n", #piece))
        write(piece)
      end
    end
  else
    assert(kind == "nil")
    write "\r\n"
  end
end

function httpd.write_response(...)
  return pcall(write_whole, ...)
end

return httpd
