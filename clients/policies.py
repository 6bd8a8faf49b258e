"""Release policies: what a platform may receive about people, why, for what purpose, on which basis.

Like an authorisation (machtiging) to receive personal data, each platform has a policy: the attributes (each
with its own justification, shown to people, and whether the platform can do without it), the purpose in Dutch
and English, the legal basis (`consent` or `school-agreement`) and how many days the vendor keeps the data.
Policies are versioned: a change is a new version (audited), and a consent holds for the version it was given
for. A vendor asks for a change with a request that the operator approves or refuses.

The platform's current attributes, basis, purpose and version are also kept on its `clients` row, which the
login path reads; both change in the same transaction.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from clients.errors import InvalidClientMetadata
from clients.models import Client
from idp import audit
from idp.db import Base, Database, UtcDateTime, utcnow

ATTRIBUTES = ("given_name", "family_name", "name", "email", "birthdate", "roles", "school", "schools", "class",
              "preferred_username", "age_band")
BASES = ("consent", "school-agreement")
LANGUAGES = ("nl", "en")
MAX_TEXT = 1000
MAX_RETENTION_DAYS = 3650


class InvalidPolicy(InvalidClientMetadata):
    """A policy document that cannot be used; nothing was changed."""


class UnknownRequest(InvalidClientMetadata):
    """No pending policy request with that id."""


@dataclass(frozen=True)
class Rule:
    """One attribute of a policy: why the platform needs it, and whether it can do without."""

    name: str
    why: dict  # {"nl": ..., "en": ...}; may be empty for a platform registered without justifications
    optional: bool = False

    def as_json(self) -> dict:
        return {"name": self.name, "why": dict(self.why), "optional": self.optional}


@dataclass(frozen=True)
class Document:
    basis: str
    purpose: dict  # {"nl": ..., "en": ...}
    retention_days: int | None
    rules: tuple[Rule, ...]

    @property
    def names(self) -> list[str]:
        return [rule.name for rule in self.rules]

    def as_json(self) -> dict:
        return {"basis": self.basis, "purpose": dict(self.purpose), "retention_days": self.retention_days,
                "attributes": [rule.as_json() for rule in self.rules]}

    @classmethod
    def parse(cls, data, *, strict: bool = True) -> Document:
        """A policy from its JSON form (README, "Release policies"). `strict`: every attribute has a Dutch
        justification and the purpose a Dutch text, as a policy set or requested by hand must."""
        if not isinstance(data, dict):
            raise InvalidPolicy("a policy is a JSON object")
        unknown = set(data) - {"basis", "purpose", "retention_days", "attributes"}
        if unknown:
            raise InvalidPolicy(f"unknown policy field {min(unknown)!r}")
        basis = data.get("basis")
        if basis not in BASES:
            raise InvalidPolicy(f"basis must be consent or school-agreement, got {basis!r}")
        purpose = _texts(data.get("purpose") or {}, "purpose", required=strict)
        retention = data.get("retention_days")
        if retention is not None and (type(retention) is not int or not 1 <= retention <= MAX_RETENTION_DAYS):
            raise InvalidPolicy(f"retention_days must be a whole number from 1 to {MAX_RETENTION_DAYS}")
        attributes = data.get("attributes")
        if not isinstance(attributes, list):
            raise InvalidPolicy("attributes must be a list")
        rules, seen = [], set()
        for item in attributes:
            item = {"name": item} if isinstance(item, str) and not strict else item
            if not isinstance(item, dict) or set(item) - {"name", "why", "optional"}:
                raise InvalidPolicy("each attribute is an object with name, why and optional")
            name = item.get("name")
            if name not in ATTRIBUTES:
                raise InvalidPolicy(f"unknown attribute {name!r}; use {', '.join(ATTRIBUTES)}")
            if name in seen:
                raise InvalidPolicy(f"attribute {name!r} is listed twice")
            if not isinstance(item.get("optional", False), bool):
                raise InvalidPolicy(f"optional of {name!r} must be true or false")
            seen.add(name)
            rules.append(Rule(name, _texts(item.get("why") or {}, f"why of {name!r}", required=strict),
                              item.get("optional", False)))
        return cls(basis, purpose, retention, tuple(rules))


def _texts(value, what: str, *, required: bool) -> dict:
    """{"nl": ..., "en": ...} with Dutch first; English optional."""
    if not isinstance(value, dict) or set(value) - set(LANGUAGES) \
            or not all(isinstance(v, str) for v in value.values()):
        raise InvalidPolicy(f"{what} must be an object with nl and en texts")
    texts = {k: " ".join(v.split()) for k, v in value.items() if v.strip()}
    if required and "nl" not in texts:
        raise InvalidPolicy(f"{what} needs a Dutch text (nl)")
    if any(len(v) > MAX_TEXT for v in texts.values()):
        raise InvalidPolicy(f"{what} is at most {MAX_TEXT} characters")
    return texts


class ReleasePolicy(Base):
    __tablename__ = "release_policies"

    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    basis: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[dict] = mapped_column(JSON)
    retention_days: Mapped[int | None] = mapped_column(Integer)
    attributes: Mapped[list] = mapped_column(JSON)  # [{"name", "why": {"nl", "en"}, "optional"}]
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(36))  # the operator's account id; None: the CLI
    request_id: Mapped[int | None] = mapped_column(Integer)  # the vendor's request it grants, if any

    @property
    def document(self) -> Document:
        return Document.parse({"basis": self.basis, "purpose": self.purpose, "retention_days": self.retention_days,
                               "attributes": self.attributes}, strict=False)

    def rule(self, name: str) -> Rule | None:
        return next((rule for rule in self.document.rules if rule.name == name), None)

    @property
    def changes_platform(self) -> str:
        """A change of it is a change of the platform (idp/changes.py)."""
        return self.client_id


class PolicyRequest(Base):
    """A vendor's request to change its platform's policy, waiting for the operator."""

    __tablename__ = "policy_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"))
    document: Mapped[dict] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)  # the vendor's explanation
    status: Mapped[str] = mapped_column(String(16), index=True, default="pending")  # pending, approved, refused
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(36))
    reason: Mapped[str | None] = mapped_column(Text)  # the operator's, when refused
    version: Mapped[int | None] = mapped_column(Integer)  # the policy version it became


def first_version(client: Client, document: Document) -> ReleasePolicy:
    """The policy a platform is registered with: version 1."""
    return ReleasePolicy(client_id=client.client_id, version=client.policy_version or 1, basis=document.basis,
                         purpose=document.purpose, retention_days=document.retention_days,
                         attributes=[rule.as_json() for rule in document.rules])


def changes(before: Document, after: Document) -> dict:
    """What a new version changes, for the audit record and the operator."""
    return {"added": [n for n in after.names if n not in before.names],
            "removed": [n for n in before.names if n not in after.names],
            "basis": [before.basis, after.basis] if before.basis != after.basis else None,
            "purpose_changed": before.purpose != after.purpose,
            "retention_days": [before.retention_days, after.retention_days]
            if before.retention_days != after.retention_days else None}


class PolicyStore:
    def __init__(self, db: Database, forget=None):
        self.db = db
        self._forget = forget or (lambda client_id: None)  # drops a cached client after a change

    def current(self, client: Client) -> ReleasePolicy | None:
        with self.db.read() as session:
            return session.get(ReleasePolicy, (client.client_id, client.policy_version))

    def versions(self, client_id: str) -> list[ReleasePolicy]:
        with self.db.read() as session:
            return list(session.scalars(select(ReleasePolicy).where(ReleasePolicy.client_id == client_id)
                                        .order_by(ReleasePolicy.version)))

    def change(self, client_id: str, document: Document, actor_id: str | None = None) -> ReleasePolicy:
        """A new version of the platform's policy, in force at once; people are asked again for consent."""
        with self.db.transaction() as session:
            policy = self._change(session, self._platform(session, client_id), document, actor_id, None)
        self._forget(client_id)
        return policy

    def request(self, client_id: str, document: Document, note: str | None = None) -> PolicyRequest:
        """The vendor asks for a new policy; nothing changes until the operator approves."""
        note = (note or "").strip()[:MAX_TEXT] or None
        with self.db.transaction() as session:
            client = self._platform(session, client_id)
            request = PolicyRequest(client_id=client.client_id, document=document.as_json(), note=note,
                                    status="pending", requested_at=utcnow())
            session.add(request)
            session.flush()
            audit.record(session, "release_policy_requested", client_id=client_id,
                         detail={"request": request.id, **changes(self._document(session, client), document)})
        return request

    def requests(self, status: str | None = "pending") -> list[tuple[PolicyRequest, Client, dict]]:
        """Requests (pending ones by default), oldest first, each with its platform and what it would change."""
        query = select(PolicyRequest, Client).join(Client, Client.client_id == PolicyRequest.client_id)
        if status:
            query = query.where(PolicyRequest.status == status)
        with self.db.read() as session:
            rows = session.execute(query.order_by(PolicyRequest.id)).all()
            return [(request, client, changes(self._document(session, client), Document.parse(request.document)))
                    for request, client in rows]

    def decide(self, request_id: int, approve: bool, actor_id: str | None = None,
               reason: str | None = None) -> PolicyRequest:
        """Approve (the requested policy becomes the next version) or refuse a pending request."""
        reason = (reason or "").strip()[:MAX_TEXT] or None
        with self.db.transaction() as session:
            claimed = session.execute(  # first, so that of two decisions at once exactly one goes on
                update(PolicyRequest).where(PolicyRequest.id == request_id, PolicyRequest.status == "pending")
                .values(status="approved" if approve else "refused", decided_at=utcnow(), decided_by=actor_id,
                        reason=reason)).rowcount == 1
            if not claimed:
                raise UnknownRequest(f"no pending policy request {request_id}")
            request = session.get(PolicyRequest, request_id)
            client = self._platform(session, request.client_id)
            if approve:
                policy = self._change(session, client, Document.parse(request.document), actor_id, request.id)
                request.version = policy.version
            else:
                audit.record(session, "release_policy_refused", actor_id=actor_id, client_id=client.client_id,
                             detail={"request": request.id, "reason": reason})
        self._forget(request.client_id)
        return request

    @staticmethod
    def _platform(session: Session, client_id: str) -> Client:
        client = session.get(Client, client_id, with_for_update=True) if client_id and len(client_id) <= 64 \
            else None
        if client is None or client.school_id is not None:
            raise InvalidClientMetadata(f"no platform with client_id {client_id!r}")
        return client

    @staticmethod
    def _document(session: Session, client: Client) -> Document:
        policy = session.get(ReleasePolicy, (client.client_id, client.policy_version))
        if policy is not None:
            return policy.document
        return Document.parse({"basis": client.basis, "purpose": {"nl": client.purpose} if client.purpose else {},
                               "attributes": list(client.attributes)}, strict=False)

    def _change(self, session: Session, client: Client, document: Document, actor_id: str | None,
                request_id: int | None) -> ReleasePolicy:
        before = self._document(session, client)
        latest = session.scalar(select(func.max(ReleasePolicy.version))
                                .where(ReleasePolicy.client_id == client.client_id)) or 0
        version = max(latest, client.policy_version or 0) + 1
        policy = ReleasePolicy(client_id=client.client_id, version=version, basis=document.basis,
                               purpose=document.purpose, retention_days=document.retention_days,
                               attributes=[rule.as_json() for rule in document.rules], created_by=actor_id,
                               request_id=request_id)
        session.add(policy)
        client.policy_version, client.basis, client.attributes = version, document.basis, document.names
        client.purpose = document.purpose.get("nl")
        audit.record(session, "release_policy_changed", actor_id=actor_id, client_id=client.client_id,
                     detail={"version": version, "request": request_id, **changes(before, document)})
        return policy
