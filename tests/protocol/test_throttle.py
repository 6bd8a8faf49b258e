"""Growing delays over HTTP (issue 6, item 6; DESIGN.md Authentication: a throttled attempt is refused even with the
right secret; idp/guard.py): after a few wrong passwords or codes each next attempt must wait, told on the page and
in Retry-After, for a name that exists and one that does not alike; parallel guesses cannot slip past the count; a
browser where the person logged in before (its device cookie) is judged on its own: all such browsers of a person
share one count, only a whole login (every factor, never a badge) makes one, and a new password ends their trust.

This module runs a provider of its own, whose first wait is a minute (so that a refused attempt is refused however
slow the machine) and which trusts one proxy's X-Forwarded-For, so that every test counts under source addresses of
its own. The lock after repeated failures and the limits per source are in test_brute_force.py; the exact waits,
with a fake clock, in tests/integration/test_guard.py.

Clients of this file:
  platform -- confidential, school agreement, default scopes
"""
from __future__ import annotations

import re
import secrets
import threading
import time
from http.cookies import SimpleCookie

import pyotp
import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine, text

from tests.live import running_provider
from tests.protocol.helpers import (
    SSO_COOKIE,
    Browser,
    authorize_url,
    code_form,
    enrol_form,
    login_form,
)

FREE = 2  # LEERID_LOGIN_FREE_FAILURES of this module's provider
ENV = {"LEERID_TRUSTED_PROXIES": "1", "LEERID_LOGIN_FREE_FAILURES": str(FREE), "LEERID_LOGIN_DELAY": "60",
       "LEERID_LOGIN_MAX_DELAY": "120", "LEERID_LOGIN_MAX_FAILURES": "5"}
DEVICE_COOKIE = "leerid_device"  # idp.web.DEVICE_COOKIE
ALERT = re.compile(r'<div class="alert" role="alert" id="(?:login|code)-error">(.*?)</div>', re.DOTALL)


def own_provider(tmp_path_factory, env: dict):
    """A live provider with settings of its own (a generator for a module fixture)."""
    with running_provider(tmp_path_factory.mktemp("leerid-guard"), env) as live:
        yield live


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    yield from own_provider(tmp_path_factory, ENV)


@pytest.fixture(scope="module")
def school(provider):
    return provider.school()


@pytest.fixture(scope="module")
def platform(provider, school):
    return provider.client()


@pytest.fixture
def account(provider, school):
    return provider.user(school=school)


def address() -> str:
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


def browser_at(provider, source: str) -> Browser:
    """A fresh browser (no cookies) behind the address `source`, as the trusted proxy reports it."""
    browser = Browser(provider)
    browser.http.headers["X-Forwarded-For"] = source
    return browser


def attempt(provider, client: dict, username: str, password: str, source: str):
    """One login from a fresh browser: the answer to the login POST, and whether a session began."""
    with browser_at(provider, source) as browser:
        response = browser.send_login(browser.get(authorize_url(provider, client)), username, password)
        return response, bool(browser.cookie(SSO_COOKIE))


def alert(response) -> str:
    found = ALERT.search(response.text)
    assert found, response.text[:500]
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


def assert_told_to_wait(response) -> None:
    assert response.status_code == 429, response.status_code
    assert int(response.headers["Retry-After"]) > 0
    assert "seconden" in alert(response) or "seconde" in alert(response), alert(response)


def test_after_a_few_wrong_passwords_even_the_right_one_must_wait(provider, platform, account, school):
    source = address()
    for username in (account["username"], account["username"].upper())[:FREE]:  # one account, whatever its case
        response, logged_in = attempt(provider, platform, username, "Wrong-password-1", source)
        assert response.status_code == 401 and not logged_in
    response, logged_in = attempt(provider, platform, account["username"], account["password"], address())
    assert_told_to_wait(response)
    assert not logged_in, "a refused attempt never starts a session"
    assert login_form(response) is not None
    other = provider.user(school=school)  # the wait is this account's: someone else logs in from the same place
    response, logged_in = attempt(provider, platform, other["username"], other["password"], source)
    assert response.status_code == 303 and logged_in


def test_an_unknown_name_must_wait_alike(provider, platform, account):
    told = []
    for username, password in ((account["username"], account["password"]), (f"niemand{secrets.token_hex(3)}", "x")):
        for _ in range(FREE):
            assert attempt(provider, platform, username, "Wrong-password-1", address())[0].status_code == 401
        response, _ = attempt(provider, platform, username, password, address())
        assert_told_to_wait(response)
        told.append(re.sub(r"\d+", "N", alert(response)))
    assert told[0] == told[1]


def test_parallel_guesses_cannot_slip_past_the_count(provider, platform, account):
    n, source = 8, address()
    pages = []
    for _ in range(n):  # open the login pages first, so that the guesses themselves race
        browser = browser_at(provider, source)
        pages.append((browser, browser.get(authorize_url(provider, platform))))
    barrier = threading.Barrier(n)
    statuses: list[int] = []
    lock = threading.Lock()

    def guess(browser, page):
        barrier.wait()
        response = browser.send_login(page, account["username"], "Wrong-guess-1")
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=guess, args=item) for item in pages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for browser, _ in pages:
        browser.close()
    assert len(statuses) == n and set(statuses) <= {401, 429}, statuses
    assert statuses.count(401) <= FREE, f"more than {FREE} guesses were checked: {statuses}"
    assert attempt(provider, platform, account["username"], account["password"], source)[0].status_code == 429


def test_a_right_password_starts_the_count_again(provider, platform, account):
    for _ in range(3):
        for _ in range(FREE - 1):
            assert attempt(provider, platform, account["username"], "Wrong-1", address())[0].status_code == 401
        assert attempt(provider, platform, account["username"], account["password"], address())[1]


def wrong_code(totp: pyotp.TOTP) -> str:
    valid = {totp.at(time.time() + offset) for offset in (-60, -30, 0, 30, 60)}
    return next(c for c in (f"{n:06d}" for n in range(123456, 999999, 7919)) if c not in valid)


def test_wrong_codes_make_even_the_right_code_wait(provider, platform, school):
    pupil = provider.user(school=school)
    totp = pyotp.TOTP(provider.cli("users", "totp", pupil["username"])["secret"])
    wrong = wrong_code(totp)
    with browser_at(provider, address()) as browser:
        page = browser.follow(browser.send_login(browser.get(authorize_url(provider, platform)), pupil["username"],
                                                 pupil["password"]))
        for _ in range(FREE):
            page = browser.send_code(page, wrong)
            assert page.status_code == 401, page.status_code
        page = browser.send_code(page, totp.now())
        assert page.status_code == 429 and int(page.headers["Retry-After"]) > 0
        assert code_form(page) is not None and "seconde" in alert(page)
        assert browser.cookie(SSO_COOKIE) is None
    with browser_at(provider, address()) as again:  # the right password does not reset the code's count
        page = again.follow(again.send_login(again.get(authorize_url(provider, platform)), pupil["username"],
                                             pupil["password"]))
        assert again.send_code(page, totp.now()).status_code == 429


def set_cookies(response) -> dict:
    cookies = {}
    for header in response.headers.get_list("set-cookie"):
        jar = SimpleCookie()
        jar.load(header)
        cookies.update(jar)
    return cookies


def test_a_login_makes_the_browser_a_trusted_device(provider, platform, account):
    with browser_at(provider, address()) as browser:
        response = browser.send_login(browser.get(authorize_url(provider, platform)), account["username"],
                                      account["password"])
        assert response.status_code == 303
        device = set_cookies(response)[DEVICE_COOKIE]
        assert device["httponly"] and device["samesite"].lower() == "lax" and device["path"] == "/"
        assert not device["secure"] or provider.issuer.startswith("https://")
        assert int(device["max-age"]) > 30 * 86400, "it outlives the session"
        assert account["username"] not in device.value and account["id"] not in device.value
        # someone else's wrong guesses make the account wait, but not here
        for _ in range(FREE):
            assert attempt(provider, platform, account["username"], "Wrong-1", address())[0].status_code == 401
        assert attempt(provider, platform, account["username"], account["password"], address())[0].status_code == 429
        page = browser.get(authorize_url(provider, platform, prompt="login"))
        response = browser.send_login(page, account["username"], account["password"])
        assert response.status_code == 303, response.status_code


def trusted_browser(provider, platform, person: dict) -> Browser:
    """A browser where `person` just logged in with the password: it holds their device cookie."""
    browser = browser_at(provider, address())
    response = browser.send_login(browser.get(authorize_url(provider, platform)), person["username"],
                                  person["password"])
    assert response.status_code == 303 and DEVICE_COOKIE in set_cookies(response), response.status_code
    return browser


def test_all_trusted_browsers_of_a_person_share_one_count(provider, platform, account):
    """Device cookies add up to one budget of guesses, not a fresh one each (review finding 3)."""
    browsers = [trusted_browser(provider, platform, account) for _ in range(3)]
    statuses = []
    for browser in browsers:
        for _ in range(FREE):
            page = browser.get(authorize_url(provider, platform, prompt="login"))
            statuses.append(browser.send_login(page, account["username"], "Wrong-1").status_code)
        browser.close()
    assert statuses == [401] * FREE + [429] * (2 * FREE), statuses
    # a browser without the cookie was never judged by that count
    assert attempt(provider, platform, account["username"], account["password"], address())[1]


def test_only_a_whole_login_makes_a_trusted_browser(provider, platform, school):
    """The password of a teacher who must still set up a code app (review finding 3), or of a person with a code
    app before the code, makes no trusted browser; the code after it does."""
    teacher = provider.user("teacher", school=school)
    with browser_at(provider, address()) as browser:
        browser.enrol = False
        response = browser.send_login(browser.get(authorize_url(provider, platform)), teacher["username"],
                                      teacher["password"])
        assert response.status_code == 303 and enrol_form(browser.follow(response)) is not None
        assert DEVICE_COOKIE not in set_cookies(response) and browser.cookie(DEVICE_COOKIE) is None
    with browser_at(provider, address()) as browser:  # setting up the code app completes a whole login
        browser.authorize(authorize_url(provider, platform), provider.user("teacher", school=school))
        assert browser.cookie(DEVICE_COOKIE) is not None
    pupil = provider.user(school=school)
    totp = pyotp.TOTP(provider.cli("users", "totp", pupil["username"])["secret"])
    with browser_at(provider, address()) as browser:
        response = browser.send_login(browser.get(authorize_url(provider, platform)), pupil["username"],
                                      pupil["password"])
        assert DEVICE_COOKIE not in set_cookies(response)
        response = browser.send_code(browser.follow(response), totp.now())
        assert response.status_code == 303 and DEVICE_COOKIE in set_cookies(response)


def test_a_badge_login_makes_no_trusted_browser(provider, platform):
    """A badge is no password: logging in with one never lets that browser skip the person's lock (finding 3)."""
    from tests.protocol.test_badges import (
        make_school,
        open_scanner,
        print_badge,
        pupil,
        scan,
    )

    school = make_school(provider, {"platform": platform})
    code, _ = print_badge(school, pupil(provider, school))
    with browser_at(provider, address()) as tablet:
        response = scan(open_scanner(provider, tablet, platform), code)
        assert response.status_code == 303 and tablet.cookie(SSO_COOKIE), (response.status_code, response.text[:300])
        assert DEVICE_COOKIE not in set_cookies(response) and tablet.cookie(DEVICE_COOKIE) is None
    school.console.close()


def test_a_new_password_ends_the_trust_of_every_browser(provider, platform, account):
    """A device cookie counts only under the password it was made with (review finding 3): after the school set
    a new one, the old browser is judged like any other."""
    browser = trusted_browser(provider, platform, account)
    new = f"Nieuw-{secrets.token_urlsafe(10)}"
    engine = create_engine(provider.env["LEERID_DATABASE_URL"])
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE accounts SET password_hash = :h WHERE id = :a"),
                         {"h": PasswordHasher().hash(new), "a": account["id"]})
    finally:
        engine.dispose()
    for _ in range(FREE):
        assert attempt(provider, platform, account["username"], "Wrong-1", address())[0].status_code == 401
    page = browser.get(authorize_url(provider, platform, prompt="login"))
    response = browser.send_login(page, account["username"], new)
    assert_told_to_wait(response)  # the right new password, but this browser is no longer trusted
    browser.close()
