-- loader — first Lua code of every snlua service.
--
-- Stands for the reference's lualib/loader.lua. snlua runs this file (config
-- `lualoader`) with the service's argument string, after setting the globals
-- LUA_PATH, LUA_CPATH, LUA_SERVICE (the `luaservice` templates) and
-- LUA_PRELOAD. It finds the service script, sets SERVICE_NAME, SERVICE_PATH
-- and package.path/cpath, runs the `preload` file, installs skynet.require as
-- the global `require`, then runs the script with the remaining words as
-- arguments (all strings).

local words = {}
for w in string.gmatch(..., "%S+") do
  words[#words + 1] = w
end

local name = words[1]
if name == nil then
  error "no service name given to snlua"
end
SERVICE_NAME = name

-- try every `;`-separated template, `?` standing for the service name
local script, template
local failures = {}
for candidate in string.gmatch(LUA_SERVICE, "[^;]+") do
  local path = candidate:gsub("%?", function() return name end)
  local chunk, why = loadfile(path)
  if chunk then
    script, template = chunk, candidate
    break
  end
  failures[#failures + 1] = why
end

if not script then
  error(table.concat(failures, "\n"))
end

package.path, LUA_PATH = LUA_PATH, nil
package.cpath, LUA_CPATH = LUA_CPATH, nil
LUA_SERVICE = nil

-- A template whose last component has no `?` (e.g. ./service/?/main.lua)
-- names a directory per service: it becomes SERVICE_PATH and is searched
-- for the service's own modules first.
local own_dir = template:match "^(.*/)[^/?]+$"
if own_dir then
  own_dir = own_dir:gsub("%?", function() return name end)
  SERVICE_PATH = own_dir
  package.path = own_dir .. "?.lua;" .. package.path
else
  SERVICE_PATH = template:match "^(.*/).+$"
end

if LUA_PRELOAD then
  local preload = assert(loadfile(LUA_PRELOAD))
  LUA_PRELOAD = nil
  preload(table.unpack(words))
end

_G.require = (require "skynet.require").require

script(select(2, table.unpack(words)))
