"""The logout page tells the person which platforms were logged out and which could not be reached (issue 7, item 2).

Back-channel logouts are sent by the worker, never while the page waits; the page lists the session's platforms and
reads their news from a small JSON address (GET /logout/status/<token>: waiting, done or unreachable per platform)
that only the browser that saw the page may read, for a few minutes.

Clients of this file (each test registers its own):
  reachable -- confidential, --backchannel-logout-uri on a local receiver that answers 200
  held      -- confidential, --backchannel-logout-uri on a local platform that holds every POST until the test
               releases it, then answers 503
  silent    -- confidential, no back-channel logout URI
"""
from __future__ import annotations

import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode, urljoin

import pytest

from tests.local_http import Documents
from tests.protocol.helpers import Browser, discovery, sign_in
from tests.protocol.test_frontchannel import LogoutPage


class HeldPlatform:
    """A platform whose back-channel logout URI takes each POST and holds it until `release()`, then answers 503."""

    def __init__(self):
        self.released = threading.Event()
        self.arrived = threading.Event()
        self.answered = 0
        held = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                held.arrived.set()
                held.released.wait(60)
                held.answered += 1
                try:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # leerID gave up waiting (its 5 s timeout): unreachable all the same
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/backchannel"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def release(self) -> None:
        self.released.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver():
    with Documents() as documents:
        yield documents


@pytest.fixture
def held():
    platform = HeldPlatform()
    yield platform
    platform.close()


@pytest.fixture
def person(provider, school) -> dict:
    return provider.user(school=school)


def logout(provider, browser, id_token: str):
    return browser.http.get(f"{discovery(provider)['end_session_endpoint']}?{urlencode({'id_token_hint': id_token})}")


def statuses(browser, page, shown: LogoutPage) -> dict[str, str]:
    """The status address's answer, by platform name."""
    response = browser.http.get(urljoin(str(page.url), shown.status))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return {shown.platforms[p["id"]]: p["status"] for p in response.json()["platforms"]}


def wait_for(browser, page, shown: LogoutPage, name: str, wanted: str, timeout: float = 30) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        found = statuses(browser, page, shown)
        if found.get(name) == wanted or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_the_page_lists_done_and_unreachable_platforms_and_never_waits(provider, browser, receiver, held, person):
    path = f"/logout/{secrets.token_hex(6)}"
    reachable = provider.client("--backchannel-logout-uri", receiver.receiver(path))
    unreachable = provider.client("--backchannel-logout-uri", held.url)
    silent = provider.client()
    login = sign_in(provider, browser, reachable, person)
    sign_in(provider, browser, unreachable, None)
    sign_in(provider, browser, silent, None)

    page = logout(provider, browser, login.id_token)
    assert page.status_code == 200
    assert held.answered == 0, "the page came while the held platform had not answered (nor been released)"
    shown = LogoutPage(page.text)
    assert sorted(shown.platforms.values()) == sorted(c["name"] for c in (reachable, unreachable, silent))
    assert shown.status and shown.status.startswith("/logout/status/")
    assert "Mijn leerID" in page.text, "without script: where to see later whether it worked"

    first = statuses(browser, page, shown)
    assert silent["name"] not in first, "a platform without a back-channel URI has nothing to follow"
    assert first[unreachable["name"]] in ("waiting", "unreachable"), first
    assert held.arrived.wait(30), "the worker tried the held platform"
    assert statuses(browser, page, shown)[unreachable["name"]] != "done"
    assert wait_for(browser, page, shown, reachable["name"], "done")[reachable["name"]] == "done"
    held.release()
    assert wait_for(browser, page, shown, unreachable["name"], "unreachable")[unreachable["name"]] == "unreachable"
    assert len(receiver.wait_for_posts(path)) == 1


def test_the_status_is_for_the_browser_that_saw_the_page_only(provider, browser, receiver, person):
    reachable = provider.client("--backchannel-logout-uri", receiver.receiver(f"/logout/{secrets.token_hex(6)}"))
    login = sign_in(provider, browser, reachable, person)
    page = logout(provider, browser, login.id_token)
    status = urljoin(str(page.url), LogoutPage(page.text).status)
    assert browser.http.get(status).status_code == 200
    with Browser(provider) as other:
        refused = other.http.get(status)
        assert refused.status_code == 404 and refused.json() == {"error": "not_found"}
    assert browser.http.get(status.rsplit("/", 1)[0] + "/" + secrets.token_urlsafe(24)).status_code == 404


def test_without_back_channel_platforms_there_is_nothing_to_follow(provider, browser, person):
    silent = provider.client()
    login = sign_in(provider, browser, silent, person)
    page = logout(provider, browser, login.id_token)
    shown = LogoutPage(page.text)
    assert list(shown.platforms.values()) == [silent["name"]]
    assert shown.status is None
    assert "Meld je daar zelf af" in page.text, "the person is told to log out there themselves"
