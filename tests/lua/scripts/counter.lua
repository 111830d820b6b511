-- counter.lua — counts its runs.  lua-persist counter.lua HOW
-- HOW: "kill" commits, prints "committed" and waits on stdin (the driver kills it);
-- "osexit" ends with os.exit(0), "osexit_close" with os.exit(true, true); anything
-- else returns normally. Only "kill" commits explicitly: the others rely on the
-- commit at exit.
count = (count or 0) + 1
io.stdout:write("count ", count, "\n")
io.stdout:flush()
local how = arg[1]
if how == "kill" then
  require("palloc").commit()
  io.stdout:write("committed\n")
  io.stdout:flush()
  io.read("l")
elseif how == "osexit" then
  os.exit(0)
elseif how == "osexit_close" then
  os.exit(true, true)
end
