"""Response modes (OAuth 2.0 Multiple Response Types §2.1, Form Post Response Mode) and the `iss` parameter of
every authorization response (RFC 9207), errors and form_post included.

Conformance suite: oidcc-formpost-basic-certification-test-plan (response_mode=form_post).

Clients of this file:
  platform -- confidential, default scopes
"""
from __future__ import annotations

import pytest

from tests.protocol.helpers import (
    authorize_url,
    redeem,
    sign_in,
    verify_id_token,
)

PLATFORM = ()


@pytest.fixture(scope="module")
def platform(provider):
    return provider.client(*PLATFORM)


def test_default_mode_is_a_query_redirect_with_iss(provider, browser, user, platform):
    login = sign_in(provider, browser, platform, user)
    assert login.callback.mode == "query"
    assert login.callback.redirect_uri == platform["redirect_uri"]
    assert login.callback.response.status_code in (302, 303)
    assert login.callback.params["iss"] == provider.issuer
    assert login.callback.params["state"] == login.state


def test_explicit_query_mode(provider, browser, user, platform):
    login = sign_in(provider, browser, platform, user, response_mode="query")
    assert login.callback.mode == "query"
    assert login.callback.params["iss"] == provider.issuer


def test_form_post_posts_code_state_and_iss(provider, browser, user, platform):
    login = sign_in(provider, browser, platform, user, response_mode="form_post")
    callback = login.callback
    assert callback.mode == "form_post"
    assert callback.url == platform["redirect_uri"]
    assert set(callback.params) == {"code", "state", "iss"}
    assert callback.params["state"] == login.state
    assert callback.params["iss"] == provider.issuer
    verify_id_token(provider, login.id_token, platform["client_id"], nonce=login.nonce)


def test_form_post_page_runs_under_a_strict_csp(provider, browser, user, platform):
    """SECURITY.md: the auto-posting page works without inline script, and may only post to the platform."""
    login = sign_in(provider, browser, platform, user, response_mode="form_post", redeem=False)
    page = login.callback.response
    csp = page.headers["content-security-policy"]
    assert "'unsafe-inline'" not in csp
    assert "form-action https://" + platform["redirect_uri"].split("/")[2] in csp
    assert "frame-ancestors 'none'" in csp
    assert "onload=" not in page.text.lower() and "onclick=" not in page.text.lower()
    assert "<script>" not in page.text.replace(" ", "").lower(), "no inline script"
    assert "no-store" in page.headers.get("cache-control", "")


def test_form_post_values_are_html_escaped(provider, browser, user, platform):
    state = '"><script>alert(1)</script>'
    login = sign_in(provider, browser, platform, user, response_mode="form_post", redeem=False, state=state)
    assert "<script>alert(1)</script>" not in login.callback.response.text
    assert login.callback.params["state"] == state


def test_form_post_error_carries_iss(provider, browser, platform):
    callback = browser.authorize(authorize_url(provider, platform, response_mode="form_post", prompt="none",
                                               state="s-fp"))
    assert callback.mode == "form_post"
    assert callback.params["error"] == "login_required"
    assert callback.params["state"] == "s-fp"
    assert callback.params["iss"] == provider.issuer


def test_query_error_carries_iss(provider, browser, platform):
    callback = browser.authorize(authorize_url(provider, platform, prompt="none", state="s-q"))
    params = {k: v for k, v in callback.params.items() if k != "error_description"}
    assert params == {"error": "login_required", "state": "s-q", "iss": provider.issuer}


def test_unknown_response_mode_is_refused_without_a_code(provider, browser, user, platform):
    callback = browser.authorize(authorize_url(provider, platform, response_mode="fragment"), user)
    assert callback.params.get("error") == "invalid_request", callback.params
    assert "code" not in callback.params
    assert callback.params["iss"] == provider.issuer


def test_query_in_a_registered_redirect_uri_is_kept(provider, browser, user):
    """OIDC Core §3.1.2.1 / oidcc-redirect-uri-query-ok: a registered query is kept, the response appended."""
    registered = "https://rp-query.example/cb?tenant=school-1"
    client = provider.client(redirect_uri=registered)
    login = sign_in(provider, browser, client, user)
    assert login.callback.params["tenant"] == "school-1"
    assert login.callback.params["iss"] == provider.issuer


def test_code_from_form_post_redeems(provider, browser, user, platform):
    callback = browser.authorize(authorize_url(provider, platform, response_mode="form_post"), user)
    response = redeem(provider, platform, callback.code, None)
    assert response.status_code == 200, response.text
