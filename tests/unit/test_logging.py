"""JSON logs (LEERID_LOG_FORMAT=json): one object per line with the request id; the access line names the route,
never the path, query string, form, headers or cookies, and the account only by a keyed pseudonym."""
from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime

import pytest
from flask import Flask, g

from idp import RequestIdFilter, configure_logging, ops

ACCOUNT = "acc-1f2e3d4c5b6a"
KEY = "k" * 43


class Lines(logging.Handler):
    """The formatted lines of one logger, as the JSON handler would write them."""

    def __init__(self):
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(ops.JsonFormatter())
        self.addFilter(RequestIdFilter())

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture
def access_lines():
    handler, logger = Lines(), logging.getLogger("leerid.access")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def app(log_access: bool) -> Flask:
    """A bare Flask app with leerID's request hooks (idp/__init__.py) and one route that has a token in its path."""
    flask_app = Flask(__name__)
    flask_app.config["SECRET_KEY"] = KEY

    @flask_app.before_request
    def start():
        g.request_id = "req-1234abcd"
        ops.start_timer()

    @flask_app.after_request
    def finish(response):
        return ops.record(response, log_access=log_access)

    @flask_app.route("/status/<token>", methods=["GET", "POST"])
    def status(token):
        g.actor_id = ACCOUNT  # a page of a signed-in person (idp.web.for_signed_in)
        return "ok"

    @flask_app.get("/open")
    def open_page():
        return "ok"

    return flask_app


def test_an_access_line_is_json_with_the_route_and_a_pseudonym(access_lines):
    client = app(log_access=True).test_client()
    client.set_cookie("leerid_sso", "cookie-secret-1")
    client.post("/status/path-secret-9?code=query-secret-2&state=query-secret-3", data={"password": "form-secret-4"},
                headers={"Authorization": "Bearer header-secret-5"})
    assert len(access_lines) == 1
    line = json.loads(access_lines[0])
    assert {k: line[k] for k in ("level", "logger", "request_id", "method", "path", "status")} == {
        "level": "INFO", "logger": "leerid.access", "request_id": "req-1234abcd", "method": "POST",
        "path": "/status/<token>", "status": 200}
    assert datetime.fromisoformat(line["time"]).utcoffset().total_seconds() == 0
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert re.fullmatch(r"[0-9a-f]{16}", line["account"]) and line["account"] == ops.pseudonym(ACCOUNT, KEY)
    assert ACCOUNT not in access_lines[0]
    assert not re.search(r"secret-\d", access_lines[0]), access_lines[0]


def test_the_pseudonym_depends_on_the_secret_key():
    assert ops.pseudonym(ACCOUNT, KEY) != ops.pseudonym(ACCOUNT, "another key")
    assert ops.pseudonym(ACCOUNT, KEY) != ops.pseudonym("acc-other", KEY)


def test_no_account_without_a_signed_in_person(access_lines):
    app(log_access=True).test_client().get("/open")
    assert "account" not in json.loads(access_lines[0])


def test_text_logs_have_no_access_line(access_lines):
    app(log_access=False).test_client().get("/open")
    assert access_lines == []


def test_an_exception_has_its_type_and_traceback():
    try:
        raise KeyError("missing")
    except KeyError:
        record = logging.LogRecord("leerid", logging.ERROR, __file__, 1, "unhandled %s", ("error",), sys.exc_info())
    line = json.loads(ops.JsonFormatter().format(record))
    assert line["message"] == "unhandled error" and line["request_id"] == "-"
    assert line["exc_type"] == "KeyError" and "Traceback" in line["traceback"] and "missing" in line["traceback"]


@pytest.fixture
def root_logger():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield root
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_configure_logging_json_writes_one_object_per_line(root_logger, capsys):
    configure_logging("INFO", "json")
    logging.getLogger("leerid").warning("first\nsecond")
    logging.getLogger("leerid").debug("below the level")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["message"] == "first\nsecond"


def test_configure_logging_text_stays_text(root_logger, capsys):
    configure_logging("INFO")
    logging.getLogger("leerid").warning("plain")
    err = capsys.readouterr().err
    assert err.rstrip().endswith("WARNING [-] leerid: plain")
