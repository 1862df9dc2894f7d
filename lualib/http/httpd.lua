-- http.httpd — the server half of HTTP/1.x: take one request off a
-- connection, put one response on it.
--
-- Our version of the reference's lualib/http/httpd.lua, same API:
--   httpd.read_request(read [, bodylimit])
--       -> 200, url, method, header, body        a good request
--       -> 413 | 505 | 400 | 501                 header block too large (or
--          body over `bodylimit`), HTTP version not 1.0/1.1, malformed
--          header line, transfer-encoding other than identity/chunked
--       -> nil, err                              reading raised (e.g. the
--          peer closed: err is http.sockethelper.socket_error)
--   httpd.write_response(write, status [, body [, header]]) -> true
--       | false, err. `body` is a string (sent with content-length), a
--       function giving the next piece and nil at the end (sent chunked),
--       or nil (no body). A header value may be a list: one line each.

local internal = require "http.internal"

local error, ipairs, pairs, pcall, tonumber, type = error, ipairs, pairs, pcall, tonumber, type
local concat, sformat = table.concat, string.format

local httpd = {}

-- Reason phrases of the status line, one "code text" per line; a status
-- missing here gets an empty reason.
local REASONS = [[
100 Continue
101 Switching Protocols
200 OK
201 Created
202 Accepted
203 Non-Authoritative Information
204 No Content
205 Reset Content
206 Partial Content
300 Multiple Choices
301 Moved Permanently
302 Found
303 See Other
304 Not Modified
305 Use Proxy
307 Temporary Redirect
400 Bad Request
401 Unauthorized
402 Payment Required
403 Forbidden
404 Not Found
405 Method Not Allowed
406 Not Acceptable
407 Proxy Authentication Required
408 Request Time-out
409 Conflict
410 Gone
411 Length Required
412 Precondition Failed
413 Request Entity Too Large
414 Request-URI Too Large
415 Unsupported Media Type
416 Requested range not satisfiable
417 Expectation Failed
500 Internal Server Error
501 Not Implemented
502 Bad Gateway
503 Service Unavailable
504 Gateway Time-out
505 HTTP Version not supported
]]

local reason_of = {}
for code, text in REASONS:gmatch "(%d+) ([^\n]+)" do
  reason_of[tonumber(code)] = text
end

---------------------------------------------------------------------------
-- Reading

-- The body as declared by content-length (or what was read along with the
-- header when there is none); nil when the declared size is over `limit`.
local function identity_body(read, limit, header, pending)
  local declared = header["content-length"]
  local size = declared and tonumber(declared)
  if size == nil then
    return pending
  end
  if limit and size > limit then
    return nil
  end
  local missing = size - #pending
  if missing <= 0 then
    return pending:sub(1, size)
  end
  return pending .. read(missing)
end

-- Raises when the request line is not "METHOD target HTTP/x.y".
local function request(read, limit)
  local lines = {}
  local pending = internal.recvheader(read, lines, "")
  if pending == nil then
    return 413
  end
  local method, target, version = assert(lines[1]):match "^(%a+)%s+(.-)%s+HTTP/([%d%.]+)$"
  assert(method and target and version)
  version = assert(tonumber(version))
  if version > 1.1 or version < 1.0 then
    return 505
  end

  local header = internal.parseheader(lines, 2, {})
  if header == nil then
    return 400
  end

  local body
  local coding = header["transfer-encoding"]
  if coding == "chunked" then
    body, header = internal.recvchunkedbody(read, limit, header, pending)
  elseif coding == nil or coding == "identity" then
    body = identity_body(read, limit, header, pending)
  else
    return 501
  end
  if body == nil then
    return 413
  end
  return 200, target, method, header, body
end

function httpd.read_request(read, bodylimit)
  local ok, code, url, method, header, body = pcall(request, read, bodylimit)
  if not ok then
    return nil, code
  end
  return code, url, method, header, body
end

---------------------------------------------------------------------------
-- Writing

-- The status line and the header lines, without the blank line.
local function head_text(status, header)
  local out = { sformat("HTTP/1.1 %03d %s\r\n", status, reason_of[status] or "") }
  for name, value in pairs(header or {}) do
    if type(value) == "table" then
      for _, each in ipairs(value) do
        out[#out + 1] = sformat("%s: %s\r\n", name, each)
      end
    else
      out[#out + 1] = sformat("%s: %s\r\n", name, value)
    end
  end
  return out
end

local function response(write, status, body, header)
  local head = head_text(status, header)
  local kind = type(body)
  if kind == "nil" then
    head[#head + 1] = "\r\n"
    write(concat(head))
  elseif kind == "string" then
    head[#head + 1] = sformat("content-length: %d\r\n\r\n", #body)
    write(concat(head))
    write(body)
  elseif kind == "function" then
    -- chunked: every chunk starts with the CRLF that ends what came before
    head[#head + 1] = "transfer-encoding: chunked\r\n"
    write(concat(head))
    local piece = body()
    while piece do
      if piece ~= "" then
        write(sformat("\r\n%x\r\n", #piece))
        write(piece)
      end
      piece = body()
    end
    write "\r\n0\r\n\r\n"
  else
    error("http response body must be a string, a function or nil, not a " .. kind)
  end
end

function httpd.write_response(write, status, body, header)
  return pcall(response, write, status, body, header)
end

return httpd
