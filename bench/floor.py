"""The floor under the benchmark's figures: what one HTTP request costs in server CPU before leerID does anything.

Three servers, measured like the scenarios (the server's CPU ticks from /proc while keep-alive clients on the other
core send requests for a bounded time):

- gunicorn alone: config/gunicorn.py's worker settings serving a plain WSGI callable (bench/bare.py);
- Flask and gunicorn: the same serving a Flask view that answers a small JSON object, nothing else;
- leerID's cheapest request, GET /healthz: Flask and gunicorn plus leerID's own work around every request (request
  id, security headers, metrics).

A scenario of n requests cannot cost less than n times the floor of its stack, whatever the views do: a reference
figure below that is out of reach, and what lies between the floor and leerID's figure is what its code can win.
"""
from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import BIN, ROOT, free_port, pinned, processes, wait_for

CLK_TCK = os.sysconf("SC_CLK_TCK")


def tree_ticks(root: int) -> int:
    """CPU ticks used so far by a process and every live process under it."""
    table, tree, grown = processes(), {root}, True
    while grown:
        below = {pid for pid, (parent, _) in table.items() if parent in tree} - tree
        tree |= below
        grown = bool(below)
    return sum(table[pid][1] for pid in tree if pid in table)


def per_request(port: int, path: str, pids: list[int], seconds: float, clients: int = 8) -> dict:
    """Requests per second and server CPU ms per request of GET `path`, with `clients` keep-alive connections from
    this process (pinned to core 1 when there are two)."""
    stop, counts, errors = threading.Event(), [0] * clients, [0] * clients

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while not stop.is_set():
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                if response.status == 200:
                    counts[n] += 1
                else:
                    errors[n] += 1
            except (OSError, http.client.HTTPException):
                errors[n] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.close()

    cores = os.sched_getaffinity(0)
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    time.sleep(2)  # warm-up: connections open, workers' first requests done
    done0, ticks0, started = sum(counts), sum(tree_ticks(p) for p in pids), time.monotonic()
    time.sleep(seconds)
    done, ticks, elapsed = sum(counts) - done0, sum(tree_ticks(p) for p in pids) - ticks0, time.monotonic() - started
    stop.set()
    for t in threads:
        t.join()
    os.sched_setaffinity(0, cores)  # a server started after this one is not pinned next to these clients
    return {"path": path, "requests": done, "errors": sum(errors), "requests_per_s": round(done / elapsed, 1),
            "server_cpu_ms_per_request": round(ticks / CLK_TCK * 1000 / done, 3) if done else None}


def bare(workers: int, threads: int, seconds: float, cpu: str | None = "0", app: str = "bench.bare:app") -> dict:
    """Flask (`bench.bare:app`), or a plain WSGI callable (`bench.bare:wsgi`), under gunicorn with leerID's worker
    settings, and nothing else."""
    port = free_port()
    proc = subprocess.Popen(
        pinned(cpu) + [str(BIN / "gunicorn"), "-k", "gthread", "-w", str(workers), "--threads", str(threads),
                       "--keep-alive", "15", "--preload", "-b", f"127.0.0.1:{port}", app],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: http_ok(port, "/"), app)
        return per_request(port, "/", [proc.pid], seconds)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def http_ok(port: int, path: str) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    finally:
        conn.close()


def leerid(port: int, pids: list[int], seconds: float) -> dict:
    """GET /healthz of a running leerID: Flask, gunicorn and leerID's work around every request."""
    return per_request(port, "/healthz", pids, seconds)


if __name__ == "__main__":  # the Flask floor alone: .venv/bin/python bench/floor.py
    print(json.dumps({"flask": bare(2, 4, 10.0), "wsgi": bare(2, 4, 10.0, app="bench.bare:wsgi")}, indent=2))
