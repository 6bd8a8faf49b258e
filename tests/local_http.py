"""A small HTTP server on 127.0.0.1 for documents leerID fetches (a sector identifier URI) and requests it sends
(back-channel logouts), in a thread."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Condition, Thread
from typing import Self


@dataclass(frozen=True)
class Posted:
    """A POST the server received."""

    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    at: float  # time.time() when it arrived


class Documents:
    """Serves `pages[path] = (status, body bytes, headers)`; `json(path, value)` and `redirect(path, to)` add some.
    A page whose body is a list of bytes is sent piece by piece, `drip` seconds apart.

    POSTs to a path made with `receiver(path, *statuses, delay=...)` are kept in `posts` and answered with the
    statuses in turn (the last one repeats), each `delay` seconds after it came; `wait_for_posts` waits for them."""

    def __init__(self, drip: float = 0.0):
        self.pages: dict[str, tuple[int, bytes | list[bytes], dict]] = {}
        self.drip = drip
        self.answers: dict[str, tuple[list[int], float]] = {}
        self.posts: list[Posted] = []
        self.arrived = Condition()
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

            def do_POST(self):
                body = self.rfile.read(min(int(self.headers.get("Content-Length") or 0), 1 << 20))
                with documents.arrived:
                    statuses, delay = documents.answers.get(self.path, ([404], 0.0))
                    status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
                    headers = {name.lower(): value for name, value in self.headers.items()}
                    documents.posts.append(Posted(self.path, headers, body, time.time()))
                    documents.arrived.notify_all()
                time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

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

    def receiver(self, path: str, *statuses: int, delay: float = 0.0) -> str:
        """A URL that takes POSTs, answered with `statuses` in turn (default 200), `delay` seconds late."""
        self.answers[path] = (list(statuses or (200,)), delay)
        return self.base + path

    def wait_for_posts(self, path: str, count: int = 1, timeout: float = 20.0) -> list[Posted]:
        """The POSTs to `path`, once there are `count` of them (or what came within `timeout`)."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.posted(path)) >= count, timeout)
            return self.posted(path)

    def posted(self, path: str) -> list[Posted]:
        return [p for p in self.posts if p.path == path]

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
