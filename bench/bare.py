"""The benchmark's floor (bench/floor.py) serves these under gunicorn: a Flask view that answers a small JSON object
and nothing else (`app`), and the same answer from a plain WSGI callable, without Flask (`wsgi`)."""
from __future__ import annotations

from flask import Flask, jsonify

BODY = b'{"status":"ok","sub":"floor"}\n'
app = Flask(__name__)


@app.get("/")
def answer():
    return jsonify(sub="floor", status="ok")


def wsgi(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))])
    return [BODY]
