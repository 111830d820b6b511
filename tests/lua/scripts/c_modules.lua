-- c_modules.lua — luasocket and cjson across restarts.  lua-persist c_modules.lua HOW JSON
-- Every run: encodes and decodes with cjson (JSON is a document from the driver),
-- reads socket.gettime(), checks the server socket of the first run (closed after a
-- restart), binds a new server and serves one connection from the driver ("port N"
-- announces it). HOW: "kill" commits and waits to be killed; otherwise returns.
local palloc = require "palloc"
local socket = require "socket"
local cjson = require "cjson"

local lib = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "lib.lua")
local say = lib.say

local how, doc = arg[1], arg[2]
runs = (runs or 0) + 1
say("run", runs)

if runs == 1 then
  first_srv = assert(socket.bind("127.0.0.1", 0))
  first_port = select(2, first_srv:getsockname())
  first_client = assert(socket.connect("127.0.0.1", first_port))
  first_encode = cjson.encode  -- a C function of the module kept in a global
  first_gettime = socket.gettime
end

-- cjson: decode the driver's document, change it, encode it back.
local t = cjson.decode(doc)
t.run = runs
t.sum = 0
for _, v in ipairs(t.list) do t.sum = t.sum + v end
say("json", cjson.encode(t))
say("json_old_fn", first_encode({runs, "x"}))

-- socket.gettime, through the module and through the function kept from run 1.
say("time", string.format("%.3f", socket.gettime()), string.format("%.3f", first_gettime()))

-- The first run's sockets (until run 3 drops them).
if first_srv then
  first_srv:settimeout(0)
  local c, err = first_srv:accept()  -- run 1: first_client's connection is pending
  say("old_accept", c and "connection" or "nil", err)
  if c then c:close() end
  local n, serr = first_client:send("x")
  say("old_send", tostring(n), tostring(serr))
else
  say("old_accept", "dropped")
end
if prev_srv then
  prev_srv:settimeout(0)
  say("prev_accept", select(2, prev_srv:accept()))
end
if runs == 3 then
  -- Drop the old sockets: their finalizers must not close this run's descriptors.
  first_srv, first_client, prev_srv = nil, nil, nil
  collectgarbage()
  collectgarbage()
end

-- A new server; the driver connects and reads one line.
local srv = assert(socket.bind("127.0.0.1", 0))
srv:settimeout(20)
say("port", select(2, srv:getsockname()))
local conn = assert(srv:accept())
conn:settimeout(20)
local line = assert(conn:receive("*l"))
assert(conn:send("echo " .. line .. " run " .. runs .. "\n"))
conn:close()
prev_srv = srv
say("cmods", palloc.stats().c_modules)

if how == "kill" then
  lib.commit_and_wait("READY")
end
