"""Passwords (issue 6, item 1; NIST SP 800-63B): "Wachtwoord wijzigen" in Mijn leerID
(/mijn/beveiliging/wachtwoord) over HTTP, the operator's `leerid users create --password` under the same rules, and
the transparent rehash at login (new argon2 parameters; hashes made before NFKC normalisation).

Changing the password asks the current one (counted like a login), refuses a new one that breaks the rules with a
Dutch sentence that says what to do, ends every other SSO session of the person (this browser goes on under a new
cookie), keeps the platforms' refresh tokens unless the person asks to be signed out of every app, and is audited
as `password_changed`.

Every test makes its own person: failures are throttled per account.

Clients of this file:
  offline -- confidential, school agreement, --scope openid --scope profile --scope offline_access
"""
from __future__ import annotations

import secrets
import time
import unicodedata

import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine, text

from tests.live import LiveProvider, fresh_database
from tests.protocol.helpers import (
    SSO_COOKIE,
    Browser,
    login_form,
    parse_forms,
    refresh,
    sign_in,
    without_csrf,
)

OFFLINE = ("--scope", "openid", "--scope", "profile", "--scope", "offline_access")
PAGE = "/mijn/beveiliging/wachtwoord"


@pytest.fixture(scope="module")
def offline(provider):
    return provider.client(*OFFLINE)


@pytest.fixture
def pupil(provider, school) -> dict:
    return provider.user("pupil", school)


def query(provider, sql: str, **params):
    engine = create_engine(provider.env["LEERID_DATABASE_URL"])
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), params)
            return result.scalar() if result.returns_rows else None
    finally:
        engine.dispose()


def password_hash(provider, person: dict) -> str:
    return query(provider, "SELECT password_hash FROM accounts WHERE id = :a", a=person["id"])


def events(provider, person: dict, event: str) -> int:
    return query(provider, "SELECT count(*) FROM audit_events WHERE subject_id = :a AND event = :e",
                 a=person["id"], e=event)


def signed_in(provider, person: dict, password: str | None = None) -> Browser:
    browser = Browser(provider)
    page = browser.login(browser.get(f"{provider.issuer}/mijn"), person, password)
    assert page.status_code == 200 and str(page.url) == f"{provider.issuer}/mijn", (page.url, page.text[:300])
    return browser


def change(browser: Browser, current: str, new: str, again: str | None = None, **extra: str):
    """Fill in the page's form and send it; the raw answer."""
    page = browser.get(f"{browser.issuer}{PAGE}")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store", page.text[:300]
    form = next(f for f in parse_forms(page.text) if f.action == PAGE)
    return browser.send(page, form, current_password=current, password=new,
                        password_again=new if again is None else again, **extra)


def can_log_in(provider, person: dict, password: str) -> bool:
    with Browser(provider) as browser:
        page = browser.follow(browser.send_login(browser.get(f"{provider.issuer}/mijn"), person["username"],
                                                 password))
        return str(page.url) == f"{provider.issuer}/mijn" and login_form(page) is None


def new_password() -> str:
    return f"mijn fiets is {secrets.token_hex(3)} blauw"


# --- the page ------------------------------------------------------------------------------------------------------

def test_the_security_page_links_to_the_password_page(provider, pupil):
    with signed_in(provider, pupil) as browser:
        overview = browser.get(f"{provider.issuer}/mijn/beveiliging")
        assert f'href="{PAGE}"' in overview.text
        page = browser.get(f"{provider.issuer}{PAGE}")
        assert page.status_code == 200 and "Wachtwoord wijzigen" in page.text
        fields = next(f for f in parse_forms(page.text) if f.action == PAGE).fields
        assert {"csrf_token", "current_password", "password", "password_again"} <= fields.keys()
        assert 'data-minimum="8"' in page.text and "password.js" in page.text


def test_someone_not_signed_in_is_sent_to_the_login(provider):
    with Browser(provider) as browser:
        assert login_form(browser.get(f"{provider.issuer}{PAGE}")) is not None
        sent = browser.http.post(f"{provider.issuer}{PAGE}", data={"current_password": "x", "password": "y"})
        assert sent.status_code in (303, 400), sent.status_code


def test_changing_the_password_ends_the_other_sessions_and_keeps_refresh_tokens(provider, pupil, offline):
    other = signed_in(provider, pupil)
    with Browser(provider) as platform_browser:
        login = sign_in(provider, platform_browser, offline, pupil, scope="openid offline_access")
    with signed_in(provider, pupil) as browser, other:
        old_cookie = browser.cookie(SSO_COOKIE)
        new = new_password()
        done = change(browser, pupil["password"], new)
        assert done.status_code == 303 and done.headers["location"].endswith("/mijn/beveiliging")
        assert browser.cookie(SSO_COOKIE) not in (None, old_cookie), "this browser goes on under a new cookie"
        overview = browser.get(f"{provider.issuer}/mijn/beveiliging")
        assert overview.status_code == 200 and "Je wachtwoord is veranderd" in overview.text
        assert browser.get(f"{provider.issuer}/mijn").status_code == 200
        assert login_form(other.get(f"{provider.issuer}/mijn")) is not None, "the other session has ended"
        history = browser.get(f"{provider.issuer}/mijn/geschiedenis")
        assert "Je veranderde je wachtwoord" in history.text
    assert refresh(provider, offline, login.token["refresh_token"]).status_code == 200, "refresh tokens stay"
    assert not can_log_in(provider, pupil, pupil["password"])
    assert can_log_in(provider, pupil, new)
    assert events(provider, pupil, "password_changed") == 1


def test_signing_out_of_every_app_revokes_the_refresh_tokens(provider, pupil, offline):
    with Browser(provider) as platform_browser:
        login = sign_in(provider, platform_browser, offline, pupil, scope="openid offline_access")
    with signed_in(provider, pupil) as browser:
        assert change(browser, pupil["password"], new_password(), sign_out_apps="yes").status_code == 303
    refused = refresh(provider, offline, login.token["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_a_wrong_current_password_changes_nothing(provider, pupil):
    before = password_hash(provider, pupil)
    with signed_in(provider, pupil) as browser:
        refused = change(browser, pupil["password"] + "x", new_password())
        assert refused.status_code == 400 and "Je huidige wachtwoord klopt niet" in refused.text
        assert 'aria-invalid="true"' in refused.text
    assert password_hash(provider, pupil) == before
    assert events(provider, pupil, "login_failed") == 1 and events(provider, pupil, "password_changed") == 0


def test_guessing_the_current_password_is_throttled_like_a_login(provider, pupil):
    """Judged by the login's Guard: after a few wrong ones each next one waits longer, then the account locks
    (config.settings: 5 failures); a refused attempt is refused even with the right password."""
    before = password_hash(provider, pupil)
    with signed_in(provider, pupil) as browser:
        answers = []
        while answers.count(400) < 5 and len(answers) < 60:
            answer = change(browser, f"geraden-{len(answers)}-wachtwoord", new_password())
            answers.append(answer.status_code)
            if answer.status_code == 429:
                assert "Wacht" in answer.text
                time.sleep(0.5)  # the growing delay passes; the count goes on
        assert answers[0] == 400 and answers.count(400) == 5, answers
        locked = change(browser, pupil["password"], new_password())
        assert locked.status_code == 429 and "minuten" in locked.text, "refused even with the right password"
    assert password_hash(provider, pupil) == before
    assert events(provider, pupil, "login_failed") == 5


@pytest.mark.parametrize("new, says", [
    ("kort-ww", "typ er nog 1 bij"),
    ("Wachtwoord", "lijst van vaak gebruikte wachtwoorden"),
    ("Lotte2015!", "je naam"),
    ("12345678", "reeks"),
    ("aaaaaaaaaaaa", "steeds hetzelfde teken"),
    ("x" * 65, "hoogstens 64 tekens"),
])
def test_a_new_password_that_breaks_a_rule_is_refused_with_what_to_do(provider, pupil, new, says):
    before = password_hash(provider, pupil)
    with signed_in(provider, pupil) as browser:
        refused = change(browser, pupil["password"], new)
        assert refused.status_code == 400 and says in refused.text, refused.text[:2000]
        assert 'role="alert"' in refused.text
    assert password_hash(provider, pupil) == before
    assert events(provider, pupil, "login_failed") == 0, "the current password was right"


def test_the_username_the_same_password_and_two_different_ones_are_refused(provider, pupil):
    with signed_in(provider, pupil) as browser:
        assert "gebruikersnaam" in change(browser, pupil["password"], f"ik-ben-{pupil['username']}").text
        assert "hetzelfde als je huidige" in change(browser, pupil["password"], pupil["password"]).text
        mismatch = change(browser, pupil["password"], new_password(), new_password())
        assert mismatch.status_code == 400 and "niet hetzelfde" in mismatch.text
    assert events(provider, pupil, "password_changed") == 0


def test_without_the_csrf_token_nothing_changes(provider, pupil):
    before = password_hash(provider, pupil)
    with signed_in(provider, pupil) as browser:
        page = browser.get(f"{provider.issuer}{PAGE}")
        form = without_csrf(next(f for f in parse_forms(page.text) if f.action == PAGE))
        sent = browser.send(page, form, current_password=pupil["password"], password=new_password())
        assert sent.status_code == 400
    assert password_hash(provider, pupil) == before


def test_a_password_typed_on_another_keyboard_is_the_same_password(provider, pupil):
    typed = "ﬁets naar ＺＥＥ 2024"  # a ligature and full-width letters, as some keyboards and phones send them
    with signed_in(provider, pupil) as browser:
        assert change(browser, pupil["password"], typed).status_code == 303
    assert can_log_in(provider, pupil, unicodedata.normalize("NFKC", typed))
    assert can_log_in(provider, pupil, typed)


# --- leerid users create --password --------------------------------------------------------------------------------

def test_the_operator_cannot_create_an_account_with_a_weak_password(provider, school):
    username = f"wzw{secrets.token_hex(4)}"
    args = ["users", "create", "--username", username, "--given-name", "Wout", "--family-name", "Zwak", "--role",
            "teacher", "--school", school, "--json"]
    for weak, says in (("regenboog-1", "at least 12"), ("password1234", "common"), ("Wout-2020-!!", "name")):
        refused = provider.run(*args, "--password", weak, check=False)
        assert refused.returncode == 2 and refused.stdout == "", refused
        assert len(refused.stderr.strip().splitlines()) == 1 and says in refused.stderr, refused.stderr
    assert query(provider, "SELECT count(*) FROM accounts WHERE username = :u", u=username) == 0
    made = provider.cli(*args[:-1], "--password", "regenboog-1", "--allow-weak-password")
    assert made["username"] == username


# --- rehash at login -----------------------------------------------------------------------------------------------

def test_new_argon2_parameters_and_old_unnormalised_hashes_are_rehashed_at_login(tmp_path_factory):
    """LEERID_ARGON2_TIME_COST changes: the next login stores a hash with the new cost, and still works."""
    workdir = tmp_path_factory.mktemp("rehash")
    with fresh_database(workdir) as url:
        first = LiveProvider(workdir, url, {"LEERID_SECRET_KEY": secrets.token_urlsafe(32)}).start()
        try:
            person = first.user("pupil")
            raw = "ﬁets naar ＺＥＥ " + secrets.token_hex(3)
            legacy = PasswordHasher(memory_cost=19456, time_cost=2, parallelism=1).hash(raw)  # leerID before NFKC
            query(first, "UPDATE accounts SET password_hash = :h WHERE id = :a", h=legacy, a=person["id"])
            assert can_log_in(first, person, raw)
            renewed = password_hash(first, person)
            assert renewed != legacy and PasswordHasher().verify(renewed, unicodedata.normalize("NFKC", raw))
            assert can_log_in(first, person, unicodedata.normalize("NFKC", raw))
            env = dict(first.env)
        finally:
            first.stop()
        before = password_hash(first, person)
        assert ",t=2," in before
        second = LiveProvider(workdir, url, {"LEERID_SECRET_KEY": env["LEERID_SECRET_KEY"],
                                             "LEERID_ARGON2_TIME_COST": "3"}).start()
        try:
            assert can_log_in(second, person, raw)
            after = password_hash(second, person)
            assert after != before and ",t=3," in after
            assert can_log_in(second, person, raw), "the login works with the new hash"
            assert password_hash(second, person) == after, "rehashed once, not at every login"
        finally:
            second.stop()
