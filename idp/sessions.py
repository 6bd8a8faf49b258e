"""SessionStore: the browser's SSO session in Redis, behind an opaque cookie, findable per person and by sid.

The whole session lies under its cookie's key (a hash of the cookie), so that `get`, on every request, is one GET.
Indexed (always, except for key-value fakes in tests), each session also has a record under its sid (the same data
and the cookie's key, never the cookie) that outlives the session by GRACE, and its sid in the person's sorted set
and in one sorted set of every session's deadline: min(last use + idle time-out, creation + lifetime). Redis expires
the cookie's key at the deadline, silently; the worker's `sweep` claims each session past it with ZREM, which one
caller wins, and takes its record with GETDEL, so that the platforms hear of a time-out as of a click. The last use
is written at most once a minute (TOUCH): the idle time-out runs from that write.
"""
from __future__ import annotations

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


@dataclass
class SsoSession:
    sid: str  # the session id platforms see (ID token `sid`); never the cookie value
    account_id: str
    auth_time: int
    acr: str
    amr: list[str]
    clients: list[str] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    acted_for: dict = field(default_factory=dict)  # client id -> the people this session acted for there
    idle: int | None = None  # its idle time-out and lifetime (by role and device, or a badge's); None: the store's
    lifetime: int | None = None
    last_used: float = 0.0  # written at most once a minute; 0: when it was made
    shared: bool = False  # a shared device: short time-outs, and a cookie that ends with the browser
    browser: str | None = None  # from the User-Agent, in plain words: "Chrome", and the system: "Windows"
    system: str | None = None
    place: dict | None = None  # {"number", "name"}: the school whose network the login came from

    @classmethod
    def load(cls, data: dict) -> SsoSession:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class SessionStore:
    KIND = "session"  # under the cookie
    RECORD = "session-sid"  # under the sid
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

    def deadline(self, s: SsoSession) -> float:
        return min((s.last_used or s.created_at) + (s.idle or self.ttl), s.created_at + (s.lifetime or self.max_age))

    def create(self, account_id: str, acr: str, amr: list[str], auth_time: int | None = None, *,
               idle: int | None = None, lifetime: int | None = None, shared: bool = False,
               browser: str | None = None, system: str | None = None, place: dict | None = None
               ) -> tuple[str, SsoSession]:
        """A new session under a new cookie value (the identifier changes at every login). A badge's is shared."""
        now, cookie = self.clock(), random_token(32)
        session = SsoSession(sid=random_token(16), account_id=account_id, auth_time=auth_time or int(now), acr=acr,
                             amr=amr, created_at=now, idle=idle, lifetime=lifetime, last_used=now,
                             shared=shared or "badge" in amr, browser=browser, system=system, place=place)
        self._write(cookie, session, now, new=True)
        return cookie, session

    def get(self, cookie: str | None) -> SsoSession | None:
        if not cookie or len(cookie) > 100:
            return None
        data = self.store.get(self.KIND, cookie)
        if not data:
            return None
        session, now = SsoSession.load(data), self.clock()
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
            if not self._write(cookie, session, now):
                return None  # ended meanwhile
        return session

    def add_client(self, cookie: str, session: SsoSession, client_id: str, acted_for: str | None = None) -> None:
        """The platform received tokens in this session (`acted_for`: about someone the person acts for)."""
        others = session.acted_for.setdefault(client_id, []) if acted_for else []
        if client_id in session.clients and (acted_for is None or acted_for in others):
            return
        if client_id not in session.clients:
            session.clients.append(client_id)
        if acted_for:
            others.append(acted_for)
        self._write(cookie, session, self.clock())

    @staticmethod
    def people_at(session: SsoSession, client_id: str) -> list[str]:
        """Whose tokens the platform received in this session: the person's own, and those of whom they acted for."""
        return [session.account_id, *session.acted_for.get(client_id, [])]

    def end(self, cookie: str | None) -> SsoSession | None:
        """This browser's session ends (a logout, a new login); the caller tells its platforms."""
        if not cookie or len(cookie) > 100:
            return None
        data = self.store.consume(self.KIND, cookie)
        if not data:
            return None
        session = SsoSession.load(data)
        if self.indexed:
            self.store.delete(self.RECORD, session.sid)
            self._unindex(session.account_id, session.sid)
        return session

    def end_sid(self, account_id: str, sid: str) -> SsoSession | None:
        """One session of the person, by its sid; None when it is not theirs or over already."""
        if not self.indexed or not isinstance(sid, str) or not 0 < len(sid) <= 64:
            return None
        account = self.store.key(self.ACCOUNT, account_id)
        if self.store.raw(lambda r: r.zscore(account, sid)) is None:
            return None
        return self._take(sid)

    def end_all(self, account_id: str, tell: bool = False) -> list[SsoSession]:
        """Every SSO session of the person ends (log out everywhere, a password reset); the ones ended. With `tell`
        their platforms learn it (back-channel logout); else that is the caller's to do. A later login starts anew."""
        ended = []
        if self.indexed:
            account = self.store.key(self.ACCOUNT, account_id)
            for sid in self.store.raw(lambda r: r.zrange(account, 0, -1)):
                if (taken := self._take(_text(sid))) is not None:
                    ended.append(taken)
        self.store.put(self.CUTOFF, account_id, {"at": self.clock()}, self.longest + 60)
        for one in ended if tell else ():
            self.tell(one)
        return ended

    def reissue(self, keep: SsoSession) -> str:
        """Every session of the person ends but `keep`, which goes on (same sid, platforms and login) under a new
        cookie, begun after the cut-off; that cookie."""
        for other in self.end_all(keep.account_id):
            if other.sid != keep.sid:  # the kept one goes on: its platforms stay logged in
                self.tell(other)
        cutoff = (self.store.get(self.CUTOFF, keep.account_id) or {}).get("at", 0)
        now = self.clock()
        begun = max(now, cutoff + 0.001)
        cookie = random_token(32)
        self._write(cookie, replace(keep, created_at=begun, last_used=begun), now, new=True)
        return cookie

    def sessions_of(self, account_id: str) -> list[SsoSession]:
        """The person's sessions that have not ended, newest first."""
        if not self.indexed:
            return []
        account = self.store.key(self.ACCOUNT, account_id)
        sids = [_text(s) for s in self.store.raw(lambda r: r.zrange(account, 0, -1))]
        if not sids:
            return []
        found, stale, now = [], [], self.clock()
        records = self.store.raw(lambda r: r.mget([self.store.key(self.RECORD, s) for s in sids]))
        for sid, raw in zip(sids, records):
            session = SsoSession.load(json.loads(raw)) if raw else None
            if session is None or session.account_id != account_id:
                stale.append(sid)
            elif self.deadline(session) > now:
                found.append(session)
        if stale:
            self.store.raw(lambda r: r.zrem(account, *stale))
        return sorted(found, key=lambda s: s.created_at, reverse=True)

    def sweep(self, limit: int = SWEEP_BATCH) -> list[SsoSession]:
        """The sessions past their deadline, each claimed by one caller only (ZREM, then GETDEL of its record), for
        the caller to tell their platforms."""
        if not self.indexed:
            return []
        now = self.clock()
        due = self.store.raw(lambda r: r.zrangebyscore(self.deadlines, "-inf", now, start=0, num=limit))
        return [ended for sid in map(_text, due) if (ended := self._claim(sid, now)) is not None]

    def _claim(self, sid: str, now: float) -> SsoSession | None:
        if not self.store.raw(lambda r: r.zrem(self.deadlines, sid)):
            return None  # another worker has it
        data = self.store.get(self.RECORD, sid)
        if data is None:
            return None  # ended otherwise
        session = SsoSession.load(data)
        if self.deadline(session) > now:  # used in between: not over
            self.store.raw(lambda r: r.zadd(self.deadlines, {sid: self.deadline(session)}))
            return None
        return self._take(sid)

    # --- the keys ---

    def _cut_off(self, session: SsoSession) -> bool:
        cutoff = self.store.get(self.CUTOFF, session.account_id)
        return bool(cutoff) and session.created_at <= cutoff["at"]

    def _write(self, cookie: str, session: SsoSession, now: float, new: bool = False) -> bool:
        """The session under its cookie until its deadline, and (indexed) its record and index entries. An update
        changes only a session that still exists: one ended meanwhile stays ended. Whether it was written."""
        deadline = self.deadline(session)
        ttl, data = max(1, math.ceil(deadline - now)), asdict(session)
        if not self.indexed:
            self.store.put(self.KIND, cookie, data, ttl)
            return True
        key = self.store.key(self.KIND, cookie)
        record, recorded = self.store.key(self.RECORD, session.sid), json.dumps(data | {"cookie_key": key})
        written = self.store.raw(lambda r: r.pipeline().set(record, recorded, ex=ttl + GRACE, xx=not new)
                                 .set(key, json.dumps(data), ex=ttl, xx=not new).execute())
        if not written[1]:
            return False  # its cookie's key is gone: it ended
        if not written[0]:  # alive under its cookie without a record (made before the index, or by hand): now it has
            self.store.raw(lambda r: r.set(record, recorded, ex=ttl + GRACE, nx=True))
        account, span = self.store.key(self.ACCOUNT, session.account_id), self.longest + GRACE
        self.store.raw(lambda r: r.pipeline().zadd(self.deadlines, {session.sid: deadline}).expire(self.deadlines, span)
                       .zadd(account, {session.sid: deadline}).expire(account, span).execute())
        return True

    def _take(self, sid: str) -> SsoSession | None:
        """The session's record, taken by exactly one caller (GETDEL); its cookie's key and index entries go."""
        data = self.store.consume(self.RECORD, sid)
        if data is None:
            return None
        session, key = SsoSession.load(data), data.get("cookie_key")
        if key:
            self.store.raw(lambda r: r.delete(key))
        self._unindex(session.account_id, sid)
        return session

    def _unindex(self, account_id: str, sid: str) -> None:
        account = self.store.key(self.ACCOUNT, account_id)
        self.store.raw(lambda r: r.pipeline().zrem(self.deadlines, sid).zrem(account, sid).execute())


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


class SessionPolicy:
    """How long a new session may last, by the person's roles (a pupil's is shorter) and by device: shared when
    ticked at login, or by the device policy of the school whose network the login comes from or of one of the
    person's own schools. `limits[(pupil, shared)]` is (idle, lifetime)."""

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
        from sqlalchemy import select

        from idp.accounts import Account
        from idp.directory import Membership, School
        from idp.school_scope import current_on

        with self.db.read() as session:
            account = session.get(Account, account_id)
            rows = session.execute(select(Membership.role, School.device_policy)
                                   .join(School, Membership.school_id == School.id)
                                   .where(Membership.account_id == account_id, current_on(date.today()))).all()
        roles = {account.role if account else None, *(role for role, _ in rows)}
        place = self.place(source)
        shared = ticked or any(policy == "shared" for _, policy in rows) \
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
