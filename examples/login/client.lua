-- client — command-line client of the login example: logs in through the
-- login server, then talks to the game server gate, disconnects and
-- reconnects to show that answers survive a reconnect.
--
-- Stands for the reference's examples/login/client.lua. Run it from the
-- repository root with a plain Lua 5.4 (needs luaclib/client.so, built from
-- crates/skynet-client):
--   lua5.4 examples/login/client.lua [login_port [gate_port]]
-- (defaults 8001 and 8888 on 127.0.0.1, the reference's fixed ports).
--
-- Steps: the login handshake (challenge, DH key exchange, HMAC of the
-- challenge, DES-encrypted token) gives a secret and a subid; then the gate
-- handshake "user@server#subid:index" signed with the secret; request
-- "echo" (session 0), disconnect without reading the answer; reconnect with
-- the next index, send "fake" as session 0 again (the gate answers with the
-- cached "echo") and "again" as session 1; read both answers.

package.cpath = "luaclib/?.so"

if _VERSION ~= "Lua 5.4" then
  error "Use lua 5.4"
end

local socket = require "client.socket"
local crypt = require "client.crypt"

-- show each line as soon as it is printed, also into a pipe
io.stdout:setvbuf "line"

local login_port, gate_port = ...
login_port = math.tointeger(login_port or 8001)
gate_port = math.tointeger(gate_port or 8888)

local b64, unb64 = crypt.base64encode, crypt.base64decode

local fd
local pending = "" -- bytes received and not yet consumed

-- A reader of the current connection: `cut(pending)` returns one unit
-- (line or package) and the rest, or nil when more bytes are needed.
local function reader(cut)
  return function()
    while true do
      local unit, rest = cut(pending)
      if unit then
        pending = rest
        return unit
      end
      local got = socket.recv(fd)
      if got == "" then
        error "Server closed"
      elseif got then
        pending = pending .. got
      else
        socket.usleep(100)
      end
    end
  end
end

local function cut_line(text)
  local at = text:find("\n", 1, true)
  if at then
    return text:sub(1, at - 1), text:sub(at + 1)
  end
end

local function cut_package(text)
  if #text < 2 then
    return
  end
  local size = text:byte(1) * 256 + text:byte(2)
  if #text >= size + 2 then
    return text:sub(3, 2 + size), text:sub(3 + size)
  end
end

local readline = reader(cut_line)
local readpackage = reader(cut_package)

local function writeline(text)
  socket.send(fd, text .. "\n")
end

----- login server

fd = assert(socket.connect("127.0.0.1", login_port))

local challenge = unb64(readline())
local clientkey = crypt.randomkey()
writeline(b64(crypt.dhexchange(clientkey)))
local secret = crypt.dhsecret(unb64(readline()), clientkey)
-- (the reference prints it with this spelling)
print("sceret is ", crypt.hexencode(secret))

writeline(b64(crypt.hmac64(challenge, secret)))

local token = { server = "sample", user = "hello", pass = "password" }
local plain = string.format("%s@%s:%s", b64(token.user), b64(token.server), b64(token.pass))
writeline(b64(crypt.desencode(secret, plain)))

local result = readline()
print(result)
assert(tonumber(result:sub(1, 3)) == 200)
socket.close(fd)

local subid = unb64(result:sub(5))
print("login ok, subid=", subid)

----- game server

-- request: content .. dword session, in one 2-byte-length package
local function send_request(content, session)
  socket.send(fd, string.pack(">I2", #content + 4) .. content .. string.pack(">I4", session))
  return content, session
end

-- response: content .. byte ok .. dword session -> ok, content, session
local function recv_response(pack)
  local content, ok, session = string.unpack("c" .. (#pack - 5) .. "B>I4", pack)
  return ok ~= 0, content, session
end

local index = 0

local function connect_gate()
  fd = assert(socket.connect("127.0.0.1", gate_port))
  pending = ""
  index = index + 1
  local handshake =
    string.format("%s@%s#%s:%d", b64(token.user), b64(token.server), b64(subid), index)
  local hmac = crypt.hmac64(crypt.hashkey(handshake), secret)
  socket.send(fd, string.pack(">s2", handshake .. ":" .. b64(hmac)))
  print(readpackage())
end

print "connect"
connect_gate()
print("===>", send_request("echo", 0))
-- leave without reading the answer: the gate keeps it
print "disconnect"
socket.close(fd)

print "connect again"
connect_gate()
-- session 0 again: answered from the cache with "echo"
print("===>", send_request("fake", 0))
print("===>", send_request("again", 1))
print("<===", recv_response(readpackage()))
print("<===", recv_response(readpackage()))

print "disconnect"
socket.close(fd)
