-- gate_test — test service: the Lua `gate` service (snax.gateserver +
-- skynet.netpack) with this service as its watchdog and as an agent,
-- clients being skynet.socket connections on 127.0.0.1.
--
-- Stands for no file of the reference; test infrastructure.

local skynet = require "skynet"
local socket = require "skynet.socket"
local t = require "netcheck"

skynet.register_protocol {
  name = "client",
  id = skynet.PTYPE_CLIENT,
  unpack = skynet.tostring,
}

-- notifications from gates ("open fd addr", "data fd text", ...) and
-- client messages ("client fd source text"), in arrival order
local inbox = {}
local waiting -- token of the coroutine waiting in next_event

local function push(text)
  inbox[#inbox + 1] = text
  if waiting then
    local token = waiting
    waiting = nil
    skynet.wakeup(token)
  end
end

local function next_event()
  if #inbox == 0 then
    waiting = {}
    skynet.wait(waiting)
  end
  return table.remove(inbox, 1)
end

local function package(text)
  return string.pack(">s2", text)
end

local function open_gate(maxclient)
  local gate = skynet.newservice "gate"
  local addr, port = skynet.call(gate, "lua", "open", {
    address = "127.0.0.1",
    port = 0,
    maxclient = maxclient,
    watchdog = skynet.self(),
  })
  return gate, addr, port
end

-- connect a client; -> client socket, the gate's fd for it
local function connect(port)
  local fd = t.truthy(socket.open("127.0.0.1", port), "open")
  local ev = next_event()
  local gate_fd = tonumber(ev:match "^open (%d+) 127%.0%.0%.1:%d+$")
  t.truthy(gate_fd, "open notification: " .. ev)
  return fd, gate_fd
end

local cases = {}

local function case(id, fn)
  cases[#cases + 1] = { id, fn }
end

case("open_reports_address", function()
  local gate, addr, port = open_gate()
  t.eq(addr, "127.0.0.1", "address")
  t.truthy(math.type(port) == "integer" and port > 0, "bound port")
  skynet.call(gate, "lua", "close")
  skynet.kill(gate)
end)

case("data_to_watchdog", function()
  local gate, _, port = open_gate()
  local fd, gfd = connect(port)
  skynet.call(gate, "lua", "accept", gfd)
  socket.write(fd, package "hello")
  t.eq(next_event(), "data " .. gfd .. " hello", "one package")
  -- two packages in one write, then one split over two writes
  socket.write(fd, package "a" .. package "bb" .. "\0\3c")
  socket.write(fd, "cc")
  t.eq(next_event(), "data " .. gfd .. " a", "first of two")
  t.eq(next_event(), "data " .. gfd .. " bb", "second of two")
  t.eq(next_event(), "data " .. gfd .. " ccc", "split package")
  local big = string.rep("0123456789", 6000)
  socket.write(fd, package(big))
  t.truthy(next_event() == "data " .. gfd .. " " .. big, "60000-byte package")
  socket.close(fd)
  t.eq(next_event(), "close " .. gfd, "close notification")
  skynet.kill(gate)
end)

case("forward_to_agent", function()
  local gate, _, port = open_gate()
  local fd, gfd = connect(port)
  skynet.call(gate, "lua", "forward", gfd, skynet.self(), skynet.self())
  socket.write(fd, package "to agent" .. package "second")
  t.eq(next_event(), string.format("client %d %d to agent", gfd, skynet.self()), "client message")
  t.eq(next_event(), string.format("client %d %d second", gfd, skynet.self()), "second client message")
  -- back to the watchdog
  skynet.call(gate, "lua", "accept", gfd)
  socket.write(fd, package "again")
  t.eq(next_event(), "data " .. gfd .. " again", "after accept")
  skynet.call(gate, "lua", "kick", gfd)
  t.eq(socket.read(fd, 1), false, "kicked client sees the close")
  t.eq(next_event(), "close " .. gfd, "close notification after kick")
  socket.close(fd)
  skynet.kill(gate)
end)

case("maxclient", function()
  local gate, _, port = open_gate(2)
  local fd1, g1 = connect(port)
  -- read from it, so that its close is noticed
  skynet.call(gate, "lua", "accept", g1)
  local fd2 = t.truthy(socket.open("127.0.0.1", port), "second connect")
  t.eq(socket.read(fd2, 1), false, "client over the limit is shut down")
  socket.close(fd2)
  socket.close(fd1)
  -- drain the notifications of both closes (no open for the second)
  local closes = 0
  for _ = 1, 2 do
    local ev = next_event()
    t.truthy(ev:match "^close %d+$", "close notification: " .. ev)
    closes = closes + 1
  end
  t.eq(closes, 2, "both closes reported")
  skynet.kill(gate)
end)

skynet.start(function()
  skynet.dispatch("lua", function(_, _, cmd, kind, fd, arg)
    t.eq(cmd, "socket", "gate notification")
    if arg ~= nil then
      push(string.format("%s %d %s", kind, fd, arg))
    else
      push(string.format("%s %d", kind, fd))
    end
  end)
  skynet.dispatch("client", function(session, source, text)
    -- the session is the client's fd, not a request to answer
    skynet.ignoreret()
    push(string.format("client %d %d %s", session, source, text))
  end)
  require "skynet.manager" -- skynet.kill
  t.run("gate", cases)
end)
