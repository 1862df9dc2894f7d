-- tcp — test service: skynet.socket over TCP and UDP on 127.0.0.1.
--
-- Runs as the `start` service of a node booted by tests/net.rs; the peers
-- are net_tcpserver services in the same node. The UDP port comes from the
-- config keys `net_udp_port` and `net_udp_port2` (picked free by the harness).
--
-- Stands for no file of the reference (its test/testsocket.lua and
-- testudp.lua are manual demos); test infrastructure.

local skynet = require "skynet"
local socket = require "skynet.socket"
local t = require "netcheck"

local function server(mode, arg)
  local s = skynet.newservice "net_tcpserver"
  return skynet.call(s, "lua", "listen", mode, arg), s
end

local function connect(port)
  return t.truthy(socket.open("127.0.0.1", port), "socket.open")
end

local cases = {}

local function case(id, fn, limit)
  cases[#cases + 1] = { id, fn, limit = limit }
end

case("listen_reports_bound_port", function()
  local id, addr, port = socket.listen("127.0.0.1", 0)
  t.eq(type(id), "number", "id")
  t.eq(addr, "127.0.0.1", "address")
  t.truthy(math.type(port) == "integer" and port > 0, "port > 0")
  socket.close(id)
  t.truthy(socket.invalid(id), "invalid after close")
end)

case("echo_read_sizes", function()
  local fd = connect(server "echo")
  t.falsy(socket.invalid(fd), "invalid")
  t.eq(socket.disconnected(fd), false, "disconnected")
  t.truthy(socket.write(fd, "hello world\n"), "write")
  t.eq(socket.readline(fd), "hello world", "readline")
  socket.write(fd, "abcdef")
  t.eq(socket.read(fd, 2), "ab", "read(2)")
  t.eq(socket.read(fd, 4), "cdef", "read(4)")
  socket.write(fd, "one\r\ntwo\r\n")
  t.eq(socket.readline(fd, "\r\n"), "one", "readline crlf 1")
  t.eq(socket.readline(fd, "\r\n"), "two", "readline crlf 2")
  socket.write(fd, "some")
  local got = socket.read(fd)
  -- at least one byte; the rest may come in a later chunk
  t.truthy(got and #got >= 1 and ("some"):sub(1, #got) == got, "read() prefix of 'some'")
  if #got < 4 then
    t.eq(socket.read(fd, 4 - #got), ("some"):sub(#got + 1), "rest of 'some'")
  end
  socket.close(fd)
  t.truthy(socket.invalid(fd), "invalid after close")
end)

case("write_forms", function()
  local fd = connect(server "echo")
  t.truthy(socket.write(fd, { "ta", "ble", "\n" }), "write table")
  t.eq(socket.readline(fd), "table", "table parts joined")
  t.truthy(socket.lwrite(fd, "low priority\n"), "lwrite")
  t.eq(socket.readline(fd), "low priority", "lwrite echoed")
  local msg, sz = skynet.pack "packed"
  t.truthy(socket.write(fd, msg, sz), "write pointer+size")
  local back = socket.read(fd, sz)
  t.eq(skynet.unpack(back), "packed", "pointer payload echoed")
  socket.close(fd)
end)

case("header", function()
  t.eq(socket.header "\1\2", 0x102, "2 bytes")
  t.eq(socket.header "\1\2\3\4", 0x01020304, "4 bytes")
  t.raises(socket.header, "")
end)

case("large_transfer_pauses_and_resumes", function()
  local fd = connect(server "echo")
  local size = 600 * 1024
  local blob = {}
  for i = 1, size // 16 do
    blob[i] = string.format("%015d\n", i)
  end
  blob = table.concat(blob)
  t.truthy(socket.write(fd, blob), "write 600K")
  local back = socket.read(fd, #blob)
  t.eq(back and #back, #blob, "length echoed")
  t.truthy(back == blob, "bytes echoed intact")
  socket.close(fd)
end)

case("explicit_pause", function()
  local fd = connect(server "echo")
  socket.pause(fd)
  socket.write(fd, "abc")
  -- the reader resumes the paused socket
  t.eq(socket.read(fd, 3), "abc", "read resumes")
  socket.write(fd, "def\n")
  t.eq(socket.readline(fd), "def", "reading goes on")
  socket.close(fd)
end)

case("peer_close", function()
  local fd = connect(server("greet_close", "first\nsecond\ntail"))
  t.eq(socket.readline(fd), "first", "line before close")
  local ok, rest = socket.read(fd, 100)
  t.eq(ok, false, "read past close")
  t.eq(rest, "second\ntail", "rest handed back")
  t.truthy(socket.disconnected(fd), "disconnected")
  t.eq(socket.readline(fd), false, "readline after close")
  t.eq(socket.block(fd), false, "block after close")
  socket.close(fd)
end)

case("readall_until_close", function()
  local fd = connect(server("greet_close", string.rep("z", 5000)))
  local all = socket.readall(fd)
  t.eq(all and #all, 5000, "readall size")
  t.eq(socket.readall(fd), false, "readall when drained and closed")
  socket.close(fd)
end)

case("block_waits_for_data", function()
  local fd = connect(server "echo")
  socket.write(fd, "x")
  t.eq(socket.block(fd), true, "block returns connected")
  t.eq(socket.read(fd, 1), "x", "data after block")
  socket.close(fd)
end)

case("connect_refused", function()
  local id, _, port = socket.listen("127.0.0.1", 0)
  socket.close(id)
  local fd, err = socket.open("127.0.0.1", port)
  t.eq(fd, nil, "open to a closed port")
  t.truthy(type(err) == "string" and #err > 0, "error text")
end)

case("close_wakes_reader", function()
  local fd = connect(server "echo")
  local result
  local token = {}
  skynet.fork(function()
    result = table.pack(socket.read(fd, 10))
    skynet.wakeup(token)
  end)
  skynet.yield() -- the reader parks on the socket
  socket.close(fd)
  if not result then
    skynet.wait(token)
  end
  t.eq(result[1], false, "parked read fails on close")
  t.truthy(socket.invalid(fd), "closed")
end)

case("onclose_callback", function()
  local fd = connect(server("greet_close", "bye"))
  local called
  local token = {}
  socket.onclose(fd, function(id)
    called = id
    skynet.wakeup(token)
  end)
  local ok = socket.read(fd, 100)
  t.eq(ok, false, "read until close")
  if not called then
    skynet.wait(token)
  end
  t.eq(called, fd, "onclose got the id")
  socket.close(fd)
end)

case("limit_closes_on_overflow", function()
  local fd = connect(server("flood", 64 * 1024))
  socket.limit(fd, 1000)
  local line, rest = socket.readline(fd)
  t.eq(line, false, "readline fails once the limit is crossed")
  t.truthy(type(rest) == "string", "rest is a string")
  socket.close(fd)
end)

case("abandon_and_adopt", function()
  local adopter = skynet.newservice "net_tcpserver"
  local port = server("adopt", adopter)
  local fd = connect(port)
  t.eq(socket.readline(fd), "adopted", "greeting of the adopting service")
  socket.write(fd, "still here\n")
  t.eq(socket.readline(fd), "still here", "echo by the adopter")
  socket.close(fd)
end)

case("warning_on_backlog", function()
  local fd = connect(server "silent")
  local sizes = {}
  local token = {}
  socket.warning(fd, function(id, size)
    t.eq(id, fd, "warning id")
    sizes[#sizes + 1] = size
    skynet.wakeup(token)
  end)
  -- the peer never reads: the kernel buffers fill, then ours grows
  local chunk = string.rep("w", 1024 * 1024)
  for _ = 1, 16 do
    socket.write(fd, chunk)
  end
  if #sizes == 0 then
    skynet.wait(token)
  end
  t.truthy(sizes[1] and sizes[1] > 0, "warning with a size in K")
  -- a plain close would wait for the backlog to drain, which never happens
  socket.shutdown(fd)
  socket.close(fd)
end)

case("netstat", function()
  local id, _, port = socket.listen("127.0.0.1", 0)
  socket.start(id, function(fd)
    socket.close_fd(fd)
  end)
  local list = socket.netstat()
  local found
  for _, info in ipairs(list) do
    if info.id == id then
      found = info
    end
  end
  t.truthy(found, "listen socket listed")
  t.eq(found.type, "LISTEN", "type")
  t.eq(found.address, skynet.self(), "owner")
  t.eq(found.sock, "127.0.0.1:" .. port, "sock name")
  socket.close(id)
end)

case("resolve", function()
  local list = socket.resolve "127.0.0.1"
  t.eq(list[1], "127.0.0.1", "numeric host")
  t.raises(socket.resolve, "no-such-host.invalid")
end)

case("udp_round_trip", function()
  local port = t.truthy(tonumber(skynet.getenv "net_udp_port"), "net_udp_port")
  local server_id
  server_id = socket.udp(function(data, from)
    socket.sendto(server_id, from, "echo:" .. data)
  end, "127.0.0.1", port)
  local got, from_addr
  local token = {}
  local client = socket.udp(function(data, from)
    got, from_addr = data, from
    skynet.wakeup(token)
  end)
  socket.udp_connect(client, "127.0.0.1", port)
  t.truthy(socket.write(client, "ping"), "udp write")
  if not got then
    skynet.wait(token)
  end
  t.eq(got, "echo:ping", "answer")
  local host, from_port = socket.udp_address(from_addr)
  t.eq(host, "127.0.0.1", "udp_address host")
  t.eq(from_port, port, "udp_address port")
  socket.close(client)
  socket.close(server_id)
end)

case("udp_listen_dial", function()
  local port = t.truthy(tonumber(skynet.getenv "net_udp_port2"), "net_udp_port2")
  local listener
  listener = socket.udp_listen("127.0.0.1", port, function(data, from)
    socket.sendto(listener, from, data:upper())
  end)
  local got
  local token = {}
  local dialer = socket.udp_dial("127.0.0.1", port, function(data)
    got = data
    skynet.wakeup(token)
  end)
  socket.write(dialer, "shout")
  if not got then
    skynet.wait(token)
  end
  t.eq(got, "SHOUT", "answer")
  socket.close(dialer)
  socket.close(listener)
end)

skynet.start(function()
  t.run("tcp", cases)
end)
