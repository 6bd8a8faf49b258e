"""Blueprint "ops": health, readiness and Prometheus metrics; the JSON log format and its access line per request.

Metric labels come from fixed sets only (never a username, account or client id). Under gunicorn each worker process
counts apart: with PROMETHEUS_MULTIPROC_DIR set (prometheus_client's own variable, which it reads when first imported)
/metrics adds up every worker's files.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, g, jsonify, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy.exc import SQLAlchemyError

from clients.service import TOKEN_EXCHANGE
from idp.errors import Locked, StoreUnavailable, Throttled
from idp.web import services

bp = Blueprint("ops", __name__)
access_log = logging.getLogger("leerid.access")
MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR" in os.environ

REQUESTS = Counter("leerid_http_requests_total", "HTTP requests answered", ["endpoint", "method", "status"])
LATENCY = Histogram("leerid_http_request_seconds", "Time to answer an HTTP request", ["endpoint"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
LOGINS = Counter("leerid_logins_total", "Login steps by method (each factor counts apart), outcome and reason",
                 ["method", "outcome", "reason"])
TOKENS = Counter("leerid_tokens_issued_total", "Token responses (200) by grant", ["grant"])
STORE_ERRORS = Counter("leerid_store_errors_total", "Redis or database unreachable", ["store"])

LOGIN_METHODS = ("password", "totp", "recovery", "passkey", "badge")
# bad_credentials: unknown name or wrong secret, never told apart; refused: a credential that may not be used (a
# revoked badge, a cloned passkey); disabled: an account deactivated between two steps of its login.
LOGIN_FAILURES = ("bad_credentials", "bad_code", "throttled", "locked", "disabled", "refused")
GRANTS = {"authorization_code": "authorization_code", "refresh_token": "refresh_token",
          "client_credentials": "client_credentials", TOKEN_EXCHANGE: "token-exchange"}
STORES = ("redis", "database")
HTTP_METHODS = ("GET", "POST", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE")

for _method in LOGIN_METHODS:  # every series exists from the start, at 0, so that rates work from the first one
    LOGINS.labels(_method, "success", "ok")
    for _reason in LOGIN_FAILURES:
        LOGINS.labels(_method, "failure", _reason)
for _grant in GRANTS.values():
    TOKENS.labels(_grant)
for _store in STORES:
    STORE_ERRORS.labels(_store)


def count_login(method: str, reason: str = "ok") -> None:
    """One login step of `method` (LOGIN_METHODS): "ok" is a success, a reason of LOGIN_FAILURES a failure."""
    LOGINS.labels(method, "success" if reason == "ok" else "failure", reason).inc()


def refusal(exc: Throttled) -> str:
    """The failure reason of a refused attempt: "locked" or "throttled"."""
    return "locked" if isinstance(exc, Locked) else "throttled"


def count_token(grant_type: str) -> None:
    """A token response of 200 for `grant_type` (the form field); a grant leerID does not know is not counted."""
    if grant_type in GRANTS:
        TOKENS.labels(GRANTS[grant_type]).inc()


def count_store_error(store: str) -> None:
    STORE_ERRORS.labels(store).inc()


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    container, problems = services(), []
    try:
        container.db.ping()
    except SQLAlchemyError:
        problems.append("database")
    try:
        container.store.ping()
    except StoreUnavailable:
        problems.append("redis")
    for store in problems:
        count_store_error(store)
    if problems:
        return jsonify(status="unavailable", down=problems), 503
    return jsonify(status="ready")


@bp.get("/metrics")
def metrics():
    registry = REGISTRY
    if MULTIPROCESS:  # every worker process's counts, added up
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def start_timer():
    g.started = time.perf_counter()


def record(response, log_access: bool = False):
    """Counts and times the request; with `log_access` (JSON logs) writes its access line too."""
    endpoint = request.endpoint or "unknown"
    method = request.method if request.method in HTTP_METHODS else "other"  # a client picks the method: no new series
    REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
    elapsed = time.perf_counter() - g.started if "started" in g else None
    if elapsed is not None:
        LATENCY.labels(endpoint).observe(elapsed)
    if log_access:
        access = access_fields(response.status_code, elapsed)
        access_log.info("%s %s %s", access["method"], access["path"], access["status"], extra=access)
    return response


def access_fields(status: int, elapsed: float | None) -> dict:
    """The request as the access line tells it. Its path is the route (/logout/status/<token>), never the path
    itself, which may hold a token or an account id, nor its query string, which holds codes and states; the
    account only by pseudonym, and only when this request already loaded it (no read of its own)."""
    fields = {"method": request.method, "path": request.url_rule.rule if request.url_rule else "(unmatched)",
              "status": status}
    if elapsed is not None:
        fields["duration_ms"] = round(elapsed * 1000, 2)
    if g.get("actor_id"):
        fields["account"] = pseudonym(g.actor_id, current_app.config["SECRET_KEY"])
    return fields


def pseudonym(account_id: str, key: str) -> str:
    """The account's id in logs: a keyed HMAC, the same for the same account while the secret key stays."""
    return hmac.new(key.encode(), account_id.encode(), hashlib.sha256).hexdigest()[:16]


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for a log collector: time (ISO 8601, UTC), level, logger, message, request_id, the
    access line's fields, and an exception's type and traceback."""

    FIELDS = ("method", "path", "status", "duration_ms", "account")

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        entry.update({name: getattr(record, name) for name in self.FIELDS if hasattr(record, name)})
        if record.exc_info and record.exc_info[0] is not None:
            entry["exc_type"] = record.exc_info[0].__name__
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)
