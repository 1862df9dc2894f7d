-- cdummy — the harbor slave of a node that runs alone (`harbor = 0`).
--
-- Stands for the reference's service/cdummy.lua; bootstrap names it
-- `.cslave`. It launches the native `harbor` service and is the keeper of
-- the node's global names:
--   REGISTER name handle  binds a global name (once) and tells the harbor
--                         service, as a message from the named service
--   QUERYNAME name        ".name": the local handle; a global name: its
--                         handle, answered as soon as it is registered
--   LINK                  answered at once (there is no other harbor)
--   CONNECT               only logs: single node mode has no other harbors
-- Text messages from the harbor service are ignored.

local skynet = require "skynet"
require "skynet.manager" -- skynet.launch

-- global name -> handle
local global_names = {}
-- global name -> response closures of QUERYNAME requests waiting for it
local waiting_queries = {}
-- the native harbor service
local harbor_service

-- harbor and text messages are plain strings both ways
for pname, ptype in pairs { harbor = skynet.PTYPE_HARBOR, text = skynet.PTYPE_TEXT } do
  skynet.register_protocol {
    id = ptype,
    name = pname,
    pack = function(...)
      return ...
    end,
    unpack = skynet.tostring,
  }
end

local function wait_for(name)
  local queue = waiting_queries[name]
  if queue == nil then
    queue = {}
    waiting_queries[name] = queue
  end
  queue[#queue + 1] = skynet.response()
end

local function answer_waiting(name, handle)
  local queue = waiting_queries[name]
  waiting_queries[name] = nil
  for _, respond in ipairs(queue or {}) do
    respond(true, handle)
  end
end

local requests = {}

function requests.REGISTER(name, handle)
  assert(global_names[name] == nil)
  global_names[name] = handle
  answer_waiting(name, handle)
  -- the harbor service learns the name from its owner
  skynet.redirect(harbor_service, handle, "harbor", 0, "N " .. name)
end

function requests.QUERYNAME(name)
  if name:sub(1, 1) == "." then
    return skynet.retpack(skynet.localname(name))
  end
  local handle = global_names[name]
  if handle == nil then
    return wait_for(name)
  end
  skynet.retpack(handle)
end

function requests.LINK()
  skynet.ret()
end

function requests.CONNECT()
  skynet.error "Can't connect to other harbor in single node mode"
end

skynet.dispatch("lua", function(_, _, request, ...)
  local handler = assert(requests[request])
  handler(...)
end)

-- nothing in the harbor service's text reports needs an answer here
skynet.dispatch("text", function() end)

skynet.start(function()
  local harbor_id = tonumber(skynet.getenv "harbor")
  assert(harbor_id == 0)
  harbor_service = assert(skynet.launch("harbor", harbor_id, skynet.self()))
end)
