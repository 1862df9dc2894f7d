-- skynet.multicast — publish/subscribe channels.
--
-- Stands for the reference's lualib/skynet/multicast.lua. Channels are kept
-- by the unique service multicastd (started when this module initialises);
-- a published message is packed once and shared by every subscriber
-- (skynet.multicast.core). Requiring the module registers the `multicast`
-- protocol (id 2); its messages carry the channel id as their session.
--   new([conf]) -> channel object. conf.channel: an existing id (else a new
--     channel is made), conf.pack / conf.unpack (default skynet.pack /
--     skynet.unpack), conf.dispatch(channel, source, ...) for subscribers.
--   ch:subscribe()    (once; a call to multicastd)
--   ch:unsubscribe()  (also when the object is collected)
--   ch:publish(...)   every subscriber's dispatch gets (ch, publisher, ...)
--   ch:delete()       removes the channel; ch.channel becomes nil
--   tostring(ch) -> "[Multicast:<hex id>]"

local skynet = require "skynet"
local mc = require "skynet.multicast.core"

local multicastd
local multicast = {}

-- channel id -> the subscribed object that receives its messages
local subscribed = {}

local channel = {}
local channel_meta = {
  __index = channel,
  __gc = function(self)
    self:unsubscribe()
  end,
  __tostring = function(self)
    return string.format("[Multicast:%x]", self.channel)
  end,
}

function multicast.new(conf)
  assert(multicastd, "Init first")
  local self = {}
  conf = conf or self
  self.channel = conf.channel or skynet.call(multicastd, "lua", "NEW")
  self.__pack = conf.pack or skynet.pack
  self.__unpack = conf.unpack or skynet.unpack
  self.__dispatch = conf.dispatch
  return setmetatable(self, channel_meta)
end

function channel:delete()
  local id = assert(self.channel)
  skynet.send(multicastd, "lua", "DEL", id)
  self.channel = nil
  self.__subscribe = nil
end

function channel:publish(...)
  local id = assert(self.channel)
  skynet.call(multicastd, "lua", "PUB", id, mc.pack(self.__pack(...)))
end

function channel:subscribe()
  local id = assert(self.channel)
  if self.__subscribe then
    return
  end
  skynet.call(multicastd, "lua", "SUB", id)
  self.__subscribe = true
  subscribed[id] = self
end

function channel:unsubscribe()
  if not self.__subscribe then
    return
  end
  local id = assert(self.channel)
  skynet.send(multicastd, "lua", "USUB", id)
  self.__subscribe = nil
  subscribed[id] = nil
end

local function handle(self, source, msg, sz)
  return self.__dispatch(self, source, self.__unpack(msg, sz))
end

-- A published message: (channel id as session, publisher, package, data,
-- size). The session names a channel, not a request: nothing is answered.
-- The package is released whatever the dispatch function does.
local function deliver(id, source, pack, msg, sz)
  skynet.ignoreret()
  local self = subscribed[id]
  if not (self and self.__subscribe) then
    -- unsubscribed (or deleted) after multicastd sent this out
    mc.close(pack)
    return
  end
  local ok, err = pcall(handle, self, source, msg, sz)
  mc.close(pack)
  assert(ok, err)
end

skynet.init(function()
  multicastd = skynet.uniqueservice "multicastd"
  skynet.register_protocol {
    name = "multicast",
    id = skynet.PTYPE_MULTICAST,
    unpack = mc.unpack,
    dispatch = deliver,
  }
end)

return multicast
