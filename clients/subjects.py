"""Subject identifiers: pairwise per sector (OIDC Core §8.1) or public.

The salt is made once per installation and never again while it exists: a new salt would change every pairwise
`sub`. It is kept in the database, sealed by the Vault, so that key rotation, migrations and new processes all
find the same one.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable

from sqlalchemy import String, Text, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from clients.consents import Consent
from clients.errors import InvalidClientMetadata
from clients.models import Client
from config.settings import ConfigError
from idp import audit
from idp.audit import AuditEvent
from idp.crypto import Vault
from idp.db import Base, Database, utcnow
from idp.tokens import RefreshToken

SALT_NAME = "pairwise-salt"
KNOWN_BY = ("attributes_released", "login")  # audit events that show a person to a platform


class InstanceSecret(Base):
    """Secrets of this leerID installation that must outlive key rotation, encrypted."""

    __tablename__ = "instance_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value_enc: Mapped[str] = mapped_column(Text)


class Subjects:
    """sub = base64url(HMAC-SHA256(salt, sector || account id)): stable, unlinkable across sectors."""

    def __init__(self, db: Database, vault: Vault):
        self.db = db
        self.vault = vault
        self._salt: bytes | None = None

    def ensure(self) -> None:
        """Make the salt if there is none, then check that it opens: at start, not at the first login."""
        try:
            with self.db.transaction() as session:
                if session.get(InstanceSecret, SALT_NAME) is None:
                    sealed = self.vault.encrypt(secrets.token_bytes(32), SALT_NAME)
                    session.add(InstanceSecret(name=SALT_NAME, value_enc=sealed))
        except IntegrityError:
            pass  # another process made it an instant earlier: theirs is the one salt
        self._salt = None
        self._load_salt()

    def _load_salt(self) -> bytes:
        if self._salt is None:
            with self.db.read() as session:
                row = session.get(InstanceSecret, SALT_NAME)
            if row is None:
                raise RuntimeError("no pairwise salt: run `leerid db upgrade`")
            try:
                self._salt = self.vault.decrypt(row.value_enc, SALT_NAME)
            except ValueError:
                raise ConfigError("no LEERID_SECRET_KEY opens the pairwise salt, and a new salt would change every "
                                  "pairwise sub: give the key it was sealed with (also as a later key in the list)"
                                  ) from None
        return self._salt

    def for_client(self, client: Client, account_id: str) -> str:
        if client.subject_type == "public":
            return account_id
        digest = hmac.new(self._load_salt(), f"{client.sector_identifier}\x00{account_id}".encode(),
                          hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def make_public(self, client_id: str, write: Callable[[dict], None]) -> int:
        """Move a platform from pairwise to public subjects. `write` gets the mapping (old `sub` to new `sub`) of
        every person the platform has known, before the client, its live refresh tokens and the audit record
        change in one transaction; an error in `write` changes nothing. The number of people mapped."""
        with self.db.transaction() as session:
            client = session.get(Client, client_id) if client_id and len(client_id) <= 64 else None
            if client is None or client.school_id is not None:
                raise InvalidClientMetadata(f"no platform with client_id {client_id!r}")
            if client.subject_type != "pairwise":
                raise InvalidClientMetadata(f"platform {client_id} has {client.subject_type} subjects already")
            people = sorted(known_people(session, client))
            old = {person: self.for_client(client, person) for person in people}
            client.subject_type = "public"
            write({"client_id": client_id, "from": "pairwise", "to": "public", "changed_at": utcnow().isoformat(),
                   "subjects": [{"old_sub": old[p], "new_sub": self.for_client(client, p)} for p in people]})
            live = select(RefreshToken).where(RefreshToken.client_id == client_id, RefreshToken.used_at.is_(None))
            for token in session.scalars(live):  # a refresh keeps the sub it was issued with: give it the new one
                token.context = dict(token.context, sub=self.for_client(client, token.account_id))
            audit.record(session, "subject_type_changed", client_id=client_id,
                         detail={"from": "pairwise", "to": "public", "people": len(people)})
        return len(people)


def known_people(session: Session, client: Client) -> set[str]:
    """The account ids the platform has had a `sub` for (released attributes, refresh tokens, consents) and may
    still serve: on the `consent` basis only those whose consent holds, so that nobody who withdrew (or whose
    parent said no) reaches the vendor again under a new identifier."""
    client_id = client.client_id
    audited = select(AuditEvent.subject_id, AuditEvent.actor_id).where(AuditEvent.client_id == client_id,
                                                                       AuditEvent.event.in_(KNOWN_BY))
    people = {person for row in session.execute(audited) for person in row if person}
    people.update(session.scalars(select(RefreshToken.account_id).where(RefreshToken.client_id == client_id)))
    people.update(session.scalars(select(Consent.account_id).where(Consent.client_id == client_id)))
    if client.basis == "consent":
        people &= set(session.scalars(select(Consent.account_id).where(Consent.client_id == client_id,
                                                                       Consent.withdrawn_at.is_(None))))
    return people
