-- sprotoparser: compiles sproto schema text into the binary schema that
-- sproto.core loads. Stands for the reference's lualib/sprotoparser.lua:
-- same language, same error texts (syntax errors name the same line), and a
-- byte-for-byte identical binary. The reference builds its parser with lpeg;
-- this one is a hand-written recursive descent, so lpeg is not needed.
--
-- The language:
--   .Type { name TAG : [*]type[(key)|(precision)]   .Nested { ... } }
--   name TAG { request Type|{ ... }   response Type|{ ... }|nil }
--   # a comment runs to the end of the line
-- Items are separated by blanks (space, tab, newline, comment); after an
-- item that is not followed by a blank, the next items of that list may only
-- follow it directly.

local sparser = {}

local byte, sub, find = string.byte, string.sub, string.find

---------------------------------------------------------------------------
-- Syntax: text -> tree
--
-- Tree nodes:
--   { kind = "type", name = word, body = { node, ... } }
--   { kind = "field", name, tag, array = bool, typename, extra = capture }
--   { kind = "protocol", name, tag, parts = { { which, ref }, ... } }
--     (`ref` is a type name, or a body for an inline type)
-- Every rule returns a value on success, or nil with the cursor unmoved.

local LF, CR, SPACE, TAB, HASH = 10, 13, 32, 9, 35
local WORD = "^[A-Za-z_][A-Za-z0-9_]*"

local function syntax_tree(text, file)
  local pos = 1
  local line = 1
  -- Newlines count once, the first time the cursor gets past them (a rule
  -- may cross one again after backing up); the count is what a syntax error
  -- reports.
  local counted_upto = 0

  local function end_of_line()
    local c = byte(text, pos)
    local width
    if c == LF then
      width = 1
    elseif c == CR and byte(text, pos + 1) == LF then
      width = 2
    else
      return false
    end
    pos = pos + width
    if pos > counted_upto then
      counted_upto = pos
      line = line + 1
    end
    return true
  end

  local function blank()
    local c = byte(text, pos)
    if c == SPACE or c == TAB then
      pos = pos + 1
      return true
    end
    if end_of_line() then
      return true
    end
    if c ~= HASH then
      return false
    end
    pos = pos + 1
    while pos <= #text and not end_of_line() do
      pos = pos + 1
    end
    return true
  end

  -- Skips blanks; tells whether there was at least one.
  local function skip_blanks()
    local any = false
    while blank() do
      any = true
    end
    return any
  end

  local function take(s)
    if sub(text, pos, pos + #s - 1) == s then
      pos = pos + #s
      return true
    end
    return false
  end

  local function word()
    local _, last = find(text, WORD, pos)
    if last then
      local w = sub(text, pos, last)
      pos = last + 1
      return w
    end
  end

  -- word("." word)*
  local function dotted()
    local from = pos
    if not word() then
      return nil
    end
    while byte(text, pos) == 46 and find(text, WORD, pos + 1) do
      pos = pos + 1
      word()
    end
    return sub(text, from, pos - 1)
  end

  -- digits: their value, and the digits as written
  local function number()
    local digits = text:match("^%d+", pos)
    if digits then
      pos = pos + #digits
      return tonumber(digits), digits
    end
  end

  -- Runs `rule`; if it fails, puts the cursor back.
  local function try(rule)
    local from = pos
    local node = rule()
    if node == nil then
      pos = from
    end
    return node
  end

  -- Items of a list (see the module header for where blanks go).
  local function list_of(item)
    local out = {}
    skip_blanks()
    local glued = false
    while true do
      local node = try(item)
      if node == nil then
        break
      end
      out[#out + 1] = node
      if not glued then
        glued = not skip_blanks()
      end
    end
    skip_blanks()
    return out
  end

  -- What follows a field's type name: "(" word? ")" gives the word (maybe
  -- ""), "(" digits ")" gives the digits and their value. All of it is added
  -- to `caps`.
  local function parenthesis(caps)
    if not take "(" then
      return nil
    end
    skip_blanks()
    local value, digits = number()
    local captured = digits and { digits, value } or { word() or "" }
    skip_blanks()
    if not take ")" then
      return nil
    end
    table.move(captured, 1, #captured, #caps + 1, caps)
    return true
  end

  -- name TAG, and the blanks after it: how fields and protocols begin
  local function name_and_tag()
    local name = word()
    if not name or not skip_blanks() then
      return nil
    end
    local tag = number()
    if not tag then
      return nil
    end
    skip_blanks()
    return name, tag
  end

  -- name TAG : [*]typename (...)*
  local function field()
    local name, tag = name_and_tag()
    if not name then
      return nil
    end
    if not take ":" then
      return nil
    end
    skip_blanks()
    -- `caps` lists what was read in order: name, tag, ["*"], typename, then
    -- what the parentheses gave. The reference reads the key or precision at
    -- the fifth place of that list, and so does this parser: the first
    -- parenthesis for an array, the second capture otherwise.
    local caps = { name, tag }
    local array = take "*"
    if array then
      caps[#caps + 1] = "*"
    end
    local typename = dotted()
    if not typename then
      return nil
    end
    caps[#caps + 1] = typename
    repeat
      local from = pos
      local more = parenthesis(caps)
      if not more then
        pos = from
      end
    until not more
    return { kind = "field", name = name, tag = tag, array = array, typename = typename, extra = caps[5] }
  end

  local typedef

  -- "{" (field | typedef)* "}"
  local function body()
    if not take "{" then
      return nil
    end
    local nodes = list_of(function()
      return try(field) or try(typedef)
    end)
    if not take "}" then
      return nil
    end
    return nodes
  end

  -- "." name body
  function typedef()
    if not take "." then
      return nil
    end
    local name = word()
    if not name then
      return nil
    end
    skip_blanks()
    local nodes = body()
    if not nodes then
      return nil
    end
    return { kind = "type", name = name, body = nodes }
  end

  -- ("request" | "response") blanks (typename | body)
  local function part()
    local which = (take "request" and "request") or (take "response" and "response")
    if not which or not skip_blanks() then
      return nil
    end
    local ref = try(dotted) or try(body)
    if ref == nil then
      return nil
    end
    return { which = which, ref = ref }
  end

  -- name TAG "{" part* "}"
  local function protocol()
    local name, tag = name_and_tag()
    if not name then
      return nil
    end
    if not take "{" then
      return nil
    end
    local parts = list_of(part)
    if not take "}" then
      return nil
    end
    return { kind = "protocol", name = name, tag = tag, parts = parts }
  end

  skip_blanks()
  local tree = list_of(function()
    return try(typedef) or try(protocol)
  end)
  skip_blanks()
  if pos <= #text then
    error(string.format("syntax error at [%s] line (%d)", file or "", line))
  end
  return tree
end

---------------------------------------------------------------------------
-- Meaning: tree -> schema { types, protocols }
--
-- types[fullname] = fields sorted by tag, each
--   { name, tag, typename, array = true|nil, key = ..., decimal = ... }
-- protocols[name] = { tag, request = typename, response = typename, confirm }

local BUILTIN = {
  integer = 0,
  boolean = 1,
  string = 2,
  binary = 2, -- a kind of string
  double = 3,
}

local function by_tag(a, b)
  return a.tag < b.tag
end

local function schema_of(tree)
  local schema = {
    types = {},
    type_names = {}, -- in the order they were defined, each once
    protocols = {},
    protocol_names = {},
  }

  local define_type

  local function fields_of(typename, nodes)
    local fields, names, tags = {}, {}, {}
    for _, node in ipairs(nodes) do
      if node.kind == "type" then
        define_type(typename .. "." .. node.name, node.body, true)
      else
        if names[node.name] then
          error(string.format("redefine %s in type %s", node.name, typename))
        end
        names[node.name] = true
        if tags[node.tag] then
          error(string.format("redefine tag %d in type %s", node.tag, typename))
        end
        tags[node.tag] = true
        local f = { name = node.name, tag = node.tag, typename = node.typename }
        if node.array then
          f.array = true
        end
        if node.extra then
          if node.typename == "integer" then
            f.decimal = node.extra
          else
            assert(f.array)
            f.key = node.extra
          end
        end
        fields[#fields + 1] = f
      end
    end
    table.sort(fields, by_tag)
    return fields
  end

  -- `unique`: a type of that name must not exist yet (the inline types of
  -- protocols are not checked and replace what was there).
  function define_type(fullname, nodes, unique)
    if unique then
      assert(schema.types[fullname] == nil, "redefined " .. fullname)
    end
    local fields = fields_of(fullname, nodes)
    if schema.types[fullname] == nil then
      table.insert(schema.type_names, fullname)
    end
    schema.types[fullname] = fields
  end

  local function define_protocol(node)
    local name = node.name
    assert(schema.protocols[name] == nil, "redefined " .. name)
    local p = { tag = node.tag }
    for _, part in ipairs(node.parts) do
      local which, ref = part.which, part.ref
      if p[which] ~= nil then
        error(string.format("redefine %s in protocol %s", which, name))
      end
      if type(ref) == "table" then
        local inline = name .. "." .. which
        define_type(inline, ref, false)
        ref = inline
      end
      if ref ~= "nil" then
        p[which] = ref
      elseif which == "response" then
        p.confirm = true
      end
    end
    schema.protocols[name] = p
    table.insert(schema.protocol_names, name)
  end

  for _, node in ipairs(tree) do
    if node.kind == "type" then
      define_type(node.name, node.body, true)
    else
      define_protocol(node)
    end
  end
  return schema
end

local function check_protocols(schema)
  local tags = {}
  for _, name in ipairs(schema.protocol_names) do
    local p = schema.protocols[name]
    if tags[p.tag] then
      error(string.format("redefined protocol tag %d at %s", p.tag, name))
    end
    tags[p.tag] = true
    for _, which in ipairs { "request", "response" } do
      local ref = p[which]
      if ref and not schema.types[ref] then
        error(string.format("Undefined %s type %s in protocol %s", which, ref, name))
      end
    end
  end
end

-- Field type names become full names: a builtin, or the first of
-- <scope>.<name>, <outer scope>.<name>, ..., <name> that is a type, the
-- scope being the name of the type holding the field.
local function qualify(types, scope, name)
  if BUILTIN[name] then
    return name
  end
  while scope do
    local candidate = scope .. "." .. name
    if types[candidate] then
      return candidate
    end
    scope = scope:match "^(.+)%.[^.]+$"
  end
  if types[name] then
    return name
  end
end

local function qualify_all(schema)
  for _, typename in ipairs(schema.type_names) do
    for _, f in ipairs(schema.types[typename]) do
      local full = qualify(schema.types, typename, f.typename)
      if full == nil then
        error(string.format("Undefined type %s in type %s", f.typename, typename))
      end
      f.typename = full
    end
  end
end

---------------------------------------------------------------------------
-- Binary: schema -> bytes
--
-- The binary schema is itself a sproto message of this schema:
--   .type { .field { name 0 : string  buildin 1 : integer  type 2 : integer
--                    tag 3 : integer  array 4 : boolean  key 5 : integer
--                    map 6 : boolean }
--           name 0 : string  fields 1 : *field }
--   .protocol { name 0 : string  tag 1 : integer  request 2 : integer
--               response 3 : integer  confirm 4 : boolean }
--   .group { type 0 : *type  protocol 1 : *protocol }
-- Every number written is small enough to sit in the header (a larger one
-- is an error), and each absent tag gets a skip slot of its own.

local function sized(s)
  return string.pack("<s4", s)
end

-- Writes one message from `slots`: { tag, small = n } or { tag, data = s }
-- in ascending tag order.
local function message(slots)
  local header, data = {}, {}
  local expected = 0
  for _, slot in ipairs(slots) do
    for _ = expected, slot[1] - 1 do
      header[#header + 1] = "\1\0"
    end
    if slot.data then
      header[#header + 1] = "\0\0"
      data[#data + 1] = sized(slot.data)
    else
      header[#header + 1] = string.pack("<I2", (slot.small + 1) * 2)
    end
    expected = slot[1] + 1
  end
  return string.pack("<I2", #header) .. table.concat(header) .. table.concat(data)
end

-- name -> { id, fields = { name -> { tag, builtin } } }, ids in name order
local function type_index(schema)
  local names = {}
  for name in pairs(schema.types) do
    names[#names + 1] = name
  end
  table.sort(names)
  local index = {}
  for i, name in ipairs(names) do
    local fields = {}
    for _, f in ipairs(schema.types[name]) do
      fields[f.name] = { tag = f.tag, builtin = BUILTIN[f.typename] }
    end
    index[name] = { id = i - 1, fields = fields }
  end
  return names, index
end

-- The tag of the key field of an indexed array of `target`; key "" asks for
-- a map: `target` has exactly two fields, the one with the lower tag is the
-- key. Also tells whether it is a map.
local function key_tag(fieldname, key, target)
  if target == nil then
    error("Invalid map index :" .. key)
  end
  local map = key == ""
  if map then
    local count, lowest_tag = 0, math.maxinteger
    for name, kf in pairs(target.fields) do
      count = count + 1
      if kf.tag < lowest_tag then
        lowest_tag, key = kf.tag, name
      end
    end
    if count ~= 2 then
      error(string.format("Invalid map definition: %s, must only have two fields", fieldname))
    end
  end
  local kf = target.fields[key]
  if not kf or not kf.builtin then
    error("Invalid map index :" .. key)
  end
  return kf.tag, map
end

local function field_bytes(f, index)
  local slots = { { 0, data = f.name } }
  local builtin = BUILTIN[f.typename]
  local target
  if builtin then
    slots[#slots + 1] = { 1, small = builtin }
    local subtype = f.typename == "binary" and 1 or f.decimal
    if subtype then
      slots[#slots + 1] = { 2, small = subtype }
    end
  else
    target = assert(index[f.typename])
    slots[#slots + 1] = { 2, small = target.id }
  end
  slots[#slots + 1] = { 3, small = f.tag }
  if f.array then
    slots[#slots + 1] = { 4, small = 1 }
  end
  if f.key then
    assert(f.array)
    local tag, map = key_tag(f.name, f.key, target)
    slots[#slots + 1] = { 5, small = tag }
    if map then
      slots[#slots + 1] = { 6, small = 1 }
    end
  end
  return sized(message(slots))
end

local function type_bytes(name, fields, index)
  local slots = { { 0, data = name } }
  if #fields > 0 then
    local encoded = {}
    for i, f in ipairs(fields) do
      encoded[i] = field_bytes(f, index)
    end
    slots[2] = { 1, data = table.concat(encoded) }
  end
  return sized(message(slots))
end

local function protocol_bytes(name, p, index)
  local request
  if p.request then
    request = index[p.request]
    if request == nil then
      error(string.format("Protocol %s request type %s not found", name, p.request))
    end
  end
  local slots = { { 0, data = name }, { 1, small = p.tag } }
  if request then
    slots[#slots + 1] = { 2, small = request.id }
  end
  if p.response then
    slots[#slots + 1] = { 3, small = index[p.response].id }
  elseif p.confirm then
    slots[#slots + 1] = { 4, small = 1 }
  end
  return sized(message(slots))
end

local function schema_bytes(schema)
  if next(schema.types) == nil then
    assert(next(schema.protocols) == nil)
    return message {}
  end
  local names, index = type_index(schema)
  local types = {}
  for i, name in ipairs(names) do
    types[i] = type_bytes(name, schema.types[name], index)
  end
  local group = { { 0, data = table.concat(types) } }

  local ordered = {}
  for name, p in pairs(schema.protocols) do
    ordered[#ordered + 1] = { name = name, tag = p.tag, p = p }
  end
  if #ordered > 0 then
    table.sort(ordered, by_tag)
    local protocols = {}
    for i, entry in ipairs(ordered) do
      protocols[i] = protocol_bytes(entry.name, entry.p, index)
    end
    group[2] = { 1, data = table.concat(protocols) }
  end
  return message(group)
end

---------------------------------------------------------------------------

-- The binary schema of `text`; `name` names the text in syntax errors
-- (default "=text").
function sparser.parse(text, name)
  local schema = schema_of(syntax_tree(text, name or "=text"))
  check_protocols(schema)
  qualify_all(schema)
  return schema_bytes(schema)
end

-- Prints a binary string in hex, sixteen bytes a line, "- " after the eighth.
function sparser.dump(str)
  local function hex(s)
    return (s:gsub(".", function(c)
      return string.format("%02X ", byte(c))
    end))
  end
  local at = 1
  repeat
    local chunk = sub(str, at, at + 15)
    local row = hex(sub(chunk, 1, 8))
    if #chunk >= 8 then
      row = row .. "- " .. hex(sub(chunk, 9))
    end
    print(row)
    at = at + 16
  until #chunk < 16
end

return sparser
