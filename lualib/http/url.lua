-- http.url — splitting and decoding request targets.
--
-- Stands for the reference's lualib/http/url.lua. API:
--   url.parse(target) -> decoded path, raw query string ("" when none)
--   url.parse_query(query) -> { name = value | {value, ...} } (decoded;
--       a repeated name collects its values in a list)
-- Decoding turns '+' into a space and %XX into the byte XX.

local string, tonumber, type = string, tonumber, type

local url = {}

local function hex_byte(xx)
  return string.char(tonumber(xx, 16))
end

local function decode(text)
  local spaced = text:gsub("+", " ")
  return spaced:gsub("%%(..)", hex_byte)
end

function url.parse(target)
  local path, query = target:match "([^?]*)%??(.*)"
  if path then
    path = decode(path)
  end
  return path, query
end

function url.parse_query(query)
  local result = {}
  for k, v in query:gmatch "(.-)=([^&]*)&?" do
    local name, value = decode(k), decode(v)
    local old = result[name]
    if old == nil then
      result[name] = value
    elseif type(old) == "table" then
      old[#old + 1] = value
    else
      result[name] = { old, value }
    end
  end
  return result
end

return url
