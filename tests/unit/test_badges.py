"""idp.badges: QR badge logins within their limits (age on the day, school-agreement platforms of the pupil's own
school, the school's networks, day badges, revocation, PIN and picture), throttling, and the console's issuing with
who may do what. A fake clock stands in for "today"; a fake store for Redis."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from clients.service import ClientRegistry, NewClient
from idp.accounts import AccountService, NewAccount
from idp.audit import AuditEvent
from idp.badges import (
    ACR_BADGE,
    PICTURES,
    Badge,
    BadgeDesk,
    BadgeLogin,
    BadgeRefused,
    WrongAnswer,
    badge_source,
    in_networks,
    meets_acr_values,
    normalise_code,
    parse_networks,
)
from idp.crypto import Passwords, sha256_hex
from idp.errors import Locked, NotFound, Throttled

KEYS = ("unit-test-secret-key-" + "x" * 20,)
ISSUER = "https://leerid.example"
MAX_FAILURES, SOURCE_FAILURES = 5, 50
SCHOOL, OTHER = "1234567", "7654321"
AT_SCHOOL, ELSEWHERE = "10.1.2.3", "192.0.2.9"


class FakeGuard:
    """Guard's API in dicts: failures per (kind, account) lock it at MAX_FAILURES; an untrusted source with
    SOURCE_FAILURES failures is refused. Every attempt is counted before it is judged, as the real guard does."""

    def __init__(self):
        self.failures: dict[tuple[str, str], int] = {}
        self.sources: dict[str, int] = {}
        self.calls: list[tuple] = []

    def before(self, kind, account, source, device=None, version=""):
        self.calls.append((kind, account))
        if self.failures.get((kind, account), 0) >= MAX_FAILURES:
            raise Locked(900, kind)
        if self.sources.get(source, 0) >= SOURCE_FAILURES:
            raise Throttled(900, "source", kind)
        self.sources[source] = self.sources.get(source, 0) + 1
        return kind, account, source

    def failed(self, attempt) -> bool:
        kind, account, _ = attempt
        self.failures[(kind, account)] = self.failures.get((kind, account), 0) + 1
        return self.failures[(kind, account)] >= MAX_FAILURES

    def succeeded(self, attempt) -> None:
        kind, account, source = attempt
        self.failures.pop((kind, account), None)
        self.sources[source] -= 1


class Clock:
    def __init__(self):
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def next_day(self) -> None:
        self.now += timedelta(days=1)


def years_ago(years: int, days: int = 0) -> date:
    today = datetime.now(UTC).date() + timedelta(days=days)
    return today.replace(year=today.year - years)


class World:
    def __init__(self, db):
        from idp.audit import AuditLog

        self.db, self.clock, self.guard = db, Clock(), FakeGuard()
        accounts = AccountService(db, Passwords(memory_kib=1024, time_cost=1, parallelism=1))
        accounts.create_school(SCHOOL, "Basisschool De Regenboog")
        accounts.create_school(OTHER, "Andere school")

        def person(name: str, role: str, school: str = SCHOOL, **extra) -> str:
            return accounts.create_account(NewAccount(name, "Pw-long-enough-1", name.title(), "Test", role,
                                                      school=school, **extra)).id

        self.admin = person("admin.a", "staff", school_admin=True)
        self.admin_b = person("admin.b", "staff", OTHER, school_admin=True)
        self.teacher = person("juf.an", "teacher", class_name="1A")
        self.other_teacher = person("meester.jo", "teacher", class_name="2B")
        self.pupil = person("mila", "pupil", class_name="1A", birthdate=years_ago(7))
        self.turning = person("noor", "pupil", class_name="1A", birthdate=years_ago(12, days=1))  # 12 tomorrow
        self.older = person("lars", "pupil", class_name="1A", birthdate=years_ago(13))
        self.unknown_age = person("ian", "pupil", class_name="1A")
        self.elsewhere = person("wout", "pupil", OTHER, class_name="1A", birthdate=years_ago(7))
        clients = ClientRegistry(db, 0)
        self.platform = clients.create(NewClient("Rekenrups", ("https://rp.example/cb",))).client
        clients.activate(self.platform.client_id, [SCHOOL])
        self.unused = clients.create(NewClient("Taalkoala", ("https://rp2.example/cb",))).client
        self.consent = clients.create(NewClient("Spelletjes", ("https://rp3.example/cb",), basis="consent",
                                                purpose="Spelen")).client
        self.audit = AuditLog(db)
        self.revoked: list[str] = []
        self.desk = BadgeDesk(db, KEYS, ISSUER, max_age=12, clock=self.clock, on_revoke=self.revoked.append)
        self.login = BadgeLogin(db, self.guard, self.audit, KEYS, max_age=12, clock=self.clock)
        with db.read() as session:
            from idp.directory import SchoolClass

            self.class_a = session.scalar(select(SchoolClass.id).where(SchoolClass.name == "1A",
                                                                       SchoolClass.school.has(number=SCHOOL)))
            self.class_b = session.scalar(select(SchoolClass.id).where(SchoolClass.name == "2B"))

    def issue(self, pupil: str | None = None, kind: str = "permanent"):
        method = self.desk.reissue if kind == "permanent" else self.desk.day_badge
        return method(self.admin, SCHOOL, self.class_a, pupil or self.pupil)

    def events(self, name: str) -> list[AuditEvent]:
        with self.db.read() as session:
            return list(session.scalars(select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.seq)))


@pytest.fixture
def world(memory_db) -> World:
    return World(memory_db)


def secret_of(printed) -> str:
    assert printed.url.startswith(ISSUER + "/badge#")
    return printed.url.split("#", 1)[1]


def refused(reason: str):
    return pytest.raises(BadgeRefused, match=f"badge refused: {reason}$")


# --- logging in --------------------------------------------------------------------------------------------------


def test_a_scanned_badge_logs_its_pupil_in_with_the_badge_amr_and_acr(world):
    printed = world.issue()
    found = world.login.scan(AT_SCHOOL, secret=secret_of(printed), client=world.platform)
    assert found.account_id == world.pupil and found.step is None
    assert found.result.amr == ["badge"] and found.result.acr == ACR_BADGE == "urn:leerid:acr:badge"
    [login] = world.events("login")
    assert login.detail["amr"] == ["badge"] and login.subject_id == world.pupil
    with world.db.read() as session:
        assert session.scalar(select(Badge.last_used_at)) is not None


def test_the_typed_short_code_works_in_any_case_with_spaces_and_dashes(world):
    printed = world.issue()
    assert len(printed.code.replace(" ", "")) == 10
    typed = "-".join(printed.code.lower().split())
    assert world.login.scan(AT_SCHOOL, code=typed).account_id == world.pupil


def test_neither_the_secret_nor_the_short_code_is_stored(world):
    printed = world.issue()
    code = printed.code.replace(" ", "")
    with world.db.read() as session:
        row = session.scalar(select(Badge))
        values = [str(getattr(row, c.key)) for c in Badge.__table__.columns]
    assert row.secret_hash == sha256_hex(secret_of(printed))
    assert not any(secret_of(printed) in v or code in v for v in values)
    other_key = BadgeLogin(world.db, FakeGuard(), world.audit, ("another-key-" + "y" * 30,), max_age=12,
                           clock=world.clock)
    with refused("unknown"):  # the code's hash needs leerID's key: the database alone does not open it
        other_key.scan(AT_SCHOOL, code=code)


def test_a_rotated_key_keeps_the_badges_printed_before(world):
    printed = world.issue()
    rotated = BadgeLogin(world.db, FakeGuard(), world.audit, ("a-newer-key-" + "z" * 30, *KEYS), max_age=12,
                         clock=world.clock)
    assert rotated.scan(AT_SCHOOL, code=printed.code).account_id == world.pupil


def test_an_unknown_badge_is_refused_and_not_audited(world):
    with refused("unknown"):
        world.login.scan(AT_SCHOOL, code="ACDEF GHJKM")
    with refused("unknown"):
        world.login.scan(AT_SCHOOL, secret="x" * 43)
    with refused("unknown"):
        world.login.scan(AT_SCHOOL, code="not a code")
    assert world.events("login_failed") == []


def test_age_counts_on_the_day_of_the_login(world):
    printed = world.issue(world.turning)  # eleven today, twelve tomorrow
    assert world.login.scan(AT_SCHOOL, code=printed.code).account_id == world.turning
    world.clock.next_day()
    with refused("too_old"):
        world.login.scan(AT_SCHOOL, code=printed.code)
    [failed] = world.events("login_failed")
    assert failed.detail["method"] == "badge" and failed.detail["reason"] == "too_old"
    assert failed.subject_id == world.turning and failed.school_id is not None


def test_an_older_pupil_gets_no_badge_and_an_unknown_birthdate_does(world):
    with refused("too_old"):
        world.issue(world.older)
    printed = world.issue(world.unknown_age)
    assert world.login.scan(AT_SCHOOL, code=printed.code).account_id == world.unknown_age
    assert world.older not in {e.subject_id for e in world.events("badge_issued")}


def test_max_age_zero_turns_badges_off(world):
    printed = world.issue()
    off = BadgeLogin(world.db, FakeGuard(), world.audit, KEYS, max_age=0, clock=world.clock)
    with refused("too_old"):
        off.scan(AT_SCHOOL, code=printed.code)


def test_only_school_agreement_platforms_of_the_pupils_own_school(world):
    printed = world.issue()
    assert world.login.opens(world.pupil, world.platform)
    assert not world.login.opens(world.pupil, world.consent), "never a consent platform"
    assert not world.login.opens(world.pupil, world.unused), "never one the school did not take on"
    assert not world.login.opens(world.elsewhere, world.platform), "never another school's"
    for client in (world.consent, world.unused):
        with refused("platform"):
            world.login.scan(AT_SCHOOL, code=printed.code, client=client)
    assert [e.detail["reason"] for e in world.events("login_failed")] == ["platform", "platform"]
    assert world.login.platforms(world.pupil) == ["Rekenrups"]


def test_acr_values_asking_a_password_or_mfa_are_not_met_by_a_badge():
    assert meets_acr_values(None) and meets_acr_values("")
    assert meets_acr_values("urn:leerid:acr:badge urn:leerid:acr:pwd")
    assert not meets_acr_values("urn:leerid:acr:pwd")
    assert not meets_acr_values("urn:leerid:acr:mfa")


def test_the_schools_networks_limit_where_a_badge_works(world):
    printed = world.issue()
    world.desk.save_settings(world.admin, SCHOOL, "10.1.0.0/16\n10.9.0.0/16\n2001:db8::/32", "none")
    assert world.login.scan(AT_SCHOOL, code=printed.code).account_id == world.pupil
    assert world.login.scan("::ffff:10.9.9.9", code=printed.code).account_id == world.pupil
    assert world.login.scan("2001:db8::5", code=printed.code).account_id == world.pupil
    with refused("network"):  # the scanned secret: nothing to guess, so the pupil is told why
        world.login.scan(ELSEWHERE, secret=secret_of(printed))
    with refused("unknown"):  # a typed code: from outside, a code that exists looks like one that does not
        world.login.scan(ELSEWHERE, code=printed.code)
    assert [e.detail["reason"] for e in world.events("login_failed")] == ["network", "network"], "audited as it is"
    world.desk.save_settings(world.admin, SCHOOL, "", "none")  # empty: anywhere
    assert world.login.scan(ELSEWHERE, code=printed.code).account_id == world.pupil


def test_outside_the_networks_a_badge_tells_nothing_of_its_state(world):
    revoked = world.issue(world.turning)
    world.desk.revoke(world.admin, SCHOOL, world.class_a, world.turning)
    world.desk.save_settings(world.admin, SCHOOL, "10.1.0.0/16", "none")
    with refused("unknown"):
        world.login.scan(ELSEWHERE, code=revoked.code)
    with refused("revoked"):
        world.login.scan(AT_SCHOOL, code=revoked.code)


def test_wrong_network_ranges_write_nothing(world):
    world.desk.save_settings(world.admin, SCHOOL, "10.1.0.0/16", "none")
    for text, reason in (("10.1.0.0/16 school-wifi", "bad_network"), (" ".join(["10.0.0.1"] * 40), "too_many_networks"),
                         ("10.1.0.0/16 10.0.0.0/8", "network_too_broad"), ("0.0.0.0/0", "network_too_broad")):
        with refused(reason):
            world.desk.save_settings(world.admin, SCHOOL, text, "pin")
    with refused("bad_step"):
        world.desk.save_settings(world.admin, SCHOOL, "", "password")
    assert world.desk.settings(world.admin, SCHOOL) == (["10.1.0.0/16"], "none")
    assert len(world.events("badge_settings_changed")) == 1


def test_network_helpers():
    assert parse_networks("192.0.2.7, 10.1.0.0/16\n10.1.0.0/16") == ["192.0.2.7/32", "10.1.0.0/16"]
    assert parse_networks("2001:db8::/32 2001:db8:1::/48") == ["2001:db8::/32", "2001:db8:1::/48"]
    for broad in ("0.0.0.0/0", "10.0.0.0/15", "::/0", "2001:db8::/31", "::ffff:0:0/96"):  # security review, issue 7
        with refused("network_too_broad"):
            parse_networks(broad)
    assert in_networks("192.0.2.7", None) and in_networks("anything", [])
    assert not in_networks("unknown", ["10.0.0.0/8"]) and not in_networks("2001:db8::1", ["10.0.0.0/8"])
    assert normalise_code("acd3f 4hjk7") == "ACD3F4HJK7" and normalise_code("ACD3F4HJK") is None
    assert normalise_code("0CD3F4HJK7") is None  # 0 is not in the alphabet
    assert badge_source("192.0.2.7") == "192.0.2.7" and badge_source("::ffff:192.0.2.7") == "192.0.2.7"
    assert badge_source("2001:db8:1:2:3::9") == badge_source("2001:db8:1:ffff::1") == "2001:db8:1::/48"
    assert badge_source("2001:db8:2::1") == "2001:db8:2::/48" and badge_source("unknown") == "unknown"


def test_a_day_badge_works_beside_the_badge_until_the_day_ends(world):
    permanent = world.issue()
    day = world.issue(kind="day")
    assert day.kind == "day" and day.valid_until == world.desk.today()
    for printed in (permanent, day):
        assert world.login.scan(AT_SCHOOL, code=printed.code).account_id == world.pupil
    world.clock.next_day()
    with refused("expired"):
        world.login.scan(AT_SCHOOL, secret=secret_of(day))
    assert world.login.scan(AT_SCHOOL, code=permanent.code).account_id == world.pupil


def test_a_new_badge_revokes_the_earlier_one(world):
    first, second = world.issue(), world.issue()
    with refused("revoked"):
        world.login.scan(AT_SCHOOL, code=first.code)
    assert world.login.scan(AT_SCHOOL, code=second.code).account_id == world.pupil
    assert world.events("badge_issued")[-1].detail["replaces"]


def test_revoking_stops_every_badge_of_the_pupil_and_their_sessions(world):
    permanent, day = world.issue(), world.issue(kind="day")
    assert world.desk.revoke(world.teacher, SCHOOL, world.class_a, world.pupil) == "Mila Test"
    for printed in (permanent, day):
        with refused("revoked"):
            world.login.scan(AT_SCHOOL, code=printed.code)
    assert world.revoked == [world.pupil]
    [event] = world.events("badge_revoked")
    assert event.actor_id == world.teacher and event.school_id is not None and event.detail["school"] == SCHOOL
    with refused("no_badge"):
        world.desk.revoke(world.admin, SCHOOL, world.class_a, world.pupil)


def test_a_deactivated_pupil_or_one_who_left_is_refused(world):
    printed = world.issue()
    AccountService(world.db, Passwords(memory_kib=1024, time_cost=1, parallelism=1)).deactivate("mila")
    with refused("disabled"):
        world.login.scan(AT_SCHOOL, code=printed.code)
    left = world.issue(world.unknown_age)
    with world.db.transaction() as session:
        from idp.directory import Membership

        for membership in session.scalars(select(Membership).where(Membership.account_id == world.unknown_age)):
            membership.valid_from, membership.valid_until = date(2000, 1, 1), date(2000, 6, 30)
    with refused("not_pupil"):
        world.login.scan(AT_SCHOOL, code=left.code)


def test_a_pin_after_the_badge(world):
    world.desk.save_settings(world.admin, SCHOOL, "", "pin")
    printed = world.issue()
    assert printed.step == "pin" and len(printed.answer) == 4 and printed.answer.isdigit()
    found = world.login.scan(AT_SCHOOL, code=printed.code)
    assert found.step == "pin" and found.result is None
    wrong = "0000" if printed.answer != "0000" else "1111"
    with pytest.raises(WrongAnswer):
        world.login.answer(found.badge_id, wrong, AT_SCHOOL)
    assert world.events("login_failed")[-1].detail["reason"] == "wrong_pin"
    result = world.login.answer(found.badge_id, printed.answer, AT_SCHOOL)
    assert result.amr == ["badge"] and result.acr == ACR_BADGE


def test_a_new_badge_keeps_the_pin_a_revoked_one_does_not(world):
    world.desk.save_settings(world.admin, SCHOOL, "", "pin")
    first = world.issue()
    second = world.issue()
    assert second.answer is None, "the pupil keeps the PIN they know"
    found = world.login.scan(AT_SCHOOL, code=second.code)
    world.login.answer(found.badge_id, first.answer, AT_SCHOOL)
    world.desk.revoke(world.admin, SCHOOL, world.class_a, world.pupil)
    assert world.issue().answer is not None


def test_wrong_pins_are_throttled_per_pupil_even_with_the_right_one(world):
    world.desk.save_settings(world.admin, SCHOOL, "", "pin")
    printed = world.issue()
    badge_id = world.login.scan(AT_SCHOOL, code=printed.code).badge_id
    wrong = "0000" if printed.answer != "0000" else "1111"
    for _ in range(MAX_FAILURES):
        with pytest.raises(WrongAnswer):
            world.login.answer(badge_id, wrong, AT_SCHOOL)
    with pytest.raises(Locked):
        world.login.answer(badge_id, printed.answer, "10.0.0.99")
    badge_id = world.login.scan(AT_SCHOOL, code=printed.code).badge_id  # scanning again resets nothing
    with pytest.raises(Locked):
        world.login.answer(badge_id, printed.answer, AT_SCHOOL)
    assert ("badge-step", world.pupil) in world.guard.calls


def test_a_picture_after_the_badge(world):
    world.desk.save_settings(world.admin, SCHOOL, "", "picture")
    printed = world.issue()
    assert printed.step == "picture" and printed.answer in PICTURES
    found = world.login.scan(AT_SCHOOL, secret=secret_of(printed))
    other = next(p for p in PICTURES if p != printed.answer)
    with pytest.raises(WrongAnswer):
        world.login.answer(found.badge_id, other, AT_SCHOOL)
    with pytest.raises(WrongAnswer):
        world.login.answer(found.badge_id, "1234", AT_SCHOOL)
    assert world.login.answer(found.badge_id, printed.answer, AT_SCHOOL).account_id == world.pupil


def test_a_badge_printed_before_the_school_asked_for_a_pin_must_be_renewed(world):
    printed = world.issue()
    world.desk.save_settings(world.admin, SCHOOL, "", "pin")
    with refused("renew"):
        world.login.scan(AT_SCHOOL, code=printed.code)
    assert world.issue().answer is not None


def test_wrong_codes_are_throttled_per_source_not_per_class(world):
    printed = world.issue()
    for n in range(SOURCE_FAILURES):
        with refused("unknown"):
            world.login.scan(ELSEWHERE, code=f"ACDEF GHJ{n:02d}")
    with pytest.raises(Throttled):
        world.login.scan(ELSEWHERE, code=printed.code)
    assert world.login.scan(AT_SCHOOL, code=printed.code).account_id == world.pupil


def test_wrong_codes_from_ipv6_are_counted_per_48_not_per_64(world):
    printed = world.issue()
    for n in range(SOURCE_FAILURES):  # every guess from another /64 of one /48
        with refused("unknown"):
            world.login.scan(f"2001:db8:7:{n:x}::1", code=f"ACDEF GHJ{n:02d}")
    with pytest.raises(Throttled):
        world.login.scan("2001:db8:7:ffff::1", code=printed.code)
    found = world.login.scan("2001:db8:8::1", code=printed.code)  # another /48: another site
    assert found.account_id == world.pupil
    with pytest.raises(Throttled):  # the PIN or picture is judged per /48 too
        world.login.answer(found.badge_id, "1234", "2001:db8:7:fffe::1")


def test_right_badges_do_not_use_up_the_classrooms_budget(world):
    printed = world.issue()
    for _ in range(SOURCE_FAILURES + 5):
        world.login.scan(AT_SCHOOL, code=printed.code)
    revoked = world.issue(world.turning)
    world.desk.revoke(world.admin, SCHOOL, world.class_a, world.turning)
    for _ in range(MAX_FAILURES + 1):  # a revoked badge is refused, but is no guess that locks its pupil out
        with refused("revoked"):
            world.login.scan(AT_SCHOOL, code=revoked.code)
    assert world.issue(world.turning) and world.guard.failures == {}


# --- who may do what in the console ---------------------------------------------------------------------------


def test_a_teacher_of_the_class_prints_day_badges_and_revokes_but_no_more(world):
    day = world.desk.day_badge(world.teacher, SCHOOL, world.class_a, world.pupil)
    assert day.kind == "day"
    page = world.desk.class_badges(world.teacher, SCHOOL, world.class_a)
    assert not page.admin and {p.id for p in page.pupils} == {world.pupil, world.turning, world.older,
                                                              world.unknown_age}
    with pytest.raises(NotFound):
        world.desk.reissue(world.teacher, SCHOOL, world.class_a, world.pupil)
    with pytest.raises(NotFound):
        world.desk.print_class(world.teacher, SCHOOL, world.class_a)
    with pytest.raises(NotFound):
        world.desk.settings(world.teacher, SCHOOL)
    assert [c.class_id for c in world.desk.classes_taught(world.teacher)] == [world.class_a]


def test_strangers_reach_nothing(world):
    for actor in (world.other_teacher, world.admin_b, world.pupil):
        with pytest.raises(NotFound):
            world.desk.class_badges(actor, SCHOOL, world.class_a)
        with pytest.raises(NotFound):
            world.desk.day_badge(actor, SCHOOL, world.class_a, world.pupil)
        with pytest.raises(NotFound):
            world.desk.revoke(actor, SCHOOL, world.class_a, world.pupil)
    with pytest.raises(NotFound):  # a pupil of another class, through a class the teacher has
        world.desk.day_badge(world.other_teacher, SCHOOL, world.class_b, world.pupil)
    with pytest.raises(NotFound):  # another school's pupil through this school's class
        world.desk.reissue(world.admin, SCHOOL, world.class_a, world.elsewhere)


def test_printing_a_class_skips_who_may_have_no_badge_and_who_has_one(world):
    world.issue()
    printed = world.desk.print_class(world.admin, SCHOOL, world.class_a)
    assert sorted(p.name for p in printed) == ["Ian Test", "Noor Test"]
    everyone = world.desk.print_class(world.admin, SCHOOL, world.class_a, everyone=True)
    assert sorted(p.name for p in everyone) == ["Ian Test", "Mila Test", "Noor Test"]
    assert all(e.school_id is not None and e.detail["school"] == SCHOOL for e in world.events("badge_issued"))


# --- a badge session is short -----------------------------------------------------------------------------------


class FakeRedis:
    def __init__(self, store):
        self.store = store

    def expire(self, name: str, seconds: int) -> None:
        self.store.ttls[name] = seconds


class FakeSessionStore:
    """RedisStore's key-value part in a dict, remembering each key's last TTL."""

    def __init__(self):
        self.values: dict[str, dict] = {}
        self.ttls: dict[str, int] = {}

    @staticmethod
    def key(kind: str, ident: str) -> str:
        return f"{kind}:{ident}"

    def put(self, kind, ident, value, ttl) -> None:
        self.values[self.key(kind, ident)], self.ttls[self.key(kind, ident)] = dict(value), ttl

    def get(self, kind, ident, touch=None):
        if touch:
            self.ttls[self.key(kind, ident)] = touch
        return self.values.get(self.key(kind, ident))

    def delete(self, kind, ident) -> None:
        self.values.pop(self.key(kind, ident), None)

    def raw(self, fn):
        return fn(FakeRedis(self))


def test_a_badge_session_keeps_its_own_short_time_outs_and_others_theirs():
    from idp.sessions import SessionStore

    store = FakeSessionStore()
    sessions = SessionStore(store, ttl=8 * 3600, max_age=12 * 3600)
    cookie, _ = sessions.create("pupil", ACR_BADGE, ["badge"], idle=1800, lifetime=4 * 3600)
    assert store.ttls["session:" + cookie] == 1800
    found = sessions.get(cookie)
    assert found.amr == ["badge"] and store.ttls["session:" + cookie] == 1800, "using it slides it by its own"
    sessions.add_client(cookie, found, "platform")
    assert store.ttls["session:" + cookie] == 1800
    store.values["session:" + cookie]["created_at"] -= 4 * 3600 + 1  # made longer ago than its lifetime
    assert sessions.get(cookie) is None
    other, _ = sessions.create("teacher", "urn:leerid:acr:mfa", ["pwd", "otp"])
    store.values["session:" + other]["created_at"] -= 4 * 3600 + 1
    assert sessions.get(other) is not None and store.ttls["session:" + other] == 8 * 3600
