-- stm_reader — helper service for test_stm: reads a skynet.stm object.
--
-- Stands for no file of the reference (test service). lua commands:
--   attach ticket     make the reader (stm.newcopy)
--   read              -> what reader(f) gives: false, or true + the decoded
--                        message and the extra argument passed through
--   attach_again t    newcopy on a used ticket (must fail)

local skynet = require "skynet"
local stm = require "skynet.stm"

local reader

local function decode(msg, sz, ud)
  return ud, skynet.unpack(msg, sz)
end

local commands = {}

function commands.attach(ticket)
  reader = stm.newcopy(ticket)
  return true
end

function commands.read()
  return reader(decode, "ud")
end

function commands.attach_again(ticket)
  local ok, err = pcall(stm.newcopy, ticket)
  if ok then
    return true
  end
  return false, err
end

skynet.start(function()
  skynet.dispatch("lua", function(_, _, cmd, ...)
    skynet.retpack(commands[cmd](...))
  end)
end)
