-- sprotoloader: hands parsed sproto schemas from one service to the others.
-- sproto.core keeps sixteen process-wide slots (0 to 15); a schema put in a
-- slot stays there for the life of the process, and any service can build a
-- schema object over it without parsing again. Stands for the reference's
-- lualib/sprotoloader.lua (same three functions, same error text).

local core = require "sproto.core"
local sproto = require "sproto"

-- Compiles the binary schema `binary` and parks it in `slot`.
local function keep(binary, slot)
  local compiled = core.newproto(binary)
  core.saveproto(compiled, slot)
end

-- The whole text of a schema file.
local function schema_text(path)
  local file = assert(io.open(path), "Can't open sproto file")
  local text = file:read "a"
  file:close()
  return text
end

return {
  -- register(filename, slot): parse a schema file and park it in the slot.
  register = function(filename, slot)
    local parser = require "sprotoparser"
    keep(parser.parse(schema_text(filename)), slot)
  end,

  -- save(binary, slot): park an already parsed binary schema.
  save = keep,

  -- load(slot) -> schema object; the slot keeps owning the schema, so the
  -- object has no finaliser.
  load = function(slot)
    return sproto.sharenew(core.loadproto(slot))
  end,
}
