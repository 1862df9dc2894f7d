-- debug_console — a text console over TCP for inspecting a running node.
--
-- Stands for the reference's service/debug_console.lua; the behaviour and
-- every text it writes follow shared/spec/debug-console.md. Launched as
-- `skynet.newservice("debug_console", [ip,] port)` (ip defaults to
-- 127.0.0.1).
--
-- Layout of this file:
--   * the command catalogue: each entry carries its help text and its
--     handler, so `help` is derived from the catalogue itself;
--   * a connection object that writes lines and renders a command's result
--     ("<CMD OK>" / "<CMD Error>" terminated);
--   * the connection loop, which also understands one HTTP GET/POST request
--     (URL path or body = one command line, connection closed afterwards);
--   * the commands, grouped by what they talk to (launcher, the target's
--     debug protocol, the runtime, the memory module, sockets).
-- Modules needed by a few commands only (skynet.memory, skynet.snax,
-- skynet.codecache, the http reader) are required when first needed.

local skynet = require "skynet"
local socket = require "skynet.socket"
local core = require "skynet.core"

-- ([ip,] port) as given to newservice
local function listen_address(...)
  local given = table.pack(...)
  assert(given.n <= 2)
  if given.n == 2 then
    return given[1], tonumber(given[2])
  end
  return "127.0.0.1", tonumber(given[1])
end

local bind_ip, bind_port = listen_address(...)

-- how long (ticks) stat/mem/gc wait for the services when not told
local DEFAULT_WAIT = 300

local HTTP_BODY_LIMIT = 8192

---------------------------------------------------------------------------
-- The catalogue

-- name -> { help = text, run = handler, whole_line = bool }
-- A plain handler gets the words after the command name; a `whole_line`
-- handler gets (connection, line, words) and parses the line itself.
local catalogue = {}

local function command(name, help, run)
  catalogue[name] = { help = help, run = run }
end

local function line_command(name, help, run)
  catalogue[name] = { help = help, run = run, whole_line = true }
end

---------------------------------------------------------------------------
-- Connections and output

local Connection = {}
Connection.__index = Connection

local function open_connection(fd, peer)
  return setmetatable({ fd = fd, peer = peer }, Connection)
end

-- One output line; nil writes an empty line.
function Connection:say(text)
  if text == nil then
    text = ""
  end
  socket.write(self.fd, tostring(text) .. "\n")
end

function Connection:say_pair(key, value)
  socket.write(self.fd, tostring(key) .. "\t" .. tostring(value) .. "\n")
end

-- the keys of `t`, ordered by their text
local function keys_in_text_order(t)
  local text_of = {}
  local order = {}
  for k in pairs(t) do
    text_of[k] = tostring(k)
    order[#order + 1] = k
  end
  table.sort(order, function(x, y)
    return text_of[x] < text_of[y]
  end)
  return order
end

-- the text of one value of a result table: nested tables become their
-- `k:v` pairs (ordered by key text), TAB separated
local function cell_text(value)
  if type(value) ~= "table" then
    return tostring(value)
  end
  local cells = {}
  for _, k in ipairs(keys_in_text_order(value)) do
    table.insert(cells, tostring(k) .. ":" .. tostring(value[k]))
  end
  return table.concat(cells, "\t")
end

-- Writes what a command produced, then its terminator line.
function Connection:report(ok, result)
  if not ok then
    self:say(result)
    self:say "<CMD Error>"
    return
  end
  if type(result) == "string" then
    self:say(result)
  elseif result then
    for _, k in ipairs(keys_in_text_order(result)) do
      self:say_pair(k, cell_text(result[k]))
    end
  end
  self:say "<CMD OK>"
end

function Connection:execute(line)
  local words = {}
  for word in string.gmatch(line, "%S+") do
    table.insert(words, word)
  end
  local entry = catalogue[words[1]]
  if entry == nil then
    self:say "Invalid command, type help for command list"
    return self:report(false, nil)
  end
  if entry.whole_line then
    return self:report(pcall(entry.run, self, line, words))
  end
  return self:report(pcall(entry.run, table.unpack(words, 2)))
end

-- An HTTP request arriving on the console: the first line has been read
-- already; these turn the request into one command line.
local function read_http(conn, request_line)
  local httpd = require "http.httpd"
  local sockethelper = require "http.sockethelper"
  -- the request line has been consumed already: hand it back first
  local read = sockethelper.readfunc(conn.fd, request_line .. "\n")
  return httpd.read_request(read, HTTP_BODY_LIMIT)
end

local from_http = {
  ["GET "] = function(conn, request_line)
    local _, url = read_http(conn, request_line)
    -- "/ping/a" -> "ping a"
    return (url:sub(2):gsub("/", " "))
  end,
  ["POST "] = function(conn, request_line)
    local _, _, _, _, body = read_http(conn, request_line)
    return body
  end,
}

function Connection:read_commands()
  while true do
    -- false once the client has closed the connection
    local line = socket.readline(self.fd, "\n")
    if not line then
      return
    end
    local http = from_http[line:match "^%u+ "]
    if http then
      -- one request, one answer, then the connection is closed
      return self:execute(http(self, line))
    end
    if line ~= "" then
      self:execute(line)
    end
  end
end

function Connection:serve()
  self:say "Welcome to skynet console"
  skynet.error(self.peer, "connected")
  local ok, err = pcall(self.read_commands, self)
  if not ok then
    skynet.error(self.fd, err)
  end
  skynet.error(self.peer, "disconnect")
  socket.close(self.fd)
end

---------------------------------------------------------------------------
-- Argument helpers

-- An address word: ":hex" stays text, ".name" is looked up, bare hex is a
-- handle on this node.
local COLON, DOT = string.byte(":.", 1, 2)

local function address_arg(address)
  local first = address:byte()
  if first == COLON then
    return address
  elseif first == DOT then
    return skynet.localname(address) or error "Not a valid name"
  end
  local id = tonumber("0x" .. address) or error "Need an address"
  return id | (skynet.harbor(skynet.self()) << 24)
end

-- The optional ticks argument of stat/mem/gc: a number <= 0 removes the
-- bound.
local function wait_arg(word)
  if word == nil then
    return DEFAULT_WAIT
  end
  local ticks = tonumber(word)
  if ticks <= 0 then
    return nil
  end
  return ticks
end

-- "on"/"off" as booleans; anything else is passed on as it is
local SWITCH_WORDS = { on = true, off = false }

local function switch_arg(word)
  local value = SWITCH_WORDS[word]
  if value == nil then
    return word
  end
  return value
end

local function truthy_word(word)
  return word == "true" or word == "on"
end

local function memory_module()
  return require "skynet.memory"
end

---------------------------------------------------------------------------
-- Talking to the launcher

local function ask_launcher(...)
  return skynet.call(".launcher", "lua", ...)
end

-- the result of start/log/snax: the new handle and the name it runs
local function started(handle, name)
  return { [skynet.address(handle)] = name }
end

command("list", "List all the service", function()
  return ask_launcher "LIST"
end)

command("stat", "Dump all stats", function(ticks)
  return ask_launcher("STAT", wait_arg(ticks))
end)

command("mem", "mem : show memory status", function(ticks)
  return ask_launcher("MEM", wait_arg(ticks))
end)

command("gc", "gc : force every lua service do garbage collect", function(ticks)
  return ask_launcher("GC", wait_arg(ticks))
end)

command("kill", "kill address : kill service", function(address)
  return ask_launcher("KILL", address_arg(address))
end)

command("start", "lanuch a new lua service", function(name, ...)
  local ok, handle = pcall(skynet.newservice, name, ...)
  if not ok then
    return "Failed"
  end
  return handle and started(handle, name) or "Exit"
end)

command("log", "launch a new lua service with log", function(name, ...)
  local ok, handle = pcall(ask_launcher, "LOGLAUNCH", "snlua", name, ...)
  if ok and handle then
    return started(handle, name)
  end
  return "Failed"
end)

command("snax", "lanuch a new snax service", function(name, ...)
  local snax = require "skynet.snax"
  local ok, obj = pcall(snax.newservice, name, ...)
  if ok then
    return started(obj.handle, name)
  end
  return "Failed"
end)

command("service", "List unique service", function()
  return skynet.call("SERVICE", "lua", "LIST")
end)

---------------------------------------------------------------------------
-- The target's debug protocol

local function ask_debug(address, ...)
  return skynet.call(address_arg(address), "debug", ...)
end

command("dbgcmd", "run address debug command", ask_debug)

command("info", "info address : get service infomation", function(address, ...)
  return ask_debug(address, "INFO", ...)
end)

command("task", "task address : show service task detail", function(address)
  return ask_debug(address, "TASK")
end)

command("uniqtask", "task address : show service unique task detail", function(address)
  return ask_debug(address, "UNIQTASK")
end)

command("killtask", "killtask address threadname : threadname listed by task", function(address, threadname)
  return ask_debug(address, "KILLTASK", threadname)
end)

command("exit", "exit address : kill a lua service", function(address)
  skynet.send(address_arg(address), "debug", "EXIT")
end)

command("ping", "ping address", function(address)
  local sent_at = skynet.now()
  ask_debug(address, "PING")
  return tostring(skynet.now() - sent_at)
end)

-- TRACELOG's (proto, flag) from `[proto] [on|off]`: with one word, on/off
-- switch the lua protocol
local function trace_request(proto, flag)
  if flag == nil then
    return switch_arg(proto), nil
  end
  return proto, truthy_word(flag)
end

command("trace", "trace address [proto] [on|off]", function(address, ...)
  skynet.call(address_arg(address), "debug", "TRACELOG", trace_request(...))
end)

-- the whole content of a file, or nil when it cannot be opened
local function file_text(path)
  local file = io.open(path, "rb")
  if file then
    local text = file:read "a"
    file:close()
    return text
  end
end

-- The file is read here and run inside the target; what it printed is the
-- result (or, when it failed, the error together with that output).
command("inject", "inject address luascript.lua", function(address, filename, ...)
  local target = address_arg(address)
  local source = file_text(filename)
  if source == nil then
    return "Can't open " .. filename
  end
  local ran, printed = skynet.call(target, "debug", "RUN", source, filename, ...)
  if ran ~= false then
    return printed
  end
  error(printed)
end)

-- The values of the comma separated expressions in `text`, evaluated with
-- no globals at all, packed.
local function evaluate_list(text)
  local producer = load("return " .. text, "debug console", "t", {}) or error "Invalid arguments"
  local function settle(ok, ...)
    if ok then
      return table.pack(...)
    end
    error(...)
  end
  return settle(pcall(producer))
end

-- call address expr-list: everything after the address becomes the
-- arguments of a "lua" call; its results are shown packed (with `n`).
line_command("call", "call address ...", function(_, line, words)
  local target = address_arg(words[2])
  local text = line:match "^%s*%S+%s+%S+%s(.+)" or error "need arguments"
  local arguments = evaluate_list(text)
  return table.pack(skynet.call(target, "lua", table.unpack(arguments, 1, arguments.n)))
end)

-- debug address: the connection belongs to a debug_agent until "cont" (or
-- until the client closes it). A forked pump hands every line read to the
-- agent while this coroutine waits for the agent's "start" call to finish.
local function pump_lines(session)
  local fd, agent = session.fd, session.agent
  while true do
    -- fails (and ends the pump) once the agent has exited
    skynet.call(agent, "lua", "ping")
    local line = socket.readline(fd, "\n")
    if not line then
      -- the client is gone: leave debug mode
      skynet.send(agent, "lua", "cmd", "cont")
      return
    end
    line = line:gsub("\r$", "")
    skynet.send(agent, "lua", "cmd", line)
    if session.over or line == "cont" then
      return
    end
  end
end

line_command("debug", "debug address : debug a lua service", function(conn, _, words)
  local target = address_arg(words[2])
  local session = {
    fd = conn.fd,
    agent = skynet.newservice "debug_agent",
    over = false,
    waiting = coroutine.running(),
  }
  skynet.fork(function()
    pcall(pump_lines, session)
    if session.over then
      skynet.wakeup(session.waiting)
    else
      -- the agent is still in "start": nobody needs waking up
      session.waiting = nil
    end
  end)
  -- returns once the target has left debug mode (or could not be attached)
  session.attached, session.failure = skynet.call(session.agent, "lua", "start", target, conn.fd)
  session.over = true
  local pump_running = session.waiting
  if pump_running then
    skynet.wait(pump_running)
  end
  if not session.attached then
    error(session.failure)
  end
end)

---------------------------------------------------------------------------
-- The runtime

local function runtime_address(address)
  return skynet.address(address_arg(address))
end

command("logon", "logon address", function(address)
  core.command("LOGON", runtime_address(address))
end)

command("logoff", "logoff address", function(address)
  core.command("LOGOFF", runtime_address(address))
end)

command("signal", "signal address sig", function(address, sig)
  local text = runtime_address(address)
  if sig then
    text = string.format("%s %d", text, sig)
  end
  core.command("SIGNAL", text)
end)

command("getenv", "getenv name : skynet.getenv(name)", function(name)
  return { [name] = tostring(skynet.getenv(name)) }
end)

command("setenv", "setenv name value: skynet.setenv(name,value)", function(name, value)
  return skynet.setenv(name, value)
end)

command("clearcache", "clear lua code cache", function()
  require("skynet.codecache").clear()
end)

---------------------------------------------------------------------------
-- The memory module

command("cmem", "Show C memory info", function()
  local memory = memory_module()
  local usage = {
    block = memory.block(),
    total = memory.total(),
  }
  for handle, bytes in pairs(memory.info()) do
    usage[skynet.address(handle)] = bytes
  end
  return usage
end)

command("jmem", "Show jemalloc mem stats", function()
  local stats = {}
  for key, bytes in pairs(memory_module().jestat()) do
    stats[key] = string.format("%11d  %8.2f Mb", bytes, bytes / 1048576)
  end
  return stats
end)

command("dumpheap", "dumpheap : dump heap profilling", function()
  memory_module().dumpheap()
end)

command("profactive", "profactive [on|off] : active/deactive jemalloc heap profilling", function(flag)
  local memory = memory_module()
  if flag ~= nil then
    memory.profactive(switch_arg(flag))
  end
  local state = memory.profactive() and "active" or "deactive"
  return "heap profilling is " .. state
end)

---------------------------------------------------------------------------
-- Sockets

-- byte counts: raw below 1 KiB, else in K or M (Lua number text); nothing
-- for zero
local SIZE_UNITS = { { 1048576, "M" }, { 1024, "K" } }

local function size_text(bytes)
  if bytes == nil or bytes == 0 then
    return nil
  end
  for _, unit in ipairs(SIZE_UNITS) do
    if bytes >= unit[1] then
      return tostring(bytes / unit[1]) .. unit[2]
    end
  end
  return bytes
end

-- the age of a tick stamp: "<s>s" under a minute, else "[h:]m:<s>s"
local function age_text(now, stamp)
  if stamp == nil then
    return nil
  end
  local ticks = now - stamp
  if ticks < 6000 then
    return tostring(ticks / 100) .. "s"
  end
  local whole_minutes = ticks // 6000
  local hours = whole_minutes // 60
  local hour_part = ""
  if hours ~= 0 then
    hour_part = hours .. ":"
  end
  return string.format("%s%d:%.2gs", hour_part, whole_minutes % 60, (ticks % 6000) / 100)
end

command("netstat", "netstat : show netstat", function()
  local now = skynet.now()
  local function age(stamp)
    return age_text(now, stamp)
  end
  local shown_as = {
    address = skynet.address,
    read = size_text,
    write = size_text,
    wbuffer = size_text,
    rtime = age,
    wtime = age,
  }
  local sockets = socket.netstat()
  for _, entry in ipairs(sockets) do
    for field, convert in pairs(shown_as) do
      entry[field] = convert(entry[field])
    end
  end
  return sockets
end)

---------------------------------------------------------------------------

command("help", "This help message", function()
  local texts = {}
  for name, entry in pairs(catalogue) do
    texts[name] = entry.help
  end
  return texts
end)

skynet.start(function()
  local listener, ip, port = socket.listen(bind_ip, bind_port)
  skynet.error("Start debug console at " .. ip .. ":" .. port)
  socket.start(listener, function(fd, peer)
    socket.start(fd)
    skynet.fork(Connection.serve, open_connection(fd, peer))
  end)
end)
