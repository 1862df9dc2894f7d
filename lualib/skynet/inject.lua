-- skynet.inject — run a piece of Lua source inside a live service.
--
-- Stands for the reference's lualib/skynet/inject.lua; used by the debug
-- command RUN (console `inject`). The module is a function
--   inject(skynet, source, filename, args, root_functions...)
--     -> true, lines | false, lines (the last line is the error)
-- The chunk (named "@filename", or "=(load)" without a file name) runs with
-- `args` as its varargs, in an environment that falls back to the service's
-- globals and adds:
--   print  appends a line to the result (values tostring'd, TAB separated,
--          up to the first nil) instead of writing to stdout;
--   _U     by name, the tables found among the upvalues of the root
--          functions, descending through upvalues that are functions;
--   _P     per protocol name, the same for its dispatch function (functions
--          already walked for _U are not walked again).

-- Walks the upvalues of `root` depth first: every table found is stored in
-- `into` under its upvalue name (a later find of the same name replaces an
-- earlier one); every function not in `seen` yet is marked and walked
-- before the walk goes on with the next upvalue.
local function gather_tables(into, root, seen)
  local stack = { { fn = root, index = 1 } }
  while #stack > 0 do
    local frame = stack[#stack]
    local name, value = debug.getupvalue(frame.fn, frame.index)
    if name == nil then
      stack[#stack] = nil
    else
      frame.index = frame.index + 1
      if type(value) == "table" then
        into[name] = value
      elseif type(value) == "function" and not seen[value] then
        seen[value] = true
        stack[#stack + 1] = { fn = value, index = 1 }
      end
    end
  end
end

-- A print replacement and the lines it collects.
local function line_collector()
  local lines = {}
  local function print(...)
    local texts = {}
    for i = 1, select("#", ...) do
      local v = (select(i, ...))
      if v == nil then
        break
      end
      texts[i] = tostring(v)
    end
    lines[#lines + 1] = table.concat(texts, "\t")
  end
  return print, lines
end

-- _U and _P for the given root functions.
local function reachable_tables(roots)
  local seen = {}
  local all = {}
  for _, fn in ipairs(roots) do
    gather_tables(all, fn, seen)
  end
  local per_protocol = {}
  for _, class in pairs(all.proto or {}) do
    local pname, dispatch = class.name, class.dispatch
    if pname and dispatch and per_protocol[pname] == nil then
      per_protocol[pname] = {}
      gather_tables(per_protocol[pname], dispatch, seen)
    end
  end
  return all, per_protocol
end

return function(skynet, source, filename, args, ...)
  local print, lines = line_collector()
  local u, p = reachable_tables { ... }
  local env = setmetatable({ print = print, _U = u, _P = p }, { __index = _ENV })

  local chunkname = "=(load)"
  if filename then
    chunkname = "@" .. filename
  end
  local chunk, compile_error = load(source, chunkname, "bt", env)
  if chunk == nil then
    return false, { compile_error }
  end

  local ran, failure = skynet.pcall(chunk, table.unpack(args, 1, args.n))
  if ran then
    return true, lines
  end
  table.insert(lines, tostring(failure))
  return false, lines
end
