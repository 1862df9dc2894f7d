-- crypt_vectors — checks client.crypt (client.so under a plain lua5.4)
-- against the reference's results in crates/skynet-lua/tests/data/crypt.txt
-- (see that folder's README.md for the line format).
--
-- Usage: lua5.4 test/client/crypt_vectors.lua VECTORS_FILE CPATH
-- Prints one line per mismatch and a closing "N passed, M failed" line;
-- exits with failure when anything did not match.

local vectors, cpath = ...
package.cpath = cpath
local crypt = require "client.crypt"

local function unhex(h)
  return (h:gsub("..", function(x)
    return string.char(tonumber(x, 16))
  end))
end

local function hex(s)
  return (s:gsub(".", function(c)
    return string.format("%02x", c:byte())
  end))
end

-- an argument field: s:HEX, i:N or n:
local function argument(field)
  local kind, value = field:match "^(%a):(.*)$"
  if kind == "s" then
    return unhex(value)
  elseif kind == "i" then
    return math.tointeger(tonumber(value))
  elseif kind == "n" then
    return nil
  end
  error("bad argument field " .. field)
end

local passed, failed = 0, 0
for line in io.lines(vectors) do
  local fields = {}
  for f in (line .. "\t"):gmatch "([^\t]*)\t" do
    fields[#fields + 1] = f
  end
  local name = fields[1]
  local args, n = {}, 0
  local i = 2
  while fields[i] ~= "=" do
    n = n + 1
    args[n] = argument(fields[i])
    i = i + 1
  end
  -- the vectors were made with the module loaded as skynet.crypt, and Lua
  -- names the function after the module it was loaded as
  local expected = fields[i + 1]:gsub("'skynet%.crypt%.", "'client.crypt.")
  local f = assert(crypt[name], name)
  local ok, result = pcall(f, table.unpack(args, 1, n))
  local got
  if ok then
    got = "ok:" .. hex(result)
  else
    got = "err:" .. tostring(result)
  end
  if got == expected then
    passed = passed + 1
  else
    failed = failed + 1
    print("MISMATCH", line, "got", got)
  end
end

print(string.format("crypt vectors: %d passed, %d failed", passed, failed))
if failed > 0 or passed == 0 then
  os.exit(false)
end
