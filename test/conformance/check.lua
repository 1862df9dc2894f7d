-- check.lua — shared helper for the conformance test services in test/conformance/.
--
-- Owns: running numbered cases one after another, each guarded (an error or a failed assertion
-- only fails that case) and bounded (a case that does not finish within its limit is reported as
-- timed out and left behind), the `CASE <id> PASS|FAIL: <reason>` report lines, the final
-- `CONFORMANCE <suite>: N passed, M failed` line and the node abort.
--
-- It also writes `EXPECT <id> <kind> <glob>` lines: expectations about what the node logs that
-- the Lua side cannot observe itself (error texts, tracebacks, KILL/LAUNCH lines). The Rust
-- harness (tests/conformance.rs) checks them against the node's stdout after the run. Kinds:
--   present <glob>          the glob matches somewhere in the log
--   absent <glob>           it matches nowhere
--   count=<n> <glob>        it matches exactly n times
--   order <glob> >>> <glob> both match and the first match of the left one comes first
-- Glob syntax: `*` matches any run of characters except a newline; `{H}` eight hex digits, the
-- same ones everywhere in one expectation (both sides of an `order`: "the same service");
-- `\n` newline, `\e` ESC, `\*` a literal star, `\\` a backslash.
--
-- Stands for no file of the reference; it is test infrastructure for conformance-cases.md.

local skynet = require "skynet"
require "skynet.manager" -- skynet.abort

local check = {}

-- Default bound of one case, in ticks (1/100 s). Generous: the machine may be loaded.
check.DEFAULT_LIMIT = 1000

local failure_mt = { __tostring = function(self) return self.msg end }

local function show(v)
	if type(v) == "string" then
		return string.format("%q", v)
	elseif math.type(v) == "float" then
		return string.format("%s(float)", tostring(v))
	end
	return tostring(v)
end
check.show = show

-- Fail the current case with a message (raised as a marked error object).
function check.fail(msg)
	error(setmetatable({ msg = msg }, failure_mt), 0)
end

local function label(what)
	return what and (what .. ": ") or ""
end

function check.eq(got, want, what)
	if got ~= want then
		check.fail(string.format("%sgot %s, want %s", label(what), show(got), show(want)))
	end
	return got
end

function check.neq(got, unwanted, what)
	if got == unwanted then
		check.fail(string.format("%sgot %s, wanted anything else", label(what), show(got)))
	end
	return got
end

function check.truthy(v, what)
	if not v then
		check.fail(string.format("%sgot %s, want a true value", label(what), show(v)))
	end
	return v
end

function check.falsy(v, what)
	if v then
		check.fail(string.format("%sgot %s, want false or nil", label(what), show(v)))
	end
	return v
end

-- Same integer/float subtype and value.
function check.same_number(got, want, what)
	if math.type(got) ~= math.type(want) or got ~= want then
		check.fail(string.format("%sgot %s, want %s", label(what), show(got), show(want)))
	end
end

function check.type(v, t, what)
	if type(v) ~= t then
		check.fail(string.format("%sgot %s of type %s, want type %s", label(what), show(v), type(v), t))
	end
	return v
end

function check.mathtype(v, t, what)
	if math.type(v) ~= t then
		check.fail(string.format("%sgot %s (math.type %s), want %s", label(what), show(v),
			tostring(math.type(v)), t))
	end
	return v
end

-- `s` contains the plain substring `sub`.
function check.contains(s, sub, what)
	if type(s) ~= "string" or not s:find(sub, 1, true) then
		check.fail(string.format("%s%s does not contain %s", label(what), show(s), show(sub)))
	end
	return s
end

function check.not_contains(s, sub, what)
	if type(s) == "string" and s:find(sub, 1, true) then
		check.fail(string.format("%s%s contains %s", label(what), show(s), show(sub)))
	end
	return s
end

-- `s` matches the Lua pattern `pat`.
function check.matches(s, pat, what)
	if type(s) ~= "string" or not s:match(pat) then
		check.fail(string.format("%s%s does not match pattern %s", label(what), show(s), show(pat)))
	end
	return s
end

-- `s` ends with the plain text `tail`.
function check.ends_with(s, tail, what)
	if type(s) ~= "string" or s:sub(-#tail) ~= tail then
		check.fail(string.format("%s%s does not end with %s", label(what), show(s), show(tail)))
	end
	return s
end

-- Number of values and each value (nil holes included).
function check.values(what, want, ...)
	local n = select("#", ...)
	local got = table.pack(...)
	if n ~= want.n then
		local shown = {}
		for i = 1, n do shown[i] = show(got[i]) end
		check.fail(string.format("%s: got %d values (%s), want %d", what, n, table.concat(shown, ", "), want.n))
	end
	for i = 1, n do
		if got[i] ~= want[i] or math.type(got[i]) ~= math.type(want[i]) then
			check.fail(string.format("%s: value #%d is %s, want %s", what, i, show(got[i]), show(want[i])))
		end
	end
end

-- Call f(...) under pcall; it must fail and its message must contain `sub` (plain text).
-- Returns the error message.
function check.raises(sub, f, ...)
	local r = table.pack(pcall(f, ...))
	if r[1] then
		local shown = {}
		for i = 2, r.n do shown[#shown + 1] = show(r[i]) end
		check.fail(string.format("expected an error containing %s, got success (%s)", show(sub),
			table.concat(shown, ", ")))
	end
	local err = r[2]
	if sub and (type(err) ~= "string" or not err:find(sub, 1, true)) then
		check.fail(string.format("error %s does not contain %s", show(err), show(sub)))
	end
	return err
end

-- Call f(...) under pcall; it must succeed. Returns its results.
function check.ok(f, ...)
	local r = table.pack(pcall(f, ...))
	if not r[1] then
		check.fail("unexpected error: " .. tostring(r[2]))
	end
	return table.unpack(r, 2, r.n)
end

-- Sorted, comma-separated keys of a table (for messages and key-set checks).
function check.keys(t)
	local ks = {}
	for k in pairs(t) do ks[#ks + 1] = tostring(k) end
	table.sort(ks)
	return table.concat(ks, ",")
end

-- Compare two lists of strings (event logs).
function check.list(got, want, what)
	local g, w = table.concat(got, " | "), table.concat(want, " | ")
	if #got ~= #want then
		check.fail(string.format("%s: got [%s], want [%s]", what or "list", g, w))
	end
	for i = 1, #want do
		if got[i] ~= want[i] then
			check.fail(string.format("%s: got [%s], want [%s]", what or "list", g, w))
		end
	end
end

-- Mark plain text for use inside an expectation glob (its stars are literal, not wildcards).
function check.lit(s)
	return (tostring(s):gsub("%*", "\0*"))
end

-- Turn a glob written in Lua (real newlines/ESC bytes allowed, literal stars marked by
-- check.lit) into its one-line escaped form.
local function glob_line(g)
	g = g:gsub("\\", "\\\\")
	g = g:gsub("\0%*", "\\*")
	g = g:gsub("\n", "\\n")
	g = g:gsub("\27", "\\e")
	return g
end

-- The id of the case that is running (for expectations).
local current_case = "?"

local function expect(kind, glob)
	skynet.error(string.format("EXPECT %s %s %s", current_case, kind, glob))
end

-- The log must contain `glob`. Use check.lit() for inserted dynamic text.
function check.expect_log(glob) expect("present", glob_line(glob)) end
function check.expect_nolog(glob) expect("absent", glob_line(glob)) end
function check.expect_count(n, glob) expect("count=" .. math.tointeger(n), glob_line(glob)) end
function check.expect_order(first, second)
	expect("order", glob_line(first) .. " >>> " .. glob_line(second))
end

-- Logger prefix of a service, e.g. "[:00000008] ".
function check.prefix(handle)
	return string.format("[:%08x] ", handle)
end

-- Hex without padding, as in `KILL :f` and error headers.
function check.hex(handle)
	return string.format("%x", handle)
end

-- Wait (bounded, polling once per tick) until `cond()` is true. Returns true if it became true.
function check.wait_until(cond, limit)
	limit = limit or check.DEFAULT_LIMIT
	local deadline = skynet.now() + limit
	while not cond() do
		if skynet.now() >= deadline then
			return false
		end
		skynet.sleep(1)
	end
	return true
end

-- Wait (bounded) until the service `handle` no longer answers (exited or killed).
function check.wait_dead(handle, limit)
	return check.wait_until(function()
		return not pcall(skynet.call, handle, "debug", "PING")
	end, limit)
end

-- Run `f` in a new coroutine and return a record that tells whether it finished:
-- rec.done, rec.ok, rec.results (table.pack of f's results or the error).
function check.spawn(f, ...)
	local rec = { done = false }
	local args = table.pack(...)
	skynet.fork(function()
		local r = table.pack(pcall(f, table.unpack(args, 1, args.n)))
		rec.ok = r[1]
		rec.results = table.pack(table.unpack(r, 2, r.n))
		rec.done = true
		if rec.waiting then
			skynet.wakeup(rec)
		end
	end)
	return rec
end

-- Wait (bounded) for a record made by check.spawn. Returns true if it finished in time.
function check.join(rec, limit)
	if rec.done then
		return true
	end
	skynet.timeout(limit or check.DEFAULT_LIMIT, function()
		if rec.waiting then
			skynet.wakeup(rec)
		end
	end)
	rec.waiting = true
	skynet.wait(rec)
	rec.waiting = false
	return rec.done
end

-- A one-shot event: ev.fire() from any coroutine, ev.wait() returns once it has fired (at
-- once if it already has). Bound waits by running them inside a case.
function check.event()
	local ev = { fired = false, waiting = false }
	function ev.fire()
		ev.fired = true
		if ev.waiting then
			skynet.wakeup(ev)
		end
	end
	function ev.wait()
		if not ev.fired then
			ev.waiting = true
			skynet.wait(ev)
			ev.waiting = false
		end
	end
	return ev
end

local function one_line(s)
	s = tostring(s):gsub("\r", ""):gsub("\n%s*", " | ")
	if #s > 600 then
		s = s:sub(1, 600) .. "..."
	end
	return s
end

local function error_text(err)
	if getmetatable(err) == failure_mt then
		return err.msg
	end
	return "error: " .. debug.traceback(tostring(err), 2)
end

---------------------------------------------------------------------------------------------------
-- Suites

local Suite = {}
Suite.__index = Suite

-- A suite is the list of cases of one test service (one file, one node).
function check.suite(name)
	return setmetatable({ name = name, cases = {}, start_cases = {}, passed = 0, failed = 0 }, Suite)
end

-- Register a case: `fn` runs in its own coroutine, bounded by `limit` ticks.
function Suite:case(id, fn, limit)
	self.cases[#self.cases + 1] = { id = id, fn = fn, limit = limit }
end

-- Register a case that must run inside the start function itself (it must not block).
function Suite:start_case(id, fn)
	self.start_cases[#self.start_cases + 1] = { id = id, fn = fn }
end

function Suite:report(id, ok, reason)
	if ok then
		self.passed = self.passed + 1
		skynet.error("CASE " .. id .. " PASS")
	else
		self.failed = self.failed + 1
		skynet.error("CASE " .. id .. " FAIL: " .. one_line(reason))
	end
end

local function run_bounded(suite, c)
	local state = { done = false }
	local token = {}
	skynet.fork(function()
		current_case = c.id
		local ok, err = xpcall(c.fn, error_text)
		if not state.done then
			state.done, state.ok, state.err = true, ok, err
			skynet.wakeup(token)
		end
	end)
	local limit = c.limit or check.DEFAULT_LIMIT
	skynet.timeout(limit, function()
		if not state.done then
			state.done, state.ok = true, false
			state.err = string.format("did not finish within %d ticks", limit)
			skynet.wakeup(token)
		end
	end)
	skynet.wait(token)
	suite:report(c.id, state.ok, state.err)
end

-- Install the start function: `setup` (optional) runs first inside it, then the start cases,
-- then `last` (optional); the bounded cases run afterwards in a forked coroutine, then the
-- summary is logged and the node is aborted.
function Suite:run(setup, last)
	skynet.start(function()
		if setup then
			setup()
		end
		for _, c in ipairs(self.start_cases) do
			current_case = c.id
			local ok, err = xpcall(c.fn, error_text)
			self:report(c.id, ok, err)
		end
		if last then
			last()
		end
		skynet.fork(function()
			for _, c in ipairs(self.cases) do
				run_bounded(self, c)
			end
			skynet.error(string.format("CONFORMANCE %s: %d passed, %d failed", self.name, self.passed,
				self.failed))
			-- skynet.abort() drops log lines the logger has not written yet (case A6): give it time.
			skynet.sleep(50)
			skynet.abort()
		end)
	end)
end

return check
