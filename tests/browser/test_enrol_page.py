"""Setting up a code app during the login (issue 6, items 2 and 3) in headless Chromium: a teacher without a second
factor gets the set-up page after the password, reads the key from the page's text, confirms a first code, sees
the ten recovery codes once and reaches the platform; a pupil whose second factor was wiped is told so and may go
on without. axe-core on every page, in Dutch and in English."""
from __future__ import annotations

import re

import pyotp
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import BIRTHDATE_15, assert_accessible
from tests.live import fresh_totp

pytestmark = pytest.mark.browser


def type_password(page, user: dict) -> None:
    """The login form as a person fills it in (without tests.browser.conftest.log_in's own set-up)."""
    page.get_by_label(re.compile("Gebruikersnaam|Username", re.IGNORECASE)).fill(user["username"])
    page.get_by_label(re.compile("Wachtwoord|Password", re.IGNORECASE)).fill(user["password"])
    page.locator("form:has(input[name=password]) button[type=submit]").click()


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_a_teacher_sets_up_a_code_app_during_the_login(request, provider, school, platform, lang):
    teacher = provider.user("teacher", school)
    opened = request.getfixturevalue("person" if lang == "nl" else "english_person")
    page = opened.page
    opened.visit(platform.authorize_url())
    type_password(page, teacher)
    expect(page.locator("form[action$='/enrol'] input[name=code]")).to_be_visible()
    assert page.locator("html").get_attribute("lang") == lang
    expect(page.locator("figure svg")).to_be_visible()
    assert "leerlingen" in page.locator("main").inner_text() or lang == "en"
    secret = page.locator("#secret").inner_text()
    assert all(len(group) == 4 for group in secret.split()[:-1]), secret
    totp = pyotp.TOTP("".join(secret.split()))
    assert_accessible(page, f"code app set-up page of the login ({lang})")

    field = page.get_by_label(re.compile("Code van zes cijfers|Six-digit code", re.IGNORECASE))
    field.fill("000000" if totp.now() != "000000" else "111111")
    page.locator("form[action$='/enrol'] button[type=submit]").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.locator("#code")).to_have_attribute("aria-invalid", "true")
    assert_accessible(page, f"code app set-up page with a wrong-code error ({lang})")

    page.locator("#code").fill(fresh_totp(totp.secret))
    page.locator("form[action$='/enrol'] button[type=submit]").click()
    expect(page.locator("ol.recovery-codes li")).to_have_count(10)
    assert_accessible(page, f"recovery codes page of the login ({lang})")
    page.locator("form[action$='/enrol/verder'] button[type=submit]").click()
    callback = opened.wait_for_callback()
    assert "code" in callback.query and callback.query.get("state") == platform.state


def test_a_pupil_told_that_their_second_factor_was_wiped_may_go_on(person, provider, school, platform):
    pupil = provider.user("pupil", school, birthdate=BIRTHDATE_15)
    provider.cli("users", "totp", pupil["username"])
    provider.cli("users", "totp", pupil["username"], "--remove")
    page = person.page
    person.visit(platform.authorize_url())
    type_password(page, pupil)
    notice = page.get_by_role("status")
    expect(notice).to_contain_text("De helpdesk van leerID heeft je tweede stap gewist op")
    assert_accessible(page, "code app set-up page with the notice of a wiped second factor")
    page.get_by_role("button", name=re.compile("Nu niet")).click()
    callback = person.wait_for_callback()
    assert "code" in callback.query
