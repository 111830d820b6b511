-- torture_workload.lua — the program `palloc-torture --lua-persist` kills.
--
--   lua-persist --arena DIR/lua.arena torture_workload.lua SEED
--
-- Everything lives in the global `state`, so each start resumes it as of the last
-- commit. Step N's changes are a function of (SEED, N) and of the state after step N-1:
-- inserts, overwrites and deletions in a table of thousands of entries (short and long
-- string keys, sparse integer keys, float keys; strings, integers, floats, booleans and
-- nested tables as values), strings that grow, table.insert/table.remove in the middle
-- of an array, occasional batches of hundreds of entries, full garbage collections, and
-- calls into a closure, a metatable and a suspended coroutine created in an earlier run.
--
-- Output, one line per write:
--   problem TEXT                     at start: an inconsistency the digest walk found
--   info tracker T durability D epoch E
--                                    at start: how the arena is open
--   resumed STEP RECOMPUTED STORED   at start: the digest of the table as found, and the
--                                    one stored with step STEP (fresh state: step 0)
--   pre STEP DIGEST                  step STEP is applied; palloc.commit() comes next
--   ack STEP EPOCH LOG_BYTES         palloc.commit() returned
-- Digests are 16 hex digits, computed in Lua over every key and value in sorted order.
local palloc = require("palloc")

local seed = math.tointeger(tonumber(arg and arg[1] or "1")) or 1
local pack, unpack, byte, format = string.pack, string.unpack, string.byte, string.format
local math_type, sort, concat = math.type, table.sort, table.concat

local out = io.stdout
local function say(line)
  out:write(line, "\n")
  out:flush()
end

-- The generator: xorshift64* seeded by a splitmix64 finalizer of (seed, step).
local function mix64(x)
  x = (x ~ (x >> 30)) * 0xbf58476d1ce4e5b9
  x = (x ~ (x >> 27)) * 0x94d049bb133111eb
  return x ~ (x >> 31)
end

local Rng = {}
Rng.__index = Rng
local function rng_for(step)
  local s = mix64(seed * 0x9e3779b97f4a7c15 + step * 0x2545f4914f6cdd1d + 1)
  if s == 0 then s = 1 end
  return setmetatable({s = s}, Rng)
end
function Rng:next()
  local x = self.s
  x = x ~ (x >> 12)
  x = x ~ (x << 25)
  x = x ~ (x >> 27)
  self.s = x
  return x * 0x2545f4914f6cdd1d
end
function Rng:below(n) return (self:next() >> 1) % n end

local function rstring(r, len)
  local parts = {}
  for i = 1, len // 16 + 1 do parts[i] = format("%016x", r:next()) end
  return concat(parts):sub(1, len)
end

-- The digest: FNV-1a-like over 8-byte words, every value tagged with its type.
local P = 0x100000001b3
local function mixin(h, v)
  h = (h ~ v) * P
  return h ~ (h >> 29)
end

local function hstr(h, s)
  local n = #s
  h = (h ~ n) * P
  h = h ~ (h >> 29)
  local i = 1
  while i + 31 <= n do  -- four words per call into C
    local a, b, c, d = unpack("<i8i8i8i8", s, i)
    h = (h ~ a) * P
    h = (h ~ (h >> 29) ~ b) * P
    h = (h ~ (h >> 29) ~ c) * P
    h = (h ~ (h >> 29) ~ d) * P
    h = h ~ (h >> 29)
    i = i + 32
  end
  while i + 7 <= n do
    h = (h ~ unpack("<i8", s, i)) * P
    h = h ~ (h >> 29)
    i = i + 8
  end
  if i <= n then  -- the last 1..7 bytes, zero-padded
    h = (h ~ unpack("<i8", s:sub(i) .. "\0\0\0\0\0\0\0")) * P
    h = h ~ (h >> 29)
  end
  return h
end

local htable
local function hval(h, v, problems)
  local t = type(v)
  if t == "string" then return hstr(mixin(h, 1), v) end
  if t == "number" then
    if math_type(v) == "integer" then return mixin(mixin(h, 2), v) end
    return mixin(mixin(h, 3), (unpack("<i8", pack("<d", v))))
  end
  if t == "boolean" then return mixin(h, v and 5 or 4) end
  if t == "table" then return htable(mixin(h, 6), v, problems) end
  return mixin(h, 7)  -- functions and coroutines: only that they are there
end

-- Keys are numbers or strings; each kind sorted on its own (C comparisons, no Lua
-- comparator). Every short string key is also looked up through a fresh copy, which
-- goes through Lua's string table: a damaged one would not find it.
function htable(h, t, problems)
  local nums, strs = {}, {}
  for k in pairs(t) do
    if type(k) == "string" then strs[#strs + 1] = k else nums[#nums + 1] = k end
  end
  sort(nums)
  sort(strs)
  h = mixin(mixin(h, #nums), #strs)
  for i = 1, #nums do
    local k = nums[i]
    h = hval(hval(h, k, problems), t[k], problems)
  end
  for i = 1, #strs do
    local k = strs[i]
    local v = t[k]
    if #k <= 40 and rawget(t, k:sub(1)) ~= v and #problems < 10 then
      problems[#problems + 1] = format("key %q is in the table but a lookup of a copy of it does not find it", k)
    end
    h = hval(hval(h, k, problems), v, problems)
  end
  return h
end

local function digest(st, problems)
  local h = mixin(mixin(0xcbf29ce484222325, st.step), st.seed)
  h = mixin(h, st.calls)
  h = htable(h, st.map, problems)
  h = htable(h, st.arr, problems)
  local n = #st.arr
  if (n > 0 and st.arr[n] == nil) or st.arr[n + 1] ~= nil then
    problems[#problems + 1] = format("the array's length %d is not a border", n)
  end
  return h
end

-- The key spaces: short strings, long strings (not interned), sparse integers, floats.
local LONG = string.rep("long-key/", 5)
local function key(r)
  local c = r:below(10)
  if c < 6 then return "k" .. r:below(3000) end
  if c < 7 then return LONG .. r:below(400) end
  if c < 9 then return 100000 + 7 * r:below(1500) end
  return r:below(200) + 0.5
end

local function value(r, step)
  local c = r:below(10)
  if c < 4 then return rstring(r, r:below(4) == 0 and r:below(600) or r:below(48)) end
  if c < 6 then return r:next() end
  if c < 7 then return (r:next() >> 11) * 0x1p-53 * 1e6 end
  if c < 8 then return r:below(2) == 0 end
  local t = {id = step, name = rstring(r, r:below(20)), list = {}}
  for i = 1, r:below(12) do t.list[i] = r:below(1000) end
  if r:below(4) == 0 then t.sub = {x = r:next(), y = rstring(r, 8)} end
  return t
end

-- Objects made in the first run and called in every later one.
local function make_helpers(st)
  local calls = 0  -- an upvalue that outlives every restart
  st.tag = function(n)
    calls = calls + 1
    st.calls = calls
    return format("%d:%d", calls, n)
  end
  st.meta = setmetatable({}, {__index = function(_, k) return k * 3 + calls end})
  st.co = coroutine.create(function(x)
    local acc = x
    while true do
      acc = acc * 6364136223846793005 + 1442695040888963407
      x = coroutine.yield(acc >> 33)
      acc = acc ~ x
    end
  end)
end

local function mutate(st, step)
  local r = rng_for(step)
  local map, arr = st.map, st.arr
  local ok, co_value = coroutine.resume(st.co, step)
  if not ok then error("the persisted coroutine failed: " .. tostring(co_value)) end
  map["co"] = co_value
  map["tag"] = st.tag(step)
  map["meta"] = st.meta[step]
  local ops = 1 + r:below(40)
  for _ = 1, ops do
    local c = r:below(100)
    if c < 35 then
      map[key(r)] = value(r, step)
    elseif c < 55 then
      map[key(r)] = nil
    elseif c < 65 then  -- strings grow until 2 KB, then start over
      local k = key(r)
      local v = map[k]
      if type(v) == "string" then
        map[k] = #v > 2048 and v:sub(1, 10) or v .. rstring(r, 1 + r:below(100))
      end
    elseif c < 75 then
      if #arr < 4000 then table.insert(arr, 1 + r:below(#arr + 1), value(r, step)) end
    elseif c < 85 then
      if #arr > 0 then table.remove(arr, 1 + r:below(#arr)) end
    elseif c < 92 then
      local v = map[key(r)]
      if type(v) == "table" then
        v.list[#v.list + 1] = step
        if #v.list > 40 then table.remove(v.list, 1) end
        v.name = #v.name < 200 and v.name .. "+" or "reset"
      end
    else
      if #arr > 0 then arr[1 + r:below(#arr)] = st.tag(r:below(1000)) end
    end
  end
  if r:below(40) == 0 then  -- a big batch: hundreds of entries in or out at once
    local base, n = r:below(3000), 200 + r:below(600)
    if r:below(2) == 0 then
      for i = 0, n - 1 do map["k" .. (base + i) % 3000] = value(r, step) end
    else
      for i = 0, n - 1 do map["k" .. (base + i) % 3000] = nil end
    end
  end
  if r:below(30) == 0 then
    collectgarbage("collect")
  elseif r:below(4) == 0 then
    collectgarbage("step", 0)
  end
end

local function init()
  local st = {seed = seed, step = 0, calls = 0, map = {}, arr = {}}
  make_helpers(st)
  local r = rng_for(0)
  for _ = 1, 2500 do st.map[key(r)] = value(r, 0) end
  for i = 1, 500 do st.arr[i] = value(r, 0) end
  st.digest = digest(st, {})
  return st
end

state = state or init()

local problems = {}
if state.seed ~= seed then
  problems[1] = format("the state was made with seed %d, this run has seed %d", state.seed, seed)
end
local recomputed = digest(state, problems)
for _, p in ipairs(problems) do say("problem " .. p) end
local stats = palloc.stats()
say(format("info tracker %s durability %s epoch %d", stats.tracker, stats.durability, stats.epoch))
say(format("resumed %d %016x %016x", state.step, recomputed, state.digest))

while true do
  local step = state.step + 1
  mutate(state, step)
  state.step = step
  state.digest = digest(state, {})
  say(format("pre %d %016x", step, state.digest))
  local epoch = palloc.commit()
  say(format("ack %d %d %d", step, epoch, palloc.stats().log_bytes))
end
