-- echo_server.lua — test service for tests/socket.rs, written on
-- skynet.socketdriver directly (no skynet.socket library).
--
-- TCP: listens on 127.0.0.1 port 0, logs `ECHO TCP PORT <port>`, starts
-- every accepted connection and answers each line `L` with `echo:L`. The
-- lines `netstat`, `close` and `abort` answer with a socket summary, close
-- the connection (after the pending output), or end the node.
-- UDP: binds 127.0.0.1 port 0, greets the test's UDP socket (its port is
-- the config key `udp_peer_port`) and echoes every datagram back to its
-- sender with udp_send, logging `ECHO UDP FROM <ip> <port> <data>`.

local skynet = require "skynet.manager"
local driver = require "skynet.socketdriver"

local listen_id
local udp_id
local conns = {} -- id -> { buffer = , pool = }

local function log(...)
  skynet.error(table.concat({ ... }, " "))
end

local function netstat()
  local count = {}
  for _, s in ipairs(driver.info()) do
    count[s.type] = (count[s.type] or 0) + 1
    assert(s.address == skynet.self(), "every socket is ours")
  end
  return string.format("netstat LISTEN=%d TCP=%d UDP=%d",
    count.LISTEN or 0, count.TCP or 0, count.UDP or 0)
end

local function on_line(id, line)
  if line == "abort" then
    log("ECHO ABORT")
    skynet.abort()
  elseif line == "close" then
    driver.send(id, "closing\n")
    driver.close(id)
  elseif line == "netstat" then
    driver.send(id, netstat() .. "\n")
  else
    -- high then low priority: the order on the wire stays the same
    driver.send(id, "echo:")
    driver.lsend(id, { line, "\n" })
  end
end

local handler = {}

-- DATA
handler[1] = function(id, size, data)
  local c = conns[id]
  if not c then
    driver.drop(data, size)
    return
  end
  driver.push(c.buffer, c.pool, data, size)
  while true do
    local line = driver.readline(c.buffer, c.pool, "\n")
    if not line then
      break
    end
    on_line(id, line)
  end
end

-- CONNECT
handler[2] = function(id, ud, addr)
  if id == listen_id and ud ~= 0 then
    log("ECHO TCP PORT", ud, addr)
    driver.start(listen_id)
  elseif conns[id] then
    log("ECHO CONNECTED", id, addr)
  end
end

-- CLOSE
handler[3] = function(id)
  local c = conns[id]
  if c then
    driver.clear(c.buffer, c.pool)
    conns[id] = nil
    driver.close(id)
    log("ECHO CLOSE", id)
  end
end

-- ACCEPT
handler[4] = function(id, newid, addr)
  assert(id == listen_id)
  conns[newid] = { buffer = driver.buffer(), pool = {} }
  log("ECHO ACCEPT", newid, addr)
  driver.start(newid)
end

-- ERROR
handler[5] = function(id, _, err)
  log("ECHO ERROR", id, err)
  if conns[id] then
    driver.close(id)
  end
end

-- UDP
handler[6] = function(id, size, data, address)
  local text = skynet.tostring(data, size)
  local ip, port = driver.udp_address(address)
  log("ECHO UDP FROM", ip, port, text)
  driver.udp_send(id, address, data, size)
end

-- WARNING
handler[7] = function(id, size)
  log("ECHO WARNING", id, size)
end

skynet.register_protocol {
  name = "socket",
  id = skynet.PTYPE_SOCKET,
  unpack = driver.unpack,
  dispatch = function(_, _, t, ...)
    handler[t](...)
  end,
}

skynet.start(function()
  listen_id = driver.listen("127.0.0.1", 0)
  udp_id = driver.udp("127.0.0.1", 0)
  local peer = assert(tonumber(skynet.getenv "udp_peer_port"))
  driver.udp_connect(udp_id, "127.0.0.1", peer)
  driver.send(udp_id, "hello from skynet")
end)
