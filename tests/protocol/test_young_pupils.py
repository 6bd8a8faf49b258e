"""Young pupils: below the digital consent age a pupil cannot consent alone to a `consent`-basis platform; a parent
holding a `parent` mandate decides in Mijn leerID, and the pupil's next login proceeds. Driven over HTTP with a
real OIDC client (Authlib) and leerID's command line.
"""
from __future__ import annotations

import re
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from clients.consents import Consent
from idp.accounts import Account
from idp.db import Database
from tests.protocol.helpers import (
    Browser,
    authorize_url,
    consent_form,
    form_with_button,
    parse_forms,
    sign_in,
    verify_id_token,
)

SCOPE = "openid profile age"


def years_ago(years: int) -> str:
    """The birthdate of someone who turns `years` today (28 February for a 29 February)."""
    today = date.today()
    leap_day = (today.month, today.day) == (2, 29)
    return (date(today.year - years, 2, 28) if leap_day else today.replace(year=today.year - years)).isoformat()


@pytest.fixture(scope="module")
def reading_app(provider) -> dict:
    return provider.client("--basis", "consent", "--scope", "profile", "--scope", "age", "--vendor", "Lees BV",
                           "--attribute", "given_name", "--attribute", "age_band")


@pytest.fixture
def family(provider, school) -> tuple[dict, dict]:
    """A pupil of nine and a parent who holds a parent mandate for them."""
    child = provider.user(school=school, birthdate=years_ago(9))
    parent = provider.user(role="parent")
    provider.cli("mandates", "grant", "--from", child["username"], "--to", parent["username"], "--type", "parent")
    return child, parent


def text_of(page) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text))


def open_platform(provider, browser: Browser, client: dict, person: dict, scope: str = SCOPE, **params):
    return browser.login(browser.get(authorize_url(provider, client, scope=scope, **params)), person)


def ask_parent(browser: Browser, page):
    """The pupil presses "ask my parent" on the page that says a parent must agree first."""
    [form] = [f for f in parse_forms(page.text) if f.action.endswith("/ouder")]
    return browser.submit(page, form)


def child_asks(provider, client: dict, child: dict, scope: str = SCOPE):
    with Browser(provider) as browser:
        page = open_platform(provider, browser, client, child, scope=scope)
        assert page.status_code == 403, page.text[:300]
        return ask_parent(browser, page)


def parent_decides(provider, parent: dict, decision: str, platform_name: str) -> str:
    with Browser(provider) as browser:
        page = browser.login(browser.get(f"{provider.issuer}/mijn/kinderen"), parent)
        assert page.status_code == 200, page.text[:300]
        form = form_with_button(page, "decision", decision)
        assert form is not None, text_of(page)[:600]
        assert platform_name in text_of(page)
        return text_of(browser.submit(page, form, button=("decision", decision)))


def consents_of(provider, account_id: str) -> list[Consent]:
    db = Database(provider.env["LEERID_DATABASE_URL"])
    try:
        with db.read() as session:
            return list(session.scalars(select(Consent).where(Consent.account_id == account_id)))
    finally:
        db.engine.dispose()


def test_a_young_pupil_is_told_a_parent_must_agree(provider, browser, reading_app, family):
    child, _ = family
    page = open_platform(provider, browser, reading_app, child, state="s-9")
    assert page.status_code == 403
    assert consent_form(page) is None, "no consent page: the pupil cannot say yes alone"
    assert "Een ouder moet eerst ja zeggen" in text_of(page)
    assert "We hebben het aan je ouder gevraagd" not in text_of(page), "the pupil asks; the platform cannot"
    asked = ask_parent(browser, page)
    assert asked.status_code == 403 and "We hebben het aan je ouder gevraagd" in text_of(asked)
    back = re.search(r'<a href="([^"]+)">', page.text.split("<main", 1)[1]).group(1).replace("&amp;", "&")
    query = parse_qs(urlsplit(back).query)
    assert back.startswith(reading_app["redirect_uri"])
    assert query["error"] == ["access_denied"] and query["state"] == ["s-9"] and query["iss"] == [provider.issuer]
    silent = browser.get(authorize_url(provider, reading_app, scope=SCOPE, prompt="none", state="s-10"))
    assert parse_qs(urlsplit(silent.headers["location"]).query)["error"] == ["consent_required"]


def test_the_parent_approves_and_the_next_login_proceeds(provider, reading_app, family):
    child, parent = family
    child_asks(provider, reading_app, child)
    after = parent_decides(provider, parent, "allow", reading_app["name"])
    assert "Je zei ja" in after
    with Browser(provider) as browser:
        login = sign_in(provider, browser, reading_app, child, scope=SCOPE, consent=None)
    claims = verify_id_token(provider, login.id_token, reading_app["client_id"], nonce=login.nonce)
    assert claims["given_name"] == "Lotte" and claims["age_band"] == "under_13"
    [consent] = consents_of(provider, child["id"])
    assert consent.given_by == parent["id"], "the parent's consent, not the pupil's"


def test_a_parent_who_says_no_keeps_the_platform_out(provider, reading_app, family):
    child, parent = family
    child_asks(provider, reading_app, child)
    assert "Je zei nee" in parent_decides(provider, parent, "deny", reading_app["name"])
    with Browser(provider) as browser:
        page = open_platform(provider, browser, reading_app, child)
    assert page.status_code == 403 and "Je ouder zei nee" in text_of(page)
    assert consents_of(provider, child["id"]) == []


def test_only_the_childs_own_parent_can_decide(provider, reading_app, family, school):
    child, _ = family
    stranger = provider.user(role="parent")
    child_asks(provider, reading_app, child)
    with Browser(provider) as browser:
        page = browser.login(browser.get(f"{provider.issuer}/mijn/kinderen"), stranger)
        assert form_with_button(page, "decision", "allow") is None, "another family's requests are not shown"
        csrf = next(f for f in parse_forms(page.text) if "csrf_token" in f.fields).fields["csrf_token"]
        for request_id in range(1, 30):  # guessing request ids changes nothing
            browser.http.post(f"{provider.issuer}/mijn/kinderen/verzoeken/{request_id}",
                              data={"decision": "allow", "csrf_token": csrf})
    assert consents_of(provider, child["id"]) == []


def test_a_revoked_mandate_can_no_longer_decide(provider, reading_app, family):
    child, parent = family
    child_asks(provider, reading_app, child)
    [mandate] = provider.cli("mandates", "list", "--username", child["username"])["mandates"]
    provider.cli("mandates", "revoke", str(mandate["id"]))
    with Browser(provider) as browser:
        page = browser.login(browser.get(f"{provider.issuer}/mijn/kinderen"), parent)
        assert form_with_button(page, "decision", "allow") is None


def test_a_school_agreement_platform_needs_no_parent(provider, family):
    child, _ = family
    portal = provider.client("--scope", "profile", "--attribute", "given_name")
    with Browser(provider) as browser:
        login = sign_in(provider, browser, portal, child, consent=None)
    assert verify_id_token(provider, login.id_token, portal["client_id"], nonce=login.nonce)["given_name"] == "Lotte"


def test_at_thirteen_the_parents_consent_becomes_the_pupils_own(provider, reading_app, family):
    child, parent = family
    child_asks(provider, reading_app, child)
    parent_decides(provider, parent, "allow", reading_app["name"])
    db = Database(provider.env["LEERID_DATABASE_URL"])
    try:
        with db.transaction() as session:  # the pupil turns thirteen today
            session.get(Account, child["id"]).birthdate = date.fromisoformat(years_ago(13))
    finally:
        db.engine.dispose()
    with Browser(provider) as browser:
        login = sign_in(provider, browser, reading_app, child, scope=SCOPE, consent=None)
        claims = verify_id_token(provider, login.id_token, reading_app["client_id"], nonce=login.nonce)
        assert claims["age_band"] == "13_to_17", "still valid, without asking again"
        apps = browser.get(f"{provider.issuer}/mijn/apps")
        assert reading_app["name"] in text_of(apps)
        withdraw = [f for f in parse_forms(apps.text) if f.action.endswith(f"/{reading_app['client_id']}/intrekken")]
        assert len(withdraw) == 1, "the consent the parent gave is the pupil's own to withdraw now"


def test_a_mandate_for_one_platform_decides_for_that_platform_only(provider, reading_app, school):
    child = provider.user(school=school, birthdate=years_ago(8))
    parent = provider.user(role="parent")
    other = provider.client("--basis", "consent", "--scope", "profile", "--attribute", "given_name")
    provider.cli("mandates", "grant", "--from", child["username"], "--to", parent["username"], "--type", "parent",
                 "--client", other["client_id"])
    child_asks(provider, reading_app, child)
    with Browser(provider) as browser:
        page = browser.login(browser.get(f"{provider.issuer}/mijn/kinderen"), parent)
        assert form_with_button(page, "decision", "allow") is None, "the request is for another platform"
        csrf = next(f for f in parse_forms(page.text) if "csrf_token" in f.fields).fields["csrf_token"]
        for request_id in range(1, 60):
            browser.http.post(f"{provider.issuer}/mijn/kinderen/verzoeken/{request_id}",
                              data={"decision": "allow", "csrf_token": csrf, "version": "1",
                                    "attribute": ["given_name", "age_band"]})
    assert consents_of(provider, child["id"]) == []


def test_a_request_that_grew_after_the_parent_saw_it_is_shown_again(provider, reading_app, family):
    child, parent = family
    child_asks(provider, reading_app, child, scope="openid profile")  # the first name only
    with Browser(provider) as browser:
        page = browser.login(browser.get(f"{provider.issuer}/mijn/kinderen"), parent)
        form = form_with_button(page, "decision", "allow")
        assert form.fields["attribute"] == "given_name"
        child_asks(provider, reading_app, child)  # meanwhile the platform asks for the age group too
        after = text_of(browser.submit(page, form, button=("decision", "allow")))
    assert "vraagt intussen iets anders" in after
    assert consents_of(provider, child["id"]) == []
    assert "Je zei ja" in parent_decides(provider, parent, "allow", reading_app["name"])
    assert consents_of(provider, child["id"])[0].attributes == ["age_band", "given_name"]


def test_a_young_pupil_cannot_narrow_or_widen_the_parents_consent_alone(provider, reading_app, family):
    child, parent = family
    child_asks(provider, reading_app, child)
    parent_decides(provider, parent, "allow", reading_app["name"])
    with Browser(provider) as browser:
        page = open_platform(provider, browser, reading_app, child, prompt="consent")
        form = consent_form(page)
        assert form is not None and "keep" not in form.fields, "nothing to untick: it is the parent's consent"
        assert browser.callback(browser.consent(page, "allow")).params.get("code")
    [consent] = consents_of(provider, child["id"])
    assert consent.given_by == parent["id"], "the pupil's allow recorded nothing of their own"


def test_a_consent_a_young_pupil_gave_alone_does_not_count(provider, reading_app, school):
    from clients.consents import ConsentStore

    child = provider.user(school=school, birthdate=years_ago(10))
    db = Database(provider.env["LEERID_DATABASE_URL"])
    try:  # as an older leerID let young pupils consent alone
        ConsentStore(db).give(child["id"], reading_app["client_id"], 1, ["given_name", "age_band"], child["id"])
    finally:
        db.engine.dispose()
    with Browser(provider) as browser:
        assert open_platform(provider, browser, reading_app, child).status_code == 403


def test_a_pupil_whose_birthdate_is_unknown_counts_as_young(provider, reading_app, school):
    child = provider.user(school=school)
    db = Database(provider.env["LEERID_DATABASE_URL"])
    try:
        with db.transaction() as session:
            session.get(Account, child["id"]).birthdate = None
    finally:
        db.engine.dispose()
    with Browser(provider) as browser:
        page = open_platform(provider, browser, reading_app, child)
    assert page.status_code == 403 and "Een ouder moet eerst ja zeggen" in text_of(page)
