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

-- Body of the `sharetable` service (run by service_cell through
-- skynet.service: it may use nothing of this file but _ENV).
--
-- Each name has a current matrix (a loaded data set). A matrix handed out
-- to services gets a version record of the services holding it; it is
-- closed when the last of them goes away after it stopped being current
-- (or at once when it is replaced while nobody holds it). Services get the
-- matrix's ptr, which skynet.sharetable.core turns into its proxy.
local function keeper_main()
  local skynet = require "skynet"
  local core = require "skynet.sharetable.core"

  local live = {} -- name -> current matrix
  -- matrix -> { name, holders = { [addr] = true }, held = count }, for the
  -- matrices handed out
  local versions = {}
  local holdings = {} -- addr -> { [matrix] = true }

  -- `m` stopped being current: closed unless a service holds it
  local function superseded(m)
    local v = versions[m]
    if v == nil or v.held == 0 then
      versions[m] = nil
      m:close()
    end
  end

  -- The new matrix is built first, so a failed load leaves the current
  -- version in place.
  local function install(name, build, ...)
    local fresh = build(...)
    local previous = live[name]
    live[name] = fresh
    if previous then
      superseded(previous)
    end
  end

  local function from_message(msg, sz)
    return core.fromtable(skynet.unpack(msg, sz))
  end

  -- `addr` now holds `m` (once, however often it asks)
  local function hold(addr, name, m)
    local v = versions[m] or { name = name, holders = {}, held = 0 }
    versions[m] = v
    if v.holders[addr] then
      return
    end
    v.holders[addr] = true
    v.held = v.held + 1
    local mine = holdings[addr] or {}
    holdings[addr] = mine
    mine[m] = true
  end

  -- the ptr of the current version of `name`, now held by `addr`
  local function give(addr, name)
    local m = live[name]
    hold(addr, name, m)
    return m:getptr()
  end

  local handle = {}

  function handle.loadfile(_, name, ...)
    install(name, core.matrix, "@" .. name, ...)
    skynet.ret()
  end

  function handle.loadstring(_, name, text, ...)
    install(name, core.matrix, text, ...)
    skynet.ret()
  end

  -- the message holding the table is freed whatever happens
  function handle.loadtable(_, name, msg, sz)
    local ok, err = pcall(install, name, from_message, msg, sz)
    skynet.trash(msg, sz)
    if not ok then
      error(err, 0)
    end
    skynet.ret()
  end

  function handle.query(addr, name)
    if live[name] == nil then
      return skynet.ret()
    end
    skynet.retpack(give(addr, name))
  end

  function handle.queryall(addr, names)
    local ptrs = {}
    if names == nil then
      for name in pairs(live) do
        ptrs[name] = give(addr, name)
      end
    else
      for _, name in ipairs(names) do
        ptrs[name] = live[name] and give(addr, name) or nil
      end
    end
    skynet.retpack(ptrs)
  end

  -- the library in `addr` was collected: whatever it held is let go (a
  -- send, no answer)
  function handle.close(addr)
    local mine = holdings[addr]
    holdings[addr] = nil
    for m in pairs(mine or {}) do
      local v = versions[m]
      if v and v.holders[addr] then
        v.holders[addr] = nil
        v.held = v.held - 1
        if v.held == 0 and live[v.name] ~= m then
          skynet.error(string.format("Delete a version (%s) of %s", m:getptr(), v.name))
          versions[m] = nil
          m:close()
        end
      end
    end
  end

  -- debug INFO: name -> { current = ptr, size = bytes, history = one line
  -- "ptr [size]: (holders)" per version handed out, joined by "\n\t" }
  skynet.info_func(function()
    local report = {}
    for name, m in pairs(live) do
      report[name] = { current = m:getptr(), size = m:size() }
    end
    local lines = {}
    for m, v in pairs(versions) do
      local who = {}
      for addr in pairs(v.holders) do
        who[#who + 1] = skynet.address(addr)
      end
      table.sort(who)
      local list = lines[v.name] or {}
      lines[v.name] = list
      list[#list + 1] = string.format("%s [%d]: (%s)", m:getptr(), m:size(), table.concat(who, ","))
    end
    for name, list in pairs(lines) do
      report[name].history = table.concat(list, "\n\t")
    end
    return report
  end)

  skynet.dispatch("lua", function(_, addr, what, ...)
    handle[what](addr, ...)
  end)
end

-- The module table. Its `address` field is made on first use (which starts
-- the service); when the module is collected the service is told so.
local sharetable = setmetatable({}, {
  __index = function(self, field)
    if field ~= "address" then
      return nil
    end
    local addr = service.new("sharetable", keeper_main)
    rawset(self, "address", addr)
    return addr
  end,
  __gc = function(self)
    local addr = rawget(self, "address")
    if addr then
      skynet.send(addr, "lua", "close")
    end
  end,
})

local function ask(...)
  return skynet.call(sharetable.address, "lua", ...)
end

function sharetable.loadfile(filename, ...)
  ask("loadfile", filename, ...)
end

function sharetable.loadstring(filename, source, ...)
  ask("loadstring", filename, source, ...)
end

function sharetable.loadtable(filename, tbl)
  assert(type(tbl) == "table")
  ask("loadtable", filename, skynet.pack(tbl))
end

-- filename -> { [root proxy] = true }: every version handed out here,
-- which update() moves on
local RECORD = {}

local function take(filename, ptr)
  local root = core.clone(ptr)
  local roots = RECORD[filename]
  if roots == nil then
    roots = {}
    RECORD[filename] = roots
  end
  roots[root] = true
  return root
end

function sharetable.query(filename)
  local ptr = ask("query", filename)
  if ptr then
    return take(filename, ptr)
  end
end

function sharetable.queryall(filenames)
  local found = {}
  for filename, ptr in pairs(ask("queryall", filenames)) do
    found[filename] = take(filename, ptr)
  end
  return found
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
