"""Choosing a password in headless Chromium (issue 6, item 1): the strength hint appears while typing and is
announced politely (aria-live), "toon wachtwoord" shows what was typed, the server's refusal says what to do, and
the forms work without JavaScript too. axe-core on every page: /activeren and Mijn leerID's password page."""
from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import TIMEOUT_MS, assert_accessible, log_in

pytestmark = pytest.mark.browser
PAGE = "/mijn/beveiliging/wachtwoord"


@pytest.fixture
def pupil(provider, school) -> dict:
    """A pupil of this test alone (a changed password is theirs only)."""
    return provider.user("pupil", school, birthdate="2011-05-05")


def test_the_hint_follows_what_is_typed_on_the_activation_page(person, provider):
    page = person.page
    page.goto(f"{provider.issuer}/activeren")
    hint = page.locator("#password-strength")
    expect(hint).to_have_attribute("aria-live", "polite")
    page.locator("#password").press_sequentially("fiets")
    expect(hint).to_have_text("Zwak: nog 3 tekens.")
    page.locator("#password").fill("12345678")
    expect(hint).to_have_text(re.compile("^Zwak: een reeks"))
    page.locator("#password").fill("fietsbel!")
    expect(hint).to_have_text(re.compile("^Redelijk: voor leerkrachten en personeel nog 3 tekens"))
    page.locator("#password").fill("mijn fiets heeft een bel")
    expect(hint).to_have_text("Sterk: goed zo.")
    assert_accessible(page, "activation page with the strength hint")

    show = page.get_by_role("button", name="Toon wachtwoord")
    expect(show).to_have_attribute("aria-pressed", "false")
    show.click()
    expect(show).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#password")).to_have_attribute("type", "text")
    expect(page.locator("#password_again")).to_have_attribute("type", "text")
    assert_accessible(page, "activation page with the password shown")
    show.click()
    expect(page.locator("#password")).to_have_attribute("type", "password")


def test_the_activation_form_works_without_javascript(browser, provider):
    context = browser.new_context(locale="nl-BE", java_script_enabled=False)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto(f"{provider.issuer}/activeren")
        expect(page.get_by_role("button", name="Toon wachtwoord")).to_have_count(0)
        page.fill("#code", "AAAA-BBBB-CCCC")
        page.fill("#password", "een-zin-die-ik-onthoud")
        page.fill("#password_again", "een-zin-die-ik-onthoud")
        page.locator("form button[type=submit]").click()
        expect(page.get_by_role("alert")).to_contain_text("klopt niet")
    finally:
        context.close()


def test_changing_the_password_in_mijn_leerid(person, provider, pupil):
    page = person.page
    page.goto(f"{provider.issuer}/mijn/beveiliging")
    log_in(page, pupil)
    page.wait_for_url(f"{provider.issuer}/mijn/beveiliging")
    page.locator("#change-password").click()
    page.wait_for_url(f"{provider.issuer}{PAGE}")
    expect(page.locator("h1")).to_have_text("Wachtwoord wijzigen")
    expect(page.locator("nav a[aria-current=page]")).to_have_attribute("href", "/mijn/beveiliging")
    assert_accessible(page, "password page")

    page.fill("#current_password", pupil["password"])
    page.locator("#password").press_sequentially("2011-05-05")
    expect(page.locator("#password-strength")).to_have_text(re.compile("^Redelijk"))  # the date is the server's
    page.fill("#password_again", "2011-05-05")
    page.locator("form[action$='/wachtwoord'] button[type=submit]").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("geboortedatum")
    expect(page.locator("#password")).to_have_attribute("aria-invalid", "true")
    assert_accessible(page, "password page with a refused password")

    new = f"mijn hamster heet {secrets.token_hex(2)}"
    page.fill("#current_password", pupil["password"])
    page.fill("#password", new)
    page.fill("#password_again", new)
    page.locator("form[action$='/wachtwoord'] button[type=submit]").click()
    page.wait_for_url(f"{provider.issuer}/mijn/beveiliging")
    expect(page.get_by_role("status")).to_contain_text("Je wachtwoord is veranderd")
    assert_accessible(page, "Beveiliging after the password changed")
