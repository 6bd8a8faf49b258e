"""Blueprint "ops": health, readiness and Prometheus metrics."""
from __future__ import annotations

import time

from flask import Blueprint, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from idp.errors import StoreUnavailable
from idp.web import services

bp = Blueprint("ops", __name__)

REQUESTS = Counter("leerid_http_requests_total", "HTTP requests answered", ["endpoint", "method", "status"])
LATENCY = Histogram("leerid_http_request_seconds", "Time to answer an HTTP request", ["endpoint"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
LOGINS = Counter("leerid_logins_total", "Login attempts by outcome", ["result"])


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
    if problems:
        return jsonify(status="unavailable", down=problems), 503
    return jsonify(status="ready")


@bp.get("/metrics")
def metrics():
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)


def start_timer():
    g.started = time.perf_counter()


def record(response):
    endpoint = request.endpoint or "unknown"
    REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
    if "started" in g:
        LATENCY.labels(endpoint).observe(time.perf_counter() - g.started)
    return response
