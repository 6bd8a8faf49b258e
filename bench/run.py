"""The benchmark: a throw-away leerID under gunicorn on one core, driven over HTTP, figures in JSON and Markdown.

    make bench DRIVER=path/to/oidc_load.py [REFERENCE=dir] [DURATION=20]
    .venv/bin/python bench/run.py --driver oidc_load.py [--reference DIR] [--duration 20] [--out bench/results]

Per scenario (password login, SSO hop, refresh, userinfo, introspection, client_credentials) it prints flows per
second, p50/p95/p99 latency, errors and the server's CPU milliseconds per flow: gunicorn, Redis and PostgreSQL
together, read from /proc while the load driver (on the other core) runs for a bounded time. Then:

- the SSO hop again, paced at 80% of the throughput just measured, for its p99 under a load the machine sustains;
- Redis memory per SSO session: 50,000 sessions made the way a login makes them, in an empty database, INFO memory
  before and after;
- resident memory per gunicorn worker after the run;
- a roster import of 50,000 rows (CPU of this process and of PostgreSQL);
- the floor under every figure (bench/floor.py): one request's server CPU for gunicorn alone, for Flask under
  gunicorn, and for leerID's cheapest request (GET /healthz);
- with --reference, the reference provider's figures from the same driver in the same run, and the ratios.

The load driver is a protocol-generic OpenID Connect driver (standard library only) given by --driver; the reference
provider's directory holds it too. Not part of the tests: it measures and asserts nothing.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import floor
from bench.report import markdown
from bench.stack import PASSWORD, REDIRECT_URI, ROOT, Stack

SCENARIOS = "login,sso,refresh,userinfo,introspect,client_credentials"
SCOPE = "openid profile offline_access"
ACCOUNTS = 16  # bench0 .. bench15: one per concurrent flow of the driver
CLK_TCK = os.sysconf("SC_CLK_TCK")


def provision(stack: Stack) -> dict:
    """A school, its pupils bench0..bench15 and a school-agreement platform with refresh tokens."""
    stack.leerid("schools", "create", "--number", "990001", "--name", "Benchschool")
    for n in range(ACCOUNTS):
        stack.leerid("users", "create", "--username", f"bench{n}", "--password", PASSWORD, "--given-name", "Bench",
                     "--family-name", f"Leerling{n}", "--role", "pupil", "--school", "990001", "--class", "6A",
                     "--birthdate", "2013-05-01")
    client = stack.leerid("clients", "create", "--name", "Benchplatform", "--redirect-uri", REDIRECT_URI,
                          "--scope", "openid", "--scope", "profile", "--scope", "offline_access",
                          "--attribute", "given_name", "--attribute", "family_name", "--basis", "school-agreement")
    stack.leerid("clients", "activate", client["client_id"], "--school", "990001")
    return client


def drive(driver: Path, issuer: str, client: dict, pids: list[int], args, out: Path, label: str,
          scenarios: str = SCENARIOS, extra: tuple = ()) -> dict:
    command = [sys.executable, str(driver), "--issuer", issuer, "--client-id", client["client_id"],
               "--client-secret", client["client_secret"], "--redirect-uri", REDIRECT_URI,
               "--username", "bench{w}", "--password", PASSWORD, "--login", "leerid", "--scope", SCOPE,
               "--scenarios", scenarios, "--duration", str(args.duration), "--warmup", str(args.warmup),
               "--procs", str(args.procs), "--threads", str(args.threads), "--client-cpus", "1",
               "--label", label, "--out", str(out), *extra]
    for pid in pids:
        command += ["--server-pid", str(pid)]
    subprocess.run(command, check=True)
    return json.loads(out.read_text())


def drive_each(driver: Path, stack: Stack, client: dict, args, out: Path) -> dict:
    """Every scenario in a driver run of its own, so that the server's CPU can be split between gunicorn, PostgreSQL
    and Redis for each (their shares over the whole run, set-up and warm-up included)."""
    results = {}
    for scenario in args.scenarios.split(","):
        before = {name: stack.cpu_ticks(name) for name in stack.procs}
        found = drive(driver, stack.issuer, client, stack.server_pids(), args, out, "leerID", scenario)
        used = {name: stack.cpu_ticks(name) - ticks for name, ticks in before.items()}
        total = sum(used.values()) or 1
        result = found["scenarios"][scenario]
        result["cpu_share"] = {name: round(ticks / total, 3) for name, ticks in used.items()}
        results[scenario] = result
    return results


def paced_sso(driver: Path, stack: Stack, client: dict, rate: float, seconds: float) -> dict:
    """SSO hops started on a fixed schedule (open loop): latency counts from the planned start, so a slow answer
    cannot hide the queue behind it."""
    spec = importlib.util.spec_from_file_location("oidc_load", driver)
    load = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(load)
    cfg = load.parse_args(["--issuer", stack.issuer, "--client-id", client["client_id"], "--client-secret",
                           client["client_secret"], "--redirect-uri", REDIRECT_URI, "--password", PASSWORD,
                           "--login", "leerid", "--scope", SCOPE])
    cfg.login_fn = load.resolve_login("leerid")
    op = load.OP(cfg, load.discover(cfg))
    lanes = 32
    hops = [load.SsoScenario(op, n % ACCOUNTS) for n in range(lanes)]
    for hop in hops:
        hop.setup()
    latencies, errors, lock = [], [], threading.Lock()
    start = time.monotonic() + 0.5
    total = int(rate * seconds)

    def lane(n: int) -> None:
        for k in range(n, total, lanes):
            planned = start + k / rate
            time.sleep(max(0.0, planned - time.monotonic()))
            try:
                hops[n].run_once()
                with lock:
                    latencies.append(time.monotonic() - planned)
            except Exception as exc:  # noqa: BLE001 - counted, like the driver does
                with lock:
                    errors.append(type(exc).__name__)

    threads = [threading.Thread(target=lane, args=(n,)) for n in range(lanes)]
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {1}) if (os.cpu_count() or 1) > 1 else None
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    os.sched_setaffinity(0, cores)
    latencies.sort()

    def pct(q):
        return round(latencies[min(len(latencies) - 1, int(q / 100 * len(latencies)))] * 1000, 2) if latencies else None
    return {"rate": round(rate, 1), "completed": len(latencies), "errors": len(errors),
            "latency_ms": {"p50": pct(50), "p95": pct(95), "p99": pct(99)}}


def session_memory(stack: Stack, count: int = 50000) -> dict:
    """Redis bytes per SSO session, made through the session store as a password login makes them, with the
    three platforms a pupil typically opens. In a database of their own (number 1, empty): the benchmark's keys
    in database 0 would make the count depend on when Redis happens to grow that database's table."""
    env = {k: v for k, v in stack.env.items() if k.startswith("LEERID_")}
    env["LEERID_REDIS_URL"] = env["LEERID_REDIS_URL"].rsplit("/", 1)[0] + "/1"
    code = f"""
import json, os, time
os.environ.update({env!r})
from config.settings import Settings
from idp.wiring import Container
c = Container(Settings.from_env())
r = c.store.redis
def used():
    return r.info("memory")["used_memory"]
before = used()
for n in range({count}):
    cookie, s = c.sessions.create(f"account-{{n:06d}}-0000-0000-000000000000", "urn:leerid:acr:pwd", ["pwd"],
                                  idle=14400, lifetime=43200, browser="Chrome", system="Windows",
                                  place={{"number": "990001", "name": "Benchschool"}})
    for p in ("platform-a-000000000000", "platform-b-000000000000", "platform-c-000000000000"):
        c.sessions.add_client(cookie, s, p)
time.sleep(2)  # Redis finishes growing its key table (incremental: both tables are held until it has)
after = used()
print(json.dumps({{"sessions": {count}, "bytes": after - before, "bytes_per_session": round((after - before) / {count})}}))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def worker_memory(stack: Stack) -> dict:
    rss = []
    for pid in stack.worker_pids():
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss.append(int(line.split()[1]) / 1024)
    return {"workers": len(rss), "rss_mib": [round(r, 1) for r in rss],
            "mean_rss_mib": round(sum(rss) / len(rss), 1) if rss else None}


def roster(stack: Stack, rows: int) -> dict:
    """A first import of `rows` pupils into the benchmark's database."""
    from bench.roster_import import roster as make_roster
    from idp.db import Database
    from idp.roster_import import RosterImporter

    stack.leerid("schools", "create", "--number", "990002", "--name", "Rosterschool")
    raw, db = make_roster(rows), Database(stack.env["LEERID_DATABASE_URL"])
    server = "postgres" if "postgres" in stack.procs else None  # SQLite works inside this process
    cpu0, db0, started = time.process_time(), stack.cpu_ticks(server) if server else 0, time.perf_counter()
    report = RosterImporter(db).run("990002", raw, today=date.today())
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu0 + ((stack.cpu_ticks(server) - db0) / CLK_TCK if server else 0)
    db.engine.dispose()
    return {"rows": report.rows, "created": report.created, "seconds": round(seconds, 2),
            "rows_per_second": round(report.rows / seconds), "cpu_s": round(cpu, 2),
            "cpu_ms_per_row": round(cpu * 1000 / report.rows, 3)}


def argon2_verify(count: int = 30) -> dict:
    """CPU milliseconds of one argon2id verify at leerID's configured parameters, on the server's core: what a
    password login cannot do without, so what the login's other work is measured against."""
    from config.settings import Settings
    from idp.crypto import Passwords

    settings = Settings()
    passwords = Passwords(settings.argon2_memory_kib, settings.argon2_time_cost, settings.argon2_parallelism)
    stored, cores = passwords.hash(PASSWORD), os.sched_getaffinity(0)
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    try:
        passwords.verify(stored, PASSWORD)
        started = time.process_time()
        for _ in range(count):
            passwords.verify(stored, PASSWORD)
        used = time.process_time() - started
    finally:
        os.sched_setaffinity(0, cores)
    return {"memory_kib": settings.argon2_memory_kib, "time_cost": settings.argon2_time_cost,
            "parallelism": settings.argon2_parallelism, "cpu_ms": round(used * 1000 / count, 2)}


def reference(args, out: Path) -> dict:
    env = {**os.environ, "SCENARIOS": SCENARIOS, "DURATION": str(args.duration), "PROCS": str(args.procs),
           "THREADS": str(args.threads), "OUT": str(out.resolve())}
    subprocess.run([str(Path(args.reference) / "run_reference.sh"), "--warmup", str(args.warmup)], env=env, check=True)
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--driver", required=True, type=Path, help="the OpenID Connect load driver (oidc_load.py)")
    parser.add_argument("--reference", help="directory of the reference provider (run_reference.sh), same run")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds per scenario")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers on the one server core")
    parser.add_argument("--gunicorn-threads", type=int, default=4)
    parser.add_argument("--database", choices=("auto", "postgres", "sqlite"), default="auto")
    parser.add_argument("--roster-rows", type=int, default=50000)
    parser.add_argument("--scenarios", default=SCENARIOS)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results: dict = {"date_utc": stamp, "command": " ".join(["bench/run.py", *sys.argv[1:]]), "machine": {
        "cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    stack = Stack(workers=args.workers, threads=args.gunicorn_threads, database=args.database).start()
    try:
        results["database"] = stack.env["LEERID_DATABASE_URL"].split(":")[0]
        client = provision(stack)
        stack.serve()
        results["gunicorn"] = {"workers": args.workers, "threads": args.gunicorn_threads, "cpu": "0"}
        results["leerid"] = drive_each(args.driver, stack, client, args, args.out / f"leerid-{stamp}.json")
        sso = results["leerid"].get("sso") or {}
        if sso.get("flows_per_s"):
            results["sso_at_80_percent"] = paced_sso(args.driver, stack, client, 0.8 * sso["flows_per_s"],
                                                     max(10.0, args.duration))
        results["worker_memory"] = worker_memory(stack)
        results["session_memory"] = session_memory(stack)
        if args.roster_rows:
            results["roster_import"] = roster(stack, args.roster_rows)
        seconds = max(5.0, args.duration / 2)
        results["floor"] = {"leerid": floor.leerid(stack.port, [stack.procs["gunicorn"].pid], seconds)}
    finally:
        stack.stop()
    results["floor"]["wsgi"] = floor.bare(args.workers, args.gunicorn_threads, seconds, app="bench.bare:wsgi")
    results["floor"]["flask"] = floor.bare(args.workers, args.gunicorn_threads, seconds)
    results["argon2_verify"] = argon2_verify()
    if args.reference:
        results["reference"] = reference(args, args.out / f"reference-{stamp}.json")["scenarios"]
    (args.out / f"bench-{stamp}.json").write_text(json.dumps(results, indent=2) + "\n")
    text = markdown(results)
    (args.out / f"bench-{stamp}.md").write_text(text)
    print(text)
    print(f"written: {args.out / f'bench-{stamp}.json'} and .md", file=sys.stderr)


if __name__ == "__main__":
    main()
