"""`leerid import roster`: a school's CSV export in, once; again without change; next year moved on."""
from __future__ import annotations

import secrets
from datetime import date

import pytest

HEADER = "extern_id;voornaam;familienaam;geboortedatum;rol;klas;leerjaar;e-mail;ouder_e-mail"


def roster(path, rows: list[str], header: str = HEADER, encoding: str = "utf-8-sig", sep: str = ";"):
    text = "\n".join([header.replace(";", sep)] + [r.replace(";", sep) for r in rows]) + "\n"
    path.write_bytes(text.encode(encoding))
    return path


def tag() -> str:
    return secrets.token_hex(3)


@pytest.fixture
def school(leerid):
    return leerid.school()


def imported(leerid, path, school, *extra) -> dict:
    return leerid.cli("import", "roster", str(path), "--school", school, *extra)


def test_import_reports_every_rejected_row_and_reimport_changes_nothing(leerid, school, tmp_path):
    t = tag()
    path = roster(tmp_path / "r.csv", [
        f"{t}1;Anaïs;Van den Broeck;03/04/2016;leerling;4A;4;;mama@example.be papa@example.be",
        f"{t}2;Jonas;Peeters{t};2015-02-01;leerling;5B;5;;",
        f"{t}3;An;Jacobs{t};1980-05-05;leerkracht;;;an{t}@school.example;",
        f"{t}4;Bad;Date;31/02/2015;leerling;4A;;;",
        f"{t}5;No;Class;2015-01-01;leerling;;;;",
        f"{t}6;Odd;Role;2015-01-01;directeur;;;;",
    ])
    first = imported(leerid, path, school)
    assert (first["created"], first["unchanged"]) == (3, 0)
    assert [(r["line"], r["reason"].split()[0]) for r in first["rejected"]] == [(5, "birthdate"), (6, "a"), (7, "role")]
    anais = leerid.cli("users", "show", "anais.vandenbroeck")
    assert anais["parent_emails"] == ["mama@example.be", "papa@example.be"]
    shown = leerid.cli("users", "show", f"jonas.peeters{t}")
    assert [(m["school"], m["class"]) for m in shown["memberships"]] == [(school, "5B")]
    before = leerid.counts()
    again = imported(leerid, path, school)
    assert (again["created"], again["moved"], again["ended"], again["unchanged"]) == (0, 0, 0, 3)
    assert leerid.counts() == before, "re-importing the same file changes nothing"


def test_a_generated_roster_of_thousands_of_rows(leerid, school, tmp_path):
    """3,000 pupils, every 100th row with an impossible birthdate; again unchanged; next year 2,900 move on."""
    t, size = tag(), 3000
    start = date.today().year + 1

    def rows(grade_offset: int, keep) -> list[str]:
        return [f"{t}-{i};Kind{i};Gen{t};{'2015-02-30' if i % 100 == 0 else f'2015-{i % 12 + 1:02d}-01'};leerling;"
                f"{(i % 6) + 1 + grade_offset}{'ABC'[i % 3]};{(i % 6) + 1 + grade_offset};;" for i in range(size) if keep(i)]

    now = roster(tmp_path / "now.csv", rows(0, lambda i: True))
    first = imported(leerid, now, school)
    assert (first["rows"], first["created"], len(first["rejected"])) == (size, 2970, 30)
    assert {r["line"] for r in first["rejected"]} == {i + 2 for i in range(0, size, 100)}
    before = leerid.counts()
    again = imported(leerid, now, school)
    assert (again["created"], again["moved"], again["ended"], again["unchanged"]) == (0, 0, 0, 2970)
    assert leerid.counts() == before
    leaving = {i for i in range(size) if i % 30 == 1}  # 100 pupils leave the school
    later = roster(tmp_path / "next.csv", rows(1, lambda i: i not in leaving))
    moved = imported(leerid, later, school, "--as-of", f"{start}-09-01")
    assert (moved["created"], moved["moved"], moved["ended"]) == (0, 2870, 100)
    pupil = leerid.cli("users", "show", f"kind7.gen{t}")
    assert [m["class"] for m in pupil["memberships"]] == ["2B", "3B"]


def test_usernames_are_readable_without_diacritics_and_unique(leerid, school, tmp_path):
    t = tag()
    path = roster(tmp_path / "r.csv", [f"{t}1;Zoë;Ünal{t};2016-01-01;leerling;3A;;;",
                                       f"{t}2;Zoë;Ünal{t};2017-01-01;leerling;2A;;;"])
    assert imported(leerid, path, school)["created"] == 2
    assert leerid.cli("users", "show", f"zoe.unal{t}")["birthdate"] == "2016-01-01"
    assert leerid.cli("users", "show", f"zoe.unal{t}2")["birthdate"] == "2017-01-01"


def test_dry_run_writes_nothing(leerid, school, tmp_path):
    path = roster(tmp_path / "r.csv", [f"{tag()};Lien;Maes{tag()};2016-01-01;leerling;3A;;;"])
    before = leerid.counts()
    report = imported(leerid, path, school, "--dry-run")
    assert report["created"] == 1 and report["dry_run"] is True
    assert leerid.counts() == before


@pytest.mark.parametrize("header, rows, reason", [
    ("voornaam;familienaam;rol", ["A;B;leerling"], "lacks the column"),
    (HEADER, ["X1;A;B;2016-01-01;leerling;3A;;;", "X1;C;D;2016-01-01;leerling;3A;;;"], "also stands on line"),
    ("", [], "empty"),
], ids=["missing-columns", "duplicate-external-id", "empty"])
def test_a_file_rejected_as_a_whole_writes_nothing(leerid, school, tmp_path, header, rows, reason):
    path = roster(tmp_path / "r.csv", rows, header=header)
    before = leerid.counts()
    proc = leerid.run("import", "roster", str(path), "--school", school, check=False)
    assert proc.returncode != 0 and reason in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert leerid.counts() == before


@pytest.mark.parametrize("encoding, sep", [("utf-8", ","), ("utf-8-sig", ";"), ("latin-1", ";")])
def test_excel_exports_in_every_usual_encoding(leerid, school, tmp_path, encoding, sep):
    t = tag()
    path = roster(tmp_path / "r.csv", [f"{t};Anaïs;Dupré{t};2016-01-01;leerling;3A;;;"], encoding=encoding, sep=sep)
    assert imported(leerid, path, school)["created"] == 1
    assert leerid.cli("users", "show", f"anais.dupre{t}")["given_name"] == "Anaïs"


def test_next_years_roster_moves_pupils_and_ends_who_left(leerid, school, tmp_path):
    t = tag()
    this_year = roster(tmp_path / "now.csv", [f"{t}1;Mila;Claes{t};2016-01-01;leerling;4A;4;;",
                                              f"{t}2;Noah;Claes{t};2015-01-01;leerling;6A;6;;"])
    imported(leerid, this_year, school)
    start = date.today().year + 1
    next_year = roster(tmp_path / "next.csv", [f"{t}1;Mila;Claes{t};2016-01-01;leerling;5A;5;;"])
    report = imported(leerid, next_year, school, "--as-of", f"{start}-09-01")
    assert (report["moved"], report["ended"]) == (1, 1)
    mila = leerid.cli("users", "show", f"mila.claes{t}")
    assert [(m["class"], m["valid_until"]) for m in mila["memberships"]] == [("4A", f"{start}-08-31"), ("5A", None)]
    noah = leerid.cli("users", "show", f"noah.claes{t}")
    assert noah["active"] is True and noah["memberships"][0]["valid_until"] == f"{start}-08-31"


def test_a_pupil_arriving_from_another_school_keeps_one_leerid(leerid, school, tmp_path):
    t, other = tag(), leerid.school()
    start = date.today().year + 1
    imported(leerid, roster(tmp_path / "a.csv", [f"A{t};Elias;Wouters{t};2014-06-01;leerling;6B;;;",
                                                 f"A{t}x;Stan;Wouters{t};2016-06-01;leerling;4B;;;"]), school)
    imported(leerid, roster(tmp_path / "a2.csv", [f"A{t}x;Stan;Wouters{t};2016-06-01;leerling;5B;;;"]), school,
             "--as-of", f"{start}-09-01")  # the old school's next-year roster: Elias left
    report = imported(leerid, roster(tmp_path / "b.csv", [f"B{t};Elias;Wouters{t};01/06/2014;leerling;1A;;;"]), other,
                      "--as-of", f"{start}-09-01")
    assert (report["matched"], report["created"]) == (1, 0)
    elias = leerid.cli("users", "show", f"elias.wouters{t}")
    assert [(m["school"], m["valid_until"]) for m in elias["memberships"]] == [
        (school, f"{start}-08-31"), (other, None)]


def test_a_pupil_still_at_another_school_is_held_for_the_helpdesk(leerid, school, tmp_path):
    """Another school cannot take a pupil over by typing their name and birthdate: a person decides."""
    t, other = tag(), leerid.school()
    imported(leerid, roster(tmp_path / "a.csv", [f"A{t};Mats;Jans{t};2014-06-01;leerling;6B;;;"]), school)
    before = leerid.counts()
    report = imported(leerid, roster(tmp_path / "b.csv", [f"B{t};Mats;Jans{t};2014-06-01;leerling;1A;;;"]), other)
    assert (report["matched"], report["created"], len(report["uncertain"])) == (0, 0, 1)
    assert "another school" not in report["uncertain"][0]["reason"], "the report does not say where they are"
    mats = leerid.cli("users", "show", f"mats.jans{t}")
    assert [(m["school"], m["valid_until"]) for m in mats["memberships"]] == [(school, None)]
    assert leerid.counts()["roster_reviews"] == before["roster_reviews"] + 1
    review = next(r for r in leerid.cli("import", "reviews", "--school", other)["reviews"] if r["external_id"] == f"B{t}")
    assert [c["schools"] for c in review["candidates"]] == [[school]], "the helpdesk sees where they are"
    leerid.cli("import", "resolve", str(review["id"]), "--username", f"mats.jans{t}")
    moved = leerid.cli("users", "show", f"mats.jans{t}")
    assert [m["school"] for m in moved["memberships"] if m["valid_until"] is None] == [other]


def test_a_school_does_not_rename_someone_another_school_shares(leerid, school, tmp_path):
    t, other = tag(), leerid.school()
    imported(leerid, roster(tmp_path / "a.csv", [f"A{t};Ilse;Peeters{t};1980-01-01;leerkracht;;;;"]), school)
    held = imported(leerid, roster(tmp_path / "b.csv", [f"B{t};Ilse;Peeters{t};1980-01-01;leerkracht;;;;"]), other)
    review = next(r for r in leerid.cli("import", "reviews", "--school", other)["reviews"] if r["external_id"] == f"B{t}")
    assert held["uncertain"] and review
    leerid.cli("import", "resolve", str(review["id"]), "--username", f"ilse.peeters{t}")
    renamed = imported(leerid, roster(tmp_path / "b2.csv", [f"B{t};Ilsa;Peeters{t};1980-01-01;leerkracht;;;;"]),
                       other)
    assert renamed["updated"] == 0
    ilse = leerid.cli("users", "show", f"ilse.peeters{t}")
    assert ilse["given_name"] == "Ilse" and sorted(m["school"] for m in ilse["memberships"]) == sorted([school, other])


def twins_elsewhere(leerid, t: str) -> list[str]:
    """Two existing leerIDs with the same name and birthdate: a new roster row could be either."""
    usernames = [f"x{t}{number}" for number in (1, 2)]
    for username in usernames:
        leerid.cli("users", "create", "--username", username, "--password", "Wachtwoord-1",
                   "--given-name", "Sara", "--family-name", f"Smet{t}", "--role", "pupil", "--birthdate", "2015-05-05")
    return usernames


def test_uncertain_match_is_held_for_review_once(leerid, school, tmp_path):
    t = tag()
    twins_elsewhere(leerid, t)
    path = roster(tmp_path / "r.csv", [f"{t};Sara;Smet{t};2015-05-05;leerling;4A;;;ouder{t}@example.be"])
    report = imported(leerid, path, school)
    assert report["created"] == report["matched"] == 0
    assert [r["line"] for r in report["uncertain"]] == [2]
    held = [r for r in leerid.cli("import", "reviews", "--school", school)["reviews"] if r["external_id"] == t]
    assert len(held) == 1 and sorted(c["username"] for c in held[0]["candidates"]) == [f"x{t}1", f"x{t}2"]
    assert held[0]["row"]["class_name"] == "4A"
    before = leerid.counts()
    assert imported(leerid, path, school)["uncertain"], "still held back: nobody guessed"
    assert leerid.counts() == before, "importing the same file again keeps one review entry"


def test_the_helpdesk_resolves_a_review_to_an_existing_leerid(leerid, school, tmp_path):
    t = tag()
    first, _ = twins_elsewhere(leerid, t)
    path = roster(tmp_path / "r.csv", [f"{t};Sara;Smet{t};2015-05-05;leerling;4A;;;ouder{t}@example.be"])
    imported(leerid, path, school)
    review = next(r for r in leerid.cli("import", "reviews")["reviews"] if r["external_id"] == t)
    refused = leerid.run("import", "resolve", str(review["id"]), "--username", "lotte.peeters", check=False)
    assert refused.returncode != 0 and "not one of" in refused.stderr
    resolved = leerid.cli("import", "resolve", str(review["id"]), "--username", first)
    sara = leerid.cli("users", "show", first)
    assert resolved["account_id"] == sara["id"] and resolved["new"] is False
    assert [(m["school"], m["class"]) for m in sara["memberships"]] == [(school, "4A")]
    assert sara["parent_emails"] == [f"ouder{t}@example.be"]
    assert all(r["id"] != review["id"] for r in leerid.cli("import", "reviews")["reviews"])
    again = imported(leerid, path, school)
    assert (again["uncertain"], again["unchanged"]) == ([], 1), "from now on the school's external id decides"
    gone = leerid.run("import", "resolve", str(review["id"]), "--new", check=False)
    assert gone.returncode != 0 and "no open review" in gone.stderr


def test_the_helpdesk_resolves_a_review_to_a_new_person(leerid, school, tmp_path):
    t = tag()
    twins_elsewhere(leerid, t)
    imported(leerid, roster(tmp_path / "r.csv", [f"{t};Sara;Smet{t};2015-05-05;leerling;4A;;;"]), school)
    review = next(r for r in leerid.cli("import", "reviews")["reviews"] if r["external_id"] == t)
    resolved = leerid.cli("import", "resolve", str(review["id"]), "--new")
    sara = leerid.cli("users", "show", f"sara.smet{t}")
    assert resolved["account_id"] == sara["id"] and sara["birthdate"] == "2015-05-05"
    assert leerid.run("audit", "verify", check=False).returncode == 0


def test_parents_e_mail_addresses_follow_the_school_roster(leerid, school, tmp_path):
    t = tag()
    imported(leerid, roster(tmp_path / "a.csv", [f"{t};Fien;Goris{t};2016-01-01;leerling;3A;;;a{t}@example.be,"
                                                                                     f" b{t}@example.be"]), school)
    imported(leerid, roster(tmp_path / "b.csv", [f"{t};Fien;Goris{t};2016-01-01;leerling;3A;;;b{t}@example.be|"
                                                                                     f"c{t}@example.be"]), school)
    assert leerid.cli("users", "show", f"fien.goris{t}")["parent_emails"] == [f"b{t}@example.be", f"c{t}@example.be"]


def test_leavers_are_deactivated_only_after_the_grace_period(leerid, school, tmp_path):
    t = tag()
    imported(leerid, roster(tmp_path / "now.csv", [f"{t}1;Roos;Lemmens{t};2016-01-01;leerling;4A;;;",
                                                   f"{t}2;Bram;Lemmens{t};2015-01-01;leerling;6A;;;"]), school)
    start = date.today().year + 1
    imported(leerid, roster(tmp_path / "next.csv", [f"{t}1;Roos;Lemmens{t};2016-01-01;leerling;5A;;;"]), school,
             "--as-of", f"{start}-09-01")
    left, stays = f"bram.lemmens{t}", f"roos.lemmens{t}"
    within = leerid.cli("users", "sweep", "--as-of", f"{start}-10-01")
    assert left not in within["deactivated"] and within["grace_days"] == 90
    after = f"{start + 1}-01-15"
    preview = leerid.cli("users", "sweep", "--as-of", after, "--dry-run")
    assert left in preview["deactivated"] and stays not in preview["deactivated"]
    assert leerid.cli("users", "show", left)["active"] is True, "a dry run changes nothing"
    assert left in leerid.cli("users", "sweep", "--as-of", after)["deactivated"]
    assert leerid.cli("users", "show", left)["active"] is False
    assert leerid.cli("users", "show", stays)["active"] is True
