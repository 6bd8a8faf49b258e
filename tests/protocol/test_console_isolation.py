"""The school console (/beheer) over HTTP: an administrator of school A can never read, change, or even learn of
the existence of school B's people and classes, through any console URL; every change is audited.

Two schools, each with pupils in a class, a teacher and an administrator; a teacher of both schools; an
administrator of both schools (appointed at B in the console by B's administrator). People reach B through
B's roster, so that the shared teacher and the shared administrator are one leerID with two schools.
"""
from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import uuid
from dataclasses import dataclass, field

import pytest

from tests.protocol.helpers import Browser, parse_forms

CLASS_LINK = re.compile(r'/klassen/(\d+)"')
PERSON_LINK = re.compile(r'/personen/([0-9a-f-]{36})"')
CODE = re.compile(r'class="code">([A-Z0-9-]+)<')
PERSON_ACTIONS = ("wachtwoord", "brief", "uitschakelen", "inschakelen", "beheerder", "geen-beheerder")


@dataclass
class Person:
    username: str
    id: str
    given_name: str
    family_name: str
    password: str | None = None

    @property
    def login(self) -> dict:
        return {"username": self.username, "password": self.password}


@dataclass
class School:
    number: str
    class_name: str
    pupils: list[Person] = field(default_factory=list)
    teacher: Person | None = None
    admin: Person | None = None
    class_id: str = ""


@dataclass
class World:
    a: School
    b: School
    shared_teacher: Person
    both_admin: Person


def tag() -> str:
    return secrets.token_hex(3)


def create(provider, number: str, role: str, given: str, family: str, *extra: str) -> Person:
    """An account made by the operator with a password (`leerid users create`)."""
    username, password = f"c{role[:3]}{tag()}", f"Pw-{secrets.token_urlsafe(12)}"
    out = provider.cli("users", "create", "--username", username, "--password", password, "--given-name", given,
                       "--family-name", family, "--role", role, "--school", number, *extra)
    return Person(username, out["id"], given, family, password)


def show(provider, username: str) -> dict:
    return provider.cli("users", "show", username)


def audit_records(provider) -> int:
    return provider.audit_records()


def sign_in(provider, person: Person) -> Browser:
    """A browser logged in through the console's own login page, now on the console."""
    browser = Browser(provider)
    page = browser.get(f"{provider.issuer}/beheer")
    assert 'name="password"' in page.text, page.text[:500]
    browser.login(page, person.login)
    return browser


def csrf(browser: Browser, page_url: str) -> str:
    page = browser.get(page_url)
    return next(f.fields["csrf_token"] for f in parse_forms(page.text) if "csrf_token" in f.fields)


def roster(provider, number: str, tmp_path, rows: list[str], matches: dict[str, str] | None = None) -> None:
    """Import the rows; those held back because the person is already at another school are settled by the
    helpdesk as `matches` says (external id -> username)."""
    path = tmp_path / f"roster-{tag()}.csv"
    path.write_text("extern_id;voornaam;familienaam;geboortedatum;rol;klas\n" + "\n".join(rows) + "\n",
                    encoding="utf-8")
    report = provider.cli("import", "roster", str(path), "--school", number)
    assert not report["rejected"] and len(report["uncertain"]) == len(matches or {}), report
    for review in provider.cli("import", "reviews", "--school", number)["reviews"]:
        provider.cli("import", "resolve", str(review["id"]), "--username", matches[review["external_id"]])


@pytest.fixture(scope="module")
def world(provider, tmp_path_factory) -> World:
    tmp = tmp_path_factory.mktemp("console")
    a, b = School(provider.school(), f"A{tag()}"), School(provider.school(), f"B{tag()}")
    a.admin = create(provider, a.number, "staff", "Anna", f"Abeheer{tag()}", "--school-admin")
    a.teacher = create(provider, a.number, "teacher", "Arne", f"Aleraar{tag()}")
    a.pupils = [create(provider, a.number, "pupil", "Amber", f"Aleerling{tag()}", "--class", a.class_name)
                for _ in range(2)]
    shared = create(provider, a.number, "teacher", "Gedeeld", f"Gdocent{tag()}", "--birthdate", "1980-04-04")
    both = create(provider, a.number, "staff", "Beide", f"Bbeheer{tag()}", "--school-admin",
                  "--birthdate", "1975-05-05")
    # School B's roster: its own pupils and teacher, and the two who also work at A (the helpdesk matches them).
    family = [f"Bleerling{tag()}", f"Bleerling{tag()}", f"Bleraar{tag()}"]
    roster(provider, b.number, tmp, [
        f"p1;Bram;{family[0]};2014-01-01;leerling;{b.class_name}",
        f"p2;Bo;{family[1]};2014-02-02;leerling;{b.class_name}",
        f"t1;Bert;{family[2]};1970-03-03;leerkracht;",
        f"t2;Gedeeld;{shared.family_name};1980-04-04;leerkracht;",
        f"s1;Beide;{both.family_name};1975-05-05;personeel;",
    ], matches={"t2": shared.username, "s1": both.username})
    made = [show(provider, f"{given}.{name}".lower()) for given, name in zip(("bram", "bo", "bert"), family)]
    b.pupils = [Person(m["username"], m["id"], m["given_name"], m["family_name"]) for m in made[:2]]
    b.teacher = Person(made[2]["username"], made[2]["id"], "Bert", family[2])
    b.admin = create(provider, b.number, "staff", "Bea", f"Bbeheerder{tag()}", "--school-admin")
    assert {m["school"] for m in show(provider, shared.username)["memberships"]} == {a.number, b.number}
    for school in (a, b):
        with sign_in(provider, school.admin) as browser:
            page = browser.get(f"{provider.issuer}/beheer/{school.number}/klassen")
            school.class_id = CLASS_LINK.findall(page.text)[0]
            if school is b:  # B's administrator makes the shared staff member an administrator of B too
                token = csrf(browser, f"{provider.issuer}/beheer/{b.number}/personen/{both.id}")
                done = browser.http.post(f"{provider.issuer}/beheer/{b.number}/personen/{both.id}/beheerder",
                                         data={"csrf_token": token})
                assert done.status_code == 303, done.text[:500]
    return World(a, b, shared, both)


@pytest.fixture(scope="module")
def admin_a(provider, world):
    with sign_in(provider, world.a.admin) as browser:
        yield browser


def normalised(response, path: str) -> str:
    """The page without what legitimately differs per request: the path (in the language link)."""
    return response.text.replace(path, "PATH")


def assert_same_404(provider, browser: Browser, path: str, reference: str, method: str = "GET", data=None):
    """`path` answers exactly what `reference` (something that does not exist) answers: 404, same page."""
    send = browser.http.get if method == "GET" else (lambda url: browser.http.post(url, data=data))
    got, expected = send(provider.issuer + path), send(provider.issuer + reference)
    assert expected.status_code == 404, (reference, expected.status_code)
    assert got.status_code == 404, (path, got.status_code, got.text[:300])
    assert normalised(got, path.split("?")[0]) == normalised(expected, reference.split("?")[0]), path
    assert got.headers.get("content-type") == expected.headers.get("content-type")
    assert got.headers.get("cache-control") == "no-store"


def b_names(world: World) -> list[str]:
    """What would give B's people away: usernames, family names, the class, the school's name."""
    people = world.b.pupils + [world.b.teacher, world.b.admin]
    return [n for p in people for n in (p.username, p.family_name)] + [world.b.class_name, school_name(world.b)]


def school_name(school: School) -> str:
    return f"Testschool {school.number}"  # as tests/live.py names them


def test_admin_of_a_sees_only_a(provider, world, admin_a):
    a = world.a
    pages = [f"/beheer/{a.number}", f"/beheer/{a.number}/personen", f"/beheer/{a.number}/personen?rol=leerling",
             f"/beheer/{a.number}/personen?rol=personeel", f"/beheer/{a.number}/klassen",
             f"/beheer/{a.number}/klassen/{a.class_id}", f"/beheer/{a.number}/personen?klas={a.class_id}"]
    pages += [f"/beheer/{a.number}/personen?q={name}" for name in b_names(world)]
    for path in pages:
        page = admin_a.get(provider.issuer + path)
        assert page.status_code == 200, (path, page.status_code)
        assert page.headers["cache-control"] == "no-store"
        shown = page.text.replace(path, "PATH")  # the search words themselves, echoed in the form
        for name in b_names(world):
            shown = shown.replace(f'value="{name}"', "")
        leaked = [name for name in b_names(world) if name in shown]
        assert not leaked, (path, leaked)
    everyone = admin_a.get(f"{provider.issuer}/beheer/{a.number}/personen").text
    assert all(p.username in everyone for p in a.pupils + [a.teacher, a.admin, world.shared_teacher])
    for name in b_names(world)[:4]:
        assert "Gevonden: 0" in admin_a.get(f"{provider.issuer}/beheer/{a.number}/personen?q={name}").text


def test_every_console_url_of_school_b_is_the_same_404_as_nothing(provider, world, admin_a):
    a, b = world.a, world.b
    nobody, no_class, no_school = str(uuid.uuid4()), "987654321", "9999999999"
    b_people = [p.id for p in b.pupils] + [b.teacher.id, b.admin.id]
    for suffix in ("", "/personen", "/personen?q=b", "/klassen", f"/klassen/{b.class_id}",
                   f"/personen/{b.pupils[0].id}"):
        assert_same_404(provider, admin_a, f"/beheer/{b.number}{suffix}", f"/beheer/{no_school}{suffix}")
    for person_id in b_people + ["not-a-uuid", "x" * 37, "1", world.shared_teacher.id.upper()]:
        assert_same_404(provider, admin_a, f"/beheer/{a.number}/personen/{person_id}",
                        f"/beheer/{a.number}/personen/{nobody}")
    for class_id in (b.class_id, "abc", "-1", "1" * 12):
        assert_same_404(provider, admin_a, f"/beheer/{a.number}/klassen/{class_id}",
                        f"/beheer/{a.number}/klassen/{no_class}")
        assert_same_404(provider, admin_a, f"/beheer/{a.number}/personen?klas={class_id}",
                        f"/beheer/{a.number}/personen?klas={no_class}")
    for malformed in ("abc", "1;2", "0" * 11):
        assert_same_404(provider, admin_a, f"/beheer/{malformed}", f"/beheer/{no_school}")


def test_no_action_reaches_school_b(provider, world, admin_a):
    a, b = world.a, world.b
    token = csrf(admin_a, f"{provider.issuer}/beheer/{a.number}")
    people = b.pupils + [b.teacher, b.admin]
    before = {p.username: show(provider, p.username) for p in people}
    records = audit_records(provider)
    nobody = str(uuid.uuid4())
    for person in people:
        for word in PERSON_ACTIONS:
            for number in (a.number, b.number):
                assert_same_404(provider, admin_a, f"/beheer/{number}/personen/{person.id}/{word}",
                                f"/beheer/{a.number}/personen/{nobody}/{word}", "POST", {"csrf_token": token})
    for number in (a.number, b.number):
        assert_same_404(provider, admin_a, f"/beheer/{number}/klassen/{b.class_id}/brieven",
                        f"/beheer/{a.number}/klassen/987654321/brieven", "POST",
                        {"csrf_token": token, "wie": "iedereen"})
    assert {p.username: show(provider, p.username) for p in people} == before
    assert audit_records(provider) == records, "a refused request left an audit record (or changed something)"


def test_a_post_without_csrf_token_is_refused_and_changes_nothing(provider, world, admin_a):
    pupil = world.a.pupils[1]
    records = audit_records(provider)
    for word in ("uitschakelen", "wachtwoord"):
        refused = admin_a.http.post(f"{provider.issuer}/beheer/{world.a.number}/personen/{pupil.id}/{word}", data={})
        assert refused.status_code == 400 and not CODE.findall(refused.text)
    assert show(provider, pupil.username)["active"] is True
    assert audit_records(provider) == records


def test_a_teacher_who_is_no_administrator_gets_a_dutch_page(provider, world):
    with sign_in(provider, world.a.teacher) as browser:
        page = browser.get(f"{provider.issuer}/beheer")
        assert page.status_code == 403 and "geen schoolbeheerder" in page.text
        assert page.headers["cache-control"] == "no-store"
        for number in (world.a.number, world.b.number):
            assert_same_404(provider, browser, f"/beheer/{number}", "/beheer/9999999999")


def test_the_two_school_administrator_chooses_and_switches(provider, world):
    a, b = world.a, world.b
    with sign_in(provider, world.both_admin) as browser:
        chooser = browser.get(f"{provider.issuer}/beheer")
        assert chooser.status_code == 200 and "Kies een school" in chooser.text
        assert f'href="/beheer/{a.number}"' in chooser.text and f'href="/beheer/{b.number}"' in chooser.text
        for school, other in ((a, b), (b, a)):
            page = browser.get(f"{provider.issuer}/beheer/{school.number}/personen?rol=leerling")
            assert all(p.username in page.text for p in school.pupils)
            assert not any(p.username in page.text for p in other.pupils)
            assert 'href="/beheer">Andere school kiezen' in page.text.replace("\n", "")


def test_the_shared_teacher_shows_only_this_schools_memberships(provider, world, admin_a):
    a, shared = world.a, world.shared_teacher
    page = admin_a.get(f"{provider.issuer}/beheer/{a.number}/personen/{shared.id}")
    assert page.status_code == 200 and shared.username in page.text
    history = page.text.split("<tbody>")[1].split("</tbody>")[0]
    assert history.count("<tr>") == 1, "only school A's membership"
    assert school_name(world.b) not in page.text
    assert "hoort ook bij een andere school" in page.text
    records = audit_records(provider)
    token = csrf(admin_a, f"{provider.issuer}/beheer/{a.number}")
    refused = admin_a.http.post(f"{provider.issuer}/beheer/{a.number}/personen/{shared.id}/uitschakelen",
                                data={"csrf_token": token})
    assert refused.status_code == 409 and "andere school" in refused.text
    assert show(provider, shared.username)["active"] is True
    assert audit_records(provider) == records
    with sign_in(provider, world.b.admin) as browser:
        page = browser.get(f"{provider.issuer}/beheer/{world.b.number}/personen/{shared.id}")
        assert page.status_code == 200 and school_name(a) not in page.text
        assert page.text.split("<tbody>")[1].split("</tbody>")[0].count("<tr>") == 1


def post(provider, browser: Browser, path: str, **data):
    token = csrf(browser, f"{provider.issuer}/beheer")
    return browser.http.post(provider.issuer + path, data=dict(data, csrf_token=token))


def test_every_action_is_done_and_audited(provider, world, admin_a):
    a = world.a
    pupil = create(provider, a.number, "pupil", "Pieter", f"Aactie{tag()}", "--class", a.class_name)
    teacher = create(provider, a.number, "teacher", "Tine", f"Aactie{tag()}")
    base = f"/beheer/{a.number}/personen"
    records = audit_records(provider)

    reset = post(provider, admin_a, f"{base}/{pupil.id}/wachtwoord")
    assert reset.status_code == 200 and reset.headers["cache-control"] == "no-store"
    assert len(CODE.findall(reset.text)) == 1 and pupil.username in reset.text
    off = post(provider, admin_a, f"{base}/{pupil.id}/uitschakelen")
    assert off.status_code == 303 and show(provider, pupil.username)["active"] is False
    confirmed = admin_a.get(provider.issuer + off.headers["location"])
    assert 'role="status"' in confirmed.text and "uitgeschakeld" in confirmed.text
    assert post(provider, admin_a, f"{base}/{pupil.id}/wachtwoord").status_code == 409  # deactivated: first back on
    on = post(provider, admin_a, f"{base}/{pupil.id}/inschakelen")
    assert on.status_code == 303 and show(provider, pupil.username)["active"] is True
    assert post(provider, admin_a, f"{base}/{pupil.id}/beheerder").status_code == 409  # a pupil never administers
    letter = post(provider, admin_a, f"{base}/{pupil.id}/brief")
    assert letter.status_code == 200 and len(CODE.findall(letter.text)) == 1  # no password since the reset
    class_letters = post(provider, admin_a, f"/beheer/{a.number}/klassen/{a.class_id}/brieven", wie="nieuw")
    assert class_letters.status_code == 200 and pupil.username in class_letters.text
    assert post(provider, admin_a, f"{base}/{teacher.id}/beheerder").status_code == 303
    assert [m["school_admin"] for m in show(provider, teacher.username)["memberships"]] == [True]
    assert post(provider, admin_a, f"{base}/{teacher.id}/geen-beheerder").status_code == 303
    assert [m["school_admin"] for m in show(provider, teacher.username)["memberships"]] == [False]
    # reset, deactivate (2 records), reactivate, letter, class letter(s), appoint, remove
    assert audit_records(provider) >= records + 8
    assert provider.cli("audit", "verify")["ok"] is True


def test_the_administrator_cannot_lock_out_themselves_or_the_school(provider, world):
    a = world.a
    admin = create(provider, a.number, "staff", "Sara", f"Asolo{tag()}", "--school-admin")
    with sign_in(provider, admin) as browser:
        for word in ("uitschakelen", "wachtwoord"):
            refused = post(provider, browser, f"/beheer/{a.number}/personen/{admin.id}/{word}")
            assert refused.status_code == 409, word
        assert show(provider, admin.username)["active"] is True
    solo = School(provider.school(), "S1")
    solo.admin = create(provider, solo.number, "staff", "Sam", f"Senig{tag()}", "--school-admin")
    with sign_in(provider, solo.admin) as browser:
        refused = post(provider, browser, f"/beheer/{solo.number}/personen/{solo.admin.id}/geen-beheerder")
        assert refused.status_code == 409 and "laatste schoolbeheerder" in refused.text
        assert browser.get(f"{provider.issuer}/beheer/{solo.number}").status_code == 200


@pytest.mark.parametrize("how", ["geen-beheerder", "uitschakelen"])
def test_an_administrator_removed_or_deactivated_loses_access_at_once(provider, world, admin_a, how):
    a = world.a
    other = create(provider, a.number, "staff", "Olaf", f"Aander{tag()}", "--school-admin")
    with sign_in(provider, other) as browser:
        assert browser.get(f"{provider.issuer}/beheer/{a.number}").status_code == 200
        done = post(provider, admin_a, f"/beheer/{a.number}/personen/{other.id}/{how}")
        assert done.status_code == 303
        if how == "uitschakelen":  # a deactivated account is signed in nowhere: every page asks to log in
            for path in (f"/beheer/{a.number}", f"/beheer/{a.number}/personen/{a.pupils[0].id}", "/beheer"):
                page = browser.http.get(f"{provider.issuer}{path}")
                assert page.status_code == 303 and page.headers["location"].startswith("/interaction/"), path
            return
        assert_same_404(provider, browser, f"/beheer/{a.number}", "/beheer/9999999999")
        assert_same_404(provider, browser, f"/beheer/{a.number}/personen/{a.pupils[0].id}",
                        "/beheer/9999999999/personen/" + a.pupils[0].id)
        assert browser.get(f"{provider.issuer}/beheer").status_code == 403


def test_not_signed_in_leads_to_the_login_page_for_every_number(provider, world):
    with Browser(provider) as browser:
        for number in (world.a.number, world.b.number, "9999999999"):
            first = browser.http.get(f"{provider.issuer}/beheer/{number}/personen")
            assert first.status_code == 303 and first.headers["location"].startswith("/interaction/")
        refused = browser.http.post(f"{provider.issuer}/beheer/{world.a.number}/personen/{world.a.pupils[0].id}/"
                                    "uitschakelen", data={})
        assert refused.status_code == 400
    assert show(provider, world.a.pupils[0].username)["active"] is True


def test_the_audit_names_administrator_person_and_school(provider, world, admin_a, tmp_path):
    """`leerid audit verify` checks the chain; the console's records are read back through the person's view."""
    pupil = create(provider, world.a.number, "pupil", "Rik", f"Aaudit{tag()}", "--class", world.a.class_name)
    assert post(provider, admin_a, f"/beheer/{world.a.number}/personen/{pupil.id}/uitschakelen").status_code == 303
    script = ("import json,sys\nfrom config.settings import Settings\nfrom idp.wiring import Container\n"
              "events = Container(Settings.from_env()).audit.for_person(sys.argv[1])\n"
              "print(json.dumps([[e.event, e.actor_id, e.subject_id, e.school_id] for e in events]))\n")
    out = subprocess.run([sys.executable, "-c", script, pupil.id], cwd=provider.workdir, env=provider.env,
                         capture_output=True, text=True, timeout=60, check=True)
    events = {e[0]: e for e in json.loads(out.stdout)}
    assert events["school_admin_deactivated"][1:3] == [world.a.admin.id, pupil.id]
    assert events["school_admin_deactivated"][3] is not None
    assert events["account_deactivated"][1:3] == [world.a.admin.id, pupil.id]


def test_no_new_password_for_someone_another_school_or_a_console_counts_on(provider, world, admin_a):
    """A letter's code is a new password: never for someone who is also another school's, nor an administrator."""
    a, shared = world.a, world.shared_teacher
    other_admin = create(provider, a.number, "staff", "Xavier", f"Abeheer{tag()}", "--school-admin")
    records = audit_records(provider)
    for person, says in ((shared, "andere school"), (world.both_admin, "andere school"),
                         (other_admin, "schoolbeheerder")):
        for word in ("wachtwoord", "brief"):
            refused = post(provider, admin_a, f"/beheer/{a.number}/personen/{person.id}/{word}")
            assert refused.status_code == 409 and says in refused.text, (person.username, word)
            assert not CODE.findall(refused.text)
    assert audit_records(provider) == records
    with Browser(provider) as browser:  # the shared teacher's password still works
        page = browser.login(browser.get(f"{provider.issuer}/beheer"), shared.login)
        assert page.status_code == 403 and "schoolbeheerder" in page.text


def test_what_the_helpdesk_deactivated_only_the_helpdesk_reactivates(provider, world, admin_a):
    a = world.a
    pupil = create(provider, a.number, "pupil", "Hilde", f"Ahelp{tag()}", "--class", a.class_name)
    provider.cli("users", "deactivate", pupil.username)
    refused = post(provider, admin_a, f"/beheer/{a.number}/personen/{pupil.id}/inschakelen")
    assert refused.status_code == 409 and "helpdesk" in refused.text
    assert show(provider, pupil.username)["active"] is False


def test_a_password_reset_ends_the_persons_sessions(provider, world, admin_a):
    from tests.protocol.helpers import authorize_url, sign_in as platform_sign_in

    a, platform = world.a, provider.client()
    pupil = create(provider, a.number, "pupil", "Sessie", f"Areset{tag()}", "--class", a.class_name)
    with Browser(provider) as browser:
        platform_sign_in(provider, browser, platform, pupil.login)
        silent = browser.authorize(authorize_url(provider, platform, prompt="none"), consent=None)
        assert "code" in silent.params, "logged in: the platform opens without a login"
        assert post(provider, admin_a, f"/beheer/{a.number}/personen/{pupil.id}/wachtwoord").status_code == 200
        after = browser.authorize(authorize_url(provider, platform, prompt="none"), consent=None)
        assert after.params.get("error") == "login_required", after.params


def test_a_platform_cannot_send_the_login_to_leerids_own_pages(provider, world):
    """`return_to` in an authorization request is just an unknown parameter: the login goes on to the platform."""
    from tests.protocol.helpers import authorize_url

    platform = provider.client()
    with Browser(provider) as browser:
        callback = browser.authorize(authorize_url(provider, platform, return_to=f"/beheer/{world.a.number}"),
                                     world.a.admin.login)
        assert callback.url.startswith(platform["redirect_uri"]) and "code" in callback.params
