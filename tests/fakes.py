"""A tiny local HTTP server for client tests, on 127.0.0.1: answers POST bodies (or GET queries)
from a function."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class FakeServer:
    """`respond(path, body) -> (status, body_bytes_or_obj, headers)`; requests are logged.
    With method="GET", `body` is the parsed query string and `path` has none."""

    def __init__(self, respond, method: str = "POST"):
        self.requests: list[tuple[str, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(n) or b"null")
                outer.requests.append((self.path, body))
                self.answer(*respond(self.path, body))

            def do_GET(self):
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                outer.requests.append((url.path, query))
                self.answer(*respond(url.path, query))

            def answer(self, status, payload, headers):
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass            # the client gave up (a timeout test)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
