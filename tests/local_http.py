"""A small HTTP server on 127.0.0.1 for documents leerID fetches (a sector identifier URI), in a thread."""
from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Self


class Documents:
    """Serves `pages[path] = (status, body bytes, headers)`; `json(path, value)` and `redirect(path, to)` add some.
    A page whose body is a list of bytes is sent piece by piece, `drip` seconds apart."""

    def __init__(self, drip: float = 0.0):
        self.pages: dict[str, tuple[int, bytes | list[bytes], dict]] = {}
        self.drip = drip
        documents = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                status, body, headers = documents.pages.get(self.path, (404, b"not found", {}))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                pieces = body if isinstance(body, list) else [body]
                self.send_header("Content-Length", str(sum(len(p) for p in pieces)))
                self.end_headers()
                for piece in pieces:
                    self.wfile.write(piece)
                    self.wfile.flush()
                    time.sleep(documents.drip if isinstance(body, list) else 0)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = Thread(target=self.server.serve_forever, daemon=True)

    def json(self, path: str, value) -> str:
        self.pages[path] = (200, json.dumps(value).encode(), {"Content-Type": "application/json"})
        return self.base + path

    def raw(self, path: str, body: bytes | list[bytes], status: int = 200) -> str:
        self.pages[path] = (status, body, {"Content-Type": "application/json"})
        return self.base + path

    def redirect(self, path: str, to: str) -> str:
        self.pages[path] = (302, b"", {"Location": to})
        return self.base + path

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
