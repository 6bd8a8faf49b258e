"""The chooser ("for whom do you log in?") and the consent page for someone else, in headless Chromium, in Dutch
and English, with axe-core on each. The protocol-level checks are tests/protocol/test_acting.py.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import assert_accessible, log_in, make_platform

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_chooser_and_consent_for_a_child(person, provider, school, lang):
    child = provider.user("pupil", school, given_name="Noor")
    parent = provider.user("parent")
    provider.cli("mandates", "grant", "--from", child["username"], "--to", parent["username"], "--type", "parent")
    reading = make_platform(provider, school, "--basis", "consent", "--scope", "profile", "--attribute",
                            "given_name")
    page = person.page
    page.goto(reading.authorize_url(scope="openid profile", lang=lang))
    log_in(page, parent)
    mine = page.locator("button[name=act_as][value=self]")
    theirs = page.locator(f"button[name=act_as][value=\"{child['username']}\"]")
    expect(mine).to_have_count(1)
    expect(theirs).to_have_count(1)
    assert page.locator("html").get_attribute("lang") == lang
    assert_accessible(page, f"chooser ({lang})")
    theirs.click()
    page.locator("button[name=decision][value=allow]").wait_for()
    if lang == "nl":
        expect(page.get_by_role("heading", level=1)).to_contain_text("over Noor")
    assert_accessible(page, f"consent for someone else ({lang})")
    page.locator("button[name=decision][value=allow]").click()
    callback = person.wait_for_callback()
    assert callback.query.get("code"), callback.url
