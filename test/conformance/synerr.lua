-- synerr.lua — helper for case G15: this file has a syntax error ON PURPOSE (a vararg
-- outside a vararg function, line 4), so loading the service must fail with the compiler message.
local function f()
	return ...
end
return f
