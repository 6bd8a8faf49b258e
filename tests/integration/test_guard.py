"""idp.guard.Guard against the real configured Redis (issue 6, item 6: no guessing; DESIGN.md Authentication: a
throttled attempt is refused even with the right secret; OWASP "Slow Down Online Guessing Attacks with Device
Cookies"). A fake clock moves time on; each test counts under accounts and sources of its own."""
from __future__ import annotations

import secrets

import pytest
import redis

from idp.ephemeral import RedisStore
from idp.errors import Locked, StoreUnavailable, Throttled
from idp.guard import DEVICE_DAYS, DEVICE_ENTRIES, Guard, GuardPolicy, network
from tests.live import at_once

POLICY = GuardPolicy(max_failures=5, source_failures=20, window=900, lock=900, free_failures=3, delay=1,
                     max_delay=8)
KEYS = ("first-secret-key-for-the-tests-000000",)
VERSION = "password-version-1"  # the accounts' credential version (LoginService.credential_version)


class Clock:
    def __init__(self):
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Audit:
    def __init__(self):
        self.events: list[tuple[str, dict]] = []

    def record(self, event: str, **fields) -> None:
        self.events.append((event, fields))


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def audit():
    return Audit()


@pytest.fixture
def guard(store, clock, audit):
    return Guard(store, POLICY, audit, KEYS, clock)


def ident(prefix: str = "acct") -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


def address() -> str:
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


def fail(guard: Guard, account: str, source: str, device: str | None = None, kind: str = "pwd",
         version: str = VERSION) -> bool:
    return guard.failed(guard.before(kind, account, source, device, version))


def succeed(guard: Guard, account: str, source: str, device: str | None = None, kind: str = "pwd",
            version: str = VERSION) -> None:
    guard.succeeded(guard.before(kind, account, source, device, version))


# --- growing delays and the lock ----------------------------------------------------------------------------------


def test_free_failures_then_each_attempt_waits_longer(guard, clock):
    account, source = ident(), address()
    for _ in range(POLICY.free_failures):
        fail(guard, account, source)
    waits = []
    for _ in range(POLICY.max_failures - POLICY.free_failures):
        with pytest.raises(Throttled) as refused:
            guard.before("pwd", account, source, version=VERSION)  # refused even before anything is checked
        assert not isinstance(refused.value, Locked) and refused.value.reason == "delay"
        waits.append(refused.value.retry_after)
        clock.advance(refused.value.retry_after)
        fail(guard, account, source)
    assert waits == [1, 2], waits  # 1 s after the third failure, then doubled


def test_the_wait_is_capped(store, clock):
    wide = GuardPolicy(max_failures=50, source_failures=100, window=900, lock=900, free_failures=1, delay=1,
                       max_delay=8)
    guard, account, source = Guard(store, wide, None, KEYS, clock), ident(), address()
    waits = []
    for _ in range(7):
        try:
            fail(guard, account, source)
        except Throttled as refused:
            waits.append(refused.retry_after)
            clock.advance(refused.retry_after)
            fail(guard, account, source)
    assert waits == [1, 2, 4, 8, 8, 8], waits


def test_a_lock_after_max_failures_refuses_even_the_right_secret_and_is_audited_once(guard, clock, audit):
    account, source = ident(), address()
    locked = []
    for _ in range(POLICY.max_failures):
        try:
            locked.append(fail(guard, account, source))
        except Throttled as refused:
            clock.advance(refused.retry_after)
            locked.append(fail(guard, account, source))
    assert locked == [False] * (POLICY.max_failures - 1) + [True]
    for _ in range(3):
        with pytest.raises(Locked) as refused:
            guard.before("pwd", account, address(), version=VERSION)  # from anywhere without the device cookie
        assert 0 < refused.value.retry_after <= POLICY.lock and not refused.value.device
    assert [(name, f["subject_id"]) for name, f in audit.events] == [("account_locked", account)]
    assert audit.events[0][1]["detail"]["method"] == "pwd"
    clock.advance(POLICY.lock + 1)
    succeed(guard, account, source)  # the lock lifts by itself


def lock(guard: Guard, clock: Clock, account: str, kind: str = "pwd", device: str | None = None,
         version: str = VERSION) -> None:
    """max_failures failures for `account`, each from another address, waiting out the delays."""
    while True:
        try:
            if fail(guard, account, address(), device, kind, version):
                return
        except Locked:
            return
        except Throttled as refused:
            clock.advance(refused.retry_after)


def test_kinds_count_apart(guard, clock):
    account = ident()
    lock(guard, clock, account, "otp")
    with pytest.raises(Locked):
        guard.before("otp", account, address(), version=VERSION)
    succeed(guard, account, address(), kind="recovery")  # a locked app code leaves the recovery codes
    succeed(guard, account, address(), kind="pwd")


def test_a_new_password_starts_a_clean_count(guard, clock):
    account = ident()
    lock(guard, clock, account)  # the old password's version
    with pytest.raises(Locked):
        guard.before("pwd", account, address(), version=VERSION)
    guard.succeeded(guard.before("pwd", account, address(), version="new-hash"))


def test_a_success_forgets_the_failures(guard, clock):
    account, source = ident(), address()
    for _ in range(3):
        for _ in range(POLICY.free_failures):  # free again after each success: the count started anew
            fail(guard, account, source)
        clock.advance(POLICY.delay)
        succeed(guard, account, source)


def test_an_unknown_name_is_delayed_and_locked_alike_but_not_audited(guard, clock, audit):
    outcomes = {}
    for account in (ident(), Guard.unknown(ident("nobody"))):
        seen = []
        for _ in range(12):
            try:
                seen.append(("failed", fail(guard, account, address())))
            except Throttled as refused:
                seen.append((type(refused).__name__, refused.reason, refused.retry_after))
                clock.advance(refused.retry_after if not isinstance(refused, Locked) else 0)
        outcomes[account.startswith("?")] = seen
    assert outcomes[True] == outcomes[False]
    assert len(audit.events) == 1, "a lock of a name that names no one is not audited"


def test_parallel_attempts_cannot_slip_past_the_count(guard):
    account, source = ident(), address()

    def attempt():
        try:
            return guard.before("pwd", account, source, version=VERSION)
        except Throttled:
            return None

    admitted = [a for a in at_once(20, attempt) if a is not None]
    assert len(admitted) == POLICY.free_failures, "each admitted attempt counts before its secret is checked"


# --- per source ----------------------------------------------------------------------------------------------------


def over_the_limit(guard: Guard, source: str, kinds: tuple[str, ...] = ("pwd",)) -> list[str]:
    """source_failures failures from `source`, one per account (password spraying): the accounts guessed at."""
    sprayed = [ident() for _ in range(POLICY.source_failures)]
    for n, account in enumerate(sprayed):
        fail(guard, account, source, kind=kinds[n % len(kinds)])
    return sprayed


def test_over_the_source_limit_an_account_that_failed_gets_no_attempt(guard, clock):
    source = address()
    sprayed = over_the_limit(guard, source)
    for account in (sprayed[0], sprayed[-1]):  # its one guess in the window is spent
        with pytest.raises(Throttled) as refused:
            guard.before("pwd", account, source, version=VERSION)
        assert refused.value.reason == "source" and not isinstance(refused.value, Locked)
        assert 0 < refused.value.retry_after <= POLICY.window
    succeed(guard, sprayed[0], address())  # other sources are not concerned
    clock.advance(POLICY.window + 1)  # a sliding window: the old failures leave it
    succeed(guard, sprayed[1], source)


def test_over_the_source_limit_an_account_without_failures_still_gets_its_attempt(guard):
    """One guesser behind the school's one address does not lock out the class (review finding 2): a classmate
    (or a name that names no one, alike) is checked; a guess for them spends their one attempt in the window."""
    source = address()
    over_the_limit(guard, source)
    classmate, guessed, nobody = ident(), ident(), Guard.unknown(ident("nobody"))
    succeed(guard, classmate, source)  # the right password, a fresh browser
    succeed(guard, classmate, source)  # and again: a success never spends it
    for account in (guessed, nobody):
        fail(guard, account, source)  # one guess each, then no more in this window
        with pytest.raises(Throttled) as refused:
            guard.before("pwd", account, source, version=VERSION)
        assert refused.value.reason == "source"


def test_over_the_source_limit_parallel_attempts_for_one_account_get_one(guard):
    source = address()
    over_the_limit(guard, source)
    account = ident()

    def attempt():
        try:
            return guard.before("pwd", account, source, version=VERSION)
        except Throttled:
            return None

    assert len([a for a in at_once(10, attempt) if a is not None]) == 1


def test_over_the_source_limit_a_typed_badge_code_gets_no_attempt(guard):
    """A badge code is both the name and the secret: every attempt is a guess, so none gets past the limit."""
    source = address()
    over_the_limit(guard, source, kinds=("badge",))
    for account in (ident(), Guard.unknown("badge:" + ident())):
        with pytest.raises(Throttled) as refused:
            guard.before("badge", account, source)
        assert refused.value.reason == "source"
    succeed(guard, ident(), source)  # a password is still checked


def test_the_source_count_stays_bounded(guard, store):
    source = address()
    over_the_limit(guard, source)
    for _ in range(POLICY.source_failures * 2):
        fail(guard, Guard.unknown(ident("nobody")), source)
    key = RedisStore.key("guard-source", network(source))
    assert POLICY.source_failures <= store.redis.zcard(key) <= 2 * POLICY.source_failures + 1


def test_successes_never_use_up_a_source(guard):
    source = address()
    for _ in range(POLICY.source_failures * 2):
        succeed(guard, ident(), source)
    fail(guard, ident(), source)


def test_source_kinds_share_the_count(guard):
    source = address()
    sprayed = over_the_limit(guard, source, kinds=("pwd", "otp", "recovery"))
    with pytest.raises(Throttled) as refused:  # over the limit with all three kinds' failures together
        guard.before("otp", sprayed[1], source, version=VERSION)
    assert refused.value.reason == "source"


def test_ipv6_counts_per_64():
    assert network("2001:db8:1:2:aaaa::1") == network("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert network("2001:db8:1:3::1") != network("2001:db8:1:2::1")
    assert network("::ffff:192.0.2.7") == "192.0.2.7"
    assert network("10.0.0.1") == "10.0.0.1"
    assert network("not an address") == "not an address"


# --- device cookies -----------------------------------------------------------------------------------------------


def test_a_trusted_device_logs_in_while_the_account_is_locked_for_others(guard, clock):
    account, school = ident(), address()
    device = guard.remember(account, None, VERSION)
    lock(guard, clock, account)
    with pytest.raises(Locked):
        guard.before("pwd", account, school, version=VERSION)
    succeed(guard, account, school, device)


def test_a_trusted_device_ignores_the_source_limit(guard):
    account, school = ident(), address()
    device = guard.remember(account, None, VERSION)
    fail(guard, account, school)
    over_the_limit(guard, school)
    with pytest.raises(Throttled):
        guard.before("pwd", account, school, version=VERSION)
    succeed(guard, account, school, device)


def test_trusted_devices_share_one_count_and_lock(guard, clock, audit):
    """Every device cookie of an account adds up to one budget, not one each (review finding 3); apart from the
    untrusted attempts' lock."""
    account = ident()
    devices = [guard.remember(account, None, VERSION) for _ in range(3)]
    checked = 0
    for device in devices:
        for _ in range(POLICY.max_failures):
            try:
                fail(guard, account, address(), device)
                checked += 1
            except Locked:
                break
            except Throttled as refused:
                clock.advance(refused.retry_after)
    assert checked == POLICY.max_failures
    for device in devices:
        with pytest.raises(Locked) as refused:
            guard.before("pwd", account, address(), device, VERSION)
        assert refused.value.device
    assert [f["detail"]["device"] for name, f in audit.events if name == "account_locked"] == [True]
    succeed(guard, account, address())  # untrusted attempts: they never counted the devices' failures


def test_a_new_password_ends_the_trust_of_every_device(guard, clock):
    account = ident()
    device = guard.remember(account, None, VERSION)
    assert guard.trusted(account, device, VERSION)
    assert not guard.trusted(account, device, "password-version-2")
    assert not guard.trusted(account, device, None), "a caller that knows no version gets no trust"
    lock(guard, clock, account, version="password-version-2")
    with pytest.raises(Locked) as refused:
        guard.before("pwd", account, address(), device, "password-version-2")
    assert not refused.value.device, "judged as any other browser"


def test_the_cookie_names_accounts_by_pseudonym_and_is_signed(guard):
    account = "1f0e2d3c-aaaa-bbbb-cccc-123456789abc"
    cookie = guard.remember(account, None, VERSION)
    assert account not in cookie and "1f0e2d3c" not in cookie and VERSION not in cookie
    assert guard.trusted(account, cookie, VERSION)
    assert not guard.trusted(ident(), cookie, VERSION), "another account's entry"
    pseudonym, _, day, sig = cookie.split(".")
    forged = f"{pseudonym}.another-version.{day}.{sig}"
    assert not guard.trusted(account, forged, VERSION)
    assert not guard.trusted(account, cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB"), VERSION)
    assert not guard.trusted(Guard.unknown("x"), cookie, VERSION)
    for junk in ("", "~", "a.b.c.d", "x" * 5000, "....", "a.b.zz.d"):
        assert not guard.trusted(account, junk, VERSION)


def test_one_browser_remembers_a_classroom(guard):
    pupils = [ident() for _ in range(DEVICE_ENTRIES + 5)]
    cookie = None
    for pupil in pupils:
        cookie = guard.remember(pupil, cookie, VERSION)
    assert len(cookie) < 4000, "fits in one cookie"
    assert all(guard.trusted(p, cookie, VERSION) for p in pupils[-DEVICE_ENTRIES:]), "the most recent ones"
    assert not any(guard.trusted(p, cookie, VERSION) for p in pupils[:5])
    again = guard.remember(pupils[-1], cookie, VERSION)
    assert len(again.split("~")) == DEVICE_ENTRIES, "an account has one entry"


def test_entries_expire(guard, clock):
    account = ident()
    cookie = guard.remember(account, None, VERSION)
    clock.advance(DEVICE_DAYS * 86400 - 86400)
    assert guard.trusted(account, cookie, VERSION)
    clock.advance(2 * 86400)
    assert not guard.trusted(account, cookie, VERSION)


def test_an_older_key_still_verifies_after_rotation(store, clock):
    account = ident()
    old = Guard(store, POLICY, None, KEYS, clock)
    cookie = old.remember(account, None, VERSION)
    rotated = Guard(store, POLICY, None, ("a-new-secret-key-for-the-tests-1111111", *KEYS), clock)
    assert rotated.trusted(account, cookie, VERSION)
    assert not Guard(store, POLICY, None, ("a-new-secret-key-for-the-tests-1111111",), clock).trusted(
        account, cookie, VERSION)


def test_a_name_that_names_no_one_has_a_keyed_pseudonym(guard, store, clock):
    tag = guard.pseudonym(" Niemand ")
    assert tag == guard.pseudonym("niemand") and "niemand" not in tag.lower()
    assert tag != guard.pseudonym("iemand")
    assert tag != Guard(store, POLICY, None, ("a-new-secret-key-for-the-tests-1111111",), clock).pseudonym("niemand")


# --- Redis ---------------------------------------------------------------------------------------------------------


def test_every_key_has_a_ttl(guard, store, clock):
    account, source = ident(), address()
    device = guard.remember(account, None, VERSION)
    lock(guard, clock, account)
    fail(guard, account, source, device)
    fail(guard, account, source, kind="otp")
    for key in store.redis.keys("leerid:guard-*"):
        assert store.redis.pttl(key) > 0, key


def test_keys_never_hold_the_account_or_the_address(guard, store):
    account, source = ident(), address()
    fail(guard, account, source)
    for key in store.redis.keys("leerid:guard-*"):
        assert account.encode() not in key and source.encode() not in key
        kind = store.redis.type(key)
        if kind == b"zset":
            assert not any(account.encode() in m for m in store.redis.zrange(key, 0, -1))


def test_redis_down_fails_closed(clock):
    dead = RedisStore(redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1))  # as leerID connects
    with pytest.raises(StoreUnavailable):
        Guard(dead, POLICY, None, KEYS, clock).before("pwd", ident(), address())
