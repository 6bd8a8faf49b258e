"""clients.subjects.Subjects: one pairwise salt per installation, whoever makes it first and whichever secret key
seals it now; and the one-way move of a platform from pairwise to public subjects, with the mapping for its
vendor (README "Subjects: pairwise and public")."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from clients.consents import ConsentStore
from clients.errors import InvalidClientMetadata
from clients.models import Client
from clients.service import ClientRegistry, NewClient
from clients.subjects import SALT_NAME, InstanceSecret, Subjects
from config.settings import ConfigError
from idp import audit
from idp.accounts import Account
from idp.audit import AuditEvent, AuditLog
from idp.crypto import Vault
from idp.db import Database, utcnow
from idp.tokens import RefreshToken
from migrations import upgrade
from tests.live import at_once

KEY, OLD_KEY = "unit-test-secret-key-new-0123456789", "unit-test-secret-key-old-0123456789"


def platform(db, **changes) -> Client:
    return ClientRegistry(db).create(NewClient(name="Leerplatform", redirect_uris=("https://rp.example/cb",),
                                               **changes)).client


def person(db, username: str) -> str:
    with db.transaction() as session:
        account = Account(username=username, given_name="Lotte", family_name="Peeters", role="pupil")
        session.add(account)
        session.flush()
        return account.id


def sealed_salt(db) -> str:
    with db.read() as session:
        return session.get(InstanceSecret, SALT_NAME).value_enc


# --- the salt ----------------------------------------------------------------------------------------------------


def test_the_salt_is_made_once(memory_db):
    subjects = Subjects(memory_db, Vault((KEY,)))
    subjects.ensure()
    client, sealed = platform(memory_db), sealed_salt(memory_db)
    sub = subjects.for_client(client, "account-1")
    subjects.ensure()  # `leerid db upgrade` again, a restart
    later = Subjects(Database(memory_db.url), Vault((KEY,)))  # another process
    later.ensure()
    assert sealed_salt(memory_db) == sealed
    assert later.for_client(client, "account-1") == sub


def test_processes_racing_at_the_first_start_share_one_salt(tmp_path):
    url = f"sqlite:///{tmp_path}/leerid.db"
    upgrade(url)
    processes = [Subjects(Database(url), Vault((KEY,))) for _ in range(6)]
    started = iter(processes)
    at_once(6, lambda: next(started).ensure())
    client = platform(processes[0].db)
    assert len({s.for_client(client, "account-1") for s in processes}) == 1


def test_the_process_that_loses_the_race_keeps_the_winners_salt(memory_db, monkeypatch):
    """It looked before the winner committed, so its own insert hits the primary key: not an error."""
    winner, loser = Subjects(memory_db, Vault((KEY,))), Subjects(memory_db, Vault((KEY,)))
    winner.ensure()
    real_get, looked = Session.get, []

    def get_before_the_winner_committed(session, entity, ident, **kw):
        if entity is InstanceSecret and not looked:
            looked.append(ident)
            return None
        return real_get(session, entity, ident, **kw)

    monkeypatch.setattr(Session, "get", get_before_the_winner_committed)
    loser.ensure()
    assert looked == [SALT_NAME]
    client = platform(memory_db)
    assert loser.for_client(client, "account-1") == winner.for_client(client, "account-1")


def test_a_rotated_secret_key_still_opens_the_salt(memory_db):
    before = Subjects(memory_db, Vault((OLD_KEY,)))
    before.ensure()
    client = platform(memory_db)
    after = Subjects(memory_db, Vault((KEY, OLD_KEY)))  # LEERID_SECRET_KEY=new,old
    after.ensure()
    assert after.for_client(client, "account-1") == before.for_client(client, "account-1")


def test_without_the_key_that_sealed_it_leerid_refuses_to_start(memory_db):
    """Never a new salt over the old one: every pairwise sub would change."""
    Subjects(memory_db, Vault((OLD_KEY,))).ensure()
    sealed = sealed_salt(memory_db)
    with pytest.raises(ConfigError) as error:
        Subjects(memory_db, Vault((KEY,))).ensure()
    assert "LEERID_SECRET_KEY" in str(error.value) and "\n" not in str(error.value)
    assert sealed_salt(memory_db) == sealed


# --- from pairwise to public -------------------------------------------------------------------------------------


@pytest.fixture
def subjects(memory_db) -> Subjects:
    subjects = Subjects(memory_db, Vault((KEY,)))
    subjects.ensure()
    return subjects


def released(db, account_id: str, client_id: str) -> None:
    with db.transaction() as session:
        audit.record(session, "attributes_released", actor_id=account_id, subject_id=account_id,
                     client_id=client_id, detail={"via": "id_token", "claims": []})


def refresh_token(db, account_id: str, client: Client, sub: str) -> None:
    with db.transaction() as session:
        session.add(RefreshToken(token_hash=account_id.ljust(64, "0")[:64], grant_id=account_id,
                                 client_id=client.client_id, account_id=account_id, scope="openid offline_access",
                                 context={"account_id": account_id, "sub": sub},
                                 expires_at=utcnow() + timedelta(days=1)))


def test_the_mapping_lists_everyone_the_platform_knew(memory_db, subjects):
    client, elsewhere = platform(memory_db), platform(memory_db)
    logged_in, with_token, consented, stranger = (person(memory_db, n) for n in ("a", "b", "c", "d"))
    released(memory_db, logged_in, client.client_id)
    refresh_token(memory_db, with_token, client, subjects.for_client(client, with_token))
    ConsentStore(memory_db).give(consented, client.client_id, 1, [], consented)
    released(memory_db, stranger, elsewhere.client_id)
    old = {p: subjects.for_client(client, p) for p in (logged_in, with_token, consented)}
    written = []

    assert subjects.make_public(client.client_id, written.append) == 3

    mapping = json.loads(json.dumps(written[0]))
    assert mapping["client_id"] == client.client_id and (mapping["from"], mapping["to"]) == ("pairwise", "public")
    assert sorted((m["old_sub"], m["new_sub"]) for m in mapping["subjects"]) == sorted(
        (old[p], p) for p in old)
    moved = ClientRegistry(memory_db).find(client.client_id)
    assert moved.subject_type == "public"
    assert {subjects.for_client(moved, p) for p in old} == set(old)
    with memory_db.read() as session:
        token = session.scalar(select(RefreshToken).where(RefreshToken.account_id == with_token))
        record = session.scalar(select(AuditEvent).where(AuditEvent.event == "subject_type_changed"))
    assert token.context["sub"] == with_token, "a refresh after the move carries the new sub"
    assert (record.client_id, record.detail) == (client.client_id, {"from": "pairwise", "to": "public", "people": 3})
    assert AuditLog(memory_db).verify()[1] is None


def test_a_failed_write_changes_nothing(memory_db, subjects):
    client = platform(memory_db)

    def disk_full(_mapping):
        raise OSError("disk full")

    with pytest.raises(OSError):
        subjects.make_public(client.client_id, disk_full)
    assert ClientRegistry(memory_db).find(client.client_id).subject_type == "pairwise"
    with memory_db.read() as session:
        assert session.scalar(select(AuditEvent).where(AuditEvent.event == "subject_type_changed")) is None


def test_only_a_pairwise_platform_moves(memory_db, subjects):
    public = platform(memory_db, subject_type="public")
    with pytest.raises(InvalidClientMetadata, match="public subjects already"):
        subjects.make_public(public.client_id, lambda _: None)
    with pytest.raises(InvalidClientMetadata, match="no platform"):
        subjects.make_public("no-such-client", lambda _: None)
