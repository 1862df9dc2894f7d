-- skynet.debug — the `debug` protocol every Lua service answers.
--
-- Stands for the reference's lualib/skynet/debug.lua. skynet.lua calls
-- `init(skynet, export)` once while it loads; that registers protocol "debug"
-- (id 9) whose dispatch runs the commands below. `export` carries internals
-- of skynet.lua (dispatch, suspend, resume) for inject / remote debugging.
-- `reg_debugcmd(name, fn)` adds commands; built-in names take precedence.

local extra_commands = {}

local function build_commands(skynet, export, info)
  local cmd = {}

  function cmd.MEM()
    skynet.ret(skynet.pack(collectgarbage "count"))
  end

  local collecting = false
  function cmd.GC()
    -- meant to be sent: no reply. Overlapping requests are ignored.
    if collecting then
      return
    end
    collecting = true
    local before, t0 = collectgarbage "count", skynet.now()
    collectgarbage "collect"
    skynet.yield() -- let queued GC requests pass while we are marked busy
    local after, t1 = collectgarbage "count", skynet.now()
    skynet.error(string.format("GC %.2f Kb -> %.2f Kb, cost %.2f sec", before, after, (t1 - t0) / 100))
    collecting = false
  end

  function cmd.STAT()
    skynet.ret(skynet.pack {
      task = skynet.task(),
      mqlen = skynet.stat "mqlen",
      cpu = skynet.stat "cpu",
      message = skynet.stat "message",
    })
  end

  function cmd.KILLTASK(name)
    local co = skynet.killthread(name)
    if co then
      skynet.error(string.format("Kill %s", co))
      skynet.ret()
    else
      skynet.error(string.format("Kill %s : Not found", name))
      skynet.ret(skynet.pack "Not found")
    end
  end

  function cmd.TASK(session)
    if session then
      skynet.ret(skynet.pack(skynet.task(session)))
    else
      local all = {}
      skynet.task(all)
      skynet.ret(skynet.pack(all))
    end
  end

  function cmd.UNIQTASK()
    skynet.ret(skynet.pack(skynet.uniqtask()))
  end

  function cmd.INFO(...)
    local f = info.func
    if f then
      skynet.ret(skynet.pack(f(...)))
    else
      skynet.ret(skynet.pack(nil))
    end
  end

  function cmd.EXIT()
    skynet.exit()
  end

  function cmd.RUN(source, filename, ...)
    local inject = require "skynet.inject"
    local args = table.pack(...)
    local ok, lines = inject(skynet, source, filename, args, export.dispatch, skynet.register_protocol)
    collectgarbage "collect"
    skynet.ret(skynet.pack(ok, table.concat(lines, "\n")))
  end

  function cmd.TERM(service)
    -- a TERM request is never answered
    skynet.ignoreret()
    skynet.term(service)
  end

  function cmd.REMOTEDEBUG(...)
    local remotedebug = require "skynet.remotedebug"
    remotedebug.start(export, ...)
  end

  function cmd.SUPPORT(name)
    return skynet.ret(skynet.pack(skynet.dispatch(name) ~= nil))
  end

  function cmd.PING()
    return skynet.ret()
  end

  function cmd.LINK()
    -- take the reply and never give it: the caller fails when we exit
    skynet.response()
  end

  function cmd.TRACELOG(name, flag)
    if type(name) ~= "string" then
      name, flag = "lua", name
    end
    skynet.error(string.format("Turn trace log %s for %s", flag, name))
    skynet.traceproto(name, flag)
    skynet.ret()
  end

  return cmd
end

local function init(skynet, export)
  local info = {}
  local commands -- built on first use

  function skynet.info_func(f)
    info.func = f
  end

  local function debug_dispatch(_, _, name, ...)
    commands = commands or build_commands(skynet, export, info)
    local f = commands[name] or extra_commands[name]
    if not f then
      error(tostring(name))
    end
    return f(...)
  end

  skynet.register_protocol {
    name = "debug",
    id = assert(skynet.PTYPE_DEBUG),
    pack = assert(skynet.pack),
    unpack = assert(skynet.unpack),
    dispatch = debug_dispatch,
  }
end

local function reg_debugcmd(name, fn)
  extra_commands[name] = fn
end

return {
  init = init,
  reg_debugcmd = reg_debugcmd,
}
