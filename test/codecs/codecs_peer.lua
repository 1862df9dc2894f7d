-- codecs_peer: the other side of test_codecs.lua: answers a DH handshake,
-- sproto requests (schema from sprotoloader slot 1) and bson documents.

local skynet = require "skynet"
local crypt = require "skynet.crypt"
local bson = require "bson"
local sprotoloader = require "sprotoloader"

local secret

local CMD = {}

function CMD.dh(client_pub)
	local key = crypt.randomkey()
	secret = crypt.dhsecret(client_pub, key)
	return crypt.dhexchange(key)
end

function CMD.verify(text, hmac)
	return crypt.hmac64(crypt.hashkey(text), secret) == hmac
end

function CMD.sproto(msg)
	local sp = sprotoloader.load(1)
	local host = sp:host "package"
	local kind, name, args, respond = host:dispatch(msg)
	assert(kind == "REQUEST" and name == "lookup")
	return respond { item = { id = args.id, name = "item" .. args.id, tags = { "a", "b" } }, found = true }
end

function CMD.bson(n)
	return tostring(bson.encode { n = n + 1, s = "hello" })
end

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, ...)
		skynet.ret(skynet.pack(CMD[cmd](...)))
	end)
end)
