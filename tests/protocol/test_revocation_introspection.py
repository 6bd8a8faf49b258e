"""Token revocation (RFC 7009) and introspection (RFC 7662).

Clients of this file:
  owner    -- confidential, --scope openid --scope profile --scope offline_access
  stranger -- another confidential client of the same shape
  public   -- --public, the same scopes
"""
from __future__ import annotations

import pytest

from tests.protocol.helpers import (
    assert_oauth_error,
    introspect,
    refresh,
    sign_in,
    token_request,
    userinfo,
)

OWNER = ("--scope", "openid", "--scope", "profile", "--scope", "offline_access")
STRANGER = OWNER
PUBLIC = OWNER + ("--public",)
SCOPE = "openid profile offline_access"


@pytest.fixture(scope="module")
def owner(provider):
    return provider.client(*OWNER)


@pytest.fixture(scope="module")
def stranger(provider):
    return provider.client(*STRANGER)


@pytest.fixture
def tokens(provider, browser, user, owner) -> dict:
    return sign_in(provider, browser, owner, user, scope=SCOPE).token


def revoke(provider, client: dict, token: str, hint: str | None = None):
    """POST /revoke as `client`: Basic for a confidential client, client_id in the body for a public one."""
    data = {"token": token}
    if hint:
        data["token_type_hint"] = hint
    return token_request(provider, data, client, url="/revoke")


# --- introspection ---------------------------------------------------------------------------------------------


def test_introspect_an_access_token(provider, owner, tokens):
    response = introspect(provider, owner, tokens["access_token"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    info = response.json()
    assert info["active"] is True
    assert info["client_id"] == owner["client_id"]
    assert info["iss"] == provider.issuer
    assert set(info["scope"].split()) == set(SCOPE.split())
    assert info["exp"] > info["iat"]
    assert info["sub"]
    assert info.get("token_type", "Bearer").lower() == "bearer"
    assert not {"ctx", "gid"} & set(info), "internal claims stay inside"


def test_introspect_a_refresh_token(provider, owner, tokens):
    info = introspect(provider, owner, tokens["refresh_token"], "refresh_token").json()
    assert info["active"] is True
    assert info["client_id"] == owner["client_id"]


def test_a_wrong_hint_does_not_hide_the_token(provider, owner, tokens):
    """RFC 7662 §2.1: a server that cannot find the token under the hint MUST search all token types."""
    assert introspect(provider, owner, tokens["access_token"], "refresh_token").json()["active"] is True
    assert introspect(provider, owner, tokens["refresh_token"], "access_token").json()["active"] is True


def test_unknown_token_is_inactive(provider, owner):
    response = introspect(provider, owner, "no-such-token")
    assert response.status_code == 200
    assert response.json() == {"active": False}


def test_another_clients_token_is_inactive_for_it(provider, stranger, tokens):
    """RFC 7662 §2.2: not allowed to introspect it means active=false, nothing more."""
    for token in (tokens["access_token"], tokens["refresh_token"]):
        response = introspect(provider, stranger, token)
        assert response.status_code == 200
        assert response.json() == {"active": False}


def test_introspection_needs_client_authentication(provider, tokens, owner):
    response = provider.http.post("/introspect", data={"token": tokens["access_token"]})
    assert_oauth_error(response, "invalid_client", 401)
    response = provider.http.post("/introspect", data={"token": tokens["access_token"]},
                                  auth=(owner["client_id"], "wrong"))
    assert_oauth_error(response, "invalid_client", 401)


def test_public_client_may_not_introspect(provider, browser, user):
    public = provider.client(*PUBLIC)
    login = sign_in(provider, browser, public, user, scope=SCOPE)
    response = provider.http.post("/introspect", data={"token": login.access_token,
                                                       "client_id": public["client_id"]})
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"
    assert "active" not in response.json()


def test_introspection_without_token_parameter(provider, owner):
    response = provider.http.post("/introspect", data={"token_type_hint": "access_token"},
                                  auth=(owner["client_id"], owner["client_secret"]))
    assert_oauth_error(response, "invalid_request")


def test_introspection_refuses_get(provider):
    assert provider.http.get("/introspect").status_code == 405


# --- revocation ------------------------------------------------------------------------------------------------


def test_revoke_an_access_token_with_authlib(provider, browser, user, owner):
    login = sign_in(provider, browser, owner, user, scope=SCOPE)
    response = login.rp.revoke_token(f"{provider.issuer}/revoke", token=login.access_token,
                                     token_type_hint="access_token")
    assert response.status_code == 200
    assert userinfo(provider, login.access_token).status_code == 401
    assert introspect(provider, owner, login.access_token).json() == {"active": False}


def test_revoking_a_refresh_token_ends_the_grant(provider, owner, tokens):
    """RFC 7009 §2.1: revoking a refresh token SHOULD also invalidate the access tokens of the same grant."""
    assert revoke(provider, owner, tokens["refresh_token"], "refresh_token").status_code == 200
    assert_oauth_error(refresh(provider, owner, tokens["refresh_token"]), "invalid_grant")
    assert userinfo(provider, tokens["access_token"]).status_code == 401
    assert introspect(provider, owner, tokens["refresh_token"]).json() == {"active": False}


def test_revoke_without_hint(provider, owner, tokens):
    assert revoke(provider, owner, tokens["access_token"]).status_code == 200
    assert userinfo(provider, tokens["access_token"]).status_code == 401


def test_revoke_with_a_wrong_hint_still_revokes(provider, owner, tokens):
    """RFC 7009 §2.1: when the token is not found under the hint, the server MUST extend its search."""
    assert revoke(provider, owner, tokens["access_token"], "refresh_token").status_code == 200
    assert userinfo(provider, tokens["access_token"]).status_code == 401


def test_revoking_an_unknown_token_is_not_an_error(provider, owner):
    """RFC 7009 §2.2: invalid tokens do not cause an error response."""
    response = revoke(provider, owner, "no-such-token")
    assert response.status_code == 200


def test_a_stranger_cannot_revoke_anothers_token(provider, owner, stranger, tokens):
    """RFC 7009 §2.1: the token must have been issued to the client asking; else the request is refused."""
    response = revoke(provider, stranger, tokens["access_token"])
    assert response.status_code == 400 and response.json()["error"], response.text
    assert userinfo(provider, tokens["access_token"]).status_code == 200
    assert refresh(provider, owner, tokens["refresh_token"]).status_code == 200


def test_revocation_needs_client_authentication(provider, owner, tokens):
    response = provider.http.post("/revoke", data={"token": tokens["access_token"]},
                                  auth=(owner["client_id"], "wrong"))
    assert_oauth_error(response, "invalid_client", 401)
    assert userinfo(provider, tokens["access_token"]).status_code == 200


def test_public_client_revokes_its_own_token(provider, browser, user):
    public = provider.client(*PUBLIC)
    login = sign_in(provider, browser, public, user, scope=SCOPE)
    assert revoke(provider, public, login.token["refresh_token"]).status_code == 200
    assert_oauth_error(refresh(provider, public, login.token["refresh_token"]), "invalid_grant")


def test_unknown_token_type_hint(provider, owner, tokens):
    """RFC 7009 §2.1: the hint is only a hint. If the server refuses it anyway, it does so with
    unsupported_token_type (§2.2.1) and the status of RFC 6749 §5.2: 400, since the client did authenticate."""
    response = revoke(provider, owner, tokens["access_token"], "id_token")
    if response.status_code != 200:
        assert_oauth_error(response, "unsupported_token_type", 400)


def test_revocation_refuses_get(provider):
    assert provider.http.get("/revoke").status_code == 405
