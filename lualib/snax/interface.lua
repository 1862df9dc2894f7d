-- snax.interface: reads a snax service file and lists the methods it defines.
--
-- Stands for the reference's lualib/snax/interface.lua (same calling
-- convention, same results, same error texts). Called as
--   interface(name, G [, loader]) -> methods, pattern
-- The file is found through the `;`-separated patterns of the `snax` config
-- key (or by loader(path, name, G) -> chunk, pattern) and its main chunk is
-- run with G as its global table. While it runs:
--   * `accept.X = f` / `response.X = f` (or `function accept.X() end`) define
--     methods, numbered in definition order after the system methods;
--   * setting a global init, exit, hotfix or profile defines that system
--     method (ids 1 to 4);
--   * every other new global is held aside (the chunk still reads it back)
--     and stored into G once the chunk has finished.
-- `methods` is a list of { id, group, name, f } (f is nil for a system method
-- the file leaves out); `pattern` is the search pattern the file came from.

local skynet = require "skynet"

local SYSTEM = { "init", "exit", "hotfix", "profile" }

-- The default loader: the first pattern of `path` whose file compiles.
local function from_search_path(path, name, G)
  local failures = {}
  for pattern in path:gmatch "[^;]+" do
    local filename = pattern:gsub("?", name)
    local chunk, why = loadfile(filename, "bt", G)
    if chunk then
      return chunk, pattern
    end
    failures[#failures + 1] = why
  end
  error(table.concat(failures, "\n"))
end

---------------------------------------------------------------------------
-- What a file defines, gathered while its main chunk runs.

local Definitions = {}
Definitions.__index = Definitions

local function definitions()
  local self = setmetatable({
    methods = {}, -- the result list
    system_ids = {}, -- system method name -> id
    taken = { accept = {}, response = {} }, -- names defined per group
    held = {}, -- other globals, stored into G at the end
  }, Definitions)
  for id, sysname in ipairs(SYSTEM) do
    self.methods[id] = { id, "system", sysname }
    self.system_ids[sysname] = id
  end
  return self
end

function Definitions:add_method(group, name, f)
  local taken = self.taken[group]
  local problem
  if type(name) ~= "string" then
    problem = string.format("%s method only support string", group)
  elseif type(f) ~= "function" then
    problem = string.format("%s.%s must be function", group, name)
  elseif taken[name] then
    problem = string.format("%s.%s duplicate definition", group, name)
  end
  if problem then
    error(problem)
  end
  taken[name] = true
  local id = #self.methods + 1
  self.methods[id] = { id, group, name, f }
end

-- A new global of the chunk: a system method, or a value held aside.
function Definitions:set_global(key, value)
  local id = self.system_ids[key]
  if id == nil then
    self.held[key] = value
    return
  end
  if type(value) ~= "function" then
    error(string.format("%s must be a function", key))
  end
  self.methods[id][4] = value
end

-- The write-only table the chunk sees as `accept` or `response`.
function Definitions:group_table(group)
  return setmetatable({}, {
    __newindex = function(_, name, f)
      self:add_method(group, name, f)
    end,
  })
end

-- The metatable G wears while the chunk runs.
function Definitions:global_meta()
  local visible = setmetatable({
    accept = self:group_table "accept",
    response = self:group_table "response",
  }, { __index = self.held })
  return {
    __index = visible,
    __newindex = function(_, key, value)
      self:set_global(key, value)
    end,
  }
end

---------------------------------------------------------------------------

return function(name, G, loader)
  -- G must be a plain table that does not already define these names.
  assert(getmetatable(G) == nil)
  for _, reserved in ipairs { "init", "exit", "accept", "response" } do
    assert(G[reserved] == nil)
  end

  local defs = definitions()
  local path = assert(skynet.getenv "snax", "please set snax in config file")
  local chunk, pattern = (loader or from_search_path)(path, name, G)

  setmetatable(G, defs:global_meta())
  local ok, err = xpcall(chunk, debug.traceback)
  setmetatable(G, nil)
  assert(ok, err)

  for key, value in pairs(defs.held) do
    G[key] = value
  end
  return defs.methods, pattern
end
