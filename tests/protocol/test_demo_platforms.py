"""The two demo platforms (examples/) against a live leerID: single sign-on and RP-initiated logout.

A cookie-keeping HTTP client plays the browser: it logs in once at the first platform, opens the second
without a login form, logs out at one platform, and is then asked for its password again.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from tests.live import free_port

PLATFORMS = ("rekenrups", "schoolportaal")
NAME_ATTRIBUTES = ("given_name", "family_name", "name")


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class Page(HTMLParser):
    """What a test needs of a page: its forms, its text, and the text of elements with an id."""

    def __init__(self, html: str):
        super().__init__()
        self.forms: list[Form] = []
        self.text_parts: list[str] = []
        self.by_id: dict[str, list[str]] = {}
        self._open_ids: list[tuple[str, str]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(attrs.get("action", ""), attrs.get("method", "get").lower()))
        elif tag in ("input", "button") and self.forms and attrs.get("name"):
            self.forms[-1].fields.setdefault(attrs["name"], attrs.get("value", ""))
        if "id" in attrs:
            self._open_ids.append((tag, attrs["id"]))
            self.by_id[attrs["id"]] = []

    def handle_endtag(self, tag):
        if self._open_ids and self._open_ids[-1][0] == tag:
            self._open_ids.pop()

    def handle_data(self, data):
        self.text_parts.append(data)
        for _, ident in self._open_ids:
            self.by_id[ident].append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.text_parts).split())

    def text_of(self, ident: str) -> str:
        return " ".join(" ".join(self.by_id.get(ident, [])).split())

    def form_with(self, name: str) -> Form | None:
        return next((f for f in self.forms if name in f.fields), None)


@dataclass
class Platform:
    slug: str
    url: str
    proc: subprocess.Popen


def start_platform(slug: str, port: int, issuer: str, client: dict, log: Path) -> Platform:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEERID_")}
    env.update(LEERID_RP_ISSUER=issuer, LEERID_RP_CLIENT_ID=client["client_id"],
               LEERID_RP_CLIENT_SECRET=client["client_secret"], NO_PROXY="127.0.0.1,localhost",
               no_proxy="127.0.0.1,localhost")
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "examples.serve", slug, "--port", str(port)], env=env,
                                stdout=out, stderr=subprocess.STDOUT, cwd=Path(__file__).parents[2])
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"examples.serve {slug} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/", trust_env=False).status_code == 200:
                return Platform(slug, url, proc)
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"examples.serve {slug} never answered: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def platforms(provider, tmp_path_factory):
    """Both demo platforms, registered as clients of the live leerID, each on a free port."""
    school = provider.school()
    logs = tmp_path_factory.mktemp("platforms")
    started = []
    try:
        for slug in PLATFORMS:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            attributes = [arg for name in NAME_ATTRIBUTES for arg in ("--attribute", name)]
            client = provider.client("--post-logout-redirect-uri", f"{base}/", "--scope", "openid", "--scope",
                                     "profile", *attributes, redirect_uri=f"{base}/callback")
            # A leerID whose school agreements need activation gets it; one without the command needs none.
            provider.run("clients", "activate", client["client_id"], "--school", school, "--json", check=False)
            started.append(start_platform(slug, port, provider.issuer, client, logs / f"{slug}.log"))
        yield school, started
    finally:
        for platform in started:
            platform.proc.terminate()
            platform.proc.wait(10)


@pytest.fixture
def browser():
    with httpx.Client(follow_redirects=True, trust_env=False, timeout=30) as client:
        yield client


def login_at_leerid(browser: httpx.Client, response: httpx.Response, user: dict) -> httpx.Response:
    page = Page(response.text)
    form = page.form_with("password")
    assert form is not None and "username" in form.fields, f"expected leerID's login form at {response.url}"
    assert "csrf_token" in form.fields, "the login form carries a hidden csrf_token"
    data = dict(form.fields, username=user["username"], password=user["password"])
    return browser.post(response.url.join(form.action), data=data)


def visited(response: httpx.Response) -> list[str]:
    return [str(r.url) for r in (*response.history, response)]


def assert_shows_person(response: httpx.Response, platform: Platform) -> Page:
    page = Page(response.text)
    assert str(response.url) == f"{platform.url}/", visited(response)
    assert page.text_of("person-name") == "Lotte Peeters", page.text
    for claim in ("sub", "acr", "amr", "auth_time"):
        assert page.text_of(f"claim-{claim}") not in ("", "–"), f"{claim} missing: {page.text}"
    return page


def test_demo_platforms_share_one_login_and_log_out_together(provider, platforms, browser):
    school, (first, second) = platforms
    user = provider.user("pupil", school)

    at_leerid = browser.get(f"{first.url}/login")
    assert at_leerid.url.path.startswith("/interaction/"), visited(at_leerid)
    page = assert_shows_person(login_at_leerid(browser, at_leerid, user), first)
    assert "pwd" in page.text_of("claim-amr")

    # Single sign-on: the second platform logs in without any login form.
    sso = browser.get(f"{second.url}/login")
    assert not any("/interaction/" in url for url in visited(sso)), visited(sso)
    second_page = assert_shows_person(sso, second)

    # RP-initiated logout at the second platform ends the leerID session too.
    logout_form = second_page.form_with("csrf")
    assert logout_form is not None and logout_form.method == "post"
    after = browser.post(sso.url.join(logout_form.action), data=logout_form.fields)
    assert any(url.startswith(f"{provider.issuer}/logout?") and "id_token_hint=" in url for url in visited(after)), \
        visited(after)
    assert str(after.url).startswith(f"{second.url}/?state="), visited(after)
    assert "Je bent afgemeld" in Page(after.text).text
    assert browser.cookies.get("leerid_sso") is None

    again = browser.get(f"{first.url}/login")
    assert again.url.path.startswith("/interaction/"), visited(again)
    assert Page(again.text).form_with("password") is not None, "after logout leerID asks for the password again"


def test_logout_without_a_login_goes_nowhere(platforms, browser):
    _, (first, _) = platforms
    refused = browser.post(f"{first.url}/logout", data={"csrf": "guess"})
    assert refused.status_code == 400
    assert "Aanmelden met leerID" in Page(browser.get(f"{first.url}/").text).text
