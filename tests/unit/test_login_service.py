"""idp.login.LoginService with a fake guard (no Redis): every password, TOTP code and recovery code goes through the
guard's before/failed/succeeded; a refused attempt is refused even with the right secret (DESIGN.md Authentication);
an unknown name is counted like an account. The guard itself is tested on Redis (tests/integration/test_guard.py)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from idp.accounts import AccountRepository, AccountService, NewAccount
from idp.crypto import Passwords
from idp.errors import InvalidCredentials, Locked, Throttled
from idp.guard import Guard
from idp.login import ACR_MFA, ACR_PASSWORD, LoginService
from idp.totp import InvalidTotpError

FAST = {"memory_kib": 1024, "time_cost": 1, "parallelism": 1}
MAX_FAILURES = 5


class FakeGuard:
    """Guard's API in a dict: failures per (kind, account, version, device); MAX_FAILURES lock it."""

    def __init__(self):
        self.failures: dict[tuple, int] = {}
        self.locked: set[tuple] = set()
        self.calls: list[tuple] = []
        self.versions: list[str | None] = []

    def before(self, kind, account, source, device=None, version=None):
        counter = (kind, account, version, device)
        self.calls.append(("before", kind, account, source, device))
        self.versions.append(version)
        if counter in self.locked:
            raise Locked(900, kind)
        return counter

    def failed(self, counter) -> bool:
        self.calls.append(("failed", *counter[:2]))
        self.failures[counter] = self.failures.get(counter, 0) + 1
        if self.failures[counter] >= MAX_FAILURES:
            self.locked.add(counter)
            return True
        return False

    def succeeded(self, counter) -> None:
        self.calls.append(("succeeded", *counter[:2]))
        self.failures.pop(counter, None)

    def outcomes(self) -> list[tuple]:
        return [c for c in self.calls if c[0] != "before"]

    @staticmethod
    def pseudonym(name: str) -> str:
        return "hmac-of-" + name.strip().lower()[::-1]


class FakeAudit:
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
def guard():
    return FakeGuard()


@pytest.fixture
def audit():
    return FakeAudit()


@pytest.fixture
def accounts(memory_db, passwords):
    return AccountService(memory_db, passwords)


@pytest.fixture
def login(memory_db, guard, passwords, audit):
    return LoginService(memory_db, guard, passwords, audit)


@pytest.fixture
def lotte(accounts):
    accounts.create_account(NewAccount(username="lotte", password="Lotte-pw-123", given_name="Lotte",
                                       family_name="Peeters", role="pupil"))
    return "lotte"


def account_id(memory_db, username: str) -> str:
    with memory_db.read() as session:
        return AccountRepository(session).find_by_username(username).id


def test_right_password(login, lotte, guard):
    result = login.password(lotte, "Lotte-pw-123", "10.0.0.1")
    assert result.acr == ACR_PASSWORD and result.amr == ["pwd"] and result.account_id and result.auth_time > 0
    assert guard.calls == [("before", "pwd", result.account_id, "10.0.0.1", None), ("succeeded", "pwd",
                                                                                    result.account_id)]


def test_username_is_trimmed_and_case_insensitive(login, lotte):
    assert login.password("  LOTTE ", "Lotte-pw-123", "10.0.0.1").account_id


def test_wrong_password_and_unknown_user_raise_the_same_and_both_count(login, lotte, guard, memory_db):
    with pytest.raises(InvalidCredentials) as wrong:
        login.password(lotte, "nope-nope", "10.0.0.1")
    with pytest.raises(InvalidCredentials) as unknown:
        login.password(" Nobody", "nope-nope", "10.0.0.1")
    assert str(wrong.value) == str(unknown.value)
    assert guard.outcomes() == [("failed", "pwd", account_id(memory_db, lotte)),
                                ("failed", "pwd", Guard.unknown("nobody"))]


def test_a_refused_attempt_is_refused_even_with_the_right_password(login, lotte, audit):
    for _ in range(MAX_FAILURES):
        with pytest.raises(InvalidCredentials):
            login.password(lotte, "wrong-password", "10.0.0.1")
    with pytest.raises(Locked):
        login.password(lotte, "Lotte-pw-123", "10.0.0.2")
    assert "login" not in audit.names()


def test_an_unknown_name_is_locked_alike(login):
    for _ in range(MAX_FAILURES):
        with pytest.raises(InvalidCredentials):
            login.password("niemand", "wrong-password", "10.0.0.1")
    with pytest.raises(Locked):
        login.password("niemand", "wrong-password", "10.0.0.1")


def test_a_new_password_lifts_the_lock(login, lotte, memory_db, passwords):
    for _ in range(MAX_FAILURES):
        with pytest.raises(InvalidCredentials):
            login.password(lotte, "wrong-password", "10.0.0.1")
    with memory_db.transaction() as session:  # the school reset it and the pupil chose a new one
        AccountRepository(session).find_by_username(lotte).password_hash = passwords.hash("New-pw-4567")
    assert login.password(lotte, "New-pw-4567", "10.0.0.1").account_id


def test_the_device_cookie_goes_to_the_guard(login, lotte, guard):
    login.password(lotte, "Lotte-pw-123", "10.0.0.1", device="cookie-value")
    assert guard.calls[0][-1] == "cookie-value"


def test_disabled_account_cannot_log_in(login, lotte, memory_db):
    with memory_db.transaction() as session:
        AccountRepository(session).find_by_username(lotte).disabled_at = datetime.now(UTC)
    with pytest.raises(InvalidCredentials):
        login.password(lotte, "Lotte-pw-123", "10.0.0.1")


def test_old_hash_is_upgraded_at_login(memory_db, guard, audit, lotte):
    stronger = Passwords(memory_kib=2048, time_cost=2, parallelism=1)
    assert LoginService(memory_db, guard, stronger, audit).password(lotte, "Lotte-pw-123", "10.0.0.1").account_id
    with memory_db.read() as session:
        stored = AccountRepository(session).find_by_username(lotte).password_hash
    assert not stronger.needs_rehash(stored)
    assert stronger.verify(stored, "Lotte-pw-123")


def test_logins_and_failures_are_audited(login, lotte, audit):
    account = login.password(lotte, "Lotte-pw-123", "10.0.0.1").account_id
    with pytest.raises(InvalidCredentials):
        login.password(lotte, "wrong-password", "10.0.0.1")
    assert audit.names() == ["login", "login_failed"]
    assert all(fields["actor_id"] == account for _, fields in audit.events)
    assert "wrong-password" not in repr(audit.events), "no secret in the audit log"


def test_a_name_that_names_no_one_is_audited_by_pseudonym_only(login, audit, guard):
    """The same work as a wrong password for an account (an audit record), so that the time taken never tells
    whether a name exists (review finding 4); the record holds a keyed HMAC of the name, never the name."""
    with pytest.raises(InvalidCredentials):
        login.password(" NoBody ", "wrong-password", "10.0.0.1")
    assert audit.events == [("login_failed", {"detail": {"method": "pwd", "name": guard.pseudonym("nobody")}})]
    assert "nobody" not in repr(audit.events).replace(guard.pseudonym("nobody"), "")
    assert "wrong-password" not in repr(audit.events)


# --- the TOTP code ------------------------------------------------------------------------------------------------


def test_totp_codes_go_through_the_guard(login, lotte, guard, audit, memory_db):
    account = account_id(memory_db, lotte)
    checked = []

    def check(who, code):
        checked.append(code)
        return code == "123456"

    for _ in range(MAX_FAILURES):
        with pytest.raises(InvalidTotpError):
            login.totp(account, "000000", "10.0.0.1", check, device="dev")
    with pytest.raises(Throttled):
        login.totp(account, "123456", "10.0.0.1", check, device="dev")
    assert checked == ["000000"] * MAX_FAILURES, "a refused code is never checked"
    assert audit.names() == ["mfa_failed"] * MAX_FAILURES
    result = login.totp(account, "123456", "10.0.0.1", check, ("pwd",), device="other")
    assert result.acr == ACR_MFA and result.amr == ["pwd", "otp"]
    assert guard.outcomes()[-1] == ("succeeded", "otp", account)


def test_codes_and_recovery_are_judged_under_the_password_version(login, lotte, guard, memory_db):
    """The guard trusts a device cookie only under the account's current password (review finding 3), so every
    check of LoginService says which version it is."""
    account = login.password(lotte, "Lotte-pw-123", "10.0.0.1").account_id
    login.totp(account, "123456", "10.0.0.1", lambda who, code: True)
    login.recover(lotte, "Lotte-pw-123", "9999", "10.0.0.1", Recovery("9999"))
    version = login.credential_version(account)
    assert version and guard.versions == [version] * 3
    with memory_db.transaction() as session:
        AccountRepository(session).get(account).password_hash = Passwords(**FAST).hash("New-pw-4567")
    assert login.credential_version(account) not in ("", version)


# --- the way back in with a recovery code -------------------------------------------------------------------------


class Recovery:
    """TotpService's recovery codes: `looked` the codes looked up, `tried` the ones used up."""

    def __init__(self, good: str):
        self.good, self.looked, self.tried = good, [], []

    def has_recovery_code(self, account: str, code: str) -> bool:
        self.looked.append((account, code))
        return bool(account) and code == self.good

    def use_recovery_code(self, account: str, code: str) -> bool:
        self.tried.append(code)
        return code == self.good


def test_password_and_recovery_code_log_in_with_mfa(login, lotte, guard):
    result = login.recover(lotte, "Lotte-pw-123", "1111 2222", "10.0.0.1", Recovery("1111 2222"))
    assert result.acr == ACR_MFA and result.amr == ["pwd", "mfa"]
    assert guard.outcomes() == [("succeeded", "recovery", result.account_id)]


def test_recovery_is_counted_apart_from_the_password_lock(login, lotte):
    for _ in range(MAX_FAILURES):
        with pytest.raises(InvalidCredentials):
            login.password(lotte, "wrong-password", "10.0.0.1")
    with pytest.raises(Locked):
        login.password(lotte, "Lotte-pw-123", "10.0.0.1")
    assert login.recover(lotte, "Lotte-pw-123", "9999", "10.0.0.1", Recovery("9999")).account_id


def test_a_wrong_password_never_uses_up_a_recovery_code(login, lotte, audit, memory_db):
    """The code is looked up whatever the password, so that the time taken never tells whether the password was
    right (review finding 5), and used up only when both are right."""
    codes, account = Recovery("9999"), account_id(memory_db, lotte)
    with pytest.raises(InvalidCredentials) as wrong:
        login.recover(lotte, "wrong-password", "9999", "10.0.0.1", codes)
    assert codes.looked == [(account, "9999")] and codes.tried == [] and audit.names() == ["login_failed"]
    with pytest.raises(InvalidCredentials) as wrong_code:
        login.recover(lotte, "Lotte-pw-123", "0000", "10.0.0.1", codes)
    assert codes.looked[-1] == (account, "0000") and codes.tried == []
    assert audit.names() == ["login_failed", "mfa_failed"]
    with pytest.raises(InvalidCredentials) as unknown:
        login.recover("nobody", "Lotte-pw-123", "9999", "10.0.0.1", codes)
    assert codes.looked[-1] == ("", "9999") and codes.tried == []
    assert str(wrong.value) == str(wrong_code.value) == str(unknown.value)
    login.recover(lotte, "Lotte-pw-123", "9999", "10.0.0.1", codes)
    assert codes.tried == ["9999"]


def test_recovery_attempts_are_locked_too(login, lotte):
    for _ in range(MAX_FAILURES):
        with pytest.raises(InvalidCredentials):
            login.recover(lotte, "Lotte-pw-123", "0000", "10.0.0.1", Recovery("9999"))
    with pytest.raises(Locked):
        login.recover(lotte, "Lotte-pw-123", "9999", "10.0.0.1", Recovery("9999"))


def test_a_recovery_code_is_looked_up_without_a_change_and_used_once(memory_db, lotte, audit):
    """TotpService's side of LoginService.recover: the lookup (done whatever the password) never uses a code up."""
    from idp.totp import TotpCredential, TotpService, new_recovery_codes

    account, codes = account_id(memory_db, lotte), new_recovery_codes()
    with memory_db.transaction() as session:
        session.add(TotpCredential(account_id=account, secret_encrypted="sealed"))
        TotpService._replace_recovery_codes(session, account, codes)
    service = TotpService(memory_db, None, audit)
    typed = codes[0].replace(" ", "-")  # as people type it
    assert service.has_recovery_code(account, typed) and service.has_recovery_code(account, typed)
    for other in (codes[0][:-1] + "x", "", "1234", "nonsense"):
        assert not service.has_recovery_code(account, other)
    assert not service.has_recovery_code("", codes[0]), "a name that names no one: the same lookup, nothing found"
    assert service.recovery_codes_left(account) == len(codes) and audit.names() == []
    assert service.use_recovery_code(account, typed) and not service.use_recovery_code(account, typed)
    assert not service.has_recovery_code(account, typed) and service.recovery_codes_left(account) == len(codes) - 1
