"""SessionStore: the browser's SSO session in Redis, behind an opaque cookie, findable per person and by sid.

The cookie is `<sid>.<secret>`. Indexed (always, except for key-value fakes in tests), a session is one JSON value
under its sid: what the session is (fixed at login), its last use `u` and deadline `d`, a hash `c` of the cookie (a
cookie holds only while it matches: a password change moves the session under a new cookie), and its platforms `p`
(each with whom the person acted for there, and when first). Beside it, its sid in the person's sorted set and in one
sorted set of every session's deadline: min(last use + idle time-out, creation + lifetime). `get`, on every request,
is one GET. The value outlives the deadline by GRACE; the worker's `sweep` claims each session past it with ZREM,
which one caller wins, and takes it, so that the platforms hear of a time-out as of a click. Under 1 KB of Redis per
session with three platforms (bench/run.py measures it).

Each change is one Lua script or MULTI, so that no write works from a stale copy and none brings back an ended
session: a platform is added only while the session lives, the last use (written at most once a minute, TOUCH: the
idle time-out runs from that write) changes only the last use and deadline, and a session is taken (its value and
index entries together) by exactly one caller. The scripts reach a person's sorted set by a name they build from the
session: leerID runs on one Redis primary (with Sentinel for fail-over), not a cluster.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import ipaddress
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import date

from idp.crypto import random_token
from idp.ephemeral import RedisStore

TOUCH = 60  # seconds between writes of a session's last use (`get` runs on every request)
GRACE = 3600  # how long a session's record outlives its deadline, for a sweep by a worker that was down
SWEEP_BATCH = 100
DEVICE_POLICIES = ("ask", "shared", "personal")  # a school's: the login page asks; always shared; never asks
MUTABLE = ("clients", "acted_for", "last_used", "sid")  # kept beside what a session is, or (sid) its key

# Every script first decodes the session and goes on only while it lives (its deadline ahead) under the cookie whose
# hash is given (ARGV[1] now, ARGV[2] the cookie's hash); it writes it back with its TTL kept.
LIVING = """
local raw = redis.call('get', KEYS[1])
if not raw then return false end
local s = cjson.decode(raw)
if s.d <= tonumber(ARGV[1]) or s.c ~= ARGV[2] then return false end
"""
# KEYS: the session, deadlines, the person's sessions. ARGV: now, the cookie's hash, deadline, the value's ttl, the
# sorted sets' ttl, sid.
TOUCH_SCRIPT = LIVING + """
s.u = tonumber(ARGV[1])
s.d = tonumber(ARGV[3])
redis.call('set', KEYS[1], cjson.encode(s), 'EX', ARGV[4])
for i = 2, 3 do
  redis.call('zadd', KEYS[i], ARGV[3], ARGV[6])
  redis.call('expire', KEYS[i], ARGV[5])
end
return 1
"""
# KEYS: the session. ARGV: now, the cookie's hash, the platform (and whom for), numbered in the order of first use.
ADD_SCRIPT = LIVING + """
if s.p[ARGV[3]] == nil then
  local n = 0
  for _ in pairs(s.p) do n = n + 1 end
  s.p[ARGV[3]] = n + 1
  redis.call('set', KEYS[1], cjson.encode(s), 'KEEPTTL')
end
return 1
"""
# KEYS: the session, deadlines. ARGV: sid, the cookie's hash it must be under ('': any), the persons' prefix. The
# session, with every key of it gone; nil when it is over already (or under another cookie now).
TAKE_SCRIPT = """
local raw = redis.call('get', KEYS[1])
if not raw then
  redis.call('zrem', KEYS[2], ARGV[1])
  return false
end
local s = cjson.decode(raw)
if ARGV[2] ~= '' and s.c ~= ARGV[2] then return false end
redis.call('del', KEYS[1])
redis.call('zrem', KEYS[2], ARGV[1])
redis.call('zrem', ARGV[3] .. s.account_id, ARGV[1])
return raw
"""


@dataclass
class SsoSession:
    sid: str  # the session id platforms see (ID token `sid`); never the cookie value
    account_id: str
    auth_time: int
    acr: str
    amr: list[str]
    clients: list[str] = field(default_factory=list)  # read where a session ends or is listed; empty from `get`
    created_at: float = field(default_factory=time.time)
    acted_for: dict = field(default_factory=dict)  # client id -> the people this session acted for there
    idle: int | None = None  # its idle time-out and lifetime (by role and device, or a badge's); None: the store's
    lifetime: int | None = None
    last_used: float = 0.0  # written at most once a minute; 0: when it was made
    shared: bool = False  # a shared device: short time-outs, and a cookie that ends with the browser
    browser: str | None = None  # from the User-Agent, in plain words: "Chrome", and the system: "Windows"
    system: str | None = None
    place: dict | None = None  # {"number", "name"}: the school whose network the login came from
    reissued_at: float | None = None  # put under a new cookie (a password change): begun after the cut-off then

    @classmethod
    def load(cls, data: dict) -> SsoSession:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class SessionStore:
    KIND = "session"  # under the sid: the session, its last use, deadline, cookie's hash and platforms (unindexed:
    # the session, under its cookie)
    ACCOUNT = "session-account"  # per person: sid -> deadline
    CUTOFF = "sessions-ended"  # per account: sessions begun before this moment are over (unindexed ones too)

    def __init__(self, store: RedisStore, ttl: int, max_age: int, *, indexed: bool = False,
                 longest: int | None = None, clock=time.time):
        self.store = store
        self.ttl = ttl  # the default idle time-out and lifetime
        self.max_age = max_age
        self.indexed = indexed
        self.longest = max(longest or 0, max_age)  # no session lives longer: the sorted sets' TTL
        self.clock = clock
        self.deadlines = store.key("session-deadlines", "all")
        self.tell: Callable[[SsoSession], None] = lambda ended: None  # its platforms learn that a session ended
        if indexed:
            self._touch, self._add, self._take_script = map(store.script, (TOUCH_SCRIPT, ADD_SCRIPT, TAKE_SCRIPT))

    def _named(self, kind: str, ident: str) -> str:
        """The key of a sid's or a person's: no secrets (a cookie's secret is kept only as a hash)."""
        return self.store.plain(kind, ident)

    def deadline(self, s: SsoSession) -> float:
        return min((s.last_used or s.created_at) + (s.idle or self.ttl), s.created_at + (s.lifetime or self.max_age))

    def create(self, account_id: str, acr: str, amr: list[str], auth_time: int | None = None, *,
               idle: int | None = None, lifetime: int | None = None, shared: bool = False,
               browser: str | None = None, system: str | None = None, place: dict | None = None
               ) -> tuple[str, SsoSession]:
        """A new session under a new cookie value (the identifier changes at every login). A badge's is shared."""
        now, sid = self.clock(), random_token(16)
        cookie = f"{sid}.{random_token(32)}"
        session = SsoSession(sid=sid, account_id=account_id, auth_time=auth_time or int(now), acr=acr,
                             amr=amr, created_at=now, idle=idle, lifetime=lifetime, last_used=now,
                             shared=shared or "badge" in amr, browser=browser, system=system, place=place)
        self._write(cookie, session, now)
        return cookie, session

    def get(self, cookie: str | None) -> SsoSession | None:
        """This browser's session with its platforms, or None; one GET (once a minute also the cut-off's GET and
        TOUCH, which writes its last use)."""
        if not cookie or len(cookie) > 100:
            return None
        session = self._read(cookie)
        if session is None:
            return None
        now = self.clock()
        if self.deadline(session) <= now:  # indexed, the sweep ends it and tells its platforms
            if not self.indexed:
                self.store.delete(self.KIND, cookie)
            return None
        touch = now - (session.last_used or session.created_at) >= min(TOUCH, max(1.0, (session.idle or self.ttl) / 4))
        if (touch or not self.indexed) and self._cut_off(session):
            self.end(cookie)
            return None
        if touch:
            session.last_used = now
            if not self._used(cookie, session, now):
                return None  # ended meanwhile
        return session

    def add_client(self, cookie: str, session: SsoSession, client_id: str, acted_for: str | None = None) -> bool:
        """The platform receives tokens in this session (`acted_for`: about someone the person acts for): call it
        before they are issued. Whether the session still lives (False: it ended meanwhile, issue nothing)."""
        if not self.indexed:
            others = session.acted_for.setdefault(client_id, []) if acted_for else []
            if client_id not in session.clients:
                session.clients.append(client_id)
            if acted_for and acted_for not in others:
                others.append(acted_for)
            return self._write(cookie, session, self.clock(), update=True)
        return bool(self._add([self._named(self.KIND, session.sid)],
                              [round(self.clock(), 3), _secret_hash(cookie), _member(client_id, acted_for)]))

    def alive(self, sid: str) -> bool:
        """Whether the session of this sid has not ended (unindexed it cannot be known: yes)."""
        if not self.indexed:
            return True
        raw = self.store.raw(lambda r: r.get(self._named(self.KIND, sid)))
        return raw is not None and self.deadline(_loaded(raw, sid)) > self.clock()

    @staticmethod
    def people_at(session: SsoSession, client_id: str) -> list[str]:
        """Whose tokens the platform received in this session: the person's own, and those of whom they acted for."""
        return [session.account_id, *session.acted_for.get(client_id, [])]

    def end(self, cookie: str | None) -> SsoSession | None:
        """This browser's session ends (a logout, a new login); the caller tells its platforms."""
        if not cookie or len(cookie) > 100:
            return None
        if self.indexed:
            sid = _sid(cookie)
            return self._take(sid, _secret_hash(cookie)) if sid else None
        data = self.store.consume(self.KIND, cookie)  # not indexed: it lies under its cookie alone
        return SsoSession.load(data) if data else None

    def end_sid(self, account_id: str, sid: str) -> SsoSession | None:
        """One session of the person, by its sid; None when it is not theirs or over already."""
        if not self.indexed or not isinstance(sid, str) or not 0 < len(sid) <= 64:
            return None
        account = self._named(self.ACCOUNT, account_id)
        if self.store.raw(lambda r: r.zscore(account, sid)) is None:
            return None
        return self._take(sid)

    def end_all(self, account_id: str, tell: bool = False) -> list[SsoSession]:
        """Every SSO session of the person ends (log out everywhere, a password reset); the ones ended. With `tell`
        their platforms learn it (back-channel logout); else that is the caller's to do. A later login starts anew."""
        ended = []
        if self.indexed:
            account = self._named(self.ACCOUNT, account_id)
            for sid in self.store.raw(lambda r: r.zrange(account, 0, -1)):
                if (taken := self._take(_text(sid))) is not None:
                    ended.append(taken)
        self.store.put(self.CUTOFF, account_id, {"at": self.clock()}, self.longest + 60)
        for one in ended if tell else ():
            self.tell(one)
        return ended

    def reissue(self, keep: SsoSession) -> str | None:
        """Every session of the person ends but `keep`, which goes on (same sid, platforms, login and lifetime)
        under a new cookie, begun after the cut-off; that cookie. None when `keep` had ended already (logged out
        meanwhile): it stays ended."""
        current = None
        for other in self.end_all(keep.account_id):
            if other.sid == keep.sid:
                current = other  # the kept one goes on: its platforms stay logged in
            else:
                self.tell(other)
        if current is None and self.indexed:
            return None
        cutoff = (self.store.get(self.CUTOFF, keep.account_id) or {}).get("at", 0)
        now = self.clock()
        begun = max(now, cutoff + 0.001)
        cookie = f"{keep.sid}.{random_token(32)}"
        self._write(cookie, replace(current or keep, reissued_at=begun, last_used=begun), now)
        return cookie

    def sessions_of(self, account_id: str) -> list[SsoSession]:
        """The person's sessions that have not ended, with their platforms, newest first."""
        if not self.indexed:
            return []
        account = self._named(self.ACCOUNT, account_id)
        sids = [_text(s) for s in self.store.raw(lambda r: r.zrange(account, 0, -1))]
        if not sids:
            return []

        def read(r):
            pipe = r.pipeline(transaction=False)
            for sid in sids:
                pipe.get(self._named(self.KIND, sid))
            return pipe.execute()

        answers = self.store.raw(read)
        found, stale, now = [], [], self.clock()
        for sid, raw in zip(sids, answers):
            session = _loaded(raw, sid) if raw else None
            if session is None or session.account_id != account_id:
                stale.append(sid)
            elif self.deadline(session) > now:
                found.append(session)
        if stale:
            self.store.raw(lambda r: r.zrem(account, *stale))
        return sorted(found, key=lambda s: s.created_at, reverse=True)

    def sweep(self, limit: int = SWEEP_BATCH) -> list[SsoSession]:
        """The sessions past their deadline, each claimed by one caller only (ZREM, then the take), for the caller
        to tell their platforms."""
        if not self.indexed:
            return []
        now = self.clock()
        due = self.store.raw(lambda r: r.zrangebyscore(self.deadlines, "-inf", now, start=0, num=limit))
        return [ended for sid in map(_text, due) if (ended := self._claim(sid, now)) is not None]

    def _claim(self, sid: str, now: float) -> SsoSession | None:
        if not self.store.raw(lambda r: r.zrem(self.deadlines, sid)):
            return None  # another worker has it
        raw = self.store.raw(lambda r: r.get(self._named(self.KIND, sid)))
        if raw is None:
            return None  # ended otherwise
        session = _loaded(raw, sid)
        if self.deadline(session) > now:  # used in between: not over
            self.store.raw(lambda r: r.zadd(self.deadlines, {sid: self.deadline(session)}))
            return None
        return self._take(sid)

    # --- the keys ---

    def _cut_off(self, session: SsoSession) -> bool:
        cutoff = self.store.get(self.CUTOFF, session.account_id)
        return bool(cutoff) and max(session.created_at, session.reissued_at or 0) <= cutoff["at"]

    def _read(self, cookie: str) -> SsoSession | None:
        if not self.indexed:
            data = self.store.get(self.KIND, cookie)
            return SsoSession.load(data) if data else None
        sid = _sid(cookie)
        if sid is None:
            return None
        raw = self.store.raw(lambda r: r.get(self._named(self.KIND, sid)))
        data = json.loads(raw) if raw else {}
        if not hmac.compare_digest(str(data.get("c", "")), _secret_hash(cookie)):
            return None
        return _from(data, sid)

    def _write(self, cookie: str, session: SsoSession, now: float, update: bool = False) -> bool:
        """A session under a new cookie (`update`, unindexed: over one that still exists), until its deadline; and
        (indexed) its hash with its platforms, and its index entries. Whether it was written."""
        deadline = self.deadline(session)
        ttl = max(1, math.ceil(deadline - now))
        if not self.indexed:
            if update and self.store.get(self.KIND, cookie) is None:
                return False  # ended meanwhile
            self.store.put(self.KIND, cookie, asdict(session), ttl)
            return True
        record, account = self._named(self.KIND, session.sid), self._named(self.ACCOUNT, session.account_id)
        members = [_member(c, None) for c in session.clients]
        members += [_member(c, who) for c, whom in session.acted_for.items() for who in whom]
        platforms = {member: n for n, member in enumerate(dict.fromkeys(members), 1)}  # in the order of first use
        value = _core(session, u=round(session.last_used or now, 3), d=round(deadline, 3), c=_secret_hash(cookie),
                      p=platforms)
        span = self.longest + GRACE

        def write(r):
            pipe = r.pipeline()  # MULTI: all or nothing
            pipe.set(record, value, ex=ttl + GRACE)
            pipe.zadd(self.deadlines, {session.sid: deadline}).expire(self.deadlines, span)
            pipe.zadd(account, {session.sid: deadline}).expire(account, span)
            pipe.execute()

        self.store.raw(write)
        return True

    def _used(self, cookie: str, session: SsoSession, now: float) -> bool:
        """Its last use, written only while it lives; nothing else of the copy read is written back (but for a
        session from before the index: its record then). Whether it lives."""
        if not self.indexed:
            return self._write(cookie, session, now, update=True)
        deadline = self.deadline(session)
        ttl = max(1, math.ceil(deadline - now))
        keys = [self._named(self.KIND, session.sid), self.deadlines, self._named(self.ACCOUNT, session.account_id)]
        args = [round(now, 3), _secret_hash(cookie), round(deadline, 3), ttl + GRACE, self.longest + GRACE, session.sid]
        return bool(self._touch(keys, args))

    def _take(self, sid: str, cookie_hash: str = "") -> SsoSession | None:
        """The session, taken by exactly one caller with its index entries (`cookie_hash`: only when it is still under
        that cookie); None when it is over already."""
        taken = self._take_script([self._named(self.KIND, sid), self.deadlines],
                                  [sid, cookie_hash, self.store.plain(self.ACCOUNT, "")])
        return _loaded(taken, sid) if taken else None


def _core(session: SsoSession, **extra) -> str:
    """What a session is, compactly (no empty or default values: SsoSession.load fills them in again), with `extra`
    (its last use, deadline, cookie's hash and platforms)."""
    defaults = {name: f.default for name, f in SsoSession.__dataclass_fields__.items()}
    core = {k: v for k, v in asdict(session).items()  # times unrounded: a cut-off compares them exactly
            if k not in MUTABLE and v is not None and v != defaults.get(k)}
    return json.dumps(core | extra, separators=(",", ":"))


def _member(client_id: str, whom: str | None) -> str:
    """A platform of a session: its client id, and whom the person acted for there (client ids and account ids hold
    no spaces)."""
    return f"{client_id} {whom}" if whom else client_id


def _sid(cookie: str) -> str | None:
    """The sid a cookie names (`<sid>.<secret>`), or None for a cookie of another shape."""
    sid, dot, secret = cookie.partition(".")
    plain = sid.replace("-", "").replace("_", "")
    return sid if dot and 0 < len(sid) <= 32 and secret and plain.isascii() and plain.isalnum() else None


def _secret_hash(cookie: str) -> str:
    """What a session keeps of its cookie: 128 bits of the SHA-256 of the whole cookie value, base64url."""
    return base64.urlsafe_b64encode(hashlib.sha256(cookie.encode()).digest()[:16]).decode().rstrip("=")


def _loaded(raw, sid) -> SsoSession:
    return _from(json.loads(raw), sid)


def _from(data: dict, sid) -> SsoSession:
    """A session from its stored value: what it is, its last use, and its platforms (each with whom for, or none),
    in the order they were first used."""
    session = SsoSession.load({**data, "sid": _text(sid)})
    session.last_used = float(data.get("u") or 0)
    platforms = data.get("p") or {}
    for member in sorted(platforms, key=lambda m: platforms[m]):  # cjson writes an empty table as {}, never []
        client_id, _, whom = member.partition(" ")
        if client_id not in session.clients:
            session.clients.append(client_id)
        whose = session.acted_for.setdefault(client_id, []) if whom else []
        if whom and whom not in whose:
            whose.append(whom)
    return session


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


# --- what a session is called: device and browser in plain words, and the place -----------------------------------

BROWSERS = (("Edg", "Edge"), ("OPR/", "Opera"), ("SamsungBrowser/", "Samsung Internet"), ("Firefox/", "Firefox"),
            ("FxiOS/", "Firefox"), ("CriOS/", "Chrome"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
SYSTEMS = (("iPad", "iPad"), ("iPhone", "iPhone"), ("Android", "Android"), ("CrOS", "Chromebook"),
           ("Windows", "Windows"), ("Macintosh", "Mac"), ("Linux", "Linux"))


def device_of(user_agent: str | None) -> tuple[str | None, str | None]:
    """(browser, system) in plain words from a User-Agent header ("Chrome", "Windows"); None for what is unknown."""
    text = (user_agent or "")[:512]
    browser = next((name for token, name in BROWSERS if token in text), None)
    system = next((name for token, name in SYSTEMS if token in text), None)
    return browser, system


@dataclass(frozen=True)
class Place:
    """A school whose network ranges (its badge settings) a source address falls in."""

    number: str
    name: str
    device_policy: str

    def as_dict(self) -> dict:
        return {"number": self.number, "name": self.name}


@dataclass(frozen=True)
class Terms:
    """What a new session gets: its idle time-out and lifetime (seconds), whether the device is shared, the place."""

    idle: int
    lifetime: int
    shared: bool
    place: Place | None


@functools.cache
def _terms_query():
    """SessionPolicy.terms' one query (built once): the account's role, and the role, school number and device
    policy of each membership current on `today` (none: one row of Nones)."""
    from sqlalchemy import Date, bindparam, select

    from idp.accounts import Account
    from idp.directory import Membership, School, current_on

    today = bindparam("today", type_=Date)
    return (select(Account.role, Membership.role.label("member_as"), School.number, School.device_policy)
            .outerjoin(Membership, (Membership.account_id == Account.id) & current_on(today))
            .outerjoin(School, School.id == Membership.school_id)
            .where(Account.id == bindparam("account_id")))


class SessionPolicy:
    """How long a new session may last, by the person's roles (a pupil's is shorter) and by device: shared when
    ticked at login, or by the device policy of one of the person's own schools, wherever they log in (so also of
    the school whose network the login comes from, when they belong to it: another school's network is no place of
    theirs). `limits[(pupil, shared)]` is (idle, lifetime)."""

    def __init__(self, db, limits: dict[tuple[bool, bool], tuple[int, int]], cache_seconds: int = 30,
                 clock=time.monotonic):
        self.db = db
        self.limits = limits
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._places: tuple[float, list] = (-math.inf, [])

    def place(self, source: str | None) -> Place | None:
        try:
            address = ipaddress.ip_address(source or "")
        except ValueError:
            return None
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return next((place for networks, place in self._networks()
                     if any(address in network for network in networks)), None)

    def _networks(self) -> list:
        """Every school with network ranges (cached for a while: read on every login page)."""
        from sqlalchemy import select

        from idp.directory import School

        fetched, found = self._places
        if self.clock() - fetched < self.cache_seconds:
            return found
        with self.db.read() as session:
            rows = session.execute(select(School.number, School.name, School.badge_networks, School.device_policy))
            found = [([ipaddress.ip_network(n) for n in networks], Place(number, name, policy or "ask"))
                     for number, name, networks, policy in rows if networks]
        self._places = (self.clock(), found)
        return found

    def terms(self, account_id: str, source: str | None, ticked: bool) -> Terms:
        rows = self.db.rows(_terms_query(), account_id=account_id, today=date.today())
        roles = {row.role for row in rows[:1]} | {row.member_as for row in rows if row.member_as is not None}
        numbers = {row.number for row in rows if row.member_as is not None}
        place = self.place(source)
        if place is not None and place.number not in numbers:
            place = None  # a school's network says something only about its own people: no policy, no label
        shared = ticked or any(row.device_policy == "shared" for row in rows if row.member_as is not None) \
            or (place is not None and place.device_policy == "shared")
        idle, lifetime = self.limits["pupil" in roles, shared]
        return Terms(idle, lifetime, shared, place)


# --- ending sessions on purpose -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Everywhere:
    sessions: int  # sessions ended
    platforms: tuple[str, ...]  # client ids of the platforms told (sessions, refresh tokens)


class SessionEnding:
    """A person (Mijn sessies) or a school administrator (the console) ends one session by its sid, or every session
    of the person together with every refresh token they hold (their own, and those they got acting for someone).
    Each platform hears of it by back-channel logout, queued only (`backchannel`: idp.backchannel's
    BackchannelLogout); audited `session_ended` or `logged_out_everywhere`, with the school (id, number) for an
    administrator. Redis goes first, so that an unreachable one changes nothing in the database."""

    def __init__(self, db, sessions: SessionStore, backchannel):
        self.db = db
        self.sessions = sessions
        self.backchannel = backchannel

    def end_one(self, account_id: str, sid: str, actor_id: str, school: tuple[int, str] | None = None
                ) -> SsoSession | None:
        ended = self.sessions.end_sid(account_id, sid)
        if ended is not None:
            self.backchannel.session_ended(ended)
            self._record("session_ended", account_id, actor_id, school, {
                "platforms": ended.clients, "browser": ended.browser, "system": ended.system, "shared": ended.shared})
        return ended

    def end_everywhere(self, account_id: str, actor_id: str, school: tuple[int, str] | None = None) -> Everywhere:
        with self.db.read() as session:
            holding = {t.client_id for t in _live_tokens(session, account_id) if t.account_id == account_id}
        ended = self.sessions.end_all(account_id)
        told = set()
        for one in ended:
            self.backchannel.session_ended(one)
            told.update(one.clients)
        for client_id in sorted(holding - told):  # every session of the person there (no sid)
            self.backchannel.enqueue(client_id, account_id)
        platforms = tuple(sorted(holding | told))
        self._record("logged_out_everywhere", account_id, actor_id, school,
                     {"sessions": len(ended), "platforms": list(platforms)}, revoke=True)
        return Everywhere(len(ended), platforms)

    def _record(self, event: str, account_id: str, actor_id: str, school, detail: dict, revoke: bool = False):
        from idp import audit
        from idp.tokens import RevokedGrant

        with self.db.transaction() as session:
            if revoke:
                grants = {t.grant_id for t in _live_tokens(session, account_id)}
                session.add_all(RevokedGrant(grant_id=g, reason="logged out everywhere") for g in sorted(grants))
            audit.record(session, event, actor_id=actor_id, subject_id=account_id,
                         school_id=school[0] if school else None,
                         detail=({"school": school[1]} if school else {}) | detail)


def _live_tokens(session, account_id: str) -> list:
    """The person's refresh tokens that still work: about them, or got by them acting for someone (a mandate)."""
    from sqlalchemy import or_, select

    from idp.db import utcnow
    from idp.tokens import RefreshToken, RevokedGrant
    from mandates.store import Mandate

    represented = select(Mandate.represented_id).where(Mandate.actor_id == account_id)
    rows = session.scalars(select(RefreshToken).where(
        RefreshToken.used_at.is_(None), RefreshToken.expires_at > utcnow(),
        or_(RefreshToken.account_id == account_id, RefreshToken.account_id.in_(represented))))
    mine = [t for t in rows if t.account_id == account_id or (t.context or {}).get("actor_id") == account_id]
    revoked = set(session.scalars(select(RevokedGrant.grant_id).where(
        RevokedGrant.grant_id.in_({t.grant_id for t in mine}))))
    return [t for t in mine if t.grant_id not in revoked]
