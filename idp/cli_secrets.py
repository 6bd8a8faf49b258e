"""`leerid secrets reencrypt`: every stored secret under the first LEERID_SECRET_KEY, so that a rotated-out key can
be dropped."""
from __future__ import annotations

from idp.cli import cli, container, emit, json_option
from idp.rekey import reencrypt


@cli.group("secrets")
def secrets_group():
    """The values stored encrypted under LEERID_SECRET_KEY."""


@secrets_group.command("reencrypt")
@json_option
def secrets_reencrypt(as_json):
    """Encrypt every stored secret (TOTP seeds, signing keys, the pairwise salt) again under the first key of
    LEERID_SECRET_KEY, in one transaction (audited secrets_reencrypted). A value that no key opens changes
    nothing and exits non-zero."""
    c = container()
    counts = reencrypt(c.db, c.vault)
    emit(counts, as_json, "re-encrypted under the first LEERID_SECRET_KEY: "
         + ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in counts.items()))
