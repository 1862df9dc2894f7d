-- library.lua — conformance section L, core library modules: skynet.queue (L1–L3),
-- skynet.coroutine (L4–L10), skynet.datacenter (L11–L14) and skynet.require / skynet.init
-- (L26–L28). Run as the `start` service of its own node, with the helper services `yieldstart`
-- and `initorder` and the modules `mymod`, `slowmod`, `badmod`, `circa`, `circb`.
--
-- Stands for the reference's lualib/skynet/{queue,coroutine,datacenter,require}.lua and
-- service/datacenterd.lua behaviour; L13 follows the scenario of the reference's testdatacenter
-- (written independently).

local skynet = require "skynet"
require "skynet.manager"
local harbor = require "skynet.harbor"
local queue = require "skynet.queue"
local scoroutine = require "skynet.coroutine"
local datacenter = require "skynet.datacenter"
local check = require "check"

local T = check.suite("library")

local function recorder()
	local log = {}
	return log, function(s)
		log[#log + 1] = s
	end
end

-- Wait (inside a bounded case) until `n` calls of the returned `done` function happened.
local function countdown(n)
	local ev = check.event()
	local left = n
	return ev, function()
		left = left - 1
		if left == 0 then
			ev.fire()
		end
	end
end

T:start_case("L5-start", function()
	check.values("resume of the running start coroutine",
		table.pack(false, "cannot resume none skynet coroutine"), scoroutine.resume(coroutine.running()))
end)

T:case("L1", function()
	local cs = queue()
	check.type(cs, "function", "queue()")
	local log, rec = recorder()
	local all, done = countdown(3)
	for i = 1, 3 do
		skynet.fork(function()
			cs(function(a)
				rec("enter " .. i .. " " .. a)
				skynet.sleep(5)
				rec("leave " .. i)
			end, "arg" .. i)
			done()
		end)
	end
	all.wait()
	check.list(log, { "enter 1 arg1", "leave 1", "enter 2 arg2", "leave 2", "enter 3 arg3", "leave 3" })
end)

T:case("L2", function()
	local cs = queue()
	check.values("results through the lock", table.pack(1, nil, 3), cs(function() return 1, nil, 3 end))
	check.values("nested use in the same coroutine", table.pack("inner"), cs(function()
		return cs(function() return "inner" end)
	end))
end)

T:case("L3", function()
	local cs = queue()
	local ok, err = pcall(cs, function() error("qerr") end)
	check.eq(ok, false, "pcall of a failing function")
	check.contains(err, "qerr", "error")
	check.contains(err, "\nstack traceback:", "error carries the traceback")
	check.values("lock released after an error", table.pack("after"), cs(function() return "after" end))
end)

T:case("L4", function()
	local co = scoroutine.create(function(a, b)
		scoroutine.yield(a + b)
		skynet.sleep(1)
		local y = scoroutine.yield("second")
		return "done", y
	end)
	check.eq(scoroutine.status(co), "suspended", "status before the first resume")
	check.values("first resume", table.pack(true, 3), scoroutine.resume(co, 1, 2))
	check.values("resume across a skynet.sleep", table.pack(true, "second"), scoroutine.resume(co))
	check.values("final resume", table.pack(true, "done", "Y"), scoroutine.resume(co, "Y"))
	check.eq(scoroutine.status(co), "dead", "status at the end")
	check.values("resume of a dead coroutine", table.pack(false, "cannot resume dead coroutine"),
		scoroutine.resume(co))
end)

T:case("L5", function()
	check.values("resume of a plain coroutine", table.pack(false, "cannot resume none skynet coroutine"),
		scoroutine.resume(coroutine.create(function() end)))
end)

T:case("L6", function()
	local co = scoroutine.create(function()
		skynet.sleep(10)
		scoroutine.yield("x")
	end)
	local res
	local ev = check.event()
	skynet.fork(function()
		res = table.pack(scoroutine.resume(co))
		ev.fire()
	end)
	skynet.yield() -- the fork resumed co, which now sleeps inside the framework
	check.eq(scoroutine.status(co), "blocked", "status of a blocked skynet coroutine")
	check.values("resume of a blocked skynet coroutine",
		table.pack(false, "cannot resume a skynet coroutine suspend by skynet framework"), scoroutine.resume(co))
	ev.wait()
	check.values("the first resume completes", table.pack(true, "x"), table.unpack(res, 1, res.n))
end)

T:case("L7", function()
	local me = coroutine.running()
	check.values("thread() in a framework coroutine", table.pack(me, true), scoroutine.thread())
	local inner
	local co = scoroutine.create(function()
		inner = table.pack(scoroutine.thread())
	end)
	check.values("resume", table.pack(true), scoroutine.resume(co))
	check.values("thread() in a skynet coroutine", table.pack(me, false), table.unpack(inner, 1, inner.n))
end)

T:case("L8", function()
	local w = scoroutine.wrap(function(a)
		local b = scoroutine.yield(a * 2)
		error("wrap err " .. b)
	end)
	check.eq(w(21), 42, "first call")
	local ok, err = pcall(w, "z")
	check.eq(ok, false, "second call succeeded")
	check.contains(err, "wrap err z", "error of the second call")
end)

T:case("L9", function()
	local rec = check.spawn(skynet.newservice, "yieldstart")
	skynet.yield() -- the LAUNCH request is sent; the launcher handles our LIST after it
	local h
	for addr, v in pairs(skynet.call(".launcher", "lua", "LIST")) do
		if v == "snlua yieldstart" then
			h = tonumber(addr:sub(2), 16)
		end
	end
	check.truthy(h, "yieldstart is being launched")
	-- Its start message was queued before our PING: when PING returns, start was abandoned.
	skynet.call(h, "debug", "PING")
	check.falsy(rec.done, "newservice returned")
	check.expect_log(string.format("%slua call [0 to :%x : * msgsz = 0] error : \27[31m*", check.prefix(h), h)
		.. "Call skynet.coroutine.yield out of skynet.coroutine.resume")
	check.expect_nolog("yieldstart: pcall returned")
end)

T:case("L10", function()
	local res
	local ev = check.event()
	skynet.fork(function()
		local co = coroutine.create(function()
			skynet.sleep(1)
		end)
		res = table.pack(coroutine.resume(co))
		ev.fire()
		-- Misuse: the framework resumes this coroutine when the sleep's timer expires; park in a
		-- wait so that the resume lands here.
		skynet.wait({})
	end)
	ev.wait()
	check.values("plain resume around skynet.sleep", table.pack(true, "SUSPEND"), table.unpack(res, 1, res.n))
end)

T:case("L11", function()
	check.values("get of a missing key", table.pack(), datacenter.get("nokey"))
	check.values("first set", table.pack(), datacenter.set("k", "v1"))
	check.values("second set", table.pack("v1"), datacenter.set("k", "v2"))
	check.values("get", table.pack("v2"), datacenter.get("k"))
	datacenter.set("a", "b", "c", 42)
	check.values("get of a path", table.pack(42), datacenter.get("a", "b", "c"))
	check.type(datacenter.get("a"), "table", "get of a branch")
	check.values("get of a missing path", table.pack(nil), datacenter.get("a", "x", "y"))
	check.values("set to nil", table.pack("v2"), datacenter.set("k", nil))
	check.values("get after delete", table.pack(), datacenter.get("k"))
end)

T:case("L12", function()
	datacenter.set("n", "b", "c", 7)
	local err = check.raises("call failed", datacenter.get, "n", "b", "c", "d")
	check.ends_with(err, "call failed")
	local dc = harbor.queryname("DATACENTER")
	check.expect_log(string.format("%slua call [*] error : \27[31m*attempt to index a number value",
		check.prefix(dc)))
end)

T:case("L13", function()
	local got = {}
	local all, done = countdown(3)
	for i = 1, 2 do
		skynet.fork(function()
			got[i] = datacenter.wait("w1")
			done()
		end)
	end
	skynet.fork(function()
		got.branch = datacenter.wait("br", "leaf")
		done()
	end)
	skynet.yield() -- all three waits reached datacenterd before the sets below
	datacenter.set("w1", "hello")
	datacenter.set("br", "leaf", "L")
	all.wait()
	check.eq(got[1], "hello", "first waiter")
	check.eq(got[2], "hello", "second waiter")
	check.eq(got.branch, "L", "waiter on a path")
	datacenter.set("kx", "present")
	check.values("wait on an existing key", table.pack("present"), datacenter.wait("kx"))

	-- Waiting on a leaf that a deeper set turns into a branch fails; the path wait succeeds.
	local leaf, path
	local ev = check.event()
	skynet.fork(function()
		leaf = table.pack(pcall(datacenter.wait, "key"))
		path = datacenter.wait("key", "foobar")
		ev.fire()
	end)
	skynet.yield()
	datacenter.set("key", "foobar", "bingo")
	ev.wait()
	check.eq(leaf[1], false, "wait on a key that became a branch")
	check.ends_with(leaf[2], "call failed", "its error")
	check.eq(path, "bingo", "wait on the path")
end)

T:case("L14", function()
	local a
	local ev = check.event()
	skynet.fork(function()
		a = table.pack(pcall(datacenter.wait, "br2"))
		ev.fire()
	end)
	skynet.yield()
	local err = check.raises("call failed", datacenter.wait, "br2", "x", "y")
	check.ends_with(err, "call failed", "branch wait on a waited leaf")
	check.expect_log(string.format("%slua call [*] error : \27[31m*assertion failed!",
		check.prefix(harbor.queryname("DATACENTER"))))
	check.falsy(a, "the leaf waiter returned early")
	datacenter.set("br2", "x", "y", "Y")
	ev.wait()
	check.eq(a[1], false, "leaf waiter after a deeper set")
	check.ends_with(a[2], "call failed", "leaf waiter error")
end)

T:case("L26", function()
	local h = skynet.newservice("initorder")
	local order = skynet.call(h, "lua")
	check.list(order, { "mymod chunk", "main rest", "A", "B", "start" }, "initialization order")
	skynet.kill(h)
end)

T:case("L27", function()
	local got = {}
	local all, done = countdown(2)
	for i = 1, 2 do
		skynet.fork(function()
			local m = require "slowmod"
			got[i] = { m = m, inits = m.inits }
			done()
		end)
	end
	all.wait()
	check.truthy(rawequal(got[1].m, got[2].m), "both coroutines get the same module value")
	check.eq(SLOWMOD_LOADS, 1, "the module chunk ran once")
	check.eq(got[1].inits, 1, "init function ran before the first require returned")
	check.eq(got[2].inits, 1, "init function ran before the second require returned")
end)

T:case("L28", function()
	local res = {}
	local all, done = countdown(2)
	for i = 1, 2 do
		skynet.fork(function()
			res[i] = table.pack(pcall(require, "badmod"))
			done()
		end)
	end
	all.wait()
	check.eq(res[1][1], false, "first require of a failing module")
	check.contains(res[1][2], "badmod fails", "loader's error")
	check.contains(res[1][2], "stack traceback:", "loader's error carries a traceback")
	check.eq(res[2][1], false, "second require of a failing module")
	check.ends_with(res[2][2], "require badmod failed", "waiter's error")

	check.contains(check.raises("circular dependency", require, "circa"), "circular dependency")
	check.raises("bad argument #1 to 'insert'", skynet.init, function() end)
end)

T:run()
