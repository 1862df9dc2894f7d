-- coroutines_timers.lua — conformance section E (coroutines, timers, ordering), run as the
-- `start` service of its own node. Covers E1–E17; event orders are recorded in Lua tables and
-- compared, error lines of E10 are checked by the harness through EXPECT lines.
--
-- Stands for the reference's scheduling behaviour (fork queue, wakeup queue, timers, task
-- introspection in lualib/skynet.lua); E16/E17 have the shape of the reference's testtimer and
-- testresponse but are written independently.

local skynet = require "skynet"
require "skynet.manager"
local check = require "check"

local T = check.suite("coroutines_timers")
local SELF = skynet.self()

local function recorder()
	local log = {}
	return log, function(s)
		log[#log + 1] = s
	end
end

T:start_case("E12-init", function()
	check.matches(skynet.task("init"), "^stack traceback:", "skynet.task(\"init\") in the start function")
end)

T:case("E1", function()
	local log, rec = recorder()
	local done = check.event()
	for i = 1, 3 do
		skynet.timeout(10, function()
			rec("timeout10 #" .. i)
			if i == 3 then
				done.fire()
			end
		end)
	end
	skynet.timeout(5, function() rec("timeout5") end)
	skynet.timeout(0, function() rec("timeout0") end)
	skynet.fork(function() rec("fork A") end)
	skynet.fork(function(a, b) rec("fork B " .. a .. " " .. b) end, 1, 2)
	rec("after forks")
	skynet.sleep(0)
	rec("after sleep(0)")
	done.wait()
	check.list(log, { "after forks", "fork A", "fork B 1 2", "timeout0", "after sleep(0)", "timeout5",
		"timeout10 #1", "timeout10 #2", "timeout10 #3" })
end)

T:case("E2", function()
	local log, rec = recorder()
	local done = check.event()
	skynet.fork(function()
		rec("f1 start")
		skynet.yield()
		rec("f1 after yield")
	end)
	skynet.fork(function()
		rec("f2 start")
		skynet.yield()
		rec("f2 after yield")
		done.fire()
	end)
	rec("main yield")
	skynet.yield()
	rec("main after yield")
	done.wait()
	check.list(log, { "main yield", "f1 start", "f2 start", "main after yield", "f1 after yield",
		"f2 after yield" })
end)

T:case("E3", function()
	local log, rec = recorder()
	local w = skynet.fork(function()
		skynet.wait()
		rec("W resumed")
	end)
	skynet.yield() -- W is waiting now
	skynet.fork(function() rec("F runs") end)
	check.eq(skynet.wakeup(w), true, "wakeup of the waiting coroutine")
	rec("main before yield")
	skynet.yield()
	rec("main after yield")
	check.list(log, { "main before yield", "W resumed", "F runs", "main after yield" })
end)

T:case("E4", function()
	local log, rec = recorder()
	skynet.fork(function()
		rec("F1")
		skynet.fork(function() rec("F1-child") end)
	end)
	skynet.fork(function() rec("F2") end)
	skynet.yield()
	rec("main continues")
	check.list(log, { "F1", "F2", "F1-child", "main continues" })
end)

T:case("E5", function()
	local log, rec = recorder()
	local nret
	local w = skynet.fork(function()
		nret = select("#", skynet.wait())
		rec("W ran")
	end)
	skynet.yield()
	check.values("first wakeup", table.pack(true), skynet.wakeup(w))
	check.values("second wakeup", table.pack(true), skynet.wakeup(w))
	check.list(log, {}, "waiter ran before the waking coroutine yielded")
	skynet.yield()
	check.list(log, { "W ran" }, "waiter runs once")
	check.eq(nret, 0, "number of values returned by skynet.wait()")
end)

T:case("E6", function()
	check.values("wakeup of a token nobody waits on", table.pack(), skynet.wakeup({}))
	check.values("wakeup of the running coroutine", table.pack(), skynet.wakeup(coroutine.running()))
end)

T:case("E7", function()
	local res
	local done = check.event()
	local s = skynet.fork(function()
		local t0 = skynet.now()
		res = table.pack(skynet.sleep(1000))
		res.elapsed = skynet.now() - t0
		done.fire()
	end)
	skynet.yield()
	check.eq(skynet.wakeup(s), true, "wakeup of the sleeper")
	done.wait()
	check.values("result of a woken sleep", table.pack("BREAK"), table.unpack(res, 1, res.n))
	check.truthy(res.elapsed < 1000, "woken sleep ended early (elapsed " .. res.elapsed .. ")")
	check.values("result of an undisturbed sleep", table.pack(), skynet.sleep(1))
	local t0 = skynet.now()
	skynet.sleep(50)
	local advanced = skynet.now() - t0
	check.truthy(advanced >= 50, "skynet.now() advanced by at least 50 (got " .. advanced .. ")")
end)

T:case("E8", function()
	local slept, waited, dup_sleep, dup_wait
	local ev_sleep, ev_wait, ev_dup = check.event(), check.event(), check.event()
	skynet.fork(function()
		slept = table.pack(skynet.sleep(1000, "tok"))
		ev_sleep.fire()
	end)
	skynet.fork(function()
		waited = table.pack(skynet.wait("tok2"))
		ev_wait.fire()
	end)
	skynet.yield() -- "tok" sleeps, "tok2" waits
	skynet.fork(function()
		dup_sleep = table.pack(pcall(skynet.sleep, 10, "tok"))
		dup_wait = table.pack(pcall(skynet.wait, "tok2"))
		ev_dup.fire()
		-- The failed sleep left its 10-tick timer pointing at this coroutine (reference
		-- behaviour); park here so that a stray resume lands in a wait, not in the pool.
		skynet.wait({})
	end)
	ev_dup.wait()
	check.eq(dup_sleep[1], false, "sleep on a token already in use")
	check.contains(dup_sleep[2], "token duplicative", "duplicate sleep error")
	check.eq(dup_wait[1], false, "wait on a token already in use")
	check.contains(dup_wait[2], "token duplicative", "duplicate wait error")
	check.eq(skynet.wakeup("tok"), true, "wakeup(\"tok\")")
	check.eq(skynet.wakeup("tok2"), true, "wakeup(\"tok2\")")
	ev_sleep.wait()
	ev_wait.wait()
	check.values("sleep ended by its token", table.pack("BREAK"), table.unpack(slept, 1, slept.n))
	check.eq(waited.n, 0, "number of values returned by wait(token)")
end)

T:case("E9", function()
	check.type(skynet.timeout(1, function() end), "thread", "skynet.timeout result")
	check.type(skynet.fork(function() end), "thread", "skynet.fork result")
	local log, rec = recorder()
	local done = check.event()
	skynet.timeout(-5, function() rec("timeout -5") end)
	skynet.timeout(1, function()
		rec("timeout 1")
		done.fire()
	end)
	done.wait()
	check.list(log, { "timeout -5", "timeout 1" })
	check.values("sleep(-1)", table.pack(), skynet.sleep(-1))
end)

T:case("E10", function()
	local function header(session)
		return string.format("%slua call [0 to :%x : %d msgsz = 0] error : \27[31m", check.prefix(SELF), SELF,
			session)
	end
	local s = skynet.genid()
	skynet.yield() -- session s + 1: we now run inside that timer message
	skynet.fork(function() error("err in fork") end)
	skynet.yield()
	check.expect_log(header(s + 1) .. "*err in fork")

	local s2 = skynet.genid()
	skynet.timeout(0, function() error("err in timeout") end) -- session s2 + 1
	skynet.yield() -- reached: the errors did not disturb this coroutine
	check.expect_log(header(s2 + 1) .. "*err in timeout")
end)

T:case("E11", function()
	local ran = false
	local co = skynet.fork(function() ran = true end)
	check.eq(skynet.killthread(co), co, "killthread of a queued fork")
	skynet.yield()
	check.falsy(ran, "killed fork ran")

	local sleeper = skynet.fork(function() skynet.sleep(300) end)
	skynet.yield()
	local before = skynet.task()
	check.eq(skynet.killthread(sleeper), sleeper, "killthread of a sleeping coroutine")
	check.eq(skynet.task(), before - 1, "skynet.task() after killthread")
	check.values("killthread of an unknown name", table.pack(), skynet.killthread("zzz"))
end)

T:case("E12", function()
	check.mathtype(skynet.task(), "integer", "skynet.task()")
	local w = skynet.fork(function() skynet.wait() end)
	skynet.yield()
	local session = skynet.task(w)
	check.mathtype(session, "integer", "skynet.task(co)")
	check.matches(skynet.task(session), "^stack traceback:", "skynet.task(session)")
	check.eq(skynet.task(99999), "No session", "skynet.task(unknown session)")
	check.values("skynet.task(\"init\") after start", table.pack(), skynet.task("init"))
	local t = {}
	check.values("skynet.task(table)", table.pack(), skynet.task(t))
	local found = false
	for k, v in pairs(t) do
		if not k:match("^BREAK session: %d+$") then
			check.matches(k, "^thread: 0x%x+ session: %d+$", "skynet.task(table) key")
		end
		if k == string.format("%s session: %d", tostring(w), session) then
			found = true
			check.matches(v, "^stack traceback:", "traceback of the waiting coroutine")
		end
	end
	check.truthy(found, "the waiting coroutine is listed by skynet.task(table)")
	skynet.wakeup(w)
	skynet.yield()
end)

T:case("E13", function()
	-- A fresh echo service has three request coroutines parked at the same line.
	local h = skynet.newservice("echo")
	for _ = 1, 3 do
		skynet.send(h, "lua", "waitfor", "never")
	end
	local u = skynet.call(h, "debug", "UNIQTASK")
	local total, grouped = 0, false
	for k, v in pairs(u) do
		local count, list = k:match("^(%d+)\tsessions:%[([%d,]*)%]\n$")
		check.truthy(count, "uniqtask key format of " .. check.show(k))
		count = tonumber(count)
		local listed = 0
		for _ in list:gmatch("%d+") do listed = listed + 1 end
		check.eq(listed, count, "sessions listed in " .. check.show(k))
		check.matches(v, "^stack traceback:", "uniqtask value")
		total = total + count
		grouped = grouped or count >= 2
	end
	check.eq(total, 3, "waiting sessions reported")
	check.truthy(grouped, "identical tracebacks are grouped")
	skynet.kill(h)
end)

T:case("E14", function()
	skynet.trace_timeout(true)
	local now = skynet.now()
	local t = skynet.timeout(500, function() end)
	local session = skynet.task(t)
	check.mathtype(session, "integer", "session of the traced timer")
	local info = skynet.task(session)
	local created = check.matches(info, "^TIMER (%d+)%+500 : ", "traced timer info"):match("^TIMER (%d+)")
	check.truthy(tonumber(created) >= now, "TIMER time is the creation time")
	check.contains(info, "stack traceback:", "traced timer info")
	skynet.trace_timeout(false)
end)

T:case("E15", function()
	check.mathtype(skynet.now(), "integer", "skynet.now()")
	check.mathtype(skynet.starttime(), "integer", "skynet.starttime()")
	check.mathtype(skynet.hpc(), "integer", "skynet.hpc()")
	check.mathtype(skynet.time(), "float", "skynet.time()")
	local a = skynet.genid()
	local b = skynet.genid()
	check.mathtype(a, "integer", "skynet.genid()")
	check.eq(b, a + 1, "consecutive genid")
end)

T:case("E16", function()
	local main = coroutine.running()
	skynet.fork(function()
		for _ = 1, 5 do
			skynet.sleep(50)
			skynet.wakeup(main)
		end
	end)
	local fired = false
	skynet.timeout(300, function() fired = true end)
	local results = {}
	for i = 1, 7 do
		results[i] = table.pack(skynet.sleep(100))
	end
	for i = 1, 5 do
		check.values("sleep #" .. i, table.pack("BREAK"), table.unpack(results[i], 1, results[i].n))
	end
	for i = 6, 7 do
		check.values("sleep #" .. i, table.pack(), table.unpack(results[i], 1, results[i].n))
	end
	check.truthy(fired, "the 300-tick timeout fired during the loop")
end, 2000)

T:case("E17", function()
	local tick = skynet.newservice("ticker")
	local recs = {}
	for i = 1, 5 do
		recs[i] = check.spawn(skynet.call, tick, "lua")
		skynet.sleep(5)
	end
	local first
	for i = 1, 5 do
		check.truthy(check.join(recs[i], 500), "call #" .. i .. " returned")
		check.truthy(recs[i].ok, "call #" .. i .. " succeeded")
		local at = recs[i].results[1]
		first = first or at
		check.eq(at, first, "tick of the reply to call #" .. i)
	end
	skynet.kill(tick)
end, 1500)

T:run()
