"""PKCE (RFC 7636, RFC 9700 §2.1.1, SECURITY.md): S256 only, required for public clients, no downgrade.

Conformance suite: oidcc-ensure-request-with-valid-pkce-succeeds.
"""
from __future__ import annotations

import secrets

import pytest

from tests.protocol.helpers import (
    assert_oauth_error,
    authorize_url,
    pkce_pair,
    redeem,
    s256,
    sign_in,
    verify_id_token,
)

# Clients of this file:
#   public       -- --public (token auth method none): PKCE S256 required
#   confidential -- client_secret_basic: PKCE accepted, not required
PUBLIC = ("--public",)
CONFIDENTIAL = ()


@pytest.fixture(scope="module")
def public(provider):
    return provider.client(*PUBLIC)


@pytest.fixture(scope="module")
def confidential(provider):
    return provider.client(*CONFIDENTIAL)


def test_public_client_with_s256_gets_tokens_without_a_secret(provider, browser, user, public):
    assert public.get("client_secret") is None
    login = sign_in(provider, browser, public, user)
    assert "refresh_token" not in login.token
    verify_id_token(provider, login.id_token, public["client_id"], nonce=login.nonce)


def test_public_client_without_code_challenge_is_refused(provider, browser, user, public):
    callback = browser.authorize(authorize_url(provider, public), user)
    assert callback.params["error"] == "invalid_request"
    assert "code" not in callback.params
    assert callback.params["iss"] == provider.issuer
    assert callback.params["state"]


def test_plain_method_is_refused(provider, browser, user, public):
    verifier = secrets.token_urlsafe(48)
    callback = browser.authorize(authorize_url(provider, public, code_challenge=verifier,
                                               code_challenge_method="plain"), user)
    assert callback.params["error"] == "invalid_request"
    assert "code" not in callback.params


def test_challenge_without_method_is_refused(provider, browser, user, public):
    """Without a method RFC 7636 means plain; leerID accepts only S256."""
    _, challenge = pkce_pair()
    callback = browser.authorize(authorize_url(provider, public, code_challenge=challenge), user)
    assert callback.params["error"] == "invalid_request"
    assert "code" not in callback.params


def test_malformed_challenge_is_refused(provider, browser, user, public):
    callback = browser.authorize(authorize_url(provider, public, code_challenge="too-short",
                                               code_challenge_method="S256"), user)
    assert callback.params["error"] == "invalid_request"


def test_wrong_verifier_gets_invalid_grant(provider, browser, user, public):
    login = sign_in(provider, browser, public, user, redeem=False)
    wrong = secrets.token_urlsafe(48)
    assert s256(wrong) != s256(login.verifier)
    assert_oauth_error(redeem(provider, public, login.callback.code, wrong), "invalid_grant")


def test_missing_verifier_is_refused(provider, browser, user, public):
    login = sign_in(provider, browser, public, user, redeem=False)
    response = redeem(provider, public, login.callback.code, None)
    body = response.json()
    assert response.status_code == 400
    assert body["error"] in ("invalid_request", "invalid_grant"), body
    assert "access_token" not in body


def test_a_failed_verifier_burns_the_code(provider, browser, user, public):
    login = sign_in(provider, browser, public, user, redeem=False)
    assert redeem(provider, public, login.callback.code, secrets.token_urlsafe(48)).status_code == 400
    assert_oauth_error(redeem(provider, public, login.callback.code, login.verifier), "invalid_grant")


def test_confidential_client_may_use_pkce(provider, browser, user, confidential):
    login = sign_in(provider, browser, confidential, user)
    verify_id_token(provider, login.id_token, confidential["client_id"])


def test_confidential_client_with_pkce_must_send_the_right_verifier(provider, browser, user, confidential):
    login = sign_in(provider, browser, confidential, user, redeem=False)
    assert_oauth_error(redeem(provider, confidential, login.callback.code, secrets.token_urlsafe(48)),
                       "invalid_grant")


def test_confidential_client_without_pkce_is_accepted(provider, browser, user, confidential):
    callback = browser.authorize(authorize_url(provider, confidential), user)
    response = redeem(provider, confidential, callback.code, None)
    assert response.status_code == 200, response.text
    assert response.json()["access_token"]


def test_verifier_without_challenge_is_refused(provider, browser, user, confidential):
    """RFC 9700 §4.8.2: a code_verifier for a request that sent no code_challenge is a downgrade attack."""
    callback = browser.authorize(authorize_url(provider, confidential), user)
    response = redeem(provider, confidential, callback.code, secrets.token_urlsafe(48))
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_request", "invalid_grant")
    assert "access_token" not in response.json()
