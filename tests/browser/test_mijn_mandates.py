"""Mijn leerID: mandates (/mijn/mandaten) in headless Chromium: an adult who is also a parent sees their child, their
helper and what others did in their name, chooses a helper (a mistake first), stops one with one press; axe-core
on every state of the page, in Dutch and in English."""
from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import assert_accessible, log_in

pytestmark = pytest.mark.browser

TEXT = {
    "nl": {"heading": "Mandaten", "username": "Gebruikersnaam van je helper", "login": "aanmelden bij platformen",
           "ask": "Vraag het aan je helper", "none_ticked": "Kies minstens één ding", "asked": "We vroegen het aan",
           "stop": "Stoppen", "stopped": "kan niets meer voor jou doen"},
    "en": {"heading": "Mandates", "username": "Your helper's username", "login": "log in to platforms",
           "ask": "Ask your helper", "none_ticked": "Tick at least one thing", "asked": "We asked",
           "stop": "Stop", "stopped": "can no longer do anything for you"},
}


@pytest.fixture
def family(provider, school) -> dict:
    """A parent of a young child who also has a helper of their own, and someone they may choose next."""
    people = {"parent": provider.user("parent", given_name="Mia"),
              "child": provider.user("pupil", school, birthdate=f"{date.today().year - 8}-05-01", given_name="Noor"),
              "helper": provider.user("parent", given_name="Jan"), "next": provider.user("parent", given_name="Els")}
    for represented, actor, kind in (("child", "parent", "parent"), ("parent", "helper", "assistant")):
        provider.cli("mandates", "grant", "--from", people[represented]["username"], "--to",
                     people[actor]["username"], "--type", kind)
    return people


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_mandates_page_is_accessible_and_works(request, provider, family, lang):
    words = TEXT[lang]
    page = request.getfixturevalue("person" if lang == "nl" else "english_person").page
    page.goto(f"{provider.issuer}/mijn/mandaten")
    log_in(page, family["parent"])
    page.wait_for_url(f"{provider.issuer}/mijn/mandaten")
    expect(page.get_by_role("heading", level=1)).to_have_text(words["heading"])
    assert page.locator("html").get_attribute("lang") == lang
    expect(page.get_by_role("heading", name="Noor Peeters")).to_be_visible()
    expect(page.get_by_role("heading", name="Jan Peeters")).to_be_visible()
    assert_accessible(page, f"mandates page ({lang})")

    page.get_by_label(words["username"]).fill(family["next"]["username"])
    page.get_by_role("button", name=words["ask"]).click()
    expect(page.get_by_role("alert")).to_contain_text(words["none_ticked"])
    assert_accessible(page, f"mandates page with a mistake ({lang})")
    page.get_by_label(words["login"]).check()
    page.get_by_role("button", name=words["ask"]).click()
    expect(page.get_by_role("status")).to_contain_text(f"{words['asked']} Els Peeters")
    expect(page.get_by_role("heading", name="Els Peeters")).to_be_visible()

    jan = page.locator("section.card", has=page.get_by_role("heading", name="Jan Peeters"))
    jan.get_by_role("button", name=words["stop"]).click()
    expect(page.get_by_role("status")).to_contain_text(words["stopped"])
    assert_accessible(page, f"mandates page after stopping a helper ({lang})")
