-- test_codecs: the start service of tests/codecs.rs. Checks that services of
-- a real node can load skynet.crypt, md5, bson and sproto (with
-- sprotoloader sharing a schema between services) and talk through them with
-- a peer service (codecs_peer). Logs `CODECS <case> PASS|FAIL: <why>` per
-- case and `CODECS DONE <passed> <failed>`, then aborts the node.
-- Stands for the reference's test/testcrypt.lua, testbson.lua, testsha.lua
-- and examples/agent-style sproto use (no automated harness there).

local skynet = require "skynet"
require "skynet.manager"

local crypt = require "skynet.crypt"
local md5 = require "md5"
local bson = require "bson"
local sproto = require "sproto"
local sprotoparser = require "sprotoparser"
local sprotoloader = require "sprotoloader"

local SCHEMA = [[
.package { type 0 : integer session 1 : integer }
.Item { id 0 : integer name 1 : string tags 2 : *string }
lookup 1 {
	request { id 0 : integer }
	response { item 0 : Item found 1 : boolean }
}
]]

local cases = {}
local function case(name, f) cases[#cases + 1] = { name = name, f = f } end

case("crypt", function()
	assert(crypt.hexencode(crypt.sha1 "abc") == "a9993e364706816aba3e25717850c26c9cd0d89d")
	assert(crypt.base64encode(crypt.hmac_sha1("key", "text")) == crypt.base64encode(crypt.hmac_sha1("key", "text")))
	local key = crypt.randomkey()
	assert(crypt.desdecode(key, crypt.desencode(key, "secret")) == "secret")
	local ok, err = pcall(crypt.desencode, "short", "x")
	assert(not ok and err:match "Invalid key size 5, need 8 bytes", err)
	assert(crypt.base64decode(crypt.base64encode "hello") == "hello")
end)

case("md5", function()
	assert(md5.sumhexa "abc" == "900150983cd24fb0d6963f7d28e17f72")
	assert(require "md5.core".sum ~= nil)
end)

case("bson", function()
	local doc = bson.encode { a = 1, b = { 1, 2 }, c = bson.null }
	local t = bson.decode(doc)
	assert(t.a == 1 and t.b[2] == 2 and t.c == bson.null)
end)

case("login handshake", function()
	-- The DH key exchange of the reference's login examples, across services.
	local peer = skynet.newservice "codecs_peer"
	local client_key = crypt.randomkey()
	local server_pub = skynet.call(peer, "lua", "dh", crypt.dhexchange(client_key))
	local secret = crypt.dhsecret(server_pub, client_key)
	local hmac = crypt.hmac64(crypt.hashkey "challenge", secret)
	assert(skynet.call(peer, "lua", "verify", "challenge", hmac))
end)

case("sproto rpc across services", function()
	sprotoloader.save(sprotoparser.parse(SCHEMA), 1)
	local peer = skynet.newservice "codecs_peer"
	local sp = sprotoloader.load(1)
	local host = sp:host "package"
	local request = host:attach(sp)
	local reply = skynet.call(peer, "lua", "sproto", request("lookup", { id = 7 }, 1))
	local kind, session, args = host:dispatch(reply)
	assert(kind == "RESPONSE" and session == 1, kind)
	assert(args.found and args.item.id == 7 and args.item.name == "item7", tostring(args.item and args.item.name))
	assert(args.item.tags[2] == "b")
end)

case("bson across services", function()
	local peer = skynet.newservice "codecs_peer"
	local bytes = skynet.call(peer, "lua", "bson", 41)
	local t = bson.decode(bytes)
	assert(t.n == 42 and t.s == "hello", tostring(t.n))
end)

skynet.start(function()
	local passed, failed = 0, 0
	for _, c in ipairs(cases) do
		local ok, err = pcall(c.f)
		if ok then
			passed = passed + 1
			skynet.error("CODECS " .. c.name .. " PASS")
		else
			failed = failed + 1
			skynet.error("CODECS " .. c.name .. " FAIL: " .. tostring(err))
		end
	end
	skynet.error(string.format("CODECS DONE %d %d", passed, failed))
	skynet.abort()
end)
