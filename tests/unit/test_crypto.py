"""idp.crypto: argon2id passwords and the at-rest Vault with key rotation (DESIGN.md Storage: secrets at rest)."""
from __future__ import annotations

import base64

import pytest

from idp.crypto import Passwords, Vault, constant_time_equal, random_token, sha256_hex

# Small argon2 parameters keep the tests fast; production's come from Settings.
FAST = dict(memory_kib=1024, time_cost=1, parallelism=1)


@pytest.fixture(scope="module")
def passwords() -> Passwords:
    return Passwords(**FAST)


# --- Passwords ---------------------------------------------------------------------------------------------------


def test_hash_is_argon2id_and_verifies(passwords):
    stored = passwords.hash("Correct horse 1")
    assert stored.startswith("$argon2id$")
    assert "Correct horse 1" not in stored
    assert passwords.verify(stored, "Correct horse 1")


def test_wrong_password_does_not_verify(passwords):
    stored = passwords.hash("Correct horse 1")
    assert not passwords.verify(stored, "correct horse 1")
    assert not passwords.verify(stored, "")


def test_same_password_hashes_differently(passwords):
    assert passwords.hash("same-password") != passwords.hash("same-password")


def test_missing_account_never_verifies(passwords):
    """No stored hash (unknown user, disabled account): checked against a dummy, and always False."""
    assert not passwords.verify(None, "anything")
    assert not passwords.verify("", "anything")


@pytest.mark.parametrize("stored", ["not-a-hash", "$argon2id$broken", "$2b$12$abcdefghijklmnopqrstuu"])
def test_garbage_hash_never_verifies(passwords, stored):
    assert not passwords.verify(stored, "anything")


def test_needs_rehash_when_parameters_grow(passwords):
    stored = passwords.hash("pw-12345678")
    assert not passwords.needs_rehash(stored)
    stronger = Passwords(memory_kib=2048, time_cost=2, parallelism=1)
    assert stronger.needs_rehash(stored)
    assert stronger.verify(stored, "pw-12345678"), "an old hash still verifies until it is rehashed"


# --- Vault -------------------------------------------------------------------------------------------------------


def test_round_trip():
    vault = Vault(("key-one",))
    sealed = vault.encrypt(b"seed bytes", "totp")
    assert sealed.startswith("v1:")
    assert b"seed bytes" not in base64.urlsafe_b64decode(sealed[3:])
    assert vault.decrypt(sealed, "totp") == b"seed bytes"


def test_every_encryption_is_different():
    vault = Vault(("key-one",))
    assert vault.encrypt(b"x", "c") != vault.encrypt(b"x", "c")


def test_context_is_bound():
    vault = Vault(("key-one",))
    sealed = vault.encrypt(b"signing key", "key:abc")
    with pytest.raises(ValueError):
        vault.decrypt(sealed, "key:other")


def test_rotation_old_key_still_decrypts_new_key_encrypts():
    old = Vault(("old-key",))
    sealed_before = old.encrypt(b"from before", "ctx")
    rotated = Vault(("new-key", "old-key"))
    assert rotated.decrypt(sealed_before, "ctx") == b"from before"
    sealed_after = rotated.encrypt(b"from after", "ctx")
    assert Vault(("new-key",)).decrypt(sealed_after, "ctx") == b"from after"
    with pytest.raises(ValueError):
        old.decrypt(sealed_after, "ctx")


def test_wrong_key_fails():
    sealed = Vault(("right-key",)).encrypt(b"secret", "ctx")
    with pytest.raises(ValueError):
        Vault(("wrong-key",)).decrypt(sealed, "ctx")


def test_tampered_ciphertext_fails():
    vault = Vault(("key-one",))
    raw = bytearray(base64.urlsafe_b64decode(vault.encrypt(b"secret", "ctx")[3:]))
    raw[-1] ^= 1
    with pytest.raises(ValueError):
        vault.decrypt("v1:" + base64.urlsafe_b64encode(bytes(raw)).decode(), "ctx")


@pytest.mark.parametrize("token", ["plaintext", "v2:abcd", ""])
def test_unknown_format_fails(token):
    with pytest.raises(ValueError):
        Vault(("key-one",)).decrypt(token, "ctx")


def test_no_key_no_vault():
    with pytest.raises(ValueError):
        Vault(())


# --- small helpers -------------------------------------------------------------------------------------------------


def test_sha256_hex():
    assert sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_constant_time_equal():
    assert constant_time_equal("same", "same")
    assert not constant_time_equal("same", "Same")
    assert not constant_time_equal("same", "same ")


def test_random_tokens_are_url_safe_and_unique():
    tokens = {random_token(16) for _ in range(200)}
    assert len(tokens) == 200
    assert all(len(t) >= 21 and set(t) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
               for t in tokens)
