"""Login throttling (DESIGN.md Authentication; SECURITY.md): after 5 wrong passwords for an account, even the
right password is refused until the window passes; parallel guesses cannot slip past the count.

Every test makes its own account: the failures it types are counted against that account only. The failures
also count against the source address (127.0.0.1 for every test, 50 per window), so the tests type few of them;
the finer rules (a success resets the count, the window lifts it) are unit tests (tests/unit/test_login_service.py).

Clients of this file:
  platform -- confidential, default scopes
"""
from __future__ import annotations

import threading

import pytest

from tests.protocol.helpers import SSO_COOKIE, Browser, authorize_url, login_form

MAX_FAILURES = 5  # config.settings.Settings.login_max_failures


@pytest.fixture(scope="module")
def platform(provider):
    return provider.client()


@pytest.fixture
def account(provider, school):
    return provider.user(school=school)


def attempt(provider, client: dict, username: str, password: str):
    """One login attempt from a fresh browser: the response to the login POST, and whether a session began."""
    with Browser(provider) as browser:
        response = browser.send_login(browser.get(authorize_url(provider, client)), username, password)
        return response, bool(browser.cookie(SSO_COOKIE))


def test_right_password_is_refused_after_five_wrong_ones(provider, platform, account, school):
    # the username's case varies: it is one account, counted once
    for username in (account["username"], account["username"].upper()) * 2 + (account["username"].title(),):
        response, logged_in = attempt(provider, platform, username, "Wrong-password-1")
        assert response.status_code == 401
        assert not logged_in
    response, logged_in = attempt(provider, platform, account["username"], account["password"])
    assert response.status_code == 429, response.status_code
    assert not logged_in, "a throttled attempt never starts a session"
    assert login_form(response) is not None
    assert 'role="alert"' in response.text
    # the throttle is the account's: someone else logs in from the same place
    other = provider.user(school=school)
    response, logged_in = attempt(provider, platform, other["username"], other["password"])
    assert response.status_code == 303 and logged_in


def test_parallel_guesses_cannot_slip_past_the_count(provider, platform, account):
    n = 8
    pages = []
    for _ in range(n):  # open the login pages first, so that the guesses themselves race
        browser = Browser(provider)
        page = browser.get(authorize_url(provider, platform))
        pages.append((browser, page))
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
    assert len(statuses) == n
    assert set(statuses) <= {401, 429}, statuses
    assert statuses.count(401) <= MAX_FAILURES, f"more than {MAX_FAILURES} guesses were checked: {statuses}"
    response, _ = attempt(provider, platform, account["username"], account["password"])
    assert response.status_code == 429
