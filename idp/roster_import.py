"""RosterImporter: applies a parsed roster to the directory in one transaction (or none, for a dry run)."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, noload

from idp import audit
from idp.accounts import Account, AccountRepository
from idp.db import Database
from idp.directory import Membership, School, SchoolClass, school_year
from idp.roster import (
    Rejection,
    RosterRejected,
    RosterRow,
    base_username,
    chunks,
    day_before,
    parse,
    same_person_key,
    unique_username,
)


@dataclass
class ImportReport:
    school: str
    rows: int = 0
    created: int = 0  # new accounts
    matched: int = 0  # people new to this school who already had a leerID
    moved: int = 0  # a new class or role details: the old membership ended, a new one began
    updated: int = 0  # names or e-mail corrected from the school's data
    unchanged: int = 0
    ended: int = 0  # no longer on the roster: membership ended (the account stays)
    rejected: list[Rejection] = field(default_factory=list)
    uncertain: list[Rejection] = field(default_factory=list)  # held back: more than one leerID could be them
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return any((self.created, self.matched, self.moved, self.updated, self.ended))


@dataclass
class SchoolState:
    """What the school's directory holds now, loaded once so that a big roster needs few queries."""

    school: School
    today: date
    by_external_id: dict[str, str]
    current: dict[tuple[str, str], Membership]
    classes: dict[str, SchoolClass]
    people: dict[tuple, list[str]]
    usernames: set[str]
    accounts: dict[str, Account]
    seen: set[tuple[str, str]] = field(default_factory=set)
    arriving: set[str] = field(default_factory=set)  # leerIDs that came from elsewhere in this import


class RosterImporter:
    def __init__(self, db: Database):
        self.db = db

    def run(self, school_number: str, raw: bytes, *, dry_run: bool = False, today: date | None = None,
            progress: Callable[[int], None] | None = None) -> ImportReport:
        today = today or date.today()
        parsed = parse(raw, today)
        report = ImportReport(school=school_number, rows=len(parsed.rows) + len(parsed.rejected),
                              rejected=parsed.rejected, dry_run=dry_run)
        session = self.db.sessions()
        try:
            with session.begin():
                school = AccountRepository(session).find_school(school_number)
                if school is None:
                    raise RosterRejected(f"no school with number {school_number}")
                state = self._load(session, school, parsed.rows, today)
                for row in parsed.rows:
                    self._apply(session, state, row, report)
                    if progress:
                        progress(1)
                self._end_leavers(state, parsed.rows, report)
                if report.changed and not dry_run:
                    audit.record(session, "roster_imported", school_id=school.id, detail={
                        k: getattr(report, k) for k in ("rows", "created", "matched", "moved", "updated", "ended")})
                if dry_run:
                    session.rollback()
        finally:
            session.close()
        return report

    @staticmethod
    def _load(session: Session, school: School, rows: list[RosterRow], today: date) -> SchoolState:
        memberships = list(session.scalars(select(Membership).where(Membership.school_id == school.id)
                                           .order_by(Membership.valid_from)))
        by_external = {m.external_id: m.account_id for m in memberships if m.external_id}
        current = {(m.account_id, m.role): m for m in memberships if m.current(today)}
        classes = {c.name: c for c in session.scalars(select(SchoolClass).where(
            SchoolClass.school_id == school.id, SchoolClass.school_year == school_year(today)))}
        people: dict[tuple, list[str]] = {}
        birthdates = sorted({r.birthdate for r in rows if r.external_id not in by_external})
        for part in chunks(birthdates, 500):
            query = select(Account.id, Account.given_name, Account.family_name, Account.birthdate).where(
                Account.birthdate.in_(part))
            for account_id, given, family, born in session.execute(query):
                people.setdefault(same_person_key(given, family, born), []).append(account_id)
        usernames = set(session.scalars(select(Account.username)))
        accounts = {}
        for part in chunks(sorted(set(by_external.values())), 500):  # loaded once, not a query per row
            query = select(Account).where(Account.id.in_(part)).options(noload(Account.memberships))
            accounts.update((a.id, a) for a in session.scalars(query))
        return SchoolState(school, today, by_external, current, classes, people, usernames, accounts)

    def _apply(self, session: Session, state: SchoolState, row: RosterRow, report: ImportReport) -> None:
        account_id = state.by_external_id.get(row.external_id)
        if account_id is None:
            candidates = state.people.get(same_person_key(row.given_name, row.family_name, row.birthdate), [])
            if len(candidates) > 1:
                report.uncertain.append(Rejection(row.line, f"{len(candidates)} existing leerIDs have this name "
                                                            "and birthdate; an administrator must choose"))
                return
            if candidates:
                account_id = candidates[0]
                state.arriving.add(account_id)
                report.matched += 1
            else:
                account_id = self._create_account(session, state, row)
                report.created += 1
            state.by_external_id[row.external_id] = account_id
        else:
            self._update_account(state, account_id, row, report)
        state.seen.add((account_id, row.role))
        self._place(session, state, account_id, row, report)

    @staticmethod
    def _create_account(session: Session, state: SchoolState, row: RosterRow) -> str:
        username = unique_username(base_username(row.given_name, row.family_name), state.usernames.__contains__)
        state.usernames.add(username)
        account = Account(id=str(uuid.uuid4()), username=username, password_hash=None, given_name=row.given_name,
                          family_name=row.family_name, role=row.role, birthdate=row.birthdate, email=row.email)
        session.add(account)
        return account.id

    @staticmethod
    def _update_account(state: SchoolState, account_id: str, row: RosterRow, report: ImportReport) -> None:
        account = state.accounts[account_id]
        fresh = {"given_name": row.given_name, "family_name": row.family_name, "birthdate": row.birthdate}
        if row.email:
            fresh["email"] = row.email
        changes = {k: v for k, v in fresh.items() if getattr(account, k) != v}
        if changes:
            for key, value in changes.items():
                setattr(account, key, value)
            report.updated += 1

    def _place(self, session: Session, state: SchoolState, account_id: str, row: RosterRow,
               report: ImportReport) -> None:
        """The membership this row describes: kept, or the old one ended and a new one begun."""
        school_class = self._school_class(session, state, row)
        current = state.current.get((account_id, row.role))
        if current is not None and current.class_id == (school_class.id if school_class else None) \
                and current.external_id == row.external_id:
            report.unchanged += 1
            return
        if current is not None:
            current.valid_until = day_before(state.today)
            report.moved += 1
        elif row.role == "pupil" and account_id in state.arriving:
            self._leave_other_schools(session, state, account_id)
        membership = Membership(account_id=account_id, school_id=state.school.id, role=row.role,
                                school_class=school_class, external_id=row.external_id, valid_from=state.today)
        session.add(membership)
        state.current[(account_id, row.role)] = membership

    @staticmethod
    def _school_class(session: Session, state: SchoolState, row: RosterRow) -> SchoolClass | None:
        if not row.class_name:
            return None
        found = state.classes.get(row.class_name)
        if found is None:
            found = SchoolClass(school=state.school, school_year=school_year(state.today), name=row.class_name,
                                grade=row.grade)
            session.add(found)
            session.flush()
            state.classes[row.class_name] = found
        elif row.grade is not None and found.grade is None:
            found.grade = row.grade
        return found

    @staticmethod
    def _leave_other_schools(session: Session, state: SchoolState, account_id: str) -> None:
        """A pupil belongs to one school at a time: arriving here ends the pupil membership elsewhere."""
        for other in session.scalars(select(Membership).where(
                Membership.account_id == account_id, Membership.role == "pupil",
                Membership.school_id != state.school.id)):
            if other.current(state.today):
                other.valid_until = day_before(state.today)

    @staticmethod
    def _end_leavers(state: SchoolState, rows: list[RosterRow], report: ImportReport) -> None:
        """People of the roster's roles who are no longer on it: their membership ends; the account stays."""
        roles = {row.role for row in rows}
        for (account_id, role), membership in state.current.items():
            if role in roles and (account_id, role) not in state.seen and membership.valid_until is None:
                membership.valid_until = day_before(state.today)
                report.ended += 1
