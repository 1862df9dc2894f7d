-- sproto: the Lua face of sproto.core. Stands for the reference's
-- lualib/sproto.lua (same functions, same error texts).
--
-- A schema object wraps a compiled schema (field __cobj) and remembers the
-- types and protocols it has looked up. A host is the RPC end of a schema:
-- every message is a `package` header (type = protocol tag, session, ud)
-- followed by the request or response body, the whole zero-packed.

local core = require "sproto.core"

local sproto = {}
local host = {}

---------------------------------------------------------------------------
-- Schema objects

-- sproto.new objects own their compiled schema and free it when collected;
-- sharenew objects borrow one (sprotoloader's slots keep it alive).
local owner_meta = {
  __index = sproto,
  __gc = function(self)
    core.deleteproto(self.__cobj)
  end,
}
local borrower_meta = { __index = sproto }

local function schema_object(cobj, meta)
  local self = { __cobj = cobj }
  self.__tcache = setmetatable({}, { __mode = "kv" })
  self.__pcache = setmetatable({}, { __mode = "kv" })
  return setmetatable(self, meta)
end

function sproto.new(bin)
  return schema_object(assert(core.newproto(bin)), owner_meta)
end

function sproto.sharenew(cobj)
  return schema_object(cobj, borrower_meta)
end

function sproto.parse(text)
  return sproto.new(require("sprotoparser").parse(text))
end

sproto.pack = core.pack
sproto.unpack = core.unpack

-- The compiled type `name`, looked up once.
local function type_of(self, name)
  local cache = self.__tcache
  local st = cache[name]
  if st == nil then
    st = assert(core.querytype(self.__cobj, name), "type not found")
    cache[name] = st
  end
  return st
end

-- The protocol `key` (its name, or its tag as a number): a table with
-- name, tag, request and response (the last two nil when absent). Cached
-- under both the name and the tag.
local function proto_of(self, key)
  local cache = self.__pcache
  local p = cache[key]
  if p then
    return p
  end
  local other, request, response = core.protocol(self.__cobj, key)
  assert(other, key .. " not found")
  p = { request = request, response = response }
  if tonumber(key) then
    p.tag, p.name = key, other
  else
    p.name, p.tag = key, other
  end
  cache[p.name] = p
  cache[p.tag] = p
  return p
end
sproto.queryproto = proto_of

function sproto:exist_type(name)
  return self.__tcache[name] ~= nil or core.querytype(self.__cobj, name) ~= nil
end

function sproto:exist_proto(key)
  return self.__pcache[key] ~= nil or core.protocol(self.__cobj, key) ~= nil
end

function sproto:encode(name, tbl)
  return core.encode(type_of(self, name), tbl)
end

function sproto:decode(name, ...)
  return core.decode(type_of(self, name), ...)
end

function sproto:pencode(name, tbl)
  return core.pack(self:encode(name, tbl))
end

function sproto:pdecode(name, ...)
  return core.decode(type_of(self, name), core.unpack(...))
end

-- A request body and the protocol tag; "" for a protocol without request.
function sproto:request_encode(key, tbl)
  local p = proto_of(self, key)
  local body = ""
  if p.request then
    body = core.encode(p.request, tbl)
  end
  return body, p.tag
end

function sproto:response_encode(key, tbl)
  local st = proto_of(self, key).response
  return st and core.encode(st, tbl) or ""
end

-- The decoded request (nil without request type) and the protocol name.
function sproto:request_decode(key, ...)
  local p = proto_of(self, key)
  local args = nil
  if p.request then
    args = core.decode(p.request, ...)
  end
  return args, p.name
end

function sproto:response_decode(key, ...)
  local st = proto_of(self, key).response
  if st then
    return core.decode(st, ...)
  end
end

local PART = { REQUEST = "request", RESPONSE = "response" }

-- Default values of a type; with what = "REQUEST" or "RESPONSE", of that
-- part of the protocol `name` (nothing if the protocol lacks it).
function sproto:default(name, what)
  if what == nil then
    return core.default(type_of(self, name))
  end
  local p = proto_of(self, name)
  local part = PART[what]
  if part == nil then
    error "Invalid type"
  end
  local st = p[part]
  if st then
    return core.default(st)
  end
end

---------------------------------------------------------------------------
-- Hosts

local host_meta = { __index = host }

function sproto:host(package_type)
  local header = core.querytype(self.__cobj, package_type or "package")
  return setmetatable({
    __proto = self,
    __package = assert(header, "type package not found"),
    __session = {}, -- session -> response type, or true when none
  }, host_meta)
end

-- One table serves as the header of every message: it is filled, encoded
-- or decoded, and read within a single call.
local header = {}

local function encode_header(self, tag, session, ud)
  header.type, header.session, header.ud = tag, session, ud
  return core.encode(self.__package, header)
end

-- Header bytes followed by the body (if the message has a body type), packed.
local function seal(head, body_type, body)
  if body_type then
    head = head .. core.encode(body_type, body)
  end
  return core.pack(head)
end

-- The function that answers the request of session `session`.
local function responder(self, response_type, session)
  return function(args, ud)
    return seal(encode_header(self, nil, session, ud), response_type, args)
  end
end

local function got_request(self, body)
  local p = proto_of(self.__proto, header.type)
  local args
  if p.request then
    args = core.decode(p.request, body)
  end
  local respond
  if header.session then
    respond = responder(self, p.response, header.session)
  end
  return "REQUEST", p.name, args, respond, header.ud
end

local function got_response(self, body)
  local session = assert(header.session, "session not found")
  local expected = assert(self.__session[session], "Unknown session")
  self.__session[session] = nil
  local result
  if expected ~= true then
    result = core.decode(expected, body)
  end
  return "RESPONSE", session, result, header.ud
end

-- Reads one packed message:
--   "REQUEST", name, args, respond (nil without session), ud
--   "RESPONSE", session, result, ud
function host:dispatch(...)
  local plain = core.unpack(...)
  header.type, header.session, header.ud = nil, nil, nil
  local _, used = core.decode(self.__package, plain, header)
  local body = plain:sub(used + 1)
  if header.type then
    return got_request(self, body)
  end
  return got_response(self, body)
end

-- A function(name, args, session, ud) that writes requests of the schema
-- `sp`; when given a session, dispatch will expect its response.
function host:attach(sp)
  local expecting = self.__session
  return function(name, args, session, ud)
    local p = proto_of(sp, name)
    local head = encode_header(self, p.tag, session, ud)
    -- noted once the header is known to encode, before the body is
    if session ~= nil then
      expecting[session] = p.response or true
    end
    return seal(head, p.request, args)
  end
end

return sproto
