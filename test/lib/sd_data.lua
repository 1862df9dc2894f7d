-- sd_data — a data file for test_sharedata (`sharedata.new(name, "@file", ...)`).
--
-- Stands for no file of the reference (test data).
local scale = ...
return {
  name = "from file",
  scale = scale,
  list = { 1, 2, 3 },
}
