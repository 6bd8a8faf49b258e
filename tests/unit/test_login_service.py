"""idp.login.LoginService with a fake store (no Redis): passwords and throttling per account and per source
(DESIGN.md Authentication: a throttled attempt is refused even with the right secret)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from idp.accounts import AccountRepository, AccountService, NewAccount
from idp.crypto import Passwords
from idp.errors import InvalidCredentials, Throttled
from idp.login import ACR_PASSWORD, LoginService

FAST = dict(memory_kib=1024, time_cost=1, parallelism=1)
WINDOW = 900


class FakeStore:
    """The counting part of RedisStore, in a dict; `expire()` closes every window."""

    def __init__(self):
        self.counts: dict[tuple[str, str], int] = {}

    def count(self, kind: str, ident: str, ttl: int) -> tuple[int, int]:
        key = (kind, ident)
        self.counts[key] = self.counts.get(key, 0) + 1
        return self.counts[key], ttl

    def uncount(self, kind: str, ident: str) -> None:
        if (kind, ident) in self.counts:
            self.counts[(kind, ident)] -= 1

    def delete(self, kind: str, ident: str) -> None:
        self.counts.pop((kind, ident), None)

    def expire(self) -> None:
        self.counts.clear()


class FakeAudit:
    """The audit log's `record`, kept in a list."""

    def __init__(self):
        self.events: list[tuple[str, dict]] = []

    def record(self, event: str, **fields) -> None:
        self.events.append((event, fields))

    def names(self) -> list[str]:
        return [name for name, _ in self.events]


@pytest.fixture
def passwords():
    return Passwords(**FAST)


@pytest.fixture
def store():
    return FakeStore()


@pytest.fixture
def audit():
    return FakeAudit()


@pytest.fixture
def accounts(memory_db, passwords):
    return AccountService(memory_db, passwords)


@pytest.fixture
def login(memory_db, store, passwords, audit):
    return service(memory_db, store, passwords, audit)


def service(db, store, passwords, audit) -> LoginService:
    return LoginService(db, store, passwords, audit, max_failures=5, max_failures_per_source=20, window=WINDOW)


@pytest.fixture
def lotte(accounts):
    accounts.create_account(NewAccount(username="lotte", password="Lotte-pw-123", given_name="Lotte",
                                       family_name="Peeters", role="pupil"))
    return "lotte"


def test_right_password(login, lotte):
    result = login.password(lotte, "Lotte-pw-123", "10.0.0.1")
    assert result.acr == ACR_PASSWORD
    assert result.amr == ["pwd"]
    assert result.account_id
    assert result.auth_time > 0


def test_username_is_trimmed_and_case_insensitive(login, lotte):
    assert login.password("  LOTTE ", "Lotte-pw-123", "10.0.0.1").account_id


def test_wrong_password_and_unknown_user_raise_the_same(login, lotte):
    with pytest.raises(InvalidCredentials) as wrong:
        login.password(lotte, "nope-nope", "10.0.0.1")
    with pytest.raises(InvalidCredentials) as unknown:
        login.password("nobody", "nope-nope", "10.0.0.1")
    assert str(wrong.value) == str(unknown.value)


def test_five_failures_then_even_the_right_password_is_throttled(login, lotte):
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            login.password(lotte, "wrong-password", "10.0.0.1")
    with pytest.raises(Throttled) as throttled:
        login.password(lotte, "Lotte-pw-123", "10.0.0.2")  # another source does not help
    assert throttled.value.retry_after > 0


def test_the_throttle_lifts_when_the_window_closes(login, lotte, store):
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            login.password(lotte, "wrong-password", "10.0.0.1")
    store.expire()
    assert login.password(lotte, "Lotte-pw-123", "10.0.0.1").account_id


def test_a_success_resets_the_account_count(login, lotte):
    for _ in range(2):
        for _ in range(4):
            with pytest.raises(InvalidCredentials):
                login.password(lotte, "wrong-password", "10.0.0.1")
        assert login.password(lotte, "Lotte-pw-123", "10.0.0.1").account_id


def test_throttle_per_source_across_usernames(login, lotte):
    for i in range(20):
        with pytest.raises(InvalidCredentials):
            login.password(f"guess{i}", "wrong-password", "10.9.9.9")
    with pytest.raises(Throttled):
        login.password(lotte, "Lotte-pw-123", "10.9.9.9")
    assert login.password(lotte, "Lotte-pw-123", "10.0.0.1").account_id, "other sources still get in"


def test_successful_logins_do_not_use_up_the_source(login, lotte):
    for _ in range(30):
        assert login.password(lotte, "Lotte-pw-123", "10.0.0.1").account_id


def test_disabled_account_cannot_log_in(login, lotte, memory_db):
    with memory_db.transaction() as session:
        AccountRepository(session).find_by_username(lotte).disabled_at = datetime.now(UTC)
    with pytest.raises(InvalidCredentials):
        login.password(lotte, "Lotte-pw-123", "10.0.0.1")


def test_old_hash_is_upgraded_at_login(memory_db, store, audit, lotte):
    stronger = Passwords(memory_kib=2048, time_cost=2, parallelism=1)
    assert service(memory_db, store, stronger, audit).password(lotte, "Lotte-pw-123", "10.0.0.1").account_id
    with memory_db.read() as session:
        stored = AccountRepository(session).find_by_username(lotte).password_hash
    assert not stronger.needs_rehash(stored)
    assert stronger.verify(stored, "Lotte-pw-123")


def test_logins_and_failures_are_audited(login, lotte, audit):
    account_id = login.password(lotte, "Lotte-pw-123", "10.0.0.1").account_id
    with pytest.raises(InvalidCredentials):
        login.password(lotte, "wrong-password", "10.0.0.1")
    assert audit.names() == ["login", "login_failed"]
    assert all(fields["actor_id"] == account_id for _, fields in audit.events)
    assert "wrong-password" not in repr(audit.events), "no secret in the audit log"
