-- cdummy — the harbor slave of a single node (`harbor = 0`).
--
-- Stands for the reference's service/cdummy.lua. Named `.cslave` by
-- bootstrap; it starts the native `harbor` service and keeps the node's
-- global names: REGISTER binds one (and tells the harbor service), QUERYNAME
-- answers at once or as soon as the name gets registered. LINK answers at
-- once; CONNECT is meaningless here and only logs.

local skynet = require "skynet.manager"

local names = {} -- global name -> handle
local askers = {} -- global name -> response closures waiting for it
local harbor_service
local command = {}

skynet.register_protocol {
  name = "harbor",
  id = skynet.PTYPE_HARBOR,
  pack = function(...) return ... end,
  unpack = skynet.tostring,
}

skynet.register_protocol {
  name = "text",
  id = skynet.PTYPE_TEXT,
  pack = function(...) return ... end,
  unpack = skynet.tostring,
}

function command.REGISTER(name, handle)
  assert(names[name] == nil)
  names[name] = handle
  local waiting = askers[name]
  if waiting then
    askers[name] = nil
    for _, respond in ipairs(waiting) do
      respond(true, handle)
    end
  end
  -- the harbor service learns the name as a message from its owner
  skynet.redirect(harbor_service, handle, "harbor", 0, "N " .. name)
end

function command.QUERYNAME(name)
  if name:sub(1, 1) == "." then
    skynet.ret(skynet.pack(skynet.localname(name)))
    return
  end
  local handle = names[name]
  if handle then
    skynet.ret(skynet.pack(handle))
    return
  end
  local waiting = askers[name]
  if not waiting then
    waiting = {}
    askers[name] = waiting
  end
  waiting[#waiting + 1] = skynet.response()
end

function command.LINK()
  skynet.ret()
end

function command.CONNECT()
  skynet.error "Can't connect to other harbor in single node mode"
end

skynet.start(function()
  local harbor_id = tonumber(skynet.getenv "harbor")
  assert(harbor_id == 0)

  skynet.dispatch("lua", function(_, _, cmd, ...)
    local f = assert(command[cmd])
    f(...)
  end)
  skynet.dispatch("text", function()
    -- the harbor service's text commands need no answer in a single node
  end)

  harbor_service = assert(skynet.launch("harbor", harbor_id, skynet.self()))
end)
