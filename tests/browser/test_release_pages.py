"""Release-policy pages in headless Chromium, in Dutch and in English, with axe-core on each: the consent page
of a platform with a policy (granular consent), the page telling a young pupil a parent must agree first, the
parent's decision in Mijn leerID (/mijn/kinderen) and the operator's page for vendors' requests (/operator).

The protocol-level versions are tests/protocol/test_release_policy.py and tests/protocol/test_young_pupils.py.
English wording is not checked here: only that the page says it is English (html[lang]) and is accessible.
"""
from __future__ import annotations

import base64
import json
import re
from datetime import date

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    BIRTHDATE_15,
    Platform,
    assert_accessible,
    log_in,
    open_browser,
    visible_text,
)

pytestmark = pytest.mark.browser

LANGUAGES = ["nl", "en"]
SCOPE = "openid profile age"
POLICY = {  # as in tests/protocol/test_release_policy.py: one required attribute, one optional
    "basis": "consent",
    "purpose": {"nl": "Rekenen oefenen op jouw niveau", "en": "Practise sums at your level"},
    "retention_days": 365,
    "attributes": [
        {"name": "given_name", "why": {"nl": "Om je bij je naam te noemen", "en": "To call you by your name"}},
        {"name": "age_band", "why": {"nl": "Om oefeningen voor jouw leeftijd te kiezen"}, "optional": True},
    ],
}
CHILD_NAME = "Noor"  # not the parent's Lotte: the parent's page must name the child


def write_policy(provider, name: str, policy: dict) -> str:
    path = provider.workdir / name
    path.write_text(json.dumps(policy))
    return str(path)


def policy_platform(provider) -> tuple[Platform, str]:
    """A consent-basis platform of Reken NV with POLICY, and its name (a platform per test: requests and consents
    stay the test's own). Consent needs no activation by a school."""
    made = provider.client("--vendor", "Reken NV", "--policy", write_policy(provider, "browser-policy.json", POLICY),
                           "--scope", "profile", "--scope", "age", activate=False)
    return Platform(provider.issuer, made["client_id"], made.get("client_secret"), made["redirect_uri"]), made["name"]


def years_ago(years: int) -> str:
    today = date.today()
    return (today.replace(year=today.year - years) if (today.month, today.day) != (2, 29)
            else date(today.year - years, 2, 28)).isoformat()


def main_text(page) -> str:
    return re.sub(r"\s+", " ", page.locator("main").inner_text())


def assert_language(page, lang: str) -> None:
    assert page.locator("html").get_attribute("lang") == lang, visible_text(page)


def id_token_claims(provider, platform, code: str) -> dict:
    """The platform redeems its code; the id_token's claims (its signature is the protocol tests' business)."""
    token = provider.http.post("/token", auth=(platform.client_id, platform.client_secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": platform.redirect_uri,
        "code_verifier": platform.verifier})
    assert token.status_code == 200, token.text
    payload = token.json()["id_token"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.fixture
def family(provider, school) -> tuple[dict, dict]:
    """A pupil of nine and a parent who holds a parent mandate for them."""
    child = provider.user(school=school, birthdate=years_ago(9), given_name=CHILD_NAME)
    parent = provider.user(role="parent")
    provider.cli("mandates", "grant", "--from", child["username"], "--to", parent["username"], "--type", "parent")
    return child, parent


def child_tries(opened, platform, child: dict, lang: str, ask: bool = True) -> None:
    """The young pupil opens the platform and logs in; leerID shows the "a parent must agree first" page, where
    the pupil asks a parent (`ask`)."""
    page = opened.page
    page.goto(platform.authorize_url(scope=SCOPE, lang=lang))
    log_in(page, child)
    page.get_by_role("heading", level=1).wait_for()
    assert page.locator("button[name=decision]").count() == 0, "no consent page: the pupil cannot say yes alone"
    if ask:
        page.locator("form[action$='/ouder'] button[type=submit]").click()
        expect(page.get_by_role("status")).to_have_count(1)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_consent_page_with_a_policy(person, provider, school, lang):
    platform, _ = policy_platform(provider)
    user = provider.user("pupil", school, birthdate=BIRTHDATE_15)
    page = person.page
    page.goto(platform.authorize_url(scope=SCOPE, lang=lang))
    log_in(page, user)
    page.locator("button[name=decision][value=allow]").wait_for()
    assert_language(page, lang)
    if lang == "nl":
        text = main_text(page)
        for shown in ("Reken NV", "Rekenen oefenen op jouw niveau", "Je voornaam: Lotte",
                      "Om je bij je naam te noemen"):
            assert shown in text, f"{shown!r} is not on the consent page:\n{text}"
    assert_accessible(page, f"consent page with a policy ({lang})")
    optional = page.locator("input[type=checkbox][name=keep][value=age_band]")
    expect(optional).to_be_checked()
    page.locator(f"label[for=\"{optional.get_attribute('id')}\"]").click()  # as a person unticks it
    expect(optional).not_to_be_checked()
    page.locator("button[name=decision][value=allow]").click()
    callback = person.wait_for_callback()
    assert callback.url.startswith(platform.redirect_uri), callback.url
    assert callback.query.get("code") and callback.query.get("state") == platform.state, callback.url
    claims = id_token_claims(provider, platform, callback.query["code"])
    assert claims.get("given_name") == "Lotte" and "age_band" not in claims, claims


@pytest.mark.parametrize("lang", LANGUAGES)
def test_parent_needed_page(person, provider, family, lang):
    platform, _ = policy_platform(provider)
    child, _ = family
    child_tries(person, platform, child, lang, ask=False)
    page = person.page
    assert_language(page, lang)
    if lang == "nl":
        expect(page.get_by_role("heading", level=1)).to_have_text("Een ouder moet eerst ja zeggen")
    assert_accessible(page, f"parent-needed page, before asking ({lang})")
    page.locator("form[action$='/ouder'] button[type=submit]").click()
    expect(page.get_by_role("status")).to_have_count(1)
    back = page.get_by_role("link", name=re.compile("Terug naar|Back to"))
    expect(back).to_have_count(1)
    assert back.get_attribute("href").startswith(platform.redirect_uri)
    assert not person.callbacks, "the pupil was sent on to the platform"
    assert_accessible(page, f"parent-needed page ({lang})")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_parent_decides_in_mijn_kinderen(browser, person, provider, family, lang):
    platform, name = policy_platform(provider)
    child, parent = family
    childs_browser = open_browser(browser)
    try:
        child_tries(childs_browser, platform, child, lang)
    finally:
        childs_browser.context.close()
    page = person.page
    page.goto(f"{provider.issuer}/mijn/kinderen?lang={lang}")
    expect(page.locator("input[name=password]")).to_be_visible()
    log_in(page, parent)
    request = page.locator("section.card", has=page.locator("button[name=decision][value=allow]"))
    expect(request).to_have_count(1)
    expect(request.get_by_role("heading", level=3)).to_contain_text(CHILD_NAME)
    expect(request.get_by_role("heading", level=3)).to_contain_text(name)
    assert_language(page, lang)
    assert_accessible(page, f"parent's page with a request ({lang})")
    request.locator("button[name=decision][value=allow]").click()
    status = page.get_by_role("status")
    expect(status).to_have_count(1)
    expect(status).to_contain_text(CHILD_NAME)
    if lang == "nl":
        expect(status).to_contain_text("Je zei ja")
    expect(page.locator("button[name=decision][value=allow]")).to_have_count(0)
    assert_language(page, lang)
    assert_accessible(page, f"parent's page after saying yes ({lang})")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_operator_refuses_a_vendor_request(person, provider, school, lang):
    platform, _ = policy_platform(provider)
    operator = provider.user(role="staff", school=school)
    provider.cli("users", "operator", operator["username"])
    wider = dict(POLICY, attributes=POLICY["attributes"] + [{"name": "email", "why": {"nl": "Om je te mailen"}}])
    asked = provider.cli("clients", "policy", "request", platform.client_id, "--file",
                         write_policy(provider, "browser-ask.json", wider), "--note", "Leerkrachten vroegen het")
    page = person.page
    page.goto(f"{provider.issuer}/operator?lang={lang}")
    log_in(page, operator)
    form = page.locator(f"form[action$=\"/aanvragen/{asked['id']}\"]")
    expect(form).to_have_count(1)
    assert_language(page, lang)
    assert_accessible(page, f"operator page with a pending request ({lang})")
    page.locator(f"#reason-{asked['id']}").fill("Niet nodig om te rekenen")
    form.locator("button[name=decision][value=refuse]").click()
    status = page.get_by_role("status")
    expect(status).to_have_count(1)
    if lang == "nl":
        expect(status).to_contain_text("Geweigerd")
    expect(form).to_have_count(0)
    assert_language(page, lang)
    assert_accessible(page, f"operator page after a refusal ({lang})")
    decided = provider.cli("clients", "policy", "requests", "--all")["requests"]
    mine = next(r for r in decided if r["id"] == asked["id"])
    assert mine["status"] == "refused" and mine["reason"] == "Niet nodig om te rekenen", mine
