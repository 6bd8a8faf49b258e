"""KeyRing: the provider's signing keys, stored with the private part encrypted, and JWKS."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy import JSON, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from idp import audit
from idp.crypto import Vault
from idp.db import Base, Database, UtcDateTime, utcnow

ALGORITHMS = ("ES256", "RS256")
PUBLIC_MEMBERS = ("kid", "kty", "crv", "x", "y", "n", "e", "use", "alg")


class SigningKey(Base):
    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(8))
    private_enc: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    activates_at: Mapped[datetime] = mapped_column(UtcDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


@dataclass(frozen=True)
class Signer:
    kid: str
    alg: str
    key: ECKey | RSAKey


def _generate(alg: str) -> ECKey | RSAKey:
    return ECKey.generate_key("P-256", private=True) if alg == "ES256" else RSAKey.generate_key(2048, private=True)


def _public(key: ECKey | RSAKey, kid: str, alg: str) -> dict:
    jwk = dict(key.as_dict(private=False), kid=kid, use="sig", alg=alg)
    return {k: v for k, v in jwk.items() if k in PUBLIC_MEMBERS}


class KeyRing:
    """Signs with the newest active key per algorithm; publishes every key a live token may carry.

    A rotated-in key is published `lead` seconds before it signs, so that every process's
    cached JWKS holds it first; a retired key stays published until the longest-lived token
    it signed has expired.
    """

    def __init__(self, db: Database, vault: Vault, max_token_lifetime: int, cache_seconds: int = 30):
        self.db = db
        self.vault = vault
        self.cache_seconds = cache_seconds
        self.keep = timedelta(seconds=max_token_lifetime + 60)
        self.lead = timedelta(seconds=2 * cache_seconds + 5)
        self._lock = threading.Lock()
        self._loaded_at = 0.0
        self._signers: dict[str, Signer] = {}
        self._jwks: dict = {"keys": []}
        self._verify: KeySet = KeySet([])

    def ensure(self) -> None:
        """Make a first key for each algorithm that has none (at startup and `db upgrade`)."""
        with self.db.transaction() as session:
            have = {k.alg for k in session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None)))}
            now = utcnow()
            for alg in ALGORITHMS:
                if alg not in have:
                    session.add(self._new_key(alg, activates_at=now))
        self._loaded_at = 0.0

    def rotate(self) -> list[str]:
        """New keys for every algorithm; the current ones retire when the new ones take over."""
        now = utcnow()
        takeover = now + self.lead
        with self.db.transaction() as session:
            for old in session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))):
                old.retired_at = max(takeover, old.activates_at)
            fresh = [self._new_key(alg, activates_at=takeover) for alg in ALGORITHMS]
            session.add_all(fresh)
            kids = [k.kid for k in fresh]
            audit.record(session, "keys_rotated", detail={"kids": kids, "activate_at": takeover.isoformat()})
        self._loaded_at = 0.0
        return kids

    def _new_key(self, alg: str, activates_at: datetime) -> SigningKey:
        key = _generate(alg)
        kid = key.thumbprint()
        return SigningKey(kid=kid, alg=alg, private_enc=self.vault.encrypt(key.as_pem(private=True), f"key:{kid}"),
                          public_jwk=_public(key, kid, alg), activates_at=activates_at)

    def signer(self, alg: str) -> Signer:
        self._refresh()
        try:
            return self._signers[alg]
        except KeyError:
            raise RuntimeError(f"no active {alg} signing key: run `leerid db upgrade`") from None

    def jwks(self) -> dict:
        self._refresh()
        return self._jwks

    def verification_keys(self) -> KeySet:
        self._refresh()
        return self._verify

    def _refresh(self) -> None:
        if time.monotonic() - self._loaded_at < self.cache_seconds:
            return
        with self._lock:
            if time.monotonic() - self._loaded_at < self.cache_seconds:
                return
            self._load()

    def _load(self) -> None:
        now = utcnow()
        with self.db.read() as session:
            rows = list(session.scalars(select(SigningKey).order_by(SigningKey.activates_at.desc())))
        published = [r for r in rows if r.retired_at is None or r.retired_at + self.keep > now]
        signers: dict[str, Signer] = {}
        for row in published:
            signing = row.activates_at <= now and (row.retired_at is None or row.retired_at > now)
            if signing and row.alg not in signers:
                pem = self.vault.decrypt(row.private_enc, f"key:{row.kid}")
                key = ECKey.import_key(pem) if row.alg == "ES256" else RSAKey.import_key(pem)
                signers[row.alg] = Signer(row.kid, row.alg, key)
        self._signers = signers
        self._jwks = {"keys": [r.public_jwk for r in published]}
        self._verify = KeySet.import_key_set(self._jwks)
        self._loaded_at = time.monotonic()
