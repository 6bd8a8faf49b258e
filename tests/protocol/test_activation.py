"""First login (issue: usernames and first login): a letter's one-time code leads to choosing a password."""
from __future__ import annotations

import re
import secrets

import pytest

from tests.protocol.helpers import Browser, parse_forms, sign_in

CODE = re.compile(r'class="code">([A-Z0-9-]+)<')


@pytest.fixture(scope="module")
def platform(provider):
    return provider.client()


def import_pupil(provider, school, tmp_path) -> str:
    tag = secrets.token_hex(3)
    roster = tmp_path / "roster.csv"
    roster.write_text(f"extern_id;voornaam;familienaam;geboortedatum;rol;klas\n{tag};Fien;Aerts{tag};2015-03-03;"
                      f"leerling;K{tag}\n", encoding="utf-8")
    provider.cli("import", "roster", str(roster), "--school", school)
    return tag


def letters(provider, school, tmp_path, tag: str, *extra: str) -> list[str]:
    out = tmp_path / f"letters-{secrets.token_hex(3)}.html"
    result = provider.cli("users", "letters", "--school", school, "--class", f"K{tag}", "--output", str(out), *extra)
    codes = CODE.findall(out.read_text())
    assert result["letters"] == len(codes)
    return codes


def activate(provider, code: str, password: str, again: str | None = None):
    with Browser(provider) as browser:
        page = browser.get(f"{provider.issuer}/activeren")
        form = parse_forms(page.text)[0]
        fields = dict(form.fields, code=code, password=password, password_again=password if again is None else again)
        return browser.http.post(f"{provider.issuer}/activeren", data=fields)


def test_a_letter_code_sets_the_first_password_once(provider, school, platform, tmp_path):
    tag = import_pupil(provider, school, tmp_path)
    [code] = letters(provider, school, tmp_path, tag)
    username = f"fien.aerts{tag}"
    done = activate(provider, code.lower().replace("-", " "), "een-zin-die-ik-onthoud")
    assert done.status_code == 200 and username in done.text
    with Browser(provider) as browser:
        login = sign_in(provider, browser, platform, {"username": username, "password": "een-zin-die-ik-onthoud"})
    assert login.token["id_token"]
    again = activate(provider, code, "nog-een-ander-wachtwoord")
    assert again.status_code == 400 and "al gebruikt" in again.text
    assert letters(provider, school, tmp_path, tag) == [], "no letter for someone who has a password"
    assert len(letters(provider, school, tmp_path, tag, "--all")) == 1


def test_a_letter_for_the_parents_carries_the_same_code(provider, school, tmp_path):
    tag = import_pupil(provider, school, tmp_path)
    out = tmp_path / "both.html"
    provider.cli("users", "letters", "--school", school, "--class", f"K{tag}", "--for", "both", "--output", str(out))
    page = out.read_text()
    pupil_code, parent_code = CODE.findall(page)
    assert pupil_code == parent_code and f"Aan de ouders van Fien Aerts{tag}" in page
    provider.cli("users", "letters", "--school", school, "--class", f"K{tag}", "--for", "parents", "--all",
                 "--output", str(out))
    [code] = CODE.findall(out.read_text())
    assert "Je activeringscode" not in out.read_text()
    assert activate(provider, code, "een-zin-die-ik-onthoud").status_code == 200


def test_a_new_letter_replaces_the_old_code(provider, school, tmp_path):
    tag = import_pupil(provider, school, tmp_path)
    [old] = letters(provider, school, tmp_path, tag)
    [new] = letters(provider, school, tmp_path, tag)
    assert activate(provider, old, "een-zin-die-ik-onthoud").status_code == 400
    assert activate(provider, new, "een-zin-die-ik-onthoud").status_code == 200


@pytest.mark.parametrize("password, again, message", [
    ("kort", None, "minstens 8 tekens"),
    ("een-zin-die-ik-onthoud", "een-andere-zin", "niet hetzelfde"),
    ("Password123", None, "lijst van vaak gebruikte wachtwoorden"),  # the shipped list, in any case
    ("Fien-2015!", None, "je naam"),
    ("03/03/2015", None, "je geboortedatum"),
    ("abcdefghijk", None, "een reeks"),
    ("zzzzzzzzzz", None, "steeds hetzelfde teken"),
    ("een zin die veel te lang is " * 3, None, "hoogstens 64 tekens"),
])
def test_a_bad_password_keeps_the_code(provider, school, tmp_path, password, again, message):
    tag = import_pupil(provider, school, tmp_path)
    [code] = letters(provider, school, tmp_path, tag)
    refused = activate(provider, code, password, again)
    assert refused.status_code == 400 and message in refused.text, refused.text[:3000]
    assert 'aria-invalid="true"' in refused.text and 'role="alert"' in refused.text
    assert activate(provider, code, "een-zin-die-ik-onthoud").status_code == 200


def test_the_page_tells_the_minimums_and_offers_the_hint(provider):
    with Browser(provider) as browser:
        page = browser.get(f"{provider.issuer}/activeren")
    assert "Minstens 8 tekens, voor leerkrachten en personeel minstens 12." in page.text
    assert 'aria-live="polite"' in page.text and "/static/password.js" in page.text
    assert 'data-minimum="8"' in page.text and 'data-staff-minimum="12"' in page.text


def test_a_teacher_needs_twelve_characters(provider, tmp_path):
    school = provider.school()  # a school of its own: a letter for everyone without a password there
    tag = secrets.token_hex(3)
    roster = tmp_path / "teacher.csv"
    roster.write_text(f"extern_id;voornaam;familienaam;geboortedatum;rol\n{tag};Jan;Leraar{tag};1980-02-02;"
                      "leerkracht\n", encoding="utf-8")
    provider.cli("import", "roster", str(roster), "--school", school)
    out = tmp_path / "teacher.html"
    provider.cli("users", "letters", "--school", school, "--output", str(out))
    [code] = CODE.findall(out.read_text())
    refused = activate(provider, code, "boterham-12")
    assert refused.status_code == 400 and "minstens 12 tekens" in refused.text and "nog 1 bij" in refused.text
    assert 'data-minimum="12"' in refused.text, "once the code told who it is, the hint counts to 12"
    assert activate(provider, code, "boterham-123").status_code == 200


def test_a_password_typed_on_another_keyboard_logs_in(provider, school, platform, tmp_path):
    tag = import_pupil(provider, school, tmp_path)
    [code] = letters(provider, school, tmp_path, tag)
    typed = "ﬁets naar ＺＥＥ"  # a ligature and full-width letters: NFKC makes them "fiets naar ZEE"
    assert activate(provider, code, typed).status_code == 200
    with Browser(provider) as browser:
        login = sign_in(provider, browser, platform, {"username": f"fien.aerts{tag}", "password": "fiets naar ZEE"})
    assert login.token["id_token"]


def test_an_unknown_code_is_refused(provider):
    refused = activate(provider, "AAAA-BBBB-CCCC", "een-zin-die-ik-onthoud")
    assert refused.status_code == 400 and "klopt niet" in refused.text
