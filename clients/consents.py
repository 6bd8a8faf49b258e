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

from clients.models import Client
from idp import audit
from idp.accounts import revoke_grants
from idp.db import Base, Database, UtcDateTime, utcnow
from idp.errors import LeerIDError


class RequestGone(LeerIDError):
    """No such pending consent request for this parent."""


class RequestChanged(LeerIDError):
    """The request, or the platform's policy, changed since the parent saw it."""


class Consent(Base):
    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_account_id_client_id", "account_id", "client_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"))
    policy_version: Mapped[int] = mapped_column(Integer)
    attributes: Mapped[list] = mapped_column(JSON)  # what the platform may receive
    declined: Mapped[list | None] = mapped_column(JSON)  # optional attributes the person unticked
    given_by: Mapped[str] = mapped_column(String(36))  # the account that decided: the person, or a parent
    given_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    def covers(self, attributes: Iterable[str]) -> bool:
        """Whether the person decided on each of `attributes` already: allowed it, or declined it (optional)."""
        return set(attributes) <= set(self.attributes) | set(self.declined or ())


class ConsentRequest(Base):
    """A young pupil's request for a parent's consent, waiting for the parent's decision."""

    __tablename__ = "consent_requests"
    __table_args__ = (Index("ix_consent_requests_account_id_status", "account_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"))
    policy_version: Mapped[int] = mapped_column(Integer)
    attributes: Mapped[list] = mapped_column(JSON)  # what the platform asked for
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, approved, refused
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(36))


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
             given_by: str, declined: Iterable[str] = ()) -> Consent:
        """Record a consent, withdrawing the person's earlier one for the platform, with its audit record.
        `declined`: optional attributes the person unticked; the platform does not receive them."""
        with self.db.transaction() as session:
            return self._give(session, account_id, client_id, version, attributes, given_by, declined)

    @staticmethod
    def _give(session, account_id: str, client_id: str, version: int, attributes: Iterable[str], given_by: str,
              declined: Iterable[str] = ()) -> Consent:
        declined = sorted(set(declined))
        attributes = sorted(set(attributes) - set(declined))
        now = utcnow()
        session.execute(update(Consent).where(*_active(account_id, client_id)).values(withdrawn_at=now))
        consent = Consent(account_id=account_id, client_id=client_id, policy_version=version,
                          attributes=attributes, declined=declined or None, given_by=given_by, given_at=now)
        session.add(consent)
        audit.record(session, "consent_given", actor_id=given_by, subject_id=account_id, client_id=client_id,
                     detail={"attributes": attributes, "declined": declined, "policy_version": version})
        return consent

    # --- a parent's consent for a young pupil ---

    def ask_parent(self, account_id: str, client_id: str, version: int, attributes: Iterable[str]) -> ConsentRequest:
        """The pupil's request for the platform, pending for a parent: one per pupil and platform at a time; a new
        login asking for more adds to it."""
        attributes = set(attributes)
        with self.db.transaction() as session:
            request = session.scalar(select(ConsentRequest).where(
                ConsentRequest.account_id == account_id, ConsentRequest.client_id == client_id,
                ConsentRequest.status == "pending").with_for_update())
            if request is not None:
                earlier = set(request.attributes) if request.policy_version == version else set()
                if request.policy_version != version or not attributes <= earlier:
                    request.policy_version, request.attributes = version, sorted(attributes | earlier)
                return request
            request = ConsentRequest(account_id=account_id, client_id=client_id, policy_version=version,
                                     attributes=sorted(attributes), status="pending", requested_at=utcnow())
            session.add(request)
            session.flush()
            audit.record(session, "consent_requested", actor_id=account_id, subject_id=account_id,
                         client_id=client_id, detail={"request": request.id, "attributes": request.attributes,
                                                      "policy_version": version})
            return request

    def last_request(self, account_id: str, client_id: str) -> ConsentRequest | None:
        with self.db.read() as session:
            return session.scalar(select(ConsentRequest).where(ConsentRequest.account_id == account_id,
                                                               ConsentRequest.client_id == client_id)
                                  .order_by(ConsentRequest.id.desc()).limit(1))

    def pending_for(self, account_ids: Iterable[str]) -> list[ConsentRequest]:
        ids = list(account_ids)
        if not ids:
            return []
        with self.db.read() as session:
            return list(session.scalars(select(ConsentRequest).where(ConsentRequest.account_id.in_(ids),
                                                                     ConsentRequest.status == "pending")
                                        .order_by(ConsentRequest.id)))

    def decide(self, request_id: int, approve: bool, parent_id: str, may_decide, shown: tuple[int, list[str]],
               declined: Iterable[str] = ()) -> ConsentRequest:
        """The parent's decision on a pending request, exactly as it was shown to them: `shown` is the policy
        version and the attributes on their page. `may_decide(account_id, client_id)`: whether this parent may
        decide for that pupil at that platform (a parent mandate with `consent`).

        Raises RequestGone when no such pending request is theirs (decided meanwhile, or never theirs), and
        RequestChanged when the request or the platform's policy changed since the page was shown."""
        with self.db.transaction() as session:
            claimed = session.execute(  # first, so that of two decisions at once exactly one goes on
                update(ConsentRequest).where(ConsentRequest.id == request_id, ConsentRequest.status == "pending")
                .values(status="approved" if approve else "refused", decided_at=utcnow(), decided_by=parent_id)
            ).rowcount == 1
            request = session.get(ConsentRequest, request_id) if claimed else None
            if request is None or not may_decide(request.account_id, request.client_id):
                raise RequestGone(request_id)  # rolls the claim back
            version = session.scalar(select(Client.policy_version).where(Client.client_id == request.client_id))
            if (request.policy_version, sorted(request.attributes)) != (shown[0], sorted(shown[1])) \
                    or (approve and version != request.policy_version):
                raise RequestChanged(request_id)
            if approve:
                declined = set(declined) & set(request.attributes)
                self._give(session, request.account_id, request.client_id, request.policy_version,
                           request.attributes, parent_id, declined)
            else:
                audit.record(session, "consent_refused", actor_id=parent_id, subject_id=request.account_id,
                             client_id=request.client_id, detail={"request": request.id})
            return request

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
