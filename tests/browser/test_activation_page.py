"""The first-login page (/activeren) in the browser: usable and accessible, also when a code is wrong."""
from __future__ import annotations

import pytest

from tests.browser.conftest import assert_accessible

pytestmark = pytest.mark.browser


def test_activation_page_is_accessible(person, provider):
    page = person.page
    page.goto(f"{provider.issuer}/activeren")
    assert page.locator("html").get_attribute("lang") == "nl"
    assert_accessible(page, "activation page")


def test_wrong_code_shows_a_dutch_error_that_is_accessible(person, provider):
    page = person.page
    page.goto(f"{provider.issuer}/activeren")
    page.fill("input[name=code]", "AAAA-BBBB-CCCC")
    page.fill("input[name=password]", "een-zin-die-ik-onthoud")
    page.fill("input[name=password_again]", "een-zin-die-ik-onthoud")
    page.click("button[type=submit]")
    page.locator("[role=alert]").wait_for()
    assert "klopt niet" in page.locator("[role=alert]").inner_text()
    assert_accessible(page, "activation page with an error")


def test_activation_page_in_english(person, provider):
    page = person.page
    page.goto(f"{provider.issuer}/activeren?lang=en")
    assert page.locator("h1").inner_text() == "Activate your account"
    assert_accessible(page, "activation page (en)")
