-- kv_server_sqlite.lua: the same JSON key/value API as kv_server.lua, stored in SQLite,
-- for comparison (bench/lua/web_bench.py). Runs under the plain interpreter:
--
--   lua5.4 kv_server_sqlite.lua [PORT] [--bind ADDR] [--db PATH]
--
-- Every write is its own transaction in WAL mode with synchronous=FULL, so, like
-- kv_server.lua under lua-persist, a write is durable before it is answered.

local driver = require "luasql.sqlite3"

local dir = (arg and arg[0] or ""):match("^(.*)/") or "."
local http_kv = dofile(dir .. "/http_kv.lua")

local opts = http_kv.parse_args(arg, { db = "kv.sqlite3" })

local env = assert(driver.sqlite3())
local con = assert(env:connect(opts.db))

-- Runs a statement; returns the rows of a query as an array of arrays, or the number
-- of rows changed.
local function exec(sql)
  local cur, err = con:execute(sql)
  if not cur then error(err, 0) end
  if type(cur) == "number" then return cur end
  local rows = {}
  local row = cur:fetch({}, "n")
  while row do
    rows[#rows + 1] = row
    row = cur:fetch({}, "n")
  end
  cur:close()
  return rows
end

-- luasql has no bound parameters, so strings enter SQL as hex literals: nothing a
-- client sends can change the statement.
local function lit(s)
  return "CAST(X'" .. s:gsub(".", function(ch) return string.format("%02X", ch:byte()) end) .. "' AS TEXT)"
end

local mode = exec("PRAGMA journal_mode=WAL")[1][1]
assert(mode == "wal", "could not switch to WAL mode: " .. tostring(mode))
exec("PRAGMA synchronous=FULL")
exec("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

local storage = {
  get = function(key)
    local rows = exec("SELECT value FROM kv WHERE key = " .. lit(key))
    return rows[1] and rows[1][1]
  end,
  put = function(key, value)
    -- Single-threaded, one connection: an UPDATE that changed nothing means a new key.
    if exec("UPDATE kv SET value = " .. lit(value) .. " WHERE key = " .. lit(key)) > 0 then
      return false
    end
    exec("INSERT INTO kv (key, value) VALUES (" .. lit(key) .. ", " .. lit(value) .. ")")
    return true
  end,
  delete = function(key)
    return exec("DELETE FROM kv WHERE key = " .. lit(key)) > 0
  end,
  keys = function()
    local list = {}
    for i, row in ipairs(exec("SELECT key FROM kv")) do list[i] = row[1] end
    return list
  end,
  -- No commit(): each statement above commits (and syncs) on its own.
  info = function() return { storage = "sqlite" } end,
}

http_kv.serve(opts, storage)
