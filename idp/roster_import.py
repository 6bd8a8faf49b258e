"""RosterImporter: applies a parsed roster to the directory in one transaction (or none, for a dry run).

`run` takes a whole roster (who is missing from it leaves); `enrol` and `leave` change one person inside the
caller's transaction (SCIM); `resolve_review` settles a row that was held back as an uncertain match.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, noload

from idp import audit
from idp.accounts import Account, AccountRepository
from idp.db import Database, utcnow
from idp.directory import (
    Membership,
    ParentEmail,
    RosterReview,
    School,
    SchoolClass,
    school_year,
)
from idp.errors import InvalidInput, NotFound
from idp.school_scope import current_on
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


@dataclass(frozen=True)
class Enrolment:
    account_id: str | None  # None when held for review
    created: bool = False  # a new account was made
    held: bool = False  # several leerIDs could be this person: put on the review list, nothing else changed


@dataclass
class SchoolState:
    """What the school's directory holds now, loaded once so that a big roster needs few queries."""

    school: School
    today: date
    by_external_id: dict[str, str]
    current: dict[tuple[str, str], Membership]
    classes: dict[str, SchoolClass]
    people: dict[tuple, list[str]]
    taken: Callable[[str], bool]  # whether a username is in use
    accounts: dict[str, Account]
    parents: dict[str, set[str]]  # the parents' e-mail addresses this school gave, per pupil
    reviews: dict[str, RosterReview]  # open review rows by external id
    elsewhere: set[str]  # of the accounts concerned, those that belong to another school today
    seen: set[tuple[str, str]] = field(default_factory=set)
    arriving: set[str] = field(default_factory=set)  # leerIDs that came from elsewhere in this import
    new_usernames: set[str] = field(default_factory=set)


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

    def enrol(self, session: Session, school: School, row: RosterRow, today: date) -> Enrolment:
        """One person onto the school's roster inside the caller's transaction; no one else's membership ends.

        Someone the school already has (by external id) gets names and e-mail updated and is moved to the
        row's class and role; someone new here is matched with the leerID they already have, or gets one.
        """
        state = self._load(session, school, [row], today, narrow=True)
        report = ImportReport(school=school.number)
        self._apply(session, state, row, report)
        if report.uncertain:
            return Enrolment(None, held=True)
        return Enrolment(state.by_external_id[row.external_id], created=bool(report.created))

    @staticmethod
    def leave(session: Session, school: School, account_id: str, today: date) -> int:
        """End the person's current memberships at this school (the last day is yesterday); how many ended."""
        ended = 0
        for membership in session.scalars(select(Membership).where(
                Membership.account_id == account_id, Membership.school_id == school.id)):
            if membership.current(today):
                membership.valid_until = day_before(today)
                ended += 1
        return ended

    def open_reviews(self, school_number: str | None = None) -> list[dict]:
        """The rows held back for review (of one school, or all), each with the leerIDs it could be."""
        with self.db.read() as session:
            query = select(RosterReview).where(RosterReview.resolved_at.is_(None)).order_by(RosterReview.id)
            if school_number is not None:
                school = AccountRepository(session).find_school(school_number)
                if school is None:
                    raise NotFound(f"no school with number {school_number}")
                query = query.where(RosterReview.school_id == school.id)
            found = []
            for review in session.scalars(query):
                candidates = session.scalars(select(Account).where(Account.id.in_(review.candidates))
                                             .order_by(Account.username))
                found.append({"id": review.id, "school": review.school.number, "external_id": review.external_id,
                              "row": review.row, "candidates": [candidate_summary(a) for a in candidates]})
            return found

    def resolve_review(self, review_id: int, username: str | None, *, actor_id: str | None = None,
                       today: date | None = None) -> RosterReview:
        """Settle a held-back row: it is the existing leerID `username` (one of the candidates), or, with
        None, a new person. The row is then applied like any roster row."""
        today = today or date.today()
        with self.db.transaction() as session:
            review = session.get(RosterReview, review_id)
            if review is None or review.resolved_at is not None:
                raise NotFound(f"no open review {review_id}")
            row = review_row(review)
            chosen = None
            if username is not None:
                chosen = AccountRepository(session).find_by_username(username.strip().lower())
                if chosen is None or chosen.id not in review.candidates:
                    raise InvalidInput(f"{username!r} is not one of the leerIDs this row could be")
            state = self._load(session, review.school, [row], today, narrow=True)
            report = ImportReport(school=review.school.number)
            self._apply(session, state, row, report, decided=chosen.id if chosen else "new")
            review.resolved_at, review.resolved_by = utcnow(), actor_id
            review.account_id = state.by_external_id[row.external_id]
            audit.record(session, "roster_review_resolved", actor_id=actor_id, subject_id=review.account_id,
                         school_id=review.school_id, detail={"review": review.id, "new": chosen is None})
            return review

    @staticmethod
    def _load(session: Session, school: School, rows: list[RosterRow], today: date, *,
              narrow: bool = False) -> SchoolState:
        """The school's state; `narrow`: only what concerns `rows` (one person), not the whole school."""
        query = select(Membership).where(Membership.school_id == school.id)
        if narrow:
            people = RosterImporter._people(session, rows)
            candidates = [a for r in rows for a in people.get(same_person_key(r.given_name, r.family_name,
                                                                              r.birthdate), [])]
            known_here = select(Membership.account_id).where(
                Membership.school_id == school.id, Membership.external_id.in_([r.external_id for r in rows]))
            query = query.where(Membership.account_id.in_(known_here) | Membership.account_id.in_(candidates))
        memberships = list(session.scalars(query.order_by(Membership.valid_from)))
        by_external = {m.external_id: m.account_id for m in memberships if m.external_id}
        if not narrow:
            people = RosterImporter._people(session, [r for r in rows if r.external_id not in by_external])
        current = {(m.account_id, m.role): m for m in memberships if m.current(today)}
        classes = {c.name: c for c in session.scalars(select(SchoolClass).where(
            SchoolClass.school_id == school.id, SchoolClass.school_year == school_year(today)))}
        if narrow:
            def taken(name: str) -> bool:
                return session.scalar(select(Account.id).where(Account.username == name)) is not None
        else:
            taken = set(session.scalars(select(Account.username))).__contains__
        accounts = {}
        for part in chunks(sorted(set(by_external.values())), 500):  # loaded once, not a query per row
            query = select(Account).where(Account.id.in_(part)).options(noload(Account.memberships))
            accounts.update((a.id, a) for a in session.scalars(query))
        parents: dict[str, set[str]] = {}
        for part in chunks(sorted(set(by_external.values())), 500):
            for account_id, email in session.execute(select(ParentEmail.account_id, ParentEmail.email).where(
                    ParentEmail.school_id == school.id, ParentEmail.account_id.in_(part))):
                parents.setdefault(account_id, set()).add(email)
        reviews = {r.external_id: r for r in session.scalars(select(RosterReview).where(
            RosterReview.school_id == school.id, RosterReview.resolved_at.is_(None)))}
        concerned = {a for found in people.values() for a in found} | set(by_external.values())
        elsewhere = set()
        for part in chunks(sorted(concerned), 500):
            elsewhere.update(session.scalars(select(Membership.account_id).where(
                Membership.account_id.in_(part), Membership.school_id != school.id, current_on(today))))
        return SchoolState(school, today, by_external, current, classes, people, taken, accounts, parents, reviews,
                           elsewhere)

    @staticmethod
    def _people(session: Session, rows: list[RosterRow]) -> dict[tuple, list[str]]:
        """The leerIDs that could be the people of `rows`, by name and birthdate."""
        people: dict[tuple, list[str]] = {}
        for part in chunks(sorted({r.birthdate for r in rows}), 500):
            query = select(Account.id, Account.given_name, Account.family_name, Account.birthdate).where(
                Account.birthdate.in_(part))
            for account_id, given, family, born in session.execute(query):
                people.setdefault(same_person_key(given, family, born), []).append(account_id)
        return people

    def _apply(self, session: Session, state: SchoolState, row: RosterRow, report: ImportReport,
               decided: str | None = None) -> None:
        """`decided`: an account id, or "new", chosen for a row that was held back for review."""
        account_id = state.by_external_id.get(row.external_id)
        if account_id is None:
            candidates = state.people.get(same_person_key(row.given_name, row.family_name, row.birthdate), [])
            if decided is not None:
                candidates = [] if decided == "new" else [decided]
            if len(candidates) > 1 or (candidates and decided is None and candidates[0] in state.elsewhere):
                # Several could be them, or the one who could is another school's today: a person decides.
                report.uncertain.append(Rejection(row.line, "this person may already have a leerID; held for "
                                                            "review by the leerID helpdesk"))
                self._hold(session, state, row, candidates)
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
        self._keep_parents(session, state, account_id, row)

    @staticmethod
    def _hold(session: Session, state: SchoolState, row: RosterRow, candidates: list[str]) -> None:
        """Put the row on the school's review list (once: a re-import refreshes the open entry)."""
        data = review_data(row)
        review = state.reviews.get(row.external_id)
        if review is None:
            review = RosterReview(school_id=state.school.id, external_id=row.external_id, row=data,
                                  candidates=sorted(candidates))
            session.add(review)
            state.reviews[row.external_id] = review
        elif (review.row, review.candidates) != (data, sorted(candidates)):
            review.row, review.candidates = data, sorted(candidates)

    @staticmethod
    def _keep_parents(session: Session, state: SchoolState, account_id: str, row: RosterRow) -> None:
        """The parents' e-mail addresses become what this school's row says (other schools' stay)."""
        wanted, known = set(row.parent_emails), state.parents.get(account_id, set())
        if wanted == known:
            return
        if known - wanted:
            session.execute(delete(ParentEmail).where(ParentEmail.account_id == account_id,
                                                      ParentEmail.school_id == state.school.id,
                                                      ParentEmail.email.in_(sorted(known - wanted))))
        session.add_all(ParentEmail(account_id=account_id, school_id=state.school.id, email=email)
                        for email in sorted(wanted - known))
        state.parents[account_id] = wanted

    @staticmethod
    def _create_account(session: Session, state: SchoolState, row: RosterRow) -> str:
        username = unique_username(base_username(row.given_name, row.family_name),
                                   lambda name: name in state.new_usernames or state.taken(name))
        state.new_usernames.add(username)
        account = Account(id=str(uuid.uuid4()), username=username, password_hash=None, given_name=row.given_name,
                          family_name=row.family_name, role=row.role, birthdate=row.birthdate, email=row.email)
        session.add(account)
        return account.id

    @staticmethod
    def _update_account(state: SchoolState, account_id: str, row: RosterRow, report: ImportReport) -> None:
        """Names, birthdate and e-mail as the school has them; not for someone another school shares today
        (one school must not change what the other sees: the helpdesk corrects those)."""
        if account_id in state.elsewhere:
            return
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
        if current is not None and current.valid_from >= state.today:  # begun today: corrected, no history
            current.school_class, current.external_id = school_class, row.external_id
            report.moved += 1
            return
        if current is not None:
            current.valid_until = day_before(state.today)
            report.moved += 1
        elif row.role == "pupil" and account_id in state.arriving:
            self._leave_other_schools(session, state, account_id)
        membership = Membership(account_id=account_id, school_id=state.school.id, role=row.role,
                                school_class=school_class, external_id=row.external_id, valid_from=state.today,
                                is_admin=current.is_admin if current is not None else False)
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


def review_data(row: RosterRow) -> dict:
    """What the school said about the person, kept on the review list until someone decides."""
    return {"given_name": row.given_name, "family_name": row.family_name, "birthdate": row.birthdate.isoformat(),
            "role": row.role, "class_name": row.class_name, "grade": row.grade, "email": row.email,
            "parent_emails": list(row.parent_emails), "line": row.line}


def review_row(review: RosterReview) -> RosterRow:
    data = review.row
    return RosterRow(data.get("line", 0), review.external_id, data["given_name"], data["family_name"],
                     date.fromisoformat(data["birthdate"]), data["role"], data.get("class_name"), data.get("grade"),
                     data.get("email"), tuple(data.get("parent_emails", ())))


def candidate_summary(account: Account) -> dict:
    """What an operator needs to tell look-alikes apart: username, name, birthdate and current schools."""
    today = date.today()
    return {"username": account.username, "name": account.name, "birthdate": account.birthdate.isoformat(),
            "active": account.disabled_at is None,
            "schools": sorted({m.school.number for m in account.memberships if m.current(today)})}
