-- test_snax — tests of skynet.snax, snaxd, snax.interface and snax.hotfix
-- (run by tests/lib.rs).
--
-- Stands for no file of the reference (test service); it covers what the
-- reference's test/testping.lua shows, plus the error cases.

local skynet = require "skynet"
local snax = require "skynet.snax"
local T = require "libtest"

local ps

T.case("newservice", function()
  ps = snax.newservice("snaxping", "arg1")
  T.eq(type(ps.handle), "number", "handle")
  T.eq(ps.type, "snaxping", "type")
  T.eq(tostring(ps), string.format("[snaxping:%x]", ps.handle), "tostring")
end)

T.case("unknown_method", function()
  T.raises("post snaxping:nosuch no exist", function() return ps.post.nosuch end)
  T.raises("request snaxping:nosuch no exist", function() return ps.req.nosuch end)
end)

T.case("request", function()
  T.eq(ps.req.ping("x"), "x", "ping")
  local a, b, c = ps.req.echo(1, nil, "three")
  T.eq(a, 1, "echo 1")
  T.eq(b, nil, "echo 2")
  T.eq(c, "three", "echo 3")
  -- snax.enablecluster(): the lua protocol reaches the same methods
  local id = snax.interface("snaxping").response.echo
  T.eq(skynet.call(ps.handle, "lua", id, "via lua"), "via lua", "lua protocol")
end)

T.case("post", function()
  T.eq(select("#", ps.post.hello()), 0, "post returns nothing")
  ps.post.hello()
  local count = ps.req.state()
  T.eq(count, 2, "count after two posts")
end)

T.case("response_error", function()
  local ok, err = pcall(ps.req.error)
  T.eq(ok, false, "pcall ok")
  T.ok(tostring(err):find("call failed", 1, true), "error text " .. tostring(err))
  -- the service keeps serving
  T.eq(ps.req.ping("after"), "after", "ping after error")
end)

T.case("profile", function()
  local info = snax.profile_info(ps)
  T.eq(info.hello.count, 2, "hello count")
  T.eq(info.error.count, 1, "error count")
  T.eq(info.ping.count, 2, "ping count")
  T.eq(math.type(info.ping.time), "float", "time is a float")
  local dinfo = skynet.call(ps.handle, "debug", "INFO")
  T.eq(dinfo.hello.count, 2, "debug INFO hello count")
end)

T.case("hotfix", function()
  local before = ps.req.state()
  local r = snax.hotfix(ps, [[
local count
local word

function accept.hello()
  count = count + 1
  word = "fixed"
end

function hotfix(n)
  local old = count
  count = n
  return old, "patched"
end
]], 100)
  T.eq(r, before, "hotfix returns the patch's hotfix() result")
  ps.post.hello()
  local count, word = ps.req.state()
  T.eq(count, 101, "patched accept.hello shares the service's count")
  T.eq(word, "fixed", "patched accept.hello shares the service's word")
end)

T.case("hotfix_mismatch", function()
  T.raises("Patch mismatch accept.nosuch", snax.hotfix, ps, [[
function accept.nosuch() end
]])
  T.raises("patch:1:", snax.hotfix, ps, "this is not lua")
  -- the service still works with its previous methods
  T.eq(ps.req.ping("still"), "still", "ping after failed hotfix")
end)

T.case("unique_query_bind", function()
  local u = snax.uniqueservice("snaxping", "unique")
  T.eq(snax.queryservice("snaxping"), u, "queryservice gives the same object")
  T.eq(snax.uniqueservice("snaxping"), u, "uniqueservice again")
  T.eq(snax.bind(u.handle, "snaxping"), u, "bind is cached")
  T.eq(snax.bind(ps.handle, "snaxping"), ps, "bind of newservice object")
  T.ok(u.handle ~= ps.handle, "unique is another instance")
  local t, h, name, path = u.req.whoami()
  T.eq(t, "snaxping", "snax.self().type")
  T.eq(h, u.handle, "snax.self().handle")
  T.eq(name, "snaxping", "SERVICE_NAME")
  T.ok(path:find("test/lib/snaxping/$"), "SERVICE_PATH " .. tostring(path))
end)

-- After a snax service exited, a request fails: with "call to invalid
-- address" once its handle is gone, with "call failed" if the request
-- reached its queue while it was exiting.
local function dead(obj)
  local ok, err = pcall(obj.req.ping, "dead")
  T.eq(ok, false, "request to an exited service")
  err = tostring(err)
  T.ok(err:find("call to invalid address", 1, true) or err:find("call failed", 1, true),
    "error text " .. err)
end

T.case("kill", function()
  snax.kill(ps, "bye")
  dead(ps)
end)

T.case("self_exit", function()
  local s = snax.newservice("snaxping", "other")
  -- accept.quit calls snax.exit(...) inside the service
  s.post.quit("self")
  dead(s)
end)

T.case("init_error", function()
  -- init raises inside the new service: newservice fails with call failed
  T.raises("call failed", snax.newservice, "snaxbad", "nope")
end)

T.case("bad_file", function()
  T.raises("nosuchsnax", snax.newservice, "nosuchsnax")
end)

skynet.start(function()
  T.run "snax"
end)
