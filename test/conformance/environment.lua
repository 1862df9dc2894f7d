-- environment.lua — conformance section J (skynet.getenv / skynet.setenv), run as the `start`
-- service of its own node. Covers J1–J4. The harness writes `myenv = "hello"` and
-- `conformance_thread = "<thread>"` (the thread count it configured) into the node's config.
--
-- Stands for the reference's GETENV/SETENV behaviour (lualib/skynet.lua, skynet_env.c); no
-- reference test file corresponds to it.

local skynet = require "skynet"
local check = require "check"

local T = check.suite("environment")

T:case("J1", function()
	check.eq(skynet.getenv("myenv"), "hello", "getenv(\"myenv\")")
	local threads = check.type(skynet.getenv("thread"), "string", "getenv(\"thread\")")
	check.eq(threads, skynet.getenv("conformance_thread"), "getenv(\"thread\") is the configured count")
	check.eq(skynet.getenv("harbor"), "0", "getenv(\"harbor\")")
	check.eq(skynet.getenv("standalone"), "true", "getenv(\"standalone\")")
	check.values("getenv of an unknown key", table.pack(nil), skynet.getenv("no_such_key"))
end)

T:case("J2", function()
	skynet.setenv("newkey", "v1")
	check.eq(skynet.getenv("newkey"), "v1", "getenv after setenv")
	skynet.setenv("k4", 12)
	check.eq(skynet.getenv("k4"), "12", "number value")
	skynet.setenv("k5", "a b")
	check.eq(skynet.getenv("k5"), "a b", "value with a space")
end)

T:case("J3", function()
	local err = check.raises("Can't setenv exist key : newkey", skynet.setenv, "newkey", "v2")
	check.ends_with(err, "Can't setenv exist key : newkey")
	check.eq(skynet.getenv("newkey"), "v1", "value after the failed setenv")
end)

T:case("J4", function()
	check.raises("attempt to concatenate a nil value", skynet.setenv, "k3", nil)
	check.eq(skynet.getenv("k3"), nil, "key after the failed setenv")
end)

T:run()
