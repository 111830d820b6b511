-- host_count.lua — for lua-host under `palloc run`: counts runs and keeps a history.
-- arg[1] = "kill": commit through the palloc module, print "committed", wait on stdin
-- (the driver kills it); otherwise return (lua_close commits).
runs = (runs or 0) + 1
history = history or {}
history[#history + 1] = runs * 10
local sum = 0
for _, v in ipairs(history) do sum = sum + v end
io.stdout:write(string.format("runs %d %d %d %s\n", runs, #history, sum, tostring(require("palloc").resumed())))
io.stdout:flush()
if arg[1] == "kill" then
  require("palloc").commit()
  io.stdout:write("committed\n")
  io.stdout:flush()
  io.read("l")
end
