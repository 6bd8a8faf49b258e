"""Mandates: who may act for whom, for which actions, until when.

A `parent` mandate lets a parent or guardian act for a minor child (it ends on the child's 18th birthday); a
`school` mandate lets a school's administration act for its pupils and staff; an `assistant` mandate is given by
an adult to someone they trust. A mandate allows some of the actions `login`, `consent`, `manage-account` and
`view-activity`, optionally at named platforms only, from one day to another (both inclusive). Revocation is
immediate; rows are never deleted (history), and every change is audited.
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, bindparam, or_, select
from sqlalchemy.orm import Mapped, mapped_column

from idp import audit
from idp.accounts import Account, AccountRepository, Standing
from idp.audit import AuditEvent
from idp.db import Base, Database, UtcDateTime, utcnow
from idp.directory import Membership, age_on, current_on
from idp.errors import InvalidInput, NotFound

TYPES = ("parent", "school", "assistant")
ACTIONS = ("login", "consent", "manage-account", "view-activity")
ADULT = 18


class Mandate(Base):
    __tablename__ = "mandates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    represented_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    actor_school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"))  # a `school` mandate's school
    type: Mapped[str] = mapped_column(String(16))
    actions: Mapped[list] = mapped_column(JSON)
    clients: Mapped[list | None] = mapped_column(JSON)  # None: every platform
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)  # the last day it holds
    state: Mapped[str] = mapped_column(String(16), default="active")  # proposed, active, revoked
    awaiting: Mapped[list | None] = mapped_column(JSON)  # parties still to accept: actor, represented, school
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(36))  # None: the operator
    changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    changed_by: Mapped[str | None] = mapped_column(String(36))

    def state_on(self, today: date, represented: Account) -> str:
        """proposed, active, revoked or expired, as it stands on `today`."""
        if self.state != "active":
            return self.state
        if self.valid_until is not None and today > self.valid_until:
            return "expired"
        if self.type == "parent" and represented.birthdate and age_on(represented.birthdate, today) >= ADULT:
            return "expired"
        return "active" if today >= self.valid_from else "proposed"

    def allows(self, action: str, client_id: str | None = None) -> bool:
        """Whether the mandate covers `action` (at the platform `client_id`)."""
        return action in self.actions and (client_id is None or not self.clients or client_id in self.clients)


@dataclass(frozen=True)
class Held:
    """A mandate as it stands today, with both parties."""

    mandate: Mandate
    represented: Account
    actor: Account | None
    state: str


# An SSO hop's standing (MandateStore.standing): the account, its memberships, and whether it holds an active mandate.
STANDING = (select(Account.disabled_at, Membership.role, Membership.school_id,
                   select(Mandate.id).where(Mandate.actor_id == Account.id, Mandate.state == "active").exists()
                   .label("holds"))
            .outerjoin(Membership, (Membership.account_id == Account.id) & current_on(bindparam("today", type_=Date)))
            .where(Account.id == bindparam("account_id")))


class MandateStore:
    def __init__(self, db: Database, on_revoke: Callable[[Mandate, list[str]], object] | None = None):
        self.db = db
        self.on_revoke = on_revoke  # (mandate, platforms it was used at): their delegated sessions end

    def grant(self, represented: str, actor: str, kind: str, actions: list[str] | None = None,
              clients: list[str] | None = None, valid_from: date | None = None, valid_until: date | None = None,
              granted_by: str | None = None) -> Held:
        """An active mandate registered by the operator (usernames; for a `school` mandate `actor` is the school's
        number), audited."""
        return self._make(represented, actor, kind, actions, clients, valid_from, valid_until, granted_by, ())

    def propose(self, represented: str, actor: str, kind: str, proposed_by: str, actions: list[str] | None = None,
                clients: list[str] | None = None, valid_from: date | None = None, valid_until: date | None = None,
                by_school: bool = False) -> Held:
        """A mandate that holds once every party that must accept it has: the actor always (unless they proposed
        it), the represented adult for an `assistant` mandate (unless they proposed it), and the school for a
        `parent` mandate it did not register itself (`by_school`)."""
        with self.db.read() as session:
            accounts = AccountRepository(session)
            who, by = accounts.find_by_username(represented or ""), accounts.find_by_username(actor or "")
            parties = {"actor": by.id if by else None, "represented": who.id if who else None}
        awaiting = [party for party, needed in (  # a parent the school registered accepts with the letter's code
            ("actor:code" if by_school else "actor", parties["actor"] != proposed_by),
            ("represented", kind == "assistant" and parties["represented"] != proposed_by),
            ("school", kind == "parent" and not by_school)) if needed]
        return self._make(represented, actor, kind, actions, clients, valid_from, valid_until, proposed_by, awaiting)

    def accept(self, mandate_id: int, account_id: str, for_school: int | None = None, with_code: bool = False) -> Held:
        """The party `account_id` stands for (or its school, `for_school`) accepts; the mandate holds once all
        have. A parent the school registered accepts only with the letter's code (`with_code`, MandateLinks).
        Anyone else changes nothing: NotFound, like a mandate that does not exist."""
        with self.db.transaction() as session:
            mandate = session.get(Mandate, mandate_id, with_for_update=True, populate_existing=True)
            party = _party(session, mandate, account_id, for_school) if mandate is not None else None
            if party == "actor" and with_code:
                party = "actor:code"
            if party is None or mandate.state != "proposed" or party not in (mandate.awaiting or ()):
                raise NotFound(f"no mandate {mandate_id} waiting for you")
            mandate.awaiting = [p for p in mandate.awaiting if p != party]
            mandate.changed_at, mandate.changed_by = utcnow(), account_id
            if not mandate.awaiting:
                mandate.state = "active"
            audit.record(session, "mandate_accepted", actor_id=account_id, subject_id=mandate.represented_id,
                         detail={"mandate": mandate.id, "as": party, "state": mandate.state})
            return self._held(session, mandate, date.today())

    def decline(self, mandate_id: int, account_id: str) -> Held:
        """The party `account_id` stands for says no: the proposed mandate never holds (revoked). Anyone else
        changes nothing: NotFound, like a mandate that does not exist."""
        with self.db.transaction() as session:
            mandate = session.get(Mandate, mandate_id, with_for_update=True, populate_existing=True)
            party = _side(mandate, account_id) if mandate is not None else None
            if party is None or mandate.state != "proposed" or party not in (mandate.awaiting or ()):
                raise NotFound(f"no mandate {mandate_id} waiting for you")
            mandate.state, mandate.changed_at, mandate.changed_by = "revoked", utcnow(), account_id
            audit.record(session, "mandate_declined", actor_id=account_id, subject_id=mandate.represented_id,
                         detail={"mandate": mandate.id, "as": party, "to": mandate.actor_id, "type": mandate.type})
            return self._held(session, mandate, date.today())

    def waiting_for(self, account_id: str) -> list[Held]:
        """The proposed mandates that wait for this person's acceptance (as actor or as represented)."""
        query = select(Mandate).where(Mandate.state == "proposed",
                                      or_(Mandate.actor_id == account_id, Mandate.represented_id == account_id))
        today = date.today()
        with self.db.read() as session:
            found = [self._held(session, m, today) for m in session.scalars(query)]
        return [h for h in found if _side(h.mandate, account_id) in (h.mandate.awaiting or ())]  # not actor:code

    def _make(self, represented: str, actor: str, kind: str, actions, clients, valid_from, valid_until,
              created_by: str | None, awaiting) -> Held:
        if kind not in TYPES:
            raise InvalidInput(f"mandate type must be one of {', '.join(TYPES)}, got {kind!r}")
        actions = list(dict.fromkeys(actions or ACTIONS))
        if unknown := [a for a in actions if a not in ACTIONS]:
            raise InvalidInput(f"unknown mandate scope {unknown[0]!r}; use {', '.join(ACTIONS)}")
        today = date.today()
        valid_from = valid_from or min(today, valid_until or today)  # one that ended already starts when it ends
        if valid_until is not None and valid_until < valid_from:
            raise InvalidInput("the mandate would end before it begins")
        with self.db.transaction() as session:
            accounts = AccountRepository(session)
            who = accounts.find_by_username(represented or "")
            if who is None:
                raise NotFound(f"no account {represented!r}")
            by, school = self._actor(session, kind, actor)
            if by is not None and who.id == by.id:
                raise InvalidInput("nobody holds a mandate for themselves")
            adult = who.birthdate is None or age_on(who.birthdate, today) >= ADULT
            if kind == "parent" and who.birthdate is None:
                raise InvalidInput(f"{who.username} has no birthdate: a parent mandate ends at 18 and needs it")
            if kind == "parent" and adult:
                raise InvalidInput(f"{who.username} is an adult: a parent mandate is for a minor")
            if kind == "assistant" and by is not None and not _adult(by, today):
                raise InvalidInput(f"{by.username} cannot be an assistant: an assistant is an adult")
            if kind == "assistant" and not adult:
                raise InvalidInput(f"{who.username} is a minor: an assistant is chosen by an adult")
            if clients and (missing := [c for c in clients if session.get(_client_model(), c) is None]):
                raise NotFound(f"no platform with client_id {missing[0]!r}")
            mandate = Mandate(represented_id=who.id, actor_id=by.id if by else None,
                              actor_school_id=school.id if school else None, type=kind, actions=actions,
                              clients=list(dict.fromkeys(clients)) if clients else None, valid_from=valid_from,
                              valid_until=valid_until, state="proposed" if awaiting else "active",
                              awaiting=list(awaiting) or None, created_by=created_by)
            session.add(mandate)
            session.flush()
            audit.record(session, "mandate_proposed" if awaiting else "mandate_granted", actor_id=created_by,
                         subject_id=who.id, school_id=school.id if school else None,
                         detail={"mandate": mandate.id, "to": by.id if by else None, "type": kind,
                                 "actions": actions, "clients": mandate.clients, "from": valid_from.isoformat(),
                                 "until": valid_until.isoformat() if valid_until else None,
                                 "awaiting": list(awaiting)})
            return self._held(session, mandate, today)

    @staticmethod
    def _actor(session, kind: str, actor: str):
        """(the acting account, or None; the acting school for a `school` mandate, or None)."""
        accounts = AccountRepository(session)
        if kind == "school":
            school = accounts.find_school((actor or "").strip())
            if school is None:
                raise NotFound(f"no school with number {actor!r}")
            return None, school
        by = accounts.find_by_username(actor or "")
        if by is None:
            raise NotFound(f"no account {actor!r}")
        return by, None

    def revoke(self, mandate_id: int, revoked_by: str | None = None) -> Held:
        """Ends the mandate at once; revoking one that ended already changes nothing."""
        with self.db.transaction() as session:
            mandate = session.get(Mandate, mandate_id, with_for_update=True, populate_existing=True)
            if mandate is None:
                raise NotFound(f"no mandate {mandate_id}")
            if mandate.state != "revoked":
                mandate.state, mandate.changed_at, mandate.changed_by = "revoked", utcnow(), revoked_by
                audit.record(session, "mandate_revoked", actor_id=revoked_by, subject_id=mandate.represented_id,
                             detail={"mandate": mandate.id, "to": mandate.actor_id, "type": mandate.type})
                if self.on_revoke is not None:  # queued with the revocation: a failure refuses both
                    self.on_revoke(mandate, used_at(session, mandate))
            return self._held(session, mandate, date.today())

    def sweep(self, today: date | None = None) -> list[Held]:
        """Mandates whose time is over (last day passed, or the child turned 18, or a school mandate whose
        person left the school) are marked expired, audited, and the platforms where they were used hear that
        those delegated sessions ended (`on_revoke`). Delegated tokens stop at the end already; run this daily."""
        today = today or date.today()
        candidates = select(Mandate.id).where(Mandate.state == "active", or_(  # those that can have ended
            Mandate.valid_until < today, Mandate.type.in_(("parent", "school"))))
        with self.db.read() as session:
            ids = list(session.scalars(candidates))
        ended = []
        for mandate_id in ids:  # one short transaction each: revocations and logins never wait on the sweep
            with self.db.transaction() as session:
                mandate = session.get(Mandate, mandate_id, with_for_update=True, populate_existing=True)
                held = self._held(session, mandate, today)
                if mandate.state != "active" or held.state != "expired":
                    continue
                mandate.state, mandate.changed_at = "expired", utcnow()
                audit.record(session, "mandate_expired", subject_id=mandate.represented_id,
                             detail={"mandate": mandate.id, "to": mandate.actor_id, "type": mandate.type})
                if self.on_revoke is not None:
                    self.on_revoke(mandate, used_at(session, mandate))
                ended.append(held)
        return ended

    def list(self, account_id: str | None = None) -> list[Held]:
        """Every mandate (or those in which the account is either party), newest first."""
        query = select(Mandate).order_by(Mandate.id.desc())
        if account_id is not None:
            query = query.where(or_(Mandate.represented_id == account_id, Mandate.actor_id == account_id))
        today = date.today()
        with self.db.read() as session:
            return [self._held(session, m, today) for m in session.scalars(query)]

    def standing(self, account_id: str, today: date | None = None) -> Standing:
        """The person's standing for an SSO hop: active, current roles and schools, and whether they hold a
        mandate at all (only then does `represented_by` need to look), from one query of plain columns."""
        rows = self.db.rows(STANDING, account_id=account_id, today=today or date.today())
        if not rows or rows[0].disabled_at is not None:
            return Standing(active=False)
        current = [r for r in rows if r.role is not None]  # the memberships current today
        return Standing(True, frozenset(r.role for r in current), frozenset(r.school_id for r in current),
                        bool(rows[0].holds))

    def represented_by(self, actor_id: str, action: str, client_id: str | None = None,
                       today: date | None = None) -> list[Held]:
        """The people `actor_id` may act for today, for `action` (at `client_id`)."""
        today = today or date.today()
        query = select(Mandate).where(Mandate.actor_id == actor_id, Mandate.state == "active")
        with self.db.read() as session:
            held = [self._held(session, m, today) for m in session.scalars(query)]
        return [h for h in held if h.state == "active" and h.mandate.allows(action, client_id)
                and h.represented.disabled_at is None]

    def holders(self, represented_id: str, action: str, kind: str | None = None,
                today: date | None = None) -> list[Held]:
        """Who may act for `represented_id` today, for `action`."""
        today = today or date.today()
        query = select(Mandate).where(Mandate.represented_id == represented_id, Mandate.state == "active")
        with self.db.read() as session:
            held = [self._held(session, m, today) for m in session.scalars(query)]
        return [h for h in held if h.state == "active" and h.mandate.allows(action)
                and (kind is None or h.mandate.type == kind)]

    def in_force(self, mandate_id, today: date | None = None) -> bool:
        """Whether the mandate holds today: delegated tokens stop the moment it is revoked or ends."""
        if type(mandate_id) is not int:
            return False
        with self.db.read() as session:
            mandate = session.get(Mandate, mandate_id)
            if mandate is None:
                return False
            held = self._held(session, mandate, today or date.today())
            return held.state == "active" and (held.actor is None or held.actor.disabled_at is None)

    def may(self, actor_id: str, represented_id: str, action: str, kind: str | None = None) -> Held | None:
        """The mandate that lets `actor_id` do `action` for `represented_id` today, or None."""
        return next((h for h in self.holders(represented_id, action, kind) if h.mandate.actor_id == actor_id), None)

    # --- for the school console and parents' link letters (idp/school_mandates.py, mandates/links.py) ---

    def within(self, session) -> MandateStore:
        """This store working inside the caller's open transaction: its steps commit or roll back with the
        caller's other writes (a school's checks, a letter's code)."""
        return MandateStore(_Joined(session), self.on_revoke)

    @classmethod
    def held(cls, session, mandate: Mandate, today: date) -> Held:
        """The mandate as it stands on `today`, with both parties (read in the caller's session)."""
        return cls._held(session, mandate, today)

    @staticmethod
    def _held(session, mandate: Mandate, today: date) -> Held:
        represented = session.get(Account, mandate.represented_id)
        actor = session.get(Account, mandate.actor_id) if mandate.actor_id else None
        state = mandate.state_on(today, represented)
        if state == "active" and mandate.type == "school" and not _at_school(session, mandate, today):
            state = "expired"  # a school acts for its pupils and staff only while they belong to it
        return Held(mandate, represented, actor, state)


class _Joined:
    """A Database stand-in whose units of work are one open session: the caller's transaction."""

    def __init__(self, session):
        self.session = session

    def transaction(self):
        return nullcontext(self.session)

    read = transaction


def _client_model():
    from clients.models import Client

    return Client


def _side(mandate: Mandate, account_id: str) -> str | None:
    if mandate.actor_id == account_id:
        return "actor"
    return "represented" if mandate.represented_id == account_id else None


def _party(session, mandate: Mandate, account_id: str, for_school: int | None) -> str | None:
    """Which party of the mandate `account_id` accepts for: itself, or the represented pupil's school when
    `for_school` is that school (the console checks that the account administers it)."""
    if for_school is not None:
        return "school" if _member(session, mandate.represented_id, for_school, date.today()) else None
    return _side(mandate, account_id)


def _at_school(session, mandate: Mandate, today: date) -> bool:
    return _member(session, mandate.represented_id, mandate.actor_school_id, today)


def _member(session, account_id: str, school_id: int | None, today: date) -> bool:
    return school_id is not None and session.scalar(select(Membership.id).where(
        Membership.account_id == account_id, Membership.school_id == school_id, current_on(today)).limit(1)) \
        is not None


def used_at(session, mandate: Mandate) -> list[str]:
    """The platforms where the actor logged in for the represented person, or exchanged a token for them."""
    query = select(AuditEvent.client_id).where(
        AuditEvent.event.in_(("mandate_used", "token_exchanged")), AuditEvent.actor_id == mandate.actor_id,
        AuditEvent.subject_id == mandate.represented_id, AuditEvent.client_id.is_not(None)).distinct()
    return list(session.scalars(query)) if mandate.actor_id else []


def _adult(account: Account, today: date) -> bool:
    """18 or older; without a birthdate, anyone but a pupil."""
    if account.birthdate is None:
        return account.role != "pupil"
    return age_on(account.birthdate, today) >= ADULT
