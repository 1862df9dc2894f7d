-- bootstrap — the first Lua service of a node (config `bootstrap`).
--
-- Stands for the reference's service/bootstrap.lua (runtime.md, boot
-- sequence). Brings up, in this order: the launcher (.launcher); the harbor
-- slave (.cslave) — cdummy for a lone node (`harbor = 0`, which also sets
-- `standalone`), else cslave, preceded by cmaster on the `standalone` node;
-- datacenterd (DATACENTER) on the standalone node; service_mgr; the TLS
-- holder when `enablessl` is "true"; and finally the `start` service
-- (default "main"). Then it exits. A harbor service that cannot start
-- aborts the node.

local skynet = require "skynet.manager"
local service = require "skynet.service"

-- newservice, aborting the node when it fails
local function essential(name)
  local ok, handle = pcall(skynet.newservice, name)
  if not ok then
    skynet.abort()
  end
  return handle
end

-- Starts the harbor side of the node; true when this node is the one that
-- hosts the shared services (the master, or a node on its own).
local function start_harbor(harbor_id, standalone)
  if harbor_id ~= 0 then
    if standalone then
      essential "cmaster"
    end
    skynet.name(".cslave", essential "cslave")
    return standalone
  end
  -- a node on its own: no master, no other harbors
  assert(standalone == nil)
  skynet.setenv("standalone", "true")
  skynet.name(".cslave", essential "cdummy")
  return true
end

local function hold_tls()
  service.new("ltls_holder", function()
    local ltls = require "ltls.init.c"
    ltls.constructor()
  end)
end

skynet.start(function()
  skynet.name(".launcher", assert(skynet.launch("snlua", "launcher")))

  local harbor_id = tonumber(skynet.getenv "harbor" or 0)
  if start_harbor(harbor_id, skynet.getenv "standalone") then
    skynet.name("DATACENTER", skynet.newservice "datacenterd")
  end
  skynet.newservice "service_mgr"

  if skynet.getenv "enablessl" == "true" then
    hold_tls()
  end

  pcall(skynet.newservice, skynet.getenv "start" or "main")
  skynet.exit()
end)
