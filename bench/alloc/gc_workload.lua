-- A garbage-collector-heavy Lua 5.4 workload for the allocator benchmarks: Lua allocates
-- every table, string, closure and upvalue through realloc/free, so this measures an
-- allocator under a real interpreter. It builds and drops trees of tables, many short
-- strings, closures and growing/shrinking tables, and checks what it built (an error
-- exits non-zero).
--
--   lua5.4 gc_workload.lua [SCALE]     SCALE 1 (default) runs about 1-2 s; 0.1 is quick

local scale = tonumber(arg[1]) or 1
local function n(base) return math.max(1, math.floor(base * scale)) end

-- 1. Binary trees of tables: one long-lived tree, many short-lived ones.
local function tree(d)
  if d == 0 then return { item = d } end
  return { tree(d - 1), tree(d - 1), item = d }
end
local function check(t)
  if t[1] == nil then return 1 end
  return 1 + check(t[1]) + check(t[2])
end
local long_lived = tree(14)
for depth = 4, 12, 2 do
  local iters = n(2 ^ (16 - depth))
  for _ = 1, iters do
    local c = check(tree(depth))
    assert(c == 2 ^ (depth + 1) - 1, "tree of depth " .. depth .. " has " .. c .. " nodes")
  end
end

-- 2. Short strings: formatted, concatenated, used as keys, dropped; some kept and
--    checked again after many collections.
local kept = {}
local words = n(300000)
for i = 1, words do
  local s = string.format("key-%d-%x", i, i * 2654435761 % 4294967296)
  local t = { name = s, upper = s:upper(), len = #s }
  if i % 1000 == 0 then kept[#kept + 1] = t end
end
local parts = {}
for i = 1, n(100000) do parts[#parts + 1] = tostring(i) .. "," end
local joined = table.concat(parts)
assert(#joined > 0 and joined:sub(1, 4) == "1,2,")

-- 3. Closures with upvalues: counters created, called and dropped.
local total = 0
local counters = n(200000)
for i = 1, counters do
  local count = i
  local inc = function(k) count = count + k; return count end
  inc(1)
  total = total + inc(2)
end
-- sum of (i + 3) for i = 1..counters
assert(total == counters * (counters + 1) // 2 + 3 * counters, "closure sum")

-- 4. Tables used as queues and hash maps: grow, shrink, rehash.
local map = {}
local live = 0
for i = 1, n(400000) do
  map["k" .. (i % 50000)] = { i, i * 2 }
  if i % 3 == 0 then
    local k = "k" .. ((i * 7) % 50000)
    if map[k] then map[k] = nil end
  end
end
for _, v in pairs(map) do
  assert(v[2] == 2 * v[1], "map entry")
  live = live + 1
end

-- The strings kept in part 2 must have survived every collection unchanged.
for j, t in ipairs(kept) do
  local i = j * 1000
  assert(t.name == string.format("key-%d-%x", i, i * 2654435761 % 4294967296), "kept string " .. i)
  assert(t.upper == t.name:upper() and t.len == #t.name)
end
assert(check(long_lived) == 2 ^ 15 - 1, "long-lived tree")

print(string.format("lua gc workload: scale=%g words=%d closures=%d map=%d kept=%d memory=%.1f MiB",
  scale, words, counters, live, #kept, collectgarbage("count") / 1024))
