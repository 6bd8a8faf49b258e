"""Consent is remembered per person, platform and release-policy version, and released claims respect it
(DESIGN.md Tokens and claims: the person consented; HTTP: the consent page's `decision` buttons).

The policy version and withdrawing are not reachable from outside yet: tests/unit/test_consent_store.py covers
them (a newer version asks again; withdrawing revokes the platform's refresh grants for the person).

Clients of this file:
  consented -- confidential, --basis consent, scopes openid profile email offline_access,
               releases given_name, family_name and email
"""
from __future__ import annotations

import json

import pytest

from tests.protocol.helpers import (
    Browser,
    authorize_url,
    consent_form,
    refresh,
    sign_in,
    userinfo,
    verify_id_token,
)

ATTRIBUTES = ("given_name", "family_name", "email")
CONSENTED = ("--basis", "consent", *(a for s in ("profile", "email", "offline_access") for a in ("--scope", s)),
             *(a for name in ATTRIBUTES for a in ("--attribute", name)))


@pytest.fixture(scope="module")
def consented(provider):
    return provider.client(*CONSENTED)


@pytest.fixture
def person(provider, school) -> dict:
    """A person of their own for each test: what they consented to must not leak into another test."""
    return provider.user(school=school, email="lotte.peeters@school.example")


def asks_consent(provider, client: dict, person: dict, **params) -> bool:
    """Whether a login in a new browser, through the whole flow, shows the consent page."""
    with Browser(provider) as browser:
        page = browser.login(browser.get(authorize_url(provider, client, **params)), person)
        return consent_form(page) is not None


def id_token_claims(provider, client: dict, person: dict, scope: str = "openid profile", **params) -> dict:
    with Browser(provider) as browser:
        login = sign_in(provider, browser, client, person, scope=scope, **params)
    return verify_id_token(provider, login.id_token, client["client_id"], nonce=login.nonce)


def test_consent_is_asked_once_then_remembered(provider, browser, person, consented):
    page = browser.login(browser.get(authorize_url(provider, consented, scope="openid profile")), person)
    assert consent_form(page) is not None, "the first login asks"
    assert browser.callback(browser.consent(page, "allow")).params.get("code")
    assert not asks_consent(provider, consented, person, scope="openid profile"), "a new browser is not asked again"
    claims = id_token_claims(provider, consented, person)
    assert (claims["given_name"], claims["family_name"]) == ("Lotte", "Peeters")
    assert "email" not in claims, "not asked for, not consented to"


def test_remembered_consent_releases_in_userinfo_too(provider, person, consented):
    id_token_claims(provider, consented, person)
    with Browser(provider) as browser:
        login = sign_in(provider, browser, consented, person, scope="openid profile", consent=None)
    info = userinfo(provider, login.access_token).json()
    assert (info["given_name"], info["family_name"]) == ("Lotte", "Peeters")
    assert "email" not in info


def test_prompt_consent_asks_again(provider, person, consented):
    id_token_claims(provider, consented, person)
    assert asks_consent(provider, consented, person, scope="openid profile", prompt="consent")


def test_a_request_for_more_asks_again_and_then_both_are_remembered(provider, person, consented):
    id_token_claims(provider, consented, person)
    assert asks_consent(provider, consented, person, scope="openid profile email"), "email was never consented to"
    claims = id_token_claims(provider, consented, person, scope="openid profile email")
    assert claims["email"] == "lotte.peeters@school.example"
    assert not asks_consent(provider, consented, person, scope="openid email")
    assert not asks_consent(provider, consented, person, scope="openid profile")


def test_claims_parameter_outside_the_policy_is_never_released(provider, person, consented):
    asked = {"essential": True}
    claims = json.dumps({"id_token": {"birthdate": asked, "given_name": None}, "userinfo": {"birthdate": asked}})
    with Browser(provider) as browser:
        login = sign_in(provider, browser, consented, person, scope="openid", claims=claims)
    token = verify_id_token(provider, login.id_token, consented["client_id"], nonce=login.nonce)
    info = userinfo(provider, login.access_token).json()
    assert "birthdate" not in token and "birthdate" not in info
    assert token["given_name"] == "Lotte", "given_name is in the policy and asked for by the claims parameter"
    assert not asks_consent(provider, consented, person, scope="openid", claims=claims)


def test_deny_stores_nothing_and_is_access_denied_with_state_and_iss(provider, browser, person, consented):
    callback = browser.authorize(authorize_url(provider, consented, state="s-deny"), person, consent="deny")
    assert callback.params.get("error") == "access_denied", callback.params
    assert "code" not in callback.params
    assert (callback.params.get("state"), callback.params.get("iss")) == ("s-deny", provider.issuer)
    assert asks_consent(provider, consented, person), "a refusal is not remembered as a consent"


def test_deny_does_not_withdraw_an_earlier_consent(provider, person, consented):
    id_token_claims(provider, consented, person)
    with Browser(provider) as browser:
        callback = browser.authorize(authorize_url(provider, consented, scope="openid profile", prompt="consent"),
                                     person, consent="deny")
    assert callback.params.get("error") == "access_denied"
    assert not asks_consent(provider, consented, person, scope="openid profile")
    assert id_token_claims(provider, consented, person)["given_name"] == "Lotte"


def test_prompt_none_is_consent_required_only_before_consent(provider, person, consented):
    with Browser(provider) as browser:
        sign_in(provider, browser, provider.client(), person)  # logged in, at a school-agreement platform
        silent = browser.authorize(authorize_url(provider, consented, scope="openid profile", prompt="none"))
        assert silent.params.get("error") == "consent_required", silent.params
        assert not silent.params.get("code")
    id_token_claims(provider, consented, person)
    with Browser(provider) as browser:
        sign_in(provider, browser, consented, person, consent=None)
        silent = browser.authorize(authorize_url(provider, consented, scope="openid profile", prompt="none"))
        assert silent.params.get("code"), silent.params


def test_refresh_keeps_working_while_consent_holds(provider, person, consented):
    with Browser(provider) as browser:
        login = sign_in(provider, browser, consented, person, scope="openid profile offline_access")
    response = refresh(provider, consented, login.token["refresh_token"])
    assert response.status_code == 200, response.text
    info = userinfo(provider, response.json()["access_token"]).json()
    assert info["given_name"] == "Lotte"


def test_school_agreement_platforms_still_ask_nothing(provider, person):
    platform = provider.client()
    assert not asks_consent(provider, platform, person)
    assert not asks_consent(provider, platform, person)
