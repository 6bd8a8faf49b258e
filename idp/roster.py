"""Roster import: a school's CSV export becomes accounts and memberships, once, and again without change.

The file has one row per person. Columns, by header (Dutch or English, any order, case-insensitive):

  extern_id | external_id      the person's id in the school software (required, unique in the file)
  voornaam | given_name        required
  familienaam | family_name    required
  geboortedatum | birthdate    required, YYYY-MM-DD or DD/MM/YYYY (as Excel writes it)
  rol | role                   leerling/pupil, leerkracht/teacher, personeel/staff
  klas | class                 required for pupils
  leerjaar | grade             optional, a whole number
  e-mail | email               optional
  ouder_e-mail | parent_emails optional, several separated by spaces, commas or '|'

Fields are separated by ';' or ','; the file is UTF-8 (with or without BOM) or else Latin-1.
"""
from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from idp.accounts import EMAIL
from idp.errors import InvalidInput

COLUMNS = {
    "external_id": ("extern_id", "externe_id", "external_id", "id"),
    "given_name": ("voornaam", "given_name", "firstname"),
    "family_name": ("familienaam", "achternaam", "family_name", "lastname"),
    "birthdate": ("geboortedatum", "birthdate", "date_of_birth"),
    "role": ("rol", "role"),
    "class_name": ("klas", "class", "klasgroep"),
    "grade": ("leerjaar", "grade"),
    "email": ("e-mail", "email", "e_mail"),
    "parent_emails": ("ouder_e-mail", "ouder_email", "parent_emails", "parent_email"),
}
REQUIRED = ("external_id", "given_name", "family_name", "birthdate", "role")
ROLES = {"leerling": "pupil", "pupil": "pupil", "leerkracht": "teacher", "teacher": "teacher",
         "personeel": "staff", "staff": "staff"}
MAX_BYTES = 50 * 1024 * 1024


class RosterRejected(InvalidInput):
    """The file as a whole cannot be imported; nothing was written."""


@dataclass(frozen=True)
class RosterRow:
    line: int
    external_id: str
    given_name: str
    family_name: str
    birthdate: date
    role: str
    class_name: str | None
    grade: int | None
    email: str | None
    parent_emails: tuple[str, ...]


@dataclass(frozen=True)
class Rejection:
    line: int
    reason: str


@dataclass
class Parsed:
    rows: list[RosterRow] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


def decode(raw: bytes) -> str:
    if len(raw) > MAX_BYTES:
        raise RosterRejected(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def header_map(header: list[str]) -> dict[str, int]:
    names = [h.strip().lower() for h in header]
    found = {}
    for key, aliases in COLUMNS.items():
        for alias in aliases:
            if alias in names:
                found[key] = names.index(alias)
                break
    missing = [COLUMNS[key][0] for key in REQUIRED if key not in found]
    if missing:
        raise RosterRejected(f"the header lacks the column(s) {', '.join(missing)} (see `leerid import roster --help`)")
    return found


def parse_date(value: str) -> date:
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"birthdate {value!r} is not a date (YYYY-MM-DD or DD/MM/YYYY)")


def parse(raw: bytes, today: date | None = None) -> Parsed:
    """Every row checked; a row with a problem is reported with its line number and left out."""
    text = decode(raw)
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise RosterRejected("the file is empty or has no header line")
    delimiter = ";" if lines[0].count(";") >= lines[0].count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    columns = header_map(next(reader))
    parsed, seen = Parsed(), {}
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        try:
            item = _row(row, columns, line, today or date.today())
        except ValueError as exc:
            parsed.rejected.append(Rejection(line, str(exc)))
            continue
        if item.external_id in seen:
            raise RosterRejected(f"line {line}: external id {item.external_id!r} also stands on line "
                                 f"{seen[item.external_id]}; each person has one row")
        seen[item.external_id] = line
        parsed.rows.append(item)
    return parsed


def _row(cells: list[str], columns: dict[str, int], line: int, today: date) -> RosterRow:
    def cell(key: str) -> str:
        index = columns.get(key)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    for key in REQUIRED:
        if not cell(key):
            raise ValueError(f"{COLUMNS[key][0]} is empty")
    role = ROLES.get(cell("role").lower())
    if role is None:
        raise ValueError(f"role {cell('role')!r} is not leerling, leerkracht or personeel")
    birthdate = parse_date(cell("birthdate"))
    if not date(1900, 1, 1) <= birthdate <= today:
        raise ValueError(f"birthdate {birthdate.isoformat()} is not a possible birthdate")
    if role == "pupil" and not cell("class_name"):
        raise ValueError("a pupil needs a class (klas)")
    grade = cell("grade")
    if grade and not grade.isdigit():
        raise ValueError(f"grade (leerjaar) {grade!r} is not a whole number")
    email = cell("email") or None
    parents = tuple(p for p in re.split(r"[\s,|]+", cell("parent_emails")) if p)
    for address in ((email,) if email else ()) + parents:
        if not EMAIL.match(address) or len(address) > 254:
            raise ValueError(f"{address!r} is not an e-mail address")
    lengths = {"external_id": 64, "given_name": 100, "family_name": 100, "class_name": 64}
    for key, limit in lengths.items():
        if len(cell(key)) > limit:
            raise ValueError(f"{COLUMNS[key][0]} is longer than {limit} characters")
    return RosterRow(line, cell("external_id"), cell("given_name"), cell("family_name"), birthdate, role,
                     cell("class_name") or None, int(grade) if grade else None, email, parents)


def ascii_name(text: str) -> str:
    """'Anaïs Van den Broeck' -> 'anais.vandenbroeck' style parts: no diacritics, only a-z and digits."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]", "", plain)


def base_username(given_name: str, family_name: str) -> str:
    given, family = ascii_name(given_name)[:30] or "leerling", ascii_name(family_name)[:30] or "x"
    return f"{given}.{family}"


def unique_username(base: str, taken: Callable[[str], bool]) -> str:
    """voornaam.familienaam, then voornaam.familienaam2, 3, ... until one is free."""
    if not taken(base):
        return base
    for number in range(2, 100000):
        if not taken(f"{base}{number}"):
            return f"{base}{number}"
    raise InvalidInput(f"no free username for {base}")


def same_person_key(given_name: str, family_name: str, birthdate: date) -> tuple[str, str, date]:
    return ascii_name(given_name), ascii_name(family_name), birthdate


def day_before(day: date) -> date:
    return day - timedelta(days=1)


def chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
