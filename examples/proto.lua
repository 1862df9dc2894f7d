-- proto — the sproto schemas of the watchdog/gate/agent example, used by
-- the server (the protoloader service) and by examples/client.lua.
--
-- Stands for the reference's examples/proto.lua: the same messages, tags
-- and fields, so that its clients and ours interoperate.
--   c2s (client requests): handshake 1 -> msg; get 2 what -> result;
--                          set 3 what value; quit 4
--   s2c (server requests): heartbeat 1
-- Both schemas carry the `package` header type (type 0, session 1).

local sprotoparser = require "sprotoparser"

-- one message or type per line
local function schema(...)
  local lines = { ".package { type 0 : integer session 1 : integer }", ... }
  return sprotoparser.parse(table.concat(lines, "\n"))
end

return {
  c2s = schema(
    "handshake 1 { response { msg 0 : string } }",
    "get 2 { request { what 0 : string } response { result 0 : string } }",
    "set 3 { request { what 0 : string value 1 : string } }",
    "quit 4 {}"
  ),
  s2c = schema "heartbeat 1 {}",
}
