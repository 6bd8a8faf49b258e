"""Mijn leerID (/mijn) in headless Chromium: a pupil logs in, sees the platforms that know something about them and
their history, withdraws a consent; axe-core on every page, in Dutch and in English."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    BIRTHDATE_15,
    assert_accessible,
    log_in,
    make_platform,
)

pytestmark = pytest.mark.browser

PAGES = {"": "Mijn leerID", "/apps": "Mijn apps", "/geschiedenis": "Wat er met mijn gegevens gebeurde"}
ENGLISH = {"": "My leerID", "/apps": "My apps", "/geschiedenis": "What happened with my data"}


@pytest.fixture(scope="module")
def asking(provider, school):
    """A platform that asks consent for the first and last name."""
    return make_platform(provider, school, "--basis", "consent", "--purpose", "Oefeningen op jouw niveau",
                         "--attribute", "given_name", "--attribute", "family_name")


@pytest.fixture
def pupil(provider, school) -> dict:
    """A pupil of this test alone: their platforms and history are theirs."""
    return provider.user("pupil", school, birthdate=BIRTHDATE_15)


def consent_and_open_mijn(opened, provider, platform, user: dict) -> None:
    """Log in at the platform and say yes on the consent page; the platform redeems its code (and so receives
    the attributes); then open Mijn leerID, without a second login."""
    page = opened.page
    page.goto(platform.authorize_url(scope="openid profile"))
    log_in(page, user)
    page.locator("button[name=decision][value=allow]").click()
    code = opened.wait_for_callback().query["code"]
    token = provider.http.post("/token", auth=(platform.client_id, platform.client_secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": platform.redirect_uri,
        "code_verifier": platform.verifier})
    assert token.status_code == 200, token.text
    page.goto(f"{provider.issuer}/mijn")


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_every_page_is_accessible(request, provider, asking, pupil, lang):
    opened = request.getfixturevalue("person" if lang == "nl" else "english_person")
    consent_and_open_mijn(opened, provider, asking, pupil)
    page = opened.page
    headings = PAGES if lang == "nl" else ENGLISH
    for path, heading in headings.items():
        page.goto(f"{provider.issuer}/mijn{path}")
        if path:
            expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        assert page.locator("html").get_attribute("lang") == lang
        assert_accessible(page, f"Mijn leerID{path or ' home'} ({lang})")


def test_not_signed_in_the_login_leads_back(person, provider, pupil):
    page = person.page
    page.goto(f"{provider.issuer}/mijn/apps")
    log_in(page, pupil)
    page.wait_for_url(f"{provider.issuer}/mijn/apps")
    expect(page.get_by_role("heading", level=1)).to_have_text("Mijn apps")
    expect(page.get_by_text("Nog geen enkel platform kreeg iets over jou.")).to_be_visible()


def test_withdrawing_a_consent_in_two_clear_steps(person, provider, asking, pupil):
    consent_and_open_mijn(person, provider, asking, pupil)
    page = person.page
    page.get_by_role("link", name="Mijn apps").first.click()
    card = page.locator("section.card", has=page.get_by_role("heading", name=re.compile("^Platform ")))
    expect(card.get_by_text("omdat jij (of je ouder) toestemming gaf")).to_be_visible()
    expect(card.get_by_text("Je voornaam")).to_be_visible()
    card.get_by_role("button", name="Toestemming intrekken").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Toestemming intrekken voor")
    assert_accessible(page, "withdraw confirmation page")
    page.get_by_role("button", name="Ja, toestemming intrekken").click()
    expect(page.get_by_role("status")).to_contain_text("krijgt niets meer over jou")
    expect(page.get_by_role("button", name="Toestemming intrekken")).to_have_count(0)
    assert_accessible(page, "Mijn apps after withdrawing")
    page.goto(asking.authorize_url(scope="openid profile"))
    expect(page.locator("button[name=decision][value=allow]")).to_be_visible()  # asked again
