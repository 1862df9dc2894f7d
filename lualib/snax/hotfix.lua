-- snax.hotfix — replaces methods of a running snax service with new code.
--
-- Stands for the reference's lualib/snax/hotfix.lua. The patch source is
-- loaded like a snax file (snax.interface) in a copy of the service's global
-- environment. Each accept/response/system method it defines replaces the
-- method of the same group and name (an unknown one fails with
-- "Patch mismatch group.name"). Upvalues of the patch that are nil when it is
-- loaded (its top-level `local x` declarations) and its _ENV are joined to the
-- service's upvalues of the same name, collected from the service's methods
-- and the functions they reach through upvalues sharing their _ENV, so the
-- patched code reads and writes the service's state. If the patch defines
-- `hotfix(...)`, it is called with the extra arguments and its results are
-- returned.
--   hotfix(methods, source, ...) -> true, results... | false, error

local interface = require "snax.interface"

local getupvalue, upvalueid, upvaluejoin = debug.getupvalue, debug.upvalueid, debug.upvaluejoin

-- The globals of the service as they are when this module is loaded: the
-- patch runs in a copy so that its own assignments do not leak.
local patch_env = {}
for k, v in pairs(_ENV) do
  patch_env[k] = v
end

-- Upvalue id of f's _ENV, if it has one.
local function env_of(f)
  local i = 1
  while true do
    local name = getupvalue(f, i)
    if name == nil then
      return nil
    elseif name == "_ENV" then
      return upvalueid(f, i)
    end
    i = i + 1
  end
end

-- Records f's upvalues by name (and those of the functions it reaches that
-- share the environment `env`); two different upvalues with one name are an
-- error.
local function gather(f, found, env)
  local i = 1
  while true do
    local name, value = getupvalue(f, i)
    if name == nil then
      return
    end
    local id = upvalueid(f, i)
    local known = found[name]
    if known then
      assert(known.id == id, string.format("ambiguity local value %s", name))
    else
      found[name] = { func = f, index = i, id = id }
      if type(value) == "function" and env_of(value) == env then
        gather(value, found, env)
      end
    end
    i = i + 1
  end
end

-- A function of ours whose only upvalue is _ENV, to join a patch's _ENV with
-- when no service method uses globals.
local function env_holder()
  return _ENV
end

local function service_upvalues(methods)
  local found = {}
  for _, m in pairs(methods) do
    local f = m[4]
    if f then
      gather(f, found, env_of(f))
    end
  end
  if not found._ENV then
    found._ENV = { func = env_holder, index = 1 }
  end
  return found
end

local function find_method(methods, group, name)
  for _, m in pairs(methods) do
    if m[2] == group and m[3] == name then
      return m
    end
  end
end

-- Joins the free upvalues of f (and of the functions nested in it) to the
-- service's upvalues of the same name.
local function join(found, f)
  local i = 1
  while true do
    local name, value = getupvalue(f, i)
    if name == nil then
      return
    end
    if value == nil or value == patch_env then
      local target = found[name]
      if target then
        upvaluejoin(f, i, target.func, target.index)
      end
    elseif type(value) == "function" then
      join(found, value)
    end
    i = i + 1
  end
end

local function apply(methods, source, ...)
  local patch = interface("patch", patch_env, function()
    return assert(load(source, "=patch", "bt", patch_env))
  end)
  local found = service_upvalues(methods)
  for _, m in pairs(patch) do
    local group, name, f = m[2], m[3], m[4]
    if f then
      local target = assert(find_method(methods, group, name),
        string.format("Patch mismatch %s.%s", group, name))
      join(found, f)
      target[4] = f
    end
  end
  local entry = find_method(patch, "system", "hotfix")
  if entry and entry[4] then
    return entry[4](...)
  end
end

return function(methods, source, ...)
  return pcall(apply, methods, source, ...)
end
