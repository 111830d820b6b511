-- kv_server.lua: a JSON key/value HTTP API whose data is nothing but a Lua table.
--
--   lua-persist --arena kv.arena kv_server.lua [PORT] [--bind ADDR]
--
-- Under lua-persist the global `store` survives restarts, kill -9 included: each write
-- calls palloc.commit() before it is answered, so every acknowledged write is on disk.
-- The script runs from the top on every start, which is what re-creates the listening
-- socket (sockets do not survive a restart); the data is simply still there.
--
-- --no-commit skips the commits. It exists for tests/lua/test_web.py's self-check,
-- which shows that acknowledged writes are then lost on kill -9, i.e. that the test
-- can tell; do not use it otherwise.

local palloc = require "palloc"

-- The helper module is loaded from this file's directory with dofile rather than
-- require: package.loaded is part of the persisted state, so require would keep
-- returning the module as it was on the first run even after the file is edited.
local dir = (arg and arg[0] or ""):match("^(.*)/") or "."
local http_kv = dofile(dir .. "/http_kv.lua")

local opts = http_kv.parse_args(arg)

-- The data: key -> JSON text. `or {}` only on the very first run; afterwards the
-- table from the last commit is already here.
store = store or {}

local storage = {
  get = function(key) return store[key] end,
  put = function(key, value)
    local created = store[key] == nil
    store[key] = value
    return created
  end,
  delete = function(key)
    if store[key] == nil then return false end
    store[key] = nil
    return true
  end,
  keys = function()
    local list = {}
    for k in pairs(store) do list[#list + 1] = k end
    return list
  end,
  commit = function() palloc.commit() end,
  info = function()
    local st = palloc.stats()
    return { storage = "lua-persist", epoch = st.epoch, resumed = palloc.resumed(),
             last_commit_pages = st.last_commit_pages, last_commit_us = st.last_commit_ns // 1000,
             lua_bytes = st.lua_bytes, tracker = st.tracker, durability = st.durability }
  end,
}
if opts.no_commit then
  storage.commit = nil
  io.stderr:write("kv_server: --no-commit: acknowledged writes are NOT durable\n")
end

if palloc.resumed() then
  local n = 0
  for _ in pairs(store) do n = n + 1 end
  io.stderr:write(string.format("kv_server: resumed at epoch %d with %d keys\n", palloc.epoch(), n))
end

http_kv.serve(opts, storage)
