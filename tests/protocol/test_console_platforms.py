"""The school console's platforms page (/beheer/<number>/platformen) over HTTP: an administrator takes a
school-agreement platform on for their own school under the reference of its data-processing agreement, and
ends it; the school's pupils can log in at the platform exactly while it is on. Another school's administrator
can neither see nor change it; every write is audited, and a refused request writes nothing.
"""
from __future__ import annotations

import json
import secrets
import subprocess
import sys
from dataclasses import dataclass

import pytest

from tests.protocol.helpers import Browser, authorize_url, console, parse_forms, sign_in

REFUSED_LOGIN = "Je school gebruikt dit platform nog niet"


@dataclass
class World:
    a: str  # school numbers
    b: str
    admin_a: dict
    admin_b: dict
    pupil_a: dict


def person(provider, number: str, role: str, *extra: str) -> dict:
    username, password = f"p{role[:3]}{secrets.token_hex(4)}", f"Pw-{secrets.token_urlsafe(12)}"
    out = provider.cli("users", "create", "--username", username, "--password", password, "--given-name", "Lien",
                       "--family-name", f"Platform{secrets.token_hex(3)}", "--role", role, "--school", number, *extra)
    return dict(out, password=password)


@pytest.fixture(scope="module")
def world(provider) -> World:
    a, b = provider.school(), provider.school()
    return World(a, b, person(provider, a, "staff", "--school-admin"), person(provider, b, "staff", "--school-admin"),
                 person(provider, a, "pupil"))


@pytest.fixture(scope="module")
def admin_a(provider, world):
    with console(provider, world.admin_a) as browser:
        yield browser


@pytest.fixture(scope="module")
def admin_b(provider, world):
    with console(provider, world.admin_b) as browser:
        yield browser


@pytest.fixture
def platform(provider) -> dict:
    """A school-agreement platform no school took on yet."""
    return provider.client("--basis", "school-agreement", activate=False)


def post(provider, browser: Browser, number: str, client_id: str, word: str, **data):
    page = browser.get(f"{provider.issuer}/beheer")
    token = next(f.fields["csrf_token"] for f in parse_forms(page.text) if "csrf_token" in f.fields)
    return browser.http.post(f"{provider.issuer}/beheer/{number}/platformen/{client_id}/{word}",
                             data=dict(data, csrf_token=token))


def activate(provider, browser, number, client_id, agreement):
    return post(provider, browser, number, client_id, "aanzetten", overeenkomst=agreement)


def end(provider, browser, number, client_id):
    return post(provider, browser, number, client_id, "uitzetten")


def pupil_gets_in(provider, platform: dict, pupil: dict) -> bool:
    """Whether the pupil's login at the platform ends with a code (True) or leerID's refusal page (False)."""
    with Browser(provider) as browser:
        page = browser.login(browser.get(authorize_url(provider, platform)), pupil)
        if page.status_code == 403 and REFUSED_LOGIN in page.text:
            assert "code=" not in page.text
            return False
        assert sign_in(provider, browser, platform, None).token["id_token"]  # logged in now: straight through
        return True


def audit_records(provider) -> int:
    return provider.audit_records()


def stored(provider, client_id: str) -> dict:
    """What the database holds for the platform: its activations and its audit events."""
    script = (
        "import json,sys\nfrom sqlalchemy import select\nfrom config.settings import Settings\n"
        "from idp.wiring import Container\nfrom idp.audit import AuditEvent\nfrom idp.directory import School\n"
        "from clients.activations import SchoolActivation as A\n"
        "with Container(Settings.from_env()).db.read() as s:\n"
        "    number = {i: n for i, n in s.execute(select(School.id, School.number))}\n"
        "    rows = s.scalars(select(A).where(A.client_id == sys.argv[1]))\n"
        "    events = s.scalars(select(AuditEvent).where(AuditEvent.client_id == sys.argv[1])\n"
        "                       .order_by(AuditEvent.seq))\n"
        "    print(json.dumps({'activations': {number[a.school_id]: [a.agreement, a.since.isoformat(),\n"
        "                                                          a.activated_by, a.ended_at is not None]\n"
        "                                      for a in rows},\n"
        "                      'events': [[e.event, e.actor_id, number.get(e.school_id)] for e in events]}))\n")
    out = subprocess.run([sys.executable, "-c", script, client_id], cwd=provider.workdir, env=provider.env,
                         capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def test_the_page_lists_the_school_agreement_platforms_with_a_csrf_token_in_every_form(provider, world, admin_a,
                                                                                       platform):
    consent = provider.client("--basis", "consent", activate=False)
    software = provider.cli("schools", "provisioning-client", "--school", world.a, "--name",
                            f"Schoolsoftware {secrets.token_hex(3)}")
    overview = admin_a.get(f"{provider.issuer}/beheer/{world.a}")
    assert f'href="/beheer/{world.a}/platformen"' in overview.text
    page = admin_a.get(f"{provider.issuer}/beheer/{world.a}/platformen")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert 'aria-current="page">Platformen' in page.text
    forms = [f for f in parse_forms(page.text) if f.method == "post" and "/platformen/" in f.action]
    assert forms and all(f.fields.get("csrf_token") for f in forms)
    actions = {f.action for f in forms}
    assert f"/beheer/{world.a}/platformen/{platform['client_id']}/aanzetten" in actions
    for hidden in (consent["client_id"], software["client_id"]):
        assert hidden not in page.text


def test_activation_lets_the_pupil_in_and_ending_it_refuses_again(provider, world, admin_a, platform):
    client_id = platform["client_id"]
    assert not pupil_gets_in(provider, platform, world.pupil_a)
    done = activate(provider, admin_a, world.a, client_id, "  VWO-2026-17  ")
    assert done.status_code == 303 and done.headers["location"] == f"/beheer/{world.a}/platformen"
    page = admin_a.get(provider.issuer + done.headers["location"])
    assert 'role="status"' in page.text and "staat nu aan" in page.text and "VWO-2026-17" in page.text
    assert pupil_gets_in(provider, platform, world.pupil_a)

    ended = end(provider, admin_a, world.a, client_id)
    assert ended.status_code == 303
    assert "staat nu uit" in admin_a.get(provider.issuer + ended.headers["location"]).text
    assert not pupil_gets_in(provider, platform, world.pupil_a)
    again = end(provider, admin_a, world.a, client_id)
    assert again.status_code == 409 and "niets om uit te zetten" in again.text

    found = stored(provider, client_id)
    [(agreement, _since, by, ended_at)] = found["activations"].values()
    assert list(found["activations"]) == [world.a], "the row is kept, for school A only"
    assert (agreement, by, ended_at) == ("VWO-2026-17", world.admin_a["id"], True)
    assert [e for e in found["events"] if e[0].startswith("platform_")] == [
        ["platform_activated", world.admin_a["id"], world.a], ["platform_deactivated", world.admin_a["id"], world.a]]


def test_a_missing_or_too_long_agreement_is_refused_and_writes_nothing(provider, world, admin_a, platform):
    records = audit_records(provider)
    for typed in ("", "   ", "x" * 201):
        refused = activate(provider, admin_a, world.a, platform["client_id"], typed)
        assert refused.status_code == 400, (typed, refused.status_code)
        assert 'role="alert"' in refused.text and 'aria-invalid="true"' in refused.text
        assert ("te lang" if typed.strip() else "Vul de naam of het nummer van de verwerkersovereenkomst in") \
            in refused.text
    without = post(provider, admin_a, world.a, platform["client_id"], "aanzetten")  # no field at all
    assert without.status_code == 400 and "Vul de naam" in without.text
    no_token = admin_a.http.post(f"{provider.issuer}/beheer/{world.a}/platformen/{platform['client_id']}/aanzetten",
                                 data={"overeenkomst": "VWO-1"})
    assert no_token.status_code == 400
    assert audit_records(provider) == records
    found = stored(provider, platform["client_id"])
    assert found["activations"] == {} and not [e for e in found["events"] if e[0].startswith("platform_")]
    assert not pupil_gets_in(provider, platform, world.pupil_a)
    assert activate(provider, admin_a, world.a, platform["client_id"], "x" * 200).status_code == 303


def test_an_administrator_of_school_b_cannot_see_or_change_school_a(provider, world, admin_a, admin_b, platform):
    client_id, secret = platform["client_id"], f"VWO-A-{secrets.token_hex(4)}"
    assert activate(provider, admin_a, world.a, client_id, secret).status_code == 303
    records, before = audit_records(provider), stored(provider, client_id)
    nothing = admin_b.get(f"{provider.issuer}/beheer/9999999999/platformen")
    assert nothing.status_code == 404
    page = admin_b.get(f"{provider.issuer}/beheer/{world.a}/platformen")
    assert page.status_code == 404 and page.text.replace(world.a, "9999999999") == nothing.text
    for word, data in (("aanzetten", {"overeenkomst": "VWO-B"}), ("uitzetten", {})):
        refused = post(provider, admin_b, world.a, client_id, word, **data)
        assert refused.status_code == 404 and secret not in refused.text
    own = admin_b.get(f"{provider.issuer}/beheer/{world.b}/platformen")
    assert own.status_code == 200 and client_id in own.text and secret not in own.text
    assert f"/beheer/{world.b}/platformen/{client_id}/aanzetten" in own.text, "not in use at B"
    refused = end(provider, admin_b, world.b, client_id)
    assert refused.status_code == 409 and secret not in refused.text
    assert audit_records(provider) == records and stored(provider, client_id) == before
    assert pupil_gets_in(provider, platform, world.pupil_a)


def test_unknown_consent_and_provisioning_clients_are_not_found(provider, world, admin_a):
    consent = provider.client("--basis", "consent", activate=False)
    software = provider.cli("schools", "provisioning-client", "--school", world.a)
    records = audit_records(provider)
    for word in ("aanzetten", "uitzetten"):
        reference = post(provider, admin_a, world.a, "no-such-platform", word, overeenkomst="VWO-1")
        assert reference.status_code == 404 and "Deze pagina bestaat niet" in reference.text
        for client_id in (consent["client_id"], software["client_id"], "x" * 65):
            refused = post(provider, admin_a, world.a, client_id, word, overeenkomst="VWO-1")
            assert refused.status_code == 404, (client_id, word)
            assert refused.text.replace(client_id, "no-such-platform") == reference.text, (client_id, word)
    assert audit_records(provider) == records
    assert stored(provider, software["client_id"])["activations"] == {}


def test_ending_a_platform_stops_its_refresh_tokens_too(provider, world, admin_a):
    from tests.protocol.helpers import refresh

    offline = provider.client("--basis", "school-agreement", "--scope", "offline_access", activate=False)
    assert activate(provider, admin_a, world.a, offline["client_id"], "VWO-7").status_code == 303
    with Browser(provider) as browser:
        login = sign_in(provider, browser, offline, world.pupil_a, scope="openid offline_access")
    rotated = refresh(provider, offline, login.token["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    assert end(provider, admin_a, world.a, offline["client_id"]).status_code == 303
    stopped = refresh(provider, offline, rotated.json()["refresh_token"])
    assert stopped.status_code == 400 and stopped.json()["error"] == "invalid_grant"
