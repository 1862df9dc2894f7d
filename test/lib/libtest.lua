-- libtest — tiny case runner for the library tests of test/lib/.
--
-- Stands for no file of the reference (test infrastructure). A test service
-- declares cases with `T.case(name, f)` and calls `T.run(suite)` from its
-- start function. Each case runs in turn, guarded by pcall; it logs
-- `TESTLIB <suite> <case> PASS` or `TESTLIB <suite> <case> FAIL: <why>`.
-- At the end it logs `TESTLIB <suite> DONE <passed> <failed>` and aborts the
-- node (the logger still writes what it was sent before). tests/lib.rs reads
-- these lines.
-- `T.note(...)` logs `TESTLIB NOTE ...` (figures worth reading in the test
-- output, such as memory sizes).

local skynet = require "skynet"
require "skynet.manager" -- skynet.abort

local T = {}
local cases = {}

function T.case(name, f)
  cases[#cases + 1] = { name = name, f = f }
end

local function show(v)
  if type(v) == "string" then
    return string.format("%q", v)
  end
  return tostring(v)
end
T.show = show

function T.eq(got, want, what)
  if got ~= want then
    error(string.format("%s: got %s, want %s", what or "value", show(got), show(want)), 2)
  end
end

function T.ok(v, what)
  if not v then
    error(string.format("%s: got %s, want a true value", what or "value", show(v)), 2)
  end
  return v
end

-- f(...) must raise an error whose text contains `text` (plain search).
function T.raises(text, f, ...)
  local ok, err = pcall(f, ...)
  if ok then
    error(string.format("expected an error containing %q, got success", text), 2)
  end
  err = tostring(err)
  if not err:find(text, 1, true) then
    error(string.format("expected an error containing %q, got %q", text, err), 2)
  end
  return err
end

function T.note(...)
  skynet.error("TESTLIB NOTE", ...)
end

-- Sorted keys of a table (as strings), joined by spaces.
function T.keys(t)
  local list = {}
  for k in pairs(t) do
    list[#list + 1] = tostring(k)
  end
  table.sort(list)
  return table.concat(list, " ")
end

function T.run(suite)
  local passed, failed = 0, 0
  for _, c in ipairs(cases) do
    local ok, err = xpcall(c.f, debug.traceback)
    if ok then
      passed = passed + 1
      skynet.error(string.format("TESTLIB %s %s PASS", suite, c.name))
    else
      failed = failed + 1
      local first = tostring(err):gsub("\n", " | ")
      skynet.error(string.format("TESTLIB %s %s FAIL: %s", suite, c.name, first))
    end
  end
  skynet.error(string.format("TESTLIB %s DONE %d %d", suite, passed, failed))
  skynet.abort()
end

-- Helpers of the shared-data memory cases (test_sharedata, test_sharetable and their readers).

-- A data set of `n` items: about 1 MB as a Lua table for n = 5000.
function T.big_data(n)
  local items = {}
  for i = 1, n do
    items[i] = {
      id = i,
      name = string.format("item-%06d", i),
      text = string.rep(string.char(65 + i % 26), 40) .. i,
      tags = { i % 7, i % 11, i % 13 },
    }
  end
  return { title = "big data set", items = items }
end

-- Heap growth (bytes) from taking a view of a big_data set with `query()` and reading a few
-- items of it; the view is kept in `keep`. Also answers a checksum of what was read and the
-- heap size afterwards.
function T.measure_view(query, keep)
  collectgarbage()
  collectgarbage()
  local before = collectgarbage("count")
  local data = query()
  local sum = 0
  for i = 1, 10 do
    local item = data.items[i]
    sum = sum + item.id + #item.tags
  end
  sum = sum + #data.title
  keep[#keep + 1] = data
  collectgarbage()
  collectgarbage()
  local heap = collectgarbage("count") * 1024
  return heap - before * 1024, sum, heap
end

return T
