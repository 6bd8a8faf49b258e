"""A live leerID for the tests: `leerid db upgrade` and `leerid serve` in a subprocess, on its own database.

LEERID_TEST_DATABASE_URL (a PostgreSQL server URL) and LEERID_TEST_REDIS_URL point the provider at real
servers; without them it runs on the embedded defaults (SQLite, embedded Redis).
"""
from __future__ import annotations

import contextlib
import io
import itertools
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
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

LEERID = str(Path(sys.executable).with_name("leerid"))
SEPARATE = ("db", "serve", "demo")  # commands that always run as a process of their own
_in_process = threading.Lock()

# The code apps the tests' browsers set up when leerID asked them to (teachers and staff need a second factor,
# LEERID_MFA_ROLES): username -> base32 secret. The login helpers type a fresh code from it at the code page.
SECOND_FACTORS: dict[str, str] = {}
_used_steps: dict[str, int] = {}  # secret -> the last 30 s step whose code a test sent
_steps_lock = threading.Lock()


def remember_totp(username: str, secret: str, step: int | None = None) -> None:
    """The code app a test browser set up for `username` (its first code was of `step`)."""
    secret = "".join(secret.split())
    SECOND_FACTORS[username.strip().lower()] = secret
    if step is not None:
        with _steps_lock:
            _used_steps[secret] = max(step, _used_steps.get(secret, step))


def fresh_totp(secret: str) -> str:
    """A code of `secret` that leerID has not seen: it takes each account's codes once, and only for a later 30 s
    step than the last (SECURITY.md, pyotp), within one step either side of now. So this picks the earliest step
    still allowed (the previous one only with more than 5 s of the current one left), and waits for the next
    step when a test logged the same person in three times within one."""
    import pyotp

    secret = "".join(secret.split())
    totp = pyotp.TOTP(secret)
    with _steps_lock:
        while True:
            now = time.time()
            current, left = int(now // totp.interval), totp.interval - now % totp.interval
            last = _used_steps.get(secret, current - 10)
            allowed = [s for s in (current - 1, current, current + 1) if s > last and (s >= current or left > 5)]
            if allowed:
                _used_steps[secret] = allowed[0]
                return totp.at(allowed[0] * totp.interval)
            time.sleep(left + 0.2)


def totp_for(username: str | None):
    """A function giving fresh codes of the code app a test set up for `username`, or None."""
    secret = SECOND_FACTORS.get((username or "").strip().lower())
    return (lambda: fresh_totp(secret)) if secret else None


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


@contextmanager
def running_provider(workdir: Path, extra_env: dict | None = None):
    """A started LiveProvider on a database of its own, stopped afterwards."""
    with fresh_database(workdir) as url:
        live = LiveProvider(workdir, url, extra_env).start()
        try:
            yield live
        finally:
            live.stop()


REDIS_DBS_PER_WORKER = 7  # databases 1-7 for xdist worker gw0, 8-14 for gw1
_providers_started = itertools.count()


def worker_redis(url: str) -> str:
    """A Redis database of its own for each provider: each xdist worker has its range, the first provider of the
    process (the session's) keeps the first database, and the others take turns in the rest, emptied first, so that
    two providers never share rate-limit counters, sessions or their time-out sweep."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    first = 1 + (int(worker) % 2 if worker.isdigit() else 0) * REDIS_DBS_PER_WORKER
    started = next(_providers_started)
    index = first + (0 if started == 0 else 1 + (started - 1) % (REDIS_DBS_PER_WORKER - 1))
    base = url.rsplit("/", 1)[0] if url.count("/") > 2 else url
    if started:
        redis.Redis.from_url(f"{base}/{index}").flushdb()
    return f"{base}/{index}"


def serve(command: list[str], env: dict, workdir: Path, log: Path, http: httpx.Client) -> subprocess.Popen:
    """Start a server process writing to `log`, and wait until `http` finds it ready (/readyz answers 200)."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    name = " ".join([Path(command[0]).name, *command[1:]])
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{name} exited: {log.read_text()[-2000:]}")
        try:
            if http.get("/readyz").status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    end(proc)
    raise AssertionError(f"{name} never became ready: {log.read_text()[-2000:]}")


def end(proc: subprocess.Popen | None, wait: int = 10) -> None:
    """Stop a process started here: SIGTERM, then SIGKILL when it has not ended within `wait` seconds."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
        env["LEERID_LOGIN_FREE_FAILURES"] = "5"  # the shared provider locks after 5 failures with no waits first
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

    def start(self) -> LiveProvider:
        self.run("db", "upgrade")
        self.proc = serve([LEERID, "serve", "--host", "127.0.0.1", "--port", str(self.port)], self.env,
                          self.workdir, self.log, self.http)
        return self

    def stop(self) -> None:
        end(self.proc)
        self.http.close()

    def another_process(self, gunicorn: bool = True) -> Replica:
        """A second process of this provider (not started), on a port of its own with the same settings."""
        return Replica(self, gunicorn=gunicorn)

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


class Replica:
    """Another process of a running provider on a port of its own, with the same settings (issuer, database, Redis,
    secret key, var dir): gunicorn with config/gunicorn.py as in production, or `leerid serve`.

    Its `issuer` is the provider's, so the helpers that take a provider check tokens against it; `http` and `url`
    reach this process (discovery still names the issuer's endpoints: send a URL here with `at`)."""

    def __init__(self, provider: LiveProvider, gunicorn: bool = True, workers: int = 2):
        self.issuer = provider.issuer
        self.workdir = provider.workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(provider.env, LEERID_BIND=f"127.0.0.1:{self.port}", LEERID_WORKERS=str(workers))
        if gunicorn:
            self.command = [str(Path(sys.executable).with_name("gunicorn")), "-c", "python:config.gunicorn",
                            "idp.wsgi:app"]
        else:
            self.command = [LEERID, "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self.log = provider.workdir / f"server-{self.port}.log"
        self.http = httpx.Client(base_url=self.url, timeout=30, trust_env=False)
        self.proc: subprocess.Popen | None = None

    def start(self) -> Replica:
        self.proc = serve(self.command, self.env, self.workdir, self.log, self.http)
        return self

    def stop(self) -> None:
        end(self.proc, wait=30)  # gunicorn lets its workers finish their requests first
        self.http.close()

    def at(self, url: str) -> str:
        """A URL of the provider (under its issuer), sent to this process instead."""
        assert url.startswith(self.issuer + "/"), url
        return self.url + url.removeprefix(self.issuer)


def cleanup(workdir: Path) -> None:
    shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def on_localhost(workdir: Path, extra_env: dict | None = None):
    """A running provider whose issuer is http://localhost:PORT: a secure context and a valid WebAuthn RP ID for
    Chromium, which 127.0.0.1 is not."""
    with fresh_database(workdir) as url:
        live = LiveProvider(workdir, url, extra_env=extra_env)
        live.issuer = f"http://localhost:{live.port}"
        live.env["LEERID_ISSUER"] = live.issuer
        live.start()
        try:
            yield live
        finally:
            live.stop()
