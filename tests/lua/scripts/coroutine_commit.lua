-- coroutine_commit.lua — palloc.commit() inside nested running coroutines.
-- Run 1: main resumes co1, co1 resumes co2, co2 commits, prints "COMMITTED" and waits
-- (the driver kills it). Before that, `sus` (suspended at a yield from main) and
-- `inner` (created and suspended from inside co1) are set up.
-- Later runs report the coroutines and the rest of the state; HOW = "kill" commits
-- from the main thread and waits to be killed, otherwise the run returns.
local palloc = require "palloc"
local how = arg[1]

local lib = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "lib.lua")
local say = lib.say

runs = (runs or 0) + 1
say("run", runs)

if runs == 1 then
  keep = {list = {}}
  for i = 1, 50 do keep.list[i] = i * 3 end
  sus = coroutine.create(function(a)
    local i = a
    while true do
      i = i + 1
      coroutine.yield(i)
    end
  end)
  say("sus", coroutine.resume(sus, 100))
  co1 = coroutine.create(function()
    keep.in_co1 = "co1 was here"
    inner = coroutine.create(function()
      coroutine.yield("inner1")
      coroutine.yield("inner2")
      return "inner done"
    end)
    keep.inner_first = select(2, coroutine.resume(inner))
    co2 = coroutine.create(function()
      keep.in_co2 = "co2 was here"
      local epoch = palloc.commit()
      say("COMMITTED", epoch, coroutine.status(co1), coroutine.status(co2), coroutine.status(inner))
      io.read("l")
      keep.after_commit = "must not survive"
    end)
    coroutine.resume(co2)
    keep.co1_after = "must not survive"
  end)
  coroutine.resume(co1)
  keep.main_after = "must not survive"
  return
end

local sum = 0
for _, v in ipairs(keep.list) do sum = sum + v end
say("state", #keep.list, sum, keep.in_co1, keep.in_co2, keep.inner_first, keep.after_commit,
    keep.co1_after, keep.main_after)
say("status", coroutine.status(co1), coroutine.status(co2), coroutine.status(sus), coroutine.status(inner))
say("resume_co1", coroutine.resume(co1))
say("resume_co2", coroutine.resume(co2))
say("sus", coroutine.resume(sus))
say("inner", coroutine.resume(inner))
say("inner_status", coroutine.status(inner))
local gen = coroutine.wrap(function(a) local b = coroutine.yield(a * 2); return a + b end)
say("new", gen(21), gen(1))
say("running", coroutine.isyieldable(), select(2, coroutine.running()))
if how == "kill" then
  lib.commit_and_wait("READY")
end
