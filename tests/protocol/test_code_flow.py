"""The authorization code flow (OIDC Core §3.1), with Authlib and with the independent `oic` package as the RP.

Conformance suite, Basic OP: oidcc-server, oidcc-id-token-signature, oidcc-id-token-aud, oidcc-id-token-iat,
oidcc-id-token-sub, oidcc-ensure-redirect-uri-in-authorization-request, oidcc-codereuse (see test_code_replay.py).
"""
from __future__ import annotations

import secrets
import time
from urllib.parse import urlsplit

import pytest
from oic.oic import Client as OicClient
from oic.oic.message import (
    AccessTokenResponse,
    AuthorizationResponse,
    OpenIDSchema,
    RegistrationResponse,
)
from oic.utils.authn.client import CLIENT_AUTHN_METHOD

from tests.protocol.helpers import (
    at_hash,
    redeem,
    sign_in,
    token_request,
    userinfo,
    verify_id_token,
    verify_jwt,
)

# Clients of this file (each made once for the module, in the session's provider):
#   confidential   -- client_secret_basic, scope openid profile email, a release policy of the profile and email
#                     attributes, pairwise subjects, ES256 ID tokens
#   rs256          -- as confidential, with --id-token-alg RS256
#   public_subject -- as confidential, with --subject-type public
#   no_policy      -- scope openid profile email, but no --attribute: nothing may be released
ATTRIBUTES = ("given_name", "family_name", "name", "preferred_username", "email")
NO_POLICY = ("--scope", "openid", "--scope", "profile", "--scope", "email")
CONFIDENTIAL = NO_POLICY + tuple(arg for name in ATTRIBUTES for arg in ("--attribute", name))
RS256 = CONFIDENTIAL + ("--id-token-alg", "RS256")
PUBLIC_SUBJECT = CONFIDENTIAL + ("--subject-type", "public")


@pytest.fixture(scope="module")
def confidential(provider):
    return provider.client(*CONFIDENTIAL)


def test_code_flow_with_authlib_gives_verified_id_token(provider, browser, user, confidential):
    before = int(time.time())
    login = sign_in(provider, browser, confidential, user, scope="openid profile")
    assert login.callback.params["iss"] == provider.issuer  # RFC 9207
    assert login.token["token_type"].lower() == "bearer"
    assert int(login.token["expires_in"]) > 0
    claims = verify_id_token(provider, login.id_token, confidential["client_id"], "ES256", nonce=login.nonce)
    assert claims["auth_time"] >= before - 1
    assert claims["amr"] == ["pwd"]
    assert claims["acr"]
    assert claims["sid"]
    assert claims["at_hash"] == at_hash(login.access_token)
    assert claims["sub"] != user["id"], "sub is pairwise by default, never the account id"
    assert claims["given_name"] == "Lotte" and claims["family_name"] == "Peeters"
    assert claims["name"] == "Lotte Peeters"
    assert claims["preferred_username"] == user["username"]


def test_access_token_is_an_rfc9068_jwt(provider, browser, user, confidential):
    login = sign_in(provider, browser, confidential, user)
    token = verify_jwt(provider, login.access_token, ["ES256"], typ="at+jwt")
    claims = token.claims
    for name in ("iss", "exp", "aud", "sub", "client_id", "iat", "jti"):  # RFC 9068 §2.2
        assert name in claims, name
    assert claims["iss"] == provider.issuer
    assert claims["client_id"] == confidential["client_id"]
    assert claims["exp"] > claims["iat"]
    assert claims["jti"]
    id_claims = verify_id_token(provider, login.id_token, confidential["client_id"])
    assert claims["sub"] == id_claims["sub"]
    assert user["id"] not in str(claims), "the access token must not carry the internal account id"


def test_token_response_is_not_cached(provider, browser, user, confidential):
    """RFC 6749 §5.1: Cache-Control: no-store on every response with tokens."""
    login = sign_in(provider, browser, confidential, user, redeem=False)
    response = redeem(provider, confidential, login.callback.code, login.verifier)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert "no-store" in response.headers["cache-control"]
    assert response.json()["token_type"] == "Bearer"


def test_scope_openid_alone_releases_no_profile(provider, browser, user, confidential):
    login = sign_in(provider, browser, confidential, user, scope="openid")
    claims = verify_id_token(provider, login.id_token, confidential["client_id"], nonce=login.nonce)
    for name in ("given_name", "family_name", "name", "preferred_username", "email"):
        assert name not in claims


def test_email_scope_releases_email(provider, browser, school, confidential):
    person = provider.user(school=school, email="lotte@school.example")
    login = sign_in(provider, browser, confidential, person, scope="openid email")
    claims = verify_id_token(provider, login.id_token, confidential["client_id"])
    assert claims["email"] == "lotte@school.example"
    assert "given_name" not in claims


def test_profile_scope_releases_nothing_without_a_release_policy(provider, browser, user):
    """DESIGN.md: an attribute is released only when the client's policy lists it and the request asked for it."""
    client = provider.client(*NO_POLICY)
    login = sign_in(provider, browser, client, user, scope="openid profile email")
    claims = verify_id_token(provider, login.id_token, client["client_id"])
    info = userinfo(provider, login.access_token).json()
    for name in ATTRIBUTES:
        assert name not in claims and name not in info, name
    assert info["sub"] == claims["sub"]


def test_policy_limits_release_to_the_listed_attributes(provider, browser, user):
    client = provider.client(*NO_POLICY, "--attribute", "given_name")
    login = sign_in(provider, browser, client, user, scope="openid profile")
    claims = verify_id_token(provider, login.id_token, client["client_id"])
    assert claims["given_name"] == "Lotte"
    assert not {"family_name", "name", "preferred_username"} & set(claims)


def test_rs256_client_gets_rs256_id_token(provider, browser, user):
    client = provider.client(*RS256)
    login = sign_in(provider, browser, client, user)
    claims = verify_id_token(provider, login.id_token, client["client_id"], "RS256", nonce=login.nonce)
    assert claims["at_hash"] == at_hash(login.access_token)


def test_id_token_verifies_only_with_its_own_algorithm(provider, browser, user, confidential):
    """Explicit algorithms (SECURITY.md): an ES256 ID token does not pass as RS256."""
    from joserfc.errors import JoseError

    login = sign_in(provider, browser, confidential, user)
    with pytest.raises(JoseError):
        verify_id_token(provider, login.id_token, confidential["client_id"], "RS256")


def test_sub_is_pairwise_stable_and_unlinkable(provider, browser, user):
    first, second = provider.client(*CONFIDENTIAL), provider.client(*CONFIDENTIAL)
    sub_a1 = verify_id_token(provider, sign_in(provider, browser, first, user).id_token, first["client_id"])["sub"]
    sub_a2 = verify_id_token(provider, sign_in(provider, browser, first, user).id_token, first["client_id"])["sub"]
    sub_b = verify_id_token(provider, sign_in(provider, browser, second, user).id_token, second["client_id"])["sub"]
    assert sub_a1 == sub_a2
    assert sub_a1 != sub_b
    assert user["id"] not in (sub_a1, sub_b)


def test_public_subject_type_gives_the_account_id(provider, browser, user):
    client = provider.client(*PUBLIC_SUBJECT)
    login = sign_in(provider, browser, client, user)
    assert verify_id_token(provider, login.id_token, client["client_id"])["sub"] == user["id"]


def test_nonce_is_echoed(provider, browser, user, confidential):
    nonce = secrets.token_urlsafe(24)
    login = sign_in(provider, browser, confidential, user, nonce=nonce)
    assert verify_id_token(provider, login.id_token, confidential["client_id"])["nonce"] == nonce


def test_nonce_reused_by_the_same_client_is_refused(provider, browser, user, confidential):
    nonce = secrets.token_urlsafe(24)
    sign_in(provider, browser, confidential, user, nonce=nonce)
    again = sign_in(provider, browser, confidential, None, nonce=nonce, redeem=False)
    assert again.callback.params.get("error") == "invalid_request", again.callback.params
    assert "code" not in again.callback.params


def test_code_is_bound_to_its_redirect_uri(provider, browser, user):
    """RFC 6749 §4.1.3: redirect_uri at the token endpoint must be the one of the authorization request."""
    other = "https://rp-other.example/cb"
    client = provider.client(*CONFIDENTIAL, "--redirect-uri", other)
    login = sign_in(provider, browser, client, user, redeem=False, redirect_uri=client["redirect_uri"])
    response = redeem(provider, client, login.callback.code, login.verifier, redirect_uri=other)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_redirect_uri_is_required_at_the_token_endpoint(provider, browser, user, confidential):
    """RFC 6749 §4.1.3: REQUIRED when the authorization request included it."""
    login = sign_in(provider, browser, confidential, user, redeem=False)
    response = token_request(provider, {"grant_type": "authorization_code", "code": login.callback.code,
                                        "code_verifier": login.verifier}, confidential)
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_grant", "invalid_request")
    assert "access_token" not in response.json()


def test_code_of_one_client_cannot_be_redeemed_by_another(provider, browser, user, confidential):
    thief = provider.client(*CONFIDENTIAL, redirect_uri=confidential["redirect_uri"])
    login = sign_in(provider, browser, confidential, user, redeem=False)
    response = redeem(provider, thief, login.callback.code, login.verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_userinfo_sub_matches_id_token(provider, browser, user, confidential):
    login = sign_in(provider, browser, confidential, user)
    claims = verify_id_token(provider, login.id_token, confidential["client_id"])
    info = userinfo(provider, login.access_token)
    assert info.status_code == 200
    assert info.json()["sub"] == claims["sub"]


# --- the independent `oic` package as the RP ------------------------------------------------------------------


def oic_client(provider, client: dict) -> OicClient:
    rp = OicClient(client_authn_method=CLIENT_AUTHN_METHOD, verify_ssl=False)
    rp.allow["issuer_mismatch"] = False
    config = rp.provider_config(provider.issuer)
    assert config["issuer"] == provider.issuer
    rp.store_registration_info(RegistrationResponse(
        client_id=client["client_id"], client_secret=client["client_secret"],
        redirect_uris=[client["redirect_uri"]], token_endpoint_auth_method="client_secret_basic",
        id_token_signed_response_alg="ES256"))
    rp.redirect_uris = [client["redirect_uri"]]
    return rp


def test_code_flow_with_oic(provider, browser, user, confidential):
    rp = oic_client(provider, confidential)
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    request = rp.construct_AuthorizationRequest(request_args={
        "client_id": confidential["client_id"], "response_type": "code", "scope": ["openid", "profile"],
        "state": state, "nonce": nonce, "redirect_uri": confidential["redirect_uri"]})
    url = request.request(rp.authorization_endpoint)
    callback = browser.authorize(url, user)
    answer = rp.parse_response(AuthorizationResponse, info=urlsplit(callback.url).query, sformat="urlencoded")
    assert isinstance(answer, AuthorizationResponse)
    assert answer["state"] == state
    assert answer["iss"] == provider.issuer

    tokens = rp.do_access_token_request(state=state, request_args={"code": answer["code"]},
                                        authn_method="client_secret_basic")
    assert isinstance(tokens, AccessTokenResponse), tokens.to_dict()
    id_token = tokens["id_token"]  # oic verified its signature against the provider's JWKS
    assert id_token["iss"] == provider.issuer
    assert id_token["aud"] == [confidential["client_id"]]
    assert id_token["nonce"] == nonce

    info = rp.do_user_info_request(method="GET", state=state)  # OIDC Core §5.3.1: GET with the header
    assert isinstance(info, OpenIDSchema), info
    assert info["sub"] == id_token["sub"]
    assert info["given_name"] == "Lotte"
    assert info["preferred_username"] == user["username"]
