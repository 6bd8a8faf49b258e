"""No guessing, and no locking out a class (issue 6, item 6; DESIGN.md Authentication; OWASP "Slow Down Online
Guessing Attacks with Device Cookies"): 1,000 guesses at one pupil's password from 50 addresses get nowhere, not even
with the right password among the last ones, while the pupil's classmates behind the school's one address (where some
of the guesses came from too) still log in, and the pupil logs in from a browser where they logged in before; spraying
passwords over many accounts from one address gets one guess per account once the address is over its limit, while
classmates nobody guessed at still log in there; a name that names no one is locked (and audited) alike; and a
locked person with a code app gets in with their password and a recovery code.

This module runs a provider of its own: it trusts one proxy's X-Forwarded-For (how the guesses come from many
addresses), locks an account after 5 failures without waits before that (LEERID_LOGIN_FREE_FAILURES=5; the waits are
test_throttle.py's), and allows 20 failures per address. The guesses run concurrently, and a refused one is refused
before any password is checked, so the whole attack takes seconds.

Clients of this file:
  platform -- confidential, school agreement, default scopes
"""
from __future__ import annotations

import json
import secrets
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urljoin

import pytest
from sqlalchemy import create_engine, text

from tests.protocol.helpers import (
    SSO_COOKIE,
    Browser,
    authorize_url,
    login_form,
    parse_forms,
)
from tests.protocol.test_throttle import alert, browser_at, own_provider

MAX_FAILURES = 5
PER_SOURCE = 20
ENV = {"LEERID_TRUSTED_PROXIES": "1", "LEERID_LOGIN_MAX_FAILURES": str(MAX_FAILURES),
       "LEERID_LOGIN_FREE_FAILURES": str(MAX_FAILURES), "LEERID_LOGIN_DELAY": "60", "LEERID_LOGIN_MAX_DELAY": "60",
       "LEERID_LOGIN_MAX_FAILURES_PER_SOURCE": str(PER_SOURCE)}
GUESSES = 1000
GUESSERS = 10  # attackers' browsers, each posting its share of the guesses one after another
SCHOOL = "192.0.2.10"  # the school network's one public address (NAT)
ATTACKERS = [SCHOOL, *(f"198.51.100.{i}" for i in range(1, 50))]


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    yield from own_provider(tmp_path_factory, ENV)


@pytest.fixture(scope="module")
def school(provider):
    return provider.school()


@pytest.fixture(scope="module")
def platform(provider, school):
    return provider.client()


class Guesser:
    """An attacker's browser: one login page, and any number of guesses posted to it from any address."""

    def __init__(self, provider, platform):
        self.browser = Browser(provider)
        page = self.browser.get(authorize_url(provider, platform))
        self.form = login_form(page)
        self.action = urljoin(str(page.url), self.form.action)

    def guess(self, username: str, password: str, source: str):
        data = dict(self.form.fields, username=username, password=password)
        return self.browser.http.post(self.action, data=data, headers={"X-Forwarded-For": source})


def log_in(provider, platform, person: dict, source: str, browser: Browser | None = None, **params):
    """A login from `browser` (a fresh one when None); (the answer to the login POST, whether a session began)."""
    own = browser is None
    browser = browser or browser_at(provider, source)
    try:
        browser.http.headers["X-Forwarded-For"] = source
        page = browser.get(authorize_url(provider, platform, **params))
        response = browser.send_login(page, person["username"], person["password"])
        return response, response.status_code == 303 and bool(browser.cookie(SSO_COOKIE))
    finally:
        if own:
            browser.close()


def audit_count(provider, event: str, subject: str) -> int:
    engine = create_engine(provider.env["LEERID_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM audit_events WHERE event = :e AND subject_id = :s"),
                                {"e": event, "s": subject}).scalar_one()
    finally:
        engine.dispose()


def locked_page(response) -> bool:
    return response.status_code == 429 and 'id="login-lock"' in response.text


def test_a_thousand_guesses_get_nowhere_and_the_class_still_logs_in(provider, platform, school):
    victim = provider.user(school=school)
    classmates = [provider.user(school=school) for _ in range(6)]
    own_device = browser_at(provider, SCHOOL)  # the victim's tablet: logged in there before
    assert log_in(provider, platform, victim, SCHOOL, own_device)[1]
    guessers = [Guesser(provider, platform) for _ in range(GUESSERS)]
    first = GUESSES - 10

    def attack(n: int) -> list:
        guesser = guessers[n]
        return [guesser.guess(victim["username"], f"Guess-{i}", ATTACKERS[i % len(ATTACKERS)])
                for i in range(n, first, GUESSERS)]

    def classmate(person: dict):  # fresh browsers, behind the same address as some of the guesses
        return log_in(provider, platform, person, SCHOOL)

    with ThreadPoolExecutor(GUESSERS + len(classmates)) as pool:
        attacks = [pool.submit(attack, n) for n in range(GUESSERS)]
        logins = [pool.submit(classmate, person) for person in classmates]
        answers = [r for a in attacks for r in a.result()]
        class_logins = [f.result() for f in logins]
    last = [guessers[i % GUESSERS].guess(victim["username"], victim["password"] if i in (3, 9) else f"Guess-{i}",
                                         ATTACKERS[i * 7 % len(ATTACKERS)]) for i in range(GUESSES - first)]
    answers += last
    assert len(answers) == GUESSES
    statuses = [r.status_code for r in answers]
    assert set(statuses) <= {401, 429}, sorted(set(statuses))
    checked = statuses.count(401)
    assert 1 <= checked <= MAX_FAILURES, f"{checked} guesses were checked"
    assert all(locked_page(r) for r in last), "the right password among the last guesses is refused too"
    assert not any(g.browser.cookie(SSO_COOKIE) for g in guessers), "no guess began a session"
    assert all(ok for _, ok in class_logins), [r.status_code for r, _ in class_logins]
    # locked for browsers without the victim's device cookie, even with the right password, even at school
    response, ok = log_in(provider, platform, victim, SCHOOL)
    assert locked_page(response) and not ok
    # ... but not on the victim's own tablet
    response, ok = log_in(provider, platform, victim, SCHOOL, own_device, prompt="login")
    assert ok, (response.status_code, response.text[:300])
    own_device.close()
    for guesser in guessers:
        guesser.browser.close()
    assert audit_count(provider, "login_failed", victim["id"]) == checked, "every checked guess is audited"
    assert audit_count(provider, "account_locked", victim["id"]) == 1, "the lock is audited once"


def test_spraying_gets_one_guess_per_account_and_the_class_still_logs_in(provider, platform, school):
    """One guesser behind the school's one address never locks out the class (review finding 2): over the address's
    limit, an account (or name) that failed in the window gets no more attempts from there, one that did not is
    still checked."""
    sprayer, elsewhere = "203.0.113.7", "203.0.113.99"
    classmates = [provider.user(school=school) for _ in range(4)]
    devices = [browser_at(provider, sprayer) for _ in classmates]  # they logged in here before
    for person, device in zip(classmates, devices, strict=True):
        assert log_in(provider, platform, person, sprayer, device)[1]
    names = [p["username"] for p in classmates] + [f"leerling{secrets.token_hex(3)}" for _ in range(PER_SOURCE)]
    guesser = Guesser(provider, platform)
    first = [guesser.guess(name, "Zomer2024!", sprayer).status_code for name in names]
    assert first == [401] * len(names), first  # past the limit too: one guess each
    again = [guesser.guess(name, "Winter2024!", sprayer) for name in names]
    assert [r.status_code for r in again] == [429] * len(names), [r.status_code for r in again]
    assert "netwerk" in alert(again[-1]) and int(again[-1].headers["Retry-After"]) > 0
    # a pupil nobody guessed at logs in behind that address from a fresh browser, with the right password, ...
    newcomer = provider.user(school=school)
    assert log_in(provider, platform, newcomer, sprayer)[1]
    # ... one who was guessed at waits there, but gets in where they logged in before, and anywhere else
    response, ok = log_in(provider, platform, classmates[0], sprayer)
    assert response.status_code == 429 and not ok
    for person, device in zip(classmates, devices, strict=True):
        assert log_in(provider, platform, person, sprayer, device, prompt="login")[1]
        device.close()
    assert log_in(provider, platform, classmates[0], elsewhere)[1]
    guesser.browser.close()


def nameless_failures(provider) -> list[str]:
    """The `detail` of every login_failed record without a subject (a name that names no one), as text."""
    engine = create_engine(provider.env["LEERID_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT detail FROM audit_events WHERE event = 'login_failed' "
                                     "AND subject_id IS NULL ORDER BY seq")).scalars().all()
    finally:
        engine.dispose()
    return [row if isinstance(row, str) else json.dumps(row) for row in rows]


def page_shape(response, username: str) -> tuple:
    """What a person sees of a refused login, without what differs by request (tokens, ids, the name typed)."""
    fields = sorted(f for form in parse_forms(response.text) for f in form.fields)
    return (response.status_code, "Retry-After" in response.headers, alert(response).replace(username, "NAME"),
            fields)


def test_an_unknown_name_is_locked_exactly_like_an_account(provider, platform, school):
    known, nobody = provider.user(school=school), f"niemand{secrets.token_hex(3)}"
    shapes, audited = [], len(nameless_failures(provider))
    for username, password in ((known["username"], known["password"]), (nobody, "x")):
        guesser = Guesser(provider, platform)
        fifth = [guesser.guess(username, f"Wrong-{i}", f"198.18.{i}.{secrets.randbelow(250) + 1}")
                 for i in range(MAX_FAILURES)][-1]
        refused = guesser.guess(username, password, "198.18.200.1")
        again = guesser.guess(username, password, "198.18.200.2")
        guesser.browser.close()
        assert fifth.status_code == 401 and locked_page(refused) and locked_page(again)
        shapes.append((page_shape(fifth, username), page_shape(refused, username)))
    assert shapes[0] == shapes[1]
    assert "beheerder" in alert(refused) and "herstelcode" in alert(refused), alert(refused)
    assert audit_count(provider, "account_locked", known["id"]) == 1
    # every checked guess at the unknown name was audited too, as for an account (the same work, so the same time:
    # review finding 4), by a keyed pseudonym of the name, never the name
    records = nameless_failures(provider)[audited:]
    assert len(records) == MAX_FAILURES and len(set(records)) == 1, records
    assert nobody not in records[0] and '"name"' in records[0] and '"pwd"' in records[0], records[0]


def test_a_locked_person_with_a_code_app_gets_in_with_a_recovery_code(provider, platform, school):
    from tests.protocol.test_mijn_security import enrol, signed_in_browser

    person = provider.user(school=school)
    with signed_in_browser(provider, person) as browser:
        _, codes = enrol(provider, browser)
    attacker = Guesser(provider, platform)
    for i in range(MAX_FAILURES):
        assert attacker.guess(person["username"], f"Wrong-{i}", ATTACKERS[i]).status_code == 401
    assert locked_page(attacker.guess(person["username"], person["password"], SCHOOL))
    with browser_at(provider, SCHOOL) as laptop:  # a browser the person never used
        page = laptop.send_login(laptop.get(authorize_url(provider, platform)), person["username"],
                                 person["password"])
        assert locked_page(page)
        form = next(f for f in parse_forms(page.text) if "recovery_code" in f.fields)
        refused = laptop.send(page, form, username=person["username"], password=person["password"],
                              recovery_code="0000 0000 0000 0000 0000")  # a wrong code: still the field to retry
        form = next(f for f in parse_forms(refused.text) if "recovery_code" in f.fields)
        assert refused.status_code == 401
        done = laptop.send(refused, form, username=person["username"], password=person["password"],
                           recovery_code=codes[0])
        assert done.status_code == 303 and laptop.cookie(SSO_COOKIE), (done.status_code, done.text[:300])
    assert audit_count(provider, "mfa_recovery_used", person["id"]) == 1
    attacker.browser.close()
