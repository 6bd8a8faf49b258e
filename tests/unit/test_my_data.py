"""idp.my_data.MyData: Mijn leerID's view of one person: the platforms that received something about them, their
history, withdrawing a consent, and the export (GDPR art. 15 and 20). Only ever that person's own data."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from clients.consents import ConsentStore
from clients.models import Client
from clients.service import ClientRegistry, NewClient
from idp import audit
from idp.accounts import Account
from idp.db import utcnow
from idp.my_data import PAGE_SIZE, MyData, safe
from idp.tokens import RefreshToken, RevokedGrant
from tests.unit.test_layering import ROOT, flask_chain


@pytest.fixture
def data(memory_db) -> MyData:
    return MyData(memory_db, ConsentStore(memory_db))


def platform(db, basis: str = "consent", name: str = "Rekenplatform") -> Client:
    return ClientRegistry(db).create(NewClient(
        name=name, redirect_uris=("https://rp.example/callback",), basis=basis,
        scopes=("openid", "profile", "offline_access"), attributes=("given_name", "family_name"))).client


def person(db, username: str, given_name: str = "Lotte") -> str:
    with db.transaction() as session:
        account = Account(username=username, given_name=given_name, family_name="Peeters", role="pupil",
                          password_hash="$argon2id$secret-hash")
        session.add(account)
        session.flush()
        return account.id


def release(db, account_id: str, client_id: str, claims: list[str], actor_id: str | None = None, **detail) -> None:
    with db.transaction() as session:
        audit.record(session, "attributes_released", actor_id=actor_id or account_id, subject_id=account_id,
                     client_id=client_id, detail={"claims": claims, "scope": "openid profile", **detail})


def refresh_grant(db, account_id: str, client_id: str, grant_id: str) -> None:
    with db.transaction() as session:
        session.add(RefreshToken(token_hash=grant_id.ljust(64, "0"), grant_id=grant_id, client_id=client_id,
                                 account_id=account_id, scope="openid offline_access", context={},
                                 expires_at=utcnow() + timedelta(days=1)))


def revoked(db) -> set[str]:
    with db.read() as session:
        return set(session.scalars(select(RevokedGrant.grant_id)))


def test_my_data_never_reaches_flask():
    assert flask_chain(ROOT / "idp" / "my_data.py") is None


def test_platforms_lists_releases_and_consents_never_used(memory_db, data):
    school, consented, unused = platform(memory_db, "school-agreement", "Schoolportaal"), platform(memory_db), \
        platform(memory_db, name="Taalplatform")
    lotte = person(memory_db, "lotte")
    release(memory_db, lotte, school.client_id, ["given_name"])
    release(memory_db, lotte, school.client_id, ["family_name", "given_name"], basis="school-agreement")
    ConsentStore(memory_db).give(lotte, consented.client_id, 1, ["given_name"], lotte)
    release(memory_db, lotte, consented.client_id, ["given_name"], basis="consent")
    ConsentStore(memory_db).give(lotte, unused.client_id, 1, ["given_name"], lotte)
    found = {p.client_id: p for p in data.platforms(lotte)}
    assert set(found) == {school.client_id, consented.client_id, unused.client_id}
    assert found[school.client_id].received == ("family_name", "given_name"), "the last release"
    assert (found[school.client_id].basis, found[school.client_id].consented_at) == ("school-agreement", None)
    assert found[consented.client_id].basis == "consent" and found[consented.client_id].consented_at
    assert found[unused.client_id].last_received is None and found[unused.client_id].consented_at
    assert found[unused.client_id].name == "Taalplatform"


def test_the_basis_falls_back_to_the_platforms_own(memory_db, data):
    school, lotte = platform(memory_db, "school-agreement"), person(memory_db, "lotte")
    release(memory_db, lotte, school.client_id, ["given_name"])  # a record from before "basis" was kept
    assert data.platforms(lotte)[0].basis == "school-agreement"


def test_another_persons_data_never_appears(memory_db, data):
    client, lotte, jonas = platform(memory_db), person(memory_db, "lotte"), person(memory_db, "jonas", "Jonas")
    release(memory_db, jonas, client.client_id, ["given_name"])
    ConsentStore(memory_db).give(jonas, client.client_id, 1, ["given_name"], jonas)
    assert data.platforms(lotte) == []
    assert data.history(lotte).entries == ()
    export = data.export(lotte)
    assert export["consents"] == [] and all(e["subject"] == lotte for e in export["audit_events"])


def test_withdraw_ends_the_consent_and_the_platforms_grants(memory_db, data):
    client, lotte = platform(memory_db), person(memory_db, "lotte")
    ConsentStore(memory_db).give(lotte, client.client_id, 1, ["given_name"], lotte)
    refresh_grant(memory_db, lotte, client.client_id, "grant-here")
    assert data.withdraw(lotte, client.client_id, actor_id=lotte) is True
    assert revoked(memory_db) == {"grant-here"}
    assert data.platforms(lotte) == [], "it never received anything and may not any more"
    assert data.withdraw(lotte, client.client_id, actor_id=lotte) is False, "once is enough"


def test_withdrawing_without_a_consent_changes_nothing(memory_db, data):
    school, lotte = platform(memory_db, "school-agreement"), person(memory_db, "lotte")
    refresh_grant(memory_db, lotte, school.client_id, "grant-school")
    assert data.withdraw(lotte, school.client_id, actor_id=lotte) is False
    assert data.withdraw(lotte, "no-such-platform", actor_id=lotte) is False
    assert revoked(memory_db) == set(), "a school-agreement platform's grants are not touched"


def test_history_is_newest_first_paginated_and_names_who_acted(memory_db, data):
    client, lotte = platform(memory_db), person(memory_db, "lotte")
    admin = person(memory_db, "anna", "Anna")
    for _ in range(PAGE_SIZE):
        release(memory_db, lotte, client.client_id, ["given_name"])
    with memory_db.transaction() as session:
        audit.record(session, "school_admin_password_reset", actor_id=admin, subject_id=lotte)
    first = data.history(lotte)
    assert len(first.entries) == PAGE_SIZE and first.has_next
    newest = first.entries[0]
    assert (newest.event, newest.by, newest.by_me) == ("school_admin_password_reset", "Anna Peeters", False)
    assert first.entries[1].platform == "Rekenplatform" and first.entries[1].basis == "consent"
    second = data.history(lotte, 2)
    assert len(second.entries) == 1 and not second.has_next
    assert data.history(admin).entries[0].for_whom == "Lotte Peeters", "what the administrator did, for whom"


def test_export_holds_account_consents_events_and_no_secret(memory_db, data):
    client, lotte = platform(memory_db), person(memory_db, "lotte")
    ConsentStore(memory_db).give(lotte, client.client_id, 1, ["given_name"], lotte)
    release(memory_db, lotte, client.client_id, ["given_name"], code_hash="abc")
    export = data.export(lotte)
    assert export["account"]["username"] == "lotte" and export["mandates"] == []
    assert export["consents"][0]["platform"] == {"client_id": client.client_id, "name": "Rekenplatform"}
    assert [e["event"] for e in export["audit_events"]] == ["consent_given", "attributes_released"]
    assert "argon2" not in str(export) and "code_hash" not in str(export)
    assert data.history(lotte).entries[0].event == "data_exported", "the export itself is audited"


def test_safe_drops_secret_looking_keys():
    assert safe({"claims": ["x"], "password": "p", "totp_secret": "s", "refresh_token": "t"}) == {"claims": ["x"]}


def test_a_failed_badge_login_is_told_apart_from_a_wrong_password(memory_db, data):
    lotte = person(memory_db, "lotte.badge")
    with memory_db.transaction() as session:
        audit.record(session, "login_failed", actor_id=lotte, subject_id=lotte, detail={"method": "badge"})
        audit.record(session, "login_failed", actor_id=lotte, subject_id=lotte, detail={"method": "pwd"})
    assert [e.event for e in data.history(lotte).entries] == ["login_failed", "badge_login_failed"]
