-- dns_test — test service: skynet.dns with a hosts file written by the test
-- and a fake name server on 127.0.0.1 (UDP port from the config key
-- `net_udp_port`) that answers with compressed names.
--
-- Stands for no file of the reference (its test/testdns.lua asks a public
-- server); test infrastructure.

local skynet = require "skynet"
local socket = require "skynet.socket"
local dns = require "skynet.dns"
local t = require "netcheck"

local queries = 0 -- packets the fake server got
local hosts_path -- the hosts file written at start

-- the fake name server: A and AAAA answers for svc.example, nothing for
-- others
local function start_server(port)
  local fd
  fd = socket.udp(function(packet, from)
    queries = queries + 1
    local id = string.unpack(">H", packet)
    local pos = 13
    local labels = {}
    while true do
      local len = packet:byte(pos)
      if len == 0 then
        break
      end
      labels[#labels + 1] = packet:sub(pos + 1, pos + len)
      pos = pos + len + 1
    end
    local qtype = string.unpack(">H", packet, pos + 1)
    local question = packet:sub(13, pos + 4)
    local name = table.concat(labels, ".")
    local answers = {}
    if name == "svc.example" then
      -- names as pointers to the question (offset 12)
      if qtype == 1 then
        answers[1] = "\xc0\x0c" .. string.pack(">HHI4s2", 1, 1, 60, "\1\2\3\4")
        answers[2] = "\xc0\x0c" .. string.pack(">HHI4s2", 1, 1, 30, "\5\6\7\8")
      else
        local ip6 = string.pack(">HHHHHHHH", 0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)
        answers[1] = "\xc0\x0c" .. string.pack(">HHI4s2", 28, 1, 60, ip6)
      end
    end
    local reply = string.pack(">HHHHHH", id, 0x8180, 1, #answers, 0, 0) .. question
      .. table.concat(answers)
    socket.sendto(fd, from, reply)
  end, "127.0.0.1", port)
end

local cases = {}

local function case(id, fn)
  cases[#cases + 1] = { id, fn }
end

case("literals_and_bad_names", function()
  t.eq(dns.resolve "10.0.0.1", "10.0.0.1", "ipv4 literal")
  t.eq(dns.resolve "::1", "::1", "ipv6 literal")
  local ok, err = dns.resolve "bad name!"
  t.eq(ok, nil, "invalid name")
  t.eq(err, "illegal name", "its error")
end)

case("hosts_file", function()
  local first, all = dns.resolve "MyHost.test"
  t.eq(first, "10.1.2.3", "first address")
  t.eq(#all, 2, "all addresses of the name")
  t.eq(all[2], "10.1.2.4", "second line")
  t.eq(dns.resolve "alias.test", "10.1.2.3", "alias")
  t.eq(dns.resolve("myhost.test", true), "::2", "ipv6 entry")
  -- read once, at the first name lookup
  os.remove(hosts_path)
  t.eq(dns.resolve "alias.test", "10.1.2.3", "kept after the file is gone")
end)

case("server_answers_and_cache", function()
  local first, all = dns.resolve "svc.example"
  t.eq(first, "1.2.3.4", "first address")
  t.eq(table.concat(all, ","), "1.2.3.4,5.6.7.8", "all addresses")
  t.eq(queries, 1, "one query")
  t.eq(dns.resolve "svc.example", "1.2.3.4", "again")
  t.eq(queries, 1, "answered from the cache")
  t.eq(dns.resolve("svc.example", true), "2001:db8:0:0:0:0:0:1", "AAAA")
  t.eq(queries, 2, "AAAA asked")
  dns.flush()
  t.eq(dns.resolve "svc.example", "1.2.3.4", "after flush")
  t.eq(queries, 3, "asked again after flush")
end)

case("no_answer", function()
  local err = t.raises(dns.resolve, "nothing.example")
  t.contains(err, "timeout or no answer", "error")
end)

skynet.start(function()
  hosts_path = os.tmpname()
  local f = assert(io.open(hosts_path, "w"))
  f:write "# written by test/net/dns_test.lua\n"
  f:write "10.1.2.3   myhost.test alias.test # comment\n"
  f:write "10.1.2.4\tmyhost.test\n"
  f:write "::2 myhost.test\n"
  f:close()
  dns.DEFAULT_HOSTS = hosts_path
  local port = assert(tonumber(skynet.getenv "net_udp_port"), "net_udp_port")
  start_server(port)
  dns.server("127.0.0.1", port)
  t.run("dns", cases)
end)
