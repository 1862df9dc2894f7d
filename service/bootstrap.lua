-- bootstrap — the first Lua service of a node (config `bootstrap`).
--
-- Stands for the reference's service/bootstrap.lua. It starts, in order:
-- the launcher (.launcher), the harbor slave (.cslave: cdummy when
-- `harbor = 0`, else cslave, plus cmaster when this node is `standalone`),
-- datacenterd (DATACENTER, on the node that hosts the master), service_mgr,
-- then the `start` service (default "main"), and exits once that service's
-- start function has returned.

local skynet = require "skynet.manager"
local service = require "skynet.service"

local function must_launch(name)
  local ok, handle = pcall(skynet.newservice, name)
  if not ok then
    skynet.abort()
  end
  return handle
end

skynet.start(function()
  local launcher = assert(skynet.launch("snlua", "launcher"))
  skynet.name(".launcher", launcher)

  local standalone = skynet.getenv "standalone"
  local harbor_id = tonumber(skynet.getenv "harbor" or 0)
  if harbor_id == 0 then
    -- a single node: no master, no other harbors
    assert(standalone == nil)
    standalone = true
    skynet.setenv("standalone", "true")
    skynet.name(".cslave", must_launch "cdummy")
  else
    if standalone then
      must_launch "cmaster"
    end
    skynet.name(".cslave", must_launch "cslave")
  end

  if standalone then
    skynet.name("DATACENTER", skynet.newservice "datacenterd")
  end
  skynet.newservice "service_mgr"

  if skynet.getenv "enablessl" == "true" then
    service.new("ltls_holder", function()
      local ltls = require "ltls.init.c"
      ltls.constructor()
    end)
  end

  pcall(skynet.newservice, skynet.getenv "start" or "main")
  skynet.exit()
end)
