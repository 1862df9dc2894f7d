-- Config of the login example (examples/login/): a snax.loginserver on
-- 127.0.0.1:8001 and a snax.msgserver gate on port 8888. Start it from the
-- repository root:
--   ./target/release/skynet examples/config.login
-- then run the client with a plain Lua 5.4: lua5.4 examples/login/client.lua
thread = 8
logger = nil
harbor = 0
start = "main"	-- examples/login/main.lua
bootstrap = "snlua bootstrap"
luaservice = "./service/?.lua;./examples/login/?.lua"
lualoader = "lualib/loader.lua"
cpath = "./cservice/?.so"
-- Optional (not in the reference; defaults are its values):
-- login_port = 8001, gate_port = 8888, gate_address = "0.0.0.0"
