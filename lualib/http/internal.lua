-- http.internal — HTTP/1.1 message reading and writing shared by httpd,
-- httpc and websocket.
--
-- Stands for the reference's lualib/http/internal.lua. Everything works on
-- an "interface": `read(n)` returns n bytes (or, without n, whatever is
-- available), `write(s)`, and for responses without a length `readall()`.
-- Both raise on a broken connection.
--
--   recvheader(read, lines, pending) -> rest after the header block, filling
--       `lines` with the header lines; nil when the block is too large (8 KB)
--   parseheader(lines, from, header) -> header (lowercase names; repeated
--       names collect into a list; a line starting with TAB continues the
--       previous one); nil on a malformed line
--   recvchunkedbody(read, limit, header, pending) -> body, header (trailers
--       merged); nil when malformed or over the limit
--   request(interface, method, host, url, recvheader, header, content)
--       -> status code, bytes already read after the header, header
--   response(interface, code, pending, header) -> the whole body
--   response_stream(interface, code, pending, header) -> stream object

local assert, error, pairs, setmetatable, tonumber, type =
  assert, error, pairs, setmetatable, tonumber, type
local sformat = string.format

local M = {}

-- largest header block accepted
local HEADER_LIMIT = 8192
-- a chunk size line longer than this is an attack, not HTTP
local CHUNK_LINE_LIMIT = 128

-- Size of the next chunk and what follows its size line.
local function chunk_size(read, pending)
  while true do
    local cr, lf = pending:find("\r\n", 1, true)
    if cr then
      return tonumber(pending:sub(1, cr - 1), 16), pending:sub(lf + 1)
    end
    if #pending > CHUNK_LINE_LIMIT then
      return
    end
    pending = pending .. read()
  end
end

-- Consume the CRLF that ends a chunk; nil when it is not there.
local function skip_crlf(read, pending)
  if #pending >= 2 then
    if pending:sub(1, 2) ~= "\r\n" then
      return
    end
    return pending:sub(3)
  end
  pending = pending .. read(2 - #pending)
  if pending ~= "\r\n" then
    return
  end
  return ""
end

function M.recvheader(read, lines, pending)
  if #pending >= 2 and pending:find "^\r\n" then
    -- an empty header block
    return pending:sub(3)
  end
  local block = pending
  local rest
  local stop = block:find("\r\n\r\n", 1, true)
  if stop then
    rest = block:sub(stop + 4)
  else
    while true do
      local more = read()
      block = block .. more
      -- the terminator may straddle the old and the new bytes
      stop = block:find("\r\n\r\n", -#more - 3, true)
      if stop then
        rest = block:sub(stop + 4)
        break
      end
      if block:find "^\r\n" then
        return block:sub(3)
      end
      if #block > HEADER_LIMIT then
        return
      end
    end
  end
  for line in block:gmatch "(.-)\r\n" do
    if line == "" then
      break
    end
    lines[#lines + 1] = line
  end
  return rest
end

function M.parseheader(lines, from, header)
  local name
  for i = from, #lines do
    local line = lines[i]
    if line:byte(1) == 9 then
      -- folded line: continues the previous value
      if name == nil then
        return
      end
      header[name] = header[name] .. line:sub(2)
    else
      local value
      name, value = line:match "^(.-):%s*(.*)"
      if name == nil or value == nil then
        return
      end
      name = name:lower()
      local old = header[name]
      if old == nil then
        header[name] = value
      elseif type(old) == "table" then
        old[#old + 1] = value
      else
        header[name] = { old, value }
      end
    end
  end
  return header
end

function M.recvchunkedbody(read, limit, header, pending)
  local parts = {}
  local total = 0
  while true do
    local size
    size, pending = chunk_size(read, pending)
    if not size then
      return
    end
    if size == 0 then
      break
    end
    total = total + size
    if limit and total > limit then
      return
    end
    if #pending >= size then
      parts[#parts + 1] = pending:sub(1, size)
      pending = pending:sub(size + 1)
    else
      parts[#parts + 1] = pending .. read(size - #pending)
      pending = ""
    end
    pending = skip_crlf(read, pending)
    if not pending then
      return
    end
  end
  local trailer = {}
  pending = M.recvheader(read, trailer, pending)
  if not pending then
    return
  end
  header = M.parseheader(trailer, 1, header)
  return table.concat(parts), header
end

-- The body of a response that is not chunked.
-- the declared body length, if any
local function content_length(header)
  local length = header["content-length"]
  return length and tonumber(length)
end

local function plain_body(interface, code, header, pending)
  local length = content_length(header)
  if length then
    if #pending >= length then
      return pending:sub(1, length)
    end
    return pending .. interface.read(length - #pending)
  end
  if code == 204 or code == 304 or code < 200 then
    return ""
  end
  -- no length: the body ends with the connection
  return pending .. interface.readall()
end

function M.request(interface, method, host, url, recvheader, header, content)
  local read, write = interface.read, interface.write
  local fields
  if header then
    if not header.Host then
      header.Host = host
    end
    local list = {}
    for k, v in pairs(header) do
      list[#list + 1] = sformat("%s:%s\r\n", k, v)
    end
    fields = table.concat(list)
  else
    fields = sformat("host:%s\r\n", host)
  end

  if content then
    if header and header["transfer-encoding"] == "chunked" then
      write(sformat("%s %s HTTP/1.1\r\n%s\r\n", method, url, fields))
    else
      write(sformat("%s %s HTTP/1.1\r\n%sContent-length:%d\r\n\r\n", method, url, fields, #content))
    end
    write(content)
  else
    write(sformat("%s %s HTTP/1.1\r\n%sContent-length:0\r\n\r\n", method, url, fields))
  end

  local lines = {}
  local pending = M.recvheader(read, lines, "")
  if not pending then
    error "Recv header failed"
  end
  local code = (lines[1] or ""):match "HTTP/[%d%.]+%s+([%d]+)%s+(.*)$"
  code = assert(tonumber(code or ""))
  local got = M.parseheader(lines, 2, recvheader or {})
  if not got then
    error "Invalid HTTP response header"
  end
  return code, pending, got
end

local function check_encoding(header)
  local mode = header["transfer-encoding"]
  if mode and mode ~= "identity" and mode ~= "chunked" then
    error "Unsupport transfer-encoding"
  end
  return mode
end

function M.response(interface, code, pending, header)
  if check_encoding(header) == "chunked" then
    local body = M.recvchunkedbody(interface.read, nil, header, pending)
    if not body then
      error "Invalid response body"
    end
    return body
  end
  return plain_body(interface, code, header, pending)
end

---------------------------------------------------------------------------
-- Streamed response bodies
--
-- A stream is { status, header, connected, ... }; `stream()` or
-- `stream:padding()` returns the next piece of the body (nil or "" at the
-- end), `stream:close()` (also its to-be-closed handler) releases the
-- connection. `connected` becomes nil after a clean end, false when the
-- connection broke.

local stream = {}
stream.__index = stream

function stream:close()
  local onclose = self._onclose
  if onclose then
    self._onclose = nil
    onclose(self)
  end
end

function stream:padding()
  return self._reading(self), self
end

stream.__close = stream.close
stream.__call = stream.padding

local function finished(s)
  s._reading = stream.close
  s.connected = nil
end

local function read_nothing(s)
  finished(s)
  return ""
end

local function read_length(length)
  return function(s)
    local piece = s._body
    if piece == nil then
      local got, rest = s._interface.read()
      if got then
        piece = got
      else
        piece = rest
        s.connected = false
      end
    end
    if #piece >= length then
      finished(s)
      return piece:sub(1, length)
    end
    length = length - #piece
    s._body = nil
    if not s.connected then
      s._reading = stream.close
    end
    return piece
  end
end

local function read_until_close(s)
  local got, rest = s._interface.read()
  if got == "" or not got then
    s.connected = nil
    s:close()
    if rest == "" then
      return
    end
    return rest
  end
  return got
end

local function read_rest_then_until_close(s)
  local piece = s._body
  s._body = nil
  s._reading = read_until_close
  return piece
end

local function broken(s)
  s.connected = false
  s:close()
end

local function read_chunk(s)
  local read = s._interface.read
  local size, pending = chunk_size(read, s._body)
  if not size then
    return broken(s)
  end
  if size == 0 then
    local trailer = {}
    pending = M.recvheader(read, trailer, pending)
    if not pending then
      return broken(s)
    end
    M.parseheader(trailer, 1, s.header)
    finished(s)
    return ""
  end
  local piece, rest
  if #pending >= size then
    piece, rest = pending:sub(1, size), pending:sub(size + 1)
  else
    piece, rest = pending .. read(size - #pending), ""
  end
  rest = skip_crlf(read, rest)
  if not rest then
    return broken(s)
  end
  s._body = rest
  return piece
end

function M.response_stream(interface, code, pending, header)
  local reader
  if check_encoding(header) == "chunked" then
    reader = read_chunk
  else
    local length = content_length(header)
    if length then
      reader = read_length(length)
    elseif code == 204 or code == 304 or code < 200 then
      reader = read_nothing
    else
      reader = read_rest_then_until_close
    end
  end
  return setmetatable({
    status = code,
    _body = pending,
    _interface = interface,
    _reading = reader,
    header = header,
    connected = true,
  }, stream)
end

return M
