-- lib.lua — helpers shared by the test scripts. Loaded with dofile (not require, whose
-- package.loaded entry would persist across restarts):
--   local lib = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "lib.lua")
local lib = {}

-- Prints the arguments (each through tostring) separated by spaces, and flushes.
function lib.say(...)
  local parts = table.pack(...)
  for i = 1, parts.n do parts[i] = tostring(parts[i]) end
  io.stdout:write(table.concat(parts, " "), "\n")
  io.stdout:flush()
end

-- Commits, prints WORD and waits for a line on stdin (the driver may kill the process
-- instead); returns that line (nil at EOF).
function lib.commit_and_wait(word)
  require("palloc").commit()
  lib.say(word)
  return io.read("l")
end

-- FNV-1a of a string, 32 bits.
function lib.fnv1a(s)
  local h = 2166136261
  for i = 1, #s do h = ((h ~ s:byte(i)) * 16777619) % (1 << 32) end
  return h
end

return lib
