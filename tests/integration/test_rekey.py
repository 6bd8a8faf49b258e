"""`leerid secrets reencrypt` (idp/rekey.py): after it ran with LEERID_SECRET_KEY="new,old", leerID works with "new"
alone (TOTP codes, signing, pairwise subjects); a value that no key opens stops it with nothing changed."""
from __future__ import annotations

from contextlib import contextmanager

import pyotp
import pytest
from joserfc import jwt
from sqlalchemy import create_engine, select, text

from config.settings import Settings
from idp.audit import AuditEvent
from idp.keys import ALGORITHMS
from idp.totp import TotpService
from idp.wiring import Container
from tests.live import LiveProvider, fresh_database


@pytest.fixture
def installation(tmp_path):
    """`leerid` on a database migrated with LEERID_SECRET_KEY="old": its signing keys and pairwise salt under it."""
    with fresh_database(tmp_path) as url:
        live = LiveProvider(tmp_path, url, extra_env={"LEERID_SECRET_KEY": "old"})
        try:
            live.run("db", "upgrade")
            yield live
        finally:
            live.http.close()


@contextmanager
def services(live: LiveProvider, secret_key: str):
    """The provider's services as a process started with this LEERID_SECRET_KEY sees them."""
    container = Container(Settings.from_env(dict(live.env, LEERID_SECRET_KEY=secret_key)))
    try:
        yield container
    finally:
        container.db.engine.dispose()


def sealed_values(live: LiveProvider) -> dict:
    """Every encrypted value in the database, and the number of audit records."""
    engine = create_engine(live.env["LEERID_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return {"keys": dict(conn.execute(text("SELECT kid, private_enc FROM signing_keys")).all()),
                    "secrets": dict(conn.execute(text("SELECT name, value_enc FROM instance_secrets")).all()),
                    "totp": dict(conn.execute(text("SELECT account_id, secret_encrypted FROM totp_credentials")).all()),
                    "audit": conn.execute(text("SELECT count(*) FROM audit_events")).scalar_one()}
    finally:
        engine.dispose()


def test_after_reencrypt_the_old_key_can_be_dropped(installation, store):
    person = installation.user()
    seed = installation.cli("users", "totp", person["username"])["secret"]
    client_id = installation.client()["client_id"]  # pairwise subjects
    with services(installation, "old") as before:
        sub = before.subjects.for_client(before.clients.find(client_id), person["id"])
        kids = {key["kid"] for key in before.keys.jwks()["keys"]}

    installation.env["LEERID_SECRET_KEY"] = "new,old"
    counts = installation.cli("secrets", "reencrypt")
    assert counts == {"signing_keys": len(ALGORITHMS), "instance_secrets": 1, "totp_seeds": 1}

    with services(installation, "new") as after:
        assert TotpService(after.db, after.vault, after.audit, store).check(person["id"], pyotp.TOTP(seed).now())
        assert after.subjects.for_client(after.clients.find(client_id), person["id"]) == sub
        for alg in ALGORITHMS:
            signer = after.keys.signer(alg)
            token = jwt.encode({"alg": alg, "kid": signer.kid}, {"sub": sub}, signer.key, algorithms=[alg])
            assert jwt.decode(token, after.keys.verification_keys(), algorithms=[alg]).header["kid"] in kids
        assert {key["kid"] for key in after.keys.jwks()["keys"]} == kids  # the same keys, not new ones
        with after.db.read() as session:
            recorded = session.scalars(select(AuditEvent.detail).where(AuditEvent.event == "secrets_reencrypted"))
            assert list(recorded) == [counts]


def test_it_runs_again_with_the_new_key_alone(installation):
    installation.env["LEERID_SECRET_KEY"] = "new,old"
    installation.run("secrets", "reencrypt")
    installation.env["LEERID_SECRET_KEY"] = "new"
    proc = installation.run("secrets", "reencrypt")
    assert proc.stdout.strip() == (f"re-encrypted under the first LEERID_SECRET_KEY: {len(ALGORITHMS)} signing keys, "
                                   "1 instance secrets, 0 totp seeds")


def test_a_value_no_key_opens_stops_it_and_changes_nothing(installation):
    person = installation.user()
    installation.env["LEERID_SECRET_KEY"] = "other"
    installation.cli("users", "totp", person["username"])  # a seed under a key that the list below lacks
    installation.env["LEERID_SECRET_KEY"] = "new,old"
    before = sealed_values(installation)
    # The signing keys and the salt come before the TOTP seeds: they were re-encrypted when the seed failed.
    proc = installation.run("secrets", "reencrypt", "--json", check=False)
    assert proc.returncode != 0
    assert proc.stdout == ""
    refusal = (f"leerid: no LEERID_SECRET_KEY opens the TOTP seed of account {person['id']}: add the key it was "
               "encrypted with as a later key in the list; nothing was re-encrypted")
    assert proc.stderr.strip().splitlines() == [refusal]
    assert sealed_values(installation) == before


def test_without_a_schema_it_says_so(tmp_path):
    with fresh_database(tmp_path) as url:
        live = LiveProvider(tmp_path, url, extra_env={"LEERID_SECRET_KEY": "new,old"})
        try:
            proc = live.run("secrets", "reencrypt", check=False)
        finally:
            live.http.close()
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        "leerid: the database has no leerID schema yet: run `leerid db upgrade`"]
