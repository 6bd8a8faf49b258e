"""Guard: the one check around every secret leerID verifies (password, TOTP code, recovery code, badge code,
passkey), so that no one can guess their way in and no attacker can lock out a whole class (issue 6, item 6).

Every secret check goes like this:

    attempt = guard.before(kind, account, source, device, version)  # Throttled (a wait) or Locked: check nothing
    if right:
        guard.succeeded(attempt)                                     # takes the attempt's count back
    else:
        guard.failed(attempt)                                        # may lock; audits account_locked once

- kind: what is checked ("pwd", "otp", "recovery", "badge", "hwk"); each kind counts apart.
- account: the account id, or Guard.unknown(name) for a name that names no account: its delays and lock look
  exactly like a real account's, so that they never tell whether the name exists.
- source: the client's address (IPv6 counted per /64).
- device: the browser's device cookie, or None; after a whole login (every factor the account has),
  guard.remember(account, cookie, version) is its new value (OWASP "Slow Down Online Guessing Attacks with Device
  Cookies").
- version: the account's credential version, a hash of its password hash (LoginService.credential_version): a new
  password starts with a clean count, so a password reset by the school lifts a lock; and a device cookie entry
  holds the version it was made under, so a new password ends the trust of every browser. A caller that passes no
  version gets no device trust.

An untrusted attempt (no valid device cookie for this account) is judged per account: `free_failures` failures in
the sliding window are free, then each next attempt must wait `delay`, 2x, 4x ... (at most `max_delay`) after the
last failure, and at `max_failures` the account locks for `lock` seconds for untrusted attempts; and per source:
after `source_failures` failures in the window, over every account and kind (password spraying), an address gets
no attempt for an account (or unknown name) that already failed in the window, but still one for each account
that did not: a school's network is shared by hundreds of pupils, so one guesser there neither locks out the
class nor gets more than one guess per account per window. Kinds where the secret itself names the account (a
typed badge code, STRICT_KINDS) get no attempt at all over the source limit: there every attempt is a guess. Only
failures count. A trusted attempt (a browser where this account logged in before, under its current password) is
judged by one count per account and kind shared by all its trusted browsers, with the same delays and lock, and
never by the account's untrusted lock or the source's count: an attacker in the same classroom cannot lock anyone
out of their own device, and many device cookies add up to one budget, not one each. Each attempt is counted
before the secret is checked (a success takes it back), so parallel guesses cannot slip past a limit; every check
is one Redis round trip (a Lua script), timed by `clock`.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from idp.ephemeral import RedisStore
from idp.errors import Locked, Throttled

UNKNOWN = "?"  # account ids never start with it
DEVICE_DAYS = 365  # a device cookie entry is trusted this long after the login that made it
DEVICE_ENTRIES = 30  # accounts remembered per browser (a classroom's shared tablet), the most recent first
DEVICE_INFO = b"leerid device cookies"
NAME_INFO = b"leerid unknown names"
STRICT_KINDS = frozenset({"badge"})  # the secret typed is what finds the account: over the source limit, no attempt

# KEYS: the account's (or its trusted devices') failures, its lock, the source's failures.
# ARGV: now ms, window ms, free failures, first delay ms, max delay ms, source limit, member, 1 = count the source,
# 1 = a strict kind (over the source limit, refused even without failures of its own).
BEFORE = """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local free, delay, max_delay = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local until_ms = tonumber(redis.call('get', KEYS[2]) or '0')
if until_ms > now then return {'lock', until_ms - now} end
redis.call('zremrangebyscore', KEYS[1], '-inf', now - window)
local n = redis.call('zcard', KEYS[1])
if n > 0 and n >= free then
  local last = tonumber(redis.call('zrange', KEYS[1], -1, -1, 'WITHSCORES')[2])
  local wait = math.min(max_delay, delay * 2 ^ (n - free))
  if last + wait > now then return {'delay', last + wait - now} end
end
if ARGV[8] == '1' then
  local limit = tonumber(ARGV[6])
  redis.call('zremrangebyscore', KEYS[3], '-inf', now - window)
  local seen = redis.call('zcard', KEYS[3])
  if seen >= limit and (n > 0 or ARGV[9] == '1') then
    local oldest = tonumber(redis.call('zrange', KEYS[3], 0, 0, 'WITHSCORES')[2])
    return {'source', oldest + window - now}
  end
  redis.call('zadd', KEYS[3], now, ARGV[7])
  if seen >= 2 * limit then redis.call('zremrangebyrank', KEYS[3], 0, seen - 2 * limit) end
  redis.call('pexpire', KEYS[3], window)
end
redis.call('zadd', KEYS[1], now, ARGV[7])
redis.call('pexpire', KEYS[1], window)
return {'ok', 0}
"""
# KEYS: the failures, the lock. ARGV: max failures, lock ms, now ms. 1 when this failure locked it.
FAILED = """
local now = tonumber(ARGV[3])
if redis.call('zcard', KEYS[1]) < tonumber(ARGV[1]) then return 0 end
redis.call('del', KEYS[1])
if tonumber(redis.call('get', KEYS[2]) or '0') > now then return 0 end
redis.call('set', KEYS[2], string.format('%.0f', now + tonumber(ARGV[2])), 'PX', ARGV[2])
return 1
"""


@dataclass(frozen=True)
class GuardPolicy:
    max_failures: int = 5  # untrusted failures (per account), or its trusted devices' failures, before it locks
    source_failures: int = 300  # failures per source address in the window, over every account
    window: int = 15 * 60  # seconds: the sliding window failures are counted in
    lock: int = 15 * 60  # seconds an account stays locked (for untrusted attempts, or for its trusted devices)
    free_failures: int = 3  # failures before each next attempt must wait
    delay: int = 1  # seconds: the first wait, doubled for every further failure
    max_delay: int = 60  # seconds: the longest wait


@dataclass(frozen=True)
class Attempt:
    """One counted attempt, between before() and failed() or succeeded()."""

    kind: str
    account: str
    trusted: bool  # judged by the count of the account's trusted devices
    failures: str  # Redis keys
    lock: str
    source: str
    member: str

    @property
    def known(self) -> bool:
        return not self.account.startswith(UNKNOWN)


def network(source: str) -> str:
    """The address a source is counted by: an IPv4 address, or the /64 of an IPv6 one (one household or school)."""
    try:
        address = ipaddress.ip_address(source.strip())
    except ValueError:
        return source[:64]
    if address.version == 6 and address.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(getattr(address, "ipv4_mapped", None) or address)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Guard:
    def __init__(self, store: RedisStore, policy: GuardPolicy, audit=None, secret_keys: tuple[str, ...] = (),
                 clock: Callable[[], float] = time.time):
        self.store = store
        self.policy = policy
        self.audit = audit
        self.clock = clock
        self._keys = [hmac.new(k.encode(), DEVICE_INFO, hashlib.sha256).digest() for k in secret_keys]
        self._before = store.script(BEFORE)
        self._failed = store.script(FAILED)

    @staticmethod
    def unknown(name: str) -> str:
        """The account to count a name by that names no account."""
        return UNKNOWN + name

    # --- the three calls around a secret check ------------------------------------------------------------------

    def before(self, kind: str, account: str, source: str, device: str | None = None,
               version: str | None = None) -> Attempt:
        """Count this attempt, or raise Locked or Throttled (with the wait in seconds) without counting it.
        `version`: the account's credential version (see the module's docstring); None: the device is not trusted."""
        trusted = self.trusted(account, device, version)
        counter = f"{kind}:{account}:{version or ''}" + (":devices" if trusted else "")
        attempt = Attempt(kind, account, trusted, RedisStore.key("guard-failures", counter),
                          RedisStore.key("guard-lock", counter), RedisStore.key("guard-source", network(source)),
                          secrets.token_hex(8))
        p = self.policy
        verdict, wait = self._before(
            [attempt.failures, attempt.lock, attempt.source],
            [self._now(), p.window * 1000, p.free_failures, p.delay * 1000, p.max_delay * 1000, p.source_failures,
             attempt.member, 0 if attempt.trusted else 1, 1 if kind in STRICT_KINDS else 0])
        verdict, seconds = (verdict.decode() if isinstance(verdict, bytes) else verdict), max(1, math.ceil(wait / 1000))
        if verdict == "lock":
            raise Locked(seconds, kind, attempt.trusted)
        if verdict != "ok":
            raise Throttled(seconds, verdict, kind)
        return attempt

    def failed(self, attempt: Attempt) -> bool:
        """The secret was wrong: the attempt stays counted; True when this failure locked the account (or its
        trusted devices), which is audited once as account_locked."""
        p = self.policy
        locked = bool(self._failed([attempt.failures, attempt.lock], [p.max_failures, p.lock * 1000, self._now()]))
        if locked and attempt.known and self.audit is not None:
            self.audit.record("account_locked", subject_id=attempt.account,
                              detail={"method": attempt.kind, "device": attempt.trusted, "seconds": p.lock})
        return locked

    def succeeded(self, attempt: Attempt) -> None:
        """The secret was right: the account's (or its trusted devices') failures are forgotten and the source's
        count taken back (a source counts failures only). A lock is never lifted by this."""
        def run(client) -> None:
            pipe = client.pipeline(transaction=False)
            pipe.delete(attempt.failures)
            if not attempt.trusted:
                pipe.zrem(attempt.source, attempt.member)
            pipe.execute()

        self.store.raw(run)

    def pseudonym(self, name: str) -> str:
        """A keyed HMAC of a name that names no account, for the audit log (never the name itself)."""
        if not self._keys:
            raise ValueError("no secret key for pseudonyms")
        key = hmac.new(self._keys[0], NAME_INFO, hashlib.sha256).digest()
        return _b64(hmac.new(key, name.strip().lower().encode(), hashlib.sha256).digest()[:16])

    # --- device cookies: "pseudonym.version.day.signature" entries joined by "~" -----------------------------

    def trusted(self, account: str, cookie: str | None, version: str | None) -> bool:
        """Whether a device cookie holds a valid entry for this account, made under its current credential
        `version` (None: never trusted)."""
        if not cookie or version is None or account.startswith(UNKNOWN):
            return False
        for entry in cookie.split("~")[:DEVICE_ENTRIES]:
            found = self._parse(entry)
            if found is not None and hmac.compare_digest(found[1], self._pseudonym(found[0], account)) \
                    and hmac.compare_digest(found[2], self._version_tag(found[0], account, version)):
                return True
        return False

    def remember(self, account: str, cookie: str | None, version: str) -> str:
        """The device cookie after `account` logged in on this browser (with every factor it has, under credential
        `version`): a new entry for it first, then the other accounts' valid entries (at most DEVICE_ENTRIES). The
        cookie names accounts only by a keyed HMAC, and holds only a keyed HMAC of the version."""
        if not self._keys:
            raise ValueError("no secret key for device cookies")
        key = self._keys[0]
        body = f"{self._pseudonym(key, account)}.{self._version_tag(key, account, version)}.{self._today():x}"
        kept = [body + "." + self._sign(key, body)]
        for entry in (cookie or "").split("~")[:DEVICE_ENTRIES]:
            found = self._parse(entry)
            if found is not None and not hmac.compare_digest(found[1], self._pseudonym(found[0], account)):
                kept.append(entry)
        return "~".join(kept[:DEVICE_ENTRIES])

    def _parse(self, entry: str) -> tuple[bytes, str, str] | None:
        """(the key that signed it, pseudonym, version tag) of a valid, unexpired entry; None for anything else."""
        parts = entry.split(".")
        if len(parts) != 4 or len(entry) > 120:
            return None
        body = ".".join(parts[:3])
        key = next((k for k in self._keys if hmac.compare_digest(parts[3], self._sign(k, body))), None)
        try:
            fresh = 0 <= self._today() - int(parts[2], 16) <= DEVICE_DAYS
        except ValueError:
            return None
        return (key, parts[0], parts[1]) if key is not None and fresh else None

    @staticmethod
    def _version_tag(key: bytes, account: str, version: str) -> str:
        return _b64(hmac.new(key, f"version:{account}:{version}".encode(), hashlib.sha256).digest()[:9])

    @staticmethod
    def _pseudonym(key: bytes, account: str) -> str:
        return _b64(hmac.new(key, f"account:{account}".encode(), hashlib.sha256).digest()[:12])

    @staticmethod
    def _sign(key: bytes, body: str) -> str:
        return _b64(hmac.new(key, f"entry:{body}".encode(), hashlib.sha256).digest()[:16])

    def _today(self) -> int:
        return int(self.clock() // 86400)

    def _now(self) -> int:
        return int(self.clock() * 1000)
