"""Subject identifiers: pairwise per sector (OIDC Core §8.1) or public."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from clients.models import Client
from idp.crypto import Vault
from idp.db import Base, Database

SALT_NAME = "pairwise-salt"


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
        with self.db.transaction() as session:
            if session.get(InstanceSecret, SALT_NAME) is None:
                sealed = self.vault.encrypt(secrets.token_bytes(32), SALT_NAME)
                session.add(InstanceSecret(name=SALT_NAME, value_enc=sealed))

    def _load_salt(self) -> bytes:
        if self._salt is None:
            with self.db.read() as session:
                row = session.get(InstanceSecret, SALT_NAME)
            if row is None:
                raise RuntimeError("no pairwise salt: run `leerid db upgrade`")
            self._salt = self.vault.decrypt(row.value_enc, SALT_NAME)
        return self._salt

    def for_client(self, client: Client, account_id: str) -> str:
        if client.subject_type == "public":
            return account_id
        digest = hmac.new(self._load_salt(), f"{client.sector_identifier}\x00{account_id}".encode(),
                          hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
