-- types.lua — every kind of Lua value kept across restarts.
--   lua-persist types.lua MARKER FINAL
-- MARKER: file the __gc finalizer appends to; FINAL = "final" on the last run, which
-- drops the finalizable object. Each run prints "DUMP ..." lines (a canonical dump of
-- the static data, identical in every run) and "CHECK name values..." lines, commits,
-- prints READY and waits on stdin: EOF -> plain return, "osexit" -> os.exit(0, true); the
-- driver may kill it instead.
local palloc = require "palloc"
local marker, final = arg[1], arg[2] == "final"

local lib = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "lib.lua")
local say, fnv1a = lib.say, lib.fnv1a

local function hex(s) return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end)) end

-- Canonical text of a scalar (also of keys).
local function scalar(v)
  local ty = math.type(v) or type(v)
  if ty == "integer" then return string.format("i:%d", v) end
  if ty == "float" then
    if v ~= v then return "f:nan" end
    return "f:" .. hex(string.pack(">d", v))
  end
  if ty == "string" then
    if #v <= 64 then return "s:" .. hex(v) end
    return string.format("S:%d:%08x", #v, fnv1a(v))
  end
  if ty == "boolean" then return "b:" .. tostring(v) end
  error("unexpected value of type " .. ty)
end

-- Depth-first over tables, keys in the order of their canonical text; a table is
-- numbered when first reached, so cycles and shared subtables show as T<id>.
local function dump(root)
  local ids, n, lines = {}, 0, {}
  local function visit(t)
    if ids[t] then return "T" .. ids[t] end
    n = n + 1
    ids[t] = n
    local me, keys = n, {}
    for k in pairs(t) do keys[#keys + 1] = {scalar(k), k} end
    table.sort(keys, function(a, b) return a[1] < b[1] end)
    for _, kk in ipairs(keys) do
      local v = t[kk[2]]
      local text = type(v) == "table" and visit(v) or scalar(v)
      lines[#lines + 1] = string.format("T%d %s %s", me, kk[1], text)
    end
    return "T" .. me
  end
  visit(root)
  return lines
end

runs = (runs or 0) + 1

if runs == 1 then
  marker_path = marker
  local t = {}
  for i = 1, 100 do t[i] = i * i end
  t.name = "short"
  t[2.5] = "float key"
  t[true] = "bool key"
  t[-7] = "negative key"
  t.nested = {a = {b = {c = {d = "deep"}}}}
  t.self = t
  t.nested.a.b.c.up = t.nested
  t.shared1 = {x = 1}
  t.shared2 = t.shared1
  t.long1 = string.rep("abc", 10000) .. "end"
  local bytes = {}
  for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
  t.long2 = string.rep(table.concat(bytes), 200)
  t.nums = {
    maxint = math.maxinteger, minint = math.mininteger, zero = 0, fzero = 0.0, negzero = -0.0,
    tenth = 0.1, inf = 1 / 0, ninf = -1 / 0, nan = 0 / 0, big = 2 ^ 53, huge = 1e308,
    tiny = 5e-324, pi = math.pi, third = 1 / 3, neg = -123456789012345,
  }
  t.packed = string.pack("<i4 d z s2 j", 1234567, 3.25, "zstr", "sized", -42)
  t.utf = utf8.char(72, 228, 8364, 128512)
  t.empty = {}
  t.emptystr = ""
  t.holes = {[1] = "one", [3] = "three", [1000] = "thousand"}
  data = t

  -- Two closures over one local, and a closure over a loop variable.
  do
    local total = 0
    add = function(d) total = total + d; return total end
    get = function() return total end
  end
  adders = {}
  for i = 1, 3 do adders[i] = function(x) return x + i * 100 end end

  -- Metatables: a vector type with __index methods, __add, __tostring, __eq, __len;
  -- a class chain through __index tables.
  Vec = {}
  Vec.__index = Vec
  Vec.__add = function(a, b) return Vec.new(a.x + b.x, a.y + b.y) end
  Vec.__tostring = function(v) return string.format("(%d,%d)", v.x, v.y) end
  Vec.__eq = function(a, b) return a.x == b.x and a.y == b.y end
  Vec.__len = function(v) return v.x * v.x + v.y * v.y end
  function Vec.new(x, y) return setmetatable({x = x, y = y}, Vec) end
  function Vec:dot(o) return self.x * o.x + self.y * o.y end
  base_v = Vec.new(10, 20)
  Base = {kind = "base", greet = function(self) return "hello " .. self.name end}
  Derived = setmetatable({kind = "derived"}, {__index = Base})
  obj = setmetatable({name = "obj"}, {__index = Derived})
  proxy = setmetatable({}, {__index = function(_, k) return "computed:" .. k end,
                            __newindex = function(t, k, v) rawset(t, k, v * 2) end})
  proxy.doubled = 21

  -- Coroutines suspended mid-way: a Fibonacci generator, and one that yields deep in
  -- a recursion with pcall frames (continuations) on its stack.
  fib = coroutine.create(function()
    local a, b = 1, 1
    while true do
      coroutine.yield(a)
      a, b = b, a + b
    end
  end)
  deep = coroutine.create(function()
    local function rec(d, acc)
      if d == 0 then
        local i = 0
        while true do
          i = i + 1
          coroutine.yield(acc * 1000 + i)
        end
      end
      local ok, r = pcall(rec, d - 1, acc + d)
      return r
    end
    return rec(20, 0)
  end)
  wrapped = coroutine.wrap(function()
    for i = 1, math.huge do coroutine.yield("w" .. i) end
  end)

  -- Weak tables: keys 1..5 are also held strongly, 6..10 only weakly.
  held = {}
  wk = setmetatable({}, {__mode = "k"})
  wv = setmetatable({}, {__mode = "v"})
  for i = 1, 10 do
    local key = {i = i}
    wk[key] = i
    wv[i] = key
    if i <= 5 then held[i] = key end
  end

  -- A finalizable object that lives on: its finalizer must not run at exit.
  fin = setmetatable({payload = "finalizable"}, {__gc = function(o)
    local f = io.open(marker_path, "a")
    f:write("finalized ", o.payload, " in run ", runs, "\n")
    f:close()
    finalized_in = runs
  end})

  -- A long string used as a key; string keys built anew after a restart must find it.
  lkey = {[string.rep("k", 100)] = "long key", [("na" .. "me")] = "short key"}
end

-- The static data: identical in every run.
for _, line in ipairs(dump(data)) do say("DUMP", line) end

say("CHECK runs", runs)
say("CHECK exits", exits or 0)
say("CHECK resumed", palloc.resumed())

-- Shared upvalue: add through one closure, read through the other.
add(runs)
say("CHECK shared", get(), debug.upvalueid(add, 1) == debug.upvalueid(get, 1))
say("CHECK adders", adders[1](runs), adders[2](runs), adders[3](runs))

-- Metatables.
local v = Vec.new(runs, 2 * runs) + base_v
say("CHECK vec", tostring(v), #v, v:dot(Vec.new(1, 1)), v == Vec.new(runs + 10, 2 * runs + 20))
say("CHECK class", obj:greet(), obj.kind, Derived.kind, Base.kind, proxy.anything, rawget(proxy, "doubled"))

-- Coroutines continue their sequences.
local ok1, f = coroutine.resume(fib)
local ok2, d = coroutine.resume(deep)
say("CHECK coroutines", ok1, f, ok2, d, wrapped(), coroutine.status(fib), coroutine.status(deep))

-- Numbers computed now from the kept ones.
local nums = data.nums
say("CHECK arith", nums.maxint + 1 == math.mininteger, nums.nan ~= nums.nan, math.type(nums.fzero),
    math.type(nums.zero), 1 / nums.negzero, nums.big + 1 == nums.big, nums.maxint // 7)

-- string.pack data unpacks; utf8 decodes.
local i4, dbl, z, s2, j = string.unpack("<i4 d z s2 j", data.packed)
say("CHECK unpack", i4, dbl, z, s2, j)
local cps = {}
for _, c in utf8.codes(data.utf) do cps[#cps + 1] = c end
say("CHECK utf8", utf8.len(data.utf), table.concat(cps, ","))

-- Strings built in this run meet the kept ones: interning and long-string equality.
say("CHECK strings", data[("na" .. "me")], data.name == ("sh" .. "ort"), lkey[string.rep("k", 100)],
    lkey[("n" .. "ame")], data.long1 == string.rep("abc", 10000) .. "end", #data.long2)

-- Weak tables after a full collection.
if runs == 3 then held[5] = nil end
collectgarbage()
collectgarbage()
local n, sum = 0, 0
for k, val in pairs(wk) do n = n + 1; sum = sum + val end
local nv = 0
for _ in pairs(wv) do nv = nv + 1 end
say("CHECK weak", n, sum, nv)
say("CHECK gc", collectgarbage("count") > 0, collectgarbage("isrunning"))

if final then
  fin = nil
  collectgarbage()
  collectgarbage()
  say("CHECK finalized", finalized_in)
else
  say("CHECK finalized", finalized_in, fin.payload)
end

local how = lib.commit_and_wait("READY")
exits = (exits or 0) + 1  -- committed only by the commit at exit
if how == "osexit" then os.exit(0, true) end  -- closes the state: no finalizer may run
