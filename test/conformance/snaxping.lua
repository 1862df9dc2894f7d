-- snaxping.lua — snax service for cases L30–L32 (found through the config's `snax` paths and
-- run by snaxd): a response `ping`, an accept `hello` counting calls, a response `hellos`
-- returning the count, a failing response `error`, and init/exit hooks that log.
--
-- Stands for the role of the reference's test/pingserver.lua (written independently).

local skynet = require "skynet"

local hellos = 0

function init(...)
	skynet.error("snaxping start:", ...)
end

function exit(...)
	skynet.error("snaxping exit:", ...)
end

function response.ping(v)
	return v
end

function accept.hello()
	hellos = hellos + 1
end

function response.hellos()
	return hellos
end

function response.error()
	error("snaxping raises")
end
