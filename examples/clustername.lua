-- The cluster node table of examples/config.c2 (the `cluster` key): node
-- name = "host:port". Keys starting with "__" are clusterd options.
__nowaiting = true	-- false: cluster.call waits while a node name is unknown

db = "127.0.0.1:2528"
db2 = "127.0.0.1:2529"
