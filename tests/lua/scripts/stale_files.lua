-- stale_files.lua — files opened before a restart.  lua-persist stale_files.lua DIR PHASE [TEXT]
-- Phase 1 opens files (DIR/old.txt for writing, DIR/input.txt for reading, an io.lines
-- iterator, a tmpfile), commits, prints READY and waits (the driver kills it).
-- Phase 2 finds them closed, opens new files (which get the descriptor numbers the old
-- handles had), tries the stale handles again, writes TEXT to DIR/new.txt and reads it
-- back; it leaves DIR/kept.txt open and written but not flushed, and returns normally.
-- Phase 3 finds kept closed.
local palloc = require "palloc"
local dir, phase, text = arg[1], arg[2], arg[3]

local lib = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "lib.lua")
local say = lib.say

-- "ok" or the error message of a call.
local function try(fn, ...)
  local ok, a, b = pcall(fn, ...)
  if not ok then return "error: " .. tostring(a) end
  return "ok " .. tostring(a) .. " " .. tostring(b)
end

if phase == "1" then
  old_w = assert(io.open(dir .. "/old.txt", "w"))
  old_w:write("written in run 1\n")
  old_w:flush()
  old_r = assert(io.open(dir .. "/input.txt", "r"))
  say("first", old_r:read("l"))
  old_lines = io.lines(dir .. "/input.txt")
  say("lines", old_lines())
  old_tmp = io.tmpfile()
  old_tmp:write("temporary")
  say("types", io.type(old_w), io.type(old_r), io.type(old_tmp))
  lib.commit_and_wait("READY")
elseif phase == "2" then
  say("types", io.type(old_w), io.type(old_r), io.type(old_tmp))
  say("tostring", tostring(old_w))
  -- New files now take the lowest free descriptors: the numbers the old handles had.
  local new = assert(io.open(dir .. "/new.txt", "w"))
  local other = assert(io.open(dir .. "/other.txt", "r"))
  say("OPENED")
  io.read("l")  -- the driver looks at the descriptors
  say("write_stale", try(old_w.write, old_w, "STALE WRITE\n"))
  say("flush_stale", try(old_w.flush, old_w))
  say("seek_stale", try(old_w.seek, old_w, "set", 0))
  say("read_stale", try(old_r.read, old_r, "l"))
  say("lines_stale", try(old_lines))
  say("tmp_stale", try(old_tmp.read, old_tmp, "a"))
  say("close_stale", try(io.close, old_w))
  say("other_read", other:read("l"))
  -- Drop the stale handles: their finalizers must not close the new descriptors.
  old_w, old_r, old_lines, old_tmp = nil, nil, nil, nil
  collectgarbage()
  collectgarbage()
  assert(new:write(text))
  say("new_close", new:close())
  say("other_read2", other:read("l"))
  other:close()
  local back = assert(io.open(dir .. "/new.txt", "rb"))
  local content = back:read("a")
  back:close()
  say("readback", #content, content == text)
  io.stdout:write("stdout works\n")
  io.stdout:flush()
  io.stderr:write("stderr works\n")
  say("std_types", io.type(io.stdout), io.type(io.stderr), io.type(io.stdin))
  kept = assert(io.open(dir .. "/kept.txt", "w"))
  kept:write("from run 2\n")  -- not flushed: the exit flushes it
  say("DONE")
elseif phase == "3" then
  say("types", io.type(kept))
  say("write_kept", try(kept.write, kept, "late\n"))
  local f = assert(io.open(dir .. "/kept.txt", "r"))
  say("kept", f:read("a"))
  f:close()
end
