-- skynet.multicast — publish/subscribe channels.
--
-- Stands for the reference's lualib/skynet/multicast.lua. Channels live in
-- the unique service multicastd (started when this module initialises); a
-- publication is packed once into a shared package (skynet.multicast.core)
-- that every subscriber of the node reads. Requiring the module registers
-- the `multicast` protocol (id 2), whose messages carry the channel id as
-- their session.
--   new([conf]) -> channel object. conf.channel: an existing id (else a new
--     channel is made), conf.pack / conf.unpack (default skynet.pack /
--     skynet.unpack), conf.dispatch(channel, source, ...) for subscribers.
--   ch:subscribe()    (once; a call to multicastd)
--   ch:unsubscribe()  (also when the object is collected)
--   ch:publish(...)   every subscriber's dispatch gets (ch, publisher, ...)
--   ch:delete()       removes the channel; ch.channel becomes nil
--   tostring(ch) -> "[Multicast:<hex id>]"
-- An object keeps the reference's fields: channel, __pack, __unpack,
-- __dispatch and __subscribe (true while subscribed).

local skynet = require "skynet"
local mc = require "skynet.multicast.core"

local service -- multicastd, known once the module is initialised

-- channel id -> the object of this service subscribed to it
local listeners = {}

local Channel = {}
Channel.__index = Channel

function Channel:__tostring()
  return string.format("[Multicast:%x]", self.channel)
end

-- a channel object that is collected stops listening
function Channel:__gc()
  self:unsubscribe()
end

-- Sends multicastd `request` about the channel (`how`: skynet.call or
-- skynet.send) and returns the channel id; a deleted channel is an error.
local function ask(self, how, request, ...)
  local id = assert(self.channel)
  how(service, "lua", request, id, ...)
  return id
end

function Channel:subscribe()
  if self.__subscribe then
    return
  end
  listeners[ask(self, skynet.call, "SUB")] = self
  self.__subscribe = true
end

function Channel:unsubscribe()
  if self.__subscribe then
    listeners[ask(self, skynet.send, "USUB")] = nil
    self.__subscribe = nil
  end
end

-- every subscriber (and this service, if it is one) gets (ch, publisher, ...)
function Channel:publish(...)
  assert(self.channel)
  local box, size = mc.pack(self.__pack(...))
  ask(self, skynet.call, "PUB", box, size)
end

-- the channel is gone for every node; this object can do nothing more
function Channel:delete()
  ask(self, skynet.send, "DEL")
  self.__subscribe, self.channel = nil, nil
end

local multicast = {}

function multicast.new(conf)
  assert(service, "Init first")
  local ch = setmetatable({}, Channel)
  -- without a conf the object configures itself: nothing is set, so a new
  -- channel with the default codec and no dispatch function
  conf = conf or ch
  ch.__pack = conf.pack or skynet.pack
  ch.__unpack = conf.unpack or skynet.unpack
  ch.__dispatch = conf.dispatch
  ch.channel = conf.channel or skynet.call(service, "lua", "NEW")
  return ch
end

-- The subscriber's dispatch function on the decoded publication.
local function hand_over(ch, source, msg, sz)
  return ch.__dispatch(ch, source, ch.__unpack(msg, sz))
end

-- A publication (channel id as session, publisher, package, data, size).
-- The session names a channel, not a request: nothing is answered. This
-- service's reference to the package is dropped whatever happens; an
-- object that stopped listening after multicastd sent it out (or was
-- deleted) just lets it go.
local function on_publication(id, source, pack, msg, sz)
  local ch = listeners[id]
  local ok, err = true, nil
  skynet.ignoreret()
  if ch and ch.__subscribe then
    ok, err = pcall(hand_over, ch, source, msg, sz)
  end
  mc.close(pack)
  assert(ok, err)
end

-- registered once the module initialises, like the service is found
local protocol = { name = "multicast", id = skynet.PTYPE_MULTICAST }
protocol.unpack, protocol.dispatch = mc.unpack, on_publication

skynet.init(function()
  service = skynet.uniqueservice "multicastd"
  skynet.register_protocol(protocol)
end)

return multicast
