"""The mandate store: who must accept a proposed mandate, when one holds, and the rules that always hold."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from idp.accounts import AccountService, NewAccount
from idp.crypto import Passwords
from idp.directory import Membership
from idp.errors import InvalidInput, NotFound
from mandates.store import MandateStore

TODAY = date.today()


def born(years: int) -> date:
    return TODAY.replace(year=TODAY.year - years) if (TODAY.month, TODAY.day) != (2, 29) \
        else date(TODAY.year - years, 2, 28)


@pytest.fixture
def db(memory_db):
    return memory_db


@pytest.fixture
def people(db):
    service = AccountService(db, Passwords(memory_kib=1024, time_cost=1, parallelism=1))
    service.create_school("100001", "Basisschool Een")
    made = {}
    for username, role, age, school in (("kind", "pupil", 9, "100001"), ("ouder", "parent", 40, None),
                                        ("oma", "parent", 70, None), ("volwassene", "staff", 30, "100001"),
                                        ("hulp", "parent", 35, None)):
        made[username] = service.create_account(NewAccount(
            username=username, password="Een-lang-wachtwoord-1", given_name=username.title(), family_name="T",
            role=role, school=school, birthdate=born(age))).id
    return made


def test_a_parent_mandate_the_school_did_not_register_waits_for_parent_and_school(db, people):
    store = MandateStore(db)
    held = store.propose("kind", "ouder", "parent", proposed_by=people["oma"])
    assert held.state == "proposed" and held.mandate.awaiting == ["actor", "school"]
    assert store.represented_by(people["ouder"], "login") == []
    with pytest.raises(NotFound):
        store.accept(held.mandate.id, people["oma"])  # not a party
    assert store.accept(held.mandate.id, people["ouder"]).state == "proposed"
    school_id = _school_id(db, "100001")
    assert store.accept(held.mandate.id, people["volwassene"], for_school=school_id).state == "active"
    assert [h.represented.id for h in store.represented_by(people["ouder"], "login")] == [people["kind"]]


def test_an_assistant_mandate_waits_for_the_adult_it_represents(db, people):
    store = MandateStore(db)
    held = store.propose("volwassene", "hulp", "assistant", proposed_by=people["hulp"], actions=["login"])
    assert held.mandate.awaiting == ["represented"]
    assert [h.mandate.id for h in store.waiting_for(people["volwassene"])] == [held.mandate.id]
    assert store.accept(held.mandate.id, people["volwassene"]).state == "active"
    with pytest.raises(InvalidInput):
        store.propose("kind", "hulp", "assistant", proposed_by=people["hulp"])  # a child chooses no assistant


def test_a_registered_parent_mandate_needs_only_the_parent(db, people):
    store = MandateStore(db)
    held = store.propose("kind", "ouder", "parent", proposed_by=people["volwassene"], by_school=True)
    assert held.mandate.awaiting == ["actor:code"], "the parent accepts with the code of the school's letter"
    assert store.waiting_for(people["ouder"]) == [], "not with a yes in Mijn leerID"
    with pytest.raises(NotFound):
        store.accept(held.mandate.id, people["ouder"])
    assert store.accept(held.mandate.id, people["ouder"], with_code=True).state == "active"


def test_a_deactivated_actor_acts_for_nobody(db, people):
    store = MandateStore(db)
    held = store.grant("kind", "ouder", "parent")
    with db.transaction() as session:
        from idp.accounts import Account
        session.get(Account, people["ouder"]).disabled_at = datetime.now(UTC)
    assert not store.in_force(held.mandate.id)


def test_a_parent_mandate_needs_the_childs_birthdate(db, people):
    with db.transaction() as session:
        from idp.accounts import Account
        session.get(Account, people["kind"]).birthdate = None
    with pytest.raises(InvalidInput):
        MandateStore(db).grant("kind", "ouder", "parent")


def test_a_parent_mandate_ends_on_the_eighteenth_birthday(db, people):
    store = MandateStore(db)
    held = store.grant("kind", "ouder", "parent")
    assert store.in_force(held.mandate.id)
    assert store.in_force(held.mandate.id, today=born(-9) - timedelta(days=1))
    assert not store.in_force(held.mandate.id, today=born(-9))


def test_a_school_mandate_ends_with_the_membership(db, people):
    store = MandateStore(db)
    held = store.grant("kind", "100001", "school", actions=["manage-account"])
    assert held.state == "active" and held.mandate.actor_school_id is not None
    with db.transaction() as session:
        for membership in session.scalars(select(Membership).where(Membership.account_id == people["kind"])):
            membership.valid_until = TODAY - timedelta(days=1)
    assert not store.in_force(held.mandate.id)


def test_revoked_and_ended_mandates_are_not_in_force(db, people):
    store = MandateStore(db)
    revoked = store.grant("kind", "ouder", "parent")
    store.revoke(revoked.mandate.id)
    ended = store.grant("kind", "oma", "parent", valid_until=TODAY - timedelta(days=1))
    assert ended.state == "expired"
    assert not store.in_force(revoked.mandate.id) and not store.in_force(ended.mandate.id)
    assert not store.in_force("1") and not store.in_force(None)


def _school_id(db, number: str) -> int:
    from idp.accounts import AccountRepository

    with db.read() as session:
        return AccountRepository(session).find_school(number).id


def _events(db, name: str) -> list:
    from idp.audit import AuditEvent

    with db.read() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def test_the_party_a_proposal_waits_for_may_decline_it(db, people):
    store = MandateStore(db)
    held = store.propose("volwassene", "hulp", "assistant", proposed_by=people["volwassene"], actions=["login"])
    declined = store.decline(held.mandate.id, people["hulp"])
    assert declined.state == "revoked" and declined.mandate.changed_by == people["hulp"]
    assert declined.mandate.changed_at is not None
    assert store.waiting_for(people["hulp"]) == [] and store.represented_by(people["hulp"], "login") == []
    [event] = _events(db, "mandate_declined")
    assert (event.actor_id, event.subject_id) == (people["hulp"], people["volwassene"])
    assert event.detail["mandate"] == held.mandate.id and event.detail["as"] == "actor"


def test_the_represented_adult_may_decline_a_proposal_made_to_them(db, people):
    store = MandateStore(db)
    held = store.propose("volwassene", "hulp", "assistant", proposed_by=people["hulp"])
    assert store.decline(held.mandate.id, people["volwassene"]).state == "revoked"
    assert _events(db, "mandate_declined")[0].detail["as"] == "represented"


def test_nobody_else_declines_and_nothing_changes(db, people):
    store = MandateStore(db)
    held = store.propose("volwassene", "hulp", "assistant", proposed_by=people["volwassene"])
    active = store.grant("kind", "ouder", "parent")
    attempts = ((held.mandate.id, people["oma"]),  # not a party
                (held.mandate.id, people["volwassene"]),  # a party, but the proposal does not wait for them
                (active.mandate.id, people["ouder"]),  # holds already: revoking is another thing
                (999_999, people["hulp"]))  # no such mandate
    for mandate_id, account_id in attempts:
        with pytest.raises(NotFound):
            store.decline(mandate_id, account_id)
    assert store.accept(held.mandate.id, people["hulp"]).state == "active", "the proposal still waits"
    assert store.in_force(active.mandate.id) and _events(db, "mandate_declined") == []
    with pytest.raises(NotFound):
        store.decline(held.mandate.id, people["hulp"])  # accepted: nothing left to decline


def test_the_sweep_marks_ended_mandates_expired_once_and_tells_where_they_were_used(db, people):
    told = []
    store = MandateStore(db, on_revoke=lambda mandate, platforms: told.append((mandate.id, platforms)))
    ending = store.grant("kind", "ouder", "parent", valid_until=TODAY)
    lasting = store.grant("kind", "oma", "parent")
    assert store.sweep(TODAY) == []
    swept = store.sweep(TODAY + timedelta(days=1))
    assert [h.mandate.id for h in swept] == [ending.mandate.id] and told == [(ending.mandate.id, [])]
    assert store.sweep(TODAY + timedelta(days=1)) == []
    assert store.in_force(lasting.mandate.id)


def test_the_standing_of_an_sso_hop_counts_only_memberships_current_today(db, people):
    store, school_id = MandateStore(db), _school_id(db, "100001")
    with db.transaction() as session:
        session.add(Membership(account_id=people["volwassene"], school_id=school_id, role="teacher",
                               valid_from=TODAY - timedelta(days=400), valid_until=TODAY - timedelta(days=1)))
        session.add(Membership(account_id=people["volwassene"], school_id=school_id, role="pupil",
                               valid_from=TODAY + timedelta(days=1)))
    adult = store.standing(people["volwassene"])
    assert (adult.active, adult.roles, adult.schools, adult.holds_mandates) == (True, {"staff"}, {school_id}, False)
    assert store.standing(people["ouder"]) == store.standing(people["ouder"], TODAY)
    assert (store.standing(people["ouder"]).roles, store.standing(people["ouder"]).schools) == (set(), set())
    store.grant("kind", "ouder", "parent")
    assert store.standing(people["ouder"]).holds_mandates and not store.standing(people["kind"]).holds_mandates
    assert store.standing(people["kind"], TODAY + timedelta(days=1)).roles == {"pupil"}
    assert not store.standing("no-such-account").active
    with db.transaction() as session:
        from idp.accounts import Account
        session.get(Account, people["kind"]).disabled_at = datetime.now(UTC)
    assert not store.standing(people["kind"]).active
