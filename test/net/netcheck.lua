-- netcheck — case runner shared by the network test services in test/net/.
--
-- Owns: running named cases one after another inside a service, each
-- guarded (an error or a failed check fails only that case) and bounded (a
-- case still running after its limit is reported as timed out and left
-- behind), the log lines `CASE <id> PASS` / `CASE <id> FAIL: <reason>`, the
-- summary `NET <suite>: <n> passed, <m> failed` and the node abort that
-- ends the run. tests/net.rs reads those lines.
--
-- Stands for no file of the reference; it is test infrastructure.

local skynet = require "skynet"
require "skynet.manager" -- skynet.abort

local netcheck = {}

-- bound of one case in ticks; generous, the machine may be loaded
netcheck.LIMIT = 3000

local failure_mt = { __tostring = function(self) return self.text end }

local function show(v)
  if type(v) == "string" then
    if #v > 200 then
      return string.format("%q... (%d bytes)", v:sub(1, 200), #v)
    end
    return string.format("%q", v)
  end
  return tostring(v)
end
netcheck.show = show

function netcheck.fail(text)
  error(setmetatable({ text = text }, failure_mt), 0)
end

local function prefix(what)
  return what and (what .. ": ") or ""
end

function netcheck.eq(got, want, what)
  if got ~= want then
    netcheck.fail(string.format("%sgot %s, want %s", prefix(what), show(got), show(want)))
  end
  return got
end

function netcheck.truthy(v, what)
  if not v then
    netcheck.fail(string.format("%sgot %s, want a true value", prefix(what), show(v)))
  end
  return v
end

function netcheck.falsy(v, what)
  if v then
    netcheck.fail(string.format("%sgot %s, want false or nil", prefix(what), show(v)))
  end
  return v
end

function netcheck.contains(s, sub, what)
  if type(s) ~= "string" or not s:find(sub, 1, true) then
    netcheck.fail(string.format("%s%s does not contain %s", prefix(what), show(s), show(sub)))
  end
  return s
end

-- f(...) must raise; returns the error value
function netcheck.raises(f, ...)
  local ok, err = pcall(f, ...)
  if ok then
    netcheck.fail "expected an error, got success"
  end
  return err
end

-- Run `cases` ({ {id, fn}, ... }) in order, report, abort the node.
function netcheck.run(suite, cases)
  local passed, failed = 0, 0
  for _, case in ipairs(cases) do
    local id, fn, limit = case[1], case[2], case.limit or netcheck.LIMIT
    local token = {} -- per case: a late finisher must not wake the next case
    local outcome -- nil while running; then true or the failure text
    skynet.fork(function()
      local ok, err = xpcall(fn, function(e)
        if getmetatable(e) == failure_mt then
          return e.text
        end
        return debug.traceback(tostring(e), 2)
      end)
      outcome = ok or err
      skynet.wakeup(token)
    end)
    skynet.timeout(limit, function()
      if outcome == nil then
        outcome = string.format("timed out after %d ticks", limit)
        skynet.wakeup(token)
      end
    end)
    skynet.wait(token)
    if outcome == true then
      passed = passed + 1
      skynet.error(string.format("CASE %s PASS", id))
    else
      failed = failed + 1
      skynet.error(string.format("CASE %s FAIL: %s", id, outcome))
    end
  end
  skynet.error(string.format("NET %s: %d passed, %d failed", suite, passed, failed))
  skynet.abort()
end

return netcheck
