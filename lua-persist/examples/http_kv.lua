-- http_kv.lua: the HTTP side of the key/value examples (request parsing, routing,
-- responses). The storage is passed in as a table of functions, so kv_server.lua (a
-- plain Lua table that lua-persist keeps) and kv_server_sqlite.lua (SQLite) share it.
--
--   storage.get(key)          -> JSON text, or nil when absent
--   storage.put(key, text)    -> true when the key was created, false when replaced
--   storage.delete(key)       -> true when the key existed
--   storage.keys()            -> array of keys, any order
--   storage.commit()          -> optional: make every write so far durable
--   storage.info()            -> optional: extra fields for GET /health
--
-- Values are kept as the JSON text the client sent (after checking that it parses),
-- so a GET returns exactly those bytes: decoding and re-encoding would change number
-- formatting and turn [] into {}.
--
-- One connection is served at a time. HTTP/1.1 connections are kept alive; one that
-- stays idle is dropped after IDLE_TIMEOUT so that it cannot hold up other clients long.

local socket = require "socket"
local cjson = require "cjson"

local M = {}

local MAX_BODY = 1024 * 1024    -- bytes; larger bodies get 413
local MAX_HEADERS = 100
local IO_TIMEOUT = 10           -- seconds a client may stall inside a request
local IDLE_TIMEOUT = 2          -- seconds a kept-alive connection may wait for its next request

local REASON = {
  [100] = "Continue", [200] = "OK", [201] = "Created", [400] = "Bad Request",
  [404] = "Not Found", [405] = "Method Not Allowed", [411] = "Length Required",
  [413] = "Content Too Large", [500] = "Internal Server Error",
  [501] = "Not Implemented", [505] = "HTTP Version Not Supported",
}

-- A private decoder instance, so that its settings do not leak into other users of
-- cjson; strict: no NaN, Infinity or hex numbers, which are not JSON.
local json = cjson.new()
json.decode_invalid_numbers(false)
json.encode_invalid_numbers(false)

local function json_string_array(list)
  -- cjson encodes an empty Lua table as {}, but an empty list must be [].
  local parts = {}
  for i, s in ipairs(list) do parts[i] = json.encode(s) end
  return "[" .. table.concat(parts, ",") .. "]"
end

local function error_body(msg)
  return json.encode({ error = msg })
end

local function percent_decode(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- Routing: returns status, body[, extra header lines]. Raises only on storage errors.
local function route(storage, method, path, body)
  if path == "/health" then
    if method ~= "GET" then return 405, error_body("method not allowed"), { "Allow: GET" } end
    local info = { status = "ok", keys = #storage.keys() }
    if storage.info then
      for k, v in pairs(storage.info()) do info[k] = v end
    end
    return 200, json.encode(info)
  end

  if path == "/kv" or path == "/kv/" then
    if method ~= "GET" then return 405, error_body("method not allowed"), { "Allow: GET" } end
    local keys = storage.keys()
    table.sort(keys)
    return 200, '{"keys":' .. json_string_array(keys) .. "}"
  end

  local raw = path:match("^/kv/([^/]+)$")
  if not raw then return 404, error_body("no such route") end
  local key = percent_decode(raw)
  -- Keys come back inside JSON, which must be valid UTF-8; NUL is refused because
  -- SQLite's text type stops at it.
  if not utf8.len(key) or key:find("\0", 1, true) then
    return 400, error_body("key must be valid UTF-8 without NUL")
  end

  if method == "GET" then
    local value = storage.get(key)
    if value == nil then return 404, error_body("no such key") end
    return 200, value
  elseif method == "PUT" then
    local ok, err = pcall(json.decode, body or "")
    if not ok then return 400, error_body("body is not JSON: " .. tostring(err)) end
    local created = storage.put(key, body)
    -- Durable before the client hears about it: an acknowledged write survives kill -9.
    if storage.commit then storage.commit() end
    return created and 201 or 200, json.encode({ key = key, created = created })
  elseif method == "DELETE" then
    if not storage.delete(key) then return 404, error_body("no such key") end
    if storage.commit then storage.commit() end
    return 200, json.encode({ key = key, deleted = true })
  end
  return 405, error_body("method not allowed"), { "Allow: GET, PUT, DELETE" }
end

local function send_response(c, status, body, keep_alive, extra)
  local head = {
    string.format("HTTP/1.1 %d %s", status, REASON[status] or "Unknown"),
    "Content-Type: application/json",
    "Content-Length: " .. #body,
    keep_alive and "Connection: keep-alive" or "Connection: close",
  }
  for _, h in ipairs(extra or {}) do head[#head + 1] = h end
  -- One send: headers and body leave in the same segment, no Nagle/delayed-ACK stall.
  local _, err = c:send(table.concat(head, "\r\n") .. "\r\n\r\n" .. body)
  return err == nil
end

-- Reads one request. Returns a table, or nil when the connection closed or stalled
-- (nothing to answer), or false, status, message for a request that must be refused
-- (the connection is then closed: what follows on it cannot be trusted).
local function read_request(c, first)
  c:settimeout(first and IO_TIMEOUT or IDLE_TIMEOUT)
  local line, err
  repeat                                   -- an empty line before a request is allowed
    line, err = c:receive("*l")
    if not line then return nil, err end
  until line ~= ""
  c:settimeout(IO_TIMEOUT)

  local method, target, major, minor = line:match("^(%u+) (%S+) HTTP/(%d)%.(%d)$")
  if not method then return false, 400, "malformed request line" end
  if major ~= "1" then return false, 505, "only HTTP/1.x" end

  local headers, n = {}, 0
  while true do
    local h
    h, err = c:receive("*l")
    if not h then return nil, err end
    if h == "" then break end
    n = n + 1
    if n > MAX_HEADERS then return false, 400, "too many header lines" end
    local name, value = h:match("^([^:%s]+):%s*(.-)%s*$")
    if not name then return false, 400, "malformed header line" end
    name = name:lower()
    if headers[name] and name == "content-length" and headers[name] ~= value then
      return false, 400, "conflicting Content-Length"
    end
    headers[name] = headers[name] and name ~= "content-length"
      and headers[name] .. ", " .. value or value
  end

  -- Bodies come with Content-Length only; chunked uploads are rare for an API like this.
  if headers["transfer-encoding"] then return false, 501, "Transfer-Encoding is not supported" end
  local length = 0
  if headers["content-length"] then
    if not headers["content-length"]:match("^%d+$") then return false, 400, "bad Content-Length" end
    length = tonumber(headers["content-length"])
  elseif method == "PUT" then
    return false, 411, "PUT needs a Content-Length"
  end
  if length > MAX_BODY then return false, 413, "body larger than " .. MAX_BODY .. " bytes" end

  local conn = (headers["connection"] or ""):lower()
  local keep_alive = minor ~= "0" and not conn:find("close", 1, true)

  local body = ""
  if length > 0 then
    -- curl sends "Expect: 100-continue" with larger bodies and waits for this.
    if (headers["expect"] or ""):lower() == "100-continue" then
      c:send("HTTP/1.1 100 Continue\r\n\r\n")
    end
    body, err = c:receive(length)
    if not body then return nil, err end
  end

  local path = target:gsub("%?.*$", "")    -- query strings are ignored
  return { method = method, path = path, body = body, keep_alive = keep_alive }
end

local function serve_connection(c, storage)
  local first = true
  while true do
    local req, status, msg = read_request(c, first)
    first = false
    if req == nil then return end
    if req == false then
      send_response(c, status, error_body(msg), false)
      return
    end
    local ok, code, body, extra = pcall(route, storage, req.method, req.path, req.body)
    if not ok then
      -- A storage failure (disk full, commit error): the write may or may not have
      -- happened, which is what a 500 says.
      io.stderr:write("kv: ", tostring(code), "\n")
      send_response(c, 500, error_body("internal error"), false)
      return
    end
    if not send_response(c, code, body, req.keep_alive, extra) or not req.keep_alive then return end
  end
end

-- Command line: [PORT] [--port N] [--bind ADDR] [--no-commit] [--db PATH] and any
-- --name value pairs a server wants; returns a table of options.
function M.parse_args(argv, defaults)
  local opts = { port = 8080, bind = "127.0.0.1" }
  for k, v in pairs(defaults or {}) do opts[k] = v end
  local i = 1
  while argv and argv[i] do
    local a = argv[i]
    if a:match("^%d+$") then
      opts.port = tonumber(a)
    elseif a == "--no-commit" then
      opts.no_commit = true
    elseif a:match("^%-%-[%w-]+$") and argv[i + 1] then
      local name = a:sub(3):gsub("-", "_")
      opts[name] = argv[i + 1]
      i = i + 1
    else
      error("usage: [PORT] [--port N] [--bind ADDR] [--no-commit] [--db PATH]; bad argument: " .. a, 0)
    end
    i = i + 1
  end
  opts.port = tonumber(opts.port)
  if not opts.port or opts.port < 0 or opts.port > 65535 then error("bad port", 0) end
  return opts
end

-- Binds, announces itself and serves forever. Port 0 picks a free port; the line
-- printed names the real one, so a test can start it without guessing.
function M.serve(opts, storage)
  local server = assert(socket.bind(opts.bind, opts.port, 64))
  local host, port = server:getsockname()
  io.stdout:write(string.format("listening on %s:%s\n", host, port))
  io.stdout:flush()
  while true do
    local c = server:accept()
    if c then
      c:setoption("tcp-nodelay", true)
      local ok, err = pcall(serve_connection, c, storage)
      if not ok then io.stderr:write("kv: ", tostring(err), "\n") end
      c:close()
    end
  end
end

return M
