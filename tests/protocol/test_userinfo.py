"""The UserInfo endpoint (OIDC Core §5.3, RFC 6750).

Conformance suite, Basic OP: oidcc-userinfo-get, oidcc-userinfo-post-header, oidcc-userinfo-post-body,
oidcc-scope-profile, oidcc-scope-email, oidcc-scope-all, oidcc-ensure-other-scope-order-succeeds,
oidcc-claims-essential.

Clients of this file:
  platform -- confidential, scopes openid profile email, releases the profile and email attributes
"""
from __future__ import annotations

import base64
import json

import pytest

from tests.protocol.helpers import (
    Browser,
    b64url,
    relying_party,
    sign_in,
    userinfo,
    verify_id_token,
)

ATTRIBUTES = ("given_name", "family_name", "name", "preferred_username", "email")
PLATFORM = ("--scope", "openid", "--scope", "profile", "--scope", "email",
            *(arg for name in ATTRIBUTES for arg in ("--attribute", name)))


@pytest.fixture(scope="module")
def platform(provider):
    return provider.client(*PLATFORM)


@pytest.fixture(scope="module")
def person(provider, school):
    return provider.user(school=school, email="lotte.peeters@school.example")


@pytest.fixture(scope="module")
def login(provider, person, platform):
    """One login for the read-only tests of this file (none of them revokes its tokens)."""
    with Browser(provider) as browser:
        return sign_in(provider, browser, platform, person, scope="openid profile email")


def assert_bearer_challenge(response, error: str | None = None) -> None:
    assert response.status_code == 401, (response.status_code, response.text)
    challenge = response.headers.get("www-authenticate", "")
    assert challenge.lower().startswith("bearer"), challenge
    if error:
        assert f'error="{error}"' in challenge, challenge


def assert_refused_for_lack_of_a_person(response) -> None:
    """RFC 6750 §3.1 / OIDC Core §5.3.3: 401 invalid_token, or 403 insufficient_scope; either with its Bearer
    challenge in WWW-Authenticate."""
    if response.status_code == 401:
        assert_bearer_challenge(response)
        return
    assert response.status_code == 403, (response.status_code, response.text[:200])
    challenge = response.headers.get("www-authenticate", "")
    assert challenge.lower().startswith("bearer") and 'error="insufficient_scope"' in challenge, \
        f"403 without its Bearer challenge: {challenge!r} {response.text[:200]}"


def test_get_with_authorization_header(provider, login, person, platform):
    response = userinfo(provider, login.access_token, "GET")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    info = response.json()
    claims = verify_id_token(provider, login.id_token, platform["client_id"])
    assert info["sub"] == claims["sub"]
    assert info["given_name"] == "Lotte"
    assert info["family_name"] == "Peeters"
    assert info["name"] == "Lotte Peeters"
    assert info["preferred_username"] == person["username"]
    assert info["email"] == "lotte.peeters@school.example"
    assert "no-store" in response.headers.get("cache-control", "")


def test_post_with_authorization_header(provider, login):
    response = userinfo(provider, login.access_token, "POST")
    assert response.status_code == 200
    assert response.json()["sub"]


def test_post_with_token_in_body_works_or_is_refused_cleanly(provider, login):
    """oidcc-userinfo-post-body: optional (RFC 6750 §2.2 MAY); when refused, refused as a bearer error."""
    response = provider.http.post("/userinfo", data={"access_token": login.access_token})
    if response.status_code == 200:
        assert response.json()["sub"]
    else:
        assert response.status_code in (400, 401)


def test_token_in_the_query_string_is_not_accepted(provider, login):
    """RFC 6750 §2.3 / RFC 9700 §2.4: access tokens in URLs leak into logs; leerID does not read them there."""
    response = provider.http.get("/userinfo", params={"access_token": login.access_token})
    assert_bearer_challenge(response)


def test_authlib_client_as_resource_client(provider, login):
    login.rp.token = login.token
    response = login.rp.get(f"{provider.issuer}/userinfo")
    assert response.status_code == 200
    assert response.json()["sub"]


def test_scope_order_does_not_matter(provider, browser, person, platform):
    login = sign_in(provider, browser, platform, person, scope="email profile openid")
    info = userinfo(provider, login.access_token).json()
    assert info["email"] and info["given_name"]


def test_profile_scope_only(provider, browser, person, platform):
    login = sign_in(provider, browser, platform, person, scope="openid profile")
    info = userinfo(provider, login.access_token).json()
    assert info["given_name"] == "Lotte"
    assert "email" not in info


def test_email_scope_only(provider, browser, person, platform):
    login = sign_in(provider, browser, platform, person, scope="openid email")
    info = userinfo(provider, login.access_token).json()
    assert info["email"] == "lotte.peeters@school.example"
    assert "given_name" not in info


def test_openid_scope_only_gives_just_sub(provider, browser, person, platform):
    login = sign_in(provider, browser, platform, person, scope="openid")
    assert set(userinfo(provider, login.access_token).json()) == {"sub"}


def test_essential_claims_request_succeeds(provider, browser, person, platform):
    """oidcc-claims-essential: the claims parameter is accepted (releasing name is optional)."""
    claims = json.dumps({"userinfo": {"name": {"essential": True}}})
    login = sign_in(provider, browser, platform, person, scope="openid", claims=claims)
    response = userinfo(provider, login.access_token)
    assert response.status_code == 200
    assert response.json()["sub"]


def test_no_token(provider):
    assert_bearer_challenge(provider.http.get("/userinfo"))


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 5000])
def test_invalid_token(provider, token):
    assert_bearer_challenge(userinfo(provider, token), "invalid_token")


def test_tampered_token(provider, login):
    header, payload, signature = login.access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "someone-else"
    forged = ".".join([header, b64url(json.dumps(claims).encode()), signature])
    assert_bearer_challenge(userinfo(provider, forged), "invalid_token")


def test_unsigned_token(provider, login):
    _, payload, _ = login.access_token.split(".")
    header = b64url(json.dumps({"alg": "none", "typ": "at+jwt"}).encode())
    assert_bearer_challenge(userinfo(provider, f"{header}.{payload}."), "invalid_token")


def test_id_token_is_not_an_access_token(provider, login):
    """RFC 9068 §4: typ at+jwt tells an access token from an ID token signed with the same key."""
    assert_bearer_challenge(userinfo(provider, login.id_token), "invalid_token")


def test_client_credentials_token_gets_no_userinfo(provider, platform):
    """OIDC Core §5.3: UserInfo returns claims about an authenticated End-User; a client's own token has none."""
    token = relying_party(provider, platform, scope="openid").fetch_token(grant_type="client_credentials")
    assert_refused_for_lack_of_a_person(userinfo(provider, token["access_token"]))


def test_token_without_openid_scope_gets_no_userinfo(provider, browser, person, platform):
    """OIDC Core §5.3: UserInfo serves tokens of an OpenID request; a plain OAuth request has none to give."""
    login = sign_in(provider, browser, platform, person, scope="profile")
    assert "id_token" not in login.token, "no openid scope, no ID token"
    assert_refused_for_lack_of_a_person(userinfo(provider, login.access_token))


def test_wrong_scheme(provider, login):
    response = provider.http.get("/userinfo", headers={"Authorization": f"Basic {login.access_token}"})
    assert_bearer_challenge(response)


def test_cross_origin_userinfo(provider, login):
    response = provider.http.get("/userinfo", headers={"Authorization": f"Bearer {login.access_token}",
                                                       "Origin": "https://rp.example"})
    assert response.status_code == 200
    assert response.headers.get("access-control-allow-origin") == "*"
