"""axe-core finds no accessibility violations on any page that leerID shows a person."""
from __future__ import annotations

import re
import secrets

import pytest

from tests.browser.conftest import assert_accessible, log_in

pytestmark = pytest.mark.browser


def test_login_page_dutch(person, platform):
    page = person.page
    page.goto(platform.authorize_url())
    page.locator("input[name=password]").wait_for()
    assert page.locator("html").get_attribute("lang") == "nl"
    assert_accessible(page, "login page (nl)")


def test_login_page_english(person, platform):
    page = person.page
    page.goto(platform.authorize_url(lang="en"))
    page.locator("input[name=password]").wait_for()
    assert page.locator("html").get_attribute("lang") == "en"
    assert_accessible(page, "login page (en)")


def test_login_page_with_wrong_password_error(person, platform, fresh_pupil):
    page = person.page
    page.goto(platform.authorize_url())
    log_in(page, fresh_pupil, password="niet-het-juiste-" + secrets.token_hex(4))
    page.get_by_role("alert").wait_for()
    assert_accessible(page, "login page with a wrong-password error")


def test_login_page_with_empty_fields_error(person, platform):
    page = person.page
    page.goto(platform.authorize_url())
    page.locator("form:has(input[name=password]) button[type=submit]").click()
    page.get_by_role("alert").wait_for()
    assert_accessible(page, "login page with an empty-fields error")


def test_consent_page(person, consent_platform, pupil):
    page = person.page
    page.goto(consent_platform.authorize_url(scope="openid profile", prompt="consent"))  # remembered once allowed
    log_in(page, pupil)
    page.locator("button[name=decision][value=allow]").wait_for()
    assert_accessible(page, "consent page")


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_platform_not_activated_page(person, provider, school, pupil, lang):
    from tests.browser.conftest import make_platform

    unactivated = make_platform(provider, school, "--basis", "school-agreement", activate=False)
    page = person.page
    page.goto(unactivated.authorize_url(lang=lang))
    log_in(page, pupil)
    page.get_by_role("heading", level=1).wait_for()
    assert page.locator("html").get_attribute("lang") == lang
    assert page.get_by_role("link", name=re.compile("Terug naar|Back to")).count() == 1
    assert_accessible(page, f"platform not activated ({lang})")


ERROR_CASES = {  # case: HTTP status of the page
    "unknown-client": 400, "unregistered-redirect-uri": 400, "expired-interaction": 400, "not-found": 404}


@pytest.mark.parametrize("case", ERROR_CASES)
def test_error_pages(person, platform, provider, case):
    page = person.page
    if case == "unknown-client":
        url = platform.authorize_url(client_id="onbekend-" + secrets.token_hex(4))
    elif case == "unregistered-redirect-uri":
        url = platform.authorize_url(redirect_uri="https://rp-elders.example/callback")
    elif case == "expired-interaction":
        url = f"{provider.issuer}/interaction/{secrets.token_urlsafe(18)}"
    else:
        url = f"{provider.issuer}/bestaat-niet"
    response = page.goto(url)
    assert response.status == ERROR_CASES[case], f"{case}: HTTP {response.status}"
    assert page.url.startswith(provider.issuer + "/") and not person.callbacks, "the browser was sent away"
    assert page.locator("html").get_attribute("lang") == "nl"
    assert page.locator("input[name=password]").count() == 0
    assert_accessible(page, f"error page ({case})")


def test_logout_confirmation_page(person, platform, pupil, provider):
    page = person.page
    page.goto(platform.authorize_url())
    log_in(page, pupil)
    person.wait_for_callback()
    page.goto(f"{provider.issuer}/logout")
    page.locator("button[name=logout][value=yes]").wait_for()
    assert_accessible(page, "logout confirmation page")


@pytest.mark.parametrize("choice", ["yes", "no"])
def test_after_logout_pages(person, platform, pupil, provider, choice):
    page = person.page
    page.goto(platform.authorize_url())
    log_in(page, pupil)
    person.wait_for_callback()
    page.goto(f"{provider.issuer}/logout")
    page.locator(f"button[name=logout][value={choice}]").click()
    heading = "Je bent afgemeld" if choice == "yes" else "Je bent nog aangemeld"
    page.get_by_role("heading", name=heading).wait_for()
    assert_accessible(page, f"page after logout={choice}")


def test_form_post_page(person, platform, pupil):
    """The auto-submitting page, held still by serving an empty script, as a person without JavaScript sees it."""
    page = person.page
    person.context.route(re.compile(r"/static/form_post\.js(\?.*)?$"),
                         lambda route, request: route.fulfill(status=200, content_type="text/javascript", body=""))
    page.goto(platform.authorize_url(response_mode="form_post"))
    log_in(page, pupil)
    page.locator("form#response button[type=submit]").wait_for()
    assert not person.callbacks, "the form_post page was submitted although its script was held back"
    assert_accessible(page, "form_post page")


def test_the_check_itself_finds_violations(browser):
    """axe-core really runs: a page without a language and with an unlabelled field fails, readably."""
    from axe_playwright_python.sync_playwright import Axe

    from tests.browser.conftest import format_violations

    page = browser.new_page()
    try:
        page.set_content("<!doctype html><title>x</title><main><h1>x</h1><input name=username></main>")
        violations = Axe().run(page).response["violations"]
    finally:
        page.close()
    assert {"html-has-lang", "label"} <= {v["id"] for v in violations}, violations
    report = format_violations("test page", "about:blank", violations)
    assert "- label [critical]" in report and '<input name="username">' in report, report
