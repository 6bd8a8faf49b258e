"""Directory attributes as claims (DESIGN.md Tokens and claims): school, schools, class, roles, age_band.

Clients of this file:
  school_platform -- scopes openid school age, releases school, schools, class, roles, age_band
  name_only       -- scopes openid school, releases given_name only (asks for school, gets none of it)
"""
from __future__ import annotations

from datetime import date

import pytest

from tests.protocol.helpers import Browser, sign_in, userinfo, verify_id_token

DIRECTORY = ("school", "schools", "class", "roles", "age_band")
SCHOOL_PLATFORM = ("--scope", "openid", "--scope", "school", "--scope", "age",
                   *(arg for name in DIRECTORY for arg in ("--attribute", name)))


def school_year_label(today: date) -> str:
    start = today.year if today.month >= 9 else today.year - 1
    return f"{start}-{start + 1}"


@pytest.fixture(scope="module")
def school_platform(provider):
    return provider.client(*SCHOOL_PLATFORM)


@pytest.fixture(scope="module")
def name_only(provider):
    return provider.client("--scope", "openid", "--scope", "school", "--attribute", "given_name")


@pytest.fixture(scope="module")
def pupil(provider, school):
    ten_years_ago = date.today().replace(year=date.today().year - 10, day=1)
    return provider.user("pupil", school, **{"class": "4B", "birthdate": ten_years_ago.isoformat()})


def test_directory_claims_reach_a_client_that_asks_for_them(provider, school, school_platform, pupil):
    with Browser(provider) as browser:
        login = sign_in(provider, browser, school_platform, pupil, scope="openid school age")
    claims = verify_id_token(provider, login.id_token, school_platform["client_id"])
    number = school
    assert claims["school"]["number"] == number and claims["school"]["name"] == f"Testschool {number}"
    assert claims["schools"] == [claims["school"]]
    assert claims["class"] == {"name": "4B", "grade": None, "school_year": school_year_label(date.today())}
    assert claims["roles"] == ["pupil"]
    assert claims["age_band"] == "under_13"
    info = userinfo(provider, login.access_token).json()
    assert {name: info.get(name) for name in DIRECTORY} == {name: claims[name] for name in DIRECTORY}


def test_without_the_scope_no_directory_claims(provider, school_platform, pupil):
    with Browser(provider) as browser:
        login = sign_in(provider, browser, school_platform, pupil, scope="openid")
    claims = verify_id_token(provider, login.id_token, school_platform["client_id"])
    assert not set(DIRECTORY) & set(claims), claims


def test_outside_the_policy_no_directory_claims(provider, name_only, pupil):
    with Browser(provider) as browser:
        login = sign_in(provider, browser, name_only, pupil, scope="openid school")
    claims = verify_id_token(provider, login.id_token, name_only["client_id"])
    assert not set(DIRECTORY) & set(claims), claims
    assert not set(DIRECTORY) & set(userinfo(provider, login.access_token).json())


def test_teacher_claims_name_only_their_own_school(provider, school_platform):
    own, other = provider.school(), provider.school()
    provider.cli("clients", "activate", school_platform["client_id"], "--school", own)
    teacher = provider.user("teacher", own)
    with Browser(provider) as browser:
        login = sign_in(provider, browser, school_platform, teacher, scope="openid school")
    claims = verify_id_token(provider, login.id_token, school_platform["client_id"])
    assert claims["roles"] == ["teacher"] and claims["school"]["number"] == own
    assert [s["number"] for s in claims["schools"]] == [own] and other != own
    assert "class" not in claims
