"""Every value stored encrypted under LEERID_SECRET_KEY, encrypted again under its first key, so that the later keys
(a rotated-out key) can be dropped: `leerid secrets reencrypt`.

The database holds three kinds, each sealed by the Vault with a context of its own: TOTP seeds (bound to their
account), the signing keys' private parts (bound to their kid) and the instance secrets such as the pairwise salt
(bound to their name). A TOTP seed waiting for its first code lives in Redis for ten minutes only, and access tokens
carry their sealed account for minutes: neither is stored, so neither is here.
"""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from clients.subjects import InstanceSecret
from config.settings import ConfigError
from idp import audit
from idp.crypto import Vault
from idp.db import Base, Database
from idp.keys import SigningKey
from idp.totp import TotpCredential
from idp.totp import _context as totp_context

# kind -> (table, encrypted column, the Vault context of a row, what a row is called in an error)
SEALED: dict[str, tuple[type[Base], str, Callable, Callable]] = {
    "signing_keys": (SigningKey, "private_enc", lambda r: f"key:{r.kid}", lambda r: f"signing key {r.kid}"),
    "instance_secrets": (InstanceSecret, "value_enc", lambda r: r.name, lambda r: f"instance secret {r.name}"),
    "totp_seeds": (TotpCredential, "secret_encrypted", lambda r: totp_context(r.account_id),
                   lambda r: f"TOTP seed of account {r.account_id}"),
}


def reencrypt(db: Database, vault: Vault) -> dict[str, int]:
    """Decrypt every sealed value with any key and encrypt it again under the first, in one transaction that also
    records `secrets_reencrypted`; the number of values per kind. A value that no key opens raises ConfigError and
    changes nothing. The rows are locked while this runs, so a TOTP seed replaced meanwhile is not overwritten."""
    with db.transaction() as session:
        counts = {kind: _reseal(session, vault, *sealed) for kind, sealed in SEALED.items()}
        audit.record(session, "secrets_reencrypted", detail=counts)
    return counts


def _reseal(session: Session, vault: Vault, table: type[Base], column: str, context: Callable,
            name: Callable) -> int:
    rows = list(session.scalars(select(table).with_for_update()))
    for row in rows:
        try:
            plaintext = vault.decrypt(getattr(row, column), context(row))
        except ValueError:
            raise ConfigError(f"no LEERID_SECRET_KEY opens the {name(row)}: add the key it was encrypted with as a "
                              "later key in the list; nothing was re-encrypted") from None
        setattr(row, column, vault.encrypt(plaintext, context(row)))
    return len(rows)
