-- skynet.dns — asynchronous DNS lookups (A and AAAA) over UDP.
--
-- Stands for the reference's lualib/skynet/dns.lua. API:
--   dns.server([address [, port]])  name server to ask (default: the first
--                                   `nameserver` of dns.DEFAULT_RESOLV_CONF)
--   dns.resolve(name [, ipv6])      -> first address, all addresses;
--                                   an IP literal comes back as is; an
--                                   invalid name gives nil, "illegal name";
--                                   no answer within 30 s raises
--                                   "timeout or no answer"
--   dns.flush()                     forget cached answers
--   dns.DEFAULT_HOSTS, dns.DEFAULT_RESOLV_CONF  files read (nil: skip)
--
-- Names in the hosts file win over the name server. Answers are cached for
-- their TTL. One UDP socket is shared by all queries; it is closed after a
-- minute without queries. Queries are told apart by a 16-bit id.

local skynet = require "skynet"
local socket = require "skynet.socket"

local assert, error, setmetatable, pcall = assert, error, setmetatable, pcall
local spack, sunpack, sformat = string.pack, string.unpack, string.format
local tconcat = table.concat

local MAX_NAME = 1024
local MAX_LABEL = 63
local HEADER_SIZE = 12
local QUERY_TIMEOUT = 30 * 100 -- ticks
local SERVER_IDLE = 60 * 100 -- ticks without a query before the socket closes

local TYPE_A = 1
local TYPE_AAAA = 28
local CLASS_IN = 1

local dns = {}
dns.DEFAULT_HOSTS = "/etc/hosts"
dns.DEFAULT_RESOLV_CONF = "/etc/resolv.conf"

-- qtype -> name -> { answers = {...}, ttl = expiry tick }
local cache = {}
-- query id -> { name, qtype, co, answers }
local pending = {}
-- lowercase host name -> { ipv4 = {...}, ipv6 = {...} } from the hosts file
local hosts_table

local server = { fd = nil, address = nil, port = nil, last_used = nil }

function dns.flush()
  cache[TYPE_A] = setmetatable({}, { __mode = "kv" })
  cache[TYPE_AAAA] = setmetatable({}, { __mode = "kv" })
end

dns.flush()

-- "ipv4", "ipv6" or "hostname"
local function kind_of(name)
  if name:match "^[%d%.]+$" then
    return "ipv4"
  end
  if name:find ":" then
    return "ipv6"
  end
  return "hostname"
end

local function read_hosts()
  local path = dns.DEFAULT_HOSTS
  if not path then
    return
  end
  local f = io.open(path)
  if not f then
    return
  end
  local found = {}
  for line in f:lines() do
    local ip, names = line:match "^%s*([%[%]%x%.%:]+)%s+([^#;]+)"
    local family = ip and kind_of(ip)
    if names and family ~= "hostname" then
      for host in names:gmatch "%S+" do
        host = host:lower()
        local entry = found[host]
        if not entry then
          entry = {}
          found[host] = entry
        end
        local list = entry[family]
        if not list then
          list = {}
          entry[family] = list
        end
        list[#list + 1] = ip
      end
    end
  end
  f:close()
  return found
end

local function read_resolv_conf()
  local path = dns.DEFAULT_RESOLV_CONF
  if not path then
    return
  end
  local f = io.open(path)
  if not f then
    return
  end
  local address
  for line in f:lines() do
    address = line:match "^%s*nameserver%s+([^#;%s]+)"
    if address then
      break
    end
  end
  f:close()
  return address
end

local function valid_name(name)
  if #name > MAX_NAME or not name:match "^[_%l%d%-%.]+$" then
    return false
  end
  for label in name:gmatch "([_%w%-]+)%.?" do
    if #label > MAX_LABEL then
      return false
    end
  end
  return true
end

---------------------------------------------------------------------------
-- Wire format (RFC 1035)

local last_id = 0

local function new_query_id()
  local id = last_id % 65535 + 1
  if pending[id] then
    id = nil
    for candidate = 1, 65535 do
      if not pending[candidate] then
        id = candidate
        break
      end
    end
    assert(id)
  end
  last_id = id
  return id
end

local function encode_query(id, name, qtype)
  local parts = {
    -- id, flags (recursion desired), 1 question, no other records
    spack(">HHHHHH", id, 0x100, 1, 0, 0, 0),
  }
  for label in name:gmatch "([_%w%-]+)%.?" do
    parts[#parts + 1] = spack("s1", label)
  end
  parts[#parts + 1] = "\0"
  parts[#parts + 1] = spack(">HH", qtype, CLASS_IN)
  return tconcat(parts)
end

-- A (possibly compressed) domain name at `pos`; returns it and the position
-- after it in the record.
local function decode_name(packet, pos)
  local labels = {}
  local resume
  local hops = 0
  while true do
    local len = sunpack("B", packet, pos)
    if len & 0xc0 == 0xc0 then
      local pointer = sunpack(">H", packet, pos) & 0x3fff
      resume = resume or pos + 2
      hops = hops + 1
      if hops > 64 then
        error "malformed packet"
      end
      pos = pointer + 1
    elseif len == 0 then
      pos = pos + 1
      break
    else
      local label
      label, pos = sunpack("s1", packet, pos)
      labels[#labels + 1] = label
    end
  end
  return tconcat(labels, "."), resume or pos
end

local function decode_address(qtype, rdata)
  if qtype == TYPE_A then
    return sformat("%d.%d.%d.%d", sunpack("BBBB", rdata))
  end
  return sformat("%x:%x:%x:%x:%x:%x:%x:%x", sunpack(">HHHHHHHH", rdata))
end

-- Parse an answer packet, cache its addresses, wake the query it answers.
local function on_answer(packet)
  if #packet < HEADER_SIZE then
    skynet.error("Recv an invalid package when dns query")
    return
  end
  local id, _, qdcount, ancount, _, _, pos = sunpack(">HHHHHH", packet)
  assert(qdcount == 1, "malformed packet")
  local qname
  qname, pos = decode_name(packet, pos)
  pos = pos + 4 -- question type and class

  local found = {}
  local ttl
  for _ = 1, ancount do
    local atype, rttl, rdata
    _, pos = decode_name(packet, pos)
    atype, _, rttl, rdata, pos = sunpack(">HHI4s2", packet, pos)
    if atype == TYPE_A or atype == TYPE_AAAA then
      local list = found[atype]
      if not list then
        list = {}
        found[atype] = list
      end
      list[#list + 1] = decode_address(atype, rdata)
      ttl = ttl and math.min(ttl, rttl) or rttl
    end
  end
  for qtype, list in pairs(found) do
    cache[qtype][qname] = { answers = list, ttl = skynet.now() + ttl * 100 }
  end

  local query = pending[id]
  if not query then
    return -- timed out already
  end
  if qname ~= query.name then
    skynet.error("Recv an invalid name when dns query")
  end
  local hit = cache[query.qtype][query.name]
  if hit then
    query.answers = hit.answers
  end
  skynet.wakeup(query.co)
end

---------------------------------------------------------------------------
-- The shared UDP socket

local function open_server()
  local fd = socket.udp(function(packet)
    on_answer(packet)
  end)
  if not server.address then
    server.address = read_resolv_conf()
    server.port = 53
  end
  assert(server.address, "Call dns.server first")
  local ok, err = pcall(socket.udp_connect, fd, server.address, server.port)
  if not ok then
    socket.close(fd)
    error(err)
  end
  server.fd = fd
  skynet.error(sformat("Udp server open %s:%s (%d)", server.address, server.port, fd))
end

local function close_when_idle()
  if skynet.now() > server.last_used + SERVER_IDLE then
    local fd = server.fd
    if fd then
      server.fd = nil
      socket.close(fd)
      skynet.error(sformat("Udp server close %s:%s (%d)", server.address, server.port, fd))
    end
  else
    skynet.timeout(2 * SERVER_IDLE, close_when_idle)
  end
end

local function use_server()
  server.last_used = skynet.now()
  if server.fd then
    return
  end
  open_server()
  skynet.timeout(2 * SERVER_IDLE, close_when_idle)
end

function dns.server(address, port)
  server.address = address
  server.port = port or 53
end

---------------------------------------------------------------------------
-- Lookups

local function cached(name, qtype, stale_ok)
  local hit = cache[qtype][name]
  if hit and (stale_ok or hit.ttl > skynet.now()) then
    return hit.answers
  end
end

local function await_answer(id, name, qtype)
  local query = { name = name, qtype = qtype, co = coroutine.running() }
  pending[id] = query
  skynet.fork(function()
    skynet.sleep(QUERY_TIMEOUT)
    local q = pending[id]
    if q then
      skynet.error(sformat("DNS query %s timeout", name))
      pending[id] = nil
      skynet.wakeup(q.co)
    end
  end)
  skynet.wait(query.co)
  pending[id] = nil
  local answers = query.answers or cached(name, qtype, true)
  if not answers then
    error "timeout or no answer"
  end
  return answers[1], answers
end

local function from_hosts(name, ipv6)
  if not hosts_table then
    hosts_table = read_hosts()
    if not hosts_table then
      return
    end
  end
  local entry = hosts_table[name]
  local list = entry and entry[ipv6 and "ipv6" or "ipv4"]
  if list then
    return list[1], list
  end
end

local function ask_server(name, ipv6)
  local qtype = ipv6 and TYPE_AAAA or TYPE_A
  local answers = cached(name, qtype)
  if answers then
    return answers[1], answers
  end
  local id = new_query_id()
  use_server()
  socket.write(server.fd, encode_query(id, name, qtype))
  return await_answer(id, name, qtype)
end

function dns.resolve(name, ipv6)
  name = name:lower()
  if kind_of(name) ~= "hostname" then
    return name
  end
  if not valid_name(name) then
    return nil, "illegal name"
  end
  local first, all = from_hosts(name, ipv6)
  if first then
    return first, all
  end
  return ask_server(name, ipv6)
end

return dns
