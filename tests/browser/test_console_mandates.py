"""The school console's mandates in headless Chromium: an administrator links a parent to a pupil and prints the
letter, finds the waiting mandate on the Mandaten page; the parent types the letter's code at /mijn/koppelen.
axe-core on every page and state, in Dutch and in English."""
from __future__ import annotations

import re
import secrets
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import assert_accessible, log_in

pytestmark = pytest.mark.browser
NINE = (date.today() - timedelta(days=9 * 366)).isoformat()
DUTCH = {
    "people": "Personen", "mandates": "Mandaten", "link": "Ouder koppelen", "field": "Gebruikersnaam of e-mailadres",
    "submit": "Ouder koppelen en brief afdrukken", "unknown": "We vinden geen leerID", "back": "Terug naar schoolbeheer",
    "waiting": "wacht op de ouder", "code": "Koppelcode", "go": "Koppelen", "wrong": "Deze code klopt niet",
    "done": "je bent nu gekoppeld aan", "revoke": "Intrekken", "revoked": "is ingetrokken", "ended": "ingetrokken",
}
ENGLISH = {
    "people": "People", "mandates": "Mandates", "link": "Link a parent", "field": "Parent's username or e-mail",
    "submit": "Link the parent and print the letter", "unknown": "We cannot find a leerID",
    "back": "Back to the school console", "waiting": "waiting for the parent", "code": "Link code", "go": "Link",
    "wrong": "This code is wrong", "done": "you are now linked to", "revoke": "Revoke", "revoked": "is revoked",
    "ended": "revoked",
}


def create(provider, role: str, number: str | None = None, *extra: str) -> dict:
    username, password = f"q{role[:3]}{secrets.token_hex(4)}", f"Pw-{secrets.token_urlsafe(12)}"
    family = f"Koppel{secrets.token_hex(3)}"
    out = provider.cli("users", "create", "--username", username, "--password", password, "--given-name", "Fien",
                       "--family-name", family, "--role", role, *extra, *(("--school", number) if number else ()))
    return dict(out, password=password, family_name=family)


def link_a_parent(browser, person, provider, lang: str, words: dict) -> None:
    number = provider.school()
    admin = create(provider, "staff", number, "--school-admin")
    pupil = create(provider, "pupil", number, "--class", "2B", "--birthdate", NINE)
    parent = create(provider, "parent")
    page = person.page
    page.goto(f"{provider.issuer}/beheer/{number}/personen/{pupil['id']}?lang={lang}")
    log_in(page, admin)
    parent_section = page.get_by_role("region", name=words["link"])
    expect(parent_section).to_be_visible()
    assert_accessible(page, f"person page with the parent form ({lang})")

    parent_section.get_by_label(words["field"]).fill("nobody-" + secrets.token_hex(3))
    parent_section.get_by_role("button", name=words["submit"]).click()
    field = page.get_by_role("region", name=words["link"]).get_by_label(words["field"])
    expect(page.get_by_role("region", name=words["link"]).get_by_role("alert")).to_contain_text(words["unknown"])
    expect(field).to_have_attribute("aria-invalid", "true")
    assert_accessible(page, f"person page with a refused parent ({lang})")

    field.fill(parent["username"])
    page.get_by_role("region", name=words["link"]).get_by_role("button", name=words["submit"]).click()
    code = page.locator(".letter .code").inner_text()
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", code), code
    expect(page.locator(".letter .username")).to_have_text(parent["username"])
    assert_accessible(page, f"parent's letter ({lang})")

    page.get_by_role("link", name=words["back"]).click()
    page.get_by_role("link", name=words["mandates"], exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(words["mandates"])
    mandate = page.get_by_role("region", name=re.compile(pupil["family_name"]))
    expect(mandate).to_contain_text(words["waiting"])
    assert_accessible(page, f"mandates page ({lang})")

    other = browser.new_context(locale="nl-BE" if lang == "nl" else "en-GB")
    try:
        parents_page = other.new_page()
        parents_page.goto(f"{provider.issuer}/mijn/koppelen?lang={lang}")
        log_in(parents_page, parent)
        expect(parents_page.get_by_role("heading", level=1)).to_be_visible()
        assert_accessible(parents_page, f"link page ({lang})")
        parents_page.get_by_label(words["code"]).fill("ABCD-EFGH-JKLM")
        parents_page.get_by_role("button", name=words["go"], exact=True).click()
        expect(parents_page.get_by_role("alert")).to_contain_text(words["wrong"])
        assert_accessible(parents_page, f"link page with a wrong code ({lang})")
        parents_page.get_by_label(words["code"]).fill(code)
        parents_page.get_by_role("button", name=words["go"], exact=True).click()
        expect(parents_page.get_by_role("status")).to_contain_text(words["done"])
        assert_accessible(parents_page, f"link page after linking ({lang})")
    finally:
        other.close()

    page.reload()
    mandate = page.get_by_role("region", name=re.compile(pupil["family_name"]))
    mandate.get_by_role("button", name=words["revoke"]).click()
    expect(page.get_by_role("status")).to_contain_text(words["revoked"])
    expect(page.get_by_role("region", name=re.compile(pupil["family_name"]))).to_contain_text(words["ended"])
    assert_accessible(page, f"mandates page after revoking ({lang})")


def test_linking_a_parent_in_dutch(browser, person, provider):
    link_a_parent(browser, person, provider, "nl", DUTCH)


def test_linking_a_parent_in_english(browser, english_person, provider):
    link_a_parent(browser, english_person, provider, "en", ENGLISH)
