"""The school console's mandates (/beheer/<number>/mandaten) over HTTP: an administrator sees and manages the
mandates over their own school's people only. A parent registered by hand gets a letter whose one-time code,
typed by that parent at /mijn/koppelen, makes the mandate hold (and the chooser offers the child); the school
approves a parent mandate that waits for it, and revokes mandates. Another school's administrator gets the same
404 as for a mandate that does not exist, and changes nothing; every refused request writes nothing.
"""
from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, timedelta

import pytest

from tests.protocol.helpers import (
    Browser,
    authorize_url,
    console,
    form_with_button,
    parse_forms,
)

CODE = re.compile(r'class="code">([A-Z0-9-]+)<')
NINE = (date.today() - timedelta(days=9 * 366)).isoformat()
NO_MANDATE = "987654321"


@dataclass
class World:
    a: str  # school numbers
    b: str
    admin_a: dict
    admin_b: dict
    child_a: dict
    child_b: dict
    granted_a: int  # an operator's parent mandate over child_a
    granted_b: int  # ... and over child_b


def person(provider, role: str, number: str | None = None, *extra: str, family: str | None = None) -> dict:
    username, password = f"m{role[:3]}{secrets.token_hex(4)}", f"Pw-{secrets.token_urlsafe(12)}"
    family = family or f"Mandaat{secrets.token_hex(3)}"
    args = ["users", "create", "--username", username, "--password", password, "--given-name", "Mira",
            "--family-name", family, "--role", role, *extra]
    out = provider.cli(*args, *(("--school", number) if number else ()))
    return dict(out, password=password, family_name=family, name=f"Mira {family}")


def child(provider, number: str) -> dict:
    return person(provider, "pupil", number, "--class", "4A", "--birthdate", NINE)


def grant(provider, represented: dict, actor: dict) -> int:
    return provider.cli("mandates", "grant", "--from", represented["username"], "--to", actor["username"],
                        "--type", "parent")["id"]


@pytest.fixture(scope="module")
def world(provider) -> World:
    a, b = provider.school(), provider.school()
    child_a, child_b = child(provider, a), child(provider, b)
    parent = person(provider, "parent")
    return World(a, b, person(provider, "staff", a, "--school-admin"), person(provider, "staff", b, "--school-admin"),
                 child_a, child_b, grant(provider, child_a, parent), grant(provider, child_b, parent))


@pytest.fixture(scope="module")
def admin_a(provider, world):
    with console(provider, world.admin_a) as browser:
        yield browser


@pytest.fixture(scope="module")
def admin_b(provider, world):
    with console(provider, world.admin_b) as browser:
        yield browser


def post(provider, browser: Browser, path: str, **data):
    page = browser.get(f"{provider.issuer}/beheer")
    token = next(f.fields["csrf_token"] for f in parse_forms(page.text) if "csrf_token" in f.fields)
    return browser.http.post(provider.issuer + path, data=dict(data, csrf_token=token))


def register(provider, browser: Browser, number: str, pupil: dict, who: str):
    return post(provider, browser, f"/beheer/{number}/personen/{pupil['id']}/ouder", ouder=who)


def states(provider, someone: dict) -> dict[int, str]:
    """Every mandate in which the person is either party: id -> state."""
    return {m["id"]: m["state"] for m in provider.cli("mandates", "list", "--username", someone["username"])["mandates"]}


def audit_records(provider) -> int:
    return provider.audit_records()


def link(provider, parent: dict, code: str):
    """The parent, signed in, types the code at /mijn/koppelen; the answer to the POST."""
    with Browser(provider) as browser:
        page = browser.login(browser.get(f"{provider.issuer}/mijn/koppelen"), parent)
        assert page.status_code == 200 and 'name="code"' in page.text, page.text[:300]
        form = next(f for f in parse_forms(page.text) if "code" in f.fields)
        return browser.send(page, form, code=code)


def choices(provider, parent: dict, platform: dict) -> list[str]:
    """Whom the chooser offers the parent at the platform."""
    with Browser(provider) as browser:
        page = browser.login(browser.get(authorize_url(provider, platform, scope="openid")), parent)
        form = form_with_button(page, "act_as", "self")
        return [value for name, value in form.buttons if name == "act_as"] if form else []


def propose(provider, represented: dict, actor: dict) -> int:
    """A parent mandate the parent proposed themselves (e.g. in Mijn leerID): it waits for the child's school."""
    script = ("import sys\nfrom config.settings import Settings\nfrom idp.wiring import Container\n"
              "held = Container(Settings.from_env()).mandates.propose(sys.argv[1], sys.argv[2], 'parent', sys.argv[3])\n"
              "print(held.mandate.id)\n")
    out = subprocess.run([sys.executable, "-c", script, represented["username"], actor["username"], actor["id"]],
                         cwd=provider.workdir, env=provider.env, capture_output=True, text=True, timeout=60,
                         check=True)
    return int(out.stdout)


def test_the_page_lists_this_schools_mandates_and_nothing_of_another(provider, world, admin_a):
    page = admin_a.get(f"{provider.issuer}/beheer/{world.a}/mandaten")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert 'aria-current="page">Mandaten' in page.text
    assert world.child_a["name"] in page.text and f"mandate-{world.granted_a}" in page.text
    assert world.child_b["family_name"] not in page.text and f"mandate-{world.granted_b}" not in page.text
    assert "Ouder voor" in page.text and "aanmelden in zijn of haar naam" in page.text and "alle platformen" in page.text
    found = admin_a.get(f"{provider.issuer}/beheer/{world.a}/mandaten?q={world.child_a['family_name']}")
    assert "Gevonden: 1" in found.text
    nothing = admin_a.get(f"{provider.issuer}/beheer/{world.a}/mandaten?q={world.child_b['family_name']}")
    assert "Gevonden: 0" in nothing.text and f"mandate-{world.granted_b}" not in nothing.text
    overview = admin_a.get(f"{provider.issuer}/beheer/{world.a}")
    assert f'href="/beheer/{world.a}/mandaten"' in overview.text


def test_a_registered_parent_links_with_the_letters_code_and_may_then_act(provider, world, admin_a):
    pupil, parent, stranger = child(provider, world.a), person(provider, "parent"), person(provider, "parent")
    platform = provider.client("--scope", "profile")
    letter = register(provider, admin_a, world.a, pupil, parent["username"])
    assert letter.status_code == 200 and letter.headers["cache-control"] == "no-store"
    [code] = CODE.findall(letter.text)
    assert parent["username"] in letter.text and "/mijn/koppelen" in letter.text
    [(mandate_id, state)] = states(provider, pupil).items()
    assert state == "proposed" and states(provider, parent) == {mandate_id: "proposed"}
    listed = admin_a.get(f"{provider.issuer}/beheer/{world.a}/mandaten?q={pupil['username']}").text
    assert "wacht op de ouder" in listed and parent["name"] in listed
    assert choices(provider, parent, platform) == []

    for who, typed in ((stranger, code), (parent, "ABCD-EFGH-JKLM"), (pupil, code)):
        refused = link(provider, who, typed)
        assert refused.status_code == 400 and "klopt niet" in refused.text, who["username"]
        assert states(provider, pupil) == {mandate_id: "proposed"}
    done = link(provider, parent, code.lower().replace("-", " "))
    assert done.status_code == 303 and done.headers["location"] == "/mijn/koppelen"
    assert states(provider, pupil) == {mandate_id: "active"}
    assert link(provider, parent, code).status_code == 400, "a code works once"
    assert pupil["username"] in choices(provider, parent, platform)
    assert "actief" in admin_a.get(f"{provider.issuer}/beheer/{world.a}/mandaten?q={pupil['username']}").text


def test_the_rosters_parent_email_is_suggested_and_registers_that_parent(provider, world, admin_a, tmp_path):
    email = f"ouder-{secrets.token_hex(4)}@example.be"
    parent = person(provider, "parent", None, "--email", email)
    family = f"Roster{secrets.token_hex(3)}"
    roster = tmp_path / "roster.csv"
    roster.write_text("extern_id;voornaam;familienaam;geboortedatum;rol;klas;ouder_e-mail\n"
                      f"r{secrets.token_hex(3)};Rune;{family};{NINE};leerling;4A;{email}\n", encoding="utf-8")
    provider.cli("import", "roster", str(roster), "--school", world.a)
    pupil = provider.cli("users", "show", f"rune.{family}".lower())
    page = admin_a.get(f"{provider.issuer}/beheer/{world.a}/personen/{pupil['id']}")
    suggestion = next(f for f in parse_forms(page.text) if f.fields.get("ouder") == email)
    letter = admin_a.send(page, suggestion)
    assert letter.status_code == 200 and CODE.findall(letter.text) and parent["username"] in letter.text
    assert list(states(provider, parent).values()) == ["proposed"]


def test_what_cannot_be_registered_is_refused_and_writes_nothing(provider, world, admin_a):
    pupil, parent = child(provider, world.a), person(provider, "parent")
    adult = person(provider, "pupil", world.a, "--class", "6A", "--birthdate", "2000-01-01")
    records = audit_records(provider)
    for who, status, says in (("", 400, "Vul de gebruikersnaam"), ("nobody-" + secrets.token_hex(4), 400, "vinden geen"),
                              (world.child_b["username"], 400, "vinden geen"),  # a minor is nobody's parent
                              (world.admin_a["username"], 400, "Jezelf")):
        refused = register(provider, admin_a, world.a, pupil, who)
        assert refused.status_code == status and says in refused.text, (who, refused.text[:300])
        assert 'aria-invalid="true"' in refused.text and not CODE.findall(refused.text)
    refused = register(provider, admin_a, world.a, adult, parent["username"])
    assert refused.status_code == 409 and "volwassen" in refused.text
    assert audit_records(provider) == records and states(provider, pupil) == {}
    assert register(provider, admin_a, world.a, pupil, parent["username"]).status_code == 200
    again = register(provider, admin_a, world.a, pupil, parent["username"])
    assert again.status_code == 400 and "al gekoppeld" in again.text and len(states(provider, pupil)) == 1
    other_school = register(provider, admin_a, world.a, world.child_b, parent["username"])
    assert other_school.status_code == 404 and states(provider, world.child_b) == {world.granted_b: "active"}


def test_the_school_approves_a_parent_mandate_that_waits_for_it(provider, world, admin_a, admin_b):
    pupil, parent = child(provider, world.a), person(provider, "parent")
    mandate_id = propose(provider, pupil, parent)
    listed = admin_a.get(f"{provider.issuer}/beheer/{world.a}/mandaten?q={pupil['username']}")
    assert "wacht op de school" in listed.text
    assert f"/mandaten/{mandate_id}/aanvaarden" in listed.text
    for browser, number in ((admin_b, world.b), (admin_b, world.a)):
        assert post(provider, browser, f"/beheer/{number}/mandaten/{mandate_id}/aanvaarden").status_code == 404
    assert states(provider, pupil) == {mandate_id: "proposed"}
    done = post(provider, admin_a, f"/beheer/{world.a}/mandaten/{mandate_id}/aanvaarden")
    assert done.status_code == 303 and done.headers["location"] == f"/beheer/{world.a}/mandaten"
    assert "is goedgekeurd" in admin_a.get(provider.issuer + done.headers["location"]).text
    assert states(provider, pupil) == {mandate_id: "active"}
    again = post(provider, admin_a, f"/beheer/{world.a}/mandaten/{mandate_id}/aanvaarden")
    assert again.status_code == 409 and "wacht niet (meer) op de goedkeuring" in again.text


def test_revoking_ends_the_mandate_at_once_and_is_audited(provider, world, admin_a):
    pupil, parent = child(provider, world.a), person(provider, "parent")
    mandate_id = grant(provider, pupil, parent)
    records = audit_records(provider)
    without_token = admin_a.http.post(f"{provider.issuer}/beheer/{world.a}/mandaten/{mandate_id}/intrekken", data={})
    assert without_token.status_code == 400 and states(provider, pupil) == {mandate_id: "active"}
    done = post(provider, admin_a, f"/beheer/{world.a}/mandaten/{mandate_id}/intrekken")
    assert done.status_code == 303 and states(provider, pupil) == {mandate_id: "revoked"}
    assert audit_records(provider) == records + 2, "the store's mandate_revoked and the school's record"
    again = post(provider, admin_a, f"/beheer/{world.a}/mandaten/{mandate_id}/intrekken")
    assert again.status_code == 409 and "al afgelopen of ingetrokken" in again.text
    events = audit_events(provider, pupil["id"])
    assert ["school_admin_mandate_revoked", world.admin_a["id"], True] in events
    assert ["mandate_revoked", world.admin_a["id"], False] in events


def audit_events(provider, subject_id: str) -> list:
    script = ("import json,sys\nfrom config.settings import Settings\nfrom idp.wiring import Container\n"
              "events = Container(Settings.from_env()).audit.for_person(sys.argv[1])\n"
              "print(json.dumps([[e.event, e.actor_id, e.school_id is not None] for e in events]))\n")
    out = subprocess.run([sys.executable, "-c", script, subject_id], cwd=provider.workdir, env=provider.env,
                         capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def test_another_schools_administrator_gets_the_same_404_and_changes_nothing(provider, world, admin_a, admin_b):
    pupil, parent = child(provider, world.a), person(provider, "parent")
    waiting = propose(provider, pupil, parent)
    letter = register(provider, admin_a, world.a, pupil, person(provider, "parent")["username"])
    assert letter.status_code == 200
    before, records = states(provider, pupil), audit_records(provider)
    for mandate_id in (world.granted_a, waiting, *before):
        for word in ("aanvaarden", "intrekken", "brief"):
            expected_path = f"/beheer/{world.b}/mandaten/{NO_MANDATE}/{word}"
            expected = post(provider, admin_b, expected_path)
            for number in (world.b, world.a):
                path = f"/beheer/{number}/mandaten/{mandate_id}/{word}"
                got = post(provider, admin_b, path)
                assert got.status_code == expected.status_code == 404, (path, got.status_code)
                assert got.text.replace(path, "PATH") == expected.text.replace(expected_path, "PATH"), path
                assert got.headers.get("cache-control") == "no-store"
    for path in (f"/beheer/{world.a}/mandaten", f"/beheer/{world.b}/personen/{pupil['id']}"):
        assert admin_b.get(provider.issuer + path).status_code == 404
    page = admin_b.get(f"{provider.issuer}/beheer/{world.b}/mandaten").text
    assert pupil["family_name"] not in page and world.child_a["family_name"] not in page
    assert states(provider, pupil) == before and audit_records(provider) == records


def test_a_new_letter_replaces_the_old_code(provider, world, admin_a):
    pupil, parent = child(provider, world.a), person(provider, "parent")
    [old] = CODE.findall(register(provider, admin_a, world.a, pupil, parent["username"]).text)
    [mandate_id] = states(provider, pupil)
    letter = post(provider, admin_a, f"/beheer/{world.a}/mandaten/{mandate_id}/brief")
    assert letter.status_code == 200
    [new] = CODE.findall(letter.text)
    assert link(provider, parent, old).status_code == 400
    assert link(provider, parent, new).status_code == 303 and states(provider, pupil) == {mandate_id: "active"}
    refused = post(provider, admin_a, f"/beheer/{world.a}/mandaten/{mandate_id}/brief")
    assert refused.status_code == 409 and "niet nodig" in refused.text and not CODE.findall(refused.text)


def test_wrong_codes_are_throttled_even_before_the_right_one(provider, world, admin_a):
    pupil, parent = child(provider, world.a), person(provider, "parent")
    [code] = CODE.findall(register(provider, admin_a, world.a, pupil, parent["username"]).text)
    with Browser(provider) as browser:
        page = browser.login(browser.get(f"{provider.issuer}/mijn/koppelen"), parent)
        form = next(f for f in parse_forms(page.text) if "code" in f.fields)
        for _ in range(10):
            assert browser.send(page, form, code="ABCD-EFGH-JKLM").status_code == 400
        throttled = browser.send(page, form, code=code)
        assert throttled.status_code == 429 and "te vaak" in throttled.text
    assert list(states(provider, pupil).values()) == ["proposed"]
