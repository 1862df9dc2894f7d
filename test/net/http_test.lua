-- http — test service: http.httpc against http.httpd (net_httpd) on
-- 127.0.0.1, plus http.url and http.internal on canned input.
--
-- Stands for no file of the reference (its test/testhttp.lua is a manual
-- demo against public hosts); test infrastructure.

local skynet = require "skynet"
local socket = require "skynet.socket"
local httpc = require "http.httpc"
local httpd = require "http.httpd"
local internal = require "http.internal"
local urllib = require "http.url"
local t = require "netcheck"

local host -- "127.0.0.1:<port>" of net_httpd

-- a read function over canned pieces (what a socket would hand out)
local function canned(pieces)
  local i = 0
  local pending = ""
  return function(n)
    while n and #pending < n do
      i = i + 1
      if pieces[i] == nil then
        error "canned input exhausted"
      end
      pending = pending .. pieces[i]
    end
    if n == nil then
      if pending == "" then
        i = i + 1
        if pieces[i] == nil then
          error "canned input exhausted"
        end
        return pieces[i]
      end
      local all = pending
      pending = ""
      return all
    end
    local out = pending:sub(1, n)
    pending = pending:sub(n + 1)
    return out
  end
end

-- one raw request on a fresh connection; the whole reply until close
local function raw_request(text)
  local port = tonumber(host:match ":(%d+)$")
  local fd = t.truthy(socket.open("127.0.0.1", port), "open")
  socket.write(fd, text)
  local reply = socket.readall(fd)
  socket.close(fd)
  return reply
end

local cases = {}

local function case(id, fn)
  cases[#cases + 1] = { id, fn }
end

case("url", function()
  local path, query = urllib.parse "/a%20b/c+d?x=1&y=%41"
  t.eq(path, "/a b/c d", "decoded path")
  t.eq(query, "x=1&y=%41", "raw query")
  path, query = urllib.parse "/plain"
  t.eq(path, "/plain", "path without query")
  t.eq(query, "", "empty query")
  local q = urllib.parse_query "a=1&b=x+y&a=3&c=%26"
  t.eq(type(q.a), "table", "repeated name")
  t.eq(table.concat(q.a, ","), "1,3", "repeated values")
  t.eq(q.b, "x y", "plus is a space")
  t.eq(q.c, "&", "escaped byte")
end)

case("internal_header_parsing", function()
  local lines = {}
  local rest = internal.recvheader(canned {
    "GET / HTTP/1.1\r\nHo", "st: a\r\nX-Long: one\r\n\ttwo\r\nX-Rep: 1\r\nX-Rep: 2\r", "\n\r\nBODY",
  }, lines, "")
  t.eq(rest, "BODY", "bytes after the header")
  t.eq(#lines, 6, "header lines")
  local header = internal.parseheader(lines, 2, {})
  t.eq(header.host, "a", "lowercase name")
  t.eq(header["x-long"], "onetwo", "folded line")
  t.eq(table.concat(header["x-rep"], ","), "1,2", "repeated field")
  t.eq(internal.parseheader({ "no colon here" }, 1, {}), nil, "malformed line")
  t.eq(internal.recvheader(canned {}, {}, "\r\nrest"), "rest", "empty header block")
  local huge = canned { string.rep("x", 5000), string.rep("y", 5000) }
  t.eq(internal.recvheader(huge, {}, ""), nil, "header over 8 KB")
end)

case("internal_chunked", function()
  local body, header = internal.recvchunkedbody(canned { "3\r\nabc\r\n", "A\r\n0123456789\r\n0\r\nX-T: v\r\n\r\n" },
    nil, {}, "")
  t.eq(body, "abc0123456789", "chunks joined")
  t.eq(header["x-t"], "v", "trailer merged")
  t.eq(internal.recvchunkedbody(canned { "5\r\nabcde\r\n0\r\n\r\n" }, 3, {}, ""), nil, "over the limit")
  t.eq(internal.recvchunkedbody(canned { "3\r\nabcXX" }, nil, {}, ""), nil, "missing CRLF")
end)

case("get_echo", function()
  local recv = {}
  local status, body = httpc.get(host, "/echo?b=2&a=x%20y", recv, { ["x-test"] = "hi" })
  t.eq(status, 200, "status")
  t.eq(body, "method=GET;path=/echo;query=a=x y&b=2;body=;x-test=hi", "body")
  t.eq(recv["x-server"], "net_httpd", "response header")
  t.eq(recv["content-length"], tostring(#body), "content-length")
end)

case("scheme_prefix", function()
  local status, body = httpc.get("http://" .. host, "/echo")
  t.eq(status, 200, "status")
  t.contains(body, "path=/echo", "body")
  t.contains(t.raises(httpc.get, "ftp://" .. host, "/"), "Invalid protocol: ftp", "unknown scheme")
end)

case("post_and_put", function()
  local status, body = httpc.post(host, "/echo", { name = "a b&c" })
  t.eq(status, 200, "post status")
  t.contains(body, "method=POST;", "method")
  t.contains(body, "body=name=a%20b%26c;", "form encoded")
  status, body = httpc.request("PUT", host, "/echo", nil, nil, "payload")
  t.eq(status, 200, "put status")
  t.contains(body, "method=PUT;path=/echo;query=;body=payload;", "put body")
end)

case("chunked_response", function()
  local recv = {}
  local status, body = httpc.get(host, "/chunked", recv)
  t.eq(status, 200, "status")
  t.eq(body, "abcde", "body")
  t.eq(recv["transfer-encoding"], "chunked", "encoding")
end)

case("request_stream", function()
  local stream = httpc.request_stream("GET", host, "/chunked")
  t.eq(stream.status, 200, "status")
  local pieces = {}
  for piece in stream do
    pieces[#pieces + 1] = piece
    t.truthy(#pieces <= 10, "bounded")
  end
  t.eq(table.concat(pieces), "abcde", "pieces")
  t.eq(stream.connected, nil, "ended cleanly")
  stream = httpc.request_stream("GET", host, "/echo?s=1")
  local all = {}
  for piece in stream do
    all[#all + 1] = piece
  end
  t.contains(table.concat(all), "query=s=1", "length-delimited stream")
end)

case("headers_and_statuses", function()
  local recv = {}
  local status = httpc.get(host, "/headers", recv)
  t.eq(status, 200, "status")
  t.eq(type(recv["x-multi"]), "table", "repeated response field")
  t.eq(table.concat(recv["x-multi"], ","), "one,two", "values")
  local body
  status, body = httpc.get(host, "/status/204")
  t.eq(status, 204, "204")
  t.eq(body, "", "no body")
  status, body = httpc.get(host, "/missing")
  t.eq(status, 404, "404")
  t.eq(body, "not found", "404 body")
  status, body = httpc.get(host, "/nolength")
  t.eq(status, 200, "no length")
  t.eq(body, "until the close", "body read until close")
  t.eq(httpc.head(host, "/echo"), 200, "head")
end)

case("body_limit", function()
  local status = httpc.request("POST", host, "/echo", nil, nil, string.rep("x", 10000))
  t.eq(status, 413, "too large")
end)

case("raw_server_bytes", function()
  local reply = raw_request "GET /echo?q=1 HTTP/1.0\r\n\r\n"
  local want = "method=GET;path=/echo;query=q=1;body=;x-test=nil"
  t.truthy(reply:find("^HTTP/1.1 200 OK\r\n"), "status line: " .. reply)
  t.contains(reply, "content-length: " .. #want .. "\r\n\r\n" .. want, "length and body")
  reply = raw_request "GET / HTTP/2.0\r\n\r\n"
  t.eq(reply, "HTTP/1.1 505 HTTP Version not supported\r\n\r\n", "bad version")
  reply = raw_request "GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"
  t.eq(reply, "HTTP/1.1 501 Not Implemented\r\n\r\n", "unknown encoding")
  reply = raw_request "GET /chunked HTTP/1.1\r\n\r\n"
  t.truthy(reply:find("transfer-encoding: chunked\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n", 1, true),
    "chunked bytes: " .. reply)
end)

case("write_response_to_a_function", function()
  local out = {}
  local ok = httpd.write_response(function(s)
    out[#out + 1] = s
  end, 201, "made", { ["x-a"] = "1" })
  t.eq(ok, true, "written")
  t.eq(table.concat(out), "HTTP/1.1 201 Created\r\nx-a: 1\r\ncontent-length: 4\r\n\r\nmade", "bytes")
  local failed, err = httpd.write_response(function()
    error "broken pipe"
  end, 200)
  t.eq(failed, false, "a failing writer")
  t.contains(err, "broken pipe", "its error")
end)

case("timeout", function()
  httpc.timeout = 100
  local ok, err = pcall(httpc.get, host, "/hang")
  httpc.timeout = nil
  t.eq(ok, false, "a request that gets no answer fails")
  t.contains(tostring(err), "Socket Error", "error")
end)

case("connect_refused", function()
  local id, _, port = socket.listen("127.0.0.1", 0)
  socket.close(id)
  local err = t.raises(httpc.get, "127.0.0.1:" .. port, "/")
  t.contains(tostring(err), "connect failed", "error")
end)

skynet.start(function()
  host = "127.0.0.1:" .. skynet.call(skynet.newservice "net_httpd", "lua", "listen")
  t.run("http", cases)
end)
