-- skynet.snax — client side of snax services.
--
-- Stands for the reference's lualib/skynet/snax.lua. A snax service is a Lua
-- file (found through the `snax` config path) run by `snaxd <name>`; see
-- snax.interface for how its methods are declared. Requiring this module
-- registers the `snax` protocol (id 11). The method ids of a service type are
-- learnt by loading its file here too, in a nearly empty environment (or the
-- module named by the `snax_interface_g` config key).
--   newservice(name, ...) -> obj        new instance, init(...) called
--   rawnewservice(name, ...) -> handle  the same, without the object
--   uniqueservice / globalservice(name, ...) -> obj   one per node / cluster
--   queryservice / queryglobal(name) -> obj
--   bind(handle, name) -> obj           (cached per handle)
--   self(), exit(...), kill(obj, ...), hotfix(obj, source, ...),
--   profile_info(obj), printf(fmt, ...), interface(name)
-- An object has `post.X(...)` (send to accept.X), `req.X(...)` (call
-- response.X), `handle` and `type`; tostring gives `[name:handle]`.

local skynet = require "skynet"
local load_interface = require "snax.interface"

local snax = {}

local globals_module = skynet.getenv "snax_interface_g"
local G = globals_module and require(globals_module) or { require = function() end }

skynet.register_protocol {
  name = "snax",
  id = skynet.PTYPE_SNAX,
  pack = skynet.pack,
  unpack = skynet.unpack,
}

local interfaces = {}

function snax.interface(name)
  local known = interfaces[name]
  if known then
    return known
  end
  local methods = load_interface(name, G)
  local t = { name = name, accept = {}, response = {}, system = {} }
  for _, m in ipairs(methods) do
    t[m[2]][m[3]] = m[1]
  end
  interfaces[name] = t
  return t
end

local object_meta = {
  __tostring = function(obj)
    return string.format("[%s:%x]", obj.type, obj.handle)
  end,
}

local send, call = skynet.send, skynet.call

-- `obj.post.X` / `obj.req.X`: functions built on demand for known methods.
-- A post is a plain send and returns nothing; a request returns the results.
local function method_table(t, handle, group, verb)
  local post = group == "accept"
  return setmetatable({}, {
    __index = function(_, method)
      local id = t[group][method]
      if not id then
        error(string.format("%s %s:%s no exist", verb, t.name, method))
      end
      if post then
        return function(...)
          send(handle, "snax", id, ...)
        end
      end
      return function(...)
        return call(handle, "snax", id, ...)
      end
    end,
  })
end

local bound = setmetatable({}, { __mode = "kv" })

function snax.bind(handle, name)
  local obj = bound[handle]
  if obj then
    assert(obj.type == name)
    return obj
  end
  local t = snax.interface(name)
  obj = setmetatable({
    post = method_table(t, handle, "accept", "post"),
    req = method_table(t, handle, "response", "request"),
    type = name,
    handle = handle,
  }, object_meta)
  bound[handle] = obj
  return obj
end

function snax.rawnewservice(name, ...)
  local t = snax.interface(name)
  local handle = skynet.newservice("snaxd", name)
  assert(bound[handle] == nil)
  if t.system.init then
    call(handle, "snax", t.system.init, ...)
  end
  return handle
end

function snax.newservice(name, ...)
  return snax.bind(snax.rawnewservice(name, ...), name)
end

local function from_service_mgr(command, name, ...)
  local handle = assert(call(".service", "lua", command, "snaxd", name, ...))
  return snax.bind(handle, name)
end

function snax.uniqueservice(name, ...)
  return from_service_mgr("LAUNCH", name, ...)
end

function snax.globalservice(name, ...)
  return from_service_mgr("GLAUNCH", name, ...)
end

function snax.queryservice(name)
  return from_service_mgr("QUERY", name)
end

function snax.queryglobal(name)
  return from_service_mgr("GQUERY", name)
end

function snax.kill(obj, ...)
  local t = snax.interface(obj.type)
  call(obj.handle, "snax", t.system.exit, ...)
end

function snax.self()
  return snax.bind(skynet.self(), SERVICE_NAME)
end

function snax.exit(...)
  snax.kill(snax.self(), ...)
end

local function results(ok, ...)
  if not ok then
    error(...)
  end
  return ...
end

function snax.hotfix(obj, source, ...)
  local t = snax.interface(obj.type)
  return results(call(obj.handle, "snax", t.system.hotfix, source, ...))
end

function snax.printf(fmt, ...)
  skynet.error(string.format(fmt, ...))
end

function snax.profile_info(obj)
  local t = snax.interface(obj.type)
  return call(obj.handle, "snax", t.system.profile)
end

return snax
