-- skynet.sharedata — read-only data shared by every service of the node.
--
-- Stands for the reference's lualib/skynet/sharedata.lua. The data is built
-- once, in the unique service sharedatad, into a native store that every
-- service reads in place (skynet.sharedata.core); a service holds only
-- small proxy tables (skynet.sharedata.corelib).
--   new(name, value, ...)    value: a table, Lua source returning a table
--                            (run with ...; "@file" loads a file) or nil
--   query(name) -> proxy     cached; read it like a table
--   update(name, value, ...) replaces the data: existing proxies in every
--                            service show the new data on their next access
--   delete(name)             later queries fail; proxies keep the last data
--   flush()                  applies pending updates now
--   deepcopy(name, k1, ...)  a plain table copy (of a sub-path)
-- For each object it queried, a service keeps a monitor coroutine blocked
-- in a call to sharedatad; the answer is the newer object.

local skynet = require "skynet"
local corelib = require "skynet.sharedata.corelib"

local sharedatad

skynet.init(function()
  sharedatad = skynet.uniqueservice "sharedatad"
end)

local sharedata = {}
local cache = setmetatable({}, { __mode = "kv" })

-- Waits for newer versions of `name` and hands them to its proxies.
local function monitor(name, proxy, ticket)
  local latest = ticket
  while true do
    latest = skynet.call(sharedatad, "lua", "monitor", name, latest)
    if latest == nil then
      break
    end
    corelib.update(proxy, latest)
    skynet.send(sharedatad, "lua", "confirm", latest)
  end
  if cache[name] == proxy then
    cache[name] = nil
  end
end

function sharedata.query(name)
  local proxy = cache[name]
  if proxy then
    return proxy
  end
  local ticket = skynet.call(sharedatad, "lua", "query", name)
  proxy = cache[name]
  if proxy and corelib.ticket(proxy) == ticket then
    -- another coroutine got it while we waited
    skynet.send(sharedatad, "lua", "confirm", ticket)
    return proxy
  end
  proxy = corelib.box(ticket)
  skynet.send(sharedatad, "lua", "confirm", ticket)
  skynet.fork(monitor, name, proxy, ticket)
  cache[name] = proxy
  return proxy
end

function sharedata.new(name, v, ...)
  skynet.call(sharedatad, "lua", "new", name, v, ...)
end

function sharedata.update(name, v, ...)
  skynet.call(sharedatad, "lua", "update", name, v, ...)
end

function sharedata.delete(name)
  skynet.call(sharedatad, "lua", "delete", name)
end

function sharedata.flush()
  for _, proxy in pairs(cache) do
    corelib.flush(proxy)
  end
  collectgarbage()
end

function sharedata.deepcopy(name, ...)
  local proxy = cache[name]
  if proxy then
    return corelib.copy(proxy.__obj, ...)
  end
  local ticket = skynet.call(sharedatad, "lua", "query", name)
  local copy = corelib.copy_ticket(ticket, ...)
  skynet.send(sharedatad, "lua", "confirm", ticket)
  return copy
end

return sharedata
