-- Word frequency: generate a pseudo-random text (string.format, string.rep, gsub,
-- table.concat), then count its words and word pairs (gmatch, lower, gsub, hash-table
-- inserts), keep a sliding window with table.insert/table.remove, drop rare pairs, sort
-- and print the most frequent entries. Strings and tables throughout: many short-lived
-- strings, growing and shrinking tables.
--
--   lua5.4 word-freq.lua [N]      N = number of sentences (default 200000)

local N = tonumber(arg and arg[1]) or 200000

local seed = 42
local function rand(n)           -- deterministic LCG: 1..n
  seed = (seed * 1103515245 + 12345) % 2147483648
  return (seed >> 8) % n + 1
end

-- A vocabulary of made-up words; picking is skewed toward the first ones.
local syllables = { "ka", "lo", "mi", "ne", "ru", "ta", "shi", "po", "qu", "ve",
                    "zan", "tor", "el", "in", "um", "ar", "bo", "dre", "fi", "gu" }
local V = 4000
local vocab = {}
for i = 1, V do
  local parts = {}
  for j = 1, rand(4) do parts[j] = syllables[rand(#syllables)] end
  vocab[i] = table.concat(parts)
end
local function word()
  return vocab[(rand(V) * rand(V)) // V + 1]
end

-- 1. The text: N sentences in lines of up to 8 sentences.
local templates = {
  "%s %s %s.", "%s, %s and %s %s!", "The %s of %d %s %s?",
  "%s %s (%s) %s %s.", "%s: \"%s %s\" %s %d.",
}
local lines, line = {}, {}
for i = 1, N do
  local t = rand(#templates)
  local s
  if t == 1 then s = string.format(templates[1], word(), word(), word())
  elseif t == 2 then s = string.format(templates[2], word(), word(), word(), word())
  elseif t == 3 then s = string.format(templates[3], word(), rand(1000), word(), word())
  elseif t == 4 then s = string.format(templates[4], word(), word(), word(), word(), word())
  else s = string.format(templates[5], word(), word(), word(), word(), rand(100)) end
  s = s:gsub("^%l", string.upper)
  line[#line + 1] = s
  if #line == 8 or i == N then
    lines[#lines + 1] = table.concat(line, " ")
    line = {}
  end
end
local text = table.concat(lines, "\n")
lines = nil

-- 2. Count words and adjacent pairs; keep a window of the last 16 words.
local counts, pairs_seen = {}, {}
local window = {}
local nwords, nlines, longest = 0, 0, ""
for l in text:gmatch("[^\n]+") do
  nlines = nlines + 1
  l = l:lower():gsub("[%p%d]+", " ")
  local prev
  for w in l:gmatch("%a+") do
    nwords = nwords + 1
    counts[w] = (counts[w] or 0) + 1
    if prev then
      local key = prev .. " " .. w
      pairs_seen[key] = (pairs_seen[key] or 0) + 1
    end
    prev = w
    table.insert(window, w)
    if #window > 16 then
      local old = table.remove(window, 1)
      if #old > #longest then longest = old end
    end
  end
  -- Every 4096 lines drop the pairs seen once so far (tables shrink and grow).
  if nlines % 4096 == 0 then
    for k, c in pairs(pairs_seen) do
      if c == 1 then pairs_seen[k] = nil end
    end
  end
end

-- 3. Sort and report.
local function top(t, k)
  local list = {}
  for w, c in pairs(t) do list[#list + 1] = { w, c } end
  table.sort(list, function(a, b)
    if a[2] ~= b[2] then return a[2] > b[2] end
    return a[1] < b[1]
  end)
  local out = {}
  for i = 1, math.min(k, #list) do
    out[i] = string.format("%s=%d", list[i][1], list[i][2])
  end
  return table.concat(out, " "), #list
end
local top_words, distinct = top(counts, 5)
local top_pairs, npairs = top(pairs_seen, 3)
io.write(string.format("text %d bytes, %d lines, %d words, %d distinct, %d pairs kept\n",
  #text, nlines, nwords, distinct, npairs))
io.write("words: ", top_words, "\n")
io.write("pairs: ", top_pairs, "\n")
io.write("longest word: ", longest, "\n")
