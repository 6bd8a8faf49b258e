"""Sessions in headless Chromium (issue 7): the login page's "Dit is een gedeeld toestel", Mijn leerID > Mijn
sessies (the list, logging out one, logging out everywhere and the page after), and a pupil's sessions and the
school's device policy in the console; axe-core on every page, in Dutch and in English."""
from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import assert_accessible, log_in
from tests.protocol.helpers import Browser

pytestmark = pytest.mark.browser


def other_session(provider, person: dict) -> None:
    """The person is logged in elsewhere too (another browser, left open: closing it here ends nothing)."""
    with Browser(provider) as other:
        other.login(other.get(f"{provider.issuer}/mijn"), person)


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_my_sessions(request, provider, school, lang):
    opened = request.getfixturevalue("person" if lang == "nl" else "english_person")
    page, pupil = opened.page, provider.user(school=school)
    other_session(provider, pupil)
    page.goto(f"{provider.issuer}/mijn/sessies")
    expect(page.locator("input#shared_device")).to_be_visible()
    assert page.locator("html").get_attribute("lang") == lang
    assert_accessible(page, f"login page with the shared-device choice ({lang})")
    page.locator("input#username").fill(pupil["username"])
    page.locator("input#password").fill(pupil["password"])
    page.locator("input#shared_device").check()
    page.locator("form:has(input[name=password]) button[type=submit]").click()
    page.wait_for_url(f"{provider.issuer}/mijn/sessies")
    expect(page.locator("nav a[aria-current=page]")).to_have_attribute("href", "/mijn/sessies")
    cards = page.locator("section.card")
    expect(cards).to_have_count(3)  # this browser (newest first), the other one, and "log out everywhere"
    expect(cards.nth(0).locator("h2 .hint")).to_be_visible()
    assert_accessible(page, f"Mijn sessies with two sessions ({lang})")

    cards.nth(1).locator("button").click()
    expect(page.get_by_role("status")).to_be_visible()
    expect(page.locator("section.card")).to_have_count(2)
    assert_accessible(page, f"Mijn sessies after logging out elsewhere ({lang})")

    page.locator("form[action$='/overal'] button").click()
    page.wait_for_url(f"{provider.issuer}/mijn/afgemeld")
    expect(page.locator("h1")).to_be_visible()
    assert_accessible(page, f"logged out everywhere ({lang})")
    page.goto(f"{provider.issuer}/mijn/sessies")
    expect(page.locator("input#username")).to_be_visible()  # logged out here too


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_a_pupil_s_sessions_and_the_device_policy_in_the_console(request, provider, lang):
    opened = request.getfixturevalue("person" if lang == "nl" else "english_person")
    page, number = opened.page, provider.school()
    username, password = f"b{secrets.token_hex(4)}", f"Pw-{secrets.token_urlsafe(12)}"
    provider.cli("users", "create", "--username", username, "--password", password, "--given-name", "Els",
                 "--family-name", "Beheer", "--role", "staff", "--school", number, "--school-admin")
    admin = {"username": username, "password": password, "role": "staff"}
    pupil = provider.user(school=number)
    other_session(provider, pupil)

    page.goto(f"{provider.issuer}/beheer/{number}/personen/{pupil['id']}")
    log_in(page, admin)
    page.wait_for_url(f"{provider.issuer}/beheer/{number}/personen/{pupil['id']}")
    section = page.locator("section#sessies")
    expect(section.locator("tbody tr")).to_have_count(1)
    assert_accessible(page, f"a pupil's page with their sessions ({lang})")
    section.locator("tbody button").click()
    expect(page.get_by_role("status")).to_be_visible()
    expect(page.locator("section#sessies tbody tr")).to_have_count(0)
    assert_accessible(page, f"a pupil's page after logging them out ({lang})")

    page.locator("section#sessies a[href$='/toestellen']").click()
    page.wait_for_url(f"{provider.issuer}/beheer/{number}/toestellen")
    expect(page.locator("input#toestellen-ask")).to_be_checked()
    assert_accessible(page, f"the school's device policy ({lang})")
    page.locator("input#toestellen-shared").check()
    page.locator("form[action$='/toestellen'] button[type=submit]").click()
    expect(page.get_by_role("status")).to_be_visible()
    expect(page.locator("input#toestellen-shared")).to_be_checked()
    assert_accessible(page, f"the school's device policy, saved ({lang})")
