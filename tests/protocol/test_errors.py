"""Errors at the authorization and token endpoints (RFC 6749 §4.1.2.1, §5.2; OIDC Core §3.1.2.6; SECURITY.md).

Before client_id and redirect_uri are verified, /authorize shows a Dutch error page and never redirects;
after that, errors go to the redirect URI with state and iss. The token endpoint answers JSON errors with the
status RFC 6749 §5.2 gives them. No response ever holds a stack trace.

Conformance suite, Basic OP: oidcc-ensure-registered-redirect-uri, oidcc-response-type-missing,
oidcc-ensure-post-request-succeeds, oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported,
oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported;
Dynamic OP: oidcc-ensure-redirect-uri-in-authorization-request, oidcc-redirect-uri-query-mismatch,
oidcc-redirect-uri-query-added.

Clients of this file:
  platform -- confidential, one redirect URI
  several  -- confidential, two redirect URIs
"""
from __future__ import annotations

import json
import secrets
from urllib.parse import urlencode

import pytest

from tests.protocol.helpers import (
    assert_no_stack_trace,
    assert_oauth_error,
    authorize_url,
    b64url,
    parse_forms,
    redeem,
    sign_in,
    token_request,
)

SECOND_URI = "https://rp-second.example/cb"


@pytest.fixture(scope="module")
def platform(provider):
    return provider.client()


@pytest.fixture(scope="module")
def several(provider):
    return provider.client("--redirect-uri", SECOND_URI)


def assert_error_page(response, status: int = 400) -> None:
    """A Dutch HTML page for the person: no redirect, no code, no stack trace (SECURITY.md)."""
    assert response.status_code == status, (response.status_code, response.headers.get("location"))
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert 'lang="nl"' in response.text
    assert "code=" not in response.text
    assert_no_stack_trace(response)


def assert_no_code(browser, response) -> None:
    """Either an error page, or an error sent to the registered redirect URI: never a code."""
    if response.is_redirect:
        callback = browser.callback(response)
        assert "code" not in callback.params
        assert callback.params.get("error"), callback.params
    else:
        assert response.status_code == 400, response.status_code
        assert_no_stack_trace(response)


# --- before the client and its redirect URI are verified: an error page ------------------------------------------


def test_unknown_client_gets_a_dutch_error_page(provider, browser):
    response = browser.get(authorize_url(provider, client_id="no-such-client",
                                         redirect_uri="https://rp-x.example/cb"))
    assert_error_page(response)
    assert "Dit platform kennen we niet" in response.text


def test_missing_client_id_gets_an_error_page(provider, browser, platform):
    assert_error_page(browser.get(authorize_url(provider, redirect_uri=platform["redirect_uri"])))


def test_unregistered_redirect_uri_gets_an_error_page(provider, browser, platform):
    """oidcc-ensure-registered-redirect-uri."""
    response = browser.get(authorize_url(provider, platform, redirect_uri="https://evil.example/cb"))
    assert_error_page(response)


@pytest.mark.parametrize("change", [
    lambda uri: uri + "/",
    lambda uri: uri.upper(),
    lambda uri: uri + "?extra=1",
    lambda uri: uri.replace("https://", "http://"),
    lambda uri: uri + "#frag",
    lambda uri: uri.replace("/callback", "/callback/../callback"),
], ids=["trailing-slash", "case", "query-added", "http", "fragment", "dot-segments"])
def test_redirect_uri_matching_is_exact(provider, browser, platform, change):
    response = browser.get(authorize_url(provider, platform, redirect_uri=change(platform["redirect_uri"])))
    assert_error_page(response)


def test_registered_query_must_match(provider, browser):
    """oidcc-redirect-uri-query-mismatch."""
    client = provider.client(redirect_uri="https://rp-q.example/cb?foo=bar")
    response = browser.get(authorize_url(provider, client, redirect_uri="https://rp-q.example/cb?foo=baz"))
    assert_error_page(response)


def test_missing_redirect_uri_with_several_registered(provider, browser, several):
    """SECURITY.md: no guessing among several registered URIs."""
    assert_error_page(browser.get(authorize_url(provider, several, redirect_uri=None)))


def test_missing_redirect_uri_is_never_answered_with_a_code(provider, browser, user, platform):
    """OIDC Core §3.1.2.1: redirect_uri is REQUIRED in an OpenID request (oidcc-ensure-redirect-uri-in-
    authorization-request: an error page, or an invalid_request error to the registered URI)."""
    sign_in(provider, browser, platform, user)  # a session, so that a code could be issued at once
    response = browser.get(authorize_url(provider, platform, redirect_uri=None))
    assert_no_code(browser, response)
    if response.is_redirect:
        assert browser.callback(response).params["error"] == "invalid_request"


def test_unsupported_response_type_to_an_unverified_uri_is_not_redirected(provider, browser, platform):
    response = browser.get(authorize_url(provider, platform, response_type="token",
                                         redirect_uri="https://evil.example/cb"))
    assert_error_page(response)


def test_bad_scope_to_an_unverified_uri_is_not_redirected(provider, browser, platform):
    response = browser.get(authorize_url(provider, platform, scope="openid admin",
                                         redirect_uri="https://evil.example/cb"))
    assert_error_page(response)


@pytest.mark.parametrize("name", ["client_id", "redirect_uri", "state", "scope", "response_type"])
def test_repeated_parameters_are_refused(provider, browser, platform, name):
    """RFC 6749 §3.1: request parameters MUST NOT be included more than once."""
    params = [("client_id", platform["client_id"]), ("redirect_uri", platform["redirect_uri"]),
              ("response_type", "code"), ("scope", "openid"), ("state", "s1")]
    value = dict(params)[name]
    params.append((name, value if name != "redirect_uri" else "https://evil.example/cb"))
    response = browser.get(f"{provider.issuer}/authorize?{urlencode(params)}")
    assert_error_page(response)


def test_oversized_parameter_is_refused(provider, browser, platform):
    response = browser.get(authorize_url(provider, platform, state="s" * 5000))
    assert_error_page(response)


def test_too_many_parameters_are_refused(provider, browser, platform):
    extra = {f"p{i}": "x" for i in range(60)}
    response = browser.get(authorize_url(provider, platform, **extra))
    assert_error_page(response)


def test_oversized_request_line_does_not_crash(provider, browser, platform):
    response = browser.get(authorize_url(provider, platform, login_hint="x" * 20000))
    assert response.status_code in (400, 413, 414, 431)
    assert_no_stack_trace(response)


def test_error_page_escapes_what_it_was_given(provider, browser):
    response = browser.get(authorize_url(provider, client_id="<script>alert(1)</script>",
                                         redirect_uri="https://rp.example/cb"))
    assert "<script>alert(1)</script>" not in response.text


# --- after they are verified: an error response to the platform ------------------------------------------------


def test_unsupported_response_type_is_reported_to_the_platform(provider, browser, platform):
    callback = browser.authorize(authorize_url(provider, platform, response_type="token", state="s-rt"))
    assert callback.params["error"] == "unsupported_response_type"
    assert callback.params["state"] == "s-rt"
    assert callback.params["iss"] == provider.issuer
    assert "code" not in callback.params and "access_token" not in callback.params


def test_missing_response_type(provider, browser, platform):
    """oidcc-response-type-missing: an error page, or invalid_request / unsupported_response_type."""
    response = browser.get(authorize_url(provider, platform, response_type=None))
    assert_no_code(browser, response)
    if response.is_redirect:
        assert browser.callback(response).params["error"] in ("invalid_request", "unsupported_response_type")


def test_request_object_is_rejected_as_unsupported(provider, browser, platform):
    header = b64url(json.dumps({"alg": "none"}).encode())
    body = b64url(json.dumps({"client_id": platform["client_id"], "scope": "openid"}).encode())
    callback = browser.authorize(authorize_url(provider, platform, request=f"{header}.{body}.", state="s-ro"))
    assert callback.params["error"] == "request_not_supported"
    assert callback.params["state"] == "s-ro"


def test_request_uri_is_rejected_as_unsupported(provider, browser, platform):
    callback = browser.authorize(authorize_url(provider, platform, request_uri="https://rp.example/request.jwt"))
    assert callback.params["error"] == "request_uri_not_supported"


def test_malformed_claims_parameter(provider, browser, platform):
    callback = browser.authorize(authorize_url(provider, platform, claims="{not json"))
    assert callback.params["error"] == "invalid_request"


def test_deeply_nested_claims_parameter_does_not_crash(provider, browser, platform):
    """SECURITY.md: JSON depth is bounded; a deep claims value is a request error, never a 500."""
    deep = "[" * 2000 + "]" * 2000  # within the 4096-character limit of a parameter value
    response = browser.get(authorize_url(provider, platform, claims=deep))
    assert response.status_code != 500, "a 500 for a request parameter"
    assert_no_stack_trace(response)
    assert_no_code(browser, response)


def test_unknown_scope_never_reaches_the_token(provider, browser, user, platform):
    login = sign_in(provider, browser, platform, user, scope="openid admin")
    assert "admin" not in login.token.get("scope", "").split()


# --- POST /authorize ------------------------------------------------------------------------------------------


def test_post_request_to_authorize_succeeds(provider, browser, user, platform):
    """oidcc-ensure-post-request-succeeds (OIDC Core §3.1.2.1: GET and POST)."""
    page = browser.follow(browser.http.post(f"{provider.issuer}/authorize", data={
        "client_id": platform["client_id"], "redirect_uri": platform["redirect_uri"], "response_type": "code",
        "scope": "openid", "state": "s-post"}))
    page = browser.login(page, user)
    callback = browser.callback(page)
    assert callback.params["state"] == "s-post"
    assert redeem(provider, platform, callback.code, None).status_code == 200


# --- the token endpoint: JSON errors with the right status ----------------------------------------------------


def test_missing_grant_type(provider, platform):
    response = token_request(provider, {"code": "x"}, platform)
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_request", "unsupported_grant_type")
    assert_no_stack_trace(response)


def test_unknown_grant_type(provider, platform):
    assert_oauth_error(token_request(provider, {"grant_type": "urn:example:magic"}, platform),
                       "unsupported_grant_type")


def test_invalid_code(provider, platform):
    assert_oauth_error(redeem(provider, platform, "no-such-code", None), "invalid_grant")


def test_missing_code(provider, platform):
    response = token_request(provider, {"grant_type": "authorization_code",
                                        "redirect_uri": platform["redirect_uri"]}, platform)
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_request", "invalid_grant")


def test_token_endpoint_errors_are_not_cached(provider, platform):
    response = redeem(provider, platform, "no-such-code", None)
    assert "no-store" in response.headers.get("cache-control", "")


def test_json_body_at_the_token_endpoint_is_415(provider, platform):
    """RFC 6749 §3.2: application/x-www-form-urlencoded; SECURITY.md: wrong content types get 415."""
    response = provider.http.post("/token", json={"grant_type": "client_credentials"},
                                  auth=(platform["client_id"], platform["client_secret"]))
    assert_oauth_error(response, "invalid_request", 415)


def test_oversized_body_at_the_token_endpoint(provider, platform):
    response = provider.http.post("/token", data={"grant_type": "client_credentials", "pad": "x" * 100_000},
                                  auth=(platform["client_id"], platform["client_secret"]))
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/json")
    assert_no_stack_trace(response)


def test_get_on_the_token_endpoint_is_405(provider):
    response = provider.http.get("/token")
    assert response.status_code == 405
    assert_no_stack_trace(response)


def test_token_parameters_in_the_query_are_ignored(provider, platform):
    """RFC 6749 §3.2: token endpoint parameters come in the body; the query string is not read."""
    response = provider.http.post("/token?grant_type=client_credentials", data={"x": "y"},
                                  auth=(platform["client_id"], platform["client_secret"]))
    assert response.status_code == 400
    assert "access_token" not in response.json()


def test_repeated_parameter_at_the_token_endpoint(provider, browser, user, platform):
    """RFC 6749 §3.2: parameters MUST NOT be included more than once."""
    login = sign_in(provider, browser, platform, user, redeem=False)
    body = urlencode([("grant_type", "authorization_code"), ("code", login.callback.code),
                      ("code", login.callback.code), ("redirect_uri", platform["redirect_uri"]),
                      ("code_verifier", login.verifier)])
    response = provider.http.post("/token", content=body,
                                  headers={"Content-Type": "application/x-www-form-urlencoded"},
                                  auth=(platform["client_id"], platform["client_secret"]))
    assert_oauth_error(response, "invalid_request")


@pytest.mark.parametrize("path", ["/authorize?client_id=%ff%fe&redirect_uri=%00", "/interaction/%00",
                                  "/authorize/resume/" + "x" * 300, "/nope"])
def test_odd_input_never_shows_a_stack_trace(provider, path):
    response = provider.http.get(path)
    assert response.status_code < 500, (path, response.status_code)
    assert_no_stack_trace(response)


def test_unknown_page_is_a_dutch_404(provider):
    response = provider.http.get("/geen-pagina-" + secrets.token_hex(4))
    assert response.status_code == 404
    assert 'lang="nl"' in response.text


def test_security_headers_on_pages(provider, browser, platform):
    page = browser.get(authorize_url(provider, platform))
    assert parse_forms(page.text), "the login page"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "no-store" in page.headers["cache-control"]
