"""SCIM 2.0 at /scim/v2 (RFC 7643/7644): a school's administration software provisions its people and classes.

Clients: each school's provisioning client (`leerid schools provisioning-client`), tokens by client_credentials.
"""
from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import count

import pytest
from scim2_tester import Status, check_server
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from idp.accounts import Account
from idp.audit import AuditEvent
from idp.db import make_engine
from idp.directory import School
from tests.live import at_once
from tests.local_http import Documents
from tests.protocol.helpers import Browser, authorize_url, sign_in
from tests.protocol.scim_helpers import (
    EDUCATION,
    ERROR,
    GROUP,
    SCIM_JSON,
    USER,
    Scim,
    client_token,
    scim2_client,
)

OK = (Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE)
ROOT_SEARCH = "search_with_attributes"  # POST /.search over every resource type: 501, which the tester skips


def software(provider, school: str) -> tuple[Scim, dict]:
    registered = provider.cli("schools", "provisioning-client", "--school", school)
    token = client_token(provider, registered["client_id"], registered["client_secret"])
    return Scim(provider, token), dict(registered, token=token)


@pytest.fixture(scope="module")
def school_a(provider) -> str:
    return provider.school()


@pytest.fixture(scope="module")
def school_b(provider) -> str:
    return provider.school()


@pytest.fixture(scope="module")
def scim_a(provider, school_a):
    scim, registered = software(provider, school_a)
    scim.client_id = registered["client_id"]
    yield scim
    scim.close()


@pytest.fixture(scope="module")
def scim_b(provider, school_b):
    scim, _ = software(provider, school_b)
    yield scim
    scim.close()


def born() -> str:
    """A birthdate nobody else in the test database has, so that matching by name and birthdate is exact."""
    return f"{secrets.randbelow(30) + 1980}-{secrets.randbelow(12) + 1:02d}-{secrets.randbelow(28) + 1:02d}"


def unique_name() -> str:
    return "Fam" + secrets.token_hex(4)


def created(response) -> dict:
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith(SCIM_JSON)
    return response.json()


def assert_scim_error(response, status: int, scim_type: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(SCIM_JSON)
    error = response.json()
    assert error["schemas"] == [ERROR] and error["status"] == str(status)
    if scim_type:
        assert error["scimType"] == scim_type
    return error


@contextmanager
def database(provider) -> Iterator[Connection]:
    """The live provider's database, for checking what a request wrote (or did not)."""
    engine = make_engine(provider.env["LEERID_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def current_schools(provider, username: str) -> set[str]:
    return {m["school"] for m in provider.cli("users", "show", username)["memberships"] if m["valid_until"] is None}


def review_of(provider, school: str, external_id: str) -> dict:
    return next(r for r in provider.cli("import", "reviews", "--school", school)["reviews"]
                if r["external_id"] == external_id)


def shared_person(provider, scim, here: str, there: str, role: str = "teacher", class_name: str | None = None) -> dict:
    """A person of school `there` whom the helpdesk also placed at `here` (after `here`'s POST was held): a member
    of both schools today. Their CLI summary, with the family name, birthdate and external id used here."""
    family, birthdate, external_id = unique_name(), born(), "x-" + secrets.token_hex(4)
    person = provider.user(role, school=there, birthdate=birthdate, family_name=family)
    held = scim.create_user("Lotte", family, birthdate, role=role, class_name=class_name, external_id=external_id)
    assert_scim_error(held, 409, "uniqueness")
    provider.cli("import", "resolve", str(review_of(provider, here, external_id)["id"]), "--username",
                 person["username"])
    assert current_schools(provider, person["username"]) == {here, there}
    return dict(person, family=family, birthdate=birthdate, external_id=external_id)


# --- the compliance checker ---------------------------------------------------------------------------------


def test_scim2_tester_finds_no_fault(provider, school_a, scim_a):
    scim, registered = software(provider, provider.school())
    scim.close()
    results = check_server(scim2_client(provider, registered["token"]))
    failed = [r for r in results if r.status not in OK and not (r.status == Status.SKIPPED and r.title == ROOT_SEARCH)]
    for result in failed:
        print(result.status, result.resource_type, result.title, result.reason)
    assert len(results) > 40
    assert not failed
    assert {r.resource_type for r in results if r.status == Status.SUCCESS} >= {"User", "Group"}


# --- who may call --------------------------------------------------------------------------------------------


def test_without_a_token_the_answer_is_401_with_a_bearer_challenge(provider):
    response = provider.http.get("/scim/v2/Users")
    assert_scim_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_bad_token_is_401(provider):
    scim = Scim(provider, "not-a-token")
    response = scim.get("/Users")
    assert_scim_error(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_platforms_token_is_refused(provider):
    platform = provider.client()
    token = client_token(provider, platform["client_id"], platform["client_secret"])
    response = Scim(provider, token).get("/Users")
    assert response.status_code in (401, 403), response.text
    assert_scim_error(response, response.status_code)
    assert "insufficient_scope" in response.headers["WWW-Authenticate"]


# --- one school sees one school ------------------------------------------------------------------------------


def test_another_schools_person_is_404_like_a_stranger(scim_a, scim_b):
    theirs = created(scim_b.create_user("Jef", unique_name(), born()))
    nobody = "00000000-0000-4000-8000-000000000000"
    replacement = {"schemas": [USER, EDUCATION], "name": {"givenName": "X", "familyName": "Y"}, "active": False,
                   EDUCATION: {"role": "pupil", "birthdate": "2014-01-01", "className": "1A"}}
    for target in (theirs["id"], nobody):
        responses = [scim_a.get(f"/Users/{target}"),
                     scim_a.request("PUT", f"/Users/{target}", replacement),
                     scim_a.patch(f"/Users/{target}", {"op": "replace", "path": "active", "value": False}),
                     scim_a.request("DELETE", f"/Users/{target}")]
        details = {assert_scim_error(r, 404)["detail"] for r in responses}
        assert details == {"no such User"}
    after = scim_b.get(f"/Users/{theirs['id']}").json()
    assert after["active"] is True and after["name"] == theirs["name"]


def test_another_schools_class_is_404(scim_a, scim_b):
    theirs = created(scim_b.request("POST", "/Groups", {"schemas": [GROUP], "displayName": unique_name()}))
    for response in (scim_a.get(f"/Groups/{theirs['id']}"),
                     scim_a.request("PUT", f"/Groups/{theirs['id']}", {"schemas": [GROUP], "displayName": "Mine"}),
                     scim_a.patch(f"/Groups/{theirs['id']}", {"op": "replace", "path": "displayName", "value": "M"}),
                     scim_a.request("DELETE", f"/Groups/{theirs['id']}")):
        assert assert_scim_error(response, 404)["detail"] == "no such Group"
    assert scim_b.get(f"/Groups/{theirs['id']}").json()["displayName"] == theirs["displayName"]


def test_lists_and_filters_never_show_another_schools_people(scim_a, scim_b):
    family = unique_name()
    theirs = created(scim_b.create_user("Mira", family, born(), external_id="shared-7"))
    ours = created(scim_a.create_user("Mira", family + "x", born(), external_id="shared-7"))
    everyone = scim_a.get("/Users", count=200).json()
    assert theirs["id"] not in {u["id"] for u in everyone["Resources"]}
    for expression in (f'name.familyName eq "{family}"', f'id eq "{theirs["id"]}"',
                       f'userName eq "{theirs["userName"]}"', f'name.familyName sw "{family}" or userName pr'):
        found = scim_a.get("/Users", filter=expression, count=200).json()
        assert theirs["id"] not in {u["id"] for u in found.get("Resources", [])}, expression
    same_external_id = scim_a.get("/Users", filter='externalId eq "shared-7"').json()
    assert [u["id"] for u in same_external_id["Resources"]] == [ours["id"]]


def test_a_school_cannot_make_anyone_a_member_elsewhere(provider, school_a, school_b, scim_a, scim_b):
    theirs = created(scim_b.create_user("Noor", unique_name(), born(), class_name="3B"))
    group = created(scim_a.request("POST", "/Groups", {"schemas": [GROUP], "displayName": unique_name()}))
    added = scim_a.patch(f"/Groups/{group['id']}", {"op": "add", "path": "members", "value": [{"value": theirs["id"]}]})
    assert_scim_error(added, 400, "invalidValue")
    assert "members" not in scim_a.get(f"/Groups/{group['id']}").json()
    # the school number in the extension is read-only: the person becomes a member of the token's school only
    family = unique_name()
    body = created(scim_a.create_user("Wout", family, born(), class_name="2C",
                                      **{EDUCATION: {"role": "teacher", "birthdate": born(), "schoolNumber": school_b}}))
    shown = provider.cli("users", "show", body["userName"])
    assert {m["school"] for m in shown["memberships"]} == {school_a}
    assert scim_b.get(f"/Users/{body['id']}").status_code == 404
    assert scim_b.get(f"/Users/{theirs['id']}").json()[EDUCATION]["className"] == "3B"


# --- creating, changing, deleting ----------------------------------------------------------------------------


def test_create_chooses_the_username_and_matches_a_known_person(provider, school_a, scim_a):
    birthdate, family = born(), unique_name()
    known = provider.user("teacher", birthdate=birthdate, family_name=family)  # at no school today
    body = created(scim_a.create_user("Lotte", family, birthdate, role="teacher", class_name=None,
                                      userName="chosen.by.client"))
    assert body["id"] == known["id"] and body["userName"] == known["username"]
    assert current_schools(provider, known["username"]) == {school_a}
    fresh = created(scim_a.create_user("Zoë", "Van Damme-" + secrets.token_hex(2), born()))
    assert fresh["userName"].startswith("zoe.vandamme")
    assert fresh[EDUCATION] == {"role": "pupil", "className": "1A", "birthdate": fresh[EDUCATION]["birthdate"]}
    with_school = scim_a.get(f"/Users/{fresh['id']}", attributes=f"{EDUCATION}:schoolNumber").json()
    assert with_school[EDUCATION]["schoolNumber"]


def test_missing_or_wrong_data_is_400_invalid_value(scim_a):
    no_birthdate = scim_a.request("POST", "/Users", {"schemas": [USER, EDUCATION], "name": {
        "givenName": "A", "familyName": "B"}, EDUCATION: {"role": "pupil", "className": "1A"}})
    assert "birthdate" in assert_scim_error(no_birthdate, 400, "invalidValue")["detail"]
    bad_role = scim_a.create_user("A", "B", born(), role="principal")
    assert "role" in assert_scim_error(bad_role, 400, "invalidValue")["detail"]
    bad_date = scim_a.create_user("A", "B", "21/03/2014")
    assert "birthdate" in assert_scim_error(bad_date, 400, "invalidValue")["detail"]


def test_an_uncertain_match_is_409_for_the_helpdesk(provider, school_b, scim_a):
    birthdate = born()
    for _ in range(2):
        provider.user("pupil", school=school_b, birthdate=birthdate, **{"class": "5A"})  # two Lotte Peeters
    response = scim_a.create_user("Lotte", "Peeters", birthdate, external_id="held-1")
    assert "helpdesk" in assert_scim_error(response, 409, "uniqueness")["detail"]
    reviews = provider.cli("import", "reviews")["reviews"]
    assert any(r["external_id"] == "held-1" and len(r["candidates"]) == 2 for r in reviews)


def test_another_schools_current_pupil_is_held_like_several_candidates(provider, school_a, school_b, scim_a):
    """Name and birthdate of another school's pupil do not make them this school's: the helpdesk decides, and the
    answer is the same as for several candidates, so that it tells nothing about where anyone is."""
    family, birthdate, several = unique_name(), born(), born()
    pupil = provider.user("pupil", school=school_b, birthdate=birthdate, family_name=family, **{"class": "5A"})
    for _ in range(2):
        provider.user("pupil", school=school_b, birthdate=several, family_name=family, **{"class": "5B"})
    before = provider.cli("users", "show", pupil["username"])
    one = scim_a.create_user("Lotte", family, birthdate, class_name="1C", external_id="held-" + family)
    error = assert_scim_error(one, 409, "uniqueness")
    for secret in (school_b, pupil["username"], "another school", "several", "5A"):
        assert secret not in error["detail"]
    two = scim_a.create_user("Lotte", family, several, class_name="1C", external_id="held2-" + family)
    assert one.json() == two.json() and one.headers["content-type"] == two.headers["content-type"]
    after = provider.cli("users", "show", pupil["username"])
    assert after["memberships"] == before["memberships"] and after["active"] is True
    assert [(m["school"], m["class"]) for m in after["memberships"]] == [(school_b, "5A")]
    assert scim_a.get("/Users", filter=f'name.familyName eq "{family}"').json()["totalResults"] == 0
    review = review_of(provider, school_a, "held-" + family)
    assert [c["username"] for c in review["candidates"]] == [pupil["username"]]


def test_a_held_match_without_external_id_is_409_and_keeps_nothing(provider, school_a, school_b, scim_a):
    """The review list keeps rows by external id: without one the school is asked for it (not a 500)."""
    family, birthdate = unique_name(), born()
    provider.user("pupil", school=school_b, birthdate=birthdate, family_name=family)
    response = scim_a.create_user("Lotte", family, birthdate)
    assert "externalId" in assert_scim_error(response, 409, "uniqueness")["detail"]
    assert not [r for r in provider.cli("import", "reviews", "--school", school_a)["reviews"]
                if r["row"]["family_name"] == family]


def test_patch_with_etags(provider, scim_a):
    user = created(scim_a.create_user("Ilse", unique_name(), born(), external_id="e-1"))
    path = f"/Users/{user['id']}"
    read = scim_a.get(path)
    etag = read.headers["ETag"]
    assert etag.startswith('W/"') and read.json()["meta"]["version"] == etag
    stale = scim_a.patch(path, {"op": "replace", "path": "name.givenName", "value": "Elsa"}, **{"If-Match": 'W/"0"'})
    assert_scim_error(stale, 412)
    changed = scim_a.patch(path, {"op": "replace", "path": "name.givenName", "value": "Elsa"},
                           {"op": "add", "path": "emails", "value": [{"value": "elsa@school.example"}]},
                           {"op": "replace", "path": f"{EDUCATION}:className", "value": "4D"},
                           {"op": "replace", "path": "externalId", "value": "e-2"}, **{"If-Match": etag})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["name"]["givenName"] == "Elsa" and body["emails"] == [{"value": "elsa@school.example"}]
    assert body[EDUCATION]["className"] == "4D" and body["externalId"] == "e-2"
    assert changed.headers["ETag"] not in (etag, None)
    assert_scim_error(scim_a.patch(path, {"op": "replace", "path": "displayName", "value": "x"},
                                   **{"If-Match": etag}), 412)
    removed = scim_a.patch(path, {"op": "remove", "path": "emails"}, {"op": "remove", "path": "externalId"})
    assert "emails" not in removed.json() and "externalId" not in removed.json()
    shown = provider.cli("users", "show", user["userName"])
    assert shown["given_name"] == "Elsa" and shown["email"] is None


def test_put_replaces_and_keeps_the_username(scim_a):
    user = created(scim_a.create_user("Bram", unique_name(), born(), role="staff", class_name=None))
    replacement = {"schemas": [USER, EDUCATION], "userName": "ignored.name", "name": {
        "givenName": "Bram", "familyName": "Claes"}, "active": True, EDUCATION: {
        "role": "teacher", "birthdate": "1990-02-03", "className": "6A"}}
    response = scim_a.request("PUT", f"/Users/{user['id']}", replacement, **{"If-Match": user["meta"]["version"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["userName"] == user["userName"] and body["name"]["familyName"] == "Claes"
    assert body[EDUCATION] == {"role": "teacher", "className": "6A", "birthdate": "1990-02-03"}


def test_inactive_deactivates_a_one_school_account(provider, scim_a):
    user = created(scim_a.create_user("Saar", unique_name(), born()))
    response = scim_a.patch(f"/Users/{user['id']}", {"op": "replace", "path": "active", "value": False})
    assert response.status_code == 200 and response.json()["active"] is False
    assert provider.cli("users", "show", user["userName"])["active"] is False
    again = scim_a.patch(f"/Users/{user['id']}", {"op": "replace", "value": {"active": True}})
    assert again.json()["active"] is True and provider.cli("users", "show", user["userName"])["active"] is True


def test_inactive_ends_the_sessions_and_tells_the_platforms(provider, school_a, scim_a):
    """Security review of issue 7, finding 7: deactivated through SCIM as through the console or the command line."""
    pupil = provider.user(school=school_a)
    with Documents() as receiver, Browser(provider) as browser:
        platform = provider.client("--backchannel-logout-uri", receiver.receiver("/bc"))
        sign_in(provider, browser, platform, pupil)
        response = scim_a.patch(f"/Users/{pupil['id']}", {"op": "replace", "path": "active", "value": False})
        assert response.status_code == 200 and response.json()["active"] is False
        assert len(receiver.wait_for_posts("/bc")) == 1, "the platform heard of it by back-channel"
        again = browser.authorize(authorize_url(provider, platform, prompt="none"))
        assert again.params.get("error") == "login_required", "the session ended"


def test_inactive_for_someone_also_elsewhere_only_ends_the_membership_here(provider, school_a, school_b, scim_a):
    person = shared_person(provider, scim_a, school_a, school_b)
    response = scim_a.patch(f"/Users/{person['id']}", {"op": "replace", "path": "active", "value": False})
    assert response.status_code == 204, response.text
    assert_scim_error(scim_a.get(f"/Users/{person['id']}"), 404)
    assert provider.cli("users", "show", person["username"])["active"] is True
    assert current_schools(provider, person["username"]) == {school_b}


def test_inactive_on_create_for_someone_also_elsewhere_only_ends_the_membership_here(provider, school_a, school_b,
                                                                                      scim_a):
    """A POST that finds someone by an external id this school gave them before follows the PATCH rule."""
    person = shared_person(provider, scim_a, school_a, school_b)
    assert scim_a.request("DELETE", f"/Users/{person['id']}").status_code == 204
    again = scim_a.create_user("Lotte", person["family"], person["birthdate"], role="teacher", class_name=None,
                               external_id=person["external_id"], active=False)
    assert again.status_code == 204, again.text
    assert provider.cli("users", "show", person["username"])["active"] is True
    assert current_schools(provider, person["username"]) == {school_b}


def test_a_shared_persons_account_fields_cannot_change_here(provider, school_a, school_b, scim_a, scim_b):
    person = shared_person(provider, scim_a, school_a, school_b, class_name="2A")
    path = f"/Users/{person['id']}"
    for operation in ({"op": "replace", "path": "name.givenName", "value": "Lotta"},
                      {"op": "replace", "path": "name.familyName", "value": "Janssens"},
                      {"op": "replace", "path": f"{EDUCATION}:birthdate", "value": "2001-02-03"},
                      {"op": "add", "path": "emails", "value": [{"value": "lotte@school.example"}]}):
        error = assert_scim_error(scim_a.patch(path, operation), 400, "mutability")
        assert "another school" in error["detail"] and "helpdesk" in error["detail"]
    current = scim_a.get(path).json()
    renamed = dict(current, name={"givenName": "Lotta", "familyName": person["family"]})
    assert_scim_error(scim_a.request("PUT", path, renamed), 400, "mutability")
    echo = {key: value for key, value in current.items() if key != "meta"}
    echo[EDUCATION] = dict(current[EDUCATION], className="3C")
    moved = scim_a.request("PUT", path, echo, **{"If-Match": current["meta"]["version"]})
    assert moved.status_code == 200, moved.text
    assert moved.json()[EDUCATION]["className"] == "3C" and moved.json()["externalId"] == person["external_id"]
    shown = provider.cli("users", "show", person["username"])
    assert (shown["given_name"], shown["family_name"], shown["birthdate"], shown["email"]) == (
        "Lotte", person["family"], person["birthdate"], None)
    assert current_schools(provider, person["username"]) == {school_a, school_b}
    assert scim_b.get(path).json()["name"] == {"givenName": "Lotte", "familyName": person["family"]}


def test_delete_ends_the_membership_and_the_account_lives_on(provider, school_a, school_b, scim_a):
    person = shared_person(provider, scim_a, school_a, school_b, class_name="2A")
    body = scim_a.get(f"/Users/{person['id']}").json()
    assert body[EDUCATION]["className"] == "2A"
    deleted = scim_a.request("DELETE", f"/Users/{body['id']}")
    assert deleted.status_code == 204 and not deleted.content
    assert_scim_error(scim_a.get(f"/Users/{body['id']}"), 404)
    assert body["id"] not in {u["id"] for u in scim_a.get("/Users", count=200).json()["Resources"]}
    shown = provider.cli("users", "show", person["username"])
    assert shown["active"] is True
    here = [m for m in shown["memberships"] if m["school"] == school_a]
    assert here and all(m["valid_until"] is not None for m in here)
    assert any(m["school"] == school_b and m["valid_until"] is None for m in shown["memberships"])


def test_only_an_account_this_school_deactivated_comes_back(provider, school_a, scim_a):
    ours = created(scim_a.create_user("Kato", unique_name(), born()))
    inactive = {"op": "replace", "path": "active", "value": False}
    assert scim_a.patch(f"/Users/{ours['id']}", inactive).json()["active"] is False
    with database(provider) as conn:
        school_id = conn.scalar(select(School.id).where(School.number == school_a))
        decided_by = conn.scalars(select(AuditEvent.school_id).where(
            AuditEvent.event == "account_deactivated", AuditEvent.subject_id == ours["id"])).all()
    assert decided_by == [school_id], "the deactivation records which school decided it"
    back = scim_a.patch(f"/Users/{ours['id']}", {"op": "replace", "path": "active", "value": True})
    assert back.status_code == 200 and back.json()["active"] is True
    theirs = created(scim_a.create_user("Jana", unique_name(), born()))
    provider.cli("users", "deactivate", theirs["userName"])
    refused = scim_a.patch(f"/Users/{theirs['id']}", {"op": "replace", "path": "active", "value": True})
    assert "helpdesk" in assert_scim_error(refused, 403)["detail"]
    assert provider.cli("users", "show", theirs["userName"])["active"] is False
    assert scim_a.get(f"/Users/{theirs['id']}").json()["active"] is False


def test_an_administrator_made_pupil_is_no_longer_administrator(provider, school_a, scim_a):
    username, family = f"adm{secrets.token_hex(4)}", unique_name()
    provider.cli("users", "create", "--username", username, "--password", f"Pw-{secrets.token_urlsafe(10)}",
                 "--given-name", "Greet", "--family-name", family, "--role", "staff", "--school", school_a,
                 "--birthdate", born(), "--school-admin")
    path = "/Users/" + provider.cli("users", "show", username)["id"]
    role = f"{EDUCATION}:role"

    def admin_here() -> list[tuple[str, bool]]:
        return [(m["role"], m["school_admin"]) for m in provider.cli("users", "show", username)["memberships"]
                if m["school"] == school_a and m["valid_until"] is None]

    assert scim_a.patch(path, {"op": "replace", "path": role, "value": "teacher"}).status_code == 200
    assert admin_here() == [("teacher", True)]
    assert scim_a.patch(path, {"op": "replace", "path": role, "value": "pupil"}).status_code == 200
    assert admin_here() == [("pupil", False)]
    assert scim_a.patch(path, {"op": "replace", "path": role, "value": "staff"}).status_code == 200
    assert admin_here() == [("staff", False)], "a role change never makes anyone an administrator"


# --- races and bounds ----------------------------------------------------------------------------------------


@contextmanager
def refused_new_accounts(provider, family: str) -> Iterator[None]:
    """Fault injection: the database refuses every new account named `family` as a duplicate, as it refuses the
    loser of two writes that raced past the same check (e.g. two parallel POSTs choosing one username)."""
    name = "refuse_" + family.lower()
    engine = make_engine(provider.env["LEERID_DATABASE_URL"])
    sqlite = engine.dialect.name == "sqlite"
    with engine.begin() as conn:
        if sqlite:
            conn.exec_driver_sql(f"CREATE TRIGGER {name} BEFORE INSERT ON accounts WHEN NEW.family_name = '{family}' "
                                 "BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed: accounts.username'); END")
        else:
            conn.exec_driver_sql(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE "
                                 "EXCEPTION 'duplicate username' USING ERRCODE = 'unique_violation'; END $$")
            conn.exec_driver_sql(f"CREATE TRIGGER {name} BEFORE INSERT ON accounts FOR EACH ROW WHEN "
                                 f"(NEW.family_name = '{family}') EXECUTE FUNCTION {name}()")
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TRIGGER {name}" if sqlite else f"DROP TRIGGER {name} ON accounts")
            if not sqlite:
                conn.exec_driver_sql(f"DROP FUNCTION {name}()")
        engine.dispose()


def test_a_write_the_database_refuses_is_409_retry_and_writes_nothing(provider, scim_a):
    family, class_name = unique_name(), "R" + secrets.token_hex(3)
    with refused_new_accounts(provider, family):
        with database(provider) as conn:
            last = conn.scalar(select(func.max(AuditEvent.seq)))
        response = scim_a.create_user("Ines", family, born(), class_name=class_name, external_id="r-" + family)
        error = assert_scim_error(response, 409, "uniqueness")
        with database(provider) as conn:
            assert conn.scalar(select(func.max(AuditEvent.seq))) == last, "nothing audited: nothing happened"
    assert error["detail"] == "conflicting change, retry"
    assert scim_a.get("/Users", filter=f'externalId eq "r-{family}"').json()["totalResults"] == 0
    assert scim_a.get("/Groups", filter=f'displayName eq "{class_name}"').json()["totalResults"] == 0
    with database(provider) as conn:
        assert conn.scalar(select(Account.id).where(Account.family_name == family)) is None
    created(scim_a.create_user("Ines", family, born(), class_name=class_name, external_id="r-" + family))


def test_parallel_creates_with_one_external_id_make_one_user(scim_a):
    external_id, numbers = "p-" + secrets.token_hex(4), count()
    clients = [scim_a.fork() for _ in range(6)]
    try:
        responses = at_once(6, lambda: clients[next(numbers)].create_user(
            "Pim", unique_name(), born(), external_id=external_id))
    finally:
        for client in clients:
            client.close()
    assert sorted(r.status_code for r in responses) == [201] + [409] * 5, [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert "externalId" in assert_scim_error(response, 409, "uniqueness")["detail"]
    found = scim_a.get("/Users", filter=f'externalId eq "{external_id}"').json()
    assert found["totalResults"] == 1


def test_parallel_creates_of_one_name_never_fail(scim_a, scim_b):
    """Two schools enrolling namesakes at the same moment both want the username voornaam.familienaam."""
    family, numbers = unique_name(), count()
    clients = [(scim_a if i % 2 else scim_b).fork() for i in range(6)]
    try:
        responses = at_once(6, lambda: clients[next(numbers)].create_user("Pien", family, born()))
    finally:
        for client in clients:
            client.close()
    assert {r.status_code for r in responses} <= {201, 409}, [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert assert_scim_error(response, 409, "uniqueness")["detail"] == "conflicting change, retry"
    usernames = [r.json()["userName"] for r in responses if r.status_code == 201]
    assert usernames and len(set(usernames)) == len(usernames)


def test_deeply_nested_bodies_are_400_invalid_syntax(scim_a):
    user = created(scim_a.create_user("Nel", unique_name(), born()))
    very_deep = ('{"a":' * 10000 + "1" + "}" * 10000).encode()  # under 64 KiB, beyond the parser's recursion
    deep = {"schemas": [USER, EDUCATION], "name": {"givenName": "Nel", "familyName": "X"}, "active": True,
            EDUCATION: {"role": "pupil", "birthdate": born()}, "nickName": [[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}
    for _ in range(20):
        deep["nickName"] = [deep["nickName"]]
    for method, path in (("POST", "/Users"), ("PATCH", f"/Users/{user['id']}"), ("POST", "/Users/.search"),
                         ("PUT", f"/Users/{user['id']}"), ("POST", "/Groups")):
        raw = scim_a.http.request(method, path, content=very_deep, headers={"Content-Type": SCIM_JSON})
        assert_scim_error(raw, 400, "invalidSyntax")
        assert_scim_error(scim_a.request(method, path, deep), 400, "invalidSyntax")
    assert scim_a.get(f"/Users/{user['id']}").json()["name"]["givenName"] == "Nel"


# --- lists and filters ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def roster(provider):
    """A school of its own with five people, for exact counts."""
    scim, _ = software(provider, provider.school())
    family = unique_name()
    people = [created(scim.create_user(given, family, born(), external_id=f"r-{i}", role=role))
              for i, (given, role) in enumerate((("Ann", "pupil"), ("Bert", "pupil"), ("Cas", "teacher"),
                                                  ("Dirk", "staff"), ("Eva", "pupil")))]
    scim.patch(f"/Users/{people[3]['id']}", {"op": "replace", "path": "active", "value": False})
    yield scim, people, family
    scim.close()


def test_pagination(roster):
    scim, _, _ = roster
    whole = scim.get("/Users").json()
    assert whole["totalResults"] == 5 and len(whole["Resources"]) == 5
    second = scim.get("/Users", startIndex=2, count=2).json()
    assert (second["totalResults"], second["startIndex"], second["itemsPerPage"]) == (5, 2, 2)
    assert [u["id"] for u in second["Resources"]] == [u["id"] for u in whole["Resources"][1:3]]
    assert scim.get("/Users", startIndex=5, count=10).json()["itemsPerPage"] == 1
    assert scim.get("/Users", count=0).json()["totalResults"] == 5


@pytest.mark.parametrize("expression, expected", [
    ('name.givenName eq "ann"', ["Ann"]),
    ('name.givenName co "er"', ["Bert"]),
    ('name.givenName sw "C" or name.givenName sw "D"', ["Cas", "Dirk"]),
    ('externalId eq "r-4" and active eq true', ["Eva"]),
    ('active eq false', ["Dirk"]),
    ('not (active eq true)', ["Dirk"]),
    (f'{EDUCATION}:role eq "teacher"', ["Cas"]),
    ('displayName co "va "', ["Eva"]),
    ('externalId pr and name.givenName ew "t"', ["Bert"]),
    ('meta.lastModified gt "2000-01-01T00:00:00Z" and name.givenName eq "Ann"', ["Ann"]),
    ('meta.lastModified lt "2000-01-01T00:00:00Z"', []),
])
def test_filters(roster, expression, expected):
    scim, _, _ = roster
    response = scim.get("/Users", filter=expression)
    assert response.status_code == 200, response.text
    assert sorted(u["name"]["givenName"] for u in response.json().get("Resources", [])) == expected


def test_filter_by_username_and_search_endpoint(roster):
    scim, people, _ = roster
    found = scim.get("/Users", filter=f'userName eq "{people[0]["userName"].upper()}"').json()
    assert [u["id"] for u in found["Resources"]] == [people[0]["id"]]
    searched = scim.request("POST", "/Users/.search", {"schemas": [
        "urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": 'name.givenName eq "Cas"',
        "attributes": ["userName"]}).json()
    assert searched["totalResults"] == 1 and set(searched["Resources"][0]) == {"schemas", "id", "userName"}


@pytest.mark.parametrize("expression", ['emails[value co "x"]', 'nickName eq "x"', 'userName eq', 'name.givenName zz "a"'])
def test_unsupported_filters_are_400_invalid_filter(roster, expression):
    scim, _, _ = roster
    assert_scim_error(scim.get("/Users", filter=expression), 400, "invalidFilter")


def test_long_or_large_filters_are_400_invalid_filter(roster):
    scim, _, family = roster
    fifty = " or ".join([f'name.familyName eq "{family}"'] + [f'id eq "{i}"' for i in range(49)])
    assert scim.get("/Users", filter=fifty).json()["totalResults"] == 5
    too_many = fifty + ' or id eq "x"'
    too_long = f'userName eq "{"x" * 990}"'
    for expression in (too_many, too_long):
        assert_scim_error(scim.get("/Users", filter=expression), 400, "invalidFilter")
        searched = scim.request("POST", "/Users/.search", {"schemas": [
            "urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": expression})
        assert_scim_error(searched, 400, "invalidFilter")
        groups = expression.replace("name.familyName", "displayName").replace("userName", "displayName")
        assert_scim_error(scim.get("/Groups", filter=groups), 400, "invalidFilter")


# --- classes -------------------------------------------------------------------------------------------------


def test_class_membership_through_groups(provider, scim_a):
    pupil = created(scim_a.create_user("Tijs", unique_name(), born(), class_name="1A"))
    name = "K" + secrets.token_hex(3)
    group = created(scim_a.request("POST", "/Groups", {"schemas": [GROUP], "displayName": name}))
    assert_scim_error(scim_a.request("POST", "/Groups", {"schemas": [GROUP], "displayName": name}), 409,
                      "uniqueness")
    added = scim_a.patch(f"/Groups/{group['id']}", {"op": "add", "path": "members", "value": [
        {"value": pupil["id"]}]})
    assert [m["value"] for m in added.json()["members"]] == [pupil["id"]]
    assert scim_a.get(f"/Users/{pupil['id']}").json()[EDUCATION]["className"] == name
    listed = scim_a.get("/Groups", filter=f'displayName eq "{name}"').json()
    assert [g["id"] for g in listed["Resources"]] == [group["id"]]
    removed = scim_a.patch(f"/Groups/{group['id']}", {"op": "remove", "path": f'members[value eq "{pupil["id"]}"]'})
    assert "members" not in removed.json()
    assert "className" not in scim_a.get(f"/Users/{pupil['id']}").json()[EDUCATION]
    assert scim_a.request("DELETE", f"/Groups/{group['id']}").status_code == 204
    assert_scim_error(scim_a.get(f"/Groups/{group['id']}"), 404)


# --- errors and the audit log --------------------------------------------------------------------------------


def test_errors_are_scim_json(scim_a):
    assert_scim_error(scim_a.get("/Pets"), 404)
    assert_scim_error(scim_a.request("POST", "/Schemas", {}), 405)
    wrong_type = scim_a.http.post("/Users", content=b"name=x", headers={"Content-Type": "text/plain"})
    assert_scim_error(wrong_type, 415)
    assert_scim_error(scim_a.http.post("/Users", content=b"{not json", headers={"Content-Type": SCIM_JSON}), 400)


def test_every_change_is_audited(provider, scim_a):
    user = created(scim_a.create_user("Roos", unique_name(), born()))
    scim_a.patch(f"/Users/{user['id']}", {"op": "replace", "path": "name.givenName", "value": "Rosa"})
    scim_a.request("DELETE", f"/Users/{user['id']}")
    engine = make_engine(provider.env["LEERID_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            events = conn.execute(select(AuditEvent.event, AuditEvent.client_id).where(
                AuditEvent.subject_id == user["id"]).order_by(AuditEvent.seq)).all()
    finally:
        engine.dispose()
    ours = [event for event, client_id in events if client_id == scim_a.client_id]
    assert ours == ["scim_user_created", "scim_user_changed", "scim_user_left"]
    assert provider.cli("audit", "verify")["ok"] is True
