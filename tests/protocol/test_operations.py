"""Operations: health, readiness, metrics, request ids, no secrets in logs, failing closed (DESIGN.md HTTP)."""
from __future__ import annotations

import re
import socket
import subprocess
import sys
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.live import LEERID, LiveProvider, free_port, fresh_database
from tests.protocol.helpers import (
    Browser,
    authorize_url,
    redeem,
    refresh,
    sign_in,
    token_request,
)

SAMPLE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})?\s+\S+$")


def metric(provider, name: str, **labels: str) -> float:
    """The value of one sample at /metrics; every series leerID counts is there from the start."""
    for family in text_string_to_metric_families(provider.http.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    raise AssertionError(f"no sample {name}{labels} at /metrics")


def logins(provider, method: str, reason: str) -> float:
    return metric(provider, "leerid_logins_total", method=method, outcome="success" if reason == "ok" else "failure",
                  reason=reason)


def closed_port() -> int:
    """A loopback port that nothing listens on."""
    port = free_port()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    return port


class Unready(LiveProvider):
    """A provider started with a store it cannot reach: it must start, and say so at /readyz."""

    def start(self) -> "Unready":
        self.run("db", "upgrade", check=False)
        out = open(self.log, "ab")
        self.proc = subprocess.Popen([LEERID, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                                     cwd=self.workdir, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            try:
                if self.http.get("/healthz").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(self.log.read_text()[-2000:])


@pytest.fixture
def unready(tmp_path, request):
    kind = request.param
    database = f"sqlite:///{tmp_path}/leerid.db"
    extra = {"LEERID_REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0"} if kind == "redis" else {}
    if kind == "database":
        database = f"postgresql://leerid@127.0.0.1:{closed_port()}/leerid"
    live = Unready(tmp_path, database, extra).start()
    try:
        yield live
    finally:
        live.stop()


def test_health_and_readiness(provider):
    assert provider.http.get("/healthz").status_code == 200
    ready = provider.http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


@pytest.mark.parametrize("unready", ["redis", "database"], indirect=True)
def test_readiness_is_503_when_a_store_is_down(unready, request):
    store = request.node.callspec.params["unready"]
    errors = metric(unready, "leerid_store_errors_total", store=store)
    response = unready.http.get("/readyz")
    assert response.status_code == 503, response.text
    assert response.json()["down"] == [store]
    assert metric(unready, "leerid_store_errors_total", store=store) == errors + 1
    assert unready.http.get("/healthz").status_code == 200, "the process itself is alive"


@pytest.mark.parametrize("unready", ["redis"], indirect=True)
def test_without_redis_leerid_fails_closed(unready):
    """SECURITY.md: Redis unreachable gives a clear 503 / temporarily_unavailable, never a skipped check."""
    client = unready.cli("clients", "create", "--name", "P", "--redirect-uri", "https://rp.example/cb")
    errors = metric(unready, "leerid_store_errors_total", store="redis")
    page = unready.http.get("/authorize", params={"client_id": client["client_id"], "response_type": "code",
                                                  "scope": "openid", "redirect_uri": "https://rp.example/cb"})
    assert page.status_code == 503 and "niet bereikbaar" in page.text
    token = token_request(unready, {"grant_type": "authorization_code", "code": "x" * 40,
                                    "redirect_uri": "https://rp.example/cb"}, client)
    assert token.status_code == 503 and token.json()["error"] == "temporarily_unavailable"
    assert metric(unready, "leerid_store_errors_total", store="redis") == errors + 2
    assert metric(unready, "leerid_store_errors_total", store="database") == 0


def test_metrics_are_prometheus_text(provider):
    provider.http.get("/healthz")
    response = provider.http.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = [line for line in response.text.splitlines() if line and not line.startswith("#")]
    assert samples and all(SAMPLE.match(line) for line in samples)
    assert any(line.startswith("leerid_http_requests_total{") for line in samples)
    assert metric(provider, "leerid_http_request_seconds_bucket", endpoint="ops.healthz", le="0.001") >= 0


def test_logins_are_counted_by_method_and_reason(provider, school):
    """A wrong password and a name that names no one are one reason: the metrics never tell them apart."""
    client, person = provider.client(), provider.user(school=school)
    before = {reason: logins(provider, "password", reason) for reason in ("ok", "bad_credentials")}
    with Browser(provider) as browser:
        page = browser.get(authorize_url(provider, client))
        wrong = browser.send_login(page, person["username"], "wrong-" + person["password"])
        unknown = browser.send_login(wrong, "nobody-" + person["username"], person["password"])
        assert wrong.status_code == unknown.status_code == 401
        assert browser.callback(browser.login(unknown, person)).code
    assert logins(provider, "password", "bad_credentials") == before["bad_credentials"] + 2
    assert logins(provider, "password", "ok") == before["ok"] + 1
    reasons = {sample.labels["reason"] for family in text_string_to_metric_families(provider.http.get("/metrics").text)
               for sample in family.samples if sample.name == "leerid_logins_total"}
    assert reasons == {"ok", "bad_credentials", "bad_code", "throttled", "locked", "disabled", "refused"}


def test_token_responses_are_counted_by_grant(provider, school):
    client = provider.client("--scope", "openid", "--scope", "offline_access")
    person = provider.user(school=school)
    code, renewed = (metric(provider, "leerid_tokens_issued_total", grant=grant)
                     for grant in ("authorization_code", "refresh_token"))
    with Browser(provider) as browser:
        login = sign_in(provider, browser, client, person, scope="openid offline_access")
    assert metric(provider, "leerid_tokens_issued_total", grant="authorization_code") == code + 1
    assert refresh(provider, client, login.token["refresh_token"]).status_code == 200
    assert metric(provider, "leerid_tokens_issued_total", grant="refresh_token") == renewed + 1
    assert redeem(provider, client, login.callback.code, login.verifier).status_code == 400  # used: not counted
    assert metric(provider, "leerid_tokens_issued_total", grant="authorization_code") == code + 1


ANOTHER_WORKER = """
from idp import ops
for _ in range(5):
    ops.count_token("client_credentials")
"""


def test_metrics_add_up_every_worker_process(tmp_path):
    """Under gunicorn (PROMETHEUS_MULTIPROC_DIR) each worker process counts apart, in files of its own: /metrics adds
    up all of them, here those of a worker that issued five client_credentials tokens and exited."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
    subprocess.run([sys.executable, "-c", ANOTHER_WORKER], env=env, check=True, timeout=60)
    with fresh_database(tmp_path) as url:
        live = LiveProvider(tmp_path, url, env).start()
        try:
            assert live.http.get("/healthz").status_code == 200
            assert metric(live, "leerid_tokens_issued_total", grant="client_credentials") == 5
            assert metric(live, "leerid_http_requests_total", endpoint="ops.healthz", method="GET", status="200") == 1
        finally:
            live.stop()


def test_every_response_carries_a_request_id(provider):
    given = provider.http.get("/healthz", headers={"X-Request-ID": "abc123-trace-42"})
    assert given.headers["X-Request-ID"] == "abc123-trace-42"
    made = provider.http.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["X-Request-ID"] != "bad id with spaces" and len(made.headers["X-Request-ID"]) >= 8


def test_no_secrets_in_the_log(provider, school):
    client = provider.client("--scope", "openid", "--scope", "offline_access")
    person = provider.user(school=school)
    with Browser(provider) as browser:
        login = sign_in(provider, browser, client, person, scope="openid offline_access")
    log = provider.log.read_text()
    secrets_seen = [person["password"], client["client_secret"], login.token["access_token"],
                    login.token["refresh_token"], login.token["id_token"], login.callback.code]
    assert not [s for s in secrets_seen if s in log]
