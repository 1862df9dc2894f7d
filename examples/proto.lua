-- proto — the sproto schemas of the watchdog/gate/agent example, shared by
-- the server (through protoloader) and examples/client.lua.
--
-- Stands for the reference's examples/proto.lua: the same messages with the
-- same tags. c2s: handshake, get, set, quit (client requests); s2c:
-- heartbeat (server requests). Both carry the `package` header.

local sprotoparser = require "sprotoparser"

local header = [[
.package {
	type 0 : integer
	session 1 : integer
}
]]

return {
  c2s = sprotoparser.parse(header .. [[
handshake 1 {
	response {
		msg 0 : string
	}
}

get 2 {
	request {
		what 0 : string
	}
	response {
		result 0 : string
	}
}

set 3 {
	request {
		what 0 : string
		value 1 : string
	}
}

quit 4 {}
]]),
  s2c = sprotoparser.parse(header .. [[
heartbeat 1 {}
]]),
}
