"""Refresh tokens (RFC 6749 §6, OIDC Core §12, RFC 9700 §4.14): offline_access only, rotation, reuse revokes.

Conformance suite, Basic OP: oidcc-refresh-token (refresh works, allowed characters, bound to its client).
"""
from __future__ import annotations

import re

import pytest
from authlib.integrations.base_client import OAuthError

from tests.live import at_once
from tests.protocol.helpers import (
    assert_oauth_error,
    introspect,
    refresh,
    relying_party,
    sign_in,
    userinfo,
    verify_id_token,
)

# Clients of this file:
#   offline        -- confidential, --scope openid --scope profile --scope offline_access
#   offline_public -- as offline, --public
#   online         -- confidential, default scopes (no offline_access)
OFFLINE = ("--scope", "openid", "--scope", "profile", "--scope", "offline_access")
OFFLINE_PUBLIC = OFFLINE + ("--public",)
ONLINE = ()
SCOPE = "openid profile offline_access"


@pytest.fixture(scope="module")
def offline(provider):
    return provider.client(*OFFLINE)


def test_offline_access_gives_a_refresh_token(provider, browser, user, offline):
    login = sign_in(provider, browser, offline, user, scope=SCOPE, prompt="consent")
    token = login.token["refresh_token"]
    assert re.fullmatch(r"[\x20-\x7E]+", token), "RFC 6749 Appendix A.17: VSCHAR only"
    assert "offline_access" in login.token["scope"].split()


def test_no_refresh_token_without_offline_access(provider, browser, user, offline):
    login = sign_in(provider, browser, offline, user, scope="openid profile")
    assert "refresh_token" not in login.token


def test_no_refresh_token_for_a_client_without_offline_access(provider, browser, user):
    online = provider.client(*ONLINE)
    login = sign_in(provider, browser, online, user, scope=SCOPE)
    assert "refresh_token" not in login.token
    assert "offline_access" not in login.token.get("scope", "").split()


def test_refresh_with_authlib_rotates_the_refresh_token(provider, browser, user, offline):
    login = sign_in(provider, browser, offline, user, scope=SCOPE)
    first = login.token
    id_claims = verify_id_token(provider, first["id_token"], offline["client_id"])
    second = login.rp.refresh_token(refresh_token=first["refresh_token"])
    assert second["access_token"] and second["access_token"] != first["access_token"]
    assert second["refresh_token"] and second["refresh_token"] != first["refresh_token"]
    assert userinfo(provider, second["access_token"]).json()["sub"] == id_claims["sub"]
    if "id_token" in second:  # OIDC Core §12.2
        again = verify_id_token(provider, second["id_token"], offline["client_id"])
        assert (again["iss"], again["sub"], again["aud"]) == (id_claims["iss"], id_claims["sub"], id_claims["aud"])
        assert again["auth_time"] == id_claims["auth_time"]
    third = login.rp.refresh_token(refresh_token=second["refresh_token"])
    assert third["access_token"]


def test_refresh_may_narrow_but_not_widen_the_scope(provider, browser, user, offline):
    login = sign_in(provider, browser, offline, user, scope="openid offline_access")
    narrower = refresh(provider, offline, login.token["refresh_token"], scope="openid offline_access")
    assert narrower.status_code == 200, narrower.text
    wider = refresh(provider, offline, narrower.json()["refresh_token"], scope="openid profile offline_access")
    assert_oauth_error(wider, "invalid_scope")


def test_reuse_of_a_rotated_refresh_token_revokes_the_family(provider, browser, user, offline):
    login = sign_in(provider, browser, offline, user, scope=SCOPE)
    old = login.token["refresh_token"]
    newer = refresh(provider, offline, old)
    assert newer.status_code == 200, newer.text
    newer = newer.json()
    assert userinfo(provider, newer["access_token"]).status_code == 200

    assert_oauth_error(refresh(provider, offline, old), "invalid_grant")
    assert_oauth_error(refresh(provider, offline, newer["refresh_token"]), "invalid_grant")
    assert userinfo(provider, newer["access_token"]).status_code == 401
    assert userinfo(provider, login.access_token).status_code == 401
    assert introspect(provider, offline, newer["refresh_token"]).json() == {"active": False}


def test_authlib_sees_invalid_grant_on_reuse(provider, browser, user, offline):
    login = sign_in(provider, browser, offline, user, scope=SCOPE)
    login.rp.refresh_token(refresh_token=login.token["refresh_token"])
    with pytest.raises(OAuthError) as refused:
        login.rp.refresh_token(refresh_token=login.token["refresh_token"])
    assert refused.value.error == "invalid_grant"


def test_refresh_token_is_bound_to_its_client(provider, browser, user, offline):
    other = provider.client(*OFFLINE)
    login = sign_in(provider, browser, offline, user, scope=SCOPE)
    assert_oauth_error(refresh(provider, other, login.token["refresh_token"]), "invalid_grant")
    # the rightful client can still use it: a stranger's attempt is not a reuse
    assert refresh(provider, offline, login.token["refresh_token"]).status_code == 200


def test_unknown_refresh_token(provider, offline):
    assert_oauth_error(refresh(provider, offline, "no-such-refresh-token"), "invalid_grant")


def test_refresh_needs_client_authentication(provider, browser, user, offline):
    login = sign_in(provider, browser, offline, user, scope=SCOPE)
    response = provider.http.post("/token", data={"grant_type": "refresh_token",
                                                  "refresh_token": login.token["refresh_token"],
                                                  "client_id": offline["client_id"]})
    assert_oauth_error(response, "invalid_client", (400, 401))


def test_public_client_refreshes_with_rotation(provider, browser, user):
    public = provider.client(*OFFLINE_PUBLIC)
    login = sign_in(provider, browser, public, user, scope=SCOPE)
    first = login.token["refresh_token"]
    second = refresh(provider, public, first)
    assert second.status_code == 200, second.text
    assert second.json()["refresh_token"] != first
    assert_oauth_error(refresh(provider, public, first), "invalid_grant")


def test_parallel_refreshes_have_one_winner(provider, browser, user, offline):
    """SECURITY.md: refreshes racing each other, one winner."""
    login = sign_in(provider, browser, offline, user, scope=SCOPE)
    token, n = login.token["refresh_token"], 8
    def race() -> int:
        rp = relying_party(provider, offline, scope=SCOPE)
        return rp.session.post(f"{provider.issuer}/token",
                               data={"grant_type": "refresh_token", "refresh_token": token},
                               auth=(offline["client_id"], offline["client_secret"])).status_code

    results = at_once(n, race)
    assert results.count(200) == 1, results
    assert all(status == 400 for status in results if status != 200), results


def test_refresh_via_a_relying_party_with_authlib_defaults(provider, browser, user, offline):
    rp = relying_party(provider, offline, scope=SCOPE)
    login = sign_in(provider, browser, offline, user, scope=SCOPE, rp=rp)
    rp.token = login.token
    refreshed = rp.refresh_token()
    assert refreshed["access_token"] != login.access_token
