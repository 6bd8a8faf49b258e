"""The TOTP code page (DESIGN.md HTTP: a form with a field named `code` after the password): axe-core finds no
violations in Dutch and English, with and without an error, and the right code reaches the platform."""
from __future__ import annotations

import re

import pyotp
import pytest

from tests.browser.conftest import assert_accessible, log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def teacher(provider, school):
    """A teacher of this test alone with TOTP enrolled (codes are used up and failures counted per account)."""
    user = provider.user("teacher", school)
    return user, pyotp.TOTP(provider.cli("users", "totp", user["username"])["secret"])


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_code_page(person, platform, teacher, lang):
    user, totp = teacher
    page = person.page
    page.goto(platform.authorize_url(lang=lang))
    log_in(page, user)
    page.locator("input[name=code]").wait_for()
    assert page.locator("html").get_attribute("lang") == lang
    assert_accessible(page, f"TOTP code page ({lang})")
    field = page.get_by_label(re.compile("Code van zes cijfers|Six-digit code", re.IGNORECASE))
    field.fill("000000" if totp.now() != "000000" else "111111")
    page.locator("form:has(input[name=code]) button[type=submit]").click()
    page.get_by_role("alert").wait_for()
    assert_accessible(page, f"TOTP code page with a wrong-code error ({lang})")
    field.fill(totp.now())
    page.locator("form:has(input[name=code]) button[type=submit]").click()
    callback = person.wait_for_callback()
    assert "code" in callback.query
