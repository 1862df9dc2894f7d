-- snaxbad — a snax service whose init fails, used by test_snax.
--
-- Stands for no file of the reference (test service).

function response.ping()
  return "pong"
end

function init(...)
  error("init refused: " .. tostring(...))
end
