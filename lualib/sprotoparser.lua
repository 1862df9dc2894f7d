-- sprotoparser: turns sproto schema text into the binary schema that
-- sproto.core reads. Stands for the reference's lualib/sprotoparser.lua, with
-- its own hand-written parser instead of lpeg: it accepts the same language
-- (including where blanks are required) and reports syntax errors on the same
-- line, and the binary it writes is byte-for-byte the reference's.
--
-- Schema language:
--   .Type { field TAG : [*]type[(key)|(precision)]   .Nested { ... } }
--   protocol TAG { request Type|{...}  response Type|{...}|nil }
--   # comments run to the end of the line

local sparser = {}

---------------------------------------------------------------------------
-- Reading the text
--
-- A reader is a cursor over the text. Every rule returns its value on
-- success, or nil with the cursor where it was. Newlines are counted the
-- first time the cursor passes them, whichever rule matched them; a syntax
-- error reports that count.

local reader = {}
reader.__index = reader

local function new_reader(text, file)
	return setmetatable({ text = text, pos = 1, line = 1, seen = 0, file = file }, reader)
end

function reader:byte(offset)
	return self.text:byte(self.pos + (offset or 0))
end

-- "\n" or "\r\n"
function reader:newline()
	local c = self:byte()
	local len
	if c == 10 then
		len = 1
	elseif c == 13 and self:byte(1) == 10 then
		len = 2
	else
		return false
	end
	self.pos = self.pos + len
	if self.seen < self.pos then
		self.line = self.line + 1
		self.seen = self.pos
	end
	return true
end

-- "#" up to and including the end of the line (or of the text)
function reader:comment()
	if self:byte() ~= 35 then
		return false
	end
	self.pos = self.pos + 1
	while self.pos <= #self.text do
		local at = self.pos
		if self:newline() then
			return true
		end
		self.pos = at + 1
	end
	return true
end

function reader:blank()
	local c = self:byte()
	if c == 32 or c == 9 then
		self.pos = self.pos + 1
		return true
	end
	return self:newline() or self:comment()
end

-- blanks*; returns whether at least one was read
function reader:blanks()
	local any = false
	while self:blank() do
		any = true
	end
	return any
end

function reader:literal(s)
	if self.text:sub(self.pos, self.pos + #s - 1) == s then
		self.pos = self.pos + #s
		return true
	end
	return false
end

-- [A-Za-z_][A-Za-z0-9_]*
function reader:word()
	local w = self.text:match("^[%a_][%w_]*", self.pos)
	if w then
		self.pos = self.pos + #w
	end
	return w
end

-- word ("." word)*
function reader:typename()
	local start = self.pos
	if not self:word() then
		return nil
	end
	while true do
		local at = self.pos
		if not (self:literal "." and self:word()) then
			self.pos = at
			break
		end
	end
	return self.text:sub(start, self.pos - 1)
end

-- digits, as a number (and the digits as written)
function reader:tag()
	local digits = self.text:match("^%d+", self.pos)
	if not digits then
		return nil
	end
	self.pos = self.pos + #digits
	return tonumber(digits), digits
end

-- Runs a rule; on failure puts the cursor back.
function reader:try(rule, ...)
	local at = self.pos
	local r = table.pack(rule(self, ...))
	if r[1] == nil then
		self.pos = at
		return nil
	end
	return table.unpack(r, 1, r.n)
end

-- "(" key ")" with an optional word: the word (maybe "")
local function paren_key(r)
	if not r:literal "(" then return nil end
	r:blanks()
	local key = r:word() or ""
	r:blanks()
	if not r:literal ")" then return nil end
	return key
end

-- "(" digits ")": the digits and their value
local function paren_decimal(r)
	if not r:literal "(" then return nil end
	r:blanks()
	local value, digits = r:tag()
	if not value then return nil end
	r:blanks()
	if not r:literal ")" then return nil end
	return digits, value
end

-- name TAG : [*]typename [(...)]*
-- The result lists what was read in order, as the reference's grammar
-- captures it: name, tag, ["*"], typename, then for each parenthesis the key
-- word, or the precision digits and their value.
local function field(r)
	local name = r:word()
	if not name then return nil end
	if not r:blanks() then return nil end
	local tag = r:tag()
	if not tag then return nil end
	r:blanks()
	if not r:literal ":" then return nil end
	r:blanks()
	local f = { kind = "field", name, tag }
	if r:literal "*" then
		f[#f + 1] = "*"
	end
	local tname = r:typename()
	if not tname then return nil end
	f[#f + 1] = tname
	while true do
		local key = r:try(paren_key)
		if key then
			f[#f + 1] = key
		else
			local digits, value = r:try(paren_decimal)
			if not digits then break end
			f[#f + 1] = digits
			f[#f + 1] = value
		end
	end
	return f
end

-- Items separated by blanks: blanks, then items each followed by blanks, then
-- (once an item is not followed by blanks) items that follow one another
-- directly, then blanks. This is the reference's grammar exactly, quirks
-- included.
local function items(r, item)
	local list = {}
	r:blanks()
	local glued = false
	while true do
		local v = r:try(item)
		if not v then break end
		list[#list + 1] = v
		if not glued and not r:blanks() then
			glued = true
		end
	end
	r:blanks()
	return list
end

local struct

-- "." name { ... }
local function typedef(r)
	if not r:literal "." then return nil end
	local name = r:word()
	if not name then return nil end
	r:blanks()
	local body = struct(r)
	if not body then return nil end
	return { kind = "type", name, body }
end

local function field_or_type(r)
	return r:try(field) or r:try(typedef)
end

-- "{" (field | type)* "}"
function struct(r)
	if not r:literal "{" then return nil end
	local list = items(r, field_or_type)
	if not r:literal "}" then return nil end
	return list
end

-- request|response (typename | { ... })
local function subproto(r)
	local which
	if r:literal "request" then
		which = "request"
	elseif r:literal "response" then
		which = "response"
	else
		return nil
	end
	if not r:blanks() then return nil end
	local t = r:try(reader.typename) or r:try(struct)
	if not t then return nil end
	return { which, t }
end

-- name TAG { subproto* }
local function protocol(r)
	local name = r:word()
	if not name then return nil end
	if not r:blanks() then return nil end
	local tag = r:tag()
	if not tag then return nil end
	r:blanks()
	if not r:literal "{" then return nil end
	local list = items(r, subproto)
	if not r:literal "}" then return nil end
	return { kind = "protocol", name, tag, list }
end

local function toplevel(r)
	return r:try(typedef) or r:try(protocol)
end

local function read_schema(text, file)
	local r = new_reader(text, file)
	r:blanks()
	local list = items(r, toplevel)
	r:blanks()
	if r.pos <= #text then
		error(string.format("syntax error at [%s] line (%d)", file or "", r.line))
	end
	return list
end

---------------------------------------------------------------------------
-- From the syntax tree to types and protocols

local build = {}

function build.type(all, typename, body)
	local fields = {}
	local names = {}
	local tags = {}
	for _, item in ipairs(body) do
		if item.kind == "field" then
			local name, tag = item[1], item[2]
			if names[name] then
				error(string.format("redefine %s in type %s", name, typename))
			end
			names[name] = true
			if tags[tag] then
				error(string.format("redefine tag %d in type %s", tag, typename))
			end
			tags[tag] = true
			local f = { name = name, tag = tag }
			fields[#fields + 1] = f
			local ftype = item[3]
			if ftype == "*" then
				f.array = true
				ftype = item[4]
			end
			-- What follows the type name sits at the fifth place.
			local extra = item[5]
			if extra then
				if ftype == "integer" then
					f.decimal = extra
				else
					assert(f.array)
					f.key = extra
				end
			end
			f.typename = ftype
		else
			local nested = typename .. "." .. item[1]
			assert(all.type[nested] == nil, "redefined " .. nested)
			all.type[nested] = build.type(all, nested, item[2])
			all.order[#all.order + 1] = nested
		end
	end
	table.sort(fields, function(a, b) return a.tag < b.tag end)
	return fields
end

function build.protocol(all, name, item)
	local p = { tag = item[2] }
	for _, sub in ipairs(item[3]) do
		local which, t = sub[1], sub[2]
		if p[which] ~= nil then
			error(string.format("redefine %s in protocol %s", which, name))
		end
		if type(t) == "table" then
			local tname = name .. "." .. which
			all.type[tname] = build.type(all, tname, t)
			all.order[#all.order + 1] = tname
			t = tname
		end
		if t == "nil" then
			if which == "response" then
				p.confirm = true
			end
		else
			p[which] = t
		end
	end
	return p
end

local function collect(tree)
	local all = { type = {}, protocol = {}, order = {}, porder = {} }
	for _, item in ipairs(tree) do
		local set = all[item.kind]
		local name = item[1]
		assert(set[name] == nil, "redefined " .. name)
		if item.kind == "type" then
			set[name] = build.type(all, name, item[2])
			all.order[#all.order + 1] = name
		else
			set[name] = build.protocol(all, name, item)
			all.porder[#all.porder + 1] = name
		end
	end
	return all
end

local builtin = {
	integer = 0,
	boolean = 1,
	string = 2,
	binary = 2, -- a string sub type
	double = 3,
}

-- The full name a field's type refers to, looked up from the innermost scope
-- of the type that uses it outwards.
local function resolve(types, scope, t)
	if builtin[t] then
		return t
	end
	while scope do
		local full = scope .. "." .. t
		if types[full] then
			return full
		end
		scope = scope:match "(.+)%..+$"
	end
	if types[t] then
		return t
	end
end

local function check_protocols(all)
	local seen = {}
	for _, name in ipairs(all.porder) do
		local p = all.protocol[name]
		if seen[p.tag] then
			error(string.format("redefined protocol tag %d at %s", p.tag, name))
		end
		if p.request and not all.type[p.request] then
			error(string.format("Undefined request type %s in protocol %s", p.request, name))
		end
		if p.response and not all.type[p.response] then
			error(string.format("Undefined response type %s in protocol %s", p.response, name))
		end
		seen[p.tag] = true
	end
end

local function resolve_types(all)
	for _, tname in ipairs(all.order) do
		for _, f in ipairs(all.type[tname]) do
			local full = resolve(all.type, tname, f.typename)
			if full == nil then
				error(string.format("Undefined type %s in type %s", f.typename, tname))
			end
			f.typename = full
		end
	end
end

---------------------------------------------------------------------------
-- Writing the binary schema (itself a sproto message, see sproto.c)

local function bytes(s)
	return string.pack("<s4", s)
end

-- A header slot holding a small value.
local function slot(v)
	return string.pack("<I2", (v + 1) * 2)
end

local SKIP = "\1\0" -- skips one tag
local DATA = "\0\0" -- the value is in the data part

local function write_field(f)
	local out = {}
	local count = 4
	if f.array then
		count = f.key and (f.map and 7 or 6) or 5
	end
	out[#out + 1] = string.pack("<I2", count)
	out[#out + 1] = DATA -- name
	if f.builtin then
		out[#out + 1] = slot(f.builtin)
		out[#out + 1] = f.extra and slot(f.extra) or SKIP
	else
		out[#out + 1] = SKIP
		out[#out + 1] = slot(f.type)
	end
	out[#out + 1] = slot(f.tag)
	if f.array then
		out[#out + 1] = slot(1)
		if f.key then
			out[#out + 1] = slot(f.key)
			if f.map then
				out[#out + 1] = slot(f.map)
			end
		end
	end
	out[#out + 1] = bytes(f.name)
	return bytes(table.concat(out))
end

-- For a map field (key ""), the name of the sub type's lowest-tag field.
local function map_key(fname, subtype)
	local count, min_tag, key = 0, math.maxinteger, nil
	for n, sf in pairs(subtype.fields) do
		count = count + 1
		if sf.tag < min_tag then
			min_tag = sf.tag
			key = n
		end
	end
	if count ~= 2 then
		error(string.format("Invalid map definition: %s, must only have two fields", fname))
	end
	return key
end

local function write_type(name, fields, index)
	local packed = {}
	for _, f in ipairs(fields) do
		local w = {
			array = f.array,
			name = f.name,
			tag = f.tag,
			extra = f.decimal,
			builtin = builtin[f.typename],
		}
		if f.typename == "binary" then
			w.extra = 1
		end
		local subtype
		if not w.builtin then
			subtype = assert(index[f.typename])
			w.type = subtype.id
		end
		if f.key then
			assert(f.array)
			if subtype == nil then
				error("Invalid map index :" .. f.key)
			end
			if f.key == "" then
				w.map = 1
				f.key = map_key(w.name, subtype)
			end
			local keyfield = subtype.fields[f.key]
			if not keyfield or not keyfield.builtin then
				error("Invalid map index :" .. f.key)
			end
			w.key = keyfield.tag
		end
		packed[#packed + 1] = write_field(w)
	end
	local body
	if #packed == 0 then
		body = "\1\0" .. DATA .. bytes(name)
	else
		body = "\2\0" .. DATA .. DATA .. bytes(name) .. bytes(table.concat(packed))
	end
	return bytes(body)
end

local function write_protocol(name, p, index)
	-- out[1] (the slot count) is settled below
	local out = { "\4\0", DATA, slot(p.tag) }
	if p.request == nil and p.response == nil and p.confirm == nil then
		out[1] = "\2\0"
	else
		if p.request then
			local t = index[p.request]
			if t == nil then
				error(string.format("Protocol %s request type %s not found", name, p.request))
			end
			out[#out + 1] = slot(t.id)
		else
			out[#out + 1] = SKIP
		end
		if p.response then
			out[#out + 1] = slot(index[p.response].id)
		elseif p.confirm then
			out[1] = "\5\0"
			out[#out + 1] = SKIP
			out[#out + 1] = slot(1)
		else
			out[1] = "\3\0"
		end
	end
	out[#out + 1] = bytes(name)
	return bytes(table.concat(out))
end

local function write_schema(all)
	if next(all.type) == nil then
		assert(next(all.protocol) == nil)
		return "\0\0"
	end
	-- Types are numbered in name order, which keeps the output stable.
	local names = {}
	for name in pairs(all.type) do
		names[#names + 1] = name
	end
	table.sort(names)
	local index = {}
	for i, name in ipairs(names) do
		local fields = {}
		for _, f in ipairs(all.type[name]) do
			fields[f.name] = { tag = f.tag, builtin = builtin[f.typename] }
		end
		index[name] = { id = i - 1, fields = fields }
	end
	local types = {}
	for _, name in ipairs(names) do
		types[#types + 1] = write_type(name, all.type[name], index)
	end
	types = bytes(table.concat(types))
	if next(all.protocol) == nil then
		return "\1\0" .. DATA .. types
	end
	local protos = {}
	for name, p in pairs(all.protocol) do
		protos[#protos + 1] = { name = name, p = p }
	end
	table.sort(protos, function(a, b) return a.p.tag < b.p.tag end)
	local out = {}
	for _, e in ipairs(protos) do
		out[#out + 1] = write_protocol(e.name, e.p, index)
	end
	return "\2\0" .. DATA .. DATA .. types .. bytes(table.concat(out))
end

---------------------------------------------------------------------------

-- Parses schema text; `name` names it in syntax errors (default "=text").
function sparser.parse(text, name)
	local tree = read_schema(text, name or "=text")
	local all = collect(tree)
	check_protocols(all)
	resolve_types(all)
	return write_schema(all)
end

-- Prints a binary string as hex, 16 bytes a line.
function sparser.dump(str)
	local line = {}
	for i = 1, #str do
		line[#line + 1] = string.format("%02X ", str:byte(i))
		if i % 8 == 0 then
			if i % 16 == 0 then
				print(table.concat(line))
				line = {}
			else
				line[#line + 1] = "- "
			end
		end
	end
	print(table.concat(line))
end

return sparser
