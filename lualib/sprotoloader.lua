-- sprotoloader: shares parsed sproto schemas between services through the
-- process-wide slots of sproto.core (0 to 15). One service registers a schema
-- in a slot; any service then loads a schema object over it. Stands for the
-- reference's lualib/sprotoloader.lua.

local parser = require "sprotoparser"
local core = require "sproto.core"
local sproto = require "sproto"

local loader = {}

-- Parses the schema file `filename` and stores it in slot `index`.
function loader.register(filename, index)
	local f = assert(io.open(filename), "Can't open sproto file")
	local text = f:read "a"
	f:close()
	core.saveproto(core.newproto(parser.parse(text)), index)
end

-- Stores the binary schema `bin` in slot `index`.
function loader.save(bin, index)
	core.saveproto(core.newproto(bin), index)
end

-- A schema object over slot `index` (the schema stays owned by the slot).
function loader.load(index)
	return sproto.sharenew(core.loadproto(index))
end

return loader
