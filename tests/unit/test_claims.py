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
