"""QR badges for young pupils: a printed card whose QR code carries a long random secret, with a short code under
it for typing. Either logs its pupil in, within the school's limits, with amr ["badge"] and acr
urn:leerid:acr:badge, the weakest level (badge < pwd < mfa): such a session opens only the school-agreement
platforms of the pupil's own school, never a consent platform, Mijn leerID or the console.

Stored, never the values themselves: sha256 of the secret (32 random bytes, nothing to guess), and HMACs of the
short code (10 characters, about 46 bits), the PIN (4 digits) and the picture (one of 9), under a key derived from
LEERID_SECRET_KEY, which the database never holds, so a database leak alone cannot be turned into codes. argon2
would add nothing to 10,000 or 9 possibilities once the key leaks too, and would make every wrong guess cost the
server; online guesses are throttled per source and per pupil instead.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Date, ForeignKey, Integer, String, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from clients.activations import SchoolActivation
from clients.models import Client
from idp import audit
from idp.accounts import Account
from idp.crypto import random_token, sha256_hex
from idp.db import Base, UtcDateTime, utcnow
from idp.directory import Membership, School, SchoolClass, age_on, school_year
from idp.errors import InvalidCredentials, LeerIDError, NotFound
from idp.guard import Guard
from idp.login import AuthResult
from idp.school_scope import SchoolScope, current_on

ACR_BADGE = "urn:leerid:acr:badge"
AMR_BADGE = "badge"
KINDS = ("permanent", "day")  # a day badge: a teacher's replacement for a lost one, valid until that day ends
SECOND_STEPS = ("none", "pin", "picture")
PICTURES = ("hond", "kat", "vis", "boom", "zon", "auto", "appel", "ster", "huis")
ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"  # no 0/O, 1/I/L, 2/Z, 5/S, 8/B: nothing to mix up when typing
CODE_LENGTH = 10
SECRET = re.compile(r"^[A-Za-z0-9_-]{43}$")  # random_token(32)
MAX_NETWORKS = 32
BROADEST = {4: 16, 6: 32}  # the shortest prefix of a school's network range: no school's network is larger
MAPPED = ipaddress.ip_network("::ffff:0:0/96")  # IPv4 written as IPv6: its ranges are held to IPv4's limit
BRUSSELS = ZoneInfo("Europe/Brussels")


class Badge(Base):
    __tablename__ = "badges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # permanent | day
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the QR code's secret
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)  # HMAC of the short code
    pin_hash: Mapped[str | None] = mapped_column(String(64))  # HMAC, when the school asked for a PIN
    picture_hash: Mapped[str | None] = mapped_column(String(64))  # HMAC, when it asked for a picture
    issued_by: Mapped[str | None] = mapped_column(String(36))  # an administrator's or teacher's account id
    issued_at = mapped_column(UtcDateTime, default=utcnow, nullable=False)
    valid_until: Mapped[date | None] = mapped_column(Date)  # day badges: the last day (Europe/Brussels)
    revoked_at = mapped_column(UtcDateTime, nullable=True)
    last_used_at = mapped_column(UtcDateTime, nullable=True)

    def step_hash(self, step: str) -> str | None:
        return {"pin": self.pin_hash, "picture": self.picture_hash}.get(step)


class BadgeRefused(LeerIDError):
    """A badge (or a badge action in the console) that does not apply; `reason` names why, the pages explain."""

    def __init__(self, reason: str):
        super().__init__(f"badge refused: {reason}")
        self.reason = reason


class WrongAnswer(InvalidCredentials):
    """The PIN or picture does not belong to the badge."""


@dataclass(frozen=True)
class Scanned:
    """A badge that checked out: logged in at once (`result`), or waiting for the pupil's PIN or picture."""

    badge_id: int
    account_id: str
    step: str | None
    result: AuthResult | None


class Keyed:
    """HMAC-SHA256 under keys derived from LEERID_SECRET_KEY: the first key makes new hashes, every key matches
    (a rotated key keeps the badges printed before)."""

    def __init__(self, secret_keys: tuple[str, ...]):
        self._keys = [HKDF(algorithm=hashes.SHA256(), length=32, salt=b"leerid", info=b"badge codes")
                      .derive(k.encode()) for k in secret_keys]

    def candidates(self, value: str) -> list[str]:
        return [hmac.new(key, value.encode(), hashlib.sha256).hexdigest() for key in self._keys]

    def digest(self, value: str) -> str:
        return self.candidates(value)[0]

    def matches(self, stored: str | None, value: str) -> bool:
        return stored is not None and any(hmac.compare_digest(stored, c) for c in self.candidates(value))


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def grouped(code: str) -> str:
    return f"{code[:5]} {code[5:]}"


def new_secret() -> str:
    return random_token(32)


def normalise_code(typed: str) -> str | None:
    """The short code as typed (any case, spaces and dashes allowed), or None when it cannot be one."""
    code = "".join(typed.replace("-", " ").split()).upper()[:32]
    return code if len(code) == CODE_LENGTH and all(c in ALPHABET for c in code) else None


def step_value(account_id: str, step: str, answer: str) -> str:
    """What the PIN's or picture's HMAC is made of: bound to the pupil, so a new badge can keep it."""
    return f"{account_id}:{step}:{answer}"


def normalise_answer(step: str, typed: str) -> str | None:
    answer = "".join(typed.split())[:16]
    if step == "pin":
        return answer if len(answer) == 4 and answer.isascii() and answer.isdigit() else None
    return answer if answer in PICTURES else None


def parse_networks(text: str) -> list[str]:
    """CIDR ranges (or single addresses) separated by spaces, commas or new lines; BadgeRefused for a wrong one, and
    for one broader than /16 (IPv4) or /32 (IPv6): such a range (0.0.0.0/0 at worst) holds other schools' networks,
    where this school's badges and device policy would then hold too."""
    found = []
    for part in text.replace(",", " ").split()[:MAX_NETWORKS + 1]:
        try:
            network = ipaddress.ip_network(part, strict=False)
        except ValueError:
            raise BadgeRefused("bad_network") from None
        mapped = network.version == 6 and network.subnet_of(MAPPED)
        if network.prefixlen < (MAPPED.prefixlen + BROADEST[4] if mapped else BROADEST[network.version]):
            raise BadgeRefused("network_too_broad")
        found.append(str(network))
    if len(found) > MAX_NETWORKS:
        raise BadgeRefused("too_many_networks")
    return list(dict.fromkeys(found))


def in_networks(source: str, networks: list[str] | None) -> bool:
    """Whether the source address lies in one of the ranges; no ranges: anywhere."""
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(source)
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(n) for n in networks)


def badge_source(source: str) -> str:
    """What the guard counts a badge attempt's source by: an IPv4 address as it is, an IPv6 address by its /48 (a
    site's whole allocation: the guard's own /64 would let one site guess short codes from 65,536 networks). The
    guard counts a network written like "2001:db8:1::/48" as it is, so badges from IPv6 have a budget per /48 of
    their own, apart from the guard's count per /64."""
    try:
        address = ipaddress.ip_address(source.strip())
    except ValueError:
        return source
    if address.version == 6 and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/48", strict=False))
    return str(address)


def young_enough(birthdate: date | None, today: date, max_age: int) -> bool:
    """Younger than `max_age` today. A pupil whose birthdate leerID does not know may use a badge: young pupils
    are the point, every roster gives birthdates, and the school that prints the badge knows the child."""
    return max_age > 0 and (birthdate is None or age_on(birthdate, today) < max_age)


def meets_acr_values(acr_values: str | None) -> bool:
    """acr_values (OIDC Core §3.1.2.1) that a badge session satisfies: none asked, or the badge level among them.
    Asking pwd or mfa alone is not met: that person logs in for real."""
    values = (acr_values or "").split()
    return not values or ACR_BADGE in values


class BadgeLogin:
    """Logging in with a badge: the limits, the second step, and every attempt judged by the Guard (idp/guard.py):
    kind "badge" for the badge itself (per badge's pupil; an unknown code per value typed, so that guessing codes
    counts against the source and never locks a pupil out), "badge-step" for the PIN or picture (per pupil); the
    source of both is an IPv4 address or an IPv6 /48 (badge_source)."""

    def __init__(self, db, guard, audit, secret_keys: tuple[str, ...], *, max_age: int,
                 clock: Callable[[], datetime] | None = None):
        self.db = db
        self.guard = guard
        self.audit = audit
        self.keyed = Keyed(secret_keys)
        self.max_age = max_age
        self.clock = clock or (lambda: datetime.now(UTC))

    def today(self) -> date:
        return self.clock().astimezone(BRUSSELS).date()

    def scan(self, source: str, *, secret: str = "", code: str = "", client: Client | None = None,
             device: str | None = None) -> Scanned:
        """The badge of a scanned secret or a typed short code, checked against every limit (with `client`: the
        platform the pupil logs in to must be one a badge opens). Throttled or Locked before anything is told. A
        typed code from outside the school's networks is refused as "unknown": from there, a guessed code that
        exists looks like one that does not (the scanned secret, nothing to guess, is told "network")."""
        badge_id, account_id = self._find(secret, code)
        typed = secret or normalise_code(code) or code.strip()
        kind = "badge-scan" if secret else "badge"  # a scanned secret cannot be guessed: a busy address still scans
        attempt = self.guard.before(kind, account_id or Guard.unknown(kind + ":" + typed[:64]), badge_source(source),
                                    device)
        if badge_id is None:
            self.guard.failed(attempt)
            raise BadgeRefused("unknown")
        self.guard.succeeded(attempt)  # a real badge, though a limit may still refuse it: no guess
        try:
            badge, step = self._verdict(badge_id, source, client)
        except BadgeRefused as exc:
            if exc.reason == "network" and not secret:
                raise BadgeRefused("unknown") from None
            raise
        if step is not None:
            return Scanned(badge.id, badge.account_id, step, None)
        return Scanned(badge.id, badge.account_id, None, self._logged_in(badge.id))

    def answer(self, badge_id: int, typed: str, source: str, device: str | None = None) -> AuthResult:
        """The pupil's PIN or picture after the badge; wrong ones count per pupil, and lock like passwords."""
        with self.db.read() as session:
            found = session.get(Badge, badge_id)
            account_id = found.account_id if found else None
        if account_id is None:
            raise BadgeRefused("unknown")
        attempt = self.guard.before("badge-step", account_id, badge_source(source), device)
        try:
            badge, step = self._verdict(badge_id, source)
        except BadgeRefused:
            self.guard.succeeded(attempt)  # nothing was checked
            raise
        answer = normalise_answer(step or "", typed)
        if step is None or answer is None \
                or not self.keyed.matches(badge.step_hash(step), step_value(account_id, step, answer)):
            self._failed(badge, f"wrong_{step}")
            self.guard.failed(attempt)
            raise WrongAnswer("wrong PIN or picture")
        self.guard.succeeded(attempt)
        return self._logged_in(badge_id)

    def opens(self, account_id: str, client: Client) -> bool:
        """Whether a badge session of this pupil may be used at the platform: a school-agreement platform that a
        school where they are a pupil today took on (never a consent platform, never a school's own client)."""
        with self.db.read() as session:
            return self._opens(session, account_id, client)

    def _opens(self, session: Session, account_id: str, client: Client) -> bool:
        if client.basis != "school-agreement" or client.school_id is not None:
            return False
        query = select(SchoolActivation.id).join(Membership, Membership.school_id == SchoolActivation.school_id) \
            .where(Membership.account_id == account_id, Membership.role == "pupil", current_on(self.today()),
                   SchoolActivation.client_id == client.client_id, SchoolActivation.ended_at.is_(None)).limit(1)
        return session.scalar(query) is not None

    def platforms(self, account_id: str) -> list[str]:
        """The names of the school-agreement platforms the pupil's schools took on, for the page after a badge
        login outside a platform."""
        query = select(Client.name).join(SchoolActivation, SchoolActivation.client_id == Client.client_id) \
            .join(Membership, Membership.school_id == SchoolActivation.school_id) \
            .where(Membership.account_id == account_id, current_on(self.today()), SchoolActivation.ended_at.is_(None),
                   Client.basis == "school-agreement", Client.school_id.is_(None)).distinct().order_by(Client.name)
        with self.db.read() as session:
            return list(session.scalars(query))

    def _find(self, secret: str, code: str) -> tuple[int | None, str | None]:
        """(badge id, its pupil) of the secret or short code, or (None, None)."""
        if secret and SECRET.match(secret):
            condition = Badge.secret_hash == sha256_hex(secret)
        elif code and (typed := normalise_code(code)):
            condition = Badge.code_hash.in_(self.keyed.candidates(typed))
        else:
            return None, None
        with self.db.read() as session:
            found = session.execute(select(Badge.id, Badge.account_id).where(condition)).one_or_none()
        return (found.id, found.account_id) if found else (None, None)

    def _verdict(self, badge_id: int, source: str, client: Client | None = None) -> tuple[Badge, str | None]:
        """The badge and the second step it needs, or BadgeRefused (audited) for the first limit it fails."""
        with self.db.read() as session:
            badge = session.get(Badge, badge_id)
            school = session.get(School, badge.school_id)
            reason = self._limit(session, badge, school, source)
            if reason is None and client is not None and not self._opens(session, badge.account_id, client):
                reason = "platform"
            step = school.badge_second_step if school.badge_second_step in ("pin", "picture") else None
        if reason is None and step is not None and badge.step_hash(step) is None:
            reason = "renew"  # the school asked for a PIN or picture after this badge was printed
        if reason is not None:
            self._failed(badge, reason)
            raise BadgeRefused(reason)
        return badge, step

    def _limit(self, session: Session, badge: Badge, school: School, source: str) -> str | None:
        today = self.today()
        account = session.get(Account, badge.account_id)
        pupil_here = session.scalar(select(Membership.id).where(
            Membership.account_id == badge.account_id, Membership.school_id == badge.school_id,
            Membership.role == "pupil", current_on(today)).limit(1))
        checks = (  # the network first: from outside it, a badge's state is told to no one
            ("network", not in_networks(source, school.badge_networks)),
            ("revoked", badge.revoked_at is not None),
            ("expired", badge.valid_until is not None and today > badge.valid_until),
            ("disabled", account.disabled_at is not None),
            ("not_pupil", pupil_here is None),
            ("too_old", not young_enough(account.birthdate, today, self.max_age)),
        )
        return next((reason for reason, failed in checks if failed), None)

    def _failed(self, badge: Badge, reason: str) -> None:
        self.audit.record("login_failed", actor_id=badge.account_id, subject_id=badge.account_id,
                          school_id=badge.school_id, detail={"method": AMR_BADGE, "reason": reason, "badge": badge.id})

    def _logged_in(self, badge_id: int) -> AuthResult:
        with self.db.transaction() as session:
            badge = session.get(Badge, badge_id)
            badge.last_used_at = utcnow()
            audit.record(session, "login", actor_id=badge.account_id, subject_id=badge.account_id,
                         school_id=badge.school_id, detail={"amr": [AMR_BADGE], "badge": badge.id, "kind": badge.kind})
            return AuthResult(badge.account_id, ACR_BADGE, [AMR_BADGE], int(time.time()))


# --- the console: printing, replacing and revoking badges; the school's badge settings ---------------------------


@dataclass(frozen=True)
class Printed:
    """A badge to print, shown once: its secret and short code are never stored."""

    name: str
    class_name: str | None
    kind: str
    url: str  # what the QR code holds: {issuer}/badge#<secret>, the secret only in the fragment
    code: str  # the short code, in two groups of five
    valid_until: date | None
    step: str | None  # pin | picture: what the pupil adds to the badge
    answer: str | None  # a new PIN or picture, shown once; None when the pupil keeps the one they know


@dataclass(frozen=True)
class BadgeState:
    kind: str
    issued_at: datetime
    valid_until: date | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class PupilBadges:
    id: str
    given_name: str
    family_name: str
    refused: str | None  # why this pupil may have no badge (too_old, disabled), else None
    permanent: BadgeState | None
    day: BadgeState | None


@dataclass(frozen=True)
class ClassBadges:
    number: str
    school_name: str
    class_id: int
    class_name: str
    pupils: tuple[PupilBadges, ...]
    admin: bool  # an administrator (else a teacher of this class): prints for the class, replaces badges
    second_step: str


@dataclass(frozen=True)
class TaughtClass:
    number: str
    school_name: str
    class_id: int
    class_name: str


class BadgeDesk:
    """What a school's administrators (for the whole school) and teachers (for the classes they teach today) do
    with badges. Each method checks the actor in the same transaction as its work; anything not theirs is
    NotFound, like what does not exist. Every change is audited with the school."""

    def __init__(self, db, secret_keys: tuple[str, ...], issuer: str, *, max_age: int,
                 clock: Callable[[], datetime] | None = None, on_revoke: Callable[[str], object] | None = None):
        self.db = db
        self.keyed = Keyed(secret_keys)
        self.issuer = issuer
        self.max_age = max_age
        self.clock = clock or (lambda: datetime.now(UTC))
        self.on_revoke = on_revoke  # (account_id): the pupil's sessions end

    def today(self) -> date:
        return self.clock().astimezone(BRUSSELS).date()

    def classes_taught(self, actor_id: str) -> list[TaughtClass]:
        """This school year's classes the person teaches today, at every school."""
        query = select(Membership).where(Membership.account_id == actor_id, Membership.role == "teacher",
                                         Membership.class_id.is_not(None), current_on(self.today()))
        with self.db.read() as session:
            actor = session.get(Account, actor_id)
            if actor is None or actor.disabled_at is not None:
                return []
            found = {m.class_id: TaughtClass(m.school.number, m.school.name, m.class_id, m.school_class.name)
                     for m in session.scalars(query) if m.school_class.school_year == school_year(self.today())}
        return sorted(found.values(), key=lambda c: (c.school_name, c.class_name))

    def class_badges(self, actor_id: str, number: str, class_id: int) -> ClassBadges:
        with self.db.read() as session:
            scope, klass, admin = self._class(session, actor_id, number, class_id)
            rows = [self._pupil_row(scope, p) for p in _pupils(scope, klass)]
            step = scope.school.badge_second_step
            return ClassBadges(scope.school.number, scope.school.name, klass.id, klass.name, tuple(rows), admin, step)

    def print_class(self, actor_id: str, number: str, class_id: int, *, everyone: bool = False) -> list[Printed]:
        """A badge for each pupil of the class who may have one and has none (with `everyone`: for all of them,
        each replacing the pupil's badge)."""
        with self.db.transaction() as session:
            scope, klass, _ = self._class(session, actor_id, number, class_id, admin_only=True)
            printed = []
            for pupil in _pupils(scope, klass):
                if self._refusal(scope, pupil) is None \
                        and (everyone or not _active(session, pupil.id, scope.school.id, scope.today, "permanent")):
                    printed.append(self._issue(scope, pupil, "permanent", actor_id, klass.name))
            return printed

    def reissue(self, actor_id: str, number: str, class_id: int, account_id: str) -> Printed:
        """A new badge for the pupil; their earlier one stops working."""
        return self._issue_one(actor_id, number, class_id, account_id, "permanent")

    def day_badge(self, actor_id: str, number: str, class_id: int, account_id: str) -> Printed:
        """A replacement for a lost badge, valid until the end of today; the pupil's badge keeps working."""
        return self._issue_one(actor_id, number, class_id, account_id, "day")

    def revoke(self, actor_id: str, number: str, class_id: int, account_id: str) -> str:
        """Every badge of the pupil at this school stops working at once, and so do their sessions."""
        with self.db.transaction() as session:
            scope, klass, _ = self._class(session, actor_id, number, class_id)
            pupil = _pupil(scope, klass, account_id)
            active = _active(session, pupil.id, scope.school.id, scope.today)
            if not active:
                raise BadgeRefused("no_badge")
            for badge in active:
                badge.revoked_at = utcnow()
            _record(scope, "badge_revoked", actor_id, pupil, {"badges": [b.id for b in active], "class": klass.name})
            name = pupil.name
        if self.on_revoke is not None:
            self.on_revoke(account_id)
        return name

    def settings(self, actor_id: str, number: str) -> tuple[list[str], str]:
        """The school's network ranges and second step."""
        with self.db.read() as session:
            school = _administered(session, actor_id, number, self.today()).school
            return list(school.badge_networks or []), school.badge_second_step

    def save_settings(self, actor_id: str, number: str, networks: str, second_step: str) -> tuple[list[str], str]:
        """Checked before anything is written: a wrong range or step is BadgeRefused."""
        if second_step not in SECOND_STEPS:
            raise BadgeRefused("bad_step")
        ranges = parse_networks(networks[:4000])
        with self.db.transaction() as session:
            scope = _administered(session, actor_id, number, self.today())
            scope.school.badge_networks, scope.school.badge_second_step = ranges or None, second_step
            audit.record(session, "badge_settings_changed", actor_id=actor_id, school_id=scope.school.id,
                         detail={"school": scope.school.number, "networks": ranges, "second_step": second_step})
        return ranges, second_step

    def _issue_one(self, actor_id: str, number: str, class_id: int, account_id: str, kind: str) -> Printed:
        with self.db.transaction() as session:
            scope, klass, _ = self._class(session, actor_id, number, class_id, admin_only=kind == "permanent")
            pupil = _pupil(scope, klass, account_id)
            refused = self._refusal(scope, pupil)
            if refused is not None:
                raise BadgeRefused(refused)
            return self._issue(scope, pupil, kind, actor_id, klass.name)

    def _issue(self, scope: SchoolScope, pupil: Account, kind: str, actor_id: str, class_name: str) -> Printed:
        """Inside the caller's transaction. A new permanent badge revokes the earlier one; the pupil keeps the PIN
        or picture they know (a revoked badge's is forgotten: a new one is drawn and shown once)."""
        session, school = scope.session, scope.school
        step = school.badge_second_step if school.badge_second_step in ("pin", "picture") else None
        earlier = _active(session, pupil.id, school.id, scope.today, "permanent")
        kept = next((b.step_hash(step) for b in earlier if step and b.step_hash(step)), None)
        if kind == "permanent":
            for badge in earlier:
                badge.revoked_at = utcnow()
        answer = None
        if step is not None and kept is None:
            answer = f"{secrets.randbelow(10_000):04d}" if step == "pin" else secrets.choice(PICTURES)
            kept = self.keyed.digest(step_value(pupil.id, step, answer))
        secret, code = new_secret(), new_code()
        badge = Badge(account_id=pupil.id, school_id=school.id, kind=kind, secret_hash=sha256_hex(secret),
                      code_hash=self.keyed.digest(code), issued_by=actor_id, issued_at=utcnow(),
                      valid_until=scope.today if kind == "day" else None,
                      pin_hash=kept if step == "pin" else None, picture_hash=kept if step == "picture" else None)
        session.add(badge)
        session.flush()
        _record(scope, "badge_issued", actor_id, pupil, {"kind": kind, "badge": badge.id, "class": class_name,
                                                        "replaces": [b.id for b in earlier] if kind == "permanent"
                                                        else []})
        return Printed(pupil.name, class_name, kind, f"{self.issuer}/badge#{secret}", grouped(code),
                       badge.valid_until, step, answer)

    def _class(self, session: Session, actor_id: str, number: str, class_id: int,
               admin_only: bool = False) -> tuple[SchoolScope, SchoolClass, bool]:
        """The class as the actor reaches it: (scope, class, whether as an administrator)."""
        today = self.today()
        try:
            scope = _administered(session, actor_id, number, today)
        except NotFound:
            if admin_only:
                raise
            scope = _teaching(session, actor_id, number, class_id, today)
            return scope, scope.school_class(class_id), False
        return scope, scope.school_class(class_id), True

    def _refusal(self, scope: SchoolScope, pupil: Account) -> str | None:
        if pupil.disabled_at is not None:
            return "disabled"
        return None if young_enough(pupil.birthdate, scope.today, self.max_age) else "too_old"

    def _pupil_row(self, scope: SchoolScope, pupil: Account) -> PupilBadges:
        active = _active(scope.session, pupil.id, scope.school.id, scope.today)
        state = {b.kind: BadgeState(b.kind, b.issued_at, b.valid_until, b.last_used_at) for b in active}
        return PupilBadges(pupil.id, pupil.given_name, pupil.family_name, self._refusal(scope, pupil),
                           state.get("permanent"), state.get("day"))


def _administered(session: Session, actor_id: str, number: str, today: date) -> SchoolScope:
    from idp.school_admin import administered

    return administered(session, actor_id, number, today)


def _teaching(session: Session, actor_id: str, number: str, class_id: int, today: date) -> SchoolScope:
    """The school, for an active teacher of that class today; NotFound for anyone else."""
    actor = session.get(Account, actor_id) if isinstance(actor_id, str) else None
    school = session.scalar(select(School).where(School.number == number)) if isinstance(number, str) else None
    if actor is None or actor.disabled_at is not None or school is None or not isinstance(class_id, int):
        raise NotFound("no such class")
    teaches = session.scalar(select(Membership.id).where(
        Membership.account_id == actor_id, Membership.school_id == school.id, Membership.role == "teacher",
        Membership.class_id == class_id, current_on(today)).limit(1))
    if teaches is None:
        raise NotFound("no such class")
    return SchoolScope(session, school, today)


def _pupils(scope: SchoolScope, klass: SchoolClass) -> list[Account]:
    """Today's pupils of the class, by name."""
    return [p for p in scope.class_members(klass)
            if any(m.class_id == klass.id and m.role == "pupil" for m in scope.current_memberships(p))]


def _pupil(scope: SchoolScope, klass: SchoolClass, account_id: str) -> Account:
    person = scope.person(account_id, current=True)
    if not any(m.class_id == klass.id and m.role == "pupil" for m in scope.current_memberships(person)):
        raise NotFound("no such pupil in this class")
    return person


def _active(session: Session, account_id: str, school_id: int, today: date, kind: str | None = None) -> list[Badge]:
    """The pupil's badges at the school that still work (not revoked, a day badge only on its day)."""
    query = select(Badge).where(Badge.account_id == account_id, Badge.school_id == school_id,
                                Badge.revoked_at.is_(None), or_(Badge.valid_until.is_(None), Badge.valid_until >= today))
    if kind is not None:
        query = query.where(Badge.kind == kind)
    return list(session.scalars(query.order_by(Badge.id)))


def _record(scope: SchoolScope, event: str, actor_id: str, pupil: Account, detail: dict) -> None:
    audit.record(scope.session, event, actor_id=actor_id, subject_id=pupil.id, school_id=scope.school.id,
                 detail={"school": scope.school.number, **detail})
