"""The pages of a locked name and of locked codes (issue 6, item 6): a locked person is told in plain Dutch (English
with the language link) how to get back in, and axe-core finds no violations on these pages. Someone else's wrong
guesses lock the account first, over HTTP, waiting as the answers tell (Retry-After)."""
from __future__ import annotations

import re
import secrets
import time

import pyotp
import pytest

from tests.browser.conftest import assert_accessible, log_in
from tests.protocol.helpers import Browser

pytestmark = pytest.mark.browser


def guess_until_locked(provider, url: str, send) -> None:
    """Wrong guesses from a browser of the attacker's own, until the answer is a lock."""
    with Browser(provider) as attacker:
        page = attacker.follow(attacker.get(url))
        page = send(attacker, page, first=True)
        for _ in range(60):
            if page.status_code == 429 and re.search(r'id="(login|code)-lock"', page.text):
                return
            if page.status_code == 429:
                time.sleep(int(page.headers["Retry-After"]))
            page = send(attacker, page)
    raise AssertionError("never locked")


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_locked_login_page(person, provider, platform, fresh_pupil, lang):
    def wrong_password(attacker, page, first=False):
        return attacker.send_login(page, fresh_pupil["username"], "Fout-" + secrets.token_hex(4))

    guess_until_locked(provider, platform.authorize_url(), wrong_password)
    page = person.page
    page.goto(platform.authorize_url(lang=lang))
    log_in(page, fresh_pupil)  # the right password, in a browser the pupil never used
    page.get_by_role("alert").wait_for()
    words = ("beheerder", "herstelcode") if lang == "nl" else ("administrator", "recovery code")
    for word in words:
        assert word in page.get_by_role("alert").inner_text().lower()
    assert page.locator("input[name=recovery_code]").count() == 1
    assert_accessible(page, f"login page of a locked name ({lang})")


def test_locked_code_page(person, provider, platform, school):
    pupil = provider.user("pupil", school)
    totp = pyotp.TOTP(provider.cli("users", "totp", pupil["username"])["secret"])
    valid = {totp.at(time.time() + offset) for offset in (-90, -60, -30, 0, 30, 60, 90)}
    wrong = next(c for c in (f"{n:06d}" for n in range(123456, 999999, 7919)) if c not in valid)

    def wrong_code(attacker, page, first=False):
        if first:  # the attacker knows the password
            page = attacker.follow(attacker.send_login(page, pupil["username"], pupil["password"]))
        return attacker.send_code(page, wrong)

    guess_until_locked(provider, platform.authorize_url(), wrong_code)
    page = person.page
    page.goto(platform.authorize_url())
    log_in(page, pupil)
    page.locator("input[name=code]").fill(totp.now())
    page.locator("form:has(input[name=code]) button[type=submit]").click()
    page.get_by_role("alert").wait_for()
    assert "herstelcodes" in page.get_by_role("alert").inner_text()
    assert_accessible(page, "code page with locked codes (nl)")
