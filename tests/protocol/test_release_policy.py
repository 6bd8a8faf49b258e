"""Release policies (versioned, with per-attribute justification and optional attributes), the consent page that
shows them, granular consent, and the operator's decision on a vendor's request; driven over HTTP with a real
OIDC client (Authlib) and leerID's command line.

Clients of this file are made per test: each changes its own policy.
"""
from __future__ import annotations

import json
import re

import pytest

from tests.protocol.helpers import (
    Browser,
    authorize_url,
    consent_form,
    parse_forms,
    sign_in,
    verify_id_token,
)

SCOPES = ("--scope", "profile", "--scope", "age", "--scope", "offline_access")
POLICY = {
    "basis": "consent",
    "purpose": {"nl": "Rekenen oefenen op jouw niveau", "en": "Practise sums at your level"},
    "retention_days": 365,
    "attributes": [
        {"name": "given_name", "why": {"nl": "Om je bij je naam te noemen", "en": "To call you by your name"}},
        {"name": "age_band", "why": {"nl": "Om oefeningen voor jouw leeftijd te kiezen"}, "optional": True},
    ],
}


def write(provider, name: str, policy: dict) -> str:
    path = provider.workdir / name
    path.write_text(json.dumps(policy))
    return str(path)


@pytest.fixture
def platform(provider) -> dict:
    return provider.client("--vendor", "Reken NV", "--policy", write(provider, "policy.json", POLICY), *SCOPES)


@pytest.fixture
def person(provider, school) -> dict:
    return provider.user(school=school, birthdate="2001-05-04")


def consent_page(provider, browser: Browser, client: dict, person: dict, scope: str = "openid profile age"):
    return browser.login(browser.get(authorize_url(provider, client, scope=scope)), person)


def claims_after(provider, client: dict, person: dict, scope="openid profile age", consent="allow") -> dict:
    with Browser(provider) as browser:
        login = sign_in(provider, browser, client, person, scope=scope, consent=consent)
    return verify_id_token(provider, login.id_token, client["client_id"], nonce=login.nonce)


def test_the_consent_page_shows_vendor_purpose_values_and_why(provider, browser, platform, person):
    page = consent_page(provider, browser, platform, person)
    text = re.sub(r"<[^>]+>", "", page.text)
    assert "Reken NV" in text
    assert "Rekenen oefenen op jouw niveau" in text
    assert "Je voornaam: Lotte" in text
    assert "Om je bij je naam te noemen" in text
    assert "18 jaar of ouder" in text, "the minimal form: an age band, not the birthdate"
    assert "2001" not in text
    assert "365 dagen" in text
    form = consent_form(page)
    assert form.fields["keep"] == ["age_band"], "the optional attribute can be unticked, and is ticked at first"


def test_the_consent_page_speaks_english_when_asked(provider, browser, platform, person):
    page = browser.login(browser.get(authorize_url(provider, platform, scope="openid profile age",
                                                   ui_locales="en")), person)
    text = re.sub(r"<[^>]+>", "", page.text)
    assert "Practise sums at your level" in text
    assert "To call you by your name" in text
    assert "Om oefeningen voor jouw leeftijd te kiezen" in text, "no English justification: the Dutch one"


def test_an_unticked_optional_attribute_is_not_released_and_not_asked_again(provider, browser, platform, person):
    page = consent_page(provider, browser, platform, person)
    form = consent_form(page)
    callback = browser.callback(browser.submit(page, form, button=("decision", "allow"), keep=[]))
    assert callback.params.get("code")
    claims = claims_after(provider, platform, person, consent=None)  # not asked again
    assert claims["given_name"] == "Lotte"
    assert "age_band" not in claims


def test_a_new_policy_version_asks_again_and_releases_what_it_lists(provider, browser, platform, person):
    assert claims_after(provider, platform, person)["age_band"] == "adult"
    wider = dict(POLICY, attributes=POLICY["attributes"] + [
        {"name": "family_name", "why": {"nl": "Voor je leerkracht"}}])
    changed = provider.cli("clients", "policy", "set", platform["client_id"], "--file", write(provider, "v2.json", wider))
    assert changed["version"] == 2
    page = consent_page(provider, browser, platform, person, scope="openid profile age")
    assert consent_form(page) is not None, "version 2 asks again"
    claims = claims_after(provider, platform, person)
    assert claims["family_name"] == "Peeters"


def test_a_vendor_request_changes_nothing_until_the_operator_approves(provider, platform, person):
    wider = dict(POLICY, attributes=POLICY["attributes"] + [{"name": "family_name", "why": {"nl": "Voor de klas"}}])
    asked = provider.cli("clients", "policy", "request", platform["client_id"], "--file",
                         write(provider, "ask.json", wider), "--note", "Leerkrachten vroegen het")
    assert asked["status"] == "pending"
    assert "family_name" not in claims_after(provider, platform, person)
    pending = provider.cli("clients", "policy", "requests")["requests"]
    mine = next(r for r in pending if r["id"] == asked["id"])
    assert mine["changes"]["added"] == ["family_name"]
    approved = provider.cli("clients", "policy", "approve", str(asked["id"]))
    assert approved == {"id": asked["id"], "status": "approved", "version": 2}
    assert claims_after(provider, platform, person)["family_name"] == "Peeters"
    again = provider.run("clients", "policy", "approve", str(asked["id"]), check=False)
    assert again.returncode == 1 and "no pending policy request" in again.stderr
    shown = provider.cli("clients", "policy", "show", platform["client_id"])
    assert [v["version"] for v in shown["versions"]] == [1, 2]
    assert shown["current"]["request"] == asked["id"]


def test_an_invalid_policy_file_changes_nothing(provider, platform):
    bad = dict(POLICY, attributes=[{"name": "shoe_size", "why": {"nl": "?"}}])
    result = provider.run("clients", "policy", "set", platform["client_id"], "--file",
                          write(provider, "bad.json", bad), check=False)
    assert result.returncode == 1 and "unknown attribute 'shoe_size'" in result.stderr
    unjustified = dict(POLICY, attributes=[{"name": "given_name"}])
    result = provider.run("clients", "policy", "set", platform["client_id"], "--file",
                          write(provider, "bare.json", unjustified), check=False)
    assert result.returncode == 1 and "needs a Dutch text" in result.stderr
    assert provider.cli("clients", "policy", "show", platform["client_id"])["current"]["version"] == 1


def operator_page(provider, browser: Browser, person: dict):
    page = browser.get(f"{provider.issuer}/operator")
    return browser.login(page, person)


def test_the_operator_page_approves_and_refuses(provider, browser, platform, school):
    operator = provider.user(role="staff", school=school)
    provider.cli("users", "operator", operator["username"])
    wider = dict(POLICY, attributes=POLICY["attributes"] + [{"name": "email", "why": {"nl": "Om je te mailen"}}])
    first = provider.cli("clients", "policy", "request", platform["client_id"], "--file",
                         write(provider, "one.json", wider))
    second = provider.cli("clients", "policy", "request", platform["client_id"], "--file",
                          write(provider, "two.json", wider))
    page = operator_page(provider, browser, operator)
    assert page.status_code == 200 and "Om je te mailen" in page.text
    form = next(f for f in parse_forms(page.text) if f.action.endswith(f"/aanvragen/{second['id']}"))
    refused = browser.submit(page, form, button=("decision", "refuse"), reason="")
    assert "Schrijf waarom" in refused.text, "a refusal needs a reason"
    refused = browser.submit(page, form, button=("decision", "refuse"), reason="Niet nodig voor rekenen")
    assert "Geweigerd" in refused.text
    form = next(f for f in parse_forms(refused.text) if f.action.endswith(f"/aanvragen/{first['id']}"))
    approved = browser.submit(refused, form, button=("decision", "approve"))
    assert "versie 2" in approved.text
    shown = provider.cli("clients", "policy", "show", platform["client_id"])
    assert shown["current"]["version"] == 2 and shown["current"]["request"] == first["id"]
    everything = provider.cli("clients", "policy", "requests", "--all")["requests"]
    assert {r["id"]: r["status"] for r in everything if r["id"] in (first["id"], second["id"])} == \
        {first["id"]: "approved", second["id"]: "refused"}


def test_only_operators_reach_the_operator_page(provider, browser, school, platform):
    someone = provider.user(role="teacher", school=school)
    page = operator_page(provider, browser, someone)
    assert page.status_code == 403
    asked = provider.cli("clients", "policy", "request", platform["client_id"], "--file",
                         write(provider, "x.json", POLICY))
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(f"{provider.issuer}/mijn").text)
    response = browser.http.post(f"{provider.issuer}/operator/aanvragen/{asked['id']}",
                                 data={"decision": "approve", "csrf_token": csrf.group(1) if csrf else ""})
    assert response.status_code == 403
    assert provider.cli("clients", "policy", "show", platform["client_id"])["current"]["version"] == 1



def test_a_policy_changed_while_the_page_was_open_is_asked_again(provider, browser, platform, person):
    page = consent_page(provider, browser, platform, person)
    form = consent_form(page)
    wider = dict(POLICY, attributes=POLICY["attributes"] + [{"name": "family_name", "why": {"nl": "Voor de klas"}}])
    provider.cli("clients", "policy", "set", platform["client_id"], "--file", write(provider, "mid.json", wider))
    again = browser.submit(page, form, button=("decision", "allow"))
    assert consent_form(again) is not None, "the person decides again, on what the platform now asks"
    assert "Je familienaam" in again.text
