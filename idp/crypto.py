"""Secrets at rest: argon2id password hashes, AES-GCM encryption, keyed hashes."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def normalise_password(password: str) -> str:
    """NFKC (SP 800-63B §5.1.1.2): the same password typed on another keyboard or system is the same password."""
    return unicodedata.normalize("NFKC", password)


class Passwords:
    """argon2id hashing of the NFKC form; `verify` also tells when a hash needs the current parameters.

    Hashes made before normalisation hold the password as it was typed: `verify` tries the NFKC form, then the
    raw form, and a match on the raw form makes `needs_rehash` true for that hash (in this thread), so that the
    login stores the normalised form.
    """

    def __init__(self, memory_kib: int, time_cost: int, parallelism: int):
        self._hasher = PasswordHasher(memory_cost=memory_kib, time_cost=time_cost, parallelism=parallelism)
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))
        self._raw_match = threading.local()  # the last hash that only the raw (unnormalised) form opened

    def hash(self, password: str) -> str:
        return self._hasher.hash(normalise_password(password))

    def verify(self, stored: str | None, password: str) -> bool:
        """Constant work whether or not an account exists: a missing hash is checked against a dummy. The work
        depends only on whether the password is in NFKC form already, never on the account."""
        self._raw_match.hash = None
        normalised = normalise_password(password)
        if self._check(stored, normalised):
            return stored is not None
        if normalised != password and self._check(stored, password) and stored is not None:
            self._raw_match.hash = stored
            return True
        return False

    def _check(self, stored: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored or self._dummy, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        if getattr(self._raw_match, "hash", None) == stored:
            return True
        return self._hasher.check_needs_rehash(stored)


class Vault:
    """AES-256-GCM under keys derived from LEERID_SECRET_KEY; the first key encrypts, all decrypt."""

    PREFIX = "v1:"

    def __init__(self, secret_keys: tuple[str, ...]):
        if not secret_keys:
            raise ValueError("no secret key")
        self._keys = [self._derive(k) for k in secret_keys]

    @staticmethod
    def _derive(secret: str) -> AESGCM:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"leerid", info=b"at-rest encryption").derive(
            secret.encode()
        )
        return AESGCM(key)

    def encrypt(self, plaintext: bytes, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._keys[0].encrypt(nonce, plaintext, context.encode())
        return self.PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str, context: str) -> bytes:
        if not token.startswith(self.PREFIX):
            raise ValueError("unknown ciphertext format")
        raw = base64.urlsafe_b64decode(token[len(self.PREFIX):])
        for key in self._keys:
            try:
                return key.decrypt(raw[:12], raw[12:], context.encode())
            except InvalidTag:
                continue
        raise ValueError("no secret key decrypts this value")
