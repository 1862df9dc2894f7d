-- service_provider — keeps the services made by skynet.service.new.
--
-- Stands for the reference's service/service_provider.lua (a unique service).
-- Each name gets one `service_cell`, initialised with the bytecode of the
-- user's main function. Per name: booting (askers queue up), booted
-- (address), or failed (the error is raised to every later asker).
-- Commands: test, launch, query, close.

local skynet = require "skynet"

local provider = {}
local records = setmetatable({}, {
  __index = function(t, name)
    local r = { queue = {} }
    t[name] = r
    return r
  end,
})

-- answer later, when the name is booted (or failed)
local function enqueue(r)
  r.queue[#r.queue + 1] = skynet.response()
end

function provider.query(name)
  local r = records[name]
  if r.queue then
    enqueue(r)
  elseif r.address then
    skynet.ret(skynet.pack(r.address))
  else
    error(r.error)
  end
end

local function boot(addr, name, code, ...)
  skynet.call(addr, "lua", "init", code, ...)
  local args = table.pack(...)
  for i = 1, args.n do
    args[i] = tostring(args[i])
  end
  local r = records[name]
  if args.n > 0 then
    r.init = table.concat(args, ",", 1, args.n)
  end
  r.time = skynet.time()
end

function provider.launch(name, code, ...)
  local r = records[name]
  if r.address then
    return skynet.ret(skynet.pack(r.address))
  end
  if r.booting then
    return enqueue(r)
  end
  r.booting = true
  local ok, addr = pcall(skynet.newservice, "service_cell", name)
  local err
  if ok then
    ok, err = xpcall(boot, debug.traceback, addr, name, code, ...)
  else
    err, addr = addr, nil
  end
  r.booting = nil
  local queue = r.queue
  r.queue = nil
  if ok then
    r.address = addr
    for _, respond in ipairs(queue) do
      respond(true, addr)
    end
    skynet.ret(skynet.pack(addr))
  else
    if addr then
      skynet.send(addr, "debug", "EXIT")
    end
    r.error = err
    for _, respond in ipairs(queue) do
      respond(false)
    end
    error(err)
  end
end

function provider.test(name)
  local r = records[name]
  if r.booting then
    skynet.ret(skynet.pack(nil, true))
  elseif r.address then
    skynet.ret(skynet.pack(r.address))
  elseif r.error then
    error(r.error)
  else
    skynet.ret()
  end
end

function provider.close(name)
  local r = rawget(records, name)
  if not r or r.booting then
    return skynet.ret(skynet.pack(nil))
  end
  records[name] = nil
  skynet.ret(skynet.pack(r.address))
end

skynet.start(function()
  skynet.dispatch("lua", function(_, _, cmd, ...)
    provider[cmd](...)
  end)
  skynet.info_func(function()
    local info = {}
    for name, r in pairs(records) do
      local status
      if r.booting then
        status = "booting"
      elseif r.queue then
        status = "waiting(" .. #r.queue .. ")"
      end
      info[skynet.address(r.address)] = {
        init = r.init,
        name = name,
        time = r.time and os.date("%Y %b %d %T %z", math.floor(r.time)),
        status = status,
      }
    end
    return info
  end)
end)
