-- sharetable_data.lua — data file for case L22 (sharetable.loadfile): a chunk that returns a
-- table built from its arguments.
--
-- Stands for no reference file.

return { arg = ... }
