-- skynet.snax: the calling side of snax services.
--
-- Stands for the reference's lualib/skynet/snax.lua (same API and texts). A
-- snax service is a Lua file, found through the `snax` config path and run
-- by `snaxd <name>`; snax.interface describes how it declares its methods.
-- Requiring this module registers the `snax` protocol (id 11). To learn the
-- method ids of a service type, its file is loaded here too, with a global
-- table that is empty but for a no-op `require` (or the module named by the
-- `snax_interface_g` config key).
--
-- Objects: obj.post.X(...) sends to accept.X, obj.req.X(...) calls response.X
-- and returns its results; obj.handle, obj.type; tostring(obj) is
-- "[<type>:<hex handle>]". One object per handle (snax.bind).

local skynet = require "skynet"
local snax_interface = require "snax.interface"

local snax = {}

skynet.register_protocol {
  name = "snax",
  id = skynet.PTYPE_SNAX,
  pack = skynet.pack,
  unpack = skynet.unpack,
}

-- The global table interface files are loaded with on this side.
local interface_env
do
  local module = skynet.getenv "snax_interface_g"
  if module then
    interface_env = require(module)
  else
    interface_env = { require = function() end }
  end
end

---------------------------------------------------------------------------
-- Service types

local types = {} -- name -> { name, accept = {}, response = {}, system = {} }

-- The method ids of the snax type `name`, by group and method name.
function snax.interface(name)
  local t = types[name]
  if t == nil then
    t = { name = name, accept = {}, response = {}, system = {} }
    for _, method in ipairs(snax_interface(name, interface_env)) do
      local id, group, mname = method[1], method[2], method[3]
      t[group][mname] = id
    end
    types[name] = t
  end
  return t
end

---------------------------------------------------------------------------
-- Objects

-- How obj.post / obj.req reach a method: the group its ids come from, the
-- word used when the method is unknown, and how the message goes out.
local senders = {
  post = {
    group = "accept",
    word = "post",
    send = function(handle, id, ...)
      skynet.send(handle, "snax", id, ...)
    end,
  },
  req = {
    group = "response",
    word = "request",
    send = function(handle, id, ...)
      return skynet.call(handle, "snax", id, ...)
    end,
  },
}

-- The table behind obj.post or obj.req: reading obj.post.X gives a function
-- sending method X (an unknown X raises "<word> <type>:X no exist").
local function method_table(sender, t, handle)
  local ids = t[sender.group]
  local send = sender.send
  return setmetatable({}, {
    __index = function(_, method)
      local id = ids[method]
      if id == nil then
        error(string.format("%s %s:%s no exist", sender.word, t.name, method))
      end
      return function(...)
        return send(handle, id, ...)
      end
    end,
  })
end

local object_meta = {
  __tostring = function(obj)
    return string.format("[%s:%x]", obj.type, obj.handle)
  end,
}

local objects = setmetatable({}, { __mode = "kv" }) -- handle -> object

local function new_object(handle, name)
  local t = snax.interface(name)
  local obj = setmetatable({ type = name, handle = handle }, object_meta)
  obj.post = method_table(senders.post, t, handle)
  obj.req = method_table(senders.req, t, handle)
  return obj
end

function snax.bind(handle, name)
  local obj = objects[handle]
  if obj == nil then
    obj = new_object(handle, name)
    objects[handle] = obj
  else
    assert(obj.type == name)
  end
  return obj
end

---------------------------------------------------------------------------
-- Starting and finding services

function snax.rawnewservice(name, ...)
  local init_id = snax.interface(name).system.init
  local handle = skynet.newservice("snaxd", name)
  assert(objects[handle] == nil)
  if init_id then
    skynet.call(handle, "snax", init_id, ...)
  end
  return handle
end

function snax.newservice(name, ...)
  return snax.bind(snax.rawnewservice(name, ...), name)
end

-- The unique and global variants are kept by service_mgr (`.service`).
local function through_manager(command, name, ...)
  local handle = assert(skynet.call(".service", "lua", command, "snaxd", name, ...))
  return snax.bind(handle, name)
end

function snax.uniqueservice(name, ...)
  return through_manager("LAUNCH", name, ...)
end

function snax.globalservice(name, ...)
  return through_manager("GLAUNCH", name, ...)
end

function snax.queryservice(name)
  return through_manager("QUERY", name)
end

function snax.queryglobal(name)
  return through_manager("GQUERY", name)
end

function snax.self()
  return snax.bind(skynet.self(), SERVICE_NAME)
end

---------------------------------------------------------------------------
-- System methods of a running service

local function system_call(obj, method, ...)
  local id = snax.interface(obj.type).system[method]
  return skynet.call(obj.handle, "snax", id, ...)
end

function snax.kill(obj, ...)
  system_call(obj, "exit", ...)
end

function snax.exit(...)
  snax.kill(snax.self(), ...)
end

function snax.profile_info(obj)
  return system_call(obj, "profile")
end

local function hotfix_outcome(ok, ...)
  if not ok then
    error(...)
  end
  return ...
end

function snax.hotfix(obj, source, ...)
  return hotfix_outcome(system_call(obj, "hotfix", source, ...))
end

function snax.printf(fmt, ...)
  skynet.error(string.format(fmt, ...))
end

return snax
