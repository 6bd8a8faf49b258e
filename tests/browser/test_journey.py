"""A person's way through leerID in a real browser: login, errors, language, consent, form_post, logout."""
from __future__ import annotations

import base64
import json
import re
import secrets

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import RP_HOST, log_in

pytestmark = pytest.mark.browser

WRONG_PASSWORD_NL = "Die gebruikersnaam of dat wachtwoord klopt niet"
LOGIN_SCREENSHOT = "/tmp/leerid-login.png"


def jwt_payload(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def redeem(provider, platform, code: str) -> dict:
    response = httpx.post(f"{provider.issuer}/token", auth=(platform.client_id, platform.client_secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": platform.redirect_uri,
        "code_verifier": platform.verifier}, timeout=30, trust_env=False)
    assert response.status_code == 200, response.text
    return response.json()


def test_login_lands_on_redirect_uri_with_code_state_and_iss(person, platform, pupil, provider):
    page = person.page
    page.goto(platform.authorize_url())
    assert re.search(r"/interaction/[^/?]+$", page.url), page.url
    expect_heading(page, "Aanmelden")
    log_in(page, pupil)
    callback = person.wait_for_callback()
    assert callback.method == "GET"
    assert callback.url.startswith(platform.redirect_uri + "?")
    query = callback.query
    assert query.get("code"), query
    assert query.get("state") == platform.state
    assert query.get("iss") == provider.issuer
    assert "error" not in query
    tokens = redeem(provider, platform, query["code"])
    claims = jwt_payload(tokens["id_token"])
    assert claims["iss"] == provider.issuer and claims["aud"] in (platform.client_id, [platform.client_id])
    assert claims["nonce"] == platform.nonce


def test_single_sign_on_skips_the_login_page(person, platform, pupil):
    page = person.page
    page.goto(platform.authorize_url())
    log_in(page, pupil)
    person.wait_for_callback()
    person.visit(platform.authorize_url())
    callback = person.wait_for_callback(after=1)
    assert callback.query.get("code") and callback.query.get("state") == platform.state
    assert page.locator("input[name=password]").count() == 0


def test_wrong_password_shows_a_dutch_error_and_a_retry_works(person, platform, fresh_pupil):
    page = person.page
    page.goto(platform.authorize_url())
    wrong = "fout-" + secrets.token_hex(6)
    with page.expect_response(lambda r: r.request.method == "POST" and "/interaction/" in r.url) as posted:
        log_in(page, fresh_pupil, password=wrong)
    assert posted.value.status == 401
    alert = page.get_by_role("alert")
    assert WRONG_PASSWORD_NL in alert.inner_text()
    assert page.locator("html").get_attribute("lang") == "nl"
    assert page.locator("input[name=username]").input_value() == fresh_pupil["username"]
    assert page.locator("input[name=password]").input_value() == ""
    assert page.locator("input[name=password]").get_attribute("aria-invalid") == "true"
    assert wrong not in page.content(), "the wrong password is echoed into the page"
    assert not person.callbacks
    log_in(page, fresh_pupil)
    callback = person.wait_for_callback()
    assert callback.query.get("code") and callback.query.get("state") == platform.state


def expect_heading(page, name: str | re.Pattern) -> None:
    """The page's h1 reads `name` (waits for it: the previous page's heading may still be up)."""
    expect(page.get_by_role("heading", level=1)).to_have_text(name)


def assert_english_login(page) -> None:
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect_heading(page, re.compile(r"^\s*(Log|Sign) in\s*$", re.IGNORECASE))
    body = page.locator("body").inner_text()
    for dutch in ("Gebruikersnaam", "Wachtwoord", "Aanmelden"):
        assert dutch not in body, f"Dutch {dutch!r} on the English login page:\n{body}"
    page.get_by_label(re.compile(r"user ?name", re.IGNORECASE)).wait_for()
    page.get_by_label(re.compile(r"password", re.IGNORECASE)).wait_for()


def test_english_with_lang_parameter(person, platform, pupil):
    page = person.page
    page.goto(platform.authorize_url(lang="en"))
    assert_english_login(page)
    log_in(page, pupil)
    assert person.wait_for_callback().query.get("code")


def test_english_link_on_the_dutch_login_page(person, platform):
    page = person.page
    page.goto(platform.authorize_url())
    expect_heading(page, "Aanmelden")
    with page.expect_navigation():
        page.get_by_role("link", name="English").click()
    assert_english_login(page)


def test_english_from_accept_language(english_person, platform):
    page = english_person.page
    page.goto(platform.authorize_url())
    assert_english_login(page)


def test_consent_no_returns_access_denied_with_state_and_iss(person, consent_platform, pupil, provider):
    page = person.page
    page.goto(consent_platform.authorize_url(scope="openid profile", prompt="consent"))  # remembered once allowed
    log_in(page, pupil)
    page.get_by_role("button", name="Nee, liever niet").click()
    callback = person.wait_for_callback()
    query = callback.query
    assert query.get("error") == "access_denied", query
    assert query.get("state") == consent_platform.state
    assert query.get("iss") == provider.issuer
    assert "code" not in query


def test_consent_yes_returns_a_code(person, consent_platform, pupil, provider):
    page = person.page
    page.goto(consent_platform.authorize_url(scope="openid profile", prompt="consent"))  # remembered once allowed
    log_in(page, pupil)
    page.get_by_role("button", name="Ja, dat mag").click()
    query = person.wait_for_callback().query
    assert query.get("code") and query.get("state") == consent_platform.state
    assert query.get("iss") == provider.issuer


def test_form_post_auto_submits_code_state_and_iss(person, platform, pupil, provider):
    page = person.page
    page.goto(platform.authorize_url(response_mode="form_post"))
    log_in(page, pupil)
    callback = person.wait_for_callback()
    assert callback.method == "POST"
    assert callback.url == platform.redirect_uri, "form_post puts nothing in the query"
    form = callback.form
    assert form.get("code") and form.get("state") == platform.state and form.get("iss") == provider.issuer, form
    assert "error" not in form
    assert redeem(provider, platform, form["code"])["id_token"]


def test_logout_confirmation_ends_the_session(person, platform, pupil, provider):
    page = person.page
    page.goto(platform.authorize_url())
    log_in(page, pupil)
    person.wait_for_callback()
    page.goto(f"{provider.issuer}/logout")
    expect_heading(page, "Wil je afmelden bij leerID?")
    page.get_by_role("button", name="Ja, meld me af").click()
    expect_heading(page, "Je bent afgemeld")
    page.goto(platform.authorize_url())
    page.locator("input[name=password]").wait_for()
    assert not RP_HOST.match(page.url) and len(person.callbacks) == 1


def test_login_page_screenshot(person, platform):
    """The login page as a person sees it, saved for a look (/tmp/leerid-login.png)."""
    page = person.page
    page.goto(platform.authorize_url())
    expect_heading(page, "Aanmelden")
    for name in ("Gebruikersnaam", "Wachtwoord"):
        field = page.get_by_label(name)
        assert field.is_visible() and field.is_editable()
    assert page.get_by_role("button", name="Aanmelden").is_visible()
    assert not page.get_by_role("link", name="Ga meteen naar de inhoud").is_visible() or \
        page.get_by_role("link", name="Ga meteen naar de inhoud").bounding_box()["x"] < 0
    page.screenshot(path=LOGIN_SCREENSHOT, full_page=True)
