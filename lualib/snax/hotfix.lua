-- snax.hotfix: patches the methods of a running snax service.
--
-- Stands for the reference's lualib/snax/hotfix.lua (same behaviour, same
-- error texts). Called by snaxd as
--   hotfix(methods, source, ...) -> true, results... | false, error
-- `source` is read like a snax file (snax.interface) under the chunk name
-- "=patch", in a private copy of the global table. Every accept, response or
-- system method it defines takes the place of the service's method of the
-- same group and name ("Patch mismatch <group>.<name>" when there is none).
-- Before that, each upvalue of the new code that is still nil (a top-level
-- `local x` of the patch) or is the patch's global table is joined to the
-- service's upvalue of the same name, so the new code works on the
-- service's own locals and globals. The service's upvalues are gathered from
-- its methods and, through upvalues holding functions, from the functions
-- they reach that share their _ENV; one name bound to two different upvalues
-- is "ambiguity local value <name>". Finally, if the patch defines
-- hotfix(...), it is called with the remaining arguments and its results are
-- returned.

local snax_interface = require "snax.interface"

local getupvalue = debug.getupvalue
local upvalueid = debug.upvalueid
local upvaluejoin = debug.upvaluejoin

-- The patch's global table: a copy of the globals as they are when this
-- module is first loaded, so that the patch's own globals stay out of the
-- service's table.
local patch_G = {}
for k, v in pairs(_ENV) do
  patch_G[k] = v
end

-- Iterates over the upvalues of f: index, name, value.
local function upvalues(f)
  local i = 0
  return function()
    i = i + 1
    local name, value = getupvalue(f, i)
    if name ~= nil then
      return i, name, value
    end
  end
end

-- The identity of f's _ENV upvalue, if f has one.
local function env_id(f)
  for i, name in upvalues(f) do
    if name == "_ENV" then
      return upvalueid(f, i)
    end
  end
end

-- A function of this module whose first upvalue is _ENV: the target for the
-- patch's _ENV when none of the service's methods has one.
local function globals_anchor()
  return _ENV
end

-- Where each upvalue name of the service lives: name -> { func, index, id }.
local function service_upvalues(methods)
  local where = {}
  local function visit(f, env)
    for i, name, value in upvalues(f) do
      local id = upvalueid(f, i)
      local known = where[name]
      if known then
        assert(known.id == id, string.format("ambiguity local value %s", name))
      else
        where[name] = { func = f, index = i, id = id }
        if type(value) == "function" and env_id(value) == env then
          visit(value, env)
        end
      end
    end
  end
  for _, method in ipairs(methods) do
    local f = method[4]
    if f then
      visit(f, env_id(f))
    end
  end
  where._ENV = where._ENV or { func = globals_anchor, index = 1 }
  return where
end

-- Ties the open upvalues of f, and of the functions it holds, to the
-- service's upvalues of the same name.
local function attach(f, where)
  for i, name, value in upvalues(f) do
    if value == nil or value == patch_G then
      local target = where[name]
      if target then
        upvaluejoin(f, i, target.func, target.index)
      end
    elseif type(value) == "function" then
      attach(value, where)
    end
  end
end

local function method_named(methods, group, name)
  for _, method in ipairs(methods) do
    if method[2] == group and method[3] == name then
      return method
    end
  end
end

local function apply(methods, source, ...)
  local patch = snax_interface("patch", patch_G, function(_, _, G)
    return assert(load(source, "=patch", "bt", G))
  end)
  local where = service_upvalues(methods)
  local patch_hotfix
  for _, new in ipairs(patch) do
    local group, name, f = new[2], new[3], new[4]
    if f then
      local old = assert(method_named(methods, group, name), string.format("Patch mismatch %s.%s", group, name))
      attach(f, where)
      old[4] = f
      if group == "system" and name == "hotfix" then
        patch_hotfix = f
      end
    end
  end
  if patch_hotfix then
    return patch_hotfix(...)
  end
end

-- hotfix(methods, source, ...) -> true, results of the patch's hotfix(...)
-- or false, error
return function(methods, source, ...)
  return pcall(apply, methods, source, ...)
end
