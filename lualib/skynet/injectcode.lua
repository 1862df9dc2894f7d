-- skynet.injectcode — evaluate Lua source in the scope of a stack frame.
--
-- Stands for the reference's lualib/skynet/injectcode.lua (used by the
-- interactive debugger). `require "skynet.injectcode"` returns
--   run(source, co, level, ext) -> true, results... | false, error
-- `co` defaults to the running coroutine and `level` to 0; for the running
-- coroutine level 0 is the function that called `run`. Inside `source` the
-- frame's locals, its function's upvalues and the entries of `ext` are
-- visible by name, `...` is the frame's varargs. Upvalues are shared (writes
-- go to the real upvalue); locals are copied in and written back afterwards.

local getinfo, getlocal, setlocal = debug.getinfo, debug.getlocal, debug.setlocal
local getupvalue, setupvalue, upvaluejoin = debug.getupvalue, debug.setupvalue, debug.upvaluejoin
local corunning = coroutine.running
local tconcat, tpack, tunpack = table.concat, table.pack, table.unpack

local function is_name(s)
  return type(s) == "string" and s:match "^[%a_][%w_]*$" ~= nil
end

-- Lua source of a chunk declaring `names` as locals and returning
-- (function(...) <source> end, function() return { [index] = local } end)
local function wrapper_source(names, local_slots, source)
  local readback = {}
  for name, index in pairs(local_slots) do
    readback[#readback + 1] = string.format("[%d]=%s", index, name)
  end
  local head = ""
  if #names > 0 then
    head = "local " .. tconcat(names, ",") .. "\n"
  end
  return head .. "return function(...)\n" .. source .. "\nend, function() return {"
    .. tconcat(readback, ",") .. "} end"
end

return function(source, co, level, ext)
  co = co or corunning()
  level = level or 0
  -- levels below are taken from this function's own body: 1 is this
  -- function, 2 its caller
  local frame = level
  if co == corunning() then
    frame = level + 2
  end

  local info = getinfo(co, frame, "f")
  local target = info and info.func
  if target == nil then
    return false, "Invalid level"
  end

  -- declaration order decides shadowing: ext < upvalues < locals, and among
  -- locals the later (inner) one wins
  local names, declared = {}, {}
  local function declare(name)
    if is_name(name) and not declared[name] then
      declared[name] = true
      names[#names + 1] = name
    end
  end

  if ext then
    for name in pairs(ext) do
      declare(name)
    end
  end

  local upvalue_slot = {}
  local i = 1
  while true do
    local name = getupvalue(target, i)
    if name == nil then
      break
    end
    if is_name(name) then
      upvalue_slot[name] = i
      declare(name)
    end
    i = i + 1
  end

  local local_slot, local_value = {}, {}
  i = 1
  while true do
    local name, value = getlocal(co, frame, i)
    if name == nil then
      break
    end
    if is_name(name) then
      local_slot[name] = i
      local_value[name] = value
      declare(name)
    end
    i = i + 1
  end

  local loader, err = load(wrapper_source(names, local_slot, source), "=(debug)")
  if not loader then
    return false, err
  end
  local func, readback = loader()

  -- bind the free names of `func`
  i = 1
  while true do
    local name = getupvalue(func, i)
    if name == nil then
      break
    end
    if local_slot[name] then
      setupvalue(func, i, local_value[name])
    elseif upvalue_slot[name] then
      upvaluejoin(func, i, target, upvalue_slot[name])
    elseif ext and ext[name] ~= nil then
      setupvalue(func, i, ext[name])
    end
    i = i + 1
  end

  local varargs = {}
  local n = 0
  while true do
    local name, value = getlocal(co, frame, -(n + 1))
    if name == nil then
      break
    end
    n = n + 1
    varargs[n] = value
  end

  local results = tpack(pcall(func, tunpack(varargs, 1, n)))
  if not results[1] then
    return false, results[2]
  end
  for index, value in pairs(readback()) do
    setlocal(co, frame, index, value)
  end
  return tunpack(results, 1, results.n)
end
