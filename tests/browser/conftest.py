"""Page tests in Debian's headless Chromium, driven by Playwright (sync API), against the live provider.

One Chromium per test session (per xdist worker); a fresh browser context (no cookies) and page per test.
Platforms' redirect URIs (https://rp-*.example/...) never leave the machine. Every request the browser makes
to them is recorded (method, URL, form body). A direct navigation (the form_post page's POST) is answered by
a small page of the context's own; a redirect hop cannot be intercepted by Playwright (it never routes
redirects), so Chromium resolves *.example to "not found" by itself, with no DNS query, and the hop ends
there, after it was recorded.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect, sync_playwright

from tests.live import fresh_totp, remember_totp, totp_for

CHROMIUM = os.environ.get("LEERID_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--host-resolver-rules=MAP *.example ~NOTFOUND"]
RP_HOST = re.compile(r"^https://rp-[a-z0-9-]+\.example/")
RP_PAGE = ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Platform</title></head>'
           '<body><main><h1>Platform callback</h1></main></body></html>')
BIRTHDATE_15 = f"{date.today().year - 15}-01-15"
DUTCH = "nl-BE"  # a Flemish browser: Accept-Language nl-BE (headless Chromium would otherwise send en-US)
TIMEOUT_MS = 15_000  # for every wait; two busy cores can be slow
expect.set_options(timeout=TIMEOUT_MS)
FAILURE_DIR = Path(tempfile.gettempdir()) / "leerid-browser-failures"  # screenshots of failed tests


@pytest.fixture(scope="session")
def browser():
    if not (shutil.which(CHROMIUM) or os.path.exists(CHROMIUM)):
        message = f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
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

    def record(self, request) -> None:
        if RP_HOST.match(request.url):
            seen = Callback(request.method, request.url, request.post_data)
            if not self.callbacks or self.callbacks[-1] != seen:  # Chromium may retry a failed hop once
                self.callbacks.append(seen)

    def wait_for_callback(self, after: int = 0, timeout_ms: int = TIMEOUT_MS) -> Callback:
        """The first callback beyond the first `after` ones, once the browser was sent there."""
        for _ in range(timeout_ms // 100):
            if len(self.callbacks) > after:
                # The hop ends at the platform's page or at Chromium's error page; let that navigation settle.
                # A navigation that fails while this waits (the platform's host does not resolve) settled too.
                try:
                    self.page.wait_for_url(lambda url: bool(RP_HOST.match(url)) or url.startswith("chrome-error:"),
                                           wait_until="commit")
                except PlaywrightError as failed:
                    if "net::" not in str(failed):
                        raise
                return self.callbacks[after]
            self.page.wait_for_timeout(100)  # lets Playwright deliver the browser's events
        raise AssertionError(f"the browser was never sent to the platform; it is at {self.page.url}:\n"
                             f"{visible_text(self.page)}")

    def visit(self, url: str):
        """page.goto, where a redirect straight on to the platform counts as arriving (see the module doc)."""
        before = len(self.callbacks)
        try:
            return self.page.goto(url)
        except PlaywrightError:
            if len(self.callbacks) > before:
                return None
            raise


def visible_text(page) -> str:
    try:
        return page.locator("body").inner_text(timeout=2_000)[:1500]
    except PlaywrightError:
        return "(no page text)"


def open_browser(browser, locale: str = DUTCH) -> Browser:
    context = browser.new_context(locale=locale, viewport={"width": 1000, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    opened = Browser(context=context, page=None)
    context.on("request", opened.record)
    context.route(RP_HOST, lambda route, request: route.fulfill(
        status=200, content_type="text/html; charset=utf-8", body=RP_PAGE))
    opened.page = context.new_page()
    return opened


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.browser_failed = report.failed


def report_failure(request, opened: Browser, provider, log_from: int) -> None:
    """After a failed test: where the browser was, what it showed, a screenshot and the server's log lines."""
    if not getattr(request.node, "browser_failed", False):
        return
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    shot = FAILURE_DIR / f"{name}.png"
    try:
        FAILURE_DIR.mkdir(parents=True, exist_ok=True)
        opened.page.screenshot(path=str(shot), full_page=True)
    except (PlaywrightError, OSError):
        shot = None
    try:
        with open(provider.log, "rb") as log:
            log.seek(log_from)
            server_log = log.read().decode(errors="replace")[-4000:]
    except OSError:
        server_log = "(no server log)"
    print(f"\n--- browser at {opened.page.url}; screenshot: {shot}\n{visible_text(opened.page)}"
          f"\n--- platform callbacks: {opened.callbacks}\n--- server log during the test:\n{server_log}")


def log_size(provider) -> int:
    try:
        return os.path.getsize(provider.log)
    except OSError:
        return 0


@pytest.fixture
def person(browser, provider, request):
    """A Dutch-speaking person's browser (Accept-Language: nl-BE)."""
    start = log_size(provider)
    opened = open_browser(browser)
    yield opened
    report_failure(request, opened, provider, start)
    opened.context.close()


@pytest.fixture
def english_person(browser, provider, request):
    """A browser that asks for English (Accept-Language: en-GB)."""
    start = log_size(provider)
    opened = open_browser(browser, locale="en-GB")
    yield opened
    report_failure(request, opened, provider, start)
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


def make_platform(provider, school: str, *args: str, activate: bool = True) -> Platform:
    """A platform; one on a school agreement is activated for `school` (and every school made so far)."""
    made = provider.client(*args, activate=activate)
    if activate and "consent" not in args:
        provider.cli("clients", "activate", made["client_id"], "--school", school)
    return Platform(provider.issuer, made["client_id"], made.get("client_secret"), made["redirect_uri"])


@pytest.fixture(scope="session")
def platform(provider, school) -> Platform:
    """A learning platform released on a school agreement (no consent page)."""
    return make_platform(provider, school)


@pytest.fixture(scope="session")
def consent_platform(provider, school) -> Platform:
    """A platform that asks the person's consent."""
    return make_platform(provider, school, "--basis", "consent", "--purpose", "Oefeningen op jouw niveau")


@pytest.fixture(scope="session")
def pupil(provider, school) -> dict:
    """A pupil aged 15 who always types the right password (shared: every test has a browser of its own)."""
    return provider.user("pupil", school, birthdate=BIRTHDATE_15)


@pytest.fixture
def fresh_pupil(provider, school) -> dict:
    """A pupil of this test alone, for wrong passwords (failures are throttled per account)."""
    return provider.user("pupil", school, birthdate=BIRTHDATE_15)


def log_in(page, user: dict, password: str | None = None) -> None:
    """Fill in the login form as a person would and press the button. A teacher or staff member (who needs a
    second factor, LEERID_MFA_ROLES) then sets up a code app when leerID asks, as they would, or types a fresh code
    of the one set up so (tests.live.SECOND_FACTORS); a code page for any other code app is left to the test."""
    page.get_by_label(re.compile("Gebruikersnaam|Username", re.IGNORECASE)).fill(user["username"])
    page.get_by_label(re.compile("Wachtwoord|Password", re.IGNORECASE)).fill(password or user["password"])
    button = page.locator("form:has(input[name=password]) button[type=submit]")
    if password is not None or user.get("role") not in ("teacher", "staff"):
        button.click()
        return
    try:
        with page.expect_navigation():  # to leerID's next page (or, for someone without a school, on)
            button.click()
    except PlaywrightError:
        return
    second_factor(page, user["username"])


def second_factor(page, username: str) -> None:
    """On the set-up page, set up a code app with the key in its text; on the code page, type a fresh code of the
    code app set up so. Anything else: nothing to do."""
    if page.locator("form[action$='/enrol'] input[name=code]").count():
        secret = "".join(page.locator("#secret").inner_text().split())
        page.locator("form[action$='/enrol'] input[name=code]").fill(fresh_totp(secret))
        page.locator("form[action$='/enrol'] button[type=submit]").click()
        remember_totp(username, secret)
        last = page.locator("form[action$='/enrol/verder'] button[type=submit]")  # waits for the codes page
    elif page.locator("form:has(input[name=code])").count() and totp_for(username):
        page.locator("form:has(input[name=code]) input[name=code]").fill(totp_for(username)())
        last = page.locator("form:has(input[name=code]) button[type=submit]")
    else:
        return
    try:
        with page.expect_navigation():  # on to where the login leads, before the test goes on
            last.click()
    except PlaywrightError:  # a platform's redirect URI, which Chromium does not resolve (see the module doc)
        pass


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
