"""A live leerID for the tests: `leerid db upgrade` and `leerid serve` in a subprocess, on its own database.

LEERID_TEST_DATABASE_URL (a PostgreSQL server URL) and LEERID_TEST_REDIS_URL point the provider at real
servers; without them it runs on the embedded defaults (SQLite, embedded Redis).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

LEERID = str(Path(sys.executable).with_name("leerid"))
SEPARATE = ("db", "serve", "demo")  # commands that always run as a process of their own
_in_process = threading.Lock()


def in_process(args: tuple[str, ...], env: dict, workdir: Path) -> subprocess.CompletedProcess:
    """`leerid ARGS` run by its own entry point in this process: the same parsing, output and exit codes, with
    the provider's environment and working directory for the time of the command."""
    from idp.cli import main

    out, err = io.StringIO(), io.StringIO()
    with _in_process, _environment(env), contextlib.chdir(workdir), \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
    return subprocess.CompletedProcess([LEERID, *args], code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def _environment(env: dict):
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def at_once(n: int, fn) -> list:
    """Run fn() in n threads released together by a barrier; their results, in no particular order."""
    barrier = threading.Barrier(n)

    def run(_):
        barrier.wait(timeout=60)
        return fn()

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def fresh_database(workdir: Path):
    """A database of its own: a new PostgreSQL database on the test server, or SQLite in workdir."""
    server = os.environ.get("LEERID_TEST_DATABASE_URL")
    if not server:
        yield f"sqlite:///{workdir}/leerid.db"
        return
    url = make_url(server.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"leerid_test_{secrets.token_hex(6)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def worker_redis(url: str) -> str:
    """A Redis database of its own for each xdist worker, so that their rate-limit counters never meet."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    base = url.rsplit("/", 1)[0] if url.count("/") > 2 else url
    return f"{base}/{1 + int(worker) % 15 if worker.isdigit() else 1}"


class LiveProvider:
    def __init__(self, workdir: Path, database_url: str, extra_env: dict | None = None):
        self.workdir = workdir
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEERID_")}
        env.update(LEERID_ISSUER=self.issuer, LEERID_DATABASE_URL=database_url, LEERID_VAR_DIR=str(workdir / "var"),
                   NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
        env["LEERID_KEY_CACHE_SECONDS"] = "2"  # a rotated key signs within seconds, not a minute
        env["LEERID_CLIENT_CACHE_SECONDS"] = "0"  # a policy changed by the command line holds at once
        env["LEERID_BACKCHANNEL_RETRY_SECONDS"] = "1"  # a failed back-channel logout is retried within seconds
        if os.environ.get("LEERID_TEST_REDIS_URL"):
            env["LEERID_REDIS_URL"] = worker_redis(os.environ["LEERID_TEST_REDIS_URL"])
        env.update(extra_env or {})
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.log = workdir / "server.log"
        self.http = httpx.Client(base_url=self.issuer, timeout=30, trust_env=False)
        self.schools: list[str] = []  # every school made here: a new platform is activated for them all

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """`leerid ARGS` as an operator types it; in this process, without a new Python for every command, except
        the commands that serve or change the schema."""
        if args[0] in SEPARATE:
            proc = subprocess.run([LEERID, *args], cwd=self.workdir, env=self.env, capture_output=True, text=True,
                                  timeout=120, check=False)
        else:
            proc = in_process(args, self.env, self.workdir)
        if check and proc.returncode:
            raise AssertionError(f"leerid {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
        return proc

    def cli(self, *args: str) -> dict:
        """`leerid ARGS --json`, parsed."""
        return json.loads(self.run(*args, "--json").stdout)

    def audit_records(self) -> int:
        """The audit log's records after `leerid audit verify` passed, not counting the back-channel logout
        deliveries that the provider's worker records in the background at moments of its own."""
        result = self.cli("audit", "verify")
        assert result["ok"], result
        engine = create_engine(self.env["LEERID_DATABASE_URL"])
        try:
            with engine.connect() as conn:
                return conn.execute(text(
                    "SELECT count(*) FROM audit_events WHERE event NOT LIKE 'backchannel_logout_%'")).scalar_one()
        finally:
            engine.dispose()

    def start(self) -> "LiveProvider":
        self.run("db", "upgrade")
        out = open(self.log, "ab")
        self.proc = subprocess.Popen([LEERID, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                                     cwd=self.workdir, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"leerid serve exited: {self.log.read_text()[-2000:]}")
            try:
                if self.http.get("/readyz").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"leerid serve never became ready: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.http.close()

    # --- provisioning, as an operator would ---

    def school(self) -> str:
        number = str(secrets.randbelow(9_000_000) + 1_000_000)
        self.cli("schools", "create", "--number", number, "--name", f"Testschool {number}")
        self.schools.append(number)
        return number

    def user(self, role: str = "pupil", school: str | None = None, **extra: str) -> dict:
        username = f"t{role[:3]}{secrets.token_hex(4)}"
        password = f"Pw-{secrets.token_urlsafe(10)}"
        args = ["users", "create", "--username", username, "--password", password, "--given-name", "Lotte",
                "--family-name", "Peeters", "--role", role]
        if school:
            args += ["--school", school]
        if role == "pupil" and "birthdate" not in extra:  # fifteen: old enough to consent alone
            today = date.today()
            extra["birthdate"] = date(today.year - 15, today.month, 1).isoformat()
        for key, value in extra.items():
            args += [f"--{key.replace('_', '-')}", value]
        out = self.cli(*args)
        return dict(out, password=password)

    def client(self, *args: str, redirect_uri: str | None = None, activate: bool = True) -> dict:
        redirect_uri = redirect_uri or f"https://rp-{secrets.token_hex(4)}.example/callback"
        out = self.cli("clients", "create", "--name", f"Platform {secrets.token_hex(3)}", "--redirect-uri",
                       redirect_uri, *args)
        if self.schools and activate and "consent" not in args:  # school-agreement: every school takes it on
            self.cli("clients", "activate", out["client_id"], *(a for n in self.schools for a in ("--school", n)))
        return dict(out, redirect_uri=redirect_uri)


def cleanup(workdir: Path) -> None:
    shutil.rmtree(workdir, ignore_errors=True)
