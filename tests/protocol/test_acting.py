"""Acting on someone's behalf through the normal login (DESIGN.md: the chooser, Tokens and claims; RFC 8693 §4.1),
with a real OIDC client (Authlib) against a running provider; mandates come from `leerid mandates grant`.
"""
from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import urljoin

import pytest

from tests.protocol.helpers import (
    Browser,
    authorize_url,
    consent_form,
    form_with_button,
    introspect,
    parse_forms,
    refresh,
    relying_party,
    userinfo,
    verify_id_token,
)
from tests.protocol.helpers import authorization_url as rp_url

SCOPE = "openid profile offline_access"


@pytest.fixture(scope="module")
def portal(provider) -> dict:
    return provider.client("--scope", "profile", "--scope", "offline_access", "--attribute", "given_name")


@pytest.fixture
def family(provider, school) -> tuple[dict, dict, str]:
    child = provider.user(school=school, birthdate=(date.today() - timedelta(days=9 * 366)).isoformat(),
                          given_name="Noor")
    parent = provider.user(role="parent")
    mandate = provider.cli("mandates", "grant", "--from", child["username"], "--to", parent["username"],
                           "--type", "parent")
    return child, parent, str(mandate["id"])


def choices(page) -> list[str]:
    form = next((f for f in parse_forms(page.text) if any(name == "act_as" for name, _ in f.buttons)), None)
    return [value for name, value in form.buttons if name == "act_as"] if form else []


def log_in_as(provider, browser: Browser, client: dict, person: dict, act_as: str | None, scope: str = SCOPE,
              **params):
    """The code flow with Authlib as the RP, answering the chooser with `act_as`; (ID token claims, login)."""
    rp = relying_party(provider, client, scope=scope)
    url, state, nonce, verifier = rp_url(provider, rp, **params)
    page = browser.login(browser.get(url), person)
    if act_as is not None:
        assert act_as in choices(page), (act_as, page.text[:400])
        form = form_with_button(page, "act_as", act_as)
        page = browser.submit(page, form, button=("act_as", act_as))
    if consent_form(page) is not None:
        page = browser.consent(page, "allow")
    callback = browser.callback(page)
    token = rp.fetch_token(code=callback.code, code_verifier=verifier, grant_type="authorization_code",
                           redirect_uri=client["redirect_uri"])
    return verify_id_token(provider, token["id_token"], client["client_id"], nonce=nonce), token


def own_sub(provider, client: dict, person: dict) -> str:
    with Browser(provider) as browser:
        claims, _ = log_in_as(provider, browser, client, person, act_as="self" if person["role"] == "parent" else None)
    return claims["sub"]


def test_the_parent_chooses_and_the_tokens_say_who_really_acts(provider, portal, family):
    child, parent, mandate = family
    child_sub, parent_sub = own_sub(provider, portal, child), own_sub(provider, portal, parent)
    with Browser(provider) as browser:
        claims, token = log_in_as(provider, browser, portal, parent, act_as=child["username"])
    assert claims["sub"] == child_sub and claims["given_name"] == "Noor"
    assert claims["act"] == {"sub": parent_sub, "mandate": int(mandate)}
    assert claims["amr"] == ["pwd"], "amr describes the parent's own login"
    info = userinfo(provider, token["access_token"]).json()
    assert info["sub"] == child_sub and info["act"]["sub"] == parent_sub
    looked_up = introspect(provider, portal, token["access_token"]).json()
    assert looked_up["active"] is True and looked_up["act"]["mandate"] == int(mandate)


def test_for_themselves_the_parent_gets_their_own_sub_and_no_act(provider, portal, family):
    _, parent, _ = family
    with Browser(provider) as browser:
        claims, _ = log_in_as(provider, browser, portal, parent, act_as="self")
    assert "act" not in claims


def test_revoking_the_mandate_stops_its_tokens_at_once(provider, portal, family):
    child, parent, mandate = family
    with Browser(provider) as browser:
        _, token = log_in_as(provider, browser, portal, parent, act_as=child["username"])
    assert userinfo(provider, token["access_token"]).status_code == 200
    provider.cli("mandates", "revoke", mandate)
    assert userinfo(provider, token["access_token"]).status_code == 401
    assert introspect(provider, portal, token["access_token"]).json() == {"active": False}
    refused = refresh(provider, portal, token["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_no_chooser_without_a_mandate_that_holds_here(provider, portal, school):
    child = provider.user(school=school)
    parent = provider.user(role="parent")
    other = provider.client("--scope", "profile")
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    provider.cli("mandates", "grant", "--from", child["username"], "--to", parent["username"], "--type", "parent",
                 "--until", yesterday)
    provider.cli("mandates", "grant", "--from", child["username"], "--to", parent["username"], "--type", "parent",
                 "--client", other["client_id"])
    provider.cli("mandates", "grant", "--from", child["username"], "--to", parent["username"], "--type", "parent",
                 "--scope", "view-activity")
    with Browser(provider) as browser:
        page = browser.login(browser.get(authorize_url(provider, portal, scope="openid")), parent)
        assert choices(page) == [], "an ended mandate, one for another platform, one without login: no chooser"
        assert browser.callback(page).params.get("code")


def test_a_choice_for_someone_else_is_checked_against_the_mandates(provider, portal, family, school):
    _, parent, _ = family
    stranger = provider.user(school=school)
    with Browser(provider) as browser:
        page = browser.login(browser.get(authorize_url(provider, portal, scope="openid")), parent)
        form = form_with_button(page, "act_as", "self")
        forged = browser.http.post(urljoin(str(page.url), form.action),
                                   data=dict(form.fields, act_as=stranger["username"]))  # as a crafted request
        again = browser.follow(forged)
        assert choices(again) and stranger["username"] not in choices(again), "asked again, never for a stranger"


def test_prompt_none_logs_the_parent_in_as_themselves(provider, portal, family):
    _, parent, _ = family
    with Browser(provider) as browser:
        log_in_as(provider, browser, portal, parent, act_as="self")
        silent = browser.callback(browser.get(authorize_url(provider, portal, scope="openid", prompt="none")))
        assert silent.params.get("code"), silent.params


def test_a_parent_consents_for_the_child_at_a_consent_platform(provider, family):
    child, parent, _ = family
    reading = provider.client("--basis", "consent", "--scope", "profile", "--attribute", "given_name")
    with Browser(provider) as browser:
        page = browser.login(browser.get(authorize_url(provider, reading, scope="openid profile")), parent)
        page = browser.submit(page, form_with_button(page, "act_as", child["username"]),
                              button=("act_as", child["username"]))
        assert consent_form(page) is not None and "over Noor" in page.text
        assert browser.callback(browser.consent(page, "allow")).params.get("code")
    with Browser(provider) as browser:  # the child's own next login: the parent's consent holds
        page = browser.login(browser.get(authorize_url(provider, reading, scope="openid profile")), child)
        assert browser.callback(page).params.get("code")


def test_a_mandate_without_consent_cannot_consent(provider, school):
    child = provider.user(role="teacher", school=school, given_name="Noor")  # an adult who chose an assistant
    helper = provider.user(role="parent")
    provider.cli("mandates", "grant", "--from", child["username"], "--to", helper["username"], "--type", "assistant",
                 "--scope", "login")
    reading = provider.client("--basis", "consent", "--scope", "profile", "--attribute", "given_name")
    with Browser(provider) as browser:
        page = browser.login(browser.get(authorize_url(provider, reading, scope="openid profile")), helper)
        refused = browser.callback(browser.submit(page, form_with_button(page, "act_as", child["username"]),
                                                  button=("act_as", child["username"])))
        assert refused.params.get("error") == "access_denied"



def test_a_platform_can_take_no_logins_on_someones_behalf(provider, family):
    _, parent, _ = family
    own_only = provider.client("--no-delegation", "--scope", "profile")
    with Browser(provider) as browser:
        page = browser.login(browser.get(authorize_url(provider, own_only, scope="openid")), parent)
        assert choices(page) == [] and browser.callback(page).params.get("code")


def test_a_mandate_that_ends_stops_its_tokens(provider, portal, family):
    from idp.db import Database
    from mandates.store import Mandate

    child, parent, mandate = family
    with Browser(provider) as browser:
        _, token = log_in_as(provider, browser, portal, parent, act_as=child["username"])
    db = Database(provider.env["LEERID_DATABASE_URL"])
    try:
        with db.transaction() as session:  # its last day was yesterday
            session.get(Mandate, int(mandate)).valid_until = date.today() - timedelta(days=1)
    finally:
        db.engine.dispose()
    assert userinfo(provider, token["access_token"]).status_code == 401
    refused = refresh(provider, portal, token["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert provider.cli("mandates", "list", "--username", child["username"])["mandates"][0]["state"] == "expired"


def test_a_code_issued_before_the_mandate_was_revoked_is_refused(provider, portal, family):
    child, parent, mandate = family
    rp = relying_party(provider, portal, scope="openid")
    url, _, _, verifier = rp_url(provider, rp)
    with Browser(provider) as browser:
        page = browser.login(browser.get(url), parent)
        callback = browser.callback(browser.submit(page, form_with_button(page, "act_as", child["username"]),
                                                   button=("act_as", child["username"])))
    provider.cli("mandates", "revoke", mandate)
    with pytest.raises(Exception) as refused:
        rp.fetch_token(code=callback.code, code_verifier=verifier, grant_type="authorization_code",
                       redirect_uri=portal["redirect_uri"])
    assert "invalid_grant" in str(refused.value)


def test_a_deactivated_parent_can_no_longer_act(provider, portal, family):
    child, parent, _ = family
    with Browser(provider) as browser:
        _, token = log_in_as(provider, browser, portal, parent, act_as=child["username"])
    provider.cli("users", "deactivate", parent["username"])
    assert userinfo(provider, token["access_token"]).status_code == 401
    refused = refresh(provider, portal, token["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_a_revoked_delegated_refresh_token_introspects_inactive(provider, portal, family):
    child, parent, mandate = family
    with Browser(provider) as browser:
        _, token = log_in_as(provider, browser, portal, parent, act_as=child["username"])
    assert introspect(provider, portal, token["refresh_token"]).json()["act"]["mandate"] == int(mandate)
    provider.cli("mandates", "revoke", mandate)
    assert introspect(provider, portal, token["refresh_token"]).json() == {"active": False}
