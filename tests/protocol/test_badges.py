"""QR badges over HTTP (issue 6, item 4; DESIGN.md Authentication: amr "badge"): a badge logs a young pupil in at a
school-agreement platform of their school with amr ["badge"] and acr urn:leerid:acr:badge, with Authlib's client as
the platform; and nowhere else: not at a consent platform, not in Mijn leerID, not for acr_values asking a password
or more; not for an older pupil, outside the school's networks, with a wrong PIN, after revocation, or a day badge
on the next day. A badge session is never stepped up to a second factor (its holder could set up a code app of
their own on the pupil's account): wherever one is asked, the real login page. Wrong short codes are throttled per
source (an IPv6 /48), and from outside the school's networks a typed code that exists looks like one that does
not; school A's administrator never reaches school B's badges, and a teacher only their own class.

This module runs a provider of its own behind one trusted proxy, so that each test chooses its source address
(X-Forwarded-For). Badges are printed in the console, as a school does; the print page shows the short code (and
the PIN). The QR code's secret is never in a page's text: the tests that need it print the badge through the same
domain service the console uses (idp.badges.BadgeDesk), on the provider's database and key.

Clients of this file:
  platform -- confidential, school agreement, activated by every school of this module
  consent_platform -- confidential, consent basis
  unused_platform -- confidential, school agreement, activated by no school
  strict -- confidential, school agreement, --require-mfa, activated in the test that uses it
"""
from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urljoin

import pytest
from sqlalchemy import create_engine, text

from tests.live import running_provider
from tests.protocol.helpers import (
    SSO_COOKIE,
    Browser,
    authorization_url,
    enrol_form,
    login_form,
    parse_forms,
    relying_party,
    verify_id_token,
)

ACR_BADGE = "urn:leerid:acr:badge"
SOURCE_LIMIT = 10  # LEERID_LOGIN_MAX_FAILURES_PER_SOURCE of this module's provider
ENV = {"LEERID_TRUSTED_PROXIES": "1", "LEERID_LOGIN_MAX_FAILURES_PER_SOURCE": str(SOURCE_LIMIT)}
CODE = re.compile(r'<p class="code">([A-Z0-9]{5} [A-Z0-9]{5})</p>')
PIN = re.compile(r'<span class="code">([0-9]{4})</span>')
ALERT = re.compile(r'role="alert"[^>]*>\s*<p>(.*?)</p>', re.DOTALL)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with running_provider(tmp_path_factory.mktemp("leerid-badges"), ENV) as provider:
        yield provider


def address() -> str:
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


def browser_at(live, source: str | None = None) -> Browser:
    """A fresh browser behind the address `source` (a new one by default), as the trusted proxy reports it."""
    browser = Browser(live)
    browser.http.headers["X-Forwarded-For"] = source or address()
    return browser


def audit_details(live, event: str, account_id: str) -> list[dict]:
    """The detail of each audit record of `event` about the account, oldest first (JSON text on SQLite)."""
    rows = sql(live, "SELECT detail FROM audit_events WHERE subject_id = :a AND event = :e ORDER BY seq",
               a=account_id, e=event)
    return [json.loads(r[0]) if isinstance(r[0], str) else r[0] for r in rows]


def sql(live, query: str, **params):
    engine = create_engine(live.env["LEERID_DATABASE_URL"])
    try:
        with engine.begin() as conn:
            result = conn.execute(text(query), params)
            return result.fetchall() if result.returns_rows else None
    finally:
        engine.dispose()


@dataclass
class School:
    number: str
    class_id: int
    admin: dict
    teacher: dict
    console: Browser  # the administrator's browser, logged in at /beheer

    def path(self, suffix: str = "") -> str:
        return f"/beheer/{self.number}/klassen/{self.class_id}/badges{suffix}"


def create(live, number: str, role: str, *extra: str, birthdate: date | None = None) -> dict:
    username, password = f"b{role[:3]}{secrets.token_hex(4)}", f"Pw-{secrets.token_urlsafe(12)}"
    args = ["users", "create", "--username", username, "--password", password, "--given-name", "Mila",
            "--family-name", f"Badge{secrets.token_hex(2)}", "--role", role, "--school", number, *extra]
    if birthdate is not None:
        args += ["--birthdate", birthdate.isoformat()]
    return dict(live.cli(*args), password=password, username=username)


def years_ago(years: int) -> date:
    today = date.today()
    return today.replace(year=today.year - years, day=min(today.day, 28))


def make_school(live, platforms) -> School:
    """A school with class 1A, its administrator (logged in at /beheer) and a teacher of 1A; the platforms of this
    module that schools take on are activated for it."""
    number = live.school()
    admin = create(live, number, "staff", "--school-admin")
    teacher = create(live, number, "teacher", "--class", "1A")
    [(class_id,)] = sql(live, "SELECT c.id FROM classes c JOIN schools s ON s.id = c.school_id "
                              "WHERE s.number = :n AND c.name = '1A'", n=number)
    live.cli("clients", "activate", platforms["platform"]["client_id"], "--school", number)
    console = browser_at(live)
    page = console.login(console.get(f"{live.issuer}/beheer/{number}"), admin)
    assert page.status_code == 200, (page.status_code, page.text[:300])
    return School(number, class_id, admin, teacher, console)


def pupil(live, school: School, age: int = 7) -> dict:
    return create(live, school.number, "pupil", "--class", "1A", birthdate=years_ago(age))


@pytest.fixture(scope="module")
def platforms(live):
    return {"platform": live.client(activate=False),
            "consent_platform": live.client("--basis", "consent", "--purpose", "Spelletjes"),
            "unused_platform": live.client(activate=False),
            "strict": live.client("--require-mfa", activate=False)}


@pytest.fixture(scope="module")
def school(live, platforms) -> School:
    return make_school(live, platforms)


def csrf(browser: Browser, path: str) -> str:
    page = browser.get(browser.issuer + path)
    assert page.status_code == 200, (path, page.status_code, page.text[:300])
    return next(f.fields["csrf_token"] for f in parse_forms(page.text) if "csrf_token" in f.fields)


def console_post(school: School, suffix: str, **data):
    """A console form sent by the school's administrator; the raw answer."""
    token = csrf(school.console, school.path())
    return school.console.http.post(school.console.issuer + school.path(suffix), data={"csrf_token": token, **data})


def print_badge(school: School, person: dict, kind: str = "nieuw") -> tuple[str, str | None]:
    """(short code, new PIN or None) of a badge the administrator prints for the pupil (kind nieuw or dag)."""
    response = console_post(school, f"/{person['id']}/{kind}")
    assert response.status_code == 200, (response.status_code, response.text[:500])
    [code] = CODE.findall(response.text)
    pin = PIN.findall(response.text)
    return code, pin[0] if pin else None


def settings(school: School, networks: str = "", step: str = "none") -> None:
    path = f"/beheer/{school.number}/badges"
    token = csrf(school.console, path)
    response = school.console.http.post(school.console.issuer + path,
                                        data={"csrf_token": token, "netwerken": networks, "stap": step})
    assert response.status_code == 303, (response.status_code, response.text[:300])


def secret_badge(live, school: School, person: dict) -> str:
    """The QR code's secret of a new badge, printed through the console's own service on the provider's data."""
    from config.settings import Settings
    from idp.badges import BadgeDesk
    from idp.db import Database

    s = Settings.from_env(live.env).with_secret()
    db = Database(s.database_url)
    try:
        printed = BadgeDesk(db, s.secret_keys, s.issuer, max_age=s.badge_max_age).reissue(
            school.admin["id"], school.number, school.class_id, person["id"])
    finally:
        db.engine.dispose()
    return printed.url.split("#", 1)[1]


def alert(response) -> str:
    found = ALERT.search(response.text)
    assert found, response.text[:500]
    return " ".join(found.group(1).split())


# --- the flow --------------------------------------------------------------------------------------------------


@dataclass
class Attempt:
    browser: Browser
    rp: object
    state: str
    nonce: str
    verifier: str
    page: object  # the scanning page


def open_scanner(live, browser: Browser, client: dict, **params) -> Attempt:
    """The platform's authorization request, then the login page's badge link: the scanning page."""
    rp = relying_party(live, client)
    url, state, nonce, verifier = authorization_url(live, rp, **params)
    page = browser.get(url)
    assert login_form(page) is not None, (page.status_code, page.text[:300])
    link = re.search(r'href="(/interaction/[^"]+/badge)"', page.text)
    assert link, "the login page of a school-agreement platform offers the badge"
    scanner = browser.get(urljoin(str(page.url), link.group(1)))
    assert scanner.status_code == 200 and "Houd je badge voor de camera." in scanner.text, scanner.text[:300]
    return Attempt(browser, rp, state, nonce, verifier, scanner)


def scan(attempt: Attempt, code: str | None = None, secret: str | None = None):
    """Send the short code (the typed form) or the secret (the form the camera's script fills in); the answer."""
    field = "secret" if secret is not None else "code"
    form = next(f for f in parse_forms(attempt.page.text) if field in f.fields)
    return attempt.browser.send(attempt.page, form, **{field: secret if secret is not None else code})


def claims_after(live, client: dict, attempt: Attempt, response) -> dict:
    callback = attempt.browser.callback(attempt.browser.follow(response))
    assert callback.params.get("state") == attempt.state, callback.params
    token = attempt.rp.fetch_token(code=callback.code, code_verifier=attempt.verifier,
                                   grant_type="authorization_code", redirect_uri=client["redirect_uri"])
    return verify_id_token(live, token["id_token"], client["client_id"], nonce=attempt.nonce)


def badge_session(live, platforms, school: School, person: dict, code: str) -> Browser:
    """A browser logged in with the badge at the platform."""
    browser = browser_at(live)
    attempt = open_scanner(live, browser, platforms["platform"])
    claims_after(live, platforms["platform"], attempt, scan(attempt, code))
    return browser


# --- the tests ---------------------------------------------------------------------------------------------------


def test_a_typed_badge_code_logs_the_pupil_in_with_badge_amr_and_acr(live, platforms, school):
    person = pupil(live, school)
    code, _ = print_badge(school, person)
    with browser_at(live) as browser:
        attempt = open_scanner(live, browser, platforms["platform"])
        response = scan(attempt, code.lower())
        assert response.status_code == 303
        cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(SSO_COOKIE + "="))
        assert "max-age" not in cookie.lower() and "expires" not in cookie.lower(), "ends with the browser"
        claims = claims_after(live, platforms["platform"], attempt, response)
    assert claims["amr"] == ["badge"] and claims["acr"] == ACR_BADGE, claims
    logins = audit_details(live, "login", person["id"])
    assert len(logins) == 1 and logins[0]["amr"] == ["badge"]


def test_a_scanned_secret_logs_the_pupil_in(live, platforms, school):
    person = pupil(live, school)
    secret = secret_badge(live, school, person)
    with browser_at(live) as browser:
        attempt = open_scanner(live, browser, platforms["platform"])
        claims = claims_after(live, platforms["platform"], attempt, scan(attempt, secret=secret))
    assert claims["amr"] == ["badge"] and claims["acr"] == ACR_BADGE


def test_a_badge_opened_by_a_camera_app_logs_in_and_names_the_schools_platforms(live, platforms, school):
    person = pupil(live, school)
    secret = secret_badge(live, school, person)
    with browser_at(live) as browser:
        page = browser.get(f"{live.issuer}/badge")  # the fragment never reaches the server: the page's script posts it
        form = next(f for f in parse_forms(page.text) if "secret" in f.fields)
        response = browser.send(page, form, secret=secret)
        assert response.status_code == 303 and response.headers["location"].endswith("/badge/klaar")
        done = browser.follow(response)
        assert done.status_code == 200 and "Je bent aangemeld" in done.text
        rp = relying_party(live, platforms["platform"])
        url, state, _, _ = authorization_url(live, rp)
        callback = browser.callback(browser.get(url))  # single sign-on: no login page
        assert callback.params["state"] == state and "code" in callback.params


def test_no_badge_at_a_consent_platform_or_one_the_school_did_not_take_on(live, platforms, school):
    person = pupil(live, school)
    code, _ = print_badge(school, person)
    browser = badge_session(live, platforms, school, person, code)
    with browser:
        for name in ("consent_platform", "unused_platform"):
            rp = relying_party(live, platforms[name])
            url, *_ = authorization_url(live, rp)
            page = browser.get(url)
            assert login_form(page) is not None, f"{name}: the badge session counts as no session"
            uid = re.search(r"/interaction/([^/\"]+)/login", page.text).group(1)
            if name == "consent_platform":  # a school-agreement platform's: the school is known once scanned
                assert f"/interaction/{uid}/badge" not in page.text, "no badge link on a consent platform's login"
                scanner = browser.get(f"{live.issuer}/interaction/{uid}/badge")
                assert scanner.status_code == 403 and "Met een badge kun je je hier niet aanmelden" in scanner.text
            token = next(f.fields["csrf_token"] for f in parse_forms(page.text) if "csrf_token" in f.fields)
            response = browser.http.post(f"{live.issuer}/interaction/{uid}/badge",
                                         data={"csrf_token": token, "code": code})
            assert response.status_code == 403 and "Met een badge kun je je hier niet aanmelden" in alert(response)
    reasons = sql(live, "SELECT detail FROM audit_events WHERE subject_id = :a AND event = 'login_failed'",
                  a=person["id"])
    assert any("platform" in str(r[0]) for r in reasons), "the refusal at the school's unused platform is audited"


def test_a_badge_session_opens_neither_mijn_leerid_nor_the_console_nor_a_password_acr(live, platforms, school):
    person = pupil(live, school)
    code, _ = print_badge(school, person)
    with badge_session(live, platforms, school, person, code) as browser:
        for path in ("/mijn", "/mijn/apps", "/beheer", "/beheer/badges"):
            assert login_form(browser.get(live.issuer + path)) is not None, path
        for acr in ("urn:leerid:acr:pwd", "urn:leerid:acr:mfa"):
            rp = relying_party(live, platforms["platform"])
            url, *_ = authorization_url(live, rp, acr_values=acr)
            assert login_form(browser.get(url)) is not None, f"acr_values={acr} asks for a real login"
        rp = relying_party(live, platforms["platform"])
        url, *_ = authorization_url(live, rp, acr_values=ACR_BADGE)
        assert "code" in browser.callback(browser.get(url)).params


def test_an_older_pupil_is_refused(live, platforms, school):
    person = pupil(live, school)
    code, _ = print_badge(school, person)
    sql(live, "UPDATE accounts SET birthdate = :b WHERE id = :a", b=years_ago(12) - timedelta(days=1), a=person["id"])
    with browser_at(live) as browser:
        response = scan(open_scanner(live, browser, platforms["platform"]), code)
        assert response.status_code == 403 and "Badges zijn voor jonge kinderen" in alert(response)
        assert browser.cookie(SSO_COOKIE) is None
    refused = audit_details(live, "login_failed", person["id"])
    assert refused and refused[-1]["method"] == "badge" and refused[-1]["reason"] == "too_old"
    older = pupil(live, school, age=13)
    response = console_post(school, f"/{older['id']}/nieuw")
    assert response.status_code == 409 and "jonger dan 12 jaar" in response.text


def test_outside_the_schools_networks_the_badge_is_refused(live, platforms):
    school = make_school(live, platforms)
    person = pupil(live, school)
    secret = secret_badge(live, school, person)
    code, _ = print_badge(school, person, "dag")  # beside the badge, which a new one would replace
    settings(school, networks="198.51.100.0/24")
    with browser_at(live, "203.0.113.5") as browser:
        attempt = open_scanner(live, browser, platforms["platform"])
        response = scan(attempt, secret=secret)  # the scanned secret: nothing to guess, so the pupil is told why
        assert response.status_code == 403 and "alleen op school" in alert(response)
        unknown = scan(attempt, "".join(secrets.choice("ACDEFGHJKMNPQRTUVWXY34679") for _ in range(10)))
        typed = scan(attempt, code)  # typed: a code that exists looks like one that does not
        assert typed.status_code == unknown.status_code == 401
        assert alert(typed) == alert(unknown) and "We kennen deze badge niet" in alert(typed)
        assert browser.cookie(SSO_COOKIE) is None
    reasons = sql(live, "SELECT detail FROM audit_events WHERE subject_id = :a AND event = 'login_failed'",
                  a=person["id"])
    assert sum("network" in str(r[0]) for r in reasons) == 2, "both refusals are audited as they are"
    with browser_at(live, "198.51.100.7") as browser:
        attempt = open_scanner(live, browser, platforms["platform"])
        assert claims_after(live, platforms["platform"], attempt, scan(attempt, code))["amr"] == ["badge"]


def test_a_pin_after_the_badge_wrong_then_right(live, platforms):
    school = make_school(live, platforms)
    settings(school, step="pin")
    person = pupil(live, school)
    code, pin = print_badge(school, person)
    assert pin is not None, "the print page shows the new PIN once, on a sheet of its own"
    with browser_at(live) as browser:
        attempt = open_scanner(live, browser, platforms["platform"])
        step = browser.follow(scan(attempt, code))
        form = next(f for f in parse_forms(step.text) if "pin" in f.fields)
        assert browser.cookie(SSO_COOKIE) is None, "no session before the PIN"
        wrong = browser.send(step, form, pin="0000" if pin != "0000" else "1111")
        assert wrong.status_code == 401 and "pincode klopt niet" in alert(wrong)
        assert browser.cookie(SSO_COOKIE) is None
        form = next(f for f in parse_forms(wrong.text) if "pin" in f.fields)
        claims = claims_after(live, platforms["platform"], attempt, browser.send(wrong, form, pin=pin))
    assert claims["amr"] == ["badge"] and claims["acr"] == ACR_BADGE


def test_a_revoked_badge_is_refused_and_its_session_ends(live, platforms, school):
    person = pupil(live, school)
    code, _ = print_badge(school, person)
    with badge_session(live, platforms, school, person, code) as browser:
        response = console_post(school, f"/{person['id']}/intrekken")
        assert response.status_code == 303
        rp = relying_party(live, platforms["platform"])
        url, *_ = authorization_url(live, rp)
        assert login_form(browser.get(url)) is not None, "revoking ends the pupil's sessions"
    with browser_at(live) as browser:
        response = scan(open_scanner(live, browser, platforms["platform"]), code)
        assert response.status_code == 403 and "werkt niet meer" in alert(response)


def test_a_day_badge_works_that_day_only(live, platforms, school):
    person = pupil(live, school)
    code, _ = print_badge(school, person, "dag")
    with browser_at(live) as browser:
        attempt = open_scanner(live, browser, platforms["platform"])
        assert claims_after(live, platforms["platform"], attempt, scan(attempt, code))["amr"] == ["badge"]
    # the next day: the badge was printed yesterday (no test waits for midnight)
    sql(live, "UPDATE badges SET valid_until = :d WHERE account_id = :a AND kind = 'day'",
        d=date.today() - timedelta(days=1), a=person["id"])
    with browser_at(live) as browser:
        response = scan(open_scanner(live, browser, platforms["platform"]), code)
        assert response.status_code == 403 and "maar voor één dag" in alert(response)


def test_wrong_short_codes_are_throttled_per_source(live, platforms, school):
    person = pupil(live, school)
    code, _ = print_badge(school, person)
    source = address()
    with browser_at(live, source) as browser:
        attempt = open_scanner(live, browser, platforms["platform"])
        for _ in range(SOURCE_LIMIT):
            wrong = "".join(secrets.choice("ACDEFGHJKMNPQRTUVWXY34679") for _ in range(10))
            assert scan(attempt, wrong).status_code == 401
        refused = scan(attempt, code)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert browser.cookie(SSO_COOKIE) is None, "refused even with the right badge"
    classmate = pupil(live, school)
    with browser_at(live, source) as tablet:  # a classmate scanning at that address: a secret is no guess
        attempt = open_scanner(live, tablet, platforms["platform"])
        scanned = scan(attempt, secret=secret_badge(live, school, classmate))
        assert claims_after(live, platforms["platform"], attempt, scanned)["amr"] == ["badge"]
    with browser_at(live) as elsewhere:  # the badge's pupil is not locked out from another place
        attempt = open_scanner(live, elsewhere, platforms["platform"])
        assert claims_after(live, platforms["platform"], attempt, scan(attempt, code))["amr"] == ["badge"]


def test_wrong_short_codes_from_ipv6_are_counted_per_48(live, platforms, school):
    """An IPv6 site has a /48: guesses from each of its /64s count together (the guard counts per /64 elsewhere)."""
    person = pupil(live, school)
    code, _ = print_badge(school, person)
    number = secrets.randbelow(0x7fff)
    site, other_site = f"2001:db8:{number:x}", f"2001:db8:{number + 0x8000:x}::7"
    for n in range(SOURCE_LIMIT):  # one wrong code from each of ten networks of the site
        with browser_at(live, f"{site}:{n:x}::1") as browser:
            wrong = "".join(secrets.choice("ACDEFGHJKMNPQRTUVWXY34679") for _ in range(10))
            assert scan(open_scanner(live, browser, platforms["platform"]), wrong).status_code == 401
    with browser_at(live, f"{site}:ffff::7") as browser:
        refused = scan(open_scanner(live, browser, platforms["platform"]), code)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert browser.cookie(SSO_COOKIE) is None
    with browser_at(live, other_site) as browser:
        attempt = open_scanner(live, browser, platforms["platform"])
        assert claims_after(live, platforms["platform"], attempt, scan(attempt, code))["amr"] == ["badge"]


def test_a_badge_session_never_sets_up_a_code_app_on_the_pupils_account(live, platforms, school):
    """A second factor asked, by acr_values with the badge level among them or by the platform's require-mfa
    setting: the badge session counts as no session (the real login page), and the badge opens nothing there."""
    live.cli("clients", "activate", platforms["strict"]["client_id"], "--school", school.number)
    person = pupil(live, school)
    code, _ = print_badge(school, person)
    with badge_session(live, platforms, school, person, code) as browser:
        session = browser.cookie(SSO_COOKIE)
        for name, extra in (("platform", {"acr_values": f"urn:leerid:acr:mfa {ACR_BADGE}"}), ("strict", {})):
            rp = relying_party(live, platforms[name])
            url, *_ = authorization_url(live, rp, **extra)
            page = browser.get(url)
            assert login_form(page) is not None and enrol_form(page) is None, (name, page.text[:300])
            uid = re.search(r"/interaction/([^/\"]+)/login", page.text).group(1)
            token = next(f.fields["csrf_token"] for f in parse_forms(page.text) if "csrf_token" in f.fields)
            response = browser.http.post(f"{live.issuer}/interaction/{uid}/badge",
                                         data={"csrf_token": token, "code": code})
            assert response.status_code == 403 and "Met een badge kun je je hier niet aanmelden" in alert(response)
            assert browser.http.post(f"{live.issuer}/interaction/{uid}/enrol",
                                     data={"csrf_token": token, "code": "123456"}).status_code == 400
        assert browser.cookie(SSO_COOKIE) == session, "the badge session itself is left as it was"
    assert not sql(live, "SELECT account_id FROM totp_credentials WHERE account_id = :a", a=person["id"])
    assert not sql(live, "SELECT seq FROM audit_events WHERE subject_id = :a AND event = 'mfa_enrolled'",
                   a=person["id"])


def test_a_badge_session_of_a_pupil_whose_role_needs_a_second_factor_is_no_session(tmp_path_factory):
    """LEERID_MFA_ROLES with pupils: a badge is never the first of two factors, so the pupil's badge session is
    not stepped up (no code page, no set-up of a code app over it): the login page asks for a real login."""
    with running_provider(tmp_path_factory.mktemp("leerid-badges-mfa"),
                          dict(ENV, LEERID_MFA_ROLES="pupil,teacher,staff")) as live:
        platforms = {"platform": live.client(activate=False)}
        school = make_school(live, platforms)
        person = pupil(live, school)
        code, _ = print_badge(school, person)
        with browser_at(live) as browser:
            attempt = open_scanner(live, browser, platforms["platform"])
            page = browser.follow(scan(attempt, code))
            assert login_form(page) is not None and enrol_form(page) is None, page.text[:300]
            assert 'name="code"' not in page.text
        assert not sql(live, "SELECT account_id FROM totp_credentials WHERE account_id = :a", a=person["id"])


def test_school_a_never_reaches_school_bs_badges(live, platforms, school):
    other = make_school(live, platforms)
    person = pupil(live, other)
    nowhere = "/beheer/9999999999/klassen/999999999/badges"
    reference = school.console.get(live.issuer + nowhere)
    assert reference.status_code == 404
    theirs_as_ours = f"/beheer/{school.number}/klassen/{other.class_id}/badges"
    for path in (other.path(), f"/beheer/{other.number}/badges", theirs_as_ours):
        response = school.console.get(live.issuer + path)
        assert response.status_code == 404, path
        assert response.text.replace(path, "PATH") == reference.text.replace(nowhere, "PATH"), path
    token = csrf(school.console, school.path())
    for suffix in (f"/{person['id']}/nieuw", f"/{person['id']}/dag", f"/{person['id']}/intrekken", "/afdrukken"):
        response = school.console.http.post(live.issuer + other.path(suffix), data={"csrf_token": token})
        assert response.status_code == 404, suffix
    assert not sql(live, "SELECT id FROM badges WHERE account_id = :a", a=person["id"])


def test_a_teacher_of_the_class_prints_a_day_badge_and_no_more(live, platforms, school):
    person = pupil(live, school)
    with browser_at(live) as teacher:
        page = teacher.login(teacher.get(f"{live.issuer}/beheer/badges"), school.teacher)
        assert page.status_code == 200 and school.path() in page.text, page.text[:300]
        token = csrf(teacher, school.path())
        day = teacher.http.post(live.issuer + school.path(f"/{person['id']}/dag"), data={"csrf_token": token})
        assert day.status_code == 200 and CODE.search(day.text)
        for suffix in (f"/{person['id']}/nieuw", "/afdrukken"):
            response = teacher.http.post(live.issuer + school.path(suffix), data={"csrf_token": token})
            assert response.status_code == 404, suffix
        assert teacher.get(f"{live.issuer}/beheer/{school.number}/badges").status_code == 404
    issued = sql(live, "SELECT actor_id, school_id FROM audit_events WHERE event = 'badge_issued' AND subject_id = :a",
                 a=person["id"])
    assert issued and issued[0][0] == school.teacher["id"] and issued[0][1] is not None
