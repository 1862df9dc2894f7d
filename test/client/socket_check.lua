-- socket_check — checks client.socket (client.so under a plain lua5.4):
-- error texts, a large send, shutdown, recv until the peer closes, and a
-- line read from stdin. Run by tests/client.rs, which listens on PORT,
-- reads everything the script sends until it shuts its side down, answers
-- "got <n>" and closes, and writes one line on the script's stdin.
--
-- Usage: lua5.4 test/client/socket_check.lua CPATH PORT
-- Prints "CASE <name> PASS|FAIL ..." lines and a closing
-- "N passed, M failed" line; exits with failure when a case failed.

local cpath, port = ...
package.cpath = cpath
io.stdout:setvbuf "line"
local socket = require "client.socket"

local passed, failed = 0, 0

local function case(name, ok, detail)
  if ok then
    passed = passed + 1
    print("CASE " .. name .. " PASS")
  else
    failed = failed + 1
    print("CASE " .. name .. " FAIL " .. tostring(detail))
  end
end

-- an error raised by f(...), or nil
local function error_of(f, ...)
  local ok, err = pcall(f, ...)
  if not ok then
    return err
  end
end

local function expect_error(name, want, f, ...)
  local err = error_of(f, ...)
  case(name, err == want, err)
end

local names = {}
for k in pairs(socket) do
  names[#names + 1] = k
end
table.sort(names)
local api = table.concat(names, " ")
case("api", api == "close connect readstdin recv send shutdown usleep", api)

expect_error("connect refused", "Connect 127.0.0.1 0 failed", socket.connect, "127.0.0.1", 0)
expect_error("shutdown bad mode", "Invalid mode x", socket.shutdown, 0, "rx")
expect_error("shutdown empty mode", "mode should be r or/and w", socket.shutdown, 0, "")
expect_error("send bad fd", "socket error: Bad file descriptor", socket.send, -1, "x")
expect_error("recv bad fd", "socket error: Bad file descriptor", socket.recv, -1)

local fd = socket.connect("127.0.0.1", math.tointeger(port))
case("connect", math.type(fd) == "integer", fd)

-- nothing to read yet: recv returns no value at all
local n = select("#", socket.recv(fd))
case("recv nothing yet", n == 0, n)

local payload = string.rep("0123456789abcdef", 40000) -- 640000 bytes
socket.send(fd, payload)
socket.shutdown(fd, "w")

local answer = ""
while true do
  local got = socket.recv(fd)
  if got == "" then
    break
  elseif got then
    answer = answer .. got
  else
    socket.usleep(1000)
  end
end
case("answer", answer == "got " .. #payload .. "\n", answer)
socket.close(fd)

local line
repeat
  line = socket.readstdin()
  if not line then
    socket.usleep(1000)
  end
until line
case("readstdin", line == "a line from stdin", line)
case("readstdin empty", socket.readstdin() == nil)

print(string.format("%d passed, %d failed", passed, failed))
if failed > 0 then
  os.exit(false)
end
