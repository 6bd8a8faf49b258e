"""MyData: what leerID holds and did about one person, for Mijn leerID (GDPR art. 15 and 20).

Every method takes the signed-in person's account id and reads only what is theirs: audit events naming them as
subject or actor, their own consents and memberships. Plain values out, never another person's Account.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from clients.consents import Consent, ConsentStore
from clients.models import Client
from idp import audit
from idp.accounts import Account
from idp.audit import AuditEvent
from idp.db import Database, utcnow
from idp.directory import school_year_label
from idp.errors import NotFound
from mandates.store import Mandate

RELEASE = "attributes_released"
EXPORTED = "data_exported"
PAGE_SIZE = 50
MAX_PAGE = 100_000
SECRET_WORDS = ("password", "secret", "hash", "code", "token", "otp")  # detail keys never shown or exported


@dataclass(frozen=True)
class Person:
    given_name: str
    name: str
    username: str


@dataclass(frozen=True)
class Platform:
    """A platform that received something about the person, or that they consented to."""

    client_id: str
    name: str
    purpose: str | None
    basis: str  # of the last release, else the platform's own: consent | school-agreement
    received: tuple[str, ...]  # the attributes of the last release
    last_received: datetime | None  # None: never received anything yet
    consented_at: datetime | None  # when the active consent was given; None: no active consent


@dataclass(frozen=True)
class Entry:
    """One line of the person's history."""

    at: datetime
    event: str
    platform: str | None
    attributes: tuple[str, ...]  # released (attributes_released) or consented to (consent_given)
    basis: str | None  # releases only
    by: str | None  # the name of who did it, when that was someone else
    by_me: bool  # the person did it themselves
    for_whom: str | None  # the name of who it was done for, when the person did it for someone else


@dataclass(frozen=True)
class History:
    entries: tuple[Entry, ...]
    page: int
    has_next: bool


def about(account_id: str):
    return or_(AuditEvent.subject_id == account_id, AuditEvent.actor_id == account_id)


def safe(detail: dict | None) -> dict:
    """An audit detail without anything that looks like a secret."""
    return {k: v for k, v in (detail or {}).items() if not any(word in k.lower() for word in SECRET_WORDS)}


def _released(event: AuditEvent) -> tuple[str, ...]:
    key = "claims" if event.event == RELEASE else "attributes"
    names = (event.detail or {}).get(key)
    return tuple(n for n in names if isinstance(n, str)) if isinstance(names, list) else ()


def _clients(session: Session, client_ids) -> dict[str, Client]:
    wanted = {c for c in client_ids if c}
    return {c.client_id: c for c in session.scalars(select(Client).where(Client.client_id.in_(wanted)))}


def _names(session: Session, account_ids) -> dict[str, str]:
    wanted = {a for a in account_ids if a}
    rows = session.execute(select(Account.id, Account.given_name, Account.family_name).where(Account.id.in_(wanted)))
    return {row.id: f"{row.given_name} {row.family_name}" for row in rows}


def _active_consents(session: Session, account_id: str) -> dict[str, Consent]:
    query = select(Consent).where(Consent.account_id == account_id, Consent.withdrawn_at.is_(None))
    return {c.client_id: c for c in session.scalars(query.order_by(Consent.id))}


class MyData:
    def __init__(self, db: Database, consents: ConsentStore,
                 on_withdraw: Callable[[str, str], object] | None = None):
        self.db = db
        self.consents = consents
        self.on_withdraw = on_withdraw  # (client_id, account_id): the platform's sessions for the person end

    def person(self, account_id: str) -> Person:
        with self.db.read() as session:
            account = session.get(Account, account_id)
            if account is None:
                raise NotFound(f"no account {account_id}")
            return Person(account.given_name, account.name, account.username)

    def platforms(self, account_id: str) -> list[Platform]:
        """Every platform that received something about the person (its last release), and every platform with
        their active consent; the most recent first."""
        last = select(func.max(AuditEvent.seq)).where(AuditEvent.subject_id == account_id,
                                                      AuditEvent.event == RELEASE).group_by(AuditEvent.client_id)
        with self.db.read() as session:
            releases = {e.client_id: e for e in session.scalars(select(AuditEvent).where(AuditEvent.seq.in_(last)))}
            consents = _active_consents(session, account_id)
            clients = _clients(session, set(releases) | set(consents))
        found = []
        for client_id in set(releases) | set(consents):
            client, release, consent = clients.get(client_id), releases.get(client_id), consents.get(client_id)
            basis = (release.detail or {}).get("basis") if release else None
            found.append(Platform(
                client_id, client.name if client else client_id,
                client.purpose if client and isinstance(client.purpose, str) else None,
                basis or (client.basis if client else "consent"), _released(release) if release else (),
                release.at if release else None, consent.given_at if consent else None))
        return sorted(found, key=lambda p: max(t for t in (p.last_received, p.consented_at) if t), reverse=True)

    def platform(self, account_id: str, client_id: str) -> Platform | None:
        """One platform of the person's list, or None when it is not on it."""
        return next((p for p in self.platforms(account_id) if p.client_id == client_id), None)

    def withdraw(self, account_id: str, client_id: str, actor_id: str) -> bool:
        """Withdraw the person's active consent for the platform (its refresh grants and its sessions end with it).
        Without one nothing changes, not even a school-agreement platform's grants; whether there was one.

        The sessions' end is queued first, so that an unreachable Redis refuses the whole withdrawal (fail closed);
        a logout sent for a withdrawal that then failed is harmless."""
        with self.db.read() as session:
            if client_id not in _active_consents(session, account_id):
                return False
        if self.on_withdraw is not None:
            self.on_withdraw(client_id, account_id)
        return self.consents.withdraw(account_id, client_id, actor_id=actor_id)

    def history(self, account_id: str, page: int = 1) -> History:
        """The events naming the person as subject or actor, newest first, PAGE_SIZE a page."""
        page = min(max(page, 1), MAX_PAGE)
        query = (select(AuditEvent).where(about(account_id)).order_by(AuditEvent.seq.desc())
                 .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1))
        with self.db.read() as session:
            events = list(session.scalars(query))
            clients = _clients(session, (e.client_id for e in events))
            names = _names(session, (i for e in events for i in (e.actor_id, e.subject_id) if i != account_id))
        entries = tuple(self._entry(e, account_id, clients, names) for e in events[:PAGE_SIZE])
        return History(entries, page, len(events) > PAGE_SIZE)

    def done_for_me(self, account_id: str) -> list[Entry]:
        """The latest events someone else did in the person's name (PAGE_SIZE), newest first."""
        query = (select(AuditEvent).where(AuditEvent.subject_id == account_id, AuditEvent.actor_id.is_not(None),
                                          AuditEvent.actor_id != account_id)
                 .order_by(AuditEvent.seq.desc()).limit(PAGE_SIZE))
        with self.db.read() as session:
            events = list(session.scalars(query))
            clients = _clients(session, (e.client_id for e in events))
            names = _names(session, (e.actor_id for e in events))
        return [self._entry(e, account_id, clients, names) for e in events]

    @staticmethod
    def _entry(event: AuditEvent, account_id: str, clients: dict, names: dict) -> Entry:
        client = clients.get(event.client_id)
        basis = None
        if event.event == RELEASE:
            basis = (event.detail or {}).get("basis") or (client.basis if client else None)
        someone_else = event.actor_id not in (None, account_id)
        for_other = event.subject_id not in (None, account_id)
        name = event.event
        if name == "login_failed" and (event.detail or {}).get("method") == "badge":
            name = "badge_login_failed"  # told apart in the history: no password was typed
        return Entry(event.at, name, client.name if client else event.client_id, _released(event), basis,
                     names.get(event.actor_id, "") if someone_else else None, event.actor_id == account_id,
                     names.get(event.subject_id, "") if for_other else None)

    def export(self, account_id: str) -> dict:
        """Everything leerID holds about the person, as one JSON-ready dict (no secrets); the export is audited."""
        with self.db.transaction() as session:
            account = session.get(Account, account_id)
            if account is None:
                raise NotFound(f"no account {account_id}")
            consents = list(session.scalars(select(Consent).where(Consent.account_id == account_id)
                                            .order_by(Consent.id)))
            events = list(session.scalars(select(AuditEvent).where(about(account_id)).order_by(AuditEvent.seq)))
            clients = _clients(session, [c.client_id for c in consents])
            data = {
                "exported_at": _iso(utcnow()),
                "account": _account(account),
                "memberships": [_membership(m) for m in account.memberships],
                "consents": [_consent(c, clients.get(c.client_id)) for c in consents],
                "mandates": [_mandate(m) for m in session.scalars(
                    select(Mandate).where(or_(Mandate.represented_id == account_id, Mandate.actor_id == account_id))
                    .order_by(Mandate.id))],
                "audit_events": [_event(e, account_id) for e in events],
            }
            audit.record(session, EXPORTED, actor_id=account_id, subject_id=account_id)
        return data


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _account(account: Account) -> dict:
    return {"id": account.id, "username": account.username, "given_name": account.given_name,
            "family_name": account.family_name, "birthdate": _iso(account.birthdate), "email": account.email,
            "role": account.role, "created": _iso(account.created_at)}


def _membership(m) -> dict:
    school_class = m.school_class
    return {"school": {"number": m.school.number, "name": m.school.name}, "role": m.role,
            "class": {"name": school_class.name, "school_year": school_year_label(school_class.school_year)}
            if school_class else None,
            "school_admin": bool(m.is_admin), "valid_from": _iso(m.valid_from), "valid_until": _iso(m.valid_until)}


def _consent(consent: Consent, client: Client | None) -> dict:
    return {"platform": {"client_id": consent.client_id, "name": client.name if client else None},
            "attributes": list(consent.attributes), "policy_version": consent.policy_version,
            "given_at": _iso(consent.given_at), "given_by": consent.given_by,
            "withdrawn_at": _iso(consent.withdrawn_at)}


def _mandate(mandate: Mandate) -> dict:
    return {"id": mandate.id, "type": mandate.type, "represented": mandate.represented_id, "actor": mandate.actor_id,
            "actions": list(mandate.actions), "platforms": mandate.clients, "valid_from": _iso(mandate.valid_from),
            "valid_until": _iso(mandate.valid_until), "state": mandate.state, "created_at": _iso(mandate.created_at),
            "changed_at": _iso(mandate.changed_at)}


def _event(event: AuditEvent, account_id: str) -> dict:
    """An event about the person; one they did for someone else without that other person's details."""
    theirs = event.subject_id not in (None, account_id)
    return {"at": _iso(event.at), "event": event.event, "actor": event.actor_id,
            "subject": None if theirs else event.subject_id, "for_someone_else": theirs, "client": event.client_id,
            "detail": {} if theirs else safe(event.detail)}
