"""http_kv: the HTTP side of the key/value examples (request parsing, routing,
responses) on the standard library's http.server. The storage is passed in as an
object, so kv_server.py (a plain dict that py-persist keeps), kv_server_sqlite.py and
kv_server_redis.py share it:

    storage.get(key)        -> JSON text (str), or None when absent
    storage.put(key, text)  -> True when the key was created, False when replaced
    storage.delete(key)     -> True when the key existed
    storage.keys()          -> iterable of keys, any order
    storage.commit          -> None, or a function that makes every write so far durable
    storage.info()          -> dict of extra fields for GET /health

Values are kept as the JSON text the client sent (after checking that it parses), so
a GET returns exactly those bytes: decoding and re-encoding would change number
formatting, key order and escapes.

One connection is served at a time (a single-threaded HTTPServer: py-persist can only
commit a single-threaded interpreter). HTTP/1.1 connections are kept alive; one that
stays idle is dropped after IDLE_TIMEOUT so that it cannot hold up other clients long.
"""

import argparse
import http.server
import json
import os
import re
import socketserver
import sys
import urllib.parse

MAX_BODY = 1024 * 1024    # bytes; larger bodies get 413
IO_TIMEOUT = 10           # seconds a client may stall inside a request
IDLE_TIMEOUT = 2          # seconds a kept-alive connection may wait for its next request

KEY_PATH = re.compile(r"/kv/([^/]+)")


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def check_json(text):
    """Raises ValueError unless `text` is one JSON value. Numbers are not converted
    (the text is what gets stored), which also avoids int()'s digit limit."""
    try:
        json.loads(text, parse_int=len, parse_float=len, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def error_body(msg):
    return dumps({"error": msg})


def route(storage, method, path, body):
    """Returns (status, body text, extra headers). Raises only on storage errors, so
    that the caller can answer 500."""
    if path == "/health":
        if method != "GET":
            return 405, error_body("method not allowed"), [("Allow", "GET")]
        info = {"status": "ok", "keys": len(list(storage.keys()))}
        info.update(storage.info())
        return 200, dumps(info), []

    if path in ("/kv", "/kv/"):
        if method != "GET":
            return 405, error_body("method not allowed"), [("Allow", "GET")]
        return 200, dumps({"keys": sorted(storage.keys())}), []

    m = KEY_PATH.fullmatch(path)
    if not m:
        return 404, error_body("no such route"), []
    try:
        key = urllib.parse.unquote(m.group(1), errors="strict")
    except UnicodeDecodeError:
        key = None
    # NUL is refused because SQLite's text functions and some clients stop at it.
    if key is None or "\0" in key:
        return 400, error_body("key must be valid UTF-8 without NUL"), []

    if method == "GET":
        value = storage.get(key)
        if value is None:
            return 404, error_body("no such key"), []
        return 200, value, []
    if method == "PUT":
        try:
            text = body.decode("utf-8")
            check_json(text)
        except ValueError as e:        # UnicodeDecodeError and JSONDecodeError included
            return 400, error_body(f"body is not JSON: {e}"), []
        created = storage.put(key, text)
        # Durable before the client hears about it: an acknowledged write survives kill -9.
        if storage.commit:
            storage.commit()
        return (201 if created else 200), dumps({"key": key, "created": created}), []
    if method == "DELETE":
        if not storage.delete(key):
            return 404, error_body("no such key"), []
        if storage.commit:
            storage.commit()
        return 200, dumps({"key": key, "deleted": True}), []
    return 405, error_body("method not allowed"), [("Allow", "GET, PUT, DELETE")]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"      # keep-alive unless the client says otherwise
    server_version = "http_kv"
    # A malformed request line still gets a status line (the default, 0.9, has none).
    default_request_version = "HTTP/1.0"
    # Buffered output, flushed once per response: status line, headers and body leave
    # in one segment; with TCP_NODELAY there is no Nagle/delayed-ACK stall either.
    wbufsize = -1
    disable_nagle_algorithm = True
    storage = None                     # set by serve()

    def setup(self):
        super().setup()
        self.first_request = True

    def handle_one_request(self):
        # As BaseHTTPRequestHandler's, with a short timeout while waiting for a request
        # on a kept-alive connection and quiet handling of clients that go away.
        self.close_connection = True
        self.connection.settimeout(IO_TIMEOUT if self.first_request else IDLE_TIMEOUT)
        self.first_request = False
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except (TimeoutError, ConnectionError):
            return
        if not self.raw_requestline:
            return
        self.connection.settimeout(IO_TIMEOUT)
        try:
            if len(self.raw_requestline) > 65536:
                self.requestline = self.request_version = self.command = ""
                self.send_error(414, "request line too long")
                return
            if not self.parse_request():
                return                 # parse_request has answered
            self.dispatch()            # every method: the router answers 405 for others
        except (TimeoutError, ConnectionError):
            self.close_connection = True
            return
        self.wfile.flush()

    def handle_expect_100(self):
        # curl sends "Expect: 100-continue" with larger bodies and waits for this; a body
        # that will be refused anyway is refused before the client sends it.
        if self.body_length() is None:
            return False
        self.send_response_only(100)
        self.end_headers()
        self.wfile.flush()
        return True

    def body_length(self):
        """Content-Length of the request (0 without one), or None after answering an
        error. Bodies come with Content-Length only: chunked uploads are rare here."""
        if "Transfer-Encoding" in self.headers:
            self.send_error(501, "Transfer-Encoding is not supported")
            return None
        values = self.headers.get_all("Content-Length") or []
        if len(set(values)) > 1:
            self.send_error(400, "conflicting Content-Length")
            return None
        if not values:
            if self.command == "PUT":
                self.send_error(411, "PUT needs a Content-Length")
                return None
            return 0
        if not values[0].isdigit() or not values[0].isascii():
            self.send_error(400, "bad Content-Length")
            return None
        length = int(values[0])
        if length > MAX_BODY:
            self.send_error(413, f"body larger than {MAX_BODY} bytes")
            return None
        return length

    def dispatch(self):
        length = self.body_length()
        if length is None:
            return
        body = self.rfile.read(length) if length else b""
        if len(body) != length:        # the client went away mid-body: nothing to answer
            self.close_connection = True
            return
        path = self.path.split("?", 1)[0]      # query strings are ignored
        try:
            status, text, extra = route(self.storage, self.command, path, body)
        except Exception as e:
            # A storage failure (disk full, commit error): the write may or may not have
            # happened, which is what a 500 says.
            print(f"kv: {self.command} {path}: {e!r}", file=sys.stderr, flush=True)
            self.send_error(500, "internal error")
            return
        self.respond(status, text, extra)

    def respond(self, status, text, extra=()):
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close" if self.close_connection else "keep-alive")
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_error(self, code, message=None, explain=None):
        # JSON instead of the default HTML page; the connection is closed afterwards,
        # since what follows on it cannot be trusted.
        self.close_connection = True
        self.respond(code, error_body(message or self.responses.get(code, ("error",))[0]))
        self.wfile.flush()

    def log_request(self, code="-", size="-"):
        pass                           # one line per request would dominate the cost

    def log_message(self, format, *args):
        print(f"kv: {self.address_string()}: {format % args}", file=sys.stderr, flush=True)


class Server(http.server.HTTPServer):
    allow_reuse_address = True         # SO_REUSEADDR: restart on the same port at once
    request_queue_size = 64

    def server_bind(self):
        # HTTPServer's version also looks up the host's FQDN, which can take seconds.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


def arg_parser(description, **defaults):
    """The options every server takes; a server adds its own and calls parse()."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("port_arg", nargs="?", type=int, metavar="PORT", help="same as --port")
    # Read on every start: under py-persist the environment is the new process's.
    port = os.environ.get("KV_PORT", defaults.get("port", 8080))
    ap.add_argument("--port", type=int, default=port,
                    help="TCP port; 0 picks a free one (default: $KV_PORT, else 8080)")
    ap.add_argument("--bind", default=defaults.get("bind", "127.0.0.1"),
                    help="address to listen on (default %(default)s)")
    return ap


def parse(ap, argv):
    opts = ap.parse_args(argv)
    if opts.port_arg is not None:
        opts.port = opts.port_arg
    if not 0 <= opts.port <= 65535:
        ap.error("bad port")
    return opts


def serve(opts, storage):
    """Binds, announces itself and serves until interrupted. Port 0 picks a free port;
    the line printed names the real one, so a test can start it without guessing."""
    handler = type("KVHandler", (Handler,), {"storage": storage})
    server = Server((opts.bind, opts.port), handler)
    host, port = server.server_address[:2]
    print(f"listening on {host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
