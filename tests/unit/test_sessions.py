"""SessionStore (idp/sessions.py) on an embedded Redis (its scripts are Lua) with a fake clock: sessions found per
person and by sid, one ended by sid, all ended together, the deadline sweep claiming each session once, the last use
written at most once a minute, and no write from a stale copy losing a platform or bringing a session back. Also the
User-Agent words and the time-outs by role and device (SessionPolicy)."""
from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from idp.ephemeral import RedisStore
from idp.sessions import TOUCH, SessionPolicy, SessionStore, device_of


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A private embedded Redis (the scripts are Lua), shared by this module's tests: starting one takes a while."""
    from idp.ephemeral import connect

    client = connect(None, tmp_path_factory.mktemp("redis") / "var")
    try:
        yield client
    finally:
        client.shutdown(nosave=True)
        client.close()


@pytest.fixture
def redis(server, clock):
    """Emptied for each test. Keys expire by Redis's clock, not the fake one: the store checks deadlines itself."""
    server.flushall()
    return server


def writes(redis) -> int:
    """How many changes Redis has made to its data (it counts them for its snapshots, saved or not)."""
    return redis.info("persistence")["rdb_changes_since_last_save"]


def dump(redis) -> str:
    """Every key and value, as text."""
    found = []
    for key in redis.keys("*"):
        kind = redis.type(key).decode()
        value = {"string": redis.get, "hash": redis.hgetall, "zset": lambda k: redis.zrange(k, 0, -1)}[kind](key)
        found.append(f"{key!r} {value!r}")
    return " ".join(found)


@pytest.fixture
def sessions(redis, clock) -> SessionStore:
    return SessionStore(RedisStore(redis), ttl=8 * 3600, max_age=12 * 3600, indexed=True, clock=clock)


def test_a_person_s_sessions_are_listed_newest_first_and_only_theirs(sessions, clock):
    _, first = sessions.create("anna", "acr", ["pwd"], browser="Chrome", system="Windows")
    clock.advance(5)
    _, second = sessions.create("anna", "acr", ["pwd"], shared=True)
    sessions.create("bert", "acr", ["pwd"])
    listed = sessions.sessions_of("anna")
    assert [s.sid for s in listed] == [second.sid, first.sid]
    assert (listed[1].browser, listed[1].system, listed[0].shared) == ("Chrome", "Windows", True)
    assert len(sessions.sessions_of("bert")) == 1 and sessions.sessions_of("nobody") == []


def test_the_cookie_is_never_stored_readable(sessions, redis):
    cookie, session = sessions.create("anna", "acr", ["pwd"])
    stored = dump(redis)
    assert cookie not in stored
    assert session.sid in stored, "indexed by sid"


def test_one_session_ends_by_its_sid_and_only_for_its_owner(sessions):
    mine, session = sessions.create("anna", "acr", ["pwd"])
    other, _ = sessions.create("anna", "acr", ["pwd"])
    assert sessions.end_sid("bert", session.sid) is None, "not bert's"
    assert sessions.get(mine) is not None
    ended = sessions.end_sid("anna", session.sid)
    assert ended.sid == session.sid and ended.account_id == "anna"
    assert sessions.get(mine) is None, "its cookie no longer works"
    assert sessions.get(other) is not None
    assert [s.sid for s in sessions.sessions_of("anna")] != [session.sid]
    assert sessions.end_sid("anna", session.sid) is None, "ended once"


def test_an_ended_session_is_not_brought_back_by_a_late_write(sessions):
    cookie, session = sessions.create("anna", "acr", ["pwd"])
    sessions.end_sid("anna", session.sid)
    sessions.add_client(cookie, session, "platform")  # an authorization that was under way
    assert sessions.get(cookie) is None
    assert sessions.sessions_of("anna") == []


def test_every_session_of_a_person_ends_together(sessions):
    cookies = [sessions.create("anna", "acr", ["pwd"])[0] for _ in range(3)]
    bert, _ = sessions.create("bert", "acr", ["pwd"])
    ended = sessions.end_all("anna")
    assert len(ended) == 3
    assert all(sessions.get(c) is None for c in cookies)
    assert sessions.sessions_of("anna") == [] and sessions.get(bert) is not None


def test_logging_out_by_the_cookie_takes_it_out_of_the_index(sessions):
    cookie, session = sessions.create("anna", "acr", ["pwd"])
    assert sessions.end(cookie).sid == session.sid
    assert sessions.sessions_of("anna") == [] and sessions.sweep() == []


def test_the_sweep_claims_each_timed_out_session_once(redis, clock):
    one = SessionStore(RedisStore(redis), ttl=600, max_age=3600, indexed=True, clock=clock)
    two = SessionStore(RedisStore(redis), ttl=600, max_age=3600, indexed=True, clock=clock)  # another worker
    cookie, session = one.create("anna", "acr", ["pwd"], idle=120)
    one.add_client(cookie, session, "platform")
    assert one.sweep() == [], "not due yet"
    clock.advance(121)
    assert one.get(cookie) is None, "past its idle time-out"
    assert two._claim(session.sid, clock()) is not None
    assert one._claim(session.sid, clock()) is None, "the other worker has it"
    assert one.sweep() == [] and two.sweep() == []
    assert one.sessions_of("anna") == []


def test_the_sweep_hands_over_what_the_platforms_must_hear(sessions, clock):
    cookie, session = sessions.create("anna", "acr", ["pwd"], idle=60, lifetime=3600)
    sessions.add_client(cookie, session, "platform", acted_for="child")
    clock.advance(61)
    [ended] = sessions.sweep()
    assert (ended.sid, ended.clients, SessionStore.people_at(ended, "platform")) == \
           (session.sid, ["platform"], ["anna", "child"])


def test_a_session_used_again_is_not_swept(sessions, clock):
    cookie, _session = sessions.create("anna", "acr", ["pwd"], idle=120)
    clock.advance(100)
    assert sessions.get(cookie) is not None  # its last use is written: a new deadline
    clock.advance(30)
    assert sessions.sweep() == []
    assert sessions.get(cookie) is not None


def test_the_lifetime_ends_a_session_however_much_it_is_used(sessions, clock):
    cookie, _ = sessions.create("anna", "acr", ["pwd"], idle=600, lifetime=1000)
    for _ in range(10):
        clock.advance(99)
        assert sessions.get(cookie) is not None
    clock.advance(20)
    assert sessions.get(cookie) is None
    assert len(sessions.sweep()) == 1


def test_the_last_use_is_written_at_most_once_a_minute(sessions, redis, clock):
    cookie, session = sessions.create("anna", "acr", ["pwd"])
    before = writes(redis)
    for _ in range(5):
        clock.advance(TOUCH / 6)
        assert sessions.get(cookie).last_used == session.last_used
    assert writes(redis) == before, "no write within the minute"
    clock.advance(TOUCH)
    assert sessions.get(cookie).last_used == clock()
    assert writes(redis) > before
    assert sessions.sessions_of("anna")[0].last_used == clock()


def test_every_key_has_a_ttl(sessions, redis):
    cookie, session = sessions.create("anna", "acr", ["pwd"], idle=600)
    sessions.add_client(cookie, session, "platform")
    assert len(redis.keys("*")) == 3  # the session (with its platforms), the person's sessions and the deadlines
    assert all(redis.ttl(name) > 0 for name in redis.keys("*"))


def test_reissue_keeps_this_browser_and_ends_the_others(sessions):
    mine, session = sessions.create("anna", "acr", ["pwd"])
    other, _ = sessions.create("anna", "acr", ["pwd"])
    fresh = sessions.reissue(session)
    assert sessions.get(mine) is None and sessions.get(other) is None
    assert sessions.get(fresh).sid == session.sid
    assert [s.sid for s in sessions.sessions_of("anna")] == [session.sid]


@pytest.mark.parametrize(("agent", "expected"), [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
     ("Chrome", "Windows")),
    (("Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
     "Mobile/15E148 Safari/604.1"), ("Safari", "iPad")),
    ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
     ("Chrome", "Chromebook")),
    (("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36 "
     "Edg/124.0"), ("Edge", "Windows")),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0", ("Firefox", "Mac")),
    (("Mozilla/5.0 (Linux; Android 14; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 "
     "Chrome/117.0 Safari/537.36"), ("Samsung Internet", "Android")),
    ("python-httpx/0.28", (None, None)),
    (None, (None, None)),
])
def test_the_device_in_plain_words(agent, expected):
    assert device_of(agent) == expected


LIMITS = {(False, False): (8 * 3600, 12 * 3600), (True, False): (4 * 3600, 12 * 3600),
          (False, True): (3600, 8 * 3600), (True, True): (1800, 4 * 3600)}


@pytest.fixture
def directory(memory_db):
    """A school (with a network range) and a pupil and a teacher in it, on the migrated in-memory database."""
    from idp.accounts import Account
    from idp.directory import Membership, School

    with memory_db.transaction() as session:
        school = School(number="1234567", name="De Regenboog", badge_networks=["192.0.2.0/24"])
        session.add(school)
        for account_id, role in (("pupil", "pupil"), ("teacher", "teacher")):
            session.add(Account(id=account_id, username=account_id, given_name="A", family_name="B", role=role))
            session.add(Membership(account_id=account_id, school=school, role=role, valid_from=date(2000, 1, 1)))
    return memory_db


def set_policy(db, policy: str) -> None:
    from idp.directory import School

    with db.transaction() as session:
        session.query(School).one().device_policy = policy


def test_time_outs_by_role_and_device(directory):
    policy = SessionPolicy(directory, LIMITS, cache_seconds=0)

    def terms(account_id: str, ticked: bool) -> tuple:
        found = policy.terms(account_id, "198.51.100.7", ticked)
        return found.idle, found.lifetime, found.shared

    assert terms("pupil", ticked=False) == (4 * 3600, 12 * 3600, False)
    assert terms("pupil", ticked=True) == (1800, 4 * 3600, True)
    assert terms("teacher", ticked=False) == (8 * 3600, 12 * 3600, False)
    assert terms("teacher", ticked=True) == (3600, 8 * 3600, True)


def test_a_school_that_shares_its_devices_shortens_its_people_s_sessions_anywhere(directory):
    set_policy(directory, "shared")
    policy = SessionPolicy(directory, LIMITS, cache_seconds=0)
    terms = policy.terms("pupil", "198.51.100.7", ticked=False)
    assert (terms.idle, terms.shared, terms.place) == (1800, True, None)


def test_the_place_is_the_school_whose_network_the_login_comes_from(directory):
    policy = SessionPolicy(directory, LIMITS, cache_seconds=0)
    assert policy.place("192.0.2.77").name == "De Regenboog"
    assert policy.place("::ffff:192.0.2.77").number == "1234567"
    assert policy.place("198.51.100.7") is None and policy.place("unknown") is None
    assert policy.terms("teacher", "192.0.2.77", ticked=False).shared is False, "ask: the person decides"
    set_policy(directory, "shared")
    assert policy.terms("teacher", "192.0.2.77", ticked=False).shared is True


def test_the_time_outs_are_settings_and_an_idle_time_out_never_exceeds_its_lifetime():
    from config.settings import ConfigError, Settings

    settings = Settings.from_env({"LEERID_PUPIL_SHARED_SESSION_TTL": "600", "LEERID_SHARED_SESSION_MAX_AGE": "7200"})
    assert (settings.pupil_shared_session_ttl, settings.pupil_shared_session_max_age) == (600, 4 * 3600)
    assert (settings.shared_session_ttl, settings.shared_session_max_age) == (3600, 7200)
    assert (settings.pupil_session_ttl, settings.session_ttl) == (4 * 3600, 8 * 3600)
    for wrong in ({"LEERID_PUPIL_SESSION_TTL": "50000"}, {"LEERID_SHARED_SESSION_TTL": "0"}):
        with pytest.raises(ConfigError):
            Settings.from_env(wrong)


# --- review of issue 7: lost platforms, writes from stale copies, a lifetime a password change lengthened ---------


def test_two_authorizations_from_copies_read_together_keep_both_platforms(sessions):
    cookie, _ = sessions.create("anna", "acr", ["pwd"])
    first, second = sessions.get(cookie), sessions.get(cookie)  # two tabs, at the same moment
    assert sessions.add_client(cookie, first, "platform-a")
    assert sessions.add_client(cookie, second, "platform-b")
    assert sessions.add_client(cookie, first, "platform-b", acted_for="child")
    assert sessions.sessions_of("anna")[0].clients == ["platform-a", "platform-b"]
    ended = sessions.end(cookie)
    assert ended.clients == ["platform-a", "platform-b"], "both are told"
    assert SessionStore.people_at(ended, "platform-b") == ["anna", "child"]


def test_writing_the_last_use_from_an_old_copy_keeps_a_platform_added_since(sessions, clock):
    cookie, _ = sessions.create("anna", "acr", ["pwd"])
    clock.advance(TOUCH)
    old = sessions.get(cookie)  # writes its last use
    sessions.add_client(cookie, old, "platform")
    clock.advance(TOUCH)
    stale = replace(old, clients=[], acted_for={})
    assert sessions._used(cookie, stale, clock())  # the once-a-minute write, from a copy read before the platform
    assert sessions.get(cookie).last_used == clock()
    [ended] = sessions.end_all("anna")
    assert ended.clients == ["platform"]


def test_a_platform_is_not_added_to_a_session_that_ended_meanwhile(sessions):
    cookie, _ = sessions.create("anna", "acr", ["pwd"])
    under_way = sessions.get(cookie)
    sessions.end_all("anna")  # log out everywhere, while an authorization runs
    assert sessions.add_client(cookie, under_way, "platform") is False, "no code may follow"
    assert sessions.get(cookie) is None and sessions.sessions_of("anna") == []


class Interleaved(RedisStore):
    """Runs `between` once, right after the `after`-th Redis command from when it is armed: a request in between."""

    between, after = None, 0

    def _call(self, fn):
        answer = super()._call(fn)
        if self.between is not None:
            self.after -= 1
            if self.after == 0:
                between, self.between = self.between, None
                between()
        return answer


@pytest.mark.parametrize("after", [1, 2, 3])
def test_a_last_use_written_while_a_session_is_taken_does_not_bring_it_back(redis, clock, after):
    store = Interleaved(redis)
    sessions = SessionStore(store, ttl=600, max_age=3600, indexed=True, clock=clock)
    cookie, session = sessions.create("anna", "acr", ["pwd"])
    copy = sessions.get(cookie)
    clock.advance(TOUCH)
    store.between, store.after = (lambda: sessions._used(cookie, copy, clock())), after
    assert sessions.end_sid("anna", session.sid) is not None  # the owner's check, then the take
    assert sessions.get(cookie) is None
    assert sessions.sessions_of("anna") == [] and sessions.sweep() == []
    assert redis.keys("*") == [], "no ghost record, no index entry"


def test_a_password_change_does_not_lengthen_the_session(sessions, clock):
    mine, session = sessions.create("anna", "acr", ["pwd"], idle=600, lifetime=1000)
    clock.advance(500)
    sessions.get(mine)
    fresh = sessions.reissue(session)
    assert sessions.get(fresh).created_at == session.created_at
    for _ in range(4):
        clock.advance(110)
        assert sessions.get(fresh) is not None
    clock.advance(100)
    assert sessions.get(fresh) is None, "over at its first lifetime's end"


def test_a_password_change_does_not_bring_back_a_session_logged_out_meanwhile(sessions):
    mine, session = sessions.create("anna", "acr", ["pwd"])
    sessions.end_all("anna")
    assert sessions.reissue(session) is None
    assert sessions.get(mine) is None and sessions.sessions_of("anna") == []


def test_another_school_s_network_gives_neither_its_policy_nor_its_name(directory):
    from idp.accounts import Account
    from idp.directory import Membership, School

    with directory.transaction() as session:
        elsewhere = School(number="7654321", name="Elders")
        session.add(elsewhere)
        session.add(Account(id="visitor", username="visitor", given_name="V", family_name="B", role="teacher"))
        session.add(Membership(account_id="visitor", school=elsewhere, role="teacher", valid_from=date(2000, 1, 1)))
        former = session.get(Membership, session.query(Membership.id).filter_by(account_id="pupil").scalar())
        former.valid_until = date(2001, 1, 1)  # left the school long ago
    set_policy_of(directory, "1234567", "shared")
    policy = SessionPolicy(directory, LIMITS, cache_seconds=0)
    assert policy.place("192.0.2.77").number == "1234567"
    for outsider in ("visitor", "pupil"):
        terms = policy.terms(outsider, "192.0.2.77", ticked=False)
        assert (terms.shared, terms.place) == (False, None), outsider
    member = policy.terms("teacher", "192.0.2.77", ticked=False)
    assert (member.shared, member.place.name) == (True, "De Regenboog")


def set_policy_of(db, number: str, policy: str) -> None:
    from idp.directory import School

    with db.transaction() as session:
        session.query(School).filter_by(number=number).one().device_policy = policy


def test_a_session_is_alive_until_it_ends_or_times_out(sessions, clock):
    _, session = sessions.create("anna", "acr", ["pwd"], idle=120)
    assert sessions.alive(session.sid)
    clock.advance(121)
    assert not sessions.alive(session.sid), "timed out, not swept yet"
    _, other = sessions.create("anna", "acr", ["pwd"])
    sessions.end_all("anna")
    assert not sessions.alive(other.sid) and not sessions.alive("never")


def test_a_session_read_by_its_cookie_has_its_platforms(sessions, redis):
    cookie, _ = sessions.create("anna", "acr", ["pwd"])
    sessions.add_client(cookie, sessions.get(cookie), "platform", acted_for="child")
    calls = redis.info("stats")["total_commands_processed"]
    read = sessions.get(cookie)
    assert redis.info("stats")["total_commands_processed"] - calls == 2, "one GET (and this INFO)"
    assert (read.clients, read.acted_for) == (["platform"], {"platform": ["child"]})


# --- one value per session (review of issue 8): the cookie, the Lua round trip, the cut-off ------------------------

PLACE = {"number": "012345", "name": "Sint-Ëloi Ä\u00df \u2603 \U0001F3EB College \"de/Brug\""}


def test_the_lua_round_trip_keeps_what_a_session_is_and_the_order_of_its_platforms(sessions, clock):
    cookie, made = sessions.create("anna", "urn:leerid:acr:mfa", ["pwd", "otp"], browser="Samsung Internet",
                                   system="Android", place=PLACE, idle=1800, lifetime=43200)
    for client in ("p3", "p1", "p2"):
        clock.advance(0.001)
        assert sessions.add_client(cookie, made, client)  # Lua: decoded, changed, encoded again
    clock.advance(TOUCH + 1)
    assert sessions.get(cookie) is not None  # TOUCH: the same
    got = sessions.get(cookie)
    assert (got.place, got.amr, got.browser, got.auth_time, got.created_at, got.idle, got.lifetime) == (
        PLACE, ["pwd", "otp"], "Samsung Internet", made.auth_time, made.created_at, 1800, 43200)
    assert got.clients == ["p3", "p1", "p2"], "in the order first used"
    assert sessions.get(cookie).clients == ["p3", "p1", "p2"]


def test_a_cookie_made_from_the_sid_never_holds(sessions):
    """Platforms learn the sid (ID and logout tokens); the cookie's secret part never leaves the browser."""
    cookie, made = sessions.create("anna", "acr", ["pwd"])
    secret = cookie.split(".", 1)[1]
    for forged in (made.sid, f"{made.sid}.", f"{made.sid}.x", f"{made.sid}.{'A' * 43}", f"{made.sid}..{secret}",
                   f"{made.sid}.{secret}x", f"{made.sid}\u0663.{secret}"):
        assert sessions.get(forged) is None, forged
        assert sessions.end(forged) is None, forged
        assert not sessions.add_client(forged, made, "evil")
    assert sessions.get(cookie).clients == []


def test_a_reissued_session_s_old_cookie_neither_holds_nor_ends_it(sessions):
    old, made = sessions.create("anna", "acr", ["pwd"])
    new = sessions.reissue(made)
    assert sessions.get(old) is None and sessions.end(old) is None
    assert sessions.get(new) is not None


def test_a_login_a_moment_before_a_log_out_everywhere_ends_with_it(sessions, clock):
    """Times are kept exactly: a login begun a tenth of a millisecond before the cut-off is not counted as after."""
    clock.now = 1_763_870_000.1236
    sessions.end_all("anna")
    clock.now = 1_763_870_000.1235  # a login that raced it
    cookie, _ = sessions.create("anna", "acr", ["pwd"])
    clock.now = 1_763_870_000.1236 + TOUCH + 1
    assert sessions.get(cookie) is None
