-- client — command-line client of the login example: logs in through the
-- login server, then talks to the game server's gate, drops the connection
-- and comes back to show that an answer survives a reconnect.
--
-- Stands for the reference's examples/login/client.lua. Run it from the
-- repository root with a plain Lua 5.4 (needs luaclib/client.so, built
-- from crates/skynet-client):
--   lua5.4 examples/login/client.lua [login_port [gate_port]]
-- (default 8001 and 8888 on 127.0.0.1, the reference's fixed ports).
--
-- 1. login server, line protocol: read the challenge, send our DH key, read
--    the server's, derive the secret, prove it with an HMAC of the
--    challenge, send the DES-encrypted token, read "200 base64(subid)".
-- 2. gate, 2-byte-length packages: the handshake "user@server#subid:index"
--    signed with the secret; request "echo" as session 0 and leave without
--    its answer; reconnect (next index), send "fake" as session 0 (the gate
--    answers from its cache: "echo") and "again" as session 1.

if _VERSION ~= "Lua 5.4" then
  error "Use lua 5.4"
end

-- run from the repository root: the native modules are in luaclib/
package.cpath = "luaclib/?.so"
local socket = require "client.socket"
local crypt = require "client.crypt"

-- print each line at once, also into a pipe
io.stdout:setvbuf "line"

local b64, unb64 = crypt.base64encode, crypt.base64decode

local args = { ... }
local login_port = math.tointeger(args[1] or 8001)
local gate_port = math.tointeger(args[2] or 8888)

-- A connection to 127.0.0.1:port with its own receive buffer.
local function dial(port)
  local conn = { fd = assert(socket.connect("127.0.0.1", port)), buffer = "" }

  -- waits until `cut` finds a unit at the start of the buffer; removes it
  function conn.read(cut)
    local unit, used = cut(conn.buffer)
    while not unit do
      local got = socket.recv(conn.fd)
      if got == nil then
        -- nothing there yet
        socket.usleep(100)
      elseif got == "" then
        error "Server closed"
      else
        conn.buffer = conn.buffer .. got
        unit, used = cut(conn.buffer)
      end
    end
    conn.buffer = conn.buffer:sub(used + 1)
    return unit
  end

  function conn.write(bytes)
    socket.send(conn.fd, bytes)
  end

  function conn.close()
    socket.close(conn.fd)
  end

  return conn
end

-- cut functions for conn.read: -> the unit and how many bytes it used
local function line(buffer)
  local text, after = buffer:match "^([^\n]*)\n()"
  if text then
    return text, after - 1
  end
end

local function package(buffer)
  if #buffer >= 2 then
    local size = string.unpack(">I2", buffer)
    if #buffer >= 2 + size then
      return buffer:sub(3, 2 + size), 2 + size
    end
  end
end

local token = { server = "sample", user = "hello", pass = "password" }

---- 1. the login server

-- -> secret, subid
local function log_in()
  local conn = dial(login_port)
  local function say(text)
    conn.write(text .. "\n")
  end

  local challenge = unb64(conn.read(line))
  local my_key = crypt.randomkey()
  say(b64(crypt.dhexchange(my_key)))
  local secret = crypt.dhsecret(unb64(conn.read(line)), my_key)
  -- (spelled as the reference prints it)
  print("sceret is ", crypt.hexencode(secret))
  say(b64(crypt.hmac64(challenge, secret)))
  local plain = b64(token.user) .. "@" .. b64(token.server) .. ":" .. b64(token.pass)
  say(b64(crypt.desencode(secret, plain)))

  local verdict = conn.read(line)
  print(verdict)
  assert(tonumber(verdict:sub(1, 3)) == 200)
  conn.close()
  return secret, unb64(verdict:sub(5))
end

local secret, subid = log_in()
print("login ok, subid=", subid)

---- 2. the game server's gate

local index = 0

-- connects and runs the handshake, printing the gate's answer
local function enter_gate()
  index = index + 1
  local conn = dial(gate_port)
  local who = string.format("%s@%s#%s:%d", b64(token.user), b64(token.server), b64(subid), index)
  local proof = crypt.hmac64(crypt.hashkey(who), secret)
  conn.write(string.pack(">s2", who .. ":" .. b64(proof)))
  print(conn.read(package))
  return conn
end

-- a request is content .. dword session in one package
local function request(conn, content, session)
  conn.write(string.pack(">s2", content .. string.pack(">I4", session)))
  return content, session
end

-- an answer is content .. byte ok .. dword session: -> ok, content, session
local function answer(conn)
  local pack = conn.read(package)
  local content = pack:sub(1, -6)
  local ok, session = string.unpack(">BI4", pack, #pack - 4)
  return ok ~= 0, content, session
end

print "connect"
local conn = enter_gate()
print("===>", request(conn, "echo", 0))
-- gone before the answer came: the gate keeps it
print "disconnect"
conn.close()

print "connect again"
conn = enter_gate()
-- session 0 again: the cached answer of "echo" comes back
print("===>", request(conn, "fake", 0))
print("===>", request(conn, "again", 1))
print("<===", answer(conn))
print("<===", answer(conn))

print "disconnect"
conn.close()
