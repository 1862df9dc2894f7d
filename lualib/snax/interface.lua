-- snax.interface — loads a snax service file and lists its methods.
--
-- Stands for the reference's lualib/snax/interface.lua. A snax file is run
-- with `G` as its global table. While its main chunk runs:
--   * `accept.X = f` / `response.X = f` (also `function accept.X() end`)
--     register methods; ids are handed out in definition order after the
--     four system methods;
--   * assigning a global named init, exit, hotfix or profile sets that
--     system method (ids 1..4);
--   * any other global assignment is kept aside (and readable by the chunk)
--     and copied into G once the chunk has run.
-- Returns `methods, pattern`: methods is a list of { id, group, name, f }
-- (f may be nil for a system method the file does not define), pattern is
-- the entry of the `snax` search path the file was found with.
--   interface(name, G [, loader]) — loader(path, name, G) -> chunk, pattern

local skynet = require "skynet"

local SYSTEM = { "init", "exit", "hotfix", "profile" }

-- Finds `name` through the `;`-separated patterns of `path`.
local function search_loader(path, name, G)
  local errors = {}
  for pattern in path:gmatch("[^;]+") do
    local filename = pattern:gsub("?", name)
    local chunk, err = loadfile(filename, "bt", G)
    if chunk then
      return chunk, pattern
    end
    errors[#errors + 1] = err
  end
  error(table.concat(errors, "\n"))
end

-- A write-only table: each assignment registers one method of `group`.
local function method_group(methods, group)
  local seen = {}
  local function define(_, name, f)
    if type(name) ~= "string" then
      error(string.format("%s method only support string", group))
    end
    if type(f) ~= "function" then
      error(string.format("%s.%s must be function", group, name))
    end
    if seen[name] then
      error(string.format("%s.%s duplicate definition", group, name))
    end
    seen[name] = true
    methods[#methods + 1] = { #methods + 1, group, name, f }
  end
  return setmetatable({}, { __newindex = define })
end

return function(name, G, loader)
  loader = loader or search_loader

  assert(getmetatable(G) == nil)
  assert(G.init == nil)
  assert(G.exit == nil)
  assert(G.accept == nil)
  assert(G.response == nil)

  local methods = {}
  local system_id = {}
  for id, sysname in ipairs(SYSTEM) do
    system_id[sysname] = id
    methods[id] = { id, "system", sysname }
  end

  local deferred = {} -- other globals set by the chunk
  local scope = setmetatable({
    accept = method_group(methods, "accept"),
    response = method_group(methods, "response"),
  }, { __index = deferred })

  local function assign(_, key, value)
    local id = system_id[key]
    if id == nil then
      deferred[key] = value
    elseif type(value) == "function" then
      methods[id][4] = value
    else
      error(string.format("%s must be a function", key))
    end
  end

  local path = assert(skynet.getenv "snax", "please set snax in config file")
  local chunk, pattern = loader(path, name, G)

  setmetatable(G, { __index = scope, __newindex = assign })
  local ok, err = xpcall(chunk, debug.traceback)
  setmetatable(G, nil)
  assert(ok, err)

  for k, v in pairs(deferred) do
    G[k] = v
  end

  return methods, pattern
end
