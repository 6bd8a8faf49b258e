"""Operations: health, readiness, metrics, request ids, no secrets in logs, failing closed (DESIGN.md HTTP)."""
from __future__ import annotations

import re
import socket
import subprocess
import time

import httpx
import pytest

from tests.live import LEERID, LiveProvider, free_port
from tests.protocol.helpers import Browser, sign_in, token_request

SAMPLE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})?\s+\S+$")


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
    response = unready.http.get("/readyz")
    assert response.status_code == 503, response.text
    assert response.json()["down"] == [request.node.callspec.params["unready"]]
    assert unready.http.get("/healthz").status_code == 200, "the process itself is alive"


@pytest.mark.parametrize("unready", ["redis"], indirect=True)
def test_without_redis_leerid_fails_closed(unready):
    """SECURITY.md: Redis unreachable gives a clear 503 / temporarily_unavailable, never a skipped check."""
    client = unready.cli("clients", "create", "--name", "P", "--redirect-uri", "https://rp.example/cb")
    page = unready.http.get("/authorize", params={"client_id": client["client_id"], "response_type": "code",
                                                  "scope": "openid", "redirect_uri": "https://rp.example/cb"})
    assert page.status_code == 503 and "niet bereikbaar" in page.text
    token = token_request(unready, {"grant_type": "authorization_code", "code": "x" * 40,
                                    "redirect_uri": "https://rp.example/cb"}, client)
    assert token.status_code == 503 and token.json()["error"] == "temporarily_unavailable"


def test_metrics_are_prometheus_text(provider):
    provider.http.get("/healthz")
    response = provider.http.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = [line for line in response.text.splitlines() if line and not line.startswith("#")]
    assert samples and all(SAMPLE.match(line) for line in samples)
    assert any(line.startswith("leerid_http_requests_total{") for line in samples)


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
