"""Single sign-on: one login opens every platform; the SSO session and the login that starts it
(OIDC Core §3.1.2.3; SECURITY.md: session identifiers change at login, interactions are bound to their
browser, every redirect after a POST with credentials is a 303).

Clients of this file:
  first, second -- confidential, default scopes (two platforms of the same person)
"""
from __future__ import annotations

import secrets
from http.cookies import SimpleCookie

import pytest

from tests.protocol.helpers import (
    SSO_COOKIE,
    Browser,
    authorize_url,
    login_form,
    redeem,
    sign_in,
    verify_id_token,
    without_csrf,
)

FIRST = ()
SECOND = ()


@pytest.fixture(scope="module")
def first(provider, school):  # the school first: a school-agreement platform is activated for the schools there are
    return provider.client(*FIRST)


@pytest.fixture(scope="module")
def second(provider, school):
    return provider.client(*SECOND)


def set_cookies(response) -> dict[str, SimpleCookie]:
    cookies = {}
    for header in response.headers.get_list("set-cookie"):
        jar = SimpleCookie()
        jar.load(header)
        cookies.update({name: morsel for name, morsel in jar.items()})
    return cookies


def test_second_platform_gets_a_code_without_a_login_form(provider, browser, user, first, second):
    one = sign_in(provider, browser, first, user)
    response = browser.http.get(authorize_url(provider, second))
    assert response.is_redirect
    callback = browser.callback(response)  # straight back to the platform: no page in between
    tokens = redeem(provider, second, callback.code, None).json()
    claims_one = verify_id_token(provider, one.id_token, first["client_id"])
    claims_two = verify_id_token(provider, tokens["id_token"], second["client_id"])
    assert claims_two["sid"] == claims_one["sid"], "one SSO session"
    assert claims_two["auth_time"] == claims_one["auth_time"]
    assert claims_two["sub"] != claims_one["sub"], "pairwise: the platforms cannot link the person"


def test_sso_cookie_is_httponly_and_samesite_lax(provider, browser, user, first):
    page = browser.get(authorize_url(provider, first))
    response = browser.send_login(page, user["username"], user["password"])
    cookie = set_cookies(response)[SSO_COOKIE]
    assert cookie["httponly"]
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"
    assert not cookie["secure"] or provider.issuer.startswith("https://")
    assert not cookie["domain"], "a host-only cookie"


def test_form_cookie_is_httponly_and_samesite_lax(provider, browser, first):
    response = browser.http.get(authorize_url(provider, first))
    cookies = set_cookies(response)
    assert cookies, "the authorization request starts an interaction bound to this browser"
    for name, morsel in cookies.items():
        assert morsel["httponly"], name
        assert morsel["samesite"].lower() == "lax", name


def test_login_post_answers_303(provider, browser, user, first):
    """SECURITY.md / RFC 9700 §4.12: a 307 would make the browser post the password on to the platform."""
    page = browser.get(authorize_url(provider, first))
    assert browser.send_login(page, user["username"], user["password"]).status_code == 303


def test_session_identifier_changes_at_every_login(provider, browser, user, first):
    sign_in(provider, browser, first, user)
    before = browser.cookie(SSO_COOKIE)
    sign_in(provider, browser, first, user, prompt="login")
    after = browser.cookie(SSO_COOKIE)
    assert before and after and before != after


def test_a_planted_session_cookie_is_not_adopted(provider, user, first):
    """Session fixation: a cookie value set by someone else never becomes the logged-in session."""
    planted = secrets.token_urlsafe(32)
    with Browser(provider) as browser:
        browser.http.cookies.set(SSO_COOKIE, planted, domain="127.0.0.1", path="/")
        sign_in(provider, browser, first, user)
        assert browser.cookie(SSO_COOKIE) != planted
    with Browser(provider) as attacker:
        attacker.http.cookies.set(SSO_COOKIE, planted, domain="127.0.0.1", path="/")
        page = attacker.get(authorize_url(provider, first, prompt="none"))
        assert "code" not in attacker.callback(page).params


def test_another_browser_cannot_use_the_session(provider, browser, user, first):
    sign_in(provider, browser, first, user)
    with Browser(provider) as other:
        callback = other.authorize(authorize_url(provider, first, prompt="none"))
        assert callback.params["error"] == "login_required"


def test_interaction_is_bound_to_its_browser(provider, browser, user, first):
    page = browser.get(authorize_url(provider, first))
    assert "/interaction/" in str(page.url)
    with Browser(provider) as other:
        stolen = other.get(str(page.url))
        assert stolen.status_code == 400
        assert login_form(stolen) is None
        posted = other.send_login(page, user["username"], user["password"])  # the form of the first browser
        assert posted.status_code == 400
        assert not other.cookie(SSO_COOKIE)


def test_a_finished_interaction_cannot_be_resumed_again(provider, browser, user, first):
    """The resume URL works once: after the code was issued, going back to it issues nothing."""
    page = browser.get(authorize_url(provider, first))
    answer = browser.send_login(page, user["username"], user["password"])
    resume = str(answer.url.join(answer.headers["location"]))
    assert "/authorize/resume/" in resume
    assert "code" in browser.callback(browser.follow(answer)).params
    again = browser.http.get(resume)
    assert again.status_code == 400
    assert not again.is_redirect


def test_login_needs_the_csrf_token(provider, browser, user, first):
    page = browser.get(authorize_url(provider, first))
    response = browser.send(page, without_csrf(login_form(page)), username=user["username"],
                            password=user["password"])
    assert response.status_code == 400
    assert not browser.cookie(SSO_COOKIE)


def test_wrong_password_and_unknown_user_look_the_same(provider, school, first):
    person = provider.user(school=school)  # its own account: this test types a wrong password
    answers = []
    for username, password in ((person["username"], "Wrong-password-1"), ("nobody-" + secrets.token_hex(4),
                                                                          "Wrong-password-1")):
        with Browser(provider) as browser:
            page = browser.get(authorize_url(provider, first))
            response = browser.send_login(page, username, password)
            assert response.status_code == 401
            assert login_form(response) is not None, "the login form again"
            assert not browser.cookie(SSO_COOKIE)
            answers.append(alert_text(response.text))
    assert answers[0] and answers[0] == answers[1]


def alert_text(html: str) -> str:
    """The message in the page's role=alert box."""
    start = html.find('role="alert"')
    return html[start:html.find("</div>", start)] if start >= 0 else ""


def test_usernames_are_not_case_sensitive(provider, browser, user, first):
    login = sign_in(provider, browser, first, dict(user, username=user["username"].upper()))
    verify_id_token(provider, login.id_token, first["client_id"])
