-- cmemory — prints the memory every service uses, then exits.
--
-- Stands for the reference's service/cmemory.lua. The numbers come from the
-- native module `skynet.memory` (the runtime's allocator statistics): its
-- own dump, then one line per service (":handle <KiB>K") and the totals, on
-- stdout. The report is made while the service loads.

local skynet = require "skynet"
local memory = require "skynet.memory"

local function report()
  memory.dumpinfo()
  for handle, bytes in pairs(memory.info()) do
    print(string.format(":%08x %gK", handle, bytes / 1024))
  end
  print("Total memory:", memory.total())
  print("Total block:", memory.block())
end

report()

skynet.start(skynet.exit)
