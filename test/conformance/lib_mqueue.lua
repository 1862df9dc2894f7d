-- lib_mqueue.lua — conformance section L, the deprecated skynet.mqueue (L29). Run as the `start`
-- service of its own node with the `mq_svc` helper service.
--
-- Stands for the reference's lualib/skynet/mqueue.lua; no reference test file corresponds to it.

local skynet = require "skynet"
require "skynet.manager"
local mqueue = require "skynet.mqueue"
local check = require "check"

local T = check.suite("lib_mqueue")
local SELF = skynet.self()

T:case("L29", function()
	local h = skynet.newservice("mq_svc")
	check.values("mqueue.call", table.pack(42), mqueue.call(h, "add", 41))
	local err = check.raises("mqerr", mqueue.call, h, "fail")
	check.contains(err, "mq_svc.lua", "error carries the position of the failing handler")
	check.expect_log(string.format("%sMaybe forgot response session * from :%08x : @*mqueue.lua:*\n",
		check.prefix(h), SELF))
	skynet.kill(h)
end)

T:run()
