-- The data of the resume benchmark (resume.sh): a global table `big` of records, each a
-- table of a few strings, numbers and a subtable, grown until the Lua heap holds about
-- MB megabytes. The same records can be saved and loaded with lua-cjson for comparison.
--
--   heap.lua build MB        build `big` (global: under lua-persist it is committed at
--                            exit); prints "records N last NAME", the heap size and a
--                            checksum over every record
--   heap.lua check           what a resumed run does: looks at `big` without touching
--                            its records ("records N last NAME", or "no data")
--   heap.lua walk            reads every record of `big` (prints the same checksum)
--   heap.lua save FILE MB    (lua5.4 + lua-cjson) builds the same records in a local
--                            table, then cjson.encode's them into FILE
--   heap.lua load FILE       (lua5.4 + lua-cjson) cjson.decode's FILE and prints
--                            "records N last NAME" like check
--
-- Progress and timings go to stderr; the lines to compare go to stdout.

local mode = arg and arg[1] or "check"

local clock = os.clock                     -- CPU seconds: enough for the progress lines
local function note(fmt, ...)
  io.stderr:write("heap.lua: ", string.format(fmt, ...), "\n")
  io.stderr:flush()
end

local TAGS = { "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
               "iota", "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi" }

local function record(i)
  return {
    id = i,
    name = string.format("item-%09d", i),
    text = string.format("%08x: the record number %d of the benchmark heap", (i * 2654435761) % 4294967296, i),
    tags = { "red", "green", TAGS[i % 16 + 1] },
    score = i * 0.25,
  }
end

-- Appends records to t until the Lua heap (collectgarbage "count") reaches mb MB.
local function fill(t, mb)
  local target_kb = mb * 1024
  local step = mb >= 512 and mb // 8 or mb   -- progress every eighth of a large heap
  local next_note = step
  local t0 = clock()
  collectgarbage("stop")                     -- nothing to collect while building
  local n = #t
  while true do
    for _ = 1, 4096 do
      n = n + 1
      t[n] = record(n)
    end
    local kb = collectgarbage("count")
    if kb >= target_kb then break end
    if kb >= next_note * 1024 then
      note("%d/%d MB, %d records, %.1f s", math.floor(kb / 1024), mb, n, clock() - t0)
      next_note = next_note + step
    end
  end
  collectgarbage("restart")
  collectgarbage("collect")                  -- the collector idles, with a full heap's pause
  return t
end

local function summary(t)
  return string.format("records %d last %s", #t, t[#t] and t[#t].name or "-")
end

local function checksum(t)
  local sum = 0
  for i = 1, #t do
    local r = t[i]
    sum = sum + math.tointeger(r.id) + #r.name + #r.text + #r.tags + #r.tags[3]
      + math.floor(r.score)
  end
  return sum
end

if mode == "build" then
  local mb = tonumber(arg[2]) or error("heap.lua build MB")
  if big then
    note("big already exists (a resumed state): not rebuilding")
  else
    local t0 = clock()
    big = fill({}, mb)
    note("built %d records in %.1f s CPU", #big, clock() - t0)
  end
  print(summary(big))
  print(string.format("heap %.1f MB", collectgarbage("count") / 1024))
  print(string.format("checksum %d", checksum(big)))

elseif mode == "check" then
  if big then print(summary(big)) else print("no data") end

elseif mode == "walk" then
  if big then print(string.format("checksum %d", checksum(big))) else print("no data") end

elseif mode == "save" then
  local file = arg[2] or error("heap.lua save FILE MB")
  local mb = tonumber(arg[3]) or error("heap.lua save FILE MB")
  local cjson = require("cjson")
  local t0 = clock()
  local data = fill({}, mb)
  note("built %d records in %.1f s CPU", #data, clock() - t0)
  print(summary(data))
  print(string.format("heap %.1f MB", collectgarbage("count") / 1024))
  t0 = clock()
  local s = cjson.encode(data)
  local t1 = clock()
  local f = assert(io.open(file, "wb"))
  assert(f:write(s))
  assert(f:close())
  note("cjson.encode %.2f s CPU, write %.2f s CPU, %.1f MB of JSON", t1 - t0, clock() - t1,
       #s / 1048576)

elseif mode == "load" then
  local file = arg[2] or error("heap.lua load FILE")
  local cjson = require("cjson")
  local t0 = clock()
  local f = assert(io.open(file, "rb"))
  local s = f:read("a")
  f:close()
  local t1 = clock()
  local data = cjson.decode(s)
  note("read %.2f s CPU, cjson.decode %.2f s CPU", t1 - t0, clock() - t1)
  print(summary(data))

else
  error("heap.lua: unknown mode " .. tostring(mode))
end
