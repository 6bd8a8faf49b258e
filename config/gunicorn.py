"""gunicorn in production: gunicorn -c python:config.gunicorn idp.wsgi:app

Every setting comes from the environment, so one image serves every machine:

| variable | default | meaning |
| --- | --- | --- |
| LEERID_BIND | 0.0.0.0:5000 | address and port |
| LEERID_WORKERS | 2 per core | worker processes; leerID keeps no state in them, so add machines to scale |
| LEERID_THREADS | 4 | threads per worker: requests waiting on Redis or PostgreSQL overlap |
| LEERID_TIMEOUT | 30 | seconds before a stuck worker is replaced |
| LEERID_MAX_REQUESTS | 20000 | requests before a worker is replaced (with jitter), against slow memory growth; 0: never |

gthread workers keep connections alive (a load balancer reuses them) and share one process's caches between threads.
The application is loaded once in the master (preload) so workers share its memory pages; each worker opens its own
database and Redis connections after the fork (SQLAlchemy's pool and redis-py's connect lazily).
"""
from __future__ import annotations

import glob
import os
import shutil
import tempfile

# /metrics adds up every worker's counts (prometheus_client's multiprocess mode), chosen when it is first imported:
# here, before the app is loaded. PROMETHEUS_MULTIPROC_DIR names a directory (its metric files of an earlier run are
# removed, nothing else); unset, a new private one is made, and removed when the server stops.
metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
owned = not metrics_dir
if owned:
    metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="leerid-metrics-")
else:
    os.makedirs(metrics_dir, exist_ok=True)
    for stale in glob.glob(os.path.join(metrics_dir, "*.db")):
        os.remove(stale)

bind = os.environ.get("LEERID_BIND", "0.0.0.0:5000")
workers = int(os.environ.get("LEERID_WORKERS") or 2 * (os.cpu_count() or 1))
worker_class = "gthread"
threads = int(os.environ.get("LEERID_THREADS") or 4)
timeout = int(os.environ.get("LEERID_TIMEOUT") or 30)
graceful_timeout = 20
keepalive = 15  # seconds an idle keep-alive connection stays open (longer than a load balancer's reuse)
max_requests = int(os.environ.get("LEERID_MAX_REQUESTS", "20000"))  # 0: never replaced
max_requests_jitter = max_requests // 10
preload_app = True
accesslog = None  # leerID logs each request itself, as JSON with its request id (idp/__init__.py)
errorlog = "-"
forwarded_allow_ips = os.environ.get("LEERID_FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_fork(server, worker):
    """Connections are never shared across a fork: each worker starts with empty pools."""
    from idp.wsgi import app

    container = app.extensions.get("leerid")
    if container is not None:
        container.after_fork()


def child_exit(server, worker):
    """A worker that stopped no longer adds its gauges."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if owned:
        shutil.rmtree(metrics_dir, ignore_errors=True)
