-- channel — test service: skynet.socketchannel in order and session mode
-- against net_lineserver, a server that drops connections on request.
--
-- Stands for no file of the reference; test infrastructure.

local skynet = require "skynet"
local socket = require "skynet.socket"
local socketchannel = require "skynet.socketchannel"
local t = require "netcheck"

local function new_server()
  return skynet.call(skynet.newservice "net_lineserver", "lua", "listen")
end

local function line_reader(sock)
  return true, sock:readline()
end

-- session mode reader: "<session> <text>"
local function session_reader(sock)
  local line = sock:readline()
  local session, text = line:match "^(%d+) (.*)$"
  return tonumber(session), true, text
end

-- run fn(i) for i = 1..n in forks; wait for all of them
local function in_parallel(n, fn)
  local left = n
  local token = {}
  local errors = {}
  for i = 1, n do
    skynet.fork(function()
      local ok, err = pcall(fn, i)
      if not ok then
        errors[#errors + 1] = tostring(err)
      end
      left = left - 1
      if left == 0 then
        skynet.wakeup(token)
      end
    end)
  end
  skynet.wait(token)
  if #errors > 0 then
    t.fail(table.concat(errors, "; "))
  end
end

local function connections(ch)
  return tonumber(ch:request("conns\n", line_reader))
end

local cases = {}

local function case(id, fn)
  cases[#cases + 1] = { id, fn }
end

case("order_basic", function()
  local ch = socketchannel.channel { host = "127.0.0.1", port = new_server() }
  t.eq(ch:connect(true), true, "connect")
  t.eq(ch:request("echo a\n", line_reader), "a", "answer")
  t.eq(ch:request("echo with spaces\n", line_reader), "with spaces", "answer 2")
  t.eq(ch:request("echo nothing awaited\n"), nil, "no response function")
  t.eq(ch:request("echo next\n", line_reader), "nothing awaited", "unread answer comes first")
  ch:close()
end)

case("order_concurrent", function()
  local ch = socketchannel.channel { host = "127.0.0.1", port = new_server() }
  local got = {}
  in_parallel(8, function(i)
    got[i] = ch:request("echo " .. i .. "\n", line_reader)
  end)
  for i = 1, 8 do
    t.eq(got[i], tostring(i), "answer of request " .. i)
  end
  ch:close()
end)

case("order_reconnect_after_drop", function()
  local ch = socketchannel.channel { host = "127.0.0.1", port = new_server() }
  t.eq(ch:request("echo a\n", line_reader), "a", "before drop")
  local err = t.raises(ch.request, ch, "drop\n", line_reader)
  t.eq(err, socketchannel.error, "dropped request raises socketchannel.error")
  t.eq(tostring(err), "[Error: socket]", "its text")
  t.eq(ch:request("echo b\n", line_reader), "b", "after drop")
  t.eq(connections(ch), 2, "reconnected once")
  ch:close()
end)

case("order_drop_fails_queued_requests", function()
  local ch = socketchannel.channel { host = "127.0.0.1", port = new_server() }
  ch:connect(true)
  local outcomes = {}
  in_parallel(3, function(i)
    if i == 1 then
      outcomes[i] = pcall(ch.request, ch, "drop\n", line_reader)
    else
      -- queued behind the dropped request; they fail with it or succeed on
      -- the new connection, never hang
      outcomes[i] = pcall(ch.request, ch, "echo q" .. i .. "\n", line_reader)
    end
  end)
  t.eq(outcomes[1], false, "the dropped request fails")
  t.eq(ch:request("echo after\n", line_reader), "after", "usable again")
  ch:close()
end)

case("order_padding", function()
  local ch = socketchannel.channel { host = "127.0.0.1", port = new_server() }
  local parts = ch:request("multi 3\n", function(sock)
    local line = sock:readline()
    return true, line, line ~= "part 3"
  end)
  t.eq(type(parts), "table", "parts collected in a table")
  t.eq(table.concat(parts, ","), "part 1,part 2,part 3", "parts")
  t.eq(ch:request("echo x\n", line_reader), "x", "still in step")
  ch:close()
end)

case("order_reader_errors", function()
  local ch = socketchannel.channel { host = "127.0.0.1", port = new_server() }
  local err = t.raises(ch.request, ch, "echo y\n", function(sock)
    return false, "refused " .. sock:readline()
  end)
  t.contains(err, "refused y", "a false answer raises its data")
  t.eq(ch:request("echo z\n", line_reader), "z", "connection kept")
  err = t.raises(ch.request, ch, "echo w\n", function()
    error "bad reader"
  end)
  t.contains(err, "bad reader", "a raising reader's error")
  t.eq(ch:request("echo v\n", line_reader), "v", "reconnected after the reader error")
  t.eq(connections(ch), 2, "two connections")
  ch:close()
end)

case("order_peer_closes_idle_channel", function()
  local ch = socketchannel.channel { host = "127.0.0.1", port = new_server() }
  t.eq(ch:request("echo a\n", line_reader), "a", "first")
  ch:request "drop\n" -- no answer awaited; the server closes
  -- the close may or may not have been noticed yet: a request in flight
  -- at that moment fails, a later one reconnects
  local answer
  for _ = 1, 3 do
    local ok, got = pcall(ch.request, ch, "echo b\n", line_reader)
    if ok then
      answer = got
      break
    end
    t.eq(got, socketchannel.error, "failure kind")
  end
  t.eq(answer, "b", "answer after reconnect")
  t.eq(connections(ch), 2, "reconnected")
  ch:close()
end)

case("auth_runs_per_connection", function()
  local auths = 0
  local ch
  ch = socketchannel.channel {
    host = "127.0.0.1",
    port = new_server(),
    auth = function(c)
      t.eq(c, ch, "auth gets the channel")
      auths = auths + 1
      t.eq(c:request("echo auth\n", line_reader), "auth", "request inside auth")
    end,
  }
  ch:connect(true)
  t.eq(auths, 1, "auth after connect")
  t.eq(ch:request("echo a\n", line_reader), "a", "request")
  pcall(ch.request, ch, "drop\n", line_reader)
  t.eq(ch:request("echo b\n", line_reader), "b", "after drop")
  t.eq(auths, 2, "auth again after reconnect")
  ch:close()
end)

case("backup_host", function()
  local id, _, dead_port = socket.listen("127.0.0.1", 0)
  socket.close(id)
  local ch = socketchannel.channel {
    host = "127.0.0.1",
    port = dead_port,
    backup = { { host = "127.0.0.1", port = new_server() } },
  }
  t.eq(ch:connect(true), true, "connected through the backup")
  t.eq(ch:request("echo via backup\n", line_reader), "via backup", "answer")
  ch:close()
end)

case("connect_once_fails", function()
  local id, _, dead_port = socket.listen("127.0.0.1", 0)
  socket.close(id)
  local ch = socketchannel.channel { host = "127.0.0.1", port = dead_port }
  local err = t.raises(ch.connect, ch, true)
  t.eq(err, socketchannel.error, "connect error")
end)

case("closed_channel_refuses", function()
  local ch = socketchannel.channel { host = "127.0.0.1", port = new_server() }
  t.eq(ch:request("echo a\n", line_reader), "a", "open")
  ch:close()
  t.raises(ch.request, ch, "echo b\n", line_reader)
  -- connect() reopens a closed channel
  t.eq(ch:connect(true), true, "connect again")
  t.eq(ch:request("echo c\n", line_reader), "c", "usable again")
  ch:close()
end)

case("session_out_of_order", function()
  local ch = socketchannel.channel {
    host = "127.0.0.1",
    port = new_server(),
    response = session_reader,
  }
  ch:connect(true)
  local got = {}
  in_parallel(4, function(i)
    if i <= 3 then
      got[i] = ch:request(string.format("hold %d text%d\n", i, i), i)
    else
      -- forks run in order: the holds are written first; the server
      -- answers them newest first
      ch:request "release\n"
    end
  end)
  for i = 1, 3 do
    t.eq(got[i], "text" .. i, "answer of session " .. i)
  end
  ch:close()
end)

case("session_drop_and_reconnect", function()
  local ch = socketchannel.channel {
    host = "127.0.0.1",
    port = new_server(),
    response = session_reader,
  }
  local err = t.raises(ch.request, ch, "drop\n", 7)
  t.eq(err, socketchannel.error, "dropped request")
  local answer
  in_parallel(2, function(i)
    if i == 1 then
      answer = ch:request("hold 8 again\n", 8)
    else
      -- waits for the reconnect started by fork 1, then writes after it
      ch:request "release\n"
    end
  end)
  t.eq(answer, "again", "answer after reconnect")
  ch:close()
end)

skynet.start(function()
  t.run("channel", cases)
end)
