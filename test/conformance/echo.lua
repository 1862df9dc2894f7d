-- echo.lua — helper service for the conformance tests (the `echo` service of
-- conformance-cases.md): a `lua` dispatch on a command word, used as the callee of send/call,
-- reply, error, select, debug-protocol and protection cases.
--
-- Started as `echo [mode] [args...]`; with mode `text-nodispatch` it registers the `text`
-- protocol without a dispatch function (case D11). At start it logs
-- `echo started n= <#args> <args...>`.
--
-- Commands (first argument of a `lua` request):
--   echo ...            reply with the arguments
--   ctx                 reply with skynet.context()
--   args                reply with the start arguments
--   hi                  reply "hi from echo"
--   raise / raisetable  error("boom") / error({code = 1})
--   noret / <unknown>   return without replying
--   ignore              skynet.ignoreret() and return
--   twice               retpack(1) then pcall(retpack, 2); results kept in state.twice
--   retsend             (sent) state.retsend = retpack(1)
--   resp_test           response-closure experiments (state.resp_test); replies "a"
--   resp_double         response() twice (state.resp_double); replies "first"
--   resp_send           (sent) response() for a send (state.resp_send)
--   resp_custom         response(custom pack); r(true, 1, 2)
--   resp_false          response(); r(false)
--   resp_later n        r = response(), answered "late" from timeout(n); result in state.resp_later
--   resp_hold_exit      r = response(), exit 1 tick later, a timer would answer 50 ticks later
--   sleep n             sleep(n); reply "slept"
--   sleepret n          sleep(n); state.sleepret = ret(pack "x")
--   sleepexit n         timeout(n, skynet.exit); sleep(1000)
--   exitnow             skynet.exit()
--   spin n              busy loop for n ticks of wall time; reply "spun"
--   spin_until_gone name max  register local `name`, busy loop until the name no longer
--                       resolves (the service was killed) or max ticks passed
--   spin_until_mqlen n max    tell the caller "spinning", busy loop until n messages are
--                       queued (or max ticks); the next `noop` replies with the queue length
--                       seen
--   noop                nothing (answers a pending spin_until_mqlen)
--   spin_signal max     tell the caller "spinning", then a Lua busy loop of max ticks
--   register name       skynet.register(name)
--   push v / list       append to a list / reply with it
--   record / last       remember (session, source) of this request / reply with them
--   get key             reply with state[key] (tables are unpacked)
--   waitfor key         reply with state[key] once it is set
--   set_info            install an info_func (case I3)
--   secret              reply secret.hidden (an upvalue of the dispatch function, case I9)
--   trace_self          skynet.trace("mytag"); reply skynet.tracetag()
--   endless n           answer after a timer callback that spins n ticks; replies the two
--                       values of skynet.stat("endless") read afterwards
--   stats               reply with skynet.stat of mqlen, message, cpu, time, endless, then the
--                       pcall results of skynet.stat of an unknown key (case M6)
--
-- Stands for the `echo` helper described in conformance-cases.md (not a reference file).

local skynet = require "skynet"
require "skynet.manager"

local start_args = table.pack(...)
local mode = start_args[1]

local state = {}
local waiters = {}
local list = {}
local secret = { hidden = 42 }

local function set_state(key, value)
	state[key] = value
	local w = waiters[key]
	if w then
		waiters[key] = nil
		for _, co in ipairs(w) do
			skynet.wakeup(co)
		end
	end
end

-- Busy loop on wall time (hpc is in nanoseconds; one tick is 10 ms).
local function spin_ticks(ticks, stop)
	local deadline = skynet.hpc() + ticks * 10000000
	while skynet.hpc() < deadline do
		if stop and stop() then
			return true
		end
	end
	return false
end

local CMD = {}

function CMD.echo(...)
	skynet.retpack(...)
end

function CMD.ctx()
	skynet.retpack(skynet.context())
end

function CMD.args()
	skynet.retpack(table.unpack(start_args, 1, start_args.n))
end

function CMD.hi()
	skynet.retpack("hi from echo")
end

function CMD.raise()
	error("boom")
end

function CMD.raisetable()
	error({ code = 1 })
end

function CMD.noret()
end

function CMD.ignore()
	skynet.ignoreret()
end

function CMD.twice()
	local r1 = skynet.retpack(1)
	local ok2, err2 = pcall(skynet.retpack, 2)
	set_state("twice", table.pack(r1, ok2, err2))
end

function CMD.retsend()
	set_state("retsend", table.pack(skynet.retpack(1)))
end

function CMD.resp_test()
	local r = skynet.response()
	local t1 = r("TEST")
	local first = r(true, "a")
	local t2 = r("TEST")
	local ok3, err3 = pcall(r, true, "b")
	set_state("resp_test", table.pack(t1, first, t2, ok3, err3))
end

function CMD.resp_double()
	local r1 = skynet.response()
	local ok2, err2 = pcall(skynet.response)
	local sent = r1(true, "first")
	set_state("resp_double", table.pack(ok2, err2, sent))
end

function CMD.resp_send()
	local r = skynet.response()
	set_state("resp_send", table.pack(type(r), select("#", r(true, "x"))))
end

function CMD.resp_custom()
	local r = skynet.response(function(...)
		return skynet.pack("custom", ...)
	end)
	r(true, 1, 2)
end

function CMD.resp_false()
	local r = skynet.response()
	r(false)
end

function CMD.resp_later(n)
	local r = skynet.response()
	skynet.timeout(tonumber(n), function()
		local ok = r(true, "late")
		if not ok then
			skynet.error("late response returns false")
		end
		set_state("resp_later", table.pack(ok))
	end)
end

function CMD.resp_hold_exit()
	local r = skynet.response()
	skynet.timeout(50, function()
		skynet.error("resp_hold_exit timer ran")
		r(true, "never")
	end)
	skynet.timeout(1, skynet.exit)
end

function CMD.sleep(n)
	skynet.sleep(tonumber(n))
	skynet.retpack("slept")
end

function CMD.sleepret(n)
	skynet.sleep(tonumber(n))
	set_state("sleepret", table.pack(skynet.ret(skynet.pack("x"))))
end

function CMD.sleepexit(n)
	skynet.timeout(tonumber(n), skynet.exit)
	skynet.sleep(1000)
end

function CMD.exitnow()
	skynet.exit()
end

function CMD.spin(n)
	spin_ticks(tonumber(n))
	skynet.retpack("spun")
end

function CMD.spin_until_gone(name, max)
	skynet.register(name)
	spin_ticks(tonumber(max), function()
		return skynet.localname(name) == nil
	end)
end

-- Reply owed by spin_until_mqlen, sent by the next `noop` (so that the first message after the
-- busy one has been taken off the queue before the caller sends anything else).
local after_spin

function CMD.spin_until_mqlen(n, max)
	n = tonumber(n)
	local _, source = skynet.context()
	skynet.send(source, "lua", "spinning", skynet.self())
	spin_ticks(tonumber(max), function()
		return skynet.stat("mqlen") >= n
	end)
	local seen = skynet.stat("mqlen")
	local respond = skynet.response()
	after_spin = function()
		respond(true, seen)
	end
end

function CMD.noop()
	if after_spin then
		local f = after_spin
		after_spin = nil
		f()
	end
end

function CMD.spin_signal(max)
	local _, source = skynet.context()
	skynet.send(source, "lua", "spinning", skynet.self())
	local deadline = skynet.hpc() + tonumber(max) * 10000000
	local n = 0
	while skynet.hpc() < deadline do
		n = n + 1
	end
	skynet.retpack("finished", n)
end

function CMD.register(name)
	skynet.register(name)
	skynet.retpack()
end

function CMD.push(v)
	list[#list + 1] = v
end

function CMD.list()
	skynet.retpack(list)
end

function CMD.record()
	local session, source = skynet.context()
	set_state("last", table.pack(session, source))
end

function CMD.last()
	local t = state.last or {}
	skynet.retpack(t[1], t[2])
end

local function reply_state(key)
	local v = state[key]
	if type(v) == "table" then
		skynet.retpack(table.unpack(v, 1, v.n))
	else
		skynet.retpack(v)
	end
end

function CMD.get(key)
	reply_state(key)
end

function CMD.waitfor(key)
	while state[key] == nil do
		local co = coroutine.running()
		local w = waiters[key] or {}
		waiters[key] = w
		w[#w + 1] = co
		skynet.wait(co)
	end
	reply_state(key)
end

function CMD.set_info()
	skynet.info_func(function(...)
		return { info = "hello", args = table.concat({ ... }, ",") }
	end)
	skynet.retpack()
end

function CMD.trace_self()
	skynet.trace("mytag")
	skynet.retpack(skynet.tracetag())
end

function CMD.endless(n)
	local r = skynet.response()
	skynet.timeout(0, function()
		spin_ticks(tonumber(n))
		local e1 = skynet.stat("endless")
		local e2 = skynet.stat("endless")
		r(true, e1, e2)
	end)
end

function CMD.stats()
	local unknown = table.pack(pcall(skynet.stat, "nosuchkey"))
	skynet.retpack(skynet.stat("mqlen"), skynet.stat("message"), skynet.stat("cpu"), skynet.stat("time"),
		skynet.stat("endless"), unknown[1], unknown[2])
end

skynet.start(function()
	if mode == "text-nodispatch" then
		skynet.register_protocol {
			name = "text",
			id = skynet.PTYPE_TEXT,
			pack = function(s) return s end,
			unpack = skynet.tostring,
		}
	end
	skynet.dispatch("lua", function(session, source, cmd, ...)
		if cmd == "secret" then
			return skynet.retpack(secret.hidden)
		end
		local f = CMD[cmd]
		if f then
			return f(...)
		end
	end)
	skynet.error("echo started n=", start_args.n, table.unpack(start_args, 1, start_args.n))
end)
