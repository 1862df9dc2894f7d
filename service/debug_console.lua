-- debug_console — a text console over TCP for inspecting a running node.
--
-- Stands for the reference's service/debug_console.lua; behaviour per
-- shared/spec/debug-console.md. Started as
-- `skynet.newservice("debug_console", [ip,] port)` (ip defaults to
-- 127.0.0.1). Each connection gets "Welcome to skynet console", then one
-- command per line; a command's output ends with "<CMD OK>" or, when it
-- raised, the error and "<CMD Error>". A connection whose first line is an
-- HTTP GET/POST request runs the URL path (or the POST body) as one command
-- and is closed afterwards.
--
-- Native modules used only by some commands are loaded when first needed:
-- skynet.memory (cmem, jmem, dumpheap, profactive), skynet.snax (snax) and
-- the debug_agent service (debug).

local skynet = require "skynet"
local codecache = require "skynet.codecache"
local core = require "skynet.core"
local socket = require "skynet.socket"
local httpd = require "http.httpd"
local sockethelper = require "http.sockethelper"

local args = table.pack(...)
assert(args.n <= 2)
local listen_ip = args.n == 2 and args[1] or "127.0.0.1"
local listen_port = tonumber(args[args.n])

-- default bound (ticks) for commands that poll every service
local POLL_TIMEOUT = 300

-- name -> function(words after the command...)
local COMMAND = {}
-- name -> function(cmd) where cmd = { whole line, words..., fd = socket }
local COMMANDX = {}

---------------------------------------------------------------------------
-- Output

local function by_text(a, b)
  return tostring(a) < tostring(b)
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    keys[#keys + 1] = k
  end
  table.sort(keys, by_text)
  return keys
end

-- a nested table on one line: k:v pairs joined by TAB
local function inline(t)
  local fields = {}
  for i, k in ipairs(sorted_keys(t)) do
    fields[i] = string.format("%s:%s", k, tostring(t[k]))
  end
  return table.concat(fields, "\t")
end

local function print_table(print, t)
  for _, k in ipairs(sorted_keys(t)) do
    local v = t[k]
    if type(v) == "table" then
      print(k, inline(v))
    else
      print(k, tostring(v))
    end
  end
end

local function run_command(line, print, fd)
  local words = {}
  for w in line:gmatch "%S+" do
    words[#words + 1] = w
  end
  local name = words[1]
  local ok, result
  local f = COMMAND[name]
  if f then
    ok, result = pcall(f, table.unpack(words, 2))
  else
    f = COMMANDX[name]
    if f then
      words[1] = line
      words.fd = fd
      ok, result = pcall(f, words)
    else
      print "Invalid command, type help for command list"
    end
  end
  if ok then
    if result then
      if type(result) == "string" then
        print(result)
      else
        print_table(print, result)
      end
    end
    print "<CMD OK>"
  else
    print(result)
    print "<CMD Error>"
  end
end

---------------------------------------------------------------------------
-- Connections

local function serve(fd, print, peer)
  print "Welcome to skynet console"
  skynet.error(peer, "connected")
  local ok, err = pcall(function()
    while true do
      local line = socket.readline(fd, "\n")
      if not line then
        break
      end
      if line:sub(1, 4) == "GET " then
        -- the URL path is the command, '/' separating the words
        local _, url = httpd.read_request(sockethelper.readfunc(fd, line .. "\n"), 8192)
        local command = url:sub(2):gsub("/", " ")
        run_command(command, print, fd)
        break
      elseif line:sub(1, 5) == "POST " then
        -- the body is the command
        local _, _, _, _, body = httpd.read_request(sockethelper.readfunc(fd, line .. "\n"), 8192)
        run_command(body, print, fd)
        break
      end
      if line ~= "" then
        run_command(line, print, fd)
      end
    end
  end)
  if not ok then
    skynet.error(fd, err)
  end
  skynet.error(peer, "disconnect")
  socket.close(fd)
end

skynet.start(function()
  local listen_fd, ip, port = socket.listen(listen_ip, listen_port)
  skynet.error("Start debug console at " .. ip .. ":" .. port)
  socket.start(listen_fd, function(fd, peer)
    -- values up to the first nil, TAB separated (so print(nil) is an
    -- empty line)
    local function print(...)
      local texts = {}
      for i, v in ipairs { ... } do
        texts[i] = tostring(v)
      end
      socket.write(fd, table.concat(texts, "\t") .. "\n")
    end
    socket.start(fd)
    skynet.fork(serve, fd, print, peer)
  end)
end)

---------------------------------------------------------------------------
-- Helpers for commands

-- ":hex" as is, ".name" looked up, plain hex = a handle of this node
local function address_of(text)
  local first = text:sub(1, 1)
  if first == "." then
    local handle = skynet.localname(text)
    if not handle then
      error "Not a valid name"
    end
    return handle
  end
  if first == ":" then
    return text
  end
  local id = tonumber("0x" .. text)
  if not id then
    error "Need an address"
  end
  return id | (skynet.harbor(skynet.self()) << 24)
end

-- the optional ticks argument of stat/mem/gc (<= 0: no bound)
local function poll_ticks(text)
  if text == nil then
    return POLL_TIMEOUT
  end
  local ticks = tonumber(text)
  if ticks <= 0 then
    return nil
  end
  return ticks
end

local function on_off(text)
  return text and (text == "true" or text == "on")
end

local function memory()
  return require "skynet.memory"
end

---------------------------------------------------------------------------
-- Commands

function COMMAND.help()
  return {
    help = "This help message",
    list = "List all the service",
    stat = "Dump all stats",
    info = "info address : get service infomation",
    exit = "exit address : kill a lua service",
    kill = "kill address : kill service",
    mem = "mem : show memory status",
    gc = "gc : force every lua service do garbage collect",
    start = "lanuch a new lua service",
    snax = "lanuch a new snax service",
    clearcache = "clear lua code cache",
    service = "List unique service",
    task = "task address : show service task detail",
    uniqtask = "task address : show service unique task detail",
    inject = "inject address luascript.lua",
    logon = "logon address",
    logoff = "logoff address",
    log = "launch a new lua service with log",
    debug = "debug address : debug a lua service",
    signal = "signal address sig",
    cmem = "Show C memory info",
    jmem = "Show jemalloc mem stats",
    ping = "ping address",
    call = "call address ...",
    trace = "trace address [proto] [on|off]",
    netstat = "netstat : show netstat",
    profactive = "profactive [on|off] : active/deactive jemalloc heap profilling",
    dumpheap = "dumpheap : dump heap profilling",
    killtask = "killtask address threadname : threadname listed by task",
    dbgcmd = "run address debug command",
    getenv = "getenv name : skynet.getenv(name)",
    setenv = "setenv name value: skynet.setenv(name,value)",
  }
end

function COMMAND.clearcache()
  codecache.clear()
end

function COMMAND.start(name, ...)
  local ok, handle = pcall(skynet.newservice, name, ...)
  if not ok then
    return "Failed"
  end
  if not handle then
    return "Exit"
  end
  return { [skynet.address(handle)] = name }
end

function COMMAND.log(name, ...)
  local ok, handle = pcall(skynet.call, ".launcher", "lua", "LOGLAUNCH", "snlua", name, ...)
  if ok and handle then
    return { [skynet.address(handle)] = name }
  end
  return "Failed"
end

function COMMAND.snax(name, ...)
  local ok, obj = pcall(function(...)
    return require("skynet.snax").newservice(...)
  end, name, ...)
  if not ok then
    return "Failed"
  end
  return { [skynet.address(obj.handle)] = name }
end

function COMMAND.service()
  return skynet.call("SERVICE", "lua", "LIST")
end

function COMMAND.list()
  return skynet.call(".launcher", "lua", "LIST")
end

function COMMAND.stat(ticks)
  return skynet.call(".launcher", "lua", "STAT", poll_ticks(ticks))
end

function COMMAND.mem(ticks)
  return skynet.call(".launcher", "lua", "MEM", poll_ticks(ticks))
end

function COMMAND.gc(ticks)
  return skynet.call(".launcher", "lua", "GC", poll_ticks(ticks))
end

function COMMAND.kill(address)
  return skynet.call(".launcher", "lua", "KILL", address_of(address))
end

function COMMAND.exit(address)
  skynet.send(address_of(address), "debug", "EXIT")
end

function COMMAND.inject(address, filename, ...)
  address = address_of(address)
  local f = io.open(filename, "rb")
  if not f then
    return "Can't open " .. filename
  end
  local source = f:read "a"
  f:close()
  local ok, output = skynet.call(address, "debug", "RUN", source, filename, ...)
  if ok == false then
    error(output)
  end
  return output
end

function COMMAND.dbgcmd(address, cmd, ...)
  return skynet.call(address_of(address), "debug", cmd, ...)
end

function COMMAND.task(address)
  return COMMAND.dbgcmd(address, "TASK")
end

function COMMAND.uniqtask(address)
  return COMMAND.dbgcmd(address, "UNIQTASK")
end

function COMMAND.killtask(address, threadname)
  return COMMAND.dbgcmd(address, "KILLTASK", threadname)
end

function COMMAND.info(address, ...)
  return COMMAND.dbgcmd(address, "INFO", ...)
end

function COMMAND.ping(address)
  address = address_of(address)
  local before = skynet.now()
  skynet.call(address, "debug", "PING")
  return tostring(skynet.now() - before)
end

function COMMAND.trace(address, proto, flag)
  address = address_of(address)
  if flag == nil then
    if proto == "on" or proto == "off" then
      proto = on_off(proto)
    end
  else
    flag = on_off(flag)
  end
  skynet.call(address, "debug", "TRACELOG", proto, flag)
end

function COMMAND.logon(address)
  core.command("LOGON", skynet.address(address_of(address)))
end

function COMMAND.logoff(address)
  core.command("LOGOFF", skynet.address(address_of(address)))
end

function COMMAND.signal(address, sig)
  address = skynet.address(address_of(address))
  if sig then
    core.command("SIGNAL", string.format("%s %d", address, sig))
  else
    core.command("SIGNAL", address)
  end
end

function COMMAND.getenv(name)
  return { [name] = tostring(skynet.getenv(name)) }
end

function COMMAND.setenv(name, value)
  return skynet.setenv(name, value)
end

function COMMAND.cmem()
  local mem = memory()
  local result = {}
  for handle, bytes in pairs(mem.info()) do
    result[skynet.address(handle)] = bytes
  end
  result.total = mem.total()
  result.block = mem.block()
  return result
end

function COMMAND.jmem()
  local result = {}
  for key, bytes in pairs(memory().jestat()) do
    result[key] = string.format("%11d  %8.2f Mb", bytes, bytes / 1048576)
  end
  return result
end

function COMMAND.dumpheap()
  memory().dumpheap()
end

function COMMAND.profactive(flag)
  local mem = memory()
  if flag ~= nil then
    if flag == "on" or flag == "off" then
      flag = on_off(flag)
    end
    mem.profactive(flag)
  end
  return "heap profilling is " .. (mem.profactive() and "active" or "deactive")
end

-- call address expr-list: the rest of the line is evaluated (with no
-- globals at all) into the arguments of a lua call
function COMMANDX.call(cmd)
  local address = address_of(cmd[2])
  local text = cmd[1]:match "%S+%s+%S+%s(.+)"
  if not text then
    error "need arguments"
  end
  local chunk = load("return " .. text, "debug console", "t", {})
  if not chunk then
    error "Invalid arguments"
  end
  local values = table.pack(pcall(chunk))
  if not values[1] then
    error(values[2])
  end
  return table.pack(skynet.call(address, "lua", table.unpack(values, 2, values.n)))
end

-- debug address: hand this connection to a debug_agent until "cont"
function COMMANDX.debug(cmd)
  local address = address_of(cmd[2])
  local agent = skynet.newservice "debug_agent"
  local fd = cmd.fd
  local stopped = false
  local me = coroutine.running()
  local must_wait = true

  local function forward_lines()
    repeat
      -- raises once the agent is gone
      skynet.call(agent, "lua", "ping")
      local line = socket.readline(fd, "\n")
      if not line then
        skynet.send(agent, "lua", "cmd", "cont")
        break
      end
      line = line:gsub("(.*)\r$", "%1")
      skynet.send(agent, "lua", "cmd", line)
    until stopped or line == "cont"
  end

  skynet.fork(function()
    pcall(forward_lines)
    if stopped then
      skynet.wakeup(me)
    else
      -- finished while the agent still runs: nothing to wait for
      must_wait = false
    end
  end)
  local ok, err = skynet.call(agent, "lua", "start", address, fd)
  stopped = true
  if must_wait then
    skynet.wait(me)
  end
  if not ok then
    error(err)
  end
end

---------------------------------------------------------------------------
-- netstat

local function bytes(n)
  if n == nil or n == 0 then
    return
  end
  if n < 1024 then
    return n
  end
  if n < 1024 * 1024 then
    return tostring(n / 1024) .. "K"
  end
  return tostring(n / (1024 * 1024)) .. "M"
end

-- age of a timestamp (ticks): "<s>s" under a minute, else "[h:]m:<s>s"
local function age(now, t)
  if t == nil then
    return
  end
  local ticks = now - t
  if ticks < 6000 then
    return tostring(ticks / 100) .. "s"
  end
  local hours = ticks // 360000
  ticks = ticks - hours * 360000
  local minutes = ticks // 6000
  local seconds = (ticks - minutes * 6000) / 100
  return string.format("%s%d:%.2gs", hours == 0 and "" or (hours .. ":"), minutes, seconds)
end

function COMMAND.netstat()
  local list = socket.netstat()
  local now = skynet.now()
  for _, info in ipairs(list) do
    info.address = skynet.address(info.address)
    info.read = bytes(info.read)
    info.write = bytes(info.write)
    info.wbuffer = bytes(info.wbuffer)
    info.rtime = age(now, info.rtime)
    info.wtime = age(now, info.wtime)
  end
  return list
end
