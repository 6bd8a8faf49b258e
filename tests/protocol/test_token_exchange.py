"""OAuth 2.0 Token Exchange (RFC 8693) for acting on someone's behalf server-side (DESIGN.md: Tokens and claims),
against a running provider: logins with Authlib's client as the RP, the exchange as raw token requests; mandates
come from `leerid mandates grant`.

Clients of this file:
  exchanging -- confidential, --token-exchange, --scope profile --scope offline_access --attribute given_name
  elsewhere  -- as exchanging: another platform
  plain      -- confidential, without --token-exchange
"""
from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import select

from idp.audit import AuditEvent
from idp.db import Database
from idp.models import load_all
from tests.protocol.helpers import (
    Browser,
    assert_oauth_error,
    authorization_url,
    consent_form,
    discovery,
    form_with_button,
    introspect,
    relying_party,
    token_request,
    userinfo,
    verify_id_token,
    verify_jwt,
)

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
SUBJECT = "urn:leerid:params:oauth:token-type:subject"
EXCHANGING = ("--token-exchange", "--scope", "profile", "--scope", "offline_access", "--attribute", "given_name")
SCOPE = "openid profile offline_access"


@pytest.fixture(scope="module")
def exchanging(provider) -> dict:
    return provider.client(*EXCHANGING)


@pytest.fixture(scope="module")
def elsewhere(provider) -> dict:
    return provider.client(*EXCHANGING)


@pytest.fixture
def family(provider, school) -> tuple[dict, dict, int]:
    """A child of nine, a parent with a `parent` mandate for them (all actions, every platform), its id."""
    child = provider.user(school=school, birthdate=(date.today() - timedelta(days=9 * 366)).isoformat(),
                          given_name="Noor")
    parent = provider.user(role="parent")
    mandate = provider.cli("mandates", "grant", "--from", child["username"], "--to", parent["username"],
                           "--type", "parent")
    return child, parent, int(mandate["id"])


def log_in(provider, client: dict, person: dict, act_as: str = "self", scope: str = SCOPE) -> tuple[dict, dict]:
    """The code flow for `person`, answering the chooser (when there is one) with `act_as`; (ID token claims,
    token response)."""
    rp = relying_party(provider, client, scope=scope)
    url, _, nonce, verifier = authorization_url(provider, rp)
    with Browser(provider) as browser:
        page = browser.login(browser.get(url), person)
        chooser = form_with_button(page, "act_as", act_as)
        if chooser is not None:
            page = browser.submit(page, chooser, button=("act_as", act_as))
        if consent_form(page) is not None:  # a consent-basis platform asks once
            page = browser.consent(page, "allow")
        code = browser.callback(page).code
    token = rp.fetch_token(code=code, code_verifier=verifier, grant_type="authorization_code",
                           redirect_uri=client["redirect_uri"])
    return verify_id_token(provider, token["id_token"], client["client_id"], nonce=nonce), token


def audited(provider, subject_id: str, event: str) -> list[AuditEvent]:
    """The audit records of `event` done in the name of `subject_id`, in the live provider's database."""
    load_all()
    db = Database(provider.env["LEERID_DATABASE_URL"])
    try:
        with db.read() as session:
            return list(session.scalars(select(AuditEvent).where(AuditEvent.subject_id == subject_id,
                                                                 AuditEvent.event == event)))
    finally:
        db.engine.dispose()


def exchange(provider, client: dict, actor_token: str | None, subject_token: str | None,
             subject_token_type: str | None = SUBJECT, actor_token_type: str | None = ACCESS_TOKEN,
             **extra) -> httpx.Response:
    """A token exchange request as `client` (client_secret_basic); a parameter set to None is left out."""
    data = {"grant_type": GRANT, "actor_token": actor_token, "actor_token_type": actor_token_type,
            "subject_token": subject_token, "subject_token_type": subject_token_type, **extra}
    return token_request(provider, {k: v for k, v in data.items() if v is not None}, client)


@pytest.fixture
def acting(provider, exchanging, family) -> dict:
    """The family at the platform: the child's own sub and ID token, the parent's own sub and access token."""
    child, parent, mandate = family
    child_claims, child_token = log_in(provider, exchanging, child)
    parent_claims, parent_token = log_in(provider, exchanging, parent)
    return {"child": child, "parent": parent, "mandate": mandate, "child_sub": child_claims["sub"],
            "child_id_token": child_token["id_token"], "parent_sub": parent_claims["sub"],
            "actor_token": parent_token["access_token"]}


# --- what is issued --------------------------------------------------------------------------------------------------


def test_the_parent_gets_a_token_for_the_child_that_names_them_as_actor(provider, exchanging, acting):
    response = exchange(provider, exchanging, acting["actor_token"], acting["child_sub"])
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["issued_token_type"] == ACCESS_TOKEN and body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert "refresh_token" not in body and "id_token" not in body
    assert body["scope"].split() == ["openid", "profile"], "the actor token's scope, without offline_access"
    claims = verify_jwt(provider, body["access_token"], ["ES256"], typ="at+jwt").claims
    assert claims["iss"] == provider.issuer and claims["client_id"] == exchanging["client_id"]
    assert claims["sub"] == acting["child_sub"], "the child's pairwise sub, as the child's own login gives it"
    assert claims["act"] == {"sub": acting["parent_sub"], "mandate": acting["mandate"]}
    info = userinfo(provider, body["access_token"])
    assert info.status_code == 200, info.text
    assert info.json() == {"sub": acting["child_sub"], "given_name": "Noor", "act": claims["act"]}
    looked_up = introspect(provider, exchanging, body["access_token"]).json()
    assert looked_up["active"] is True and looked_up["act"] == claims["act"]
    [record] = audited(provider, acting["child"]["id"], "token_exchanged")
    assert (record.actor_id, record.client_id) == (acting["parent"]["id"], exchanging["client_id"])
    assert record.detail == {"mandate": acting["mandate"], "scope": "openid profile"}


def test_an_id_token_of_the_child_names_the_subject_too(provider, exchanging, acting):
    response = exchange(provider, exchanging, acting["actor_token"], acting["child_id_token"], ID_TOKEN)
    assert response.status_code == 200, response.text
    claims = verify_jwt(provider, response.json()["access_token"], ["ES256"]).claims
    assert claims["sub"] == acting["child_sub"] and claims["act"]["sub"] == acting["parent_sub"]


def test_the_scope_is_narrowed_to_what_is_asked(provider, exchanging, acting):
    narrowed = exchange(provider, exchanging, acting["actor_token"], acting["child_sub"], scope="openid")
    assert narrowed.status_code == 200 and narrowed.json()["scope"] == "openid"
    beyond = exchange(provider, exchanging, acting["actor_token"], acting["child_sub"], scope="email")
    assert_oauth_error(beyond, "invalid_scope")


def test_revoking_the_mandate_stops_the_exchanged_token(provider, exchanging, acting):
    token = exchange(provider, exchanging, acting["actor_token"], acting["child_sub"]).json()["access_token"]
    assert userinfo(provider, token).status_code == 200
    provider.cli("mandates", "revoke", str(acting["mandate"]))
    assert userinfo(provider, token).status_code == 401
    assert_oauth_error(exchange(provider, exchanging, acting["actor_token"], acting["child_sub"]), "invalid_grant")


def test_the_exchanged_token_belongs_to_the_actor_tokens_grant(provider, exchanging, acting):
    token = exchange(provider, exchanging, acting["actor_token"], acting["child_sub"]).json()["access_token"]
    revoked = token_request(provider, {"token": acting["actor_token"]}, exchanging, url="/revoke")
    assert revoked.status_code == 200
    assert userinfo(provider, token).status_code == 401, "the parent's grant ended: so did the token for the child"


def test_discovery_lists_the_grant_type(provider):
    assert GRANT in discovery(provider)["grant_types_supported"]


# --- refused: invalid_grant ------------------------------------------------------------------------------------------


def test_no_token_without_a_mandate(provider, exchanging, acting):
    stranger = provider.user(role="parent")
    _, token = log_in(provider, exchanging, stranger)
    assert_oauth_error(exchange(provider, exchanging, token["access_token"], acting["child_sub"]), "invalid_grant")


def test_no_token_for_someone_the_actor_holds_no_mandate_for(provider, exchanging, acting, school):
    other_child = provider.user(school=school)
    claims, token = log_in(provider, exchanging, other_child)
    for subject, kind in ((claims["sub"], SUBJECT), (token["id_token"], ID_TOKEN), (acting["parent_sub"], SUBJECT),
                          ("no-such-sub", SUBJECT)):
        assert_oauth_error(exchange(provider, exchanging, acting["actor_token"], subject, kind), "invalid_grant")


@pytest.mark.parametrize("limit", ["expired", "other-platform", "no-login"])
def test_no_token_under_a_mandate_that_does_not_hold_here(provider, exchanging, elsewhere, school, limit):
    child = provider.user(school=school, birthdate=(date.today() - timedelta(days=9 * 366)).isoformat())
    parent = provider.user(role="parent")
    extra = {"expired": ("--until", (date.today() - timedelta(days=1)).isoformat()),
             "other-platform": ("--client", elsewhere["client_id"]),
             "no-login": ("--scope", "consent", "--scope", "view-activity")}[limit]
    provider.cli("mandates", "grant", "--from", child["username"], "--to", parent["username"], "--type", "parent",
                 *extra)
    child_claims, _ = log_in(provider, exchanging, child)
    _, token = log_in(provider, exchanging, parent)
    assert_oauth_error(exchange(provider, exchanging, token["access_token"], child_claims["sub"]), "invalid_grant")


def test_a_delegated_actor_token_is_refused(provider, exchanging, acting):
    claims, delegated = log_in(provider, exchanging, acting["parent"], act_as=acting["child"]["username"])
    assert claims["act"]["mandate"] == acting["mandate"]
    refused = exchange(provider, exchanging, delegated["access_token"], acting["child_sub"])
    assert_oauth_error(refused, "invalid_grant")


def test_an_actor_token_of_another_platform_is_refused(provider, exchanging, elsewhere, acting):
    _, there = log_in(provider, elsewhere, acting["parent"])
    assert_oauth_error(exchange(provider, exchanging, there["access_token"], acting["child_sub"]), "invalid_grant")


def test_an_id_token_of_another_platform_is_refused(provider, exchanging, elsewhere, acting):
    _, there = log_in(provider, elsewhere, acting["child"])
    refused = exchange(provider, exchanging, acting["actor_token"], there["id_token"], ID_TOKEN)
    assert_oauth_error(refused, "invalid_grant")


def test_tokens_that_are_not_the_right_kind_are_refused(provider, exchanging, acting):
    own = token_request(provider, {"grant_type": "client_credentials"}, exchanging).json()["access_token"]
    assert_oauth_error(exchange(provider, exchanging, own, acting["child_sub"]), "invalid_grant")  # no person
    assert_oauth_error(exchange(provider, exchanging, acting["child_id_token"], acting["child_sub"]),
                       "invalid_grant")  # an ID token as actor token
    assert_oauth_error(exchange(provider, exchanging, "not-a-token", acting["child_sub"]), "invalid_grant")
    assert_oauth_error(exchange(provider, exchanging, acting["actor_token"], acting["actor_token"], ID_TOKEN),
                       "invalid_grant")  # an access token as ID token


# --- refused: the request itself ------------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["actor_token", "actor_token_type", "subject_token", "subject_token_type"])
def test_every_parameter_is_required(provider, exchanging, acting, missing):
    request = {"actor_token": acting["actor_token"], "subject_token": acting["child_sub"], missing: None}
    assert_oauth_error(exchange(provider, exchanging, **request), "invalid_request")


def test_a_repeated_parameter_is_refused(provider, exchanging, acting):
    body = httpx.QueryParams([("grant_type", GRANT), ("actor_token", acting["actor_token"]),
                              ("actor_token_type", ACCESS_TOKEN), ("subject_token", acting["child_sub"]),
                              ("subject_token", acting["child_sub"]), ("subject_token_type", SUBJECT)])
    refused = provider.http.post("/token", content=str(body), auth=(exchanging["client_id"],
                                                                    exchanging["client_secret"]),
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_oauth_error(refused, "invalid_request")


@pytest.mark.parametrize("change", [
    {"actor_token_type": ID_TOKEN},
    {"actor_token_type": "urn:ietf:params:oauth:token-type:jwt"},
    {"subject_token_type": ACCESS_TOKEN},
    {"subject_token_type": "urn:ietf:params:oauth:token-type:saml2"},
    {"requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token"},
])
def test_unsupported_token_types_are_refused(provider, exchanging, acting, change):
    request = dict({"actor_token": acting["actor_token"], "subject_token": acting["child_sub"]}, **change)
    assert_oauth_error(exchange(provider, exchanging, **request), "invalid_request")


def test_no_token_for_another_audience(provider, exchanging, acting):
    refused = exchange(provider, exchanging, acting["actor_token"], acting["child_sub"],
                       audience="https://elders.example")
    assert_oauth_error(refused, "invalid_target")


# --- refused: the client --------------------------------------------------------------------------------------------


def test_only_clients_registered_for_it_may_exchange(provider, acting):
    plain = provider.client("--scope", "profile")
    assert_oauth_error(exchange(provider, plain, acting["actor_token"], acting["child_sub"]), "unauthorized_client")


def test_the_client_must_authenticate(provider, exchanging, acting):
    wrong = dict(exchanging, client_secret="not-the-secret")
    assert_oauth_error(exchange(provider, wrong, acting["actor_token"], acting["child_sub"]), "invalid_client",
                       status=(400, 401))
    anonymous = {k: v for k, v in exchanging.items() if k != "client_secret"}  # its client_id only
    assert_oauth_error(exchange(provider, anonymous, acting["actor_token"], acting["child_sub"]), "invalid_client",
                       status=(400, 401))


@pytest.mark.parametrize("args", [("--public",), ("--no-delegation",)])
def test_only_a_confidential_client_that_acts_for_others_is_registered_for_it(provider, args):
    done = provider.run("clients", "create", "--name", "P", "--redirect-uri", "https://rp.example/cb",
                        "--token-exchange", *args, check=False)
    assert done.returncode != 0 and "--token-exchange" in done.stderr and not done.stdout


def test_no_token_for_someone_whose_consent_a_consent_platform_lacks(provider, school):
    """As at the login: a consent-basis platform serves the person only under their (or their parent's) consent."""
    reading = provider.client(*EXCHANGING, "--basis", "consent", "--attribute", "given_name")
    child = provider.user(school=school, given_name="Noor")  # fifteen: consents alone
    parent = provider.user(role="parent")
    provider.cli("mandates", "grant", "--from", child["username"], "--to", parent["username"], "--type", "parent")
    child_claims, _ = log_in(provider, reading, child)  # the child consents
    _, parent_token = log_in(provider, reading, parent)
    assert exchange(provider, reading, parent_token["access_token"], child_claims["sub"]).status_code == 200
    db = Database(provider.env["LEERID_DATABASE_URL"])
    try:
        from clients.consents import ConsentStore
        ConsentStore(db).withdraw(child["id"], reading["client_id"], child["id"])
    finally:
        db.engine.dispose()
    refused = exchange(provider, reading, parent_token["access_token"], child_claims["sub"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
