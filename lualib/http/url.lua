-- http.url — request targets: the path and the query string.
--
-- Our version of the reference's lualib/http/url.lua, same API:
--   url.parse(target) -> path (decoded), query (as sent; "" when absent)
--   url.parse_query(query) -> table of decoded name -> value; a name given
--       more than once maps to the list of its values, in order.
-- Decoding maps '+' to a space and every "%XX" to the byte with hex code
-- XX (a '%' followed by something else than two hex digits is an error,
-- as in the reference).

local char, tonumber, type = string.char, tonumber, type

local url = {}

-- "%XX" -> the byte; raises on a malformed escape
local function unescape(hex)
  return char(tonumber(hex, 16))
end

local function decoded(text)
  -- one value only: gsub's second result (the count) is not wanted
  local spaced = text:gsub("+", " ")
  local plain = spaced:gsub("%%(..)", unescape)
  return plain
end

-- Adds one name/value pair to `into`, turning repeated names into lists.
local function remember(into, name, value)
  local seen = into[name]
  if seen == nil then
    into[name] = value
  elseif type(seen) == "table" then
    seen[#seen + 1] = value
  else
    into[name] = { seen, value }
  end
end

function url.parse(target)
  -- everything up to the first '?' is the path, everything after it the query
  local cut = target:find("?", 1, true)
  if cut == nil then
    return decoded(target), ""
  end
  return decoded(target:sub(1, cut - 1)), target:sub(cut + 1)
end

function url.parse_query(query)
  local found = {}
  -- a pair is "name=value", pairs separated by '&'; a piece without '='
  -- sticks to the name of the next pair (the reference's splitting)
  for name, value in query:gmatch "(.-)=([^&]*)&?" do
    remember(found, decoded(name), decoded(value))
  end
  return found
end

return url
