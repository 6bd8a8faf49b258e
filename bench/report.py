"""The benchmark's Markdown: one table per run, leerID beside the reference provider when it ran too."""
from __future__ import annotations

NAMES = {"login": "password login", "sso": "SSO hop (authorize with session → code → token)", "refresh": "refresh",
         "userinfo": "userinfo", "introspect": "introspection", "client_credentials": "client_credentials"}


def _cell(value, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown(results: dict) -> str:
    ours, theirs = results.get("leerid", {}), results.get("reference") or {}
    title = (f"Benchmark of {results['date_utc']} ({results['machine']['cpus']} cores, Python "
             f"{results['machine']['python']}, leerID on {results['database']} under gunicorn "
             f"{results['gunicorn']['workers']}×{results['gunicorn']['threads']} on one core): "
             f"`{results['command']}`")
    lines = [title, ""]
    head = "| scenario | flows/s | p50 ms | p95 ms | p99 ms | errors | server CPU ms/flow | gunicorn / PostgreSQL / Redis |"
    rule = "| --- | --- | --- | --- | --- | --- | --- | --- |"
    if theirs:
        head += " reference CPU ms/flow | ratio (reference ÷ leerID) |"
        rule += " --- | --- |"
    lines += [head, rule]
    for name, title in NAMES.items():
        r = ours.get(name)
        if not r or r.get("skipped"):
            continue
        latency = r["latency_ms"]
        share = r.get("cpu_share") or {}
        split = " / ".join(f"{round(100 * share.get(n, 0))}%" for n in ("gunicorn", "postgres", "redis"))
        row = (f"| {title} | {_cell(r['flows_per_s'], 1)} | {_cell(latency['p50'])} | {_cell(latency['p95'])} | "
               f"{_cell(latency['p99'])} | {r['errors']} | {_cell(r['server_cpu_ms_per_flow'])} | {split} |")
        if theirs:
            ref = (theirs.get(name) or {}).get("server_cpu_ms_per_flow")
            ratio = ref / r["server_cpu_ms_per_flow"] if ref and r.get("server_cpu_ms_per_flow") else None
            row += f" {_cell(ref)} | {_cell(ratio)} |"
        lines.append(row)
    paced = results.get("sso_at_80_percent")
    if paced:
        latency = paced["latency_ms"]
        lines += ["", (f"SSO hop paced at {paced['rate']} flows/s (80% of the above): p50 {latency['p50']} ms, "
                       f"p95 {latency['p95']} ms, p99 {latency['p99']} ms, {paced['errors']} errors in "
                       f"{paced['completed']} flows.")]
    memory, workers = results.get("session_memory"), results.get("worker_memory")
    if memory:
        lines.append(f"Redis memory per SSO session (with three platforms): {memory['bytes_per_session']} bytes "
                     f"({memory['sessions']} sessions).")
    if workers:
        lines.append(f"Resident memory per gunicorn worker: {workers['mean_rss_mib']} MiB "
                     f"({workers['workers']} workers).")
    argon2, login = results.get("argon2_verify"), ours.get("login") or {}
    if argon2 and login.get("server_cpu_ms_per_flow"):
        above = login["server_cpu_ms_per_flow"] - argon2["cpu_ms"]
        lines.append(f"One argon2id verify (m={argon2['memory_kib']} KiB, t={argon2['time_cost']}, "
                     f"p={argon2['parallelism']}): {argon2['cpu_ms']} ms CPU; the password login costs "
                     f"{above:.2f} ms above it.")
    low = results.get("floor")
    if low:
        ms = {name: (low.get(name) or {}).get("server_cpu_ms_per_request") for name in ("wsgi", "flask", "leerid")}
        lines.append(f"Server CPU of one request, before any work (bench/floor.py): gunicorn with a plain WSGI "
                     f"callable {_cell(ms['wsgi'], 3)} ms, Flask under gunicorn {_cell(ms['flask'], 3)} ms, "
                     f"leerID's GET /healthz {_cell(ms['leerid'], 3)} ms.")
    roster = results.get("roster_import")
    if roster:
        lines.append(f"Roster import: {roster['rows']} rows in {roster['seconds']} s = {roster['rows_per_second']} "
                     f"rows/s, {roster['cpu_ms_per_row']} ms CPU per row (importer and database).")
    return "\n".join(lines) + "\n"
