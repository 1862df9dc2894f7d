-- skynet.sharetable — data sets loaded once and shared by every service.
--
-- Stands for the reference's lualib/skynet/sharetable.lua. A service made
-- with skynet.service ("sharetable") loads each data set into a native
-- store (skynet.sharetable.core); services read it through proxy tables,
-- without copying it (see crates/skynet-lua/src/sharetable.rs for how this
-- stands in for the reference's shared Lua tables).
--   loadfile(filename, ...)            load (or reload) a Lua file
--   loadstring(filename, source, ...)  the same from source text
--   loadtable(filename, tbl)           the same from a table
--   query(filename) -> table | nil     the current version
--   queryall([filenames]) -> { [filename] = table }
--   update(filename, ...)              after a reload: every reference to an
--                                      older version in this service now
--                                      reads the current version
--   address                            the sharetable service (made lazily)
-- Extra arguments of loadfile/loadstring reach the chunk as `...`; they may
-- be nil, booleans, numbers, light userdata or light C functions.

local skynet = require "skynet"
local service = require "skynet.service"
local core = require "skynet.sharetable.core"

-- The sharetable service, run by service_cell (no upvalue but _ENV).
local function sharetable_service()
  local skynet = require "skynet"
  local core = require "skynet.sharetable.core"

  local versions = {} -- ptr -> { filename, count, matrix, refs = { [source] = true } }
  local current = {} -- filename -> matrix of its current version
  local clients = {} -- source -> { ptr, ... } it queried

  local command = {}

  -- A replaced version is closed at once if no service holds it.
  local function retire(m)
    if m == nil then
      return
    end
    local ptr = m:getptr()
    local v = versions[ptr]
    if v == nil or v.count == 0 then
      versions[ptr] = nil
      m:close()
    end
  end

  function command.loadfile(_, filename, ...)
    retire(current[filename])
    current[filename] = core.matrix("@" .. filename, ...)
    skynet.ret()
  end

  function command.loadstring(_, filename, source, ...)
    retire(current[filename])
    current[filename] = core.matrix(source, ...)
    skynet.ret()
  end

  function command.loadtable(_, filename, msg, sz)
    local ok, err = pcall(function()
      retire(current[filename])
      current[filename] = core.fromtable(skynet.unpack(msg, sz))
    end)
    skynet.trash(msg, sz)
    assert(ok, err)
    skynet.ret()
  end

  -- Notes that `source` holds the current version of `filename`.
  local function hand_out(source, filename)
    local m = current[filename]
    local ptr = m:getptr()
    local v = versions[ptr]
    if v == nil then
      v = { filename = filename, count = 0, matrix = m, refs = {} }
      versions[ptr] = v
    end
    if not v.refs[source] then
      v.refs[source] = true
      v.count = v.count + 1
      local list = clients[source]
      if list then
        list[#list + 1] = ptr
      else
        clients[source] = { ptr }
      end
    end
    return ptr
  end

  function command.query(source, filename)
    if current[filename] == nil then
      skynet.ret()
      return
    end
    skynet.ret(skynet.pack(hand_out(source, filename)))
  end

  function command.queryall(source, filenames)
    local result = {}
    if filenames then
      for _, filename in ipairs(filenames) do
        if current[filename] then
          result[filename] = hand_out(source, filename)
        end
      end
    else
      for filename in pairs(current) do
        result[filename] = hand_out(source, filename)
      end
    end
    skynet.ret(skynet.pack(result))
  end

  -- `source` is gone (its library was collected): release what it held;
  -- a version that is no longer current and no longer held is closed.
  function command.close(source)
    local list = clients[source]
    if not list then
      return
    end
    clients[source] = nil
    for _, ptr in ipairs(list) do
      local v = versions[ptr]
      if v and v.refs[source] then
        v.refs[source] = nil
        v.count = v.count - 1
        if v.count == 0 and current[v.filename] ~= v.matrix then
          skynet.error(string.format("Delete a version (%s) of %s", ptr, v.filename))
          v.matrix:close()
          versions[ptr] = nil
        end
      end
    end
  end

  skynet.dispatch("lua", function(_, source, cmd, ...)
    command[cmd](source, ...)
  end)

  skynet.info_func(function()
    local info = {}
    for filename, m in pairs(current) do
      info[filename] = { current = m:getptr(), size = m:size() }
    end
    for ptr, v in pairs(versions) do
      local entry = info[v.filename]
      local holders = {}
      for addr in pairs(v.refs) do
        holders[#holders + 1] = skynet.address(addr)
      end
      table.sort(holders)
      entry.history = entry.history or {}
      table.insert(entry.history, string.format("%s [%d]: (%s)", ptr, v.matrix:size(),
        table.concat(holders, ",")))
    end
    for _, entry in pairs(info) do
      if entry.history then
        entry.history = table.concat(entry.history, "\n\t")
      end
    end
    return info
  end)
end

local sharetable = setmetatable({}, {
  __index = function(t, key)
    if key == "address" then
      local addr = service.new("sharetable", sharetable_service)
      t.address = addr
      return addr
    end
  end,
  -- the service is told when this service's library goes away
  __gc = function(t)
    local addr = rawget(t, "address")
    if addr then
      skynet.send(addr, "lua", "close")
    end
  end,
})

function sharetable.loadfile(filename, ...)
  skynet.call(sharetable.address, "lua", "loadfile", filename, ...)
end

function sharetable.loadstring(filename, source, ...)
  skynet.call(sharetable.address, "lua", "loadstring", filename, source, ...)
end

function sharetable.loadtable(filename, tbl)
  assert(type(tbl) == "table")
  skynet.call(sharetable.address, "lua", "loadtable", filename, skynet.pack(tbl))
end

-- filename -> { [root proxy] = true } of every version handed out here
local RECORD = {}

local function remember(filename, t)
  local roots = RECORD[filename]
  if not roots then
    roots = {}
    RECORD[filename] = roots
  end
  roots[t] = true
end

function sharetable.query(filename)
  local ptr = skynet.call(sharetable.address, "lua", "query", filename)
  if ptr then
    local t = core.clone(ptr)
    remember(filename, t)
    return t
  end
end

function sharetable.queryall(filenames)
  local result = {}
  local ptrs = skynet.call(sharetable.address, "lua", "queryall", filenames)
  for filename, ptr in pairs(ptrs) do
    local t = core.clone(ptr)
    remember(filename, t)
    result[filename] = t
  end
  return result
end

---------------------------------------------------------------------------
-- Replacing references the in-place switch could not handle (a table whose
-- path is gone from the new version, a value that is no longer a table, a
-- second old version): walk everything reachable in this Lua state and
-- replace each old proxy by its replacement (nil for NILOBJ), as the
-- reference does for every old table.

local NILOBJ = {}

local is_sharedtable, stackvalues = core.is_sharedtable, core.stackvalues
local getmetatable, setmetatable = debug.getmetatable, debug.setmetatable
local getupvalue, setupvalue = debug.getupvalue, debug.setupvalue
local getuservalue, setuservalue = debug.getuservalue, debug.setuservalue
local getlocal, setlocal, getinfo = debug.getlocal, debug.setlocal, debug.getinfo

local function resolve(replace)
  local seen = {}
  local todo = {}

  -- the replacement of v, and whether v has one
  local function target(v)
    local r = replace[v]
    if r == nil then
      return v, false
    elseif r == NILOBJ then
      return nil, true
    end
    return r, true
  end

  local function push(v)
    local tv = type(v)
    if (tv == "table" or tv == "function" or tv == "userdata" or tv == "thread")
      and not seen[v] and not is_sharedtable(v) then
      seen[v] = true
      todo[#todo + 1] = v
    end
  end

  local function visit_metatable(v)
    local mt = getmetatable(v)
    if mt ~= nil then
      local nv, hit = target(mt)
      if hit then
        setmetatable(v, nv)
      else
        push(mt)
      end
    end
  end

  local visit = {}

  function visit.table(t)
    visit_metatable(t)
    local moved
    for k, v in next, t do
      local nv, hit = target(v)
      if hit then
        rawset(t, k, nv)
      else
        push(v)
      end
      local _, khit = target(k)
      if khit then
        moved = moved or {}
        moved[#moved + 1] = k
      else
        push(k)
      end
    end
    if moved then
      for _, k in ipairs(moved) do
        local v = rawget(t, k)
        rawset(t, k, nil)
        local nk = target(k)
        if nk ~= nil then
          rawset(t, nk, v)
        end
      end
    end
  end

  visit["function"] = function(f)
    local i = 1
    while true do
      local name, v = getupvalue(f, i)
      if name == nil then
        break
      end
      local nv, hit = target(v)
      if hit then
        setupvalue(f, i, nv)
      else
        push(v)
      end
      i = i + 1
    end
  end

  function visit.userdata(u)
    visit_metatable(u)
    local n = 1
    while true do
      local v, ok = getuservalue(u, n)
      if not ok then
        break
      end
      local nv, hit = target(v)
      if hit then
        setuservalue(u, nv, n)
      else
        push(v)
      end
      n = n + 1
    end
  end

  function visit.thread(co)
    local values = {}
    for i = 1, stackvalues(co, values) do
      push(values[i])
    end
    local level = 1
    while true do
      local info = getinfo(co, level, "f")
      if not info then
        break
      end
      push(info.func)
      local i = 1
      while true do
        local name, v = getlocal(co, level, i)
        if name == nil then
          break
        end
        local nv, hit = target(v)
        if hit then
          setlocal(co, level, i, nv)
        else
          push(v)
        end
        i = i + 1
      end
      level = level + 1
    end
  end

  -- our own bookkeeping is left alone
  seen[seen] = true
  seen[todo] = true
  seen[replace] = true
  seen[RECORD] = true
  local views = debug.getregistry()["skynet.sharetable.views"]
  if views then
    seen[views] = true
  end

  -- the metatables of the basic types
  for _, v in ipairs { false, "", 0, print, coroutine.running(), debug.upvalueid(target, 1) } do
    visit_metatable(v)
  end
  visit_metatable(nil)
  push(coroutine.running())
  push(debug.getregistry())
  while #todo > 0 do
    local v = table.remove(todo)
    visit[type(v)](v)
  end
end

function sharetable.update(...)
  local replace = {}
  local pending = false
  for _, filename in ipairs { ... } do
    local roots = RECORD[filename]
    if roots then
      local ptr = skynet.call(sharetable.address, "lua", "query", filename)
      if ptr then
        local old = {}
        for t in pairs(roots) do
          old[#old + 1] = t
        end
        for _, t in ipairs(old) do
          local root, leftover = core.migrate(t, ptr, NILOBJ)
          if t ~= root then
            roots[t] = nil
          end
          roots[root] = true
          if leftover then
            pending = true
            for k, v in pairs(leftover) do
              replace[k] = v
            end
          end
        end
      end
    end
  end
  if pending then
    resolve(replace)
  end
end

return sharetable
