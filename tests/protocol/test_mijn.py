"""Mijn leerID (/mijn) over HTTP (DESIGN.md HTTP: pages for people; CONTEXT.md criteria 3, 4, 6 and 7): which
platforms received what about me, withdrawing a consent (its refresh token stops at once and the next login asks
again), my history, and the download of all my data. Only ever the signed-in person's own data.

Clients of this file:
  school_platform -- confidential, school-agreement, scopes openid profile offline_access,
                     releases given_name and family_name
  consented       -- confidential, --basis consent, scopes openid profile offline_access,
                     releases given_name and family_name
"""
from __future__ import annotations

import json

import pytest

from tests.protocol.helpers import (
    Browser,
    assert_oauth_error,
    authorize_url,
    consent_form,
    form_with_button,
    login_form,
    parse_forms,
    refresh,
    sign_in,
    without_csrf,
)

ATTRIBUTES = ("--scope", "openid", "--scope", "profile", "--scope", "offline_access", "--attribute", "given_name",
              "--attribute", "family_name")
SCOPE = "openid profile offline_access"
SECURITY_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Request-ID")


@pytest.fixture(scope="module")
def school_platform(provider, school):
    return provider.client(*ATTRIBUTES)


@pytest.fixture(scope="module")
def consented(provider):
    return provider.client("--basis", "consent", *ATTRIBUTES)


@pytest.fixture
def person(provider, school) -> dict:
    """A person of their own for each test: their platforms and history are theirs alone."""
    return provider.user(school=school)


def mijn(provider, browser: Browser, path: str = ""):
    return browser.get(f"{provider.issuer}/mijn{path}")


def signed_in_browser(provider, person: dict) -> Browser:
    """A browser logged in through Mijn leerID's own login page, now on /mijn."""
    browser = Browser(provider)
    page = browser.login(mijn(provider, browser), person)
    assert page.status_code == 200 and str(page.url) == f"{provider.issuer}/mijn", (page.url, page.text[:300])
    return browser


def rotated(provider, client: dict, refresh_token: str) -> str:
    """Refresh once: the new refresh token (the old one is rotated out)."""
    response = refresh(provider, client, refresh_token)
    assert response.status_code == 200, response.text
    return response.json()["refresh_token"]


def withdraw_form(page):
    return next((f for f in parse_forms(page.text) if f.action.endswith("/intrekken")), None)


def test_not_signed_in_asks_for_the_login_and_comes_back(provider, browser, person):
    for path in ("", "/apps", "/geschiedenis", "/gegevens.json"):
        first = browser.http.get(f"{provider.issuer}/mijn{path}")
        assert first.status_code == 303 and first.headers["location"].startswith("/interaction/"), first.headers
    page = browser.login(mijn(provider, browser, "/apps"), person)
    assert str(page.url) == f"{provider.issuer}/mijn/apps" and page.status_code == 200
    home = mijn(provider, browser)
    assert "Lotte Peeters" in home.text and 'href="/mijn/apps"' in home.text
    assert 'href="/mijn/geschiedenis"' in home.text and 'href="/mijn/gegevens.json"' in home.text


def test_every_page_sends_the_security_headers(provider, person):
    with signed_in_browser(provider, person) as browser:
        for path in ("", "/apps", "/geschiedenis", "/gegevens.json"):
            response = mijn(provider, browser, path)
            assert response.status_code == 200, path
            assert all(h in response.headers for h in SECURITY_HEADERS), (path, response.headers)
            assert response.headers["Cache-Control"] == "no-store"
            assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_the_apps_list_shows_a_platform_after_a_login_released_data(provider, person, school_platform):
    with signed_in_browser(provider, person) as browser:
        assert school_platform["name"] not in mijn(provider, browser, "/apps").text
        sign_in(provider, browser, school_platform, None, scope="openid profile")  # the SSO session logs in
        page = mijn(provider, browser, "/apps")
    assert school_platform["name"] in page.text
    assert "Je voornaam" in page.text and "Je familienaam" in page.text
    assert "omdat je school een afspraak heeft met dit platform" in page.text
    assert withdraw_form(page) is None, "there is no consent to withdraw"


def test_a_consent_shows_until_it_is_withdrawn_and_then_the_refresh_token_stops(provider, person, consented):
    with signed_in_browser(provider, person) as browser:
        token = sign_in(provider, browser, consented, None, scope=SCOPE).token["refresh_token"]
        token = rotated(provider, consented, token)
        apps = mijn(provider, browser, "/apps")
        assert consented["name"] in apps.text and "omdat jij (of je ouder) toestemming gaf" in apps.text
        asked = browser.submit(apps, withdraw_form(apps))
        confirm = form_with_button(asked, "confirm", "yes")
        assert asked.status_code == 200 and confirm is not None, "the first press only asks to confirm"
        token = rotated(provider, consented, token)  # nothing changed yet
        done = browser.send(asked, confirm, button=("confirm", "yes"))
        assert done.status_code == 303 and done.headers["location"] == "/mijn/apps"
        after = browser.follow(done)
        assert "krijgt niets meer over jou" in after.text and "opnieuw om je toestemming" in after.text
        assert withdraw_form(after) is None
    assert_oauth_error(refresh(provider, consented, token), "invalid_grant")
    with Browser(provider) as again:
        page = again.login(again.get(authorize_url(provider, consented, scope="openid profile")), person)
        assert consent_form(page) is not None, "the next login asks for consent again"


def test_withdrawing_without_csrf_token_changes_nothing(provider, person, consented):
    with signed_in_browser(provider, person) as browser:
        login = sign_in(provider, browser, consented, None, scope=SCOPE)
        apps = mijn(provider, browser, "/apps")
        asked = browser.submit(apps, withdraw_form(apps))
        form = form_with_button(asked, "confirm", "yes")
        refused = browser.send(asked, without_csrf(form), button=("confirm", "yes"))
        assert refused.status_code == 400
        assert withdraw_form(mijn(provider, browser, "/apps")) is not None, "the consent still holds"
    assert refresh(provider, consented, login.token["refresh_token"]).status_code == 200


def test_withdrawing_where_there_is_no_consent_changes_nothing_and_says_so(provider, person, school_platform):
    with signed_in_browser(provider, person) as browser:
        login = sign_in(provider, browser, school_platform, None, scope=SCOPE)
        home = mijn(provider, browser)
        token = next(f.fields["csrf_token"] for f in parse_forms(home.text) if "csrf_token" in f.fields)
        for client_id in (school_platform["client_id"], "bestaat-niet"):
            done = browser.http.post(f"{provider.issuer}/mijn/apps/{client_id}/intrekken",
                                     data={"csrf_token": token, "confirm": "yes"})
            assert done.status_code == 303 and done.headers["location"] == "/mijn/apps"
            assert "Er is dus niets veranderd" in browser.follow(done).text
    assert refresh(provider, school_platform, login.token["refresh_token"]).status_code == 200, "grants untouched"


def test_another_persons_data_never_appears(provider, school, person, consented):
    other = provider.user(school=school)
    with signed_in_browser(provider, other) as theirs:
        sign_in(provider, theirs, consented, None, scope=SCOPE)
    with signed_in_browser(provider, person) as mine:
        pages = [mijn(provider, mine, path).text for path in ("/apps", "/geschiedenis", "/gegevens.json")]
    for text in pages:
        assert consented["name"] not in text and other["username"] not in text and other["id"] not in text


def test_the_history_shows_releases_consents_and_logins(provider, person, consented):
    with signed_in_browser(provider, person) as browser:
        sign_in(provider, browser, consented, None, scope=SCOPE)
        page = mijn(provider, browser, "/geschiedenis")
    assert f"{consented['name']} kreeg:" in page.text and "Je voornaam" in page.text
    assert f"Toestemming gegeven aan {consented['name']}" in page.text
    assert "Je meldde je aan." in page.text
    assert page.text.index("kreeg:") < page.text.index("Je meldde je aan."), "newest first"


def test_the_export_holds_the_consent_and_the_releases_and_no_secret(provider, person, consented):
    with signed_in_browser(provider, person) as browser:
        sign_in(provider, browser, consented, None, scope=SCOPE)
        response = mijn(provider, browser, "/gegevens.json")
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["Cache-Control"] == "no-store"
    data = json.loads(response.text)
    assert data["account"]["id"] == person["id"] and data["account"]["username"] == person["username"]
    assert data["memberships"] and data["mandates"] == []
    [consent] = data["consents"]
    assert consent["platform"]["client_id"] == consented["client_id"] and consent["withdrawn_at"] is None
    assert set(consent["attributes"]) == {"given_name", "family_name"}
    released = [e for e in data["audit_events"] if e["event"] == "attributes_released"]
    assert released and all(e["client"] == consented["client_id"] for e in released)
    assert "consent_given" in {e["event"] for e in data["audit_events"]}
    assert "argon2" not in response.text and person["password"] not in response.text


def test_a_deactivated_account_sees_no_page(provider, person):
    with signed_in_browser(provider, person) as browser:
        provider.cli("users", "deactivate", person["username"])
        response = browser.http.get(f"{provider.issuer}/mijn/apps")
        assert response.status_code == 303 and response.headers["location"].startswith("/interaction/")
        assert login_form(browser.follow(response)) is not None


def test_an_event_without_words_of_its_own_gets_a_plain_line(provider, person):
    provider.cli("users", "operator", person["username"])  # an event the history has no words of its own for
    with signed_in_browser(provider, person) as browser:
        page = mijn(provider, browser, "/geschiedenis")
    assert page.status_code == 200
    assert "Er gebeurde iets met je account (operator_appointed)." in page.text
