-- st_data — a data file for test_sharetable (`sharetable.loadfile`).
--
-- Stands for no file of the reference (test data).
local arg = ...
return {
  arg = arg,
  list = { "p", "q", "r" },
}
