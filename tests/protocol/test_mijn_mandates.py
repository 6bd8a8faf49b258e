"""Mijn leerID: mandates (/mijn/mandaten) over HTTP (DESIGN.md: mandates, Audit; CONTEXT.md criteria 2 and 3): a
parent sees their children and what they may do; a pupil of 12 or older sees who may act for them and what was done
in their name; an adult chooses a helper, who says yes in their own Mijn leerID and then logs in for them, and stops
the helper with one press (the helper's delegated tokens stop at once). Only the signed-in person's own mandates;
bad input writes nothing. Mandates also come from `leerid mandates grant`.

Clients of this file:
  portal -- confidential, school-agreement, scopes openid profile offline_access, releases given_name
"""
from __future__ import annotations

import secrets
from datetime import date, timedelta

import pytest

from tests.protocol.helpers import Browser, parse_forms, userinfo, without_csrf
from tests.protocol.test_acting import log_in_as
from tests.protocol.test_young_pupils import text_of, years_ago

UNKNOWN = "Dit mandaat vonden we niet bij jou. Er is niets veranderd."
NOT_WAITING = "Deze vraag wacht niet (meer) op jou. Er is niets veranderd."


@pytest.fixture(scope="module")
def portal(provider) -> dict:
    return provider.client("--scope", "profile", "--scope", "offline_access", "--attribute", "given_name")


def page_url(provider, path: str = "") -> str:
    return f"{provider.issuer}/mijn/mandaten{path}"


def signed_in(provider, person: dict) -> tuple[Browser, object]:
    """A browser logged in through Mijn leerID's login page, now on /mijn/mandaten; (browser, that page)."""
    browser = Browser(provider)
    page = browser.login(browser.get(page_url(provider)), person)
    assert page.status_code == 200 and str(page.url) == page_url(provider), (page.url, page.text[:300])
    return browser, page


def csrf(page) -> str:
    return next(f.fields["csrf_token"] for f in parse_forms(page.text) if "csrf_token" in f.fields)


def form_to(page, ending: str):
    return next((f for f in parse_forms(page.text) if f.action.endswith(ending)), None)


def mandates_of(provider, person: dict) -> list[dict]:
    return provider.cli("mandates", "list", "--username", person["username"])["mandates"]


def grant(provider, represented: dict, actor: dict, kind: str, *extra: str) -> int:
    return provider.cli("mandates", "grant", "--from", represented["username"], "--to", actor["username"],
                        "--type", kind, *extra)["id"]


def notice(page) -> str:
    """The message shown after a form was sent (the flashed notice)."""
    return text_of(page).split("Afmelden", 1)[1].split("Mandaten Met een mandaat", 1)[0].strip()


def test_not_signed_in_asks_for_the_login_and_comes_back(provider, browser, user):
    first = browser.http.get(page_url(provider))
    assert first.status_code == 303 and first.headers["location"].startswith("/interaction/")
    page = browser.login(browser.follow(first), user)
    assert str(page.url) == page_url(provider) and page.headers["Cache-Control"] == "no-store"
    assert 'href="/mijn/mandaten" aria-current="page"' in " ".join(page.text.split())


def test_a_parent_sees_the_children_and_what_they_may_do_for_them(provider, school, portal):
    noor = provider.user(school=school, birthdate=years_ago(9), given_name="Noor")
    tim = provider.user(school=school, birthdate=years_ago(14), given_name="Tim")
    parent = provider.user(role="parent", given_name="Jan")
    until = date.today() + timedelta(days=100)
    grant(provider, noor, parent, "parent", "--scope", "login", "--scope", "consent", "--until", until.isoformat())
    grant(provider, tim, parent, "parent", "--scope", "view-activity", "--client", portal["client_id"])
    ended = provider.user(school=school, birthdate=years_ago(10), given_name="Saar")
    grant(provider, ended, parent, "parent", "--until", (date.today() - timedelta(days=1)).isoformat())
    browser, page = signed_in(provider, parent)
    with browser:
        text = text_of(page)
    children = text.split("Voor wie jij iets mag doen", 1)[1].split("Wie iets voor jou mag doen", 1)[0]
    assert "Noor Peeters" in children and "Tim Peeters" in children
    assert "Saar Peeters" not in text, "a mandate that ended is not one a parent holds today"
    tim_card, noor_card = children.split("Noor Peeters", 1)  # the newest first
    assert "Als ouder" in noor_card and "aanmelden bij platformen" in noor_card and "toestemming geven" in noor_card
    assert "bij alle platformen" in noor_card and f"tot en met {until:%d/%m/%Y}" in noor_card
    assert "zien wat er gebeurde" in tim_card and portal["name"] in tim_card, "Tim: one action, at one platform"
    assert "het account beheren" not in children and "aanmelden bij platformen" not in tim_card


def test_a_pupil_of_twelve_or_older_sees_the_parent_and_what_was_done_in_their_name(provider, school, portal):
    child = provider.user(school=school, birthdate=years_ago(13), given_name="Noor")
    parent = provider.user(role="parent", given_name="Jan")
    grant(provider, child, parent, "parent")
    provider.cli("mandates", "grant", "--from", child["username"], "--to", school, "--type", "school", "--scope",
                 "manage-account")
    with Browser(provider) as browser:
        log_in_as(provider, browser, portal, parent, act_as=child["username"])
    browser, page = signed_in(provider, child)
    with browser:
        text = text_of(page)
        assert form_to(page, "/intrekken") is None, "a parent mandate is not the child's to stop"
    mine = text.split("Wie iets voor jou mag doen", 1)[1]
    assert "Jan Peeters" in mine and "Als ouder" in mine and "geldt nu" in mine and "zien wat er gebeurde" in mine
    assert f"Testschool {school} Als school Mag het account beheren" in mine
    assert "Dat doet je school, of leerID zelf" in mine
    done = text.split("Wat anderen in jouw naam deden", 1)[1]
    assert f"Aangemeld bij {portal['name']} in jouw naam." in done and "Jan Peeters" in done
    assert f"{portal['name']} kreeg gegevens over jou." in done


@pytest.mark.parametrize("birthdate", [years_ago(11), None])
def test_a_younger_pupil_is_told_who_can_help(provider, school, birthdate):
    if birthdate is None:  # no birthdate: a pupil counts as younger than 12
        username = f"tpup{secrets.token_hex(4)}"
        child = provider.cli("users", "create", "--username", username, "--password", "Pw-een-lang-wachtwoord",
                             "--given-name", "Noor", "--family-name", "Peeters", "--role", "pupil",
                             "--school", school)
        child["password"] = "Pw-een-lang-wachtwoord"
    else:
        child = provider.user(school=school, birthdate=birthdate, given_name="Noor")
    parent = provider.user(role="parent", given_name="Jan")
    if birthdate is not None:  # a parent mandate needs the child's birthdate (it ends at 18)
        grant(provider, child, parent, "parent")
    browser, page = signed_in(provider, child)
    with browser:
        text = text_of(page)
    assert "Je ouder of je school kan je hierbij helpen." in text
    assert "Jan Peeters" not in text and "Wat anderen in jouw naam deden" not in text
    assert form_to(page, "/mijn/mandaten") is None, "a pupil chooses no helper"


def test_an_adult_chooses_a_helper_who_accepts_acts_and_is_stopped_with_one_press(provider, school, portal):
    adult = provider.user(role="teacher", school=school, given_name="Mia")  # no birthdate, not a pupil: an adult
    helper = provider.user(role="parent", given_name="Jan")
    until = date.today() + timedelta(days=30)
    browser, page = signed_in(provider, adult)
    with browser:
        sent = browser.send(page, form_to(page, "/mijn/mandaten"), username=helper["username"].upper(),
                            action=["login", "view-activity"], until=until.isoformat())
        assert sent.status_code == 303 and sent.headers["location"] == "/mijn/mandaten"
        assert "We vroegen het aan Jan Peeters" in notice(browser.follow(sent))
    [proposed] = mandates_of(provider, adult)
    assert proposed["state"] == "proposed" and proposed["to"] == helper["username"] and proposed["type"] == "assistant"
    assert proposed["scope"] == ["login", "view-activity"] and proposed["until"] == until.isoformat()

    helpers_browser, page = signed_in(provider, helper)
    with helpers_browser:
        assert "Wil jij iets doen voor Mia Peeters?" in text_of(page)
        said = helpers_browser.submit(page, form_to(page, f"/{proposed['id']}/antwoord"), button=("answer", "yes"))
        assert "Je kunt nu voor Mia Peeters optreden." in notice(said)
        assert "Voor wie jij iets mag doen" in text_of(said) and "Vragen die op jou wachten" not in text_of(said)
    with Browser(provider) as at_platform:
        _, token = log_in_as(provider, at_platform, portal, helper, act_as=adult["username"])
    assert userinfo(provider, token["access_token"]).status_code == 200

    browser, page = signed_in(provider, adult)
    with browser:
        assert "geldt nu" in text_of(page)
        stopped = browser.send(page, form_to(page, f"/{proposed['id']}/intrekken"))
        assert stopped.status_code == 303, "one press, no second page"
        assert notice(browser.follow(stopped)) == "Klaar. Jan Peeters kan niets meer voor jou doen."
    assert userinfo(provider, token["access_token"]).status_code == 401
    assert [m["state"] for m in mandates_of(provider, adult)] == ["revoked"]
    with Browser(provider) as helpers_browser:
        page = helpers_browser.login(helpers_browser.get(page_url(provider)), helper)
        assert "Mia Peeters" not in text_of(page), "the helper acts for Mia no more"


def test_a_helper_declines_and_the_proposal_never_holds(provider, school):
    adult = provider.user(role="teacher", school=school, given_name="Mia")
    helper = provider.user(role="parent", given_name="Jan")
    browser, page = signed_in(provider, adult)
    with browser:
        browser.submit(page, form_to(page, "/mijn/mandaten"), username=helper["username"], action=["login"])
    helpers_browser, page = signed_in(provider, helper)
    with helpers_browser:
        [proposed] = mandates_of(provider, adult)
        said = helpers_browser.submit(page, form_to(page, f"/{proposed['id']}/antwoord"), button=("answer", "no"))
        assert "Je zei nee." in notice(said) and "Mia Peeters" not in text_of(said)
    assert [m["state"] for m in mandates_of(provider, adult)] == ["revoked"]


def test_another_persons_mandate_changes_nothing_and_is_answered_like_an_unknown_one(provider, school):
    someone, their_helper = provider.user(role="teacher", school=school), provider.user(role="parent")
    assisting = grant(provider, someone, their_helper, "assistant")
    other, asked = provider.user(role="teacher", school=school), provider.user(role="parent")
    with Browser(provider) as browser:  # `other` asks `asked` to help: it waits for `asked`, not for a stranger
        page = browser.login(browser.get(page_url(provider)), other)
        browser.submit(page, form_to(page, "/mijn/mandaten"), username=asked["username"], action=["login"])
    [waiting] = mandates_of(provider, other)
    stranger = provider.user(role="teacher", school=school)
    child = provider.user(school=school, birthdate=years_ago(16))
    parents = grant(provider, child, their_helper, "parent")
    browser, page = signed_in(provider, stranger)
    with browser:
        token = csrf(page)

        def post(path: str, **data) -> str:
            sent = browser.http.post(page_url(provider, path), data={"csrf_token": token, **data})
            assert sent.status_code == 303 and sent.headers["location"] == "/mijn/mandaten", sent.status_code
            return notice(browser.follow(sent))

        assert post(f"/{assisting}/intrekken") == post("/999999/intrekken") == UNKNOWN
        assert post(f"/{parents}/intrekken") == UNKNOWN
        for answer in ("yes", "no"):
            assert post(f"/{waiting['id']}/antwoord", answer=answer) == NOT_WAITING
            assert post(f"/{assisting}/antwoord", answer=answer) == NOT_WAITING
            assert post(f"/{2**40}/antwoord", answer=answer) == post("/999999/antwoord", answer=answer)
    assert [m["state"] for m in mandates_of(provider, someone)] == ["active"]
    assert [m["state"] for m in mandates_of(provider, other)] == ["proposed"]
    assert [m["state"] for m in mandates_of(provider, child)] == ["active"]
    child_browser, page = signed_in(provider, child)
    with child_browser:
        sent = child_browser.http.post(page_url(provider, f"/{parents}/intrekken"), data={"csrf_token": csrf(page)})
        assert "Dit mandaat kun je hier niet stoppen" in notice(child_browser.follow(sent))
    assert [m["state"] for m in mandates_of(provider, child)] == ["active"], "the school or leerID stops it"


def test_stopping_without_the_csrf_token_changes_nothing(provider, school):
    adult, helper = provider.user(role="teacher", school=school), provider.user(role="parent")
    mandate = grant(provider, adult, helper, "assistant")
    browser, page = signed_in(provider, adult)
    with browser:
        refused = browser.send(page, without_csrf(form_to(page, f"/{mandate}/intrekken")))
        assert refused.status_code == 400
    assert [m["state"] for m in mandates_of(provider, adult)] == ["active"]


BAD = [
    ({"username": "niemand-heet-zo", "action": ["login"]}, "We vinden niemand met die gebruikersnaam"),
    ({"username": "{helper}", "action": []}, "Kies minstens één ding"),
    ({"username": "{helper}", "action": ["login"], "until": "{yesterday}"}, "Die dag is al voorbij"),
    ({"username": "{helper}", "action": ["login"], "until": "2025-02-30"}, "Die datum klopt niet"),
    ({"username": "{me}", "action": ["login"]}, "Je kunt jezelf niet kiezen"),
    ({"username": "", "action": ["login"]}, "Typ de gebruikersnaam"),
]


def test_bad_input_says_what_is_wrong_and_writes_nothing(provider, school):
    adult, helper = provider.user(role="teacher", school=school), provider.user(role="parent")
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    browser, page = signed_in(provider, adult)
    with browser:
        for values, message in BAD:
            values = {k: v.format(helper=helper["username"], me=adult["username"], yesterday=yesterday)
                      if isinstance(v, str) else v for k, v in values.items()}
            answer = browser.send(page, form_to(page, "/mijn/mandaten"), **values)
            assert answer.status_code == 400 and message in text_of(answer), (values, text_of(answer)[:600])
            assert form_to(answer, "/mijn/mandaten").fields["username"] == values["username"], "kept to correct"
        assert browser.send(page, form_to(page, "/mijn/mandaten"), username=helper["username"],
                            action=["fly"]).status_code == 400
    assert mandates_of(provider, adult) == [] and mandates_of(provider, helper) == []


def test_a_minor_cannot_choose_a_helper(provider, school):
    pupil, helper = provider.user(school=school, birthdate=years_ago(15)), provider.user(role="parent")
    browser, page = signed_in(provider, pupil)
    with browser:
        assert form_to(page, "/mijn/mandaten") is None
        sent = browser.http.post(page_url(provider), data={"csrf_token": csrf(page), "username": helper["username"],
                                                           "action": "login"})
        assert sent.status_code == 303 and "Alleen een volwassene" in notice(browser.follow(sent))
    assert mandates_of(provider, pupil) == []
