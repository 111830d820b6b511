-- large_heap.lua — a state of more than a gigabyte.  lua-persist large_heap.lua N SIZE SAMPLES
-- First run: big[i] (i = 1..N) is string.rep(string.format("%015d|", i), SIZE // 16), a
-- distinct long string of SIZE bytes each. Every run: checks all lengths and prints,
-- for the listed sample indexes (comma separated), a sampled hash of the entry:
-- sum of byte(j) * j over j = 1, 1 + 4093, ... modulo 2^32, plus its first 16 bytes.
local palloc = require "palloc"
local N, SIZE, samples = tonumber(arg[1]), tonumber(arg[2]), arg[3]

local lib = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "lib.lua")
local say = lib.say

say("begin", tostring(big ~= nil))
local clock0 = os.clock()
if big == nil then
  big = {}
  for i = 1, N do big[i] = string.rep(string.format("%015d|", i), SIZE // 16) end
  say("built", #big)
end

local total, bad = 0, 0
for i = 1, #big do
  local len = #big[i]
  total = total + len
  if len ~= SIZE then bad = bad + 1 end
end
say("entries", #big, total, bad)

for idx in samples:gmatch("%d+") do
  local i = tonumber(idx)
  local s = big[i]
  local h = 0
  for j = 1, #s, 4093 do h = (h + s:byte(j) * j) % (1 << 32) end
  say("sample", i, h, s:sub(1, 16), s:sub(-16))
end

local st = palloc.stats()
say("stats", st.lua_bytes, st.arena_bytes, tostring(st.resumed))
say("cpu", string.format("%.2f", os.clock() - clock0))
