-- locked.lua — counts runs; with "wait" prints READY and waits on stdin.
runs = (runs or 0) + 1
io.stdout:write("runs ", runs, "\n")
io.stdout:flush()
if arg[1] == "wait" then
  io.stdout:write("READY\n")
  io.stdout:flush()
  io.read("l")
end
