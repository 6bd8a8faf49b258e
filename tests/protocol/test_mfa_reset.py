"""Wiping someone's second factor (issue 6, item 2): a school administrator with a `manage-account` mandate for a
person of their school (a `school` mandate of that school, or one held by the administrator) wipes the person's
code app, recovery codes and passkeys in the console; the person's sessions end; it is audited `mfa_reset` naming
the administrator, the person and the school; at the next login the person is told who did it and when, and sets
up a new one. Another school's administrator gets the same 404 as for someone who does not exist, and changes
nothing. The operator does the same with `leerid users totp USERNAME --remove`.
"""
from __future__ import annotations

import json
import re
import secrets
import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, text

from tests.live import SECOND_FACTORS, fresh_totp
from tests.protocol.helpers import (
    SECRET,
    Browser,
    authorize_url,
    console,
    enrol_form,
    form_to,
    parse_forms,
    sign_in,
    verify_id_token,
)

ACR_MFA, ACR_PWD = "urn:leerid:acr:mfa", "urn:leerid:acr:pwd"
NOTICE = re.compile(r'<div class="notice" role="status"><p>([^<]*)</p></div>')


@dataclass
class World:
    a: str  # school numbers
    b: str
    admin_a: dict
    admin_b: dict
    platform: dict


def person(provider, role: str, number: str | None, given: str, *extra: str) -> dict:
    username, password = f"r{role[:3]}{secrets.token_hex(4)}", f"Pw-{secrets.token_urlsafe(12)}"
    family = f"Wis{secrets.token_hex(3)}"
    out = provider.cli("users", "create", "--username", username, "--password", password, "--given-name", given,
                       "--family-name", family, "--role", role, *(("--school", number) if number else ()), *extra)
    return dict(out, password=password, name=f"{given} {family}")


@pytest.fixture(scope="module")
def world(provider) -> World:
    a, b = provider.school(), provider.school()
    admin_a = person(provider, "staff", a, "Anna", "--school-admin", "--birthdate", "1978-01-02")
    admin_b = person(provider, "staff", b, "Bea", "--school-admin")
    return World(a, b, admin_a, admin_b, provider.client())


@pytest.fixture(scope="module")
def admin_a(provider, world):
    with console(provider, world.admin_a) as browser:
        yield browser


def teacher_with_app(provider, world: World, mandate: bool = True) -> dict:
    """A teacher of school A who set up a code app at their first login (and so has recovery codes), with a school
    mandate of A to manage their account."""
    teacher = person(provider, "teacher", world.a, "Tom", "--birthdate", "1981-03-04")
    with Browser(provider) as browser:
        assert claims(provider, world, sign_in(provider, browser, world.platform, teacher))["acr"] == ACR_MFA
    assert stored(provider, teacher) == (True, 10)
    if mandate:
        provider.cli("mandates", "grant", "--from", teacher["username"], "--to", world.a, "--type", "school",
                     "--scope", "manage-account")
    return teacher


def claims(provider, world: World, login) -> dict:
    return verify_id_token(provider, login.id_token, world.platform["client_id"], nonce=login.nonce)


def stored(provider, who: dict) -> tuple[bool, int]:
    """(whether a code app is stored, how many recovery codes) for the person."""
    engine = create_engine(provider.env["LEERID_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            app = conn.execute(text("SELECT count(*) FROM totp_credentials WHERE account_id = :a"),
                               {"a": who["id"]}).scalar_one()
            codes = conn.execute(text("SELECT count(*) FROM recovery_codes WHERE account_id = :a"),
                                 {"a": who["id"]}).scalar_one()
    finally:
        engine.dispose()
    return bool(app), codes


def resets_of(provider, who: dict) -> list[tuple]:
    engine = create_engine(provider.env["LEERID_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(
                "SELECT actor_id, school_id, detail FROM audit_events WHERE event = 'mfa_reset' AND subject_id = :s"),
                {"s": who["id"]})]
    finally:
        engine.dispose()


def post(provider, browser: Browser, path: str):
    page = browser.get(f"{provider.issuer}/beheer")
    token = next(f.fields["csrf_token"] for f in parse_forms(page.text) if "csrf_token" in f.fields)
    return browser.http.post(provider.issuer + path, data={"csrf_token": token})


def test_an_administrator_with_the_mandate_wipes_it_and_the_sessions_end(provider, world, admin_a):
    teacher = teacher_with_app(provider, world)
    with Browser(provider) as theirs:  # the teacher is logged in somewhere
        sign_in(provider, theirs, world.platform, teacher)
        page = admin_a.get(f"{provider.issuer}/beheer/{world.a}/personen/{teacher['id']}")
        assert form_to(page, "/tweede-stap") is not None and "Tweede stap wissen" in page.text, page.text[:500]
        records = provider.audit_records()
        done = post(provider, admin_a, f"/beheer/{world.a}/personen/{teacher['id']}/tweede-stap")
        assert done.status_code == 303, done.text[:300]
        shown = admin_a.get(provider.issuer + done.headers["location"])
        assert 'role="status"' in shown.text and "is gewist" in shown.text
        assert form_to(shown, "/tweede-stap") is None, "nothing left to wipe"
        assert stored(provider, teacher) == (False, 0)
        assert provider.audit_records() == records + 1
        [(actor, school_id, detail)] = resets_of(provider, teacher)
        detail = detail if isinstance(detail, dict) else json.loads(detail)
        assert actor == world.admin_a["id"] and school_id is not None and detail["school"] == world.a
        quiet = theirs.authorize(authorize_url(provider, world.platform, prompt="none"), consent=None)
        assert quiet.params.get("error") == "login_required", "the person's sessions ended"


def test_without_a_mandate_it_is_refused_and_nothing_changes(provider, world, admin_a):
    teacher = teacher_with_app(provider, world, mandate=False)
    page = admin_a.get(f"{provider.issuer}/beheer/{world.a}/personen/{teacher['id']}")
    assert form_to(page, "/tweede-stap") is None and "mandaat" in page.text
    records = provider.audit_records()
    refused = post(provider, admin_a, f"/beheer/{world.a}/personen/{teacher['id']}/tweede-stap")
    assert refused.status_code == 409 and "mandaat" in refused.text
    assert stored(provider, teacher) == (True, 10) and provider.audit_records() == records


def test_another_schools_administrator_gets_the_same_404_and_changes_nothing(provider, world, admin_a):
    teacher = teacher_with_app(provider, world)
    provider.cli("mandates", "grant", "--from", teacher["username"], "--to", world.b, "--type", "school",
                 "--scope", "manage-account")  # even a mandate for school B: the teacher is not B's
    b_teacher, nobody = person(provider, "teacher", world.b, "Bert"), str(uuid.uuid4())
    with console(provider, world.admin_b) as admin_b:
        records = provider.audit_records()
        for number in (world.b, world.a):
            got = post(provider, admin_b, f"/beheer/{number}/personen/{teacher['id']}/tweede-stap")
            expected = post(provider, admin_b, f"/beheer/{world.b}/personen/{nobody}/tweede-stap")
            assert got.status_code == expected.status_code == 404
            assert got.text.replace(teacher["id"], "X").replace(number, "N") \
                == expected.text.replace(nobody, "X").replace(world.b, "N")
    assert post(provider, admin_a, f"/beheer/{world.a}/personen/{b_teacher['id']}/tweede-stap").status_code == 404
    assert stored(provider, teacher) == (True, 10) and provider.audit_records() == records


def test_the_next_login_tells_the_person_and_they_set_up_a_new_one(provider, world, admin_a):
    teacher = teacher_with_app(provider, world)
    assert post(provider, admin_a, f"/beheer/{world.a}/personen/{teacher['id']}/tweede-stap").status_code == 303
    with Browser(provider, enrol=False) as browser:
        page = browser.login(browser.get(f"{provider.issuer}/mijn"), teacher)
        assert enrol_form(page) is not None, page.text[:300]
        notice = NOTICE.search(page.text)
        assert notice and notice.group(1).startswith(
            f"Je schoolbeheerder {world.admin_a['name']} heeft je tweede stap gewist op "), page.text[:800]
        assert notice.group(1).endswith(". Stel een nieuwe in.")
        secret = "".join(SECRET.search(page.text).group(1).split())
        codes = browser.send(page, enrol_form(page), code=fresh_totp(secret))
        done = browser.submit(codes, form_to(codes, "/enrol/verder"))
        assert str(done.url) == f"{provider.issuer}/mijn" and done.status_code == 200
        history = browser.get(f"{provider.issuer}/mijn/geschiedenis").text
    assert history.count("werd gewist") == 1 and world.admin_a["name"] in history
    assert stored(provider, teacher) == (True, 10)
    SECOND_FACTORS[teacher["username"]] = secret
    with Browser(provider, enrol=False) as again:  # set up again: no notice any more, the code page as before
        page = again.follow(again.send_login(again.get(f"{provider.issuer}/mijn"), teacher["username"],
                                             teacher["password"]))
        assert enrol_form(page) is None and 'name="code"' in page.text


def test_a_mandate_held_by_the_administrator_also_allows_it(provider, world, admin_a):
    teacher = teacher_with_app(provider, world, mandate=False)
    provider.cli("mandates", "grant", "--from", teacher["username"], "--to", world.admin_a["username"],
                 "--type", "assistant", "--scope", "manage-account")
    assert post(provider, admin_a, f"/beheer/{world.a}/personen/{teacher['id']}/tweede-stap").status_code == 303
    assert stored(provider, teacher) == (False, 0)


def test_the_administrator_cannot_wipe_their_own(provider, world, admin_a):
    refused = post(provider, admin_a, f"/beheer/{world.a}/personen/{world.admin_a['id']}/tweede-stap")
    assert refused.status_code == 409 and SECOND_FACTORS.get(world.admin_a["username"])


def test_the_operator_wipes_it_on_the_command_line_and_a_pupil_may_set_up_later(provider, world):
    pupil = person(provider, "pupil", world.a, "Pia", "--birthdate", "2010-05-06", "--class", "6A")
    provider.cli("users", "totp", pupil["username"])
    out = provider.cli("users", "totp", pupil["username"], "--remove")
    assert out["removed"] == ["otp"] and stored(provider, pupil) == (False, 0)
    assert resets_of(provider, pupil)[0][0] is None, "the operator acts as no account"
    assert provider.cli("users", "totp", pupil["username"], "--remove")["removed"] == []
    with Browser(provider, enrol=False) as browser:
        page = browser.login(browser.get(authorize_url(provider, world.platform)), pupil)
        notice = NOTICE.search(page.text)
        assert notice and notice.group(1).startswith("De helpdesk van leerID heeft je tweede stap gewist op ")
        later = form_to(page, "/enrol/later")
        assert later is not None, "a pupil needs no second factor: they may go on without"
        callback = browser.callback(browser.submit(page, later))
        assert "code" in callback.params
    with Browser(provider, enrol=False) as browser:  # told once: the next login goes straight on
        login = sign_in(provider, browser, world.platform, pupil)
        assert claims(provider, world, login)["acr"] == ACR_PWD
    refused = provider.run("users", "totp", "niemand-hier", "--remove", "--json", check=False)
    assert refused.returncode != 0 and not refused.stdout and refused.stderr.strip()


def also_at(provider, number: str, who: dict, tmp_path, birthdate: str) -> None:
    """The person is also a teacher of school `number`: its roster names them, and the helpdesk matches them."""
    given, family = who["name"].split(" ", 1)
    path = tmp_path / f"roster-{secrets.token_hex(3)}.csv"
    path.write_text("extern_id;voornaam;familienaam;geboortedatum;rol;klas\n"
                    f"t1;{given};{family};{birthdate};leerkracht;\n", encoding="utf-8")
    report = provider.cli("import", "roster", str(path), "--school", number)
    assert not report["rejected"], report
    for review in provider.cli("import", "reviews", "--school", number)["reviews"]:
        provider.cli("import", "resolve", str(review["id"]), "--username", who["username"])
    memberships = provider.cli("users", "show", who["username"])["memberships"]
    assert {m["school"] for m in memberships} >= {number}, memberships


def test_not_for_an_administrator_nor_for_someone_another_school_counts_on(provider, world, admin_a, tmp_path):
    """As for a new password: even with the mandate, an administrator's second factor and that of someone who is
    also at another school are wiped by leerID's helpdesk only; the console says so and changes nothing."""
    admin = person(provider, "staff", world.a, "Ann", "--school-admin", "--birthdate", "1979-02-03")
    with Browser(provider) as browser:  # sets up a code app at the first login
        assert claims(provider, world, sign_in(provider, browser, world.platform, admin))["acr"] == ACR_MFA
    provider.cli("mandates", "grant", "--from", admin["username"], "--to", world.a, "--type", "school",
                 "--scope", "manage-account")
    shared = teacher_with_app(provider, world)  # with a school mandate of A
    also_at(provider, world.b, shared, tmp_path, "1981-03-04")
    for who, says in ((admin, "Deze persoon is schoolbeheerder."), (shared, "hoort ook bij een andere school")):
        records = provider.audit_records()
        refused = post(provider, admin_a, f"/beheer/{world.a}/personen/{who['id']}/tweede-stap")
        assert refused.status_code == 409 and says in refused.text, (who["username"], refused.text[:500])
        assert stored(provider, who) == (True, 10) and provider.audit_records() == records
        assert resets_of(provider, who) == []
