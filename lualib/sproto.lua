-- sproto: schema objects over sproto.core, and the RPC host (dispatch and
-- attach) that frames messages as a `package` header followed by the
-- request or response body, zero-packed. Stands for the reference's
-- lualib/sproto.lua, with the same API and error texts.

local core = require "sproto.core"

local sproto = {}
local host = {}

local weak = { __mode = "kv" }
-- Objects made by sproto.new own their C schema; shared ones do not.
local owning_mt = { __index = sproto }
local shared_mt = { __index = sproto }
local host_mt = { __index = host }

function owning_mt:__gc()
	core.deleteproto(self.__cobj)
end

local function wrap(cobj, mt)
	return setmetatable({
		__cobj = cobj,
		__tcache = setmetatable({}, weak),
		__pcache = setmetatable({}, weak),
	}, mt)
end

-- A schema object from a binary schema (see sprotoparser).
function sproto.new(bin)
	return wrap(assert(core.newproto(bin)), owning_mt)
end

-- A schema object over a C schema owned elsewhere (sprotoloader.load).
function sproto.sharenew(cobj)
	return wrap(cobj, shared_mt)
end

-- A schema object from schema text.
function sproto.parse(text)
	local parser = require "sprotoparser"
	return sproto.new(parser.parse(text))
end

local function querytype(self, typename)
	local t = self.__tcache[typename]
	if not t then
		t = assert(core.querytype(self.__cobj, typename), "type not found")
		self.__tcache[typename] = t
	end
	return t
end

-- The protocol `pname` (a name or a tag): { name, tag, request, response }.
local function queryproto(self, pname)
	local p = self.__pcache[pname]
	if p then
		return p
	end
	local found, request, response = core.protocol(self.__cobj, pname)
	assert(found, pname .. " not found")
	local name, tag = pname, found
	if tonumber(pname) then
		name, tag = found, pname
	end
	p = { request = request, response = response, name = name, tag = tag }
	self.__pcache[name] = p
	self.__pcache[tag] = p
	return p
end
sproto.queryproto = queryproto

function sproto:host(packagename)
	packagename = packagename or "package"
	local package = assert(core.querytype(self.__cobj, packagename), "type package not found")
	return setmetatable({ __proto = self, __package = package, __session = {} }, host_mt)
end

function sproto:exist_type(typename)
	if self.__tcache[typename] then
		return true
	end
	return core.querytype(self.__cobj, typename) ~= nil
end

function sproto:encode(typename, tbl)
	return core.encode(querytype(self, typename), tbl)
end

function sproto:decode(typename, ...)
	return core.decode(querytype(self, typename), ...)
end

function sproto:pencode(typename, tbl)
	return core.pack(core.encode(querytype(self, typename), tbl))
end

function sproto:pdecode(typename, ...)
	return core.decode(querytype(self, typename), core.unpack(...))
end

function sproto:exist_proto(pname)
	if self.__pcache[pname] then
		return true
	end
	return core.protocol(self.__cobj, pname) ~= nil
end

function sproto:request_encode(protoname, tbl)
	local p = queryproto(self, protoname)
	if p.request then
		return core.encode(p.request, tbl), p.tag
	end
	return "", p.tag
end

function sproto:response_encode(protoname, tbl)
	local p = queryproto(self, protoname)
	if p.response then
		return core.encode(p.response, tbl)
	end
	return ""
end

function sproto:request_decode(protoname, ...)
	local p = queryproto(self, protoname)
	if p.request then
		return (core.decode(p.request, ...)), p.name
	end
	return nil, p.name
end

function sproto:response_decode(protoname, ...)
	local p = queryproto(self, protoname)
	if p.response then
		return core.decode(p.response, ...)
	end
end

sproto.pack = core.pack
sproto.unpack = core.unpack

-- A table of default values: of a type, or (what = "REQUEST" / "RESPONSE")
-- of a protocol's request or response.
function sproto:default(typename, what)
	if what == nil then
		return core.default(querytype(self, typename))
	end
	local p = queryproto(self, typename)
	if what == "REQUEST" then
		if p.request then
			return core.default(p.request)
		end
	elseif what == "RESPONSE" then
		if p.response then
			return core.default(p.response)
		end
	else
		error "Invalid type"
	end
end

-- The header table is reused by every host: it is filled, encoded and
-- cleared within one call.
local header = {}

local function set_header(type_, session, ud)
	header.type = type_
	header.session = session
	header.ud = ud
end

-- The function that answers a request of session `session`.
local function responder(self, response, session)
	return function(args, ud)
		set_header(nil, session, ud)
		local head = core.encode(self.__package, header)
		if response then
			return core.pack(head .. core.encode(response, args))
		end
		return core.pack(head)
	end
end

-- Reads one message. A request gives "REQUEST", name, args, responder (nil
-- without a session), ud; a response gives "RESPONSE", session, args, ud.
function host:dispatch(...)
	local bin = core.unpack(...)
	set_header(nil, nil, nil)
	local head, size = core.decode(self.__package, bin, header)
	local content = bin:sub(size + 1)
	if head.type then
		local p = queryproto(self.__proto, head.type)
		local args
		if p.request then
			args = core.decode(p.request, content)
		end
		if header.session then
			return "REQUEST", p.name, args, responder(self, p.response, header.session), head.ud
		end
		return "REQUEST", p.name, args, nil, head.ud
	end
	local session = assert(header.session, "session not found")
	local response = assert(self.__session[session], "Unknown session")
	self.__session[session] = nil
	if response == true then
		return "RESPONSE", session, nil, head.ud
	end
	return "RESPONSE", session, core.decode(response, content), head.ud
end

-- A function(name, args, session, ud) that writes requests of schema `sp`;
-- with a session, the response is expected by dispatch.
function host:attach(sp)
	return function(name, args, session, ud)
		local p = queryproto(sp, name)
		set_header(p.tag, session, ud)
		local head = core.encode(self.__package, header)
		if session then
			self.__session[session] = p.response or true
		end
		if p.request then
			return core.pack(head .. core.encode(p.request, args))
		end
		return core.pack(head)
	end
end

return sproto
