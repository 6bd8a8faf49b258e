"""idp.password_rules and the NFKC normalisation of idp.crypto.Passwords (NIST SP 800-63B §5.1.1.2, SP 800-63B-4
§3.1.1.2): lengths per role in Unicode characters after NFKC, at most 64, no composition rules, the shipped list of
common and breached passwords, the username, name and birth date, repeats and sequences."""
from __future__ import annotations

import ast
import gzip
from datetime import date
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from config.settings import ConfigError, Settings
from idp.crypto import Passwords
from idp.password_rules import (
    BIRTHDATE,
    COMMON,
    NAME,
    REPEATED,
    SEQUENCE,
    TOO_LONG,
    TOO_SHORT,
    USERNAME,
    PasswordRules,
    Person,
    common_passwords,
)

ROOT = Path(__file__).resolve().parents[2]
LOTTE = Person("lotte.peeters", "Lotte", "Peeters", date(2015, 3, 1), ("pupil",))
TEACHER = Person("an.jacobs", "An", "Jacobs", date(1985, 11, 23), ("teacher",))
FAST = {"memory_kib": 1024, "time_cost": 1, "parallelism": 1}


@pytest.fixture(scope="module")
def rules() -> PasswordRules:
    return PasswordRules()


def reasons(rules: PasswordRules, password: str, person: Person = LOTTE) -> tuple[str, ...]:
    return rules.check(password, person).reasons


# --- length --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("roles, minimum", [
    (("pupil",), 8), (("parent",), 8), (("teacher",), 12), (("staff",), 12), ((), 8),
    (("pupil", "teacher"), 12), (("parent", "staff"), 12), (("operator-of-the-moon",), 12),
])
def test_the_minimum_is_the_strictest_role(rules, roles, minimum):
    assert rules.minimum(roles) == minimum


def test_a_pupil_needs_8_characters_and_a_teacher_12(rules):
    assert reasons(rules, "boekentas") == ()
    verdict = rules.check("kort-ww", LOTTE)
    assert verdict.reasons == (TOO_SHORT,) and verdict.missing == 1 and verdict.minimum == 8
    teacher = rules.check("boekentas-7", TEACHER)
    assert teacher.reasons == (TOO_SHORT,) and teacher.missing == 1 and teacher.minimum == 12
    assert reasons(rules, "boekentas-78", TEACHER) == ()


def test_the_settings_give_the_minimums():
    settings = Settings.from_env({"LEERID_PASSWORD_MIN_PUPIL": "10", "LEERID_PASSWORD_MIN_STAFF": "16"})
    rules = PasswordRules.from_settings(settings)
    assert rules.minimum(("pupil",)) == 10 and rules.minimum(("staff",)) == 16
    assert Settings.from_env({}).password_min_pupil == 8 and Settings.from_env({}).password_min_staff == 12


@pytest.mark.parametrize("env", [
    {"LEERID_PASSWORD_MIN_PUPIL": "6"},
    {"LEERID_PASSWORD_MIN_STAFF": "65"},
    {"LEERID_PASSWORD_MIN_PUPIL": "14", "LEERID_PASSWORD_MIN_STAFF": "12"},
    {"LEERID_PASSWORD_MIN_PUPIL": "acht"},
])
def test_unsafe_minimums_are_refused(env):
    with pytest.raises(ConfigError):
        Settings.from_env(env)


def test_at_most_64_characters(rules):
    assert reasons(rules, "zon en zee " * 5 + "vandaag!!") == ()  # 64
    assert TOO_LONG in reasons(rules, "zon en zee " * 5 + "vandaag!!!")  # 65
    assert TOO_LONG in reasons(rules, "b" + "\u0301" * 300)  # one character, but nothing this long ever logs in


def test_length_counts_characters_after_nfkc(rules):
    # "é" typed as e + a combining accent is one character; the ligature "ﬁ" is two (f, i)
    assert rules.check("cafe\u0301-op-zee", LOTTE).length == len("café-op-zee")
    assert rules.check("\ufb01etsbel", LOTTE).length == 8
    assert rules.check("🦊🦊🐻🐼🐨🐯🦁🐮", LOTTE).length == 8


def test_no_composition_rules(rules):
    for password in ("een zin die ik onthoud", "boterhammenmetkaas", "ik-fiets-graag-naar-zee"):
        assert rules.check(password, LOTTE).acceptable, password


# --- the list ------------------------------------------------------------------------------------------------------

def test_the_shipped_list_is_loaded_once_and_lowercase():
    listed = common_passwords()
    assert listed is common_passwords(), "read once per process"
    assert isinstance(listed, frozenset) and len(listed) > 30_000
    assert all(p == p.lower() and len(p) >= 8 for p in listed)
    with gzip.open(ROOT / "idp" / "data" / "common-passwords.txt.gz", "rt", encoding="utf-8") as raw:
        assert sum(1 for line in raw if line.strip()) == len(listed)


@pytest.mark.parametrize("password", ["password123", "PASSWORD123", "Iloveyou1", "wachtwoord", "azerty123",
                                      "Ｐａｓｓｗｏｒｄ１２３"])
def test_common_and_breached_passwords_are_refused_in_any_case_and_form(rules, password):
    assert COMMON in reasons(rules, password)


def test_the_list_can_be_given(rules):
    strict = PasswordRules(common=lambda: frozenset({"regenboog-juf-an"}))
    assert strict.check("Regenboog-Juf-An", TEACHER).reasons == (COMMON,)


# --- who the person is ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("password", ["lotte.peeters", "ik-ben-lotte.peeters", "LOTTE.PEETERS-2015"])
def test_the_username_may_not_be_in_it(rules, password):
    assert USERNAME in reasons(rules, password)


@pytest.mark.parametrize("password", ["Lotte2015!", "Peeters!!!!", "Lotte Peeters", "peeters-lotte",
                                      "lottepeeters1", "Lötte-12345"])
def test_the_name_may_not_be_it(rules, password):
    assert NAME in reasons(rules, password)


def test_a_name_inside_a_longer_sentence_is_fine(rules):
    assert reasons(rules, "rekenrups-lotte") == ()
    assert reasons(rules, "lotte fietst naar zee") == ()


@pytest.mark.parametrize("password", ["01032015", "01-03-2015", "1/3/2015", "2015-03-01", "03012015", "01.03.15"])
def test_the_birth_date_may_not_be_it(rules, password):
    assert BIRTHDATE in reasons(rules, password)


def test_another_date_is_not_the_birth_date(rules):
    assert BIRTHDATE not in reasons(rules, "02-03-2015")
    assert BIRTHDATE not in reasons(rules, "01032015", Person(birthdate=None))


# --- repeats and sequences -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("password", ["aaaaaaaa", "zzzzzzzzzzzzzzzzz", "abababababab", "123123123", "xy-xy-xy-xy"])
def test_one_character_or_a_short_piece_repeated_is_refused(rules, password):
    assert REPEATED in reasons(rules, password)


@pytest.mark.parametrize("password", ["abcdefghij", "hgfedcba", "12345678", "876543210", "78901234",
                                      "qwertyuiop", "azertyuiop", "qsdfghjklm", "1234-5678", "mnopqrstuvw",
                                      "1qaz2wsx3edc"])
def test_simple_sequences_are_refused(rules, password):
    assert SEQUENCE in reasons(rules, password)


def test_a_sentence_is_neither_a_repeat_nor_a_sequence(rules):
    assert reasons(rules, "abc-is-makkelijk-maar-dit-niet") == ()


# --- strength ------------------------------------------------------------------------------------------------------

def test_strength_is_weak_fair_or_strong(rules):
    assert rules.check("12345678", LOTTE).strength == "weak"
    assert rules.check("boekentas", LOTTE).strength == "fair"
    assert rules.check("mijn boekentas is blauw", LOTTE).strength == "strong"
    assert rules.check("boekentas-78", TEACHER).strength == "fair"


def test_the_demo_and_test_passwords_keep_the_rules(rules):
    from examples.demo_data import ACCOUNTS

    for new in ACCOUNTS:
        roles = (new.role, "staff") if new.school_admin else (new.role,)
        person = Person(new.username, new.given_name, new.family_name, new.birthdate, roles)
        assert rules.check(new.password, person).acceptable, new.username


def test_the_rules_do_not_import_flask():
    tree = ast.parse((ROOT / "idp" / "password_rules.py").read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any(name.split(".")[0].startswith("flask") for name in names)


# --- Passwords: hashing the NFKC form ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def passwords() -> Passwords:
    return Passwords(**FAST)


def test_a_password_typed_in_another_form_still_works(passwords):
    stored = passwords.hash("ﬁets-op-ＺＥＥ")  # a ligature and full-width letters, as some keyboards send them
    assert passwords.verify(stored, "fiets-op-ZEE")
    assert passwords.verify(stored, "ﬁets-op-ＺＥＥ")
    assert not passwords.needs_rehash(stored)
    assert not passwords.verify(stored, "fiets-op-zee")


def test_a_hash_made_before_normalisation_still_works_and_is_rehashed(passwords):
    raw = "ﬁets-op-ＺＥＥ"
    legacy = PasswordHasher(memory_cost=1024, time_cost=1, parallelism=1).hash(raw)  # as leerID hashed before
    assert passwords.verify(legacy, raw)
    assert passwords.needs_rehash(legacy), "a raw-form match asks for the normalised hash"
    renewed = passwords.hash(raw)
    assert passwords.verify(renewed, "fiets-op-ZEE") and not passwords.needs_rehash(renewed)
    assert not passwords.verify(legacy, "fiets-op-ZEE"), "the old hash holds only the raw form"


def test_an_unknown_account_is_refused_in_either_form(passwords):
    assert not passwords.verify(None, "ﬁets-op-ＺＥＥ")
    assert not passwords.verify(None, "fiets-op-zee")
    assert not passwords.needs_rehash(passwords.hash("fiets-op-zee"))
