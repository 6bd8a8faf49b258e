"""Passkeys in headless Chromium with its virtual authenticator (CDP WebAuthn domain: CTAP2, internal transport,
resident keys, user verification): a teacher adds one in Mijn leerID, logs out, logs in at a platform without
username or password (amr ["hwk"], acr mfa), then with the password and the passkey as second factor (amr ["pwd",
"hwk"]), and removes it; axe-core on every page that shows passkeys.

The RP ID is the issuer's host, and WebAuthn refuses an IP address such as 127.0.0.1 (the suite's provider). This
file therefore runs a provider of its own at http://localhost:PORT: Chromium treats localhost as a secure context
(WebAuthn needs one) and "localhost" is a valid RP ID, with no flags, certificates or host mapping. The provider
still listens on 127.0.0.1; Chromium resolves localhost to the loopback addresses itself.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    RP_HOST,
    assert_accessible,
    log_in,
    log_size,
    make_platform,
    open_browser,
    report_failure,
)
from tests.browser.test_journey import jwt_payload, redeem
from tests.live import on_localhost

pytestmark = pytest.mark.browser
MFA = "urn:leerid:acr:mfa"


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """A provider at http://localhost:PORT; the role policy (another part's) asks teachers nothing here."""
    with on_localhost(tmp_path_factory.mktemp("leerid-passkeys"), {"LEERID_MFA_ROLES": ""}) as live:
        yield live


@pytest.fixture(scope="module")
def local_school(local) -> str:
    return local.school()


@pytest.fixture
def person(browser, local, request):
    """A Dutch-speaking person's browser with a virtual platform authenticator on its page."""
    start = log_size(local)
    opened = open_browser(browser)
    cdp = opened.context.new_cdp_session(opened.page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})
    opened.cdp, opened.authenticator = cdp, added["authenticatorId"]
    yield opened
    report_failure(request, opened, local, start)
    opened.context.close()


def callback_code(opened, after: int = 0) -> str:
    """The code of the platform callback beyond the first `after`, once the browser's hop there ended. Polls
    page.url rather than wait_for_url: the hop ends at Chromium's error page, and a script-submitted form's
    failing navigation can make wait_for_url raise."""
    for _ in range(150):
        if len(opened.callbacks) > after and (opened.page.url.startswith("chrome-error:")
                                              or RP_HOST.match(opened.page.url)):
            return opened.callbacks[after].query["code"]
        opened.page.wait_for_timeout(100)
    raise AssertionError(f"the browser was never sent to the platform; it is at {opened.page.url}")


def credentials(opened) -> list[dict]:
    return opened.cdp.send("WebAuthn.getCredentials", {"authenticatorId": opened.authenticator})["credentials"]


def sign_out(page, local) -> None:
    page.goto(f"{local.issuer}/mijn/beveiliging")
    page.locator("form.signout button[name=logout]").click()
    page.wait_for_load_state()
    page.goto(f"{local.issuer}/mijn/beveiliging")
    expect(page.locator("input[name=password]")).to_be_visible()


def add_passkey(page, name: str) -> None:
    page.get_by_label("Naam van je passkey").fill(name)
    page.get_by_role("button", name="Passkey toevoegen").click()
    expect(page.locator("#passkeys h3", has_text=name)).to_be_visible()


def test_add_a_passkey_log_in_without_password_then_as_second_factor_and_remove_it(person, local, local_school):
    teacher = local.user("teacher", local_school)
    platform = make_platform(local, local_school)
    page = person.page

    page.goto(f"{local.issuer}/mijn/beveiliging")
    log_in(page, teacher)
    page.wait_for_url(f"{local.issuer}/mijn/beveiliging")
    expect(page.locator("#passkeys")).to_contain_text("Je hebt nog geen passkey.")
    assert_accessible(page, "Beveiliging without passkeys")

    add_passkey(page, "Laptop van de klas")
    expect(page.locator(".notice")).to_contain_text("Laptop van de klas")
    expect(page.locator("#passkeys")).to_contain_text("Nog nooit")
    assert_accessible(page, "Beveiliging with a passkey")
    stored = credentials(person)
    assert len(stored) == 1 and stored[0]["isResidentCredential"] and stored[0]["rpId"] == "localhost"
    listed = local.cli("users", "passkeys", teacher["username"])["passkeys"]
    assert [p["name"] for p in listed] == ["Laptop van de klas"]

    sign_out(page, local)
    page.goto(platform.authorize_url())
    button = page.get_by_role("button", name="Inloggen met een passkey")
    expect(button).to_be_visible()
    assert_accessible(page, "login page with the passkey button")
    button.click()
    claims = jwt_payload(redeem(local, platform, callback_code(person))["id_token"])
    assert claims["amr"] == ["hwk"] and claims["acr"] == MFA

    sign_out(page, local)
    page.goto(platform.authorize_url())
    log_in(page, teacher)
    use = page.get_by_role("button", name="Gebruik je passkey")
    expect(use).to_be_visible()
    assert page.locator("input[name=code]").count() == 0, "no code app: no code field"
    assert_accessible(page, "second-factor page with a passkey only")
    use.click()
    claims = jwt_payload(redeem(local, platform, callback_code(person, after=1))["id_token"])
    assert claims["amr"] == ["pwd", "hwk"] and claims["acr"] == MFA

    page.goto(f"{local.issuer}/mijn/beveiliging")
    expect(page.locator("#passkeys")).not_to_contain_text("Nog nooit")
    page.get_by_label("Nieuwe naam voor deze passkey").fill("Mijn laptop")
    page.get_by_role("button", name="Naam wijzigen").click()
    expect(page.locator("#passkeys .actions h3")).to_have_text("Mijn laptop")
    page.get_by_role("button", name="Passkey verwijderen").click()
    expect(page.locator(".notice")).to_contain_text("Mijn laptop")
    expect(page.locator("#passkeys")).to_contain_text("Je hebt nog geen passkey.")
    assert local.cli("users", "passkeys", teacher["username"])["passkeys"] == []


def test_a_step_up_accepts_a_passkey(person, local, local_school):
    teacher = local.user("teacher", local_school)
    platform = make_platform(local, local_school)
    page = person.page
    page.goto(f"{local.issuer}/mijn/beveiliging")
    log_in(page, teacher)
    add_passkey(page, "Gsm")
    person.visit(platform.authorize_url())  # the password session
    first = jwt_payload(redeem(local, platform, callback_code(person))["id_token"])
    assert first["amr"] == ["pwd"]
    person.visit(platform.authorize_url(acr_values=MFA))
    page.get_by_role("button", name="Gebruik je passkey").click()
    claims = jwt_payload(redeem(local, platform, callback_code(person, after=1))["id_token"])
    assert claims["amr"] == ["pwd", "hwk"] and claims["acr"] == MFA


def test_a_person_who_refuses_the_authenticator_is_told_so_in_dutch(person, local, local_school):
    teacher = local.user("teacher", local_school)
    page = person.page
    page.goto(f"{local.issuer}/mijn/beveiliging")
    log_in(page, teacher)
    add_passkey(page, "Tablet")
    sign_out(page, local)
    person.cdp.send("WebAuthn.setUserVerified", {"authenticatorId": person.authenticator, "isUserVerified": False})
    page.goto(f"{local.issuer}/mijn")
    page.get_by_role("button", name="Inloggen met een passkey").click()
    message = page.locator("[data-passkey-message]")
    expect(message).to_be_visible()
    expect(message).to_contain_text(re.compile("Probeer opnieuw|Probeer het opnieuw"))
    assert_accessible(page, "login page with the passkey message")
    assert "/interaction/" in page.url, "still on the login page"


def test_english_beveiliging_with_a_passkey(browser, local, local_school, request):
    teacher = local.user("teacher", local_school)
    opened = open_browser(browser, locale="en-GB")
    try:
        cdp = opened.context.new_cdp_session(opened.page)
        cdp.send("WebAuthn.enable", {"enableUI": False})
        cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
            "isUserVerified": True, "automaticPresenceSimulation": True}})
        page = opened.page
        page.goto(f"{local.issuer}/mijn/beveiliging?lang=en")
        log_in(page, teacher)
        page.wait_for_url(re.compile(r"/mijn/beveiliging"))
        page.locator("#passkey-name").fill("Laptop")
        page.locator("form[data-passkey=register] button[type=submit]").click()
        expect(page.locator("#passkeys h3", has_text="Laptop")).to_be_visible()
        assert page.locator("html").get_attribute("lang") == "en"
        assert_accessible(page, "Beveiliging with a passkey (en)")
    finally:
        opened.context.close()
