"""Mijn leerID "Beveiliging" in headless Chromium: a teacher sets up a code app with the QR code page, sees the
recovery codes once and then the overview; axe-core on every page, in Dutch and in English."""
from __future__ import annotations

import pyotp
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import assert_accessible, log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def teacher(provider, school) -> dict:
    """Someone of this test alone (codes are used up per account): a parent, since teachers and staff set up a code
    app at their first login already (LEERID_MFA_ROLES)."""
    return provider.user("parent")


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_setting_up_a_code_app(request, provider, teacher, lang):
    opened = request.getfixturevalue("person" if lang == "nl" else "english_person")
    page = opened.page
    page.goto(f"{provider.issuer}/mijn/beveiliging")
    log_in(page, teacher)
    page.wait_for_url(f"{provider.issuer}/mijn/beveiliging")
    assert page.locator("html").get_attribute("lang") == lang
    expect(page.locator("nav a[aria-current=page]")).to_have_attribute("href", "/mijn/beveiliging")
    assert_accessible(page, f"Beveiliging, no code app ({lang})")

    page.locator("form[action$='/instellen'] button[type=submit]").click()
    page.wait_for_url(f"{provider.issuer}/mijn/beveiliging/instellen")
    expect(page.locator("figure svg")).to_be_visible()
    secret = page.locator("#secret").inner_text()
    assert all(len(group) == 4 for group in secret.split()[:-1]), secret
    totp = pyotp.TOTP("".join(secret.split()))
    assert_accessible(page, f"code app set-up page with the QR code ({lang})")

    field = page.locator("input#code")
    field.fill("000000" if totp.now() != "000000" else "111111")
    page.locator("form[action$='/bevestigen'] button[type=submit]").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page, f"code app set-up page with a wrong-code error ({lang})")

    page.locator("input#code").fill(totp.now())
    page.locator("form[action$='/bevestigen'] button[type=submit]").click()
    expect(page.locator("ol.recovery-codes li")).to_have_count(10)
    assert_accessible(page, f"recovery codes page ({lang})")

    page.locator("p.no-print a").click()
    page.wait_for_url(f"{provider.issuer}/mijn/beveiliging")
    expect(page.locator("form[action$='/verwijderen'] input[name=code]")).to_be_visible()
    assert_accessible(page, f"Beveiliging with a code app ({lang})")
