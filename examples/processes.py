"""Starting, watching and stopping the demo's servers, each a subprocess with its own log file."""
from __future__ import annotations

import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from idp.errors import LeerIDError


class DemoError(LeerIDError):
    """A demo server could not start or stopped by itself; the message names it and its log."""


@dataclass
class Server:
    name: str
    ready_url: str  # answers 200 once the server is ready
    proc: subprocess.Popen
    log: Path

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Free to listen on, as the servers do (SO_REUSEADDR: a just-stopped demo's closed connections don't count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _interruptible() -> None:
    """A shell starts background jobs with SIGINT ignored; a server must still stop cleanly on SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Servers:
    """`with Servers(log_dir) as servers:` stops every server it started when the block ends, however."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.started: list[Server] = []

    def __enter__(self) -> "Servers":
        return self

    def __exit__(self, *exc) -> None:
        """Stops the servers with Ctrl-C and SIGTERM held off, so that a second Ctrl-C leaves none behind."""
        held = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.stop()
        finally:
            for sig, handler in held.items():
                signal.signal(sig, handler)

    def start(self, name: str, argv: list[str], env: dict, ready_url: str) -> Server:
        """In a session of its own, so that Ctrl-C reaches the demo only, which then stops it in order."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, preexec_fn=_interruptible)
        server = Server(name, ready_url, proc, log)
        self.started.append(server)
        return server

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=5, trust_env=False) as http:
            for server in self.started:
                while not self._answers(http, server):
                    if server.proc.poll() is not None:
                        raise DemoError(f"{server.name} stopped at start (see {server.log}):\n{server.tail()}")
                    if time.monotonic() > deadline:
                        raise DemoError(f"{server.name} did not answer at {server.ready_url} (see {server.log})")
                    time.sleep(0.2)

    @staticmethod
    def _answers(http: httpx.Client, server: Server) -> bool:
        try:
            return http.get(server.ready_url).status_code == 200
        except httpx.TransportError:
            return False

    def watch(self, interval: float = 0.5) -> None:
        """Until a server stops by itself (an error) or the demo is interrupted (KeyboardInterrupt)."""
        while True:
            for server in self.started:
                if server.proc.poll() is not None:
                    raise DemoError(f"{server.name} stopped (exit {server.proc.returncode}; see {server.log}):\n"
                                    f"{server.tail()}")
            time.sleep(interval)

    def stop(self, grace: float = 10) -> None:
        """SIGINT first (servers shut down cleanly, the embedded Redis included), then SIGTERM, then SIGKILL."""
        running = [s for s in self.started if s.proc.poll() is None]
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            for server in running:
                if server.proc.poll() is None:
                    server.proc.send_signal(sig)
            deadline = time.monotonic() + grace
            for server in running:
                try:
                    server.proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
            running = [s for s in running if s.proc.poll() is None]
            if not running:
                return
