"""The `claims` request parameter (OIDC Core §5.5): each member is honoured where it asks, never beyond the release
policy or the consent (DESIGN.md Tokens and claims), and every release is on the person's receipts (Audit).

Conformance suite, Basic OP: oidcc-claims-essential; Config OP: the userinfo and id_token members.

Clients of this file:
  platform  -- confidential, school-agreement, scopes openid profile email offline_access, releases the profile
               and email attributes (never birthdate)
  consented -- confidential, --basis consent, scopes openid profile email, releases given_name, family_name, email
"""
from __future__ import annotations

import json
import secrets
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
from oic.oic import Client as OicClient
from oic.oic.message import (
    AccessTokenResponse,
    AuthorizationResponse,
    Claims,
    ClaimsRequest,
    RegistrationResponse,
)
from oic.utils.authn.client import CLIENT_AUTHN_METHOD
from sqlalchemy import select

from clients.consents import ConsentStore
from idp.audit import AuditEvent
from idp.db import Database
from idp.models import load_all
from tests.protocol.helpers import (
    Browser,
    introspect,
    refresh,
    sign_in,
    userinfo,
    verify_id_token,
)

ATTRIBUTES = ("given_name", "family_name", "name", "preferred_username", "email")
PLATFORM = (*(a for s in ("profile", "email", "offline_access") for a in ("--scope", s)),
            *(a for name in ATTRIBUTES for a in ("--attribute", name)))
CONSENTED = ("--basis", "consent", "--scope", "profile", "--scope", "email",
             *(a for name in ("given_name", "family_name", "email") for a in ("--attribute", name)))
EMAIL = "lotte.peeters@school.example"


@pytest.fixture(scope="module")
def platform(provider):
    return provider.client(*PLATFORM)


@pytest.fixture(scope="module")
def consented(provider):
    return provider.client(*CONSENTED)


@pytest.fixture
def person(provider, school) -> dict:
    """A person of their own per test: consents and receipts must not leak between tests."""
    return provider.user(school=school, email=EMAIL, birthdate="2012-05-04")


@contextmanager
def database(provider):
    """The live provider's database, for what the person's receipts and Mijn leerID read."""
    load_all()  # every model, so that the consents' foreign keys resolve
    db = Database(provider.env["LEERID_DATABASE_URL"])
    try:
        yield db
    finally:
        db.engine.dispose()


def flow(provider, client: dict, person: dict, scope: str = "openid", **request) -> tuple[dict, dict, object]:
    """(ID token claims, userinfo response, login) of one code flow whose `claims` parameter is `request`."""
    with Browser(provider) as browser:
        login = sign_in(provider, browser, client, person, scope=scope, claims=json.dumps(request))
    token = verify_id_token(provider, login.id_token, client["client_id"], nonce=login.nonce)
    response = userinfo(provider, login.access_token)
    assert response.status_code == 200, response.text
    info = response.json()
    assert info["sub"] == token["sub"]
    return token, info, login


def test_userinfo_member_is_released_at_userinfo_only(provider, person, platform):
    token, info, _ = flow(provider, platform, person, userinfo={"email": None, "given_name": {"essential": True}})
    assert (info["email"], info["given_name"]) == (EMAIL, "Lotte")
    assert not {"email", "given_name"} & set(token), token
    assert "family_name" not in info, "neither the scope nor the claims parameter asked for it"


def test_id_token_member_is_in_the_id_token_only(provider, person, platform):
    token, info, _ = flow(provider, platform, person, id_token={"email": {"essential": True}, "family_name": None})
    assert (token["email"], token["family_name"]) == (EMAIL, "Peeters")
    assert set(info) == {"sub"}, info


def test_id_token_member_also_asked_by_scope_is_at_userinfo_too(provider, person, platform):
    token, info, _ = flow(provider, platform, person, scope="openid email", id_token={"email": None})
    assert token["email"] == info["email"] == EMAIL


def test_scope_claims_stay_in_the_id_token_too(provider, person, platform):
    token, info, _ = flow(provider, platform, person, scope="openid profile", userinfo={"email": None})
    assert token["given_name"] == info["given_name"] == "Lotte"
    assert "email" in info and "email" not in token


def test_essential_outside_the_policy_is_never_released(provider, person, platform):
    essential = {"essential": True}
    token, info, _ = flow(provider, platform, person, id_token={"birthdate": essential, "age_band": essential},
                          userinfo={"birthdate": essential, "age_band": essential})
    assert not {"birthdate", "age_band"} & (set(token) | set(info)), (token, info)


def test_a_value_request_is_a_plain_request(provider, person, platform):
    """§5.5.1 for attribute claims: `value` is not a condition; the person's own value is what is released."""
    token, info, _ = flow(provider, platform, person, userinfo={"given_name": {"value": "Someone else"}},
                          id_token={"family_name": {"values": ["X", "Y"]}})
    assert (info["given_name"], token["family_name"]) == ("Lotte", "Peeters")


def test_refreshed_access_tokens_keep_the_userinfo_member(provider, person, platform):
    _, _, login = flow(provider, platform, person, scope="openid offline_access", userinfo={"email": None})
    response = refresh(provider, platform, login.token["refresh_token"])
    assert response.status_code == 200, response.text
    info = userinfo(provider, response.json()["access_token"]).json()
    assert info["email"] == EMAIL and "given_name" not in info


def test_introspection_releases_by_scope_as_userinfo_does(provider, person, platform):
    _, _, login = flow(provider, platform, person, scope="openid email", userinfo={"given_name": None})
    info = introspect(provider, platform, login.access_token).json()
    assert info["active"] is True
    assert info["email"] == EMAIL, "the scope's claims, within the policy"
    assert "given_name" not in info, "the claims parameter's userinfo member is for userinfo only"
    assert not {"userinfo_claims", "ctx", "gid"} & set(info), info


def test_introspection_of_a_consent_basis_token_releases_only_what_was_consented(provider, person, consented):
    _, _, login = flow(provider, consented, person, scope="openid profile email")
    with database(provider) as db:
        ConsentStore(db).give(person["id"], consented["client_id"], 1, ["given_name"], person["id"])
    info = introspect(provider, consented, login.access_token).json()
    assert info["given_name"] == "Lotte" and "email" not in info and "family_name" not in info


def test_consent_basis_releases_only_what_was_consented(provider, person, consented):
    token, info, login = flow(provider, consented, person, userinfo={"given_name": None, "email": None},
                              id_token={"family_name": None})
    assert token["family_name"] == "Peeters" and not {"given_name", "email"} & set(token)
    assert (info["given_name"], info["email"]) == ("Lotte", EMAIL) and "family_name" not in info
    with database(provider) as db:  # the person narrows the consent (as Mijn leerID will let them)
        ConsentStore(db).give(person["id"], consented["client_id"], 1, ["given_name"], person["id"])
    narrowed = userinfo(provider, login.access_token).json()
    assert narrowed == {"sub": token["sub"], "given_name": "Lotte"}, "email is no longer consented to"


def test_no_consent_for_the_birthdate_outside_the_policy(provider, person, consented):
    essential = {"essential": True}
    token, info, _ = flow(provider, consented, person, id_token={"birthdate": essential},
                          userinfo={"birthdate": essential, "email": None})
    assert "birthdate" not in token and "birthdate" not in info
    assert info["email"] == EMAIL


def test_every_release_is_on_the_receipts_with_its_basis(provider, person, platform, consented):
    flow(provider, platform, person, scope="openid profile", userinfo={"email": None})
    flow(provider, consented, person, userinfo={"email": None})
    with Browser(provider) as browser:  # a userinfo answer of only sub releases nothing: no record
        login = sign_in(provider, browser, platform, person, scope="openid")
    assert set(userinfo(provider, login.access_token).json()) == {"sub"}
    with database(provider) as db, db.read() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.subject_id == person["id"],
                                                        AuditEvent.event == "attributes_released")
                               .order_by(AuditEvent.seq)).all()
    releases = [(r.client_id, r.detail["via"], r.detail["claims"], r.detail["basis"], r.detail["policy_version"])
                for r in rows]
    names = ["family_name", "given_name", "name", "preferred_username"]
    assert releases == [
        (platform["client_id"], "id_token", names, "school-agreement", 1),
        (platform["client_id"], "userinfo", sorted(names + ["email"]), "school-agreement", 1),
        (consented["client_id"], "id_token", [], "consent", 1),
        (consented["client_id"], "userinfo", ["email"], "consent", 1),
        (platform["client_id"], "id_token", [], "school-agreement", 1),
    ], "an ID token without attributes has its record too"


# --- the independent `oic` package as the RP ------------------------------------------------------------------


def test_claims_request_with_oic(provider, browser, person, platform):
    rp = OicClient(client_authn_method=CLIENT_AUTHN_METHOD, verify_ssl=False)
    rp.provider_config(provider.issuer)
    rp.store_registration_info(RegistrationResponse(
        client_id=platform["client_id"], client_secret=platform["client_secret"],
        redirect_uris=[platform["redirect_uri"]], token_endpoint_auth_method="client_secret_basic",
        id_token_signed_response_alg="ES256"))
    rp.redirect_uris = [platform["redirect_uri"]]
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    claims = ClaimsRequest(userinfo=Claims(email={"essential": True}), id_token=Claims(family_name=None))
    request = rp.construct_AuthorizationRequest(request_args={
        "client_id": platform["client_id"], "response_type": "code", "scope": ["openid"], "state": state,
        "nonce": nonce, "redirect_uri": platform["redirect_uri"], "claims": claims})
    callback = browser.authorize(request.request(rp.authorization_endpoint), person)
    answer = rp.parse_response(AuthorizationResponse, info=urlsplit(callback.url).query, sformat="urlencoded")
    tokens = rp.do_access_token_request(state=state, request_args={"code": answer["code"]},
                                        authn_method="client_secret_basic")
    assert isinstance(tokens, AccessTokenResponse), tokens.to_dict()
    assert tokens["id_token"]["family_name"] == "Peeters" and "email" not in tokens["id_token"]
    info = rp.do_user_info_request(method="GET", state=state)
    assert info["email"] == EMAIL and "family_name" not in info
