-- snaxd: hosts one snax service, launched as `snaxd <name>`.
--
-- Stands for the reference's service/snaxd.lua (same protocol, same texts).
-- The snax file <name> is read by snax.interface (or by the loader returned
-- by the file that the `snax_loader` config key names) with this service's
-- globals as its globals. Then `<directory of the file>/<name>/?.lua` goes in
-- front of package.path, SERVICE_NAME becomes <name> and SERVICE_PATH that
-- directory. Each `snax` message is a method id followed by arguments:
--   init(...)      (system) runs init once and answers; nothing else is
--                  served before it ("Init first", twice: "Already init")
--   exit(...)      (system) runs exit, answers, and the service exits
--   hotfix(src, ...) (system) answers what snax.hotfix gives
--   profile        (system) answers { [method] = { count = n, time = t } }
--   accept.X(...)  runs X, no answer
--   response.X(...) answers with X's results
-- accept and response methods are timed with skynet.profile; the totals are
-- also the service's debug INFO. A method's error is raised again once it is
-- timed (a caller then gets "call failed").

local skynet = require "skynet"
local snax_interface = require "snax.interface"
local profile = require "skynet.profile"
local snax = require "skynet.snax"

local snax_name = tostring(...)

local methods, found_as
do
  local loader_file = skynet.getenv "snax_loader"
  local loader = loader_file and assert(dofile(loader_file))
  methods, found_as = snax_interface(snax_name, _ENV, loader)
end

local home = found_as:sub(1, found_as:find("?", 1, true) - 1) .. snax_name .. "/"
package.path = home .. "?.lua;" .. package.path
SERVICE_NAME = snax_name
SERVICE_PATH = home

---------------------------------------------------------------------------
-- Timing of accept and response methods

local stats = {} -- method name -> { count = calls, time = total seconds }

local function account(method_name, elapsed)
  local entry = stats[method_name] or { count = 0, time = 0 }
  entry.count, entry.time = entry.count + 1, entry.time + elapsed
  stats[method_name] = entry
end

local traceback = debug.traceback

local function timed(method_name, f, ...)
  profile.start()
  local ok, err = xpcall(f, traceback, ...)
  account(method_name, profile.stop())
  assert(ok, err)
end

local function answer_with(f, ...)
  return skynet.ret(skynet.pack(f(...)))
end

---------------------------------------------------------------------------
-- System methods; each gets the file's own function of that name (if any)
-- and the message arguments.

local ready = false

local function no_op() end

local system = {}

local function report_stats()
  return stats
end

function system.init(f, ...)
  assert(not ready, "Already init")
  local run = f or no_op
  run(...)
  skynet.ret()
  ready = true
  skynet.info_func(report_stats)
end

function system.exit(f, ...)
  assert(ready, "Never init")
  local run = f or no_op
  run(...)
  skynet.ret()
  ready = false
  skynet.exit()
end

function system.hotfix(_, ...)
  local patch = require "snax.hotfix"
  skynet.ret(skynet.pack(patch(methods, ...)))
end

function system.profile()
  skynet.ret(skynet.pack(stats))
end

---------------------------------------------------------------------------

local function dispatch(_, _, id, ...)
  local method = methods[id]
  local group, method_name, f = method[2], method[3], method[4]
  if group == "system" then
    return system[method_name](f, ...)
  end
  assert(ready, "Init first")
  if group == "accept" then
    timed(method_name, f, ...)
  else
    timed(method_name, answer_with, f, ...)
  end
end

-- Lets cluster callers (lua protocol) reach the same methods; offered once
-- the service has started.
local function serve_lua_too()
  skynet.dispatch("lua", dispatch)
end

skynet.start(function()
  snax.enablecluster = serve_lua_too
  skynet.dispatch("snax", dispatch)
end)
