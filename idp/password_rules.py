"""The rules for a new password (NIST SP 800-63B §5.1.1.2; SP 800-63B-4 §3.1.1.2). No Flask here.

A password counts in Unicode characters after NFKC normalisation (the form idp.crypto.Passwords hashes): at least
the minimum of the person's strictest role (8 for pupils and parents, 12 for teachers and staff, by setting), at
most 64. There are no composition rules. A password is refused when it is on the shipped list of common and
breached passwords (idp/data, compared in lowercase), contains the username, is the person's name or birth date,
or is one character repeated or a simple sequence. Each refusal is a reason code; the pages turn it into a Dutch
sentence that says what to do.
"""
from __future__ import annotations

import functools
import gzip
import importlib.resources
import itertools
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from idp.crypto import normalise_password

MAX_LENGTH = 64  # accepted at most (SP 800-63B-4 asks at least 64 to be allowed)
MAX_TYPED = 256  # the login reads no more than this, so nothing longer could ever log in
STRONG_LENGTH = 15  # SP 800-63B-4: a password that is the only factor has at least 15 characters
STAFF_ROLES = ("teacher", "staff")

# Reason codes, in the order a page names them (the first one is the one to fix first).
TOO_LONG = "too_long"
TOO_SHORT = "too_short"
REPEATED = "repeated"
SEQUENCE = "sequence"
USERNAME = "username"
NAME = "name"
BIRTHDATE = "birthdate"
COMMON = "common"
REASONS = (TOO_LONG, TOO_SHORT, REPEATED, SEQUENCE, USERNAME, NAME, BIRTHDATE, COMMON)

# A password that is a run of one of these (or of one backwards) is a simple sequence; digits and letters wrap.
SEQUENCES = (
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz", "01234567890123456789",
    "qwertyuiopqwertyuiop", "asdfghjkl", "zxcvbnm",  # QWERTY rows
    "azertyuiopazertyuiop", "qsdfghjklm", "wxcvbn",  # AZERTY rows (Belgian keyboards)
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p", "&é\"'(§è!çà",  # keyboard columns; the AZERTY digit row unshifted
)
SEPARATORS = " -._/"
DATA = "data/common-passwords.txt.gz"


@dataclass(frozen=True)
class Person:
    """What the rules know about whoever chooses the password."""

    username: str = ""
    given_name: str = ""
    family_name: str = ""
    birthdate: date | None = None
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    length: int  # in Unicode characters, after NFKC
    minimum: int
    reasons: tuple[str, ...]  # empty: the password may be used

    @property
    def acceptable(self) -> bool:
        return not self.reasons

    @property
    def missing(self) -> int:
        """How many characters more it needs."""
        return max(0, self.minimum - self.length)

    @property
    def strength(self) -> str:
        """weak (refused), fair (accepted) or strong (accepted and long)."""
        if self.reasons:
            return "weak"
        return "strong" if self.length >= max(STRONG_LENGTH, self.minimum) else "fair"


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list, read once per process."""
    raw = importlib.resources.files("idp").joinpath(DATA).read_bytes()
    return frozenset(line for line in gzip.decompress(raw).decode("utf-8").split("\n") if line)


class PasswordRules:
    def __init__(self, min_pupil: int = 8, min_staff: int = 12,
                 common: Callable[[], frozenset[str]] = common_passwords):
        self.min_pupil = min_pupil
        self.min_staff = min_staff
        self.common = common

    @classmethod
    def from_settings(cls, settings) -> PasswordRules:
        return cls(settings.password_min_pupil, settings.password_min_staff)

    def minimum(self, roles: Iterable[str]) -> int:
        """The strictest of the person's roles; an unknown role counts as staff."""
        return max((self.min_pupil if role in ("pupil", "parent") else self.min_staff for role in roles),
                   default=self.min_pupil)

    def check(self, password: str, person: Person = Person()) -> Verdict:
        text = normalise_password(password)
        minimum = self.minimum(person.roles)
        found = {
            TOO_LONG: len(text) > MAX_LENGTH or len(password) > MAX_TYPED,
            TOO_SHORT: len(text) < minimum,
            REPEATED: is_repeated(text),
            SEQUENCE: is_sequence(text),
            USERNAME: len(person.username) >= 3 and person.username.lower() in text.lower(),
            NAME: is_name(text, person),
            BIRTHDATE: person.birthdate is not None and is_date(text, person.birthdate),
        }
        found[COMMON] = not found[TOO_LONG] and text.strip().lower() in self.common()
        return Verdict(len(text), minimum, tuple(reason for reason in REASONS if found[reason]))


def _core(text: str) -> str:
    """Lowercase, without the separators people put between groups (`1234-5678`, `abc def`)."""
    return "".join(c for c in text.lower() if c not in SEPARATORS)


def _letters(text: str) -> str:
    """Only the letters, lowercase and without accents: `Zoë` and `zoe` are the same name."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if c.isalpha() and not unicodedata.combining(c))


def is_repeated(text: str) -> bool:
    """One character over and over (`aaaaaaaa`), or a run of two or three repeated (`abababab`, `123123123`)."""
    core = _core(text)
    if len(core) < 2:
        return len(core) == 1
    return any(len(core) >= 2 * size and core == (core[:size] * len(core))[:len(core)] for size in (1, 2, 3))


def is_sequence(text: str) -> bool:
    """Letters or digits in a row (`abcdefgh`, `87654321`, `34567890`) or along a keyboard (`azertyui`)."""
    core = _core(text)
    if len(core) < 3:
        return False
    steps = {ord(b) - ord(a) for a, b in itertools.pairwise(core)}
    if steps in ({1}, {-1}):
        return True
    return any(core in run or core in run[::-1] for run in SEQUENCES)


def is_name(text: str, person: Person) -> bool:
    """The person's given name, family name or both (in either order, with digits or signs around them)."""
    letters = _letters(text)
    given, family = _letters(person.given_name), _letters(person.family_name)
    names = {given, family, given + family, family + given, _letters(person.username)} - {""}
    return bool(letters) and letters in names


def is_date(text: str, birthdate: date) -> bool:
    """The birth date in digits, in any usual order, with or without separators (`01032015`, `2015-03-01`)."""
    if not text or any(not (c.isdigit() or c in SEPARATORS) for c in text):
        return False
    digits = "".join(c for c in text if c.isdigit())
    day, month = {str(birthdate.day), f"{birthdate.day:02}"}, {str(birthdate.month), f"{birthdate.month:02}"}
    year = {str(birthdate.year), f"{birthdate.year % 100:02}"}
    forms = {d + m + y for d in day for m in month for y in year}
    forms |= {m + d + y for d in day for m in month for y in year}
    forms |= {y + m + d for d in day for m in month for y in year}
    return digits in forms
