-- Second service for test/cmodules/cmodules.lua: encodes with its own
-- instance of the cjson C module.
local skynet = require "skynet"
local cjson = require "cjson"

skynet.start(function()
  skynet.dispatch("lua", function(_, _, cmd, value)
    assert(cmd == "encode")
    skynet.ret(skynet.pack(cjson.encode(value)))
  end)
end)
