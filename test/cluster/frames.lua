-- frames — prints what `skynet.cluster.core` makes of a fixed set of inputs,
-- one `FRAMES <case> <description>` line per case, then `FRAMES END` and
-- aborts the node. Runs unchanged on the reference (to capture the expected
-- lines, kept in test/cluster/frames.expected) and on ours (tests/cluster.rs
-- compares). Small frames are printed in hex, large ones as length and MD5.

local skynet = require "skynet"
require "skynet.manager" -- skynet.abort
local core = require "skynet.cluster.core"
local md5 = require "md5"

local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function show(s)
  if #s <= 48 then
    return hex(s)
  end
  return string.format("%d:%s..:%s", #s, hex(s:sub(1, 16)), md5.sumhexa(s))
end

-- a frame, or a list of frames
local function showall(v)
  if type(v) == "table" then
    local out = {}
    for i, f in ipairs(v) do
      out[i] = show(f)
    end
    return "{" .. table.concat(out, " ") .. "}"
  end
  return tostring(v) == v and show(v) or tostring(v)
end

local function line(case, ...)
  local parts = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if type(v) == "userdata" then
      parts[i] = "ptr"
    else
      parts[i] = type(v) == "string" and show(v) or showall(v)
    end
  end
  print("FRAMES " .. case .. " " .. table.concat(parts, " "))
end

-- a message of exactly n bytes (a packed long string: a type byte and a 2
-- or 4 byte length)
local function message(n)
  local s = string.rep("m", n - 3 < 0x10000 and n - 3 or n - 5)
  local msg, sz = skynet.pack(s)
  assert(sz == n, sz)
  return msg, sz
end

local function req(case, f, addr, session, n)
  local msg, sz
  if n then
    msg, sz = message(n)
  else
    msg, sz = skynet.pack("GET", "a", 42)
  end
  line(case, f(addr, session, msg, sz))
end

local function err(case, f, ...)
  local ok, e = pcall(f, ...)
  print("FRAMES " .. case .. " " .. tostring(ok) .. " " .. tostring(e))
end

-- the values unpackrequest returns, with pointers shown as their bytes
local function unreq(case, data)
  local r = table.pack(pcall(core.unpackrequest, data))
  if not r[1] then
    print("FRAMES " .. case .. " error " .. tostring(r[2]))
    return
  end
  local parts = {}
  for i = 2, r.n do
    local v = r[i]
    if type(v) == "userdata" then
      local bytes = skynet.tostring(v, r[i + 1])
      skynet.trash(v, r[i + 1])
      parts[#parts + 1] = "msg=" .. show(bytes)
    elseif type(v) == "string" then
      parts[#parts + 1] = "s=" .. show(v)
    else
      parts[#parts + 1] = tostring(v)
    end
  end
  print("FRAMES " .. case .. " " .. table.concat(parts, " "))
end

local function body(frame)
  return frame:sub(3)
end

skynet.start(function()
  req("req_number", core.packrequest, 0x01000010, 1)
  req("push_number", core.packpush, 0x01000010, 7)
  req("req_name", core.packrequest, "@sdb", 9)
  req("push_name", core.packpush, "sdb", 2147483647)
  req("req_edge_small", core.packrequest, 5, 3, 0x7fff)
  req("req_edge_multi", core.packrequest, 5, 3, 0x8000)
  req("req_multi", core.packrequest, 0x0a000001, 11, 100000)
  req("push_multi", core.packpush, 0x0a000001, 12, 70000)
  req("req_name_multi", core.packrequest, "@longer_name", 13, 0x10001)
  req("push_name_multi", core.packpush, "@n", 14, 0x18000)
  err("req_bad_session", core.packrequest, 1, 0, skynet.pack(1))
  err("req_bad_name", core.packrequest, {}, 1, skynet.pack(1))
  err("req_empty_name", core.packrequest, "", 1, skynet.pack(1))
  err("req_no_msg", core.packrequest, 1, 1, nil, 0)
  line("trace", core.packtrace("(node-db-1)tag"))
  err("trace_long", core.packtrace, string.rep("t", 0x8001))

  local msg, sz = skynet.pack("ok", 1, true)
  line("resp_ok", core.packresponse(3, true, msg, sz))
  skynet.trash(msg, sz)
  line("resp_err", core.packresponse(4, false, "Invalid name"))
  line("resp_err_long", core.packresponse(5, false, string.rep("e", 40000)))
  line("resp_str", core.packresponse(6, true, "plain"))
  msg, sz = message(0x8000)
  line("resp_edge", core.packresponse(7, true, msg, sz))
  skynet.trash(msg, sz)
  msg, sz = message(0x8001)
  line("resp_multi_edge", core.packresponse(8, true, msg, sz))
  skynet.trash(msg, sz)
  msg, sz = message(200000)
  line("resp_multi", core.packresponse(0x7fffffff, true, msg, sz))
  skynet.trash(msg, sz)

  -- unpack what was packed
  unreq("un_number", body(core.packrequest(0x01000010, 5, skynet.pack("x"))))
  unreq("un_push", body(core.packpush(0x01000010, 5, skynet.pack("x"))))
  unreq("un_name", body(core.packrequest("@sdb", 6, skynet.pack("y"))))
  unreq("un_name_push", body(core.packpush("@sdb", 6, skynet.pack("y"))))
  local head, _, parts = core.packrequest(0x20, 8, message(40000))
  unreq("un_multi_head", body(head))
  unreq("un_multi_part", body(parts[1]))
  unreq("un_multi_last", body(parts[2]))
  head = core.packpush("@abc", 9, message(40000))
  unreq("un_multi_name_push", body(head))
  unreq("un_trace", body(core.packtrace("tag")))
  unreq("un_empty", "")
  unreq("un_short_number", "\0\1\2")
  unreq("un_short_mhead", "\1\1\2\3\4\5\6\7\8\9")
  unreq("un_short_part", "\2\1")
  unreq("un_short_name", "\x80")
  unreq("un_short_name2", "\x80\9abc")
  unreq("un_short_mname", "\x81\3abc\1\0\0\0")
  unreq("un_bad_type", "\x90abc")
  unreq("un_bad_type2", "\5abc")
  local light, lsz = skynet.pack("light")
  unreq("un_light_head", body(core.packrequest(1, 2, light, lsz)))

  line("unresp_ok", core.unpackresponse(body(core.packresponse(3, true, "abc"))))
  line("unresp_err", core.unpackresponse(body(core.packresponse(3, false, "bad"))))
  msg, sz = message(0x9000)
  local frames = core.packresponse(10, true, msg, sz)
  skynet.trash(msg, sz)
  line("unresp_begin", core.unpackresponse(body(frames[1])))
  line("unresp_part", core.unpackresponse(body(frames[2])))
  line("unresp_end", core.unpackresponse(body(frames[3])))
  line("unresp_short", core.unpackresponse("\1\0\0"))
  line("unresp_badbegin", core.unpackresponse("\1\0\0\0\2\0\0"))
  line("unresp_badtype", core.unpackresponse("\1\0\0\0\9zz"))

  -- append / concat
  local t = {}
  core.append(t, nil, 6)
  local m1, s1 = skynet.pack("abc")
  core.append(t, m1, s1)
  line("append", #t, t[1], t[2])
  line("concat_short", core.concat(t))
  t = { 3, "ab", "c" }
  local p, n = core.concat(t)
  line("concat", skynet.tostring(p, n), n)
  skynet.trash(p, n)
  line("concat_long", core.concat({ 2, "abc" }))
  line("concat_notable", core.concat("x"))
  line("concat_nonumber", core.concat({ "x" }))
  err("append_bad", core.append, {}, "x", 1)

  line("isname", core.isname("@a"), core.isname("a"), core.isname(1), core.isname(nil))
  print("FRAMES END")
  skynet.abort()
end)
