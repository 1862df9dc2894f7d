-- skynet.datasheet.dump — writes, reads and diffs the binary documents that
-- skynet.datasheet publishes.
--
-- Stands for the reference's lualib/skynet/datasheet/dump.lua. The bytes are
-- the reference's, byte for byte (the native reader in
-- crates/skynet-lua/src/datasheet.rs parses them). Every word is 32 bits,
-- little-endian:
--   header  offset of the string area, number of tables, then one word per
--           table: where it starts, counted from the end of the header
--           (0xffffffff for a table a diff dropped)
--   table   array length, dict length, one tag byte per slot (zero-padded
--           to a whole word), the array words, then a (key, value) word pair
--           per dict entry, the key being a string offset
--   tags    1 i32, 2 f32, 3 boolean (bytes 00 00 00 01 for true), 4 table
--           (0-based number), 5 string (offset in the string area)
--   strings NUL-terminated, in the order they were first met
-- Tables get their numbers depth first, a table before the ones inside it,
-- in the order the writer meets them: array part first, then the string keys
-- in pairs() order. Only an array part (1..n) and string keys are allowed.
-- A Lua table reached twice is written twice.
--   dump(t) -> doc
--   undump(doc) -> t, { [decoded table] = its number }
--   diff(old, new) -> `new`, renumbered so that a table found at the same
--     key path in `old` keeps its number there; tables new in `new` take
--     numbers after all of `old`'s, and `old`'s lost tables are 0xffffffff.

local pack, unpack = string.pack, string.unpack
local rep, sub, char = string.rep, string.sub, string.char
local concat = table.concat
local tointeger = math.tointeger

local TAG_INT, TAG_REAL, TAG_BOOL, TAG_TABLE, TAG_STR = 1, 2, 3, 4, 5
local DROPPED = 0xffffffff
local I32_LOW, I32_HIGH = -0x80000000, 0x7fffffff

local M = {}

---------------------------------------------------------------------------
-- Writing

-- One dump() in progress: the table bodies by number (1-based) and the
-- string area being built.
local Writer = {}
Writer.__index = Writer

function Writer:string_offset(s)
  local at = self.string_pos[s]
  if at == nil then
    at = self.string_size
    self.string_pos[s] = at
    self.string_size = at + #s + 1
    self.string_order[#self.string_order + 1] = s
  end
  return at
end

-- How each Lua type becomes a slot: its tag and its word.
local as_slot = {
  number = function(_, v)
    local i = tointeger(v)
    if i ~= nil and I32_LOW <= i and i <= I32_HIGH then
      return TAG_INT, pack("<i4", i)
    end
    return TAG_REAL, pack("<f", v)
  end,
  boolean = function(_, v)
    return TAG_BOOL, pack(">I4", v and 1 or 0)
  end,
  string = function(w, v)
    return TAG_STR, pack("<I4", w:string_offset(v))
  end,
  table = function(w, v)
    return TAG_TABLE, pack("<I4", w:write_table(v) - 1)
  end,
}

function Writer:slot(v)
  local conv = as_slot[type(v)]
  if conv == nil then
    error("Unsupport value " .. tostring(v))
  end
  return conv(self, v)
end

-- Writes table `t` (and, on the way, the tables inside it); returns its
-- 1-based number.
function Writer:write_table(t)
  local bodies = self.bodies
  local mine = #bodies + 1
  bodies[mine] = false -- claims the number before the children take theirs

  local tags, words = {}, {}
  local function put(tag, word)
    tags[#tags + 1] = char(tag)
    words[#words + 1] = word
  end

  local length = 0
  while t[length + 1] ~= nil do
    length = length + 1
    put(self:slot(t[length]))
  end

  local entries = 0
  for k, v in pairs(t) do
    if type(k) ~= "string" then
      local n = tointeger(k)
      assert(n and n >= 1 and n <= length)
    else
      local _, key_word = self:slot(k)
      local tag, value_word = self:slot(v)
      put(tag, key_word .. value_word)
      entries = entries + 1
    end
  end

  bodies[mine] = pack("<I4I4", length, entries)
    .. concat(tags)
    .. rep("\0", -#tags % 4)
    .. concat(words)
  return mine
end

function Writer:document()
  local starts, size = {}, 0
  for n, body in ipairs(self.bodies) do
    starts[n] = pack("<I4", size)
    size = size + #body
  end
  local count = #self.bodies
  return pack("<I4I4", 8 + 4 * count + size, count)
    .. concat(starts)
    .. concat(self.bodies)
    .. concat(self.string_order, "\0")
    .. "\0"
end

function M.dump(root)
  local w = setmetatable({
    bodies = {},
    string_pos = {},
    string_order = {},
    string_size = 0,
  }, Writer)
  w:write_table(root)
  return w:document()
end

---------------------------------------------------------------------------
-- Reading

-- The header of `doc`: positions (1-based) of the string area and of the
-- first table, and each table's start relative to that.
local function open(doc)
  local strings_at, count = unpack("<I4I4", doc)
  local starts = { unpack("<" .. rep("I4", count), doc, 9) }
  starts[count + 1] = nil -- unpack's "next position"
  return {
    doc = doc,
    count = count,
    starts = starts,
    first = 9 + 4 * count,
    strings = strings_at + 1,
  }
end

-- The fixed part of table `number` (0-based) of an opened document.
local function shape(d, number)
  local at = d.first + d.starts[number + 1]
  local narray, ndict = unpack("<I4I4", d.doc, at)
  local nslots = narray + ndict
  return {
    at = at,
    narray = narray,
    ndict = ndict,
    tags = { unpack(rep("B", nslots), d.doc, at + 8) },
    words = at + 8 + ((nslots + 3) & ~3),
  }
end

local function cstring(d, offset)
  return (unpack("z", d.doc, d.strings + offset))
end

local decode_table

local decoders = {
  [TAG_INT] = function(d, pos)
    return (unpack("<i4", d.doc, pos))
  end,
  [TAG_REAL] = function(d, pos)
    return (unpack("<f", d.doc, pos))
  end,
  [TAG_BOOL] = function(d, pos)
    return unpack("<i4", d.doc, pos) ~= 0
  end,
  [TAG_TABLE] = function(d, pos)
    return decode_table(d, (unpack("<I4", d.doc, pos)))
  end,
  [TAG_STR] = function(d, pos)
    return cstring(d, (unpack("<I4", d.doc, pos)))
  end,
}

local function decode_value(d, tag, pos)
  local f = decoders[tag]
  if f == nil then
    error(string.format("Invalid data at %d (%d)", pos, tag))
  end
  return f(d, pos)
end

decode_table = function(d, number)
  local s = shape(d, number)
  local out = {}
  local pos = s.words
  for slot = 1, s.narray do
    out[slot] = decode_value(d, s.tags[slot], pos)
    pos = pos + 4
  end
  for entry = 1, s.ndict do
    local key = cstring(d, (unpack("<I4", d.doc, pos)))
    out[key] = decode_value(d, s.tags[s.narray + entry], pos + 4)
    pos = pos + 8
  end
  d.numbers[out] = number
  return out
end

function M.undump(doc)
  local d = open(doc)
  d.numbers = {}
  return decode_table(d, 0), d.numbers
end

---------------------------------------------------------------------------
-- Diffing

-- For each table of `new` that sits at a key path where `old` has a table
-- too: new number -> old number.
local function same_paths(old, new)
  local old_root, old_numbers = M.undump(old)
  local new_root, new_numbers = M.undump(new)
  local kept = {}
  local todo = { { old_root, new_root } }
  while #todo > 0 do
    local pair = todo[#todo]
    todo[#todo] = nil
    local o, n = pair[1], pair[2]
    kept[new_numbers[n]] = old_numbers[o]
    for k, ov in pairs(o) do
      local nv = n[k]
      if type(ov) == "table" and type(nv) == "table" then
        todo[#todo + 1] = { ov, nv }
      end
    end
  end
  return kept
end

function M.diff(old, new)
  local renumber = same_paths(old, new)
  local d = open(new)
  local _, old_count = unpack("<I4I4", old)

  local total = old_count
  for n = 0, d.count - 1 do
    if renumber[n] == nil then
      renumber[n] = total
      total = total + 1
    end
  end

  -- the table bodies stay where they are; only their numbers move
  local start_of = {}
  for n = 0, d.count - 1 do
    start_of[renumber[n]] = d.starts[n + 1]
  end
  local out = { pack("<I4I4", d.strings - 1 + 4 * (total - d.count), total) }
  for m = 0, total - 1 do
    out[#out + 1] = pack("<I4", start_of[m] or DROPPED)
  end

  local doc = new
  local function word(pos)
    return sub(doc, pos, pos + 3)
  end
  for n = 0, d.count - 1 do
    local s = shape(d, n)
    out[#out + 1] = sub(doc, s.at, s.words - 1)
    local pos = s.words
    for slot = 1, s.narray + s.ndict do
      if slot > s.narray then -- a dict entry: its key word first
        out[#out + 1] = word(pos)
        pos = pos + 4
      end
      if s.tags[slot] == TAG_TABLE then
        out[#out + 1] = pack("<I4", renumber[unpack("<I4", doc, pos)])
      else
        out[#out + 1] = word(pos)
      end
      pos = pos + 4
    end
  end
  out[#out + 1] = sub(doc, d.strings)
  return concat(out)
end

return M
