"""Consents: what a person (or, later, a parent for them) allowed a `consent`-basis platform to receive.

A consent holds for one version of the platform's release policy; a newer version asks again. One consent per
person and platform is active at a time: giving again withdraws the earlier one, and withdrawn rows are kept
(history). Withdrawing also ends every refresh grant the platform holds for the person.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, select, update
from sqlalchemy.orm import Mapped, mapped_column

from idp import audit
from idp.accounts import revoke_grants
from idp.db import Base, Database, UtcDateTime, utcnow


class Consent(Base):
    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_account_id_client_id", "account_id", "client_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"))
    policy_version: Mapped[int] = mapped_column(Integer)
    attributes: Mapped[list] = mapped_column(JSON)
    given_by: Mapped[str] = mapped_column(String(36))  # the account that decided: the person, or a parent
    given_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    def covers(self, attributes: Iterable[str]) -> bool:
        return set(attributes) <= set(self.attributes)


def _active(account_id: str, client_id: str) -> tuple:
    return Consent.account_id == account_id, Consent.client_id == client_id, Consent.withdrawn_at.is_(None)


class ConsentStore:
    def __init__(self, db: Database):
        self.db = db

    def current(self, account_id: str, client_id: str, version: int) -> Consent | None:
        """The person's active consent for the platform's policy `version`, or None (never given, withdrawn, or
        given for another version)."""
        with self.db.read() as session:
            consent = session.scalar(select(Consent).where(*_active(account_id, client_id))
                                     .order_by(Consent.id.desc()).limit(1))
            return consent if consent is not None and consent.policy_version == version else None

    def released_to(self, client, account_id: str) -> list[str] | None:
        """What the person's consent lets `client` receive: None when the platform's basis is a school agreement
        (no consent involved), else the current consent's attributes (none without one)."""
        if client.basis != "consent":
            return None
        consent = self.current(account_id, client.client_id, client.policy_version)
        return list(consent.attributes) if consent is not None else []

    def give(self, account_id: str, client_id: str, version: int, attributes: Iterable[str],
             given_by: str) -> Consent:
        """Record a consent, withdrawing the person's earlier one for the platform, with its audit record."""
        attributes = sorted(set(attributes))
        now = utcnow()
        with self.db.transaction() as session:
            session.execute(update(Consent).where(*_active(account_id, client_id)).values(withdrawn_at=now))
            consent = Consent(account_id=account_id, client_id=client_id, policy_version=version,
                              attributes=attributes, given_by=given_by, given_at=now)
            session.add(consent)
            audit.record(session, "consent_given", actor_id=given_by, subject_id=account_id, client_id=client_id,
                         detail={"attributes": attributes, "policy_version": version})
        return consent

    def withdraw(self, account_id: str, client_id: str, actor_id: str | None) -> bool:
        """The platform receives nothing more about the person: the consent ends and so does every refresh grant
        it holds for them. Whether there was an active consent to withdraw."""
        with self.db.transaction() as session:
            withdrawn = session.execute(update(Consent).where(*_active(account_id, client_id))
                                        .values(withdrawn_at=utcnow())).rowcount
            revoke_grants(session, account_id, "consent withdrawn", client_id=client_id)
            if withdrawn:
                audit.record(session, "consent_withdrawn", actor_id=actor_id, subject_id=account_id,
                             client_id=client_id)
        return bool(withdrawn)
