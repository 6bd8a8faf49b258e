"""Page tests in Debian's headless Chromium, driven by Playwright (sync API), against the live provider.

One Chromium per test session (per xdist worker); a fresh browser context (no cookies) and page per test.
Platforms' redirect URIs (https://rp-*.example/...) never leave the machine: the context answers them with
a small page of its own and records what the browser sent (method, URL, form body).
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import shutil
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

CHROMIUM = os.environ.get("LEERID_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
RP_HOST = re.compile(r"^https://rp-[a-z0-9-]+\.example/")
RP_PAGE = ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Platform</title></head>'
           '<body><main><h1>Platform callback</h1></main></body></html>')
DUTCH = "nl-BE"  # a Flemish browser: Accept-Language nl-BE (headless Chromium would otherwise send en-US)


@pytest.fixture(scope="session")
def browser():
    if not (shutil.which(CHROMIUM) or os.path.exists(CHROMIUM)):
        message = f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Callback:
    """What the browser sent to a platform's redirect URI."""

    method: str
    url: str
    body: str | None

    @property
    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.url).query, keep_blank_values=True).items()}

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body or "", keep_blank_values=True).items()}


@dataclass
class Browser:
    """One person's browser: a fresh context and page, and the platform callbacks it reached."""

    context: object
    page: object
    callbacks: list[Callback] = field(default_factory=list)

    def wait_for_callback(self, timeout_ms: int = 15_000) -> Callback:
        self.page.wait_for_url(RP_HOST, timeout=timeout_ms)
        assert self.callbacks, f"the browser is at {self.page.url} but no callback was recorded"
        return self.callbacks[-1]


def open_browser(browser, locale: str = DUTCH) -> Browser:
    context = browser.new_context(locale=locale, viewport={"width": 1000, "height": 900})
    context.set_default_timeout(15_000)
    opened = Browser(context=context, page=None)

    def platform(route, request):
        opened.callbacks.append(Callback(request.method, request.url, request.post_data))
        route.fulfill(status=200, content_type="text/html; charset=utf-8", body=RP_PAGE)

    context.route(RP_HOST, platform)
    opened.page = context.new_page()
    return opened


@pytest.fixture
def person(browser):
    """A Dutch-speaking person's browser (Accept-Language: nl-BE)."""
    opened = open_browser(browser)
    yield opened
    opened.context.close()


@pytest.fixture
def english_person(browser):
    """A browser that asks for English (Accept-Language: en-GB)."""
    opened = open_browser(browser, locale="en-GB")
    yield opened
    opened.context.close()


@dataclass
class Platform:
    """A relying party registered at the provider, and the authorization requests it makes."""

    issuer: str
    client_id: str
    client_secret: str | None
    redirect_uri: str
    state: str = ""
    verifier: str = ""
    nonce: str = ""

    def authorize_url(self, **extra: str) -> str:
        self.state = secrets.token_urlsafe(16)
        self.nonce = secrets.token_urlsafe(16)
        self.verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(self.verifier.encode()).digest()).rstrip(b"=").decode()
        params = {"client_id": self.client_id, "redirect_uri": self.redirect_uri, "response_type": "code",
                  "scope": "openid", "state": self.state, "nonce": self.nonce, "code_challenge": challenge,
                  "code_challenge_method": "S256"}
        params.update(extra)
        return f"{self.issuer}/authorize?{urlencode(params)}"


def make_platform(provider, school: str, *args: str) -> Platform:
    made = provider.client(*args)
    if "consent" not in args:
        # A school-agreement platform needs the school's activation once that exists; until then this is a no-op.
        provider.run("clients", "activate", made["client_id"], "--school", school, "--json", check=False)
    return Platform(provider.issuer, made["client_id"], made.get("client_secret"), made["redirect_uri"])


@pytest.fixture
def platform(provider, school) -> Platform:
    """A learning platform released on a school agreement (no consent page)."""
    return make_platform(provider, school)


@pytest.fixture
def consent_platform(provider, school) -> Platform:
    """A platform that asks the person's consent."""
    return make_platform(provider, school, "--basis", "consent", "--purpose", "Oefeningen op jouw niveau")


@pytest.fixture
def pupil(provider, school) -> dict:
    return provider.user("pupil", school, birthdate="2010-03-14")


def log_in(page, user: dict, password: str | None = None) -> None:
    """Fill in the login form as a person would and press the button."""
    page.get_by_label(re.compile("Gebruikersnaam|Username", re.I)).fill(user["username"])
    page.get_by_label(re.compile("Wachtwoord|Password", re.I)).fill(password or user["password"])
    page.locator("form:has(input[name=password]) button[type=submit]").click()


def assert_accessible(page, what: str) -> None:
    """axe-core on the page as it is now: zero violations, else a readable list of them."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    violations = results.response["violations"]
    if violations:
        report = format_violations(what, page.url, violations)
        print(report)
        pytest.fail(report, pytrace=False)


def format_violations(what: str, url: str, violations: list[dict]) -> str:
    lines = [f"axe-core: {len(violations)} accessibility violation(s) on the {what} ({url}):"]
    for v in violations:
        lines.append(f"- {v['id']} [{v.get('impact')}] {v['help']} ({v.get('helpUrl', '')})")
        for node in v["nodes"]:
            lines.append(f"    at {', '.join(map(str, node['target']))}: {node.get('html', '').strip()[:200]}")
            summary = (node.get("failureSummary") or "").replace("\n", "\n      ")
            if summary:
                lines.append(f"      {summary}")
    return "\n".join(lines)
