-- skynet.sharedata — read-only data that every service of the node reads
-- in place.
--
-- Stands for the reference's lualib/skynet/sharedata.lua. The unique
-- service sharedatad builds each data set once into the native store
-- (skynet.sharedata.core); a service only holds small proxy tables over it
-- (skynet.sharedata.corelib).
--   new(name, value, ...)    value: a table, Lua source returning a table
--                            (run with ...; "@file" loads a file) or nil
--   query(name) -> proxy     cached per name; read it like a table
--   update(name, value, ...) replaces (or creates) the data; proxies in
--                            every service show it on their next access
--   delete(name)             later queries fail; proxies keep the last data
--   flush()                  applies pending updates now
--   deepcopy(name, k1, ...)  a plain table copy (of a sub-path)
-- Objects travel as tickets. Every ticket this service receives from
-- sharedatad (query, monitor) counts as a reference there until this
-- service confirms it, once its own box holds the object. For each name it
-- queried, the service keeps a coroutine blocked in a `monitor` call, which
-- sharedatad answers with the newer ticket, or with nothing on delete.

local skynet = require "skynet"
local corelib = require "skynet.sharedata.corelib"

local sharedata = {}

local server -- sharedatad
local proxies = setmetatable({}, { __mode = "kv" }) -- name -> root proxy

local function ask(what, ...)
  return skynet.call(server, "lua", what, ...)
end

local function confirm(ticket)
  skynet.send(server, "lua", "confirm", ticket)
end

-- Hands each newer version of `name` to `proxy` until the name is deleted.
local function follow(name, proxy, ticket)
  repeat
    ticket = ask("monitor", name, ticket)
    if ticket ~= nil then
      corelib.update(proxy, ticket)
      confirm(ticket)
    end
  until ticket == nil
  if proxies[name] == proxy then
    proxies[name] = nil
  end
end

function sharedata.query(name)
  local proxy = proxies[name]
  if proxy then
    return proxy
  end
  local ticket = ask("query", name)
  -- a coroutine that asked at the same time may have made the proxy
  proxy = proxies[name]
  if not (proxy and corelib.ticket(proxy) == ticket) then
    proxy = corelib.box(ticket)
    proxies[name] = proxy
    skynet.fork(follow, name, proxy, ticket)
  end
  confirm(ticket)
  return proxy
end

-- new, update and delete are plain requests (no result)
for _, what in ipairs { "new", "update", "delete" } do
  sharedata[what] = function(name, ...)
    ask(what, name, ...)
  end
end

function sharedata.flush()
  for _, proxy in pairs(proxies) do
    corelib.flush(proxy)
  end
  collectgarbage()
end

function sharedata.deepcopy(name, ...)
  local proxy = proxies[name]
  if proxy then
    return corelib.copy(proxy.__obj, ...)
  end
  local ticket = ask("query", name)
  local copy = corelib.copy_ticket(ticket, ...)
  confirm(ticket)
  return copy
end

skynet.init(function()
  server = skynet.uniqueservice "sharedatad"
end)

return sharedata
