"""OIDC request parameters at the authorization endpoint (OIDC Core §3.1.2.1, §3.1.2.3, §3.1.2.4):
prompt (none, login, select_account, consent), max_age, login_hint, id_token_hint, and the optional ones
leerID must accept (display, ui_locales, claims_locales, acr_values, unknown parameters).

Conformance suite, Basic OP: oidcc-prompt-none-not-logged-in, oidcc-prompt-none-logged-in, oidcc-prompt-login,
oidcc-max-age-1, oidcc-max-age-10000, oidcc-id-token-hint, oidcc-login-hint, oidcc-ui-locales,
oidcc-claims-locales, oidcc-display-page, oidcc-display-popup, oidcc-ensure-request-with-acr-values-succeeds,
oidcc-ensure-request-with-unknown-parameter-succeeds, oidcc-ensure-request-without-nonce-succeeds-for-code-flow.

Clients of this file:
  platform  -- confidential, default scopes, school-agreement basis (no consent page)
  consented -- confidential, --basis consent (a consent page until the person consented;
               tests/protocol/test_consent_memory.py)
"""
from __future__ import annotations

import time

import pytest

from tests.protocol.helpers import (
    authorize_url,
    consent_form,
    form_with_button,
    login_form,
    parse_forms,
    redeem,
    sign_in,
    verify_id_token,
)

PLATFORM = ()
CONSENTED = ("--basis", "consent")


@pytest.fixture(scope="module")
def platform(provider, school):  # after the school exists, so that the school activates it
    return provider.client(*PLATFORM)


@pytest.fixture(scope="module")
def consented(provider):
    return provider.client(*CONSENTED)


@pytest.fixture
def newcomer(provider, school) -> dict:
    """A person who has not yet consented to anything (the consent page is shown once per platform)."""
    return provider.user(school=school)


def logged_in(provider, browser, client, user) -> dict:
    """Log the browser in through `client`; the ID token claims of that login."""
    login = sign_in(provider, browser, client, user)
    return verify_id_token(provider, login.id_token, client["client_id"], nonce=login.nonce)


def assert_error_response(callback, error: str) -> None:
    """An error sent back to the platform: the error code, state, iss, and no code (OIDC Core §3.1.2.6)."""
    assert callback.params.get("error") == error, callback.params
    assert "code" not in callback.params
    assert callback.params.get("state")
    assert callback.params.get("iss")


# --- prompt=none ------------------------------------------------------------------------------------------------


def test_prompt_none_without_session_is_login_required(provider, browser, platform):
    callback = browser.authorize(authorize_url(provider, platform, prompt="none"))
    assert_error_response(callback, "login_required")
    assert callback.params["iss"] == provider.issuer


def test_prompt_none_with_session_gives_a_code_without_any_page(provider, browser, user, platform):
    first = logged_in(provider, browser, platform, user)
    login = sign_in(provider, browser, platform, None, prompt="none")
    again = verify_id_token(provider, login.id_token, platform["client_id"], nonce=login.nonce)
    assert again["sub"] == first["sub"]
    assert again["auth_time"] == first["auth_time"], "no new authentication happened"
    assert again["sid"] == first["sid"]


def test_prompt_none_with_consent_still_needed_is_consent_required(provider, browser, newcomer, platform,
                                                                    consented):
    logged_in(provider, browser, platform, newcomer)
    callback = browser.authorize(authorize_url(provider, consented, prompt="none"))
    assert_error_response(callback, "consent_required")


def test_prompt_none_combined_with_another_value_is_an_error(provider, browser, user, platform):
    """OIDC Core §3.1.2.1: none with any other value is an error."""
    logged_in(provider, browser, platform, user)
    callback = browser.authorize(authorize_url(provider, platform, prompt="none login"))
    assert "code" not in callback.params
    assert callback.params.get("error") in ("invalid_request", "login_required"), callback.params


# --- prompt=login and max_age -----------------------------------------------------------------------------------


def test_prompt_login_asks_again_and_gives_a_newer_auth_time(provider, browser, user, platform):
    first = logged_in(provider, browser, platform, user)
    time.sleep(1.1)  # auth_time has whole seconds
    page = browser.get(authorize_url(provider, platform, prompt="login", nonce="n-login"))
    assert login_form(page) is not None, "prompt=login must show the login form though a session exists"
    login = sign_in(provider, browser, platform, user, prompt="login")
    again = verify_id_token(provider, login.id_token, platform["client_id"])
    assert again["auth_time"] > first["auth_time"]
    assert again["sub"] == first["sub"]


def test_max_age_exceeded_asks_for_login_again(provider, browser, user, platform):
    first = logged_in(provider, browser, platform, user)
    time.sleep(2.1)
    page = browser.get(authorize_url(provider, platform, max_age="1"))
    assert login_form(page) is not None
    login = sign_in(provider, browser, platform, user, max_age="1")
    again = verify_id_token(provider, login.id_token, platform["client_id"])
    assert again["auth_time"] > first["auth_time"]
    assert "auth_time" in again, "OIDC Core §2: auth_time is REQUIRED when max_age was requested"


def test_max_age_exceeded_with_prompt_none_is_login_required(provider, browser, user, platform):
    logged_in(provider, browser, platform, user)
    time.sleep(2.1)
    callback = browser.authorize(authorize_url(provider, platform, max_age="1", prompt="none"))
    assert_error_response(callback, "login_required")


def test_large_max_age_keeps_the_session(provider, browser, user, platform):
    first = logged_in(provider, browser, platform, user)
    login = sign_in(provider, browser, platform, None, max_age="10000")
    again = verify_id_token(provider, login.id_token, platform["client_id"])
    assert again["auth_time"] == first["auth_time"]


@pytest.mark.parametrize("value", ["-1", "abc", "1.5"])
def test_malformed_max_age_is_invalid_request(provider, browser, platform, value):
    callback = browser.authorize(authorize_url(provider, platform, max_age=value))
    assert_error_response(callback, "invalid_request")


# --- prompt=select_account and prompt=consent -------------------------------------------------------------------


def test_select_account_offers_to_continue_as_the_current_person(provider, browser, user, platform):
    first = logged_in(provider, browser, platform, user)
    page = browser.get(authorize_url(provider, platform, prompt="select_account"))
    assert login_form(page) is not None, "another person may still log in"
    continuing = next((f for f in parse_forms(page.text) if f.action.endswith("/continue")), None)
    assert continuing is not None, "a form to continue as the person already logged in"
    assert "Verder als Lotte<" in page.text and "Peeters" not in page.text, "the first name only, as on the switch"
    callback = browser.callback(browser.submit(page, continuing))
    response = redeem(provider, platform, callback.code, None)
    assert response.status_code == 200, response.text
    assert verify_id_token(provider, response.json()["id_token"], platform["client_id"])["sub"] == first["sub"]


def test_prompt_consent_shows_the_consent_page(provider, browser, user, platform):
    logged_in(provider, browser, platform, user)
    page = browser.get(authorize_url(provider, platform, prompt="consent"))
    assert consent_form(page) is not None
    assert form_with_button(page, "decision", "deny") is not None
    callback = browser.callback(browser.consent(page, "allow"))
    assert callback.params.get("code")


def test_consent_basis_client_asks_and_allow_gives_a_code(provider, browser, newcomer, consented):
    login = sign_in(provider, browser, consented, newcomer, consent="allow")
    verify_id_token(provider, login.id_token, consented["client_id"], nonce=login.nonce)


def test_consent_answer_is_a_303(provider, browser, newcomer, consented):
    page = browser.get(authorize_url(provider, consented))
    page = browser.login(page, newcomer)
    form = consent_form(page)
    assert form is not None
    answer = browser.send(page, form, button=("decision", "allow"))
    assert answer.status_code == 303


def test_consent_denied_is_access_denied_with_state_and_iss(provider, browser, newcomer, consented):
    url = authorize_url(provider, consented, state="s-deny")
    callback = browser.authorize(url, newcomer, consent="deny")
    assert_error_response(callback, "access_denied")
    assert callback.params["state"] == "s-deny"
    assert callback.params["iss"] == provider.issuer


# --- hints and accepted optional parameters ----------------------------------------------------------------------


def test_login_hint_fills_in_the_username(provider, browser, user, platform):
    page = browser.get(authorize_url(provider, platform, login_hint=user["username"]))
    form = login_form(page)
    assert form is not None
    assert form.fields["username"] == user["username"]
    callback = browser.callback(browser.login(page, user))
    assert callback.params.get("code")


def test_login_hint_is_escaped(provider, browser, platform):
    page = browser.get(authorize_url(provider, platform, login_hint='"><script>alert(1)</script>'))
    assert "<script>alert(1)</script>" not in page.text


def test_id_token_hint_with_prompt_none(provider, browser, user, platform):
    first = sign_in(provider, browser, platform, user)
    login = sign_in(provider, browser, platform, None, prompt="none", id_token_hint=first.id_token)
    again = verify_id_token(provider, login.id_token, platform["client_id"])
    assert again["sub"] == verify_id_token(provider, first.id_token, platform["client_id"])["sub"]


@pytest.mark.parametrize("params", [
    {"display": "page"},
    {"display": "popup"},
    {"ui_locales": "nl-BE en"},
    {"claims_locales": "nl"},
    {"acr_values": "urn:leerid:acr:pwd 1 2"},
    {"extra": "foobar"},
], ids=["display-page", "display-popup", "ui-locales", "claims-locales", "acr-values", "unknown-parameter"])
def test_optional_parameters_are_accepted(provider, browser, user, platform, params):
    login = sign_in(provider, browser, platform, user, **params)
    verify_id_token(provider, login.id_token, platform["client_id"], nonce=login.nonce)


def test_request_without_nonce_succeeds_for_the_code_flow(provider, browser, user, platform):
    callback = browser.authorize(authorize_url(provider, platform), user)
    assert callback.params.get("code")


def test_ui_locales_english_shows_an_english_login_page(provider, browser, platform):
    page = browser.get(authorize_url(provider, platform, ui_locales="en"))
    assert login_form(page) is not None
    assert 'lang="en"' in page.text


# --- prompt=none when the person must choose, and max_age=0 (issue 7) --------------------------------------------


@pytest.fixture
def parent_of_a_child(provider, school) -> dict:
    """A parent holding a parent mandate (with `login`, at every platform) for a child of the school."""
    from datetime import date, timedelta

    child = provider.user(school=school, birthdate=(date.today() - timedelta(days=9 * 366)).isoformat())
    parent = provider.user(role="parent")
    provider.cli("mandates", "grant", "--from", child["username"], "--to", parent["username"], "--type", "parent")
    return dict(parent, child=child["username"])


def test_prompt_none_where_the_person_must_choose_is_account_selection_required(provider, browser, platform,
                                                                                 parent_of_a_child):
    """OIDC Core §3.1.2.6: the chooser would be needed, and prompt=none allows no page."""
    from tests.protocol.test_acting import log_in_as

    log_in_as(provider, browser, platform, parent_of_a_child, act_as="self", scope="openid")
    elsewhere = provider.client()  # never chosen at in this session
    callback = browser.authorize(authorize_url(provider, elsewhere, prompt="none", state="s-choose"))
    assert_error_response(callback, "account_selection_required")
    assert callback.params["state"] == "s-choose" and callback.params["iss"] == provider.issuer
    quiet = browser.authorize(authorize_url(provider, platform, prompt="none"))
    assert quiet.params.get("code"), "where the person chose themselves in this session, prompt=none goes on"


def test_prompt_none_after_acting_for_someone_is_account_selection_required(provider, browser, platform,
                                                                             parent_of_a_child):
    from tests.protocol.test_acting import log_in_as

    log_in_as(provider, browser, platform, parent_of_a_child, act_as=parent_of_a_child["child"], scope="openid")
    callback = browser.authorize(authorize_url(provider, platform, prompt="none"))
    assert_error_response(callback, "account_selection_required")


def test_max_age_zero_always_asks_for_a_new_login(provider, browser, user, platform):
    """OIDC Core §3.1.2.1: max_age=0 is like prompt=login; auth_time comes with it."""
    first = logged_in(provider, browser, platform, user)
    time.sleep(1.1)  # auth_time has whole seconds
    page = browser.get(authorize_url(provider, platform, max_age="0"))
    assert login_form(page) is not None, "max_age=0 shows the login form though a session exists"
    login = sign_in(provider, browser, platform, user, max_age="0")
    again = verify_id_token(provider, login.id_token, platform["client_id"], nonce=login.nonce)
    assert again["auth_time"] > first["auth_time"]
    assert again["sid"] != first["sid"], "a new login is a new session"


def test_max_age_zero_with_prompt_none_is_login_required(provider, browser, user, platform):
    logged_in(provider, browser, platform, user)
    callback = browser.authorize(authorize_url(provider, platform, max_age="0", prompt="none"))
    assert_error_response(callback, "login_required")


def test_after_an_expired_max_age_the_session_carries_the_fresh_auth_time(provider, browser, user, platform):
    first = logged_in(provider, browser, platform, user)
    time.sleep(2.1)
    fresh = verify_id_token(provider, sign_in(provider, browser, platform, user, max_age="1").id_token,
                            platform["client_id"])
    assert fresh["auth_time"] > first["auth_time"]
    quiet = sign_in(provider, browser, platform, None, prompt="none")
    assert verify_id_token(provider, quiet.id_token, platform["client_id"])["auth_time"] == fresh["auth_time"]


# --- several people on one device: "Ben jij dit niet? Wissel van leerling" (issue 7) -----------------------------


def switch_form(page):
    from tests.protocol.helpers import form_to

    return form_to(page, "/wissel")


def test_switching_ends_the_session_tells_its_platforms_and_shows_an_empty_form(provider, browser, school):
    import secrets

    from tests.local_http import Documents
    from tests.protocol.test_backchannel import logout_token

    first = provider.user(school=school, given_name="Amira", family_name="Vermeulen")  # the last option counts
    second = provider.user(school=school)
    with Documents() as receiver:
        path = f"/logout/{secrets.token_hex(6)}"
        told = provider.client("--backchannel-logout-uri", receiver.receiver(path))
        login = sign_in(provider, browser, told, first)
        page = browser.get(authorize_url(provider, told, prompt="login", login_hint=first["username"]))
        form = switch_form(page)
        assert form is not None and "Amira" in page.text, "the person still signed in, by first name"
        assert "Vermeulen" not in page.text, "the first name only"
        switched = browser.send(page, form)
        assert switched.status_code == 303 and not browser.cookie("leerid_sso")
        clean = browser.follow(switched)
        assert login_form(clean).fields["username"] == "", "an empty form, not the previous person's login_hint"
        assert switch_form(clean) is None and "Amira" not in clean.text and first["username"] not in clean.text
        [posted] = receiver.wait_for_posts(path)
        claims = logout_token(provider, posted, told)
        assert claims["sid"] == verify_id_token(provider, login.id_token, told["client_id"])["sid"]
    callback = browser.callback(browser.login(clean, second))
    assert callback.params.get("code"), "the next person logs in on the same request"


def test_switching_needs_the_csrf_token(provider, browser, user, platform):
    from tests.protocol.helpers import without_csrf

    logged_in(provider, browser, platform, user)
    page = browser.get(authorize_url(provider, platform, prompt="login"))
    refused = browser.send(page, without_csrf(switch_form(page)))
    assert refused.status_code == 400
    assert browser.authorize(authorize_url(provider, platform, prompt="none")).params.get("code"), "still signed in"
