-- http.internal — reading and writing HTTP/1.1 messages; the common ground
-- of http.httpd, http.httpc and http.websocket.
--
-- Our version of the reference's lualib/http/internal.lua, same API. The
-- functions talk to a connection through `read(n)` (n bytes; without n
-- whatever is available), `write(data)` and, for a response that ends with
-- the connection, `readall()`; all of them raise when the connection broke.
--
--   recvheader(read, lines, pending) -> bytes after the header block, the
--       block's lines appended to `lines`; nil when over 8192 bytes
--   parseheader(lines, from, header) -> header with lower-case names (a
--       repeated name gets the list of its values; a line starting with a
--       TAB continues the previous value); nil on a line without ':'
--   recvchunkedbody(read, limit, header, pending) -> body, header (with the
--       trailer fields); nil when the encoding is broken or over `limit`
--   request(io, method, host, url, recvheader, header, content)
--       -> status, bytes read past the response header, response header
--   response(io, status, pending, header) -> the whole body
--   response_stream(io, status, pending, header) -> a stream (below)

local error, pairs, setmetatable, tonumber, tostring, type =
  error, pairs, setmetatable, tonumber, tostring, type
local concat, sformat = table.concat, string.format

local internal = {}

-- a header block may not grow beyond this many bytes
local HEADER_LIMIT = 8192
-- a chunk-size line that runs longer than this without its CRLF is refused
-- (somebody streaming garbage at us)
local SIZE_LINE_LIMIT = 128

---------------------------------------------------------------------------
-- Header blocks

function internal.recvheader(read, lines, pending)
  if pending:sub(1, 2) == "\r\n" then
    -- no fields at all
    return pending:sub(3)
  end
  local text = pending
  local blank = text:find("\r\n\r\n", 1, true)
  while blank == nil do
    -- the blank line may start in the last bytes we already had
    local from = #text - 2
    text = text .. read()
    blank = text:find("\r\n\r\n", from > 1 and from or 1, true)
    if blank == nil then
      if text:sub(1, 2) == "\r\n" then
        return text:sub(3)
      elseif #text > HEADER_LIMIT then
        return nil
      end
    end
  end
  for line in text:sub(1, blank + 1):gmatch "(.-)\r\n" do
    if line == "" then
      break
    end
    lines[#lines + 1] = line
  end
  return text:sub(blank + 4)
end

-- Stores a field; the second value of a name turns it into a list.
local function add_field(header, name, value)
  local known = header[name]
  if known == nil then
    header[name] = value
  elseif type(known) == "table" then
    known[#known + 1] = value
  else
    header[name] = { known, value }
  end
end

local TAB = 9

function internal.parseheader(lines, from, header)
  local last -- the name a continuation line extends
  for i = from, #lines do
    local line = lines[i]
    if line:byte(1) ~= TAB then
      local name, value = line:match "^(.-):%s*(.*)"
      if name == nil then
        return nil
      end
      last = name:lower()
      add_field(header, last, value)
    elseif last then
      header[last] = header[last] .. line:sub(2)
    else
      return nil
    end
  end
  return header
end

---------------------------------------------------------------------------
-- A source: bytes already received (`data`) in front of the connection's
-- read function. Chunked bodies are parsed from one.

local Source = {}
Source.__index = Source

local function source(read, data)
  return setmetatable({ read = read, data = data }, Source)
end

-- The size announced by the next chunk-size line; nil when the line is
-- too long or not a hex number.
function Source:chunk_size()
  local data = self.data
  local eol = data:find("\r\n", 1, true)
  while eol == nil do
    if #data > SIZE_LINE_LIMIT then
      return nil
    end
    data = data .. self.read()
    eol = data:find("\r\n", 1, true)
  end
  self.data = data:sub(eol + 2)
  return tonumber(data:sub(1, eol - 1), 16)
end

-- The `size` bytes of a chunk and the CRLF after them; nil when the CRLF
-- is not there.
function Source:chunk_data(size)
  local data = self.data
  local piece, after
  if #data >= size then
    piece, after = data:sub(1, size), data:sub(size + 1)
  else
    piece, after = data .. self.read(size - #data), ""
  end
  if #after < 2 then
    after = after .. self.read(2 - #after)
  end
  if after:sub(1, 2) ~= "\r\n" then
    return nil
  end
  self.data = after:sub(3)
  return piece
end

-- The trailer after the last chunk, merged into `header`. Returns false
-- when it cannot be read, else true and the header (nil when a trailer
-- line was malformed).
function Source:trailer(header)
  local fields = {}
  local rest = internal.recvheader(self.read, fields, self.data)
  if rest == nil then
    return false
  end
  self.data = rest
  return true, internal.parseheader(fields, 1, header)
end

function internal.recvchunkedbody(read, limit, header, pending)
  local src = source(read, pending)
  local pieces, total = {}, 0
  local size = src:chunk_size()
  while size ~= 0 do
    if size == nil then
      return nil
    end
    total = total + size
    if limit and total > limit then
      return nil
    end
    local piece = src:chunk_data(size)
    if piece == nil then
      return nil
    end
    pieces[#pieces + 1] = piece
    size = src:chunk_size()
  end
  local ok, merged = src:trailer(header)
  if not ok then
    return nil
  end
  return concat(pieces), merged
end

---------------------------------------------------------------------------
-- Client side: the request and the response body

function internal.request(io, method, host, url, recvheader, header, content)
  local out = { sformat("%s %s HTTP/1.1\r\n", method, url) }
  if header == nil then
    out[2] = sformat("host:%s\r\n", host)
  else
    header.Host = header.Host or host
    for name, value in pairs(header) do
      out[#out + 1] = sformat("%s:%s\r\n", name, value)
    end
  end
  if not content then
    out[#out + 1] = "Content-length:0\r\n\r\n"
  elseif header and header["transfer-encoding"] == "chunked" then
    -- the caller's content is already chunk-encoded
    out[#out + 1] = "\r\n"
  else
    out[#out + 1] = sformat("Content-length:%d\r\n\r\n", #content)
  end
  io.write(concat(out))
  if content then
    io.write(content)
  end

  local lines = {}
  local pending = internal.recvheader(io.read, lines, "")
  if pending == nil then
    error "Recv header failed"
  end
  local status = lines[1] and lines[1]:match "HTTP/[%d%.]+%s+(%d+)%s+.*$"
  if status == nil then
    error("Invalid HTTP response status line: " .. tostring(lines[1]))
  end
  local fields = internal.parseheader(lines, 2, recvheader or {})
  if fields == nil then
    error "Invalid HTTP response header"
  end
  return tonumber(status), pending, fields
end

-- How the body of a response is delimited: "chunked", "length" (and the
-- length), "none" or "close" (it runs until the connection ends).
local function delimiting(status, header)
  local coding = header["transfer-encoding"]
  if coding == "chunked" then
    return "chunked"
  elseif coding ~= nil and coding ~= "identity" then
    error "Unsupport transfer-encoding"
  end
  local declared = header["content-length"]
  local length = declared and tonumber(declared)
  if length then
    return "length", length
  elseif status == 204 or status == 304 or status < 200 then
    -- these never carry a body
    return "none"
  end
  return "close"
end

local whole_body = {}

function whole_body.chunked(io, pending, header)
  local body = internal.recvchunkedbody(io.read, nil, header, pending)
  if body == nil then
    error "Invalid response body"
  end
  return body
end

function whole_body.length(io, pending, _, length)
  if #pending >= length then
    return pending:sub(1, length)
  end
  return pending .. io.read(length - #pending)
end

function whole_body.none()
  return ""
end

function whole_body.close(io, pending)
  return pending .. io.readall()
end

function internal.response(io, status, pending, header)
  local how, length = delimiting(status, header)
  return whole_body[how](io, pending, header, length)
end

---------------------------------------------------------------------------
-- Streamed responses
--
-- A stream has `status`, `header` and `connected` (true while reading, nil
-- after a clean end, false when the connection broke). `stream()` or
-- `stream:padding()` returns the next piece of the body (possibly "") and
-- the stream; nil at the end. `stream:close()` (also run on leaving a
-- to-be-closed variable) calls the `_onclose` hook once.

local Stream = {}
Stream.__index = Stream

function Stream:close()
  local hook = self._onclose
  self._onclose = nil
  if hook then
    hook(self)
  end
end

function Stream:padding()
  return self._next(self), self
end

Stream.__call = Stream.padding
Stream.__close = Stream.close

local function ended(s)
  s.connected = nil
  s._next = Stream.close
end

local function broke(s)
  s.connected = false
  s:close()
end

-- A piece from the connection; false and the rest when it closed.
local function receive(s)
  return s._io.read()
end

local next_piece = {}

function next_piece.chunked(s)
  local src = s._source
  local size = src:chunk_size()
  if size == 0 then
    if src:trailer(s.header) then
      ended(s)
      return ""
    end
  elseif size then
    local piece = src:chunk_data(size)
    if piece then
      return piece
    end
  end
  return broke(s)
end

function next_piece.length(s)
  local piece = s._held
  s._held = nil
  if piece == nil then
    local got, rest = receive(s)
    if got then
      piece = got
    else
      piece = rest
      s.connected = false
    end
  end
  local left = s._left
  if #piece >= left then
    ended(s)
    return piece:sub(1, left)
  end
  s._left = left - #piece
  if not s.connected then
    s._next = Stream.close
  end
  return piece
end

function next_piece.none(s)
  ended(s)
  return ""
end

local function until_close(s)
  local got, rest = receive(s)
  if not got or got == "" then
    -- the connection ended: hand out what was left, if anything
    s.connected = nil
    s:close()
    return rest ~= "" and rest or nil
  end
  return got
end

-- first what came with the header, then whatever the connection brings
function next_piece.close(s)
  local held = s._held
  s._held = nil
  s._next = until_close
  return held
end

function internal.response_stream(io, status, pending, header)
  local how, length = delimiting(status, header)
  local s = {
    status = status,
    header = header,
    connected = true,
    _io = io,
    _next = next_piece[how],
  }
  if how == "chunked" then
    s._source = source(io.read, pending)
  else
    s._held = pending
    s._left = length
  end
  return setmetatable(s, Stream)
end

return internal
