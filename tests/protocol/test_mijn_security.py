"""Mijn leerID "Beveiliging" (/mijn/beveiliging) over HTTP (issue 6, item 2; DESIGN.md Authentication; RFC 8176):
the person sets up a code app (TOTP) with a first code, gets ten single-use recovery codes, removes or replaces the
app and renews the codes, each after a current code; a recovery code logs in once, with acr mfa and amr
["pwd", "mfa"] (a second factor, but no one-time password from the app).

Every test makes its own person: codes are used up and failures throttled per account. A code of the app is used
at most twice per 30 s step: now (step N), then the next step's code (N+1), which pyotp's window accepts too.

Clients of this file:
  platform -- confidential, school agreement, default scopes
"""
from __future__ import annotations

import re
import time

import pyotp
import pytest
from sqlalchemy import create_engine, text

from tests.protocol.helpers import (
    SSO_COOKIE,
    Browser,
    code_form,
    login_form,
    parse_forms,
    sign_in,
    verify_id_token,
    without_csrf,
)

ACR_MFA = "urn:leerid:acr:mfa"
SECRET = re.compile(r'<code id="secret" class="secret">([A-Z2-7 ]+)</code>')
RECOVERY = re.compile(r"<li><code>((?:\d{4} ){4}\d{4})</code></li>")


@pytest.fixture(scope="module")
def platform(provider):
    return provider.client()


@pytest.fixture
def person(provider, school) -> dict:
    """A parent: teachers and staff set up a code app at their first login already (LEERID_MFA_ROLES)."""
    return provider.user("parent")


def page_url(provider, path: str = "") -> str:
    return f"{provider.issuer}/mijn/beveiliging{path}"


def signed_in_browser(provider, person: dict, code: str | None = None) -> Browser:
    browser = Browser(provider, totp=(lambda: code) if code else None)
    page = browser.login(browser.get(f"{provider.issuer}/mijn"), person)
    assert page.status_code == 200 and str(page.url) == f"{provider.issuer}/mijn", (page.url, page.text[:300])
    return browser


def form_to(page, path: str):
    form = next((f for f in parse_forms(page.text) if f.action.endswith(path)), None)
    assert form is not None, f"no form to {path} on {page.url}: {page.text[:300]}"
    return form


def start(provider, browser: Browser, current: str | None = None):
    """Press "Instellen" (with a current code when an app is already set up): the page with the QR code."""
    overview = browser.get(page_url(provider))
    values = {"code": current} if current else {}
    return browser.submit(overview, form_to(overview, "/instellen"), **values)


def secret_of(page) -> pyotp.TOTP:
    found = SECRET.search(page.text)
    assert found, f"no secret on {page.url}: {page.text[:300]}"
    groups = found.group(1).split()
    assert all(len(g) == 4 for g in groups[:-1]), groups
    return pyotp.TOTP("".join(groups))


def enrol(provider, browser: Browser, current: str | None = None) -> tuple[pyotp.TOTP, list[str]]:
    page = start(provider, browser, current)
    totp = secret_of(page)
    done = browser.send(page, form_to(page, "/bevestigen"), code=totp.now())
    assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store", done.status_code
    codes = RECOVERY.findall(done.text)
    assert len(set(codes)) == 10, done.text[:500]
    return totp, codes


def next_code(totp: pyotp.TOTP) -> str:
    return totp.at(time.time() + 30)


def wrong_code(totp: pyotp.TOTP) -> str:
    valid = {totp.at(time.time() + offset) for offset in (-60, -30, 0, 30, 60)}
    return next(c for c in (f"{n:06d}" for n in range(123456, 999999, 7919)) if c not in valid)


def stored(provider, person: dict) -> tuple[str | None, list[str]]:
    """The person's encrypted secret (or None) and their recovery code hashes, straight from the database."""
    engine = create_engine(provider.env["LEERID_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            secret = conn.execute(text("SELECT secret_encrypted FROM totp_credentials WHERE account_id = :a"),
                                  {"a": person["id"]}).scalar()
            hashes = conn.execute(text("SELECT code_hash FROM recovery_codes WHERE account_id = :a"),
                                  {"a": person["id"]}).scalars().all()
    finally:
        engine.dispose()
    return secret, list(hashes)


def login_page(provider, person: dict):
    """A fresh browser after the password: the code page (or Mijn leerID itself without a code app)."""
    browser = Browser(provider)
    page = browser.follow(browser.send_login(browser.get(f"{provider.issuer}/mijn"), person["username"],
                                             person["password"]))
    return browser, page


def test_enrolling_on_the_page_then_a_login_asks_for_the_code(provider, person):
    with signed_in_browser(provider, person) as browser:
        overview = browser.get(page_url(provider))
        assert overview.status_code == 200 and overview.headers["Cache-Control"] == "no-store"
        assert "Nog niet ingesteld" in overview.text and 'href="/mijn/beveiliging"' in overview.text
        page = start(provider, browser)
        assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
        assert "<svg" in page.text and "<img" not in page.text, "the QR code is inline SVG, no request for it"
        totp = secret_of(page)
        assert totp.secret not in "".join(browser.http.cookies.values()), "the waiting secret is server-side"
        assert stored(provider, person) == (None, []), "nothing is stored before the first code"
        assert secret_of(browser.get(page_url(provider, "/instellen"))).secret == totp.secret, "same secret again"
        done = browser.send(page, form_to(page, "/bevestigen"), code=totp.now())
        assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store"
        codes = RECOVERY.findall(done.text)
        assert len(set(codes)) == 10 and "Druk deze pagina af" in done.text
        secret, hashes = stored(provider, person)
        assert secret.startswith("v1:") and totp.secret not in secret and len(hashes) == 10
        assert not {c.replace(" ", "") for c in codes} & set(hashes), "recovery codes are stored hashed"
        overview = browser.get(page_url(provider))
        assert "Ingesteld" in overview.text and "<dd>10</dd>" in overview.text
    browser, page = login_page(provider, person)
    with browser:
        assert code_form(page) is not None and browser.cookie(SSO_COOKIE) is None
        done = browser.follow(browser.send_code(page, next_code(totp)))
        assert str(done.url) == f"{provider.issuer}/mijn" and browser.cookie(SSO_COOKIE)


def test_a_wrong_first_code_stores_nothing(provider, person):
    with signed_in_browser(provider, person) as browser:
        page = start(provider, browser)
        totp = secret_of(page)
        refused = browser.send(page, form_to(page, "/bevestigen"), code=wrong_code(totp))
        assert refused.status_code == 400 and 'role="alert"' in refused.text
        assert secret_of(refused).secret == totp.secret, "the same secret waits for a right code"
        assert stored(provider, person) == (None, [])
    browser, page = login_page(provider, person)
    with browser:
        assert code_form(page) is None and str(page.url) == f"{provider.issuer}/mijn", "still no code asked"


def test_a_recovery_code_logs_in_once_with_mfa_not_otp(provider, platform, person):
    with signed_in_browser(provider, person) as browser:
        _, codes = enrol(provider, browser)
    with Browser(provider, totp=lambda: codes[0].replace(" ", "-")) as first:
        login = sign_in(provider, first, platform, person)
        claims = verify_id_token(provider, login.id_token, platform["client_id"], nonce=login.nonce)
    assert claims["acr"] == ACR_MFA and claims["amr"] == ["pwd", "mfa"], claims
    browser, page = login_page(provider, person)
    with browser:
        again = browser.send_code(page, codes[0])
        assert again.status_code == 401 and 'role="alert"' in again.text and browser.cookie(SSO_COOKIE) is None
        assert browser.follow(browser.send_code(again, codes[1])).url == f"{provider.issuer}/mijn"
        assert "<dd>8</dd>" in browser.get(page_url(provider)).text


def test_removing_asks_for_a_current_code(provider, person):
    with signed_in_browser(provider, person) as browser:
        totp, _ = enrol(provider, browser)
        overview = browser.get(page_url(provider))
        refused = browser.send(overview, form_to(overview, "/verwijderen"), code=wrong_code(totp))
        assert refused.status_code == 400 and 'role="alert"' in refused.text
        assert stored(provider, person)[0] is not None
        done = browser.send(overview, form_to(overview, "/verwijderen"), code=next_code(totp))
        assert done.status_code == 303 and done.headers["location"] == "/mijn/beveiliging"
        assert "Nog niet ingesteld" in browser.follow(done).text
    assert stored(provider, person) == (None, [])
    browser, page = login_page(provider, person)
    with browser:
        assert code_form(page) is None and str(page.url) == f"{provider.issuer}/mijn"


def test_re_enrolment_replaces_the_old_secret_and_codes(provider, person):
    with signed_in_browser(provider, person) as browser:
        old, old_codes = enrol(provider, browser)
        refused = start(provider, browser, current=wrong_code(old))
        assert refused.status_code == 400 and SECRET.search(refused.text) is None, "a current code comes first"
        new, new_codes = enrol(provider, browser, current=next_code(old))
        assert new.secret != old.secret and not set(new_codes) & set(old_codes)
    browser, page = login_page(provider, person)
    with browser:
        for stale in (old.now(), old_codes[0]):
            page = browser.send_code(page, stale)
            assert page.status_code == 401, stale
        assert browser.follow(browser.send_code(page, next_code(new))).url == f"{provider.issuer}/mijn"


def test_new_recovery_codes_replace_the_old_ones(provider, person):
    with signed_in_browser(provider, person) as browser:
        totp, old_codes = enrol(provider, browser)
        overview = browser.get(page_url(provider))
        done = browser.send(overview, form_to(overview, "/herstelcodes"), code=next_code(totp))
        assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store"
        new_codes = RECOVERY.findall(done.text)
        assert len(set(new_codes)) == 10 and not set(new_codes) & set(old_codes)
    browser, page = login_page(provider, person)
    with browser:
        page = browser.send_code(page, old_codes[0])
        assert page.status_code == 401
        assert browser.follow(browser.send_code(page, new_codes[0])).url == f"{provider.issuer}/mijn"


def test_a_waiting_secret_is_for_the_signed_in_person_only(provider, school, person):
    other = provider.user("parent")
    with signed_in_browser(provider, person) as mine, signed_in_browser(provider, other) as theirs:
        page = start(provider, mine)
        totp = secret_of(page)
        seen = theirs.get(page_url(provider, "/instellen"))
        assert totp.secret[:4] not in seen.text and SECRET.search(seen.text) is None
        assert str(seen.url) == page_url(provider), "nothing waits for them: back to their own overview"
        overview = theirs.get(page_url(provider))
        answer = theirs.send(overview, form_to(overview, "/instellen"))  # their own secret, not mine
        assert totp.secret not in theirs.follow(answer).text
        tried = theirs.http.post(page_url(provider, "/bevestigen"),
                                 data={"code": totp.now(), "csrf_token": form_to(overview, "/instellen")
                                       .fields["csrf_token"]})
        assert tried.status_code == 400
        assert stored(provider, person) == (None, []) and stored(provider, other) == (None, [])
    with Browser(provider) as anonymous:
        response = anonymous.http.get(page_url(provider, "/instellen"))
        assert response.status_code == 303 and response.headers["location"].startswith("/interaction/")


def test_forms_need_the_csrf_token(provider, person):
    with signed_in_browser(provider, person) as browser:
        overview = browser.get(page_url(provider))
        assert browser.send(overview, without_csrf(form_to(overview, "/instellen"))).status_code == 400
        page = start(provider, browser)
        totp = secret_of(page)
        refused = browser.send(page, without_csrf(form_to(page, "/bevestigen")), code=totp.now())
        assert refused.status_code == 400
        assert stored(provider, person) == (None, [])
        assert login_form(refused) is None
