-- skynet.dns — asynchronous A/AAAA lookups over UDP for Lua services.
--
-- Our counterpart of the reference's lualib/skynet/dns.lua (same API, same
-- log and error texts). API:
--   dns.server([address [, port]])  the name server (default: the first
--                                   `nameserver` line of DEFAULT_RESOLV_CONF,
--                                   port 53)
--   dns.resolve(name [, ipv6])      -> first address, list of addresses.
--                                   IP literals come back unchanged; a bad
--                                   name gives nil, "illegal name"; no
--                                   answer raises "timeout or no answer"
--                                   (a query gives up after 30 s)
--   dns.flush()                     forget the cached answers
--   dns.DEFAULT_HOSTS, dns.DEFAULT_RESOLV_CONF   files read (nil: none)
--
-- Where answers come from, first hit wins: the hosts file (read at the first
-- lookup that finds it), the cache (kept for the answer's TTL), the name
-- server. One UDP socket (`link`) carries all queries; it closes itself
-- after a minute without a query. Queries in flight are told apart by their
-- 16-bit id.

local skynet = require "skynet"
local socket = require "skynet.socket"

local assert, error, pairs, pcall, setmetatable = assert, error, pairs, pcall, setmetatable
local spack, sunpack, sformat, srep = string.pack, string.unpack, string.format, string.rep
local tconcat, tpack, tunpack = table.concat, table.pack, table.unpack
local mmin = math.min
local running = coroutine.running

local dns = {
  DEFAULT_HOSTS = "/etc/hosts",
  DEFAULT_RESOLV_CONF = "/etc/resolv.conf",
}

-- RFC 1035 numbers
local TYPE_A, TYPE_AAAA, CLASS_IN = 1, 28, 1
local FLAG_RECURSION_DESIRED = 0x100
local HEADER_BYTES = 12
local LONGEST_NAME, LONGEST_LABEL = 1024, 63
local MAX_POINTER_JUMPS = 64

local QUERY_TIMEOUT = 30 * 100 -- ticks
local LINK_IDLE = 60 * 100 -- ticks without a query before the socket closes

local LABEL_RUN_TOO_LONG = srep("[_%w%-]", LONGEST_LABEL + 1)

---------------------------------------------------------------------------
-- Names

-- "ipv4", "ipv6" or "hostname"
local function classify(name)
  if name:find "^[%d%.]+$" then
    return "ipv4"
  elseif name:find(":", 1, true) then
    return "ipv6"
  end
  return "hostname"
end

local function valid_hostname(name)
  return #name <= LONGEST_NAME
    and name:find "^[_%l%d%-%.]+$" ~= nil
    and name:find(LABEL_RUN_TOO_LONG) == nil
end

---------------------------------------------------------------------------
-- Configuration files

-- family ("ipv4"/"ipv6") -> host name -> addresses, in file order
local function load_hosts()
  local path = dns.DEFAULT_HOSTS
  local f = path and io.open(path)
  if not f then
    return nil
  end
  local by_family = { ipv4 = {}, ipv6 = {} }
  for line in f:lines() do
    local ip, names = line:match "^%s*([%[%]%x%.%:]+)%s+([^#;]+)"
    local names_of = ip and by_family[classify(ip)]
    if names_of then
      for host in names:gmatch "%S+" do
        host = host:lower()
        local list = names_of[host] or {}
        names_of[host] = list
        list[#list + 1] = ip
      end
    end
  end
  f:close()
  return by_family
end

local function first_nameserver()
  local path = dns.DEFAULT_RESOLV_CONF
  local f = path and io.open(path)
  if not f then
    return nil
  end
  for line in f:lines() do
    local address = line:match "^%s*nameserver%s+([^#;%s]+)"
    if address then
      f:close()
      return address
    end
  end
  f:close()
  return nil
end

---------------------------------------------------------------------------
-- Packets

local function encode_query(id, name, qtype)
  local labels = {}
  for label in name:gmatch "[_%w%-]+" do
    labels[#labels + 1] = spack("s1", label)
  end
  return spack(">HHHHHH", id, FLAG_RECURSION_DESIRED, 1, 0, 0, 0)
    .. tconcat(labels)
    .. spack(">BHH", 0, qtype, CLASS_IN)
end

-- A read position in a reply packet.
local Cursor = {}
Cursor.__index = Cursor

local function cursor(packet)
  return setmetatable({ packet = packet, at = 1 }, Cursor)
end

-- string.unpack at the cursor, moving it past what was read.
function Cursor:take(format)
  local values = tpack(sunpack(format, self.packet, self.at))
  self.at = values[values.n]
  return tunpack(values, 1, values.n - 1)
end

-- A domain name; compression pointers are followed, the cursor ends up
-- after the name as written at its position.
function Cursor:name()
  local packet, at = self.packet, self.at
  local labels, after, jumps = {}, nil, 0
  while true do
    local len = sunpack("B", packet, at)
    if len == 0 then
      at = at + 1
      break
    elseif len & 0xc0 == 0xc0 then
      jumps = jumps + 1
      if jumps > MAX_POINTER_JUMPS then
        error "malformed packet"
      end
      after = after or at + 2
      at = (sunpack(">H", packet, at) & 0x3fff) + 1
    else
      labels[#labels + 1], at = sunpack("s1", packet, at)
    end
  end
  self.at = after or at
  return tconcat(labels, ".")
end

-- Record data -> printable address, for the record types we ask for.
local decode_address = {
  [TYPE_A] = function(rdata)
    return sformat("%d.%d.%d.%d", sunpack("BBBB", rdata))
  end,
  [TYPE_AAAA] = function(rdata)
    return sformat("%x:%x:%x:%x:%x:%x:%x:%x", sunpack(">HHHHHHHH", rdata))
  end,
}

-- { id, name (of the question), found = { [type] = addresses }, ttl (the
-- smallest of the address records) }
local function decode_reply(packet)
  local c = cursor(packet)
  local id, _, questions, answers = c:take ">HHHHHH"
  assert(questions == 1, "malformed packet")
  local reply = { id = id, name = c:name(), found = {} }
  c:take ">HH" -- the question's type and class
  for _ = 1, answers do
    c:name()
    local rtype, _, ttl, rdata = c:take ">HHI4s2"
    local decode = decode_address[rtype]
    if decode then
      local list = reply.found[rtype] or {}
      reply.found[rtype] = list
      list[#list + 1] = decode(rdata)
      reply.ttl = reply.ttl and mmin(reply.ttl, ttl) or ttl
    end
  end
  return reply
end

---------------------------------------------------------------------------
-- Cache: type -> name -> { answers, expires (tick) }; weak, like the
-- reference's, so the collector may thin it out.

local cache

function dns.flush()
  cache = {
    [TYPE_A] = setmetatable({}, { __mode = "kv" }),
    [TYPE_AAAA] = setmetatable({}, { __mode = "kv" }),
  }
end

dns.flush()

local function from_cache(qtype, name, even_stale)
  local entry = cache[qtype][name]
  if entry and (even_stale or entry.expires > skynet.now()) then
    return entry.answers
  end
end

---------------------------------------------------------------------------
-- Queries in flight and their answers

local inflight = {} -- id -> { name, qtype, co, answers }
local last_id = 0

local function free_id()
  for _ = 1, 65535 do
    last_id = last_id % 65535 + 1
    if inflight[last_id] == nil then
      return last_id
    end
  end
  assert(false)
end

-- A reply from the name server: cache what it holds, wake its query.
local function on_reply(packet)
  if #packet < HEADER_BYTES then
    skynet.error("Recv an invalid package when dns query")
    return
  end
  local reply = decode_reply(packet)
  local now = skynet.now()
  for qtype, list in pairs(reply.found) do
    cache[qtype][reply.name] = { answers = list, expires = now + reply.ttl * 100 }
  end
  local query = inflight[reply.id]
  if query == nil then
    return -- given up already
  end
  if reply.name ~= query.name then
    skynet.error("Recv an invalid name when dns query")
  end
  local entry = cache[query.qtype][query.name]
  query.answers = entry and entry.answers
  skynet.wakeup(query.co)
end

---------------------------------------------------------------------------
-- The UDP socket to the name server

local link = { fd = nil, address = nil, port = nil, used = 0 }

function dns.server(address, port)
  link.address = address
  link.port = port or 53
end

local function close_when_idle()
  if skynet.now() <= link.used + LINK_IDLE then
    skynet.timeout(2 * LINK_IDLE, close_when_idle)
    return
  end
  local fd = link.fd
  if fd then
    link.fd = nil
    socket.close(fd)
    skynet.error(sformat("Udp server close %s:%s (%d)", link.address, link.port, fd))
  end
end

-- The socket for a query, opened when there is none.
local function link_fd()
  link.used = skynet.now()
  if link.fd then
    return link.fd
  end
  if not link.address then
    link.address, link.port = first_nameserver(), 53
  end
  assert(link.address, "Call dns.server first")
  local fd = socket.udp(on_reply)
  local connected, err = pcall(socket.udp_connect, fd, link.address, link.port)
  if connected then
    link.fd = fd
    skynet.error(sformat("Udp server open %s:%s (%d)", link.address, link.port, fd))
    skynet.timeout(2 * LINK_IDLE, close_when_idle)
    return fd
  end
  socket.close(fd)
  error(err)
end

-- Ask the name server and sleep until the reply (or the timeout).
local function ask(name, qtype)
  local id = free_id()
  local query = { name = name, qtype = qtype, co = running() }
  socket.write(link_fd(), encode_query(id, name, qtype))
  inflight[id] = query
  skynet.fork(function()
    skynet.sleep(QUERY_TIMEOUT)
    if inflight[id] == query then
      inflight[id] = nil
      skynet.wakeup(query.co)
      skynet.error(sformat("DNS query %s timeout", name))
    end
  end)
  skynet.wait(query.co)
  inflight[id] = nil
  local answers = query.answers or from_cache(qtype, name, true)
  if answers == nil then
    error "timeout or no answer"
  end
  return answers
end

---------------------------------------------------------------------------
-- Lookups

local hosts -- from load_hosts, once a hosts file was found

local function from_hosts(family, name)
  hosts = hosts or load_hosts()
  local names = hosts and hosts[family]
  return names and names[name]
end

function dns.resolve(name, ipv6)
  name = name:lower()
  if classify(name) ~= "hostname" then
    return name
  end
  if not valid_hostname(name) then
    return nil, "illegal name"
  end
  local qtype = ipv6 and TYPE_AAAA or TYPE_A
  local answers = from_hosts(ipv6 and "ipv6" or "ipv4", name)
    or from_cache(qtype, name)
    or ask(name, qtype)
  return answers[1], answers
end

return dns
