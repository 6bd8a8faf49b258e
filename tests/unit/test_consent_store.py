"""clients.consents.ConsentStore: a consent holds per person, platform and release-policy version; giving again
keeps the history; withdrawing ends the platform's refresh grants for that person (DESIGN.md Tokens and claims,
Audit)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from clients.consents import Consent, ConsentStore
from clients.models import Client
from clients.service import ClientRegistry, NewClient
from idp.accounts import Account
from idp.audit import AuditEvent
from idp.db import utcnow
from idp.tokens import RefreshToken, RevokedGrant


@pytest.fixture
def consents(memory_db) -> ConsentStore:
    return ConsentStore(memory_db)


def platform(db, basis: str = "consent") -> Client:
    return ClientRegistry(db).create(NewClient(
        name="Leerplatform", redirect_uris=("https://rp.example/callback",), basis=basis,
        scopes=("openid", "profile", "email", "offline_access"), attributes=("given_name", "email"))).client


def person(db, username: str = "lotte") -> str:
    with db.transaction() as session:
        account = Account(username=username, given_name="Lotte", family_name="Peeters", role="pupil")
        session.add(account)
        session.flush()
        return account.id


def refresh_grant(db, account_id: str, client_id: str, grant_id: str) -> None:
    with db.transaction() as session:
        session.add(RefreshToken(token_hash=grant_id.ljust(64, "0"), grant_id=grant_id, client_id=client_id,
                                 account_id=account_id, scope="openid offline_access", context={},
                                 expires_at=utcnow() + timedelta(days=1)))


def events(db, name: str) -> list[AuditEvent]:
    with db.read() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def revoked(db) -> set[str]:
    with db.read() as session:
        return set(session.scalars(select(RevokedGrant.grant_id)))


def test_nothing_is_consented_until_given(memory_db, consents):
    client, lotte = platform(memory_db), person(memory_db)
    assert consents.current(lotte, client.client_id, 1) is None
    assert consents.released_to(client, lotte) == []


def test_a_consent_holds_for_its_policy_version_only(memory_db, consents):
    client, lotte = platform(memory_db), person(memory_db)
    consents.give(lotte, client.client_id, 1, ["given_name"], lotte)
    assert consents.current(lotte, client.client_id, 1).attributes == ["given_name"]
    assert consents.current(lotte, client.client_id, 2) is None, "a newer policy asks again"
    with memory_db.transaction() as session:
        session.execute(update(Client).where(Client.client_id == client.client_id).values(policy_version=2))
        bumped = session.get(Client, client.client_id)
        session.expunge(bumped)
    assert consents.released_to(bumped, lotte) == [], "nothing is released under a policy not consented to"


def test_the_policy_version_starts_at_one(memory_db):
    client = platform(memory_db)
    with memory_db.read() as session:
        assert session.get(Client, client.client_id).policy_version == 1


def test_giving_again_withdraws_the_earlier_consent_and_keeps_it(memory_db, consents):
    client, lotte = platform(memory_db), person(memory_db)
    consents.give(lotte, client.client_id, 1, ["given_name"], lotte)
    consents.give(lotte, client.client_id, 1, ["email", "given_name"], lotte)
    with memory_db.read() as session:
        rows = list(session.scalars(select(Consent).order_by(Consent.id)))
    assert [r.attributes for r in rows] == [["given_name"], ["email", "given_name"]]
    assert rows[0].withdrawn_at is not None and rows[1].withdrawn_at is None, "one active consent, history kept"
    assert consents.current(lotte, client.client_id, 1).covers(["email", "given_name"])
    given = events(memory_db, "consent_given")
    assert len(given) == 2
    assert (given[-1].actor_id, given[-1].subject_id, given[-1].client_id) == (lotte, lotte, client.client_id)
    assert given[-1].detail == {"attributes": ["email", "given_name"], "declined": [], "policy_version": 1}


def test_consents_are_per_person_and_platform(memory_db, consents):
    client, other = platform(memory_db), platform(memory_db)
    lotte, jonas = person(memory_db), person(memory_db, "jonas")
    consents.give(lotte, client.client_id, 1, ["given_name"], lotte)
    assert consents.current(jonas, client.client_id, 1) is None
    assert consents.current(lotte, other.client_id, 1) is None


def test_withdraw_ends_the_consent_and_revokes_that_platforms_refresh_grants(memory_db, consents):
    client, other = platform(memory_db), platform(memory_db)
    lotte, jonas = person(memory_db), person(memory_db, "jonas")
    consents.give(lotte, client.client_id, 1, ["given_name"], lotte)
    refresh_grant(memory_db, lotte, client.client_id, "grant-lotte-here")
    refresh_grant(memory_db, lotte, other.client_id, "grant-lotte-elsewhere")
    refresh_grant(memory_db, jonas, client.client_id, "grant-jonas-here")
    assert consents.withdraw(lotte, client.client_id, actor_id=lotte) is True
    assert consents.current(lotte, client.client_id, 1) is None
    assert consents.released_to(client, lotte) == []
    assert revoked(memory_db) == {"grant-lotte-here"}, "only that person's grants at that platform"
    withdrawn = events(memory_db, "consent_withdrawn")
    assert [(e.actor_id, e.subject_id, e.client_id) for e in withdrawn] == [(lotte, lotte, client.client_id)]
    with memory_db.read() as session:
        assert session.scalar(select(Consent.withdrawn_at)) is not None, "the row is kept"


def test_withdrawing_nothing_records_nothing(memory_db, consents):
    client, lotte = platform(memory_db), person(memory_db)
    assert consents.withdraw(lotte, client.client_id, actor_id=lotte) is False
    assert events(memory_db, "consent_withdrawn") == []


def test_a_school_agreement_platform_needs_no_consent(memory_db, consents):
    client, lotte = platform(memory_db, "school-agreement"), person(memory_db)
    assert consents.released_to(client, lotte) is None
