-- Binary trees (Benchmarks Game): allocate and walk many perfect binary trees of
-- tables, with one long-lived tree kept alive throughout. Mostly measures allocation
-- and garbage collection.
--
--   lua5.4 binary-trees.lua [N]      N = maximum depth (default 16)

local N = tonumber(arg and arg[1]) or 16

local function bottom_up(depth)
  if depth == 0 then return {} end
  depth = depth - 1
  return { bottom_up(depth), bottom_up(depth) }
end

local function item_check(tree)
  if tree[1] then
    return 1 + item_check(tree[1]) + item_check(tree[2])
  end
  return 1
end

local min_depth = 4
local max_depth = math.max(min_depth + 2, N)

local stretch = max_depth + 1
io.write(string.format("stretch tree of depth %d\t check: %d\n",
  stretch, item_check(bottom_up(stretch))))

local long_lived = bottom_up(max_depth)

local total = 0
for depth = min_depth, max_depth, 2 do
  local iters = 1 << (max_depth - depth + min_depth)
  local check = 0
  for _ = 1, iters do
    check = check + item_check(bottom_up(depth))
  end
  total = total + check
  io.write(string.format("%d\t trees of depth %d\t check: %d\n", iters, depth, check))
end

io.write(string.format("long lived tree of depth %d\t check: %d\n",
  max_depth, item_check(long_lived)))
io.write(string.format("checksum %d\n", total + item_check(long_lived)))
