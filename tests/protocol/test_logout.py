"""RP-Initiated Logout 1.0: id_token_hint, confirmation without it, post_logout_redirect_uri only when registered.

Conformance suite, RP-Initiated Logout OP plan: oidcc-rp-initiated-logout, -bad-id-token-hint,
-modified-id-token-hint, -no-id-token-hint, -no-params, -no-post-logout-redirect-uri, -no-state, -only-state,
-query-added-to-logout-redirect-uri, -bad-logout-redirect-uri.

Clients of this file:
  platform -- confidential, one registered post-logout redirect URI
  other    -- another confidential client (its ID tokens are not the platform's)
"""
from __future__ import annotations

import base64
import json
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.protocol.helpers import (
    SSO_COOKIE,
    authorize_url,
    b64url,
    discovery,
    form_with_button,
    login_form,
    sign_in,
    without_csrf,
)

POST_LOGOUT = "https://rp-logout.example/signed-out"


@pytest.fixture(scope="module")
def platform(provider):
    return provider.client("--post-logout-redirect-uri", POST_LOGOUT)


@pytest.fixture(scope="module")
def other(provider):
    return provider.client()


def logout_url(provider, **params) -> str:
    return f"{discovery(provider)['end_session_endpoint']}?{urlencode(params)}"


def session_is_alive(provider, browser, client) -> bool:
    """prompt=none answers with a code only while the SSO session lives."""
    callback = browser.authorize(authorize_url(provider, client, prompt="none"))
    return "code" in callback.params


def confirm_page(page):
    return form_with_button(page, "logout", "yes")


def test_valid_id_token_hint_ends_the_session_at_once_and_redirects(provider, browser, user, platform):
    login = sign_in(provider, browser, platform, user)
    assert session_is_alive(provider, browser, platform)
    response = browser.http.get(logout_url(provider, id_token_hint=login.id_token,
                                           post_logout_redirect_uri=POST_LOGOUT, state="bye"))
    assert response.status_code in (302, 303), response.text[:300]
    target = urlsplit(response.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == POST_LOGOUT
    assert parse_qs(target.query) == {"state": ["bye"]}
    assert not session_is_alive(provider, browser, platform)


def test_logout_clears_the_sso_cookie(provider, browser, user, platform):
    login = sign_in(provider, browser, platform, user)
    assert browser.cookie(SSO_COOKIE)
    response = browser.http.get(logout_url(provider, id_token_hint=login.id_token))
    assert response.status_code == 200
    assert not browser.cookie(SSO_COOKIE)
    assert login_form(browser.get(authorize_url(provider, platform))) is not None


def test_without_state_no_state_is_added(provider, browser, user, platform):
    login = sign_in(provider, browser, platform, user)
    response = browser.http.get(logout_url(provider, id_token_hint=login.id_token,
                                           post_logout_redirect_uri=POST_LOGOUT))
    assert response.headers["location"] == POST_LOGOUT


def test_with_client_id_and_hint(provider, browser, user, platform):
    login = sign_in(provider, browser, platform, user)
    response = browser.http.get(logout_url(provider, id_token_hint=login.id_token, client_id=platform["client_id"],
                                           post_logout_redirect_uri=POST_LOGOUT))
    assert response.status_code in (302, 303)
    assert not session_is_alive(provider, browser, platform)


def test_no_redirect_without_post_logout_redirect_uri(provider, browser, user, platform):
    login = sign_in(provider, browser, platform, user)
    response = browser.http.get(logout_url(provider, id_token_hint=login.id_token))
    assert response.status_code == 200
    assert not response.is_redirect
    assert not session_is_alive(provider, browser, platform)


def test_unregistered_post_logout_redirect_uri_is_never_followed(provider, browser, user, platform):
    login = sign_in(provider, browser, platform, user)
    response = browser.http.get(logout_url(provider, id_token_hint=login.id_token,
                                           post_logout_redirect_uri="https://evil.example/"))
    assert not response.is_redirect
    assert "evil.example" not in response.headers.get("location", "")


def test_query_added_to_the_registered_uri_is_not_followed(provider, browser, user, platform):
    login = sign_in(provider, browser, platform, user)
    response = browser.http.get(logout_url(provider, id_token_hint=login.id_token,
                                           post_logout_redirect_uri=POST_LOGOUT + "?extra=1"))
    assert not response.is_redirect


def test_another_clients_post_logout_uri_is_not_followed(provider, browser, user, platform, other):
    login = sign_in(provider, browser, other, user)
    response = browser.http.get(logout_url(provider, id_token_hint=login.id_token,
                                           post_logout_redirect_uri=POST_LOGOUT))
    assert not response.is_redirect


def test_client_id_not_matching_the_hint_is_refused(provider, browser, user, platform, other):
    login = sign_in(provider, browser, platform, user)
    response = browser.http.get(logout_url(provider, id_token_hint=login.id_token, client_id=other["client_id"],
                                           post_logout_redirect_uri=POST_LOGOUT))
    assert not response.is_redirect
    assert session_is_alive(provider, browser, platform), "a refused request ends nothing"


def test_without_hint_the_person_confirms(provider, browser, user, platform):
    sign_in(provider, browser, platform, user)
    page = browser.get(logout_url(provider, client_id=platform["client_id"], post_logout_redirect_uri=POST_LOGOUT,
                                  state="s"))
    assert page.status_code == 200
    form = confirm_page(page)
    assert form is not None, "a confirmation form with a button logout=yes"
    assert session_is_alive(provider, browser, platform), "nothing ends before the person confirms"
    done = browser.submit(page, form, button=("logout", "yes"))
    assert done.status_code in (200, 302, 303)
    if done.is_redirect:  # only to a registered URI
        assert done.headers["location"].startswith(POST_LOGOUT)
    assert not session_is_alive(provider, browser, platform)


def test_no_params_asks_for_confirmation(provider, browser, user, platform):
    sign_in(provider, browser, platform, user)
    page = browser.get(logout_url(provider))
    form = confirm_page(page)
    assert form is not None
    assert not page.is_redirect
    browser.submit(page, form, button=("logout", "yes"))
    assert not session_is_alive(provider, browser, platform)


def test_the_person_may_decline(provider, browser, user, platform):
    sign_in(provider, browser, platform, user)
    page = browser.get(logout_url(provider))
    browser.submit(page, form_with_button(page, "logout", "no"), button=("logout", "no"))
    assert session_is_alive(provider, browser, platform)


def test_confirmation_needs_the_csrf_token(provider, browser, user, platform):
    sign_in(provider, browser, platform, user)
    page = browser.get(logout_url(provider))
    response = browser.send(page, without_csrf(confirm_page(page)), button=("logout", "yes"))
    assert response.status_code == 400
    assert session_is_alive(provider, browser, platform)


def test_forged_hint_is_not_trusted(provider, browser, user, platform):
    """-modified-id-token-hint: a hint whose payload was changed must not end the session without asking."""
    login = sign_in(provider, browser, platform, user)
    header, payload, signature = login.id_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sid"] = "forged"
    forged = ".".join([header, b64url(json.dumps(claims).encode()), signature])
    response = browser.http.get(logout_url(provider, id_token_hint=forged, post_logout_redirect_uri=POST_LOGOUT))
    assert not response.is_redirect
    assert session_is_alive(provider, browser, platform)


def test_garbage_hint_is_not_trusted(provider, browser, user, platform):
    sign_in(provider, browser, platform, user)
    response = browser.http.get(logout_url(provider, id_token_hint="not-a-token",
                                           post_logout_redirect_uri=POST_LOGOUT))
    assert not response.is_redirect
    assert response.status_code in (200, 400)
    assert session_is_alive(provider, browser, platform)


def test_access_token_is_not_an_id_token_hint(provider, browser, user, platform):
    login = sign_in(provider, browser, platform, user)
    response = browser.http.get(logout_url(provider, id_token_hint=login.access_token,
                                           post_logout_redirect_uri=POST_LOGOUT))
    assert not response.is_redirect
    assert session_is_alive(provider, browser, platform)


def test_hint_of_another_session_does_not_end_this_one_silently(provider, browser, user, platform):
    """A valid ID token from another browser's session must not log this browser out without asking."""
    from tests.protocol.helpers import Browser

    with Browser(provider) as elsewhere:
        foreign = sign_in(provider, elsewhere, platform, user)
    sign_in(provider, browser, platform, user)
    response = browser.http.get(logout_url(provider, id_token_hint=foreign.id_token))
    assert not response.is_redirect
    assert session_is_alive(provider, browser, platform)


def test_logout_state_is_opaque(provider, browser, user, platform):
    login = sign_in(provider, browser, platform, user)
    state = secrets.token_urlsafe(8) + "&x=1"
    response = browser.http.get(logout_url(provider, id_token_hint=login.id_token,
                                           post_logout_redirect_uri=POST_LOGOUT, state=state))
    assert parse_qs(urlsplit(response.headers["location"]).query) == {"state": [state]}
