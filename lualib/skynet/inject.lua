-- skynet.inject — run a piece of Lua source inside a live service.
--
-- Stands for the reference's lualib/skynet/inject.lua; used by the debug
-- command RUN (console `inject`). The chunk sees the service's globals plus:
--   print  collects output lines instead of writing to stdout
--          (values tostring'd, TAB separated, stopping at the first nil);
--   _U     the tables found among the upvalues of the given functions,
--          following upvalues that are functions (skynet internals, `proto`);
--   _P     per protocol name, the upvalue tables of its dispatch function.
-- Returns true, lines — or false, lines followed by the error message.

local function collect_upvalue_tables(into, func, seen)
  local i = 1
  while true do
    local name, value = debug.getupvalue(func, i)
    if name == nil then
      return
    end
    local kind = type(value)
    if kind == "table" then
      into[name] = value
    elseif kind == "function" and not seen[value] then
      seen[value] = true
      collect_upvalue_tables(into, value, seen)
    end
    i = i + 1
  end
end

return function(skynet, source, filename, args, ...)
  local chunkname = filename and ("@" .. filename) or "=(load)"
  local lines = {}

  local function print(...)
    local parts = {}
    local values = { ... }
    local i = 1
    while values[i] ~= nil do
      parts[i] = tostring(values[i])
      i = i + 1
    end
    lines[#lines + 1] = table.concat(parts, "\t")
  end

  local seen = {}
  local upvalues = {}
  for _, func in ipairs { ... } do
    collect_upvalue_tables(upvalues, func, seen)
  end

  local by_proto = {}
  local protocols = upvalues.proto
  if protocols then
    for _, class in pairs(protocols) do
      local name, dispatch = class.name, class.dispatch
      if name and dispatch and not by_proto[name] then
        local t = {}
        by_proto[name] = t
        collect_upvalue_tables(t, dispatch, seen)
      end
    end
  end

  local env = setmetatable({ print = print, _U = upvalues, _P = by_proto }, { __index = _ENV })
  local chunk, err = load(source, chunkname, "bt", env)
  if not chunk then
    return false, { err }
  end
  local ok, failure = skynet.pcall(chunk, table.unpack(args, 1, args.n))
  if not ok then
    lines[#lines + 1] = tostring(failure)
    return false, lines
  end
  return true, lines
end
