"""idp.claims.release: which claims the ID token, userinfo and introspection carry (OIDC Core §5.4, §5.5;
DESIGN.md Tokens and claims: policy ∩ asked ∩ consented)."""
from __future__ import annotations

from datetime import date

import pytest

from idp.accounts import Account
from idp.claims import release, requested

POLICY = ["given_name", "family_name", "email"]


@pytest.fixture
def person() -> Account:
    return Account(username="lotte", given_name="Lotte", family_name="Peeters", role="pupil",
                   email="lotte@school.example", birthdate=date(2014, 3, 1), memberships=[])


def test_scope_claims_go_to_every_target(person):
    for target in ("id_token", "userinfo", "introspection"):
        assert release(person, "openid profile", POLICY, target=target) == {"given_name": "Lotte",
                                                                            "family_name": "Peeters"}


def test_userinfo_member_goes_to_userinfo_only(person):
    claims = {"userinfo": {"email": None}}
    assert release(person, "openid", POLICY, claims, target="userinfo") == {"email": "lotte@school.example"}
    assert release(person, "openid", POLICY, claims, target="id_token") == {}
    assert release(person, "openid", POLICY, claims, target="introspection") == {}


def test_id_token_member_goes_to_the_id_token_only(person):
    claims = {"id_token": {"email": {"essential": True}}}
    assert release(person, "openid", POLICY, claims, target="id_token") == {"email": "lotte@school.example"}
    assert release(person, "openid", POLICY, claims, target="userinfo") == {}
    assert release(person, "openid email", POLICY, claims, target="userinfo") == {"email": "lotte@school.example"}


def test_essential_never_overrides_the_policy(person):
    essential = {"essential": True}
    claims = {"id_token": {"birthdate": essential}, "userinfo": {"birthdate": essential}}
    for target in ("id_token", "userinfo", "introspection"):
        assert "birthdate" not in release(person, "openid birthdate", POLICY, claims, target=target)


def test_essential_never_overrides_consent(person):
    claims = {"id_token": {"email": {"essential": True}}, "userinfo": {"email": {"essential": True}}}
    for target in ("id_token", "userinfo"):
        assert release(person, "openid profile", POLICY, claims, ["given_name"], target=target) == {
            "given_name": "Lotte"}
        assert release(person, "openid profile", POLICY, claims, [], target=target) == {}


def test_school_agreement_basis_needs_no_consent(person):
    assert release(person, "openid email", POLICY, None, None, target="userinfo") == {
        "email": "lotte@school.example"}


@pytest.mark.parametrize("request_", [{"value": "someone-else@example.org"},
                                      {"values": ["a@example.org", "b@example.org"]},
                                      {"value": "lotte@school.example", "essential": True}])
def test_value_and_values_are_a_plain_request(person, request_):
    """§5.5.1 for attribute claims: the person's own value is released, whatever value was asked."""
    claims = {"userinfo": {"email": request_}}
    assert release(person, "openid", POLICY, claims, target="userinfo") == {"email": "lotte@school.example"}


def test_what_the_account_lacks_is_left_out(person):
    person.email = None
    assert release(person, "openid email", POLICY, target="userinfo") == {}


def test_unknown_names_and_odd_members_ask_for_nothing():
    assert requested({"userinfo": {"shoe_size": None, "email": None}}, "userinfo") == {"email"}
    assert requested({"userinfo": ["email"]}, "userinfo") == set()
    assert requested(None, "id_token") == set()


def test_unknown_target_is_a_programming_error(person):
    with pytest.raises(ValueError):
        release(person, "openid", POLICY, target="access_token")


def test_a_person_read_in_one_query_has_the_attributes_of_the_loaded_account(memory_db):
    """read_person (plain columns, for the token endpoint, userinfo and introspection) and Person.of (a loaded
    Account, for the pages) give the same attributes: current memberships only, the first class, every school."""
    from datetime import timedelta

    from idp.accounts import AccountRepository, AccountService, NewAccount, read_person
    from idp.claims import attribute_values
    from idp.crypto import Passwords
    from idp.directory import Membership

    service = AccountService(memory_db, Passwords(memory_kib=1024, time_cost=1, parallelism=1))
    service.create_school("100001", "Basisschool Een")
    service.create_school("100002", "Middenschool Twee")
    made = service.create_account(NewAccount(
        username="mila", password="Een-lang-wachtwoord-1", given_name="Mila", family_name="Claes", role="pupil",
        school="100001", class_name="5B", birthdate=date(2014, 3, 1), email="mila@school.example"))
    today = date.today()
    with memory_db.transaction() as session:
        repository = AccountRepository(session)
        two, one = repository.find_school("100002"), repository.find_school("100001")
        session.add(Membership(account_id=made.id, school_id=two.id, role="pupil", valid_from=today))
        session.add(Membership(account_id=made.id, school_id=one.id, role="staff",
                               valid_from=today - timedelta(days=30), valid_until=today - timedelta(days=1)))
    person = read_person(memory_db, made.id)
    with memory_db.read() as session:
        loaded = AccountRepository(session).find(made.id)
        expected = attribute_values(loaded, today)
    assert attribute_values(person, today) == expected
    assert expected["schools"] == [{"number": "100001", "name": "Basisschool Een"},
                                   {"number": "100002", "name": "Middenschool Twee"}]
    assert expected["class"]["name"] == "5B" and expected["roles"] == ["pupil"]
    assert read_person(memory_db, "no-such-account") is None
    service.deactivate("mila")
    assert read_person(memory_db, made.id) is None, "a deactivated account has no claims to give"
