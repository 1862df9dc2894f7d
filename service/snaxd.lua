-- snaxd — runs one snax service: `snaxd <name>`.
--
-- Stands for the reference's service/snaxd.lua. Loads the snax file `name`
-- (snax.interface, or the loader file named by the `snax_loader` config key)
-- with this service's globals, puts `<dir of the file>/<name>/?.lua` in front
-- of package.path and sets SERVICE_NAME / SERVICE_PATH. Messages of the
-- `snax` protocol carry a method id and its arguments:
--   system init(...)     once, before anything else ("Already init")
--   system exit(...)     runs exit(...), answers, then the service exits
--   system hotfix(src, ...) patches methods (snax.hotfix), answers its result
--   system profile       answers { [method] = { count, time } }
--   accept.X(...)        no answer; response.X(...) answers X's results
-- Every accept/response call is timed (skynet.profile) into the profile
-- table, also shown by the debug INFO command. An error in a method is
-- raised again after it was timed, so a request fails with "call failed".

local skynet = require "skynet"
local load_interface = require "snax.interface"
local profile = require "skynet.profile"
local snax = require "skynet.snax"

local snax_name = tostring(...)
local loader_file = skynet.getenv "snax_loader"
local loader = loader_file and assert(dofile(loader_file))
local methods, pattern = load_interface(snax_name, _ENV, loader)
local service_path = pattern:sub(1, pattern:find("?", 1, true) - 1) .. snax_name .. "/"
package.path = service_path .. "?.lua;" .. package.path

SERVICE_NAME = snax_name
SERVICE_PATH = service_path

local stats = {} -- method name -> { count, time }

local function record(name, elapsed)
  local s = stats[name]
  if s == nil then
    s = { count = 0, time = 0 }
    stats[name] = s
  end
  s.count = s.count + 1
  s.time = s.time + elapsed
end

local traceback = debug.traceback

local function answer(f, ...)
  return skynet.ret(skynet.pack(f(...)))
end

local function run_method(method, ...)
  profile.start()
  local ok, err
  if method[2] == "accept" then
    ok, err = xpcall(method[4], traceback, ...)
  else
    ok, err = xpcall(answer, traceback, method[4], ...)
  end
  record(method[3], profile.stop())
  assert(ok, err)
end

local function nothing() end

skynet.start(function()
  local initialized = false

  local function dispatch(_, _, id, ...)
    local method = methods[id]
    if method[2] ~= "system" then
      assert(initialized, "Init first")
      return run_method(method, ...)
    end
    local command = method[3]
    if command == "hotfix" then
      local hotfix = require "snax.hotfix"
      skynet.ret(skynet.pack(hotfix(methods, ...)))
    elseif command == "profile" then
      skynet.ret(skynet.pack(stats))
    elseif command == "init" then
      assert(not initialized, "Already init")
      local init = method[4] or nothing
      init(...)
      skynet.ret()
      skynet.info_func(function()
        return stats
      end)
      initialized = true
    else
      assert(initialized, "Never init")
      assert(command == "exit")
      local exit = method[4] or nothing
      exit(...)
      skynet.ret()
      initialized = false
      skynet.exit()
    end
  end

  skynet.dispatch("snax", dispatch)

  -- let cluster (lua protocol) calls reach the methods too
  function snax.enablecluster()
    skynet.dispatch("lua", dispatch)
  end
end)
