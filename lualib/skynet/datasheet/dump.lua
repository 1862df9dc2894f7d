-- skynet.datasheet.dump — the binary document format of skynet.datasheet.
--
-- Stands for the reference's lualib/skynet/datasheet/dump.lua; documents
-- are byte-identical to the reference's. All numbers little-endian:
--   document: u32 strtbl, u32 n, u32 index[n], tables..., strings
--             (strtbl: offset of the strings; index[i]: offset of table i
--             after the index, 0xffffffff for a table that is gone)
--   table:    u32 array, u32 dict, u8 type[array + dict] padded to 4,
--             value[array], { u32 key (string offset), value }[dict]
--   value:    4 bytes; type 1 i32, 2 f32, 3 boolean, 4 table number,
--             5 string offset; strings are NUL-terminated
-- Tables may have an array part (1..n, no holes) and string keys; numbers
-- outside the i32 range or with a fraction are stored as f32.
--   dump(tbl) -> document        undump(doc) -> table, { [table] = number }
--   diff(last, current) -> document: `current`, with its tables renumbered
--     so that a table found at the same path in `last` keeps its number
--     (tables new in `current` come after all of `last`'s; `last`'s tables
--     that are gone are marked 0xffffffff), so that readers can move their
--     proxies from one version to the next.

local spack, sunpack, srep, ssub = string.pack, string.unpack, string.rep, string.sub
local tconcat, tunpack = table.concat, table.unpack
local tointeger = math.tointeger

local TYPE_INTEGER, TYPE_REAL, TYPE_BOOLEAN, TYPE_TABLE, TYPE_STRING = 1, 2, 3, 4, 5

local INVALID = 0xffffffff

local ctd = {}

function ctd.dump(root)
  local tables = {} -- encoded tables, by number (1-based here)
  local strings = {} -- in order of first use
  local string_offset = {} -- string -> offset in the string table
  local string_size = 0

  local encode_table

  -- type byte and 4-byte encoding of a value
  local function encode(v)
    local kind = type(v)
    if kind == "table" then
      return string.char(TYPE_TABLE), spack("<i4", encode_table(v) - 1)
    elseif kind == "number" then
      local i = tointeger(v)
      if i and i >= -0x80000000 and i <= 0x7fffffff then
        return string.char(TYPE_INTEGER), spack("<i4", i)
      end
      return string.char(TYPE_REAL), spack("<f", v)
    elseif kind == "boolean" then
      return string.char(TYPE_BOOLEAN), v and "\0\0\0\1" or "\0\0\0\0"
    elseif kind == "string" then
      local offset = string_offset[v]
      if not offset then
        offset = string_size
        string_offset[v] = offset
        string_size = string_size + #v + 1
        strings[#strings + 1] = v
      end
      return string.char(TYPE_STRING), spack("<I4", offset)
    end
    error("Unsupport value " .. tostring(v))
  end

  encode_table = function(t)
    local number = #tables + 1
    tables[number] = false -- reserved: children are numbered after it
    local types, values, pairs_ = {}, {}, {}
    local array_n = 0
    for i, v in ipairs(t) do
      types[i], values[i] = encode(v)
      array_n = i
    end
    for k, v in pairs(t) do
      if type(k) == "string" then
        local _, key = encode(k)
        local vt, ev = encode(v)
        types[#types + 1] = vt
        pairs_[#pairs_ + 1] = key .. ev
      else
        local ik = tointeger(k)
        assert(ik and ik > 0 and ik <= array_n)
      end
    end
    local typeset = tconcat(types)
    tables[number] = tconcat {
      spack("<i4i4", array_n, #pairs_),
      typeset,
      srep("\0", (4 - #typeset) & 3),
      tconcat(values),
      tconcat(pairs_),
    }
    return number
  end

  encode_table(root)

  local index = {}
  local offset = 0
  for i, body in ipairs(tables) do
    index[i] = spack("<I4", offset)
    offset = offset + #body
  end
  return tconcat {
    spack("<I4", 8 + 4 * #tables + offset),
    spack("<I4", #tables),
    tconcat(index),
    tconcat(tables),
    tconcat(strings, "\0"),
    "\0",
  }
end

-- Reads the header of a document: string table position (1-based), the
-- table offsets, and where the tables start (1-based).
local function header(doc)
  local strtbl, n = sunpack("<I4I4", doc)
  local index = { sunpack("<" .. srep("I4", n), doc, 9) }
  index[n + 1] = nil -- drop the next position sunpack appends
  return strtbl + 1, index, 8 + 4 * n + 1, n
end

-- The fixed part of table `i` (0-based) of `doc`: where it starts, its
-- array and dict sizes, its type bytes and where its values start.
local function table_at(doc, index, base, i)
  local start = index[i + 1] + base
  local array, dict = sunpack("<I4I4", doc, start)
  local types = { sunpack(srep("B", array + dict), doc, start + 8) }
  local values = start + ((array + dict + 8 + 3) & ~3)
  return start, array, dict, types, values
end

function ctd.undump(doc)
  local strtbl, index, base = header(doc)
  local numbers = {} -- decoded table -> its number
  local decode

  local function value(t, pos)
    if t == TYPE_INTEGER then
      return (sunpack("<i4", doc, pos))
    elseif t == TYPE_REAL then
      return (sunpack("<f", doc, pos))
    elseif t == TYPE_BOOLEAN then
      return sunpack("<i4", doc, pos) ~= 0
    elseif t == TYPE_TABLE then
      return decode((sunpack("<I4", doc, pos)))
    elseif t == TYPE_STRING then
      return (sunpack("z", doc, strtbl + sunpack("<I4", doc, pos)))
    end
    error(string.format("Invalid data at %d (%d)", pos, t))
  end

  decode = function(i)
    local _, array, dict, types, pos = table_at(doc, index, base, i)
    local result = {}
    for j = 1, array do
      result[#result + 1] = value(types[j], pos)
      pos = pos + 4
    end
    for j = 1, dict do
      local key = sunpack("z", doc, strtbl + sunpack("<I4", doc, pos))
      result[key] = value(types[array + j], pos + 4)
      pos = pos + 8
    end
    numbers[result] = i
    return result
  end

  return decode(0), numbers
end

-- current table number -> last table number, for tables at the same path
local function match_tables(last, current)
  local last_root, last_numbers = ctd.undump(last)
  local cur_root, cur_numbers = ctd.undump(current)
  local map = {}
  local function walk(l, c)
    map[cur_numbers[c]] = last_numbers[l]
    for k, v in pairs(l) do
      if type(v) == "table" then
        local cv = c[k]
        if type(cv) == "table" then
          walk(v, cv)
        end
      end
    end
  end
  walk(last_root, cur_root)
  return map
end

function ctd.diff(last, current)
  local map = match_tables(last, current)
  local strtbl, index, base, n = header(current)
  local _, _, _, last_n = header(last)
  -- tables new in `current` are numbered after every table of `last`
  local total = last_n
  for i = 0, n - 1 do
    if not map[i] then
      map[i] = total
      total = total + 1
    end
  end

  -- table i of `current` with its table references renumbered
  local function renumber(i)
    local start, array, dict, types, values = table_at(current, index, base, i)
    local fixed = values - start
    local words = array + dict * 2
    local refers = false
    for j = 1, array + dict do
      if types[j] == TYPE_TABLE then
        refers = true
        break
      end
    end
    if not refers then
      return ssub(current, start, values + words * 4 - 1)
    end
    local layout = "<" .. srep("I4", words)
    local v = { sunpack(layout, current, values) }
    for j = 1, array do
      if types[j] == TYPE_TABLE then
        v[j] = map[v[j]]
      end
    end
    for j = 1, dict do
      if types[array + j] == TYPE_TABLE then
        v[array + j * 2] = map[v[array + j * 2]]
      end
    end
    return ssub(current, start, start + fixed - 1) .. spack(layout, tunpack(v, 1, words))
  end

  -- the new index: each table keeps its bytes' offset, under its new number
  local new_index = {}
  for i = 1, total do
    new_index[i] = INVALID
  end
  for i = 0, n - 1 do
    new_index[map[i] + 1] = index[i + 1]
  end

  local parts = {
    spack("<I4I4", (strtbl - 1) + (total - n) * 4, total),
    spack("<" .. srep("I4", total), tunpack(new_index, 1, total)),
  }
  for i = 0, n - 1 do
    parts[#parts + 1] = renumber(i)
  end
  parts[#parts + 1] = ssub(current, strtbl)
  return tconcat(parts)
end

return ctd
