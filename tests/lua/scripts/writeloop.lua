-- writeloop.lua — a table changed in a loop, with a running checksum kept in the state.
--   lua-persist writeloop.lua explicit   -- palloc.commit() after every step, then "ack N SUM"
--   lua-persist --commit-interval MS writeloop.lua periodic
--                                        -- no explicit commits; "at N" every 500 steps
-- At start it prints "start N SUM RECOMPUTED COUNT": the resumed step number, the stored
-- checksum, the checksum recomputed over the table, and the number of entries.
local palloc = require "palloc"
local mode = arg[1]
local W, M = 300, 1 << 32

local lib = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "lib.lua")
local say, fnv1a = lib.say, lib.fnv1a

local function val(k) return string.rep(string.format("%x.", k), 1 + k % 7) end

-- The contribution of one entry: FNV-1a of the value mixed with the key.
local function f(k, v) return (k * 2654435761 + fnv1a(v)) % M end

local function recompute(t)
  local s, n = 0, 0
  for k, v in pairs(t) do
    s = (s + f(k, v)) % M
    n = n + 1
  end
  return s, n
end

-- Step n on table t whose checksum is s; returns the new checksum.
local function step(t, s, n)
  local function put(k, v)
    local old = t[k]
    if old ~= nil then s = (s - f(k, old)) % M end
    t[k] = v
    if v ~= nil then s = (s + f(k, v)) % M end
  end
  put(n, val(n))
  if n % 3 == 0 then put(n - 1, nil) end
  if n > W then put(n - W, nil) end
  if n % 5 == 0 and t[n - 2] ~= nil then put(n - 2, t[n - 2] .. "+") end
  return s
end

if S == nil then S = {n = 0, sum = 0, t = {}} end
local recomputed, count = recompute(S.t)
say("start", S.n, S.sum, recomputed, count)

if mode == "explicit" then
  -- In place; only explicit commits, so a half-done step is never committed.
  while true do
    local n = S.n + 1
    S.sum = step(S.t, S.sum, n)
    S.n = n
    palloc.commit()
    say("ack", n, S.sum)
  end
elseif mode == "periodic" then
  -- A commit may come at any instruction: each step builds the next state aside and
  -- installs it with a single assignment.
  while true do
    local n = S.n + 1
    local t = {}
    for k, v in pairs(S.t) do t[k] = v end
    local s = step(t, S.sum, n)
    S = {n = n, sum = s, t = t}
    if n % 500 == 0 then say("at", n) end
  end
else
  error("usage: writeloop.lua explicit|periodic")
end
