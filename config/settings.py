"""Settings.from_env(): the only reader of os.environ in leerID."""
from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit


class ConfigError(Exception):
    """A setting is missing or unsafe; the message is one line for the operator."""


def _read(env: dict, name: str) -> str | None:
    """LEERID_<NAME>, or the contents of the file named by LEERID_<NAME>_FILE (Docker secrets)."""
    value = env.get(name)
    if value:
        return value
    path = env.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip() or None
        except OSError as exc:
            raise ConfigError(f"{name}_FILE={path} cannot be read: {exc.strerror}") from exc
    return None


def _int(env: dict, name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None


def _roles(raw: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated list of roles; unset is the default, empty is none."""
    if raw is None:
        return default
    roles = tuple(dict.fromkeys(r.strip().lower() for r in raw.split(",") if r.strip()))
    unknown = [r for r in roles if r not in ("pupil", "teacher", "staff", "parent")]
    if unknown:
        raise ConfigError(f"LEERID_MFA_ROLES lists pupil, teacher, staff or parent, got {unknown[0]!r}")
    return roles


def _sentinels(raw: str | None) -> tuple[tuple[str, int], ...]:
    """LEERID_REDIS_SENTINELS: host:port,host:port."""
    found = []
    for item in (raw or "").split(","):
        host, _, port = item.strip().rpartition(":")
        if not item.strip():
            continue
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"LEERID_REDIS_SENTINELS lists host:port pairs, got {item.strip()!r}")
        found.append((host.strip("[]"), int(port)))
    return tuple(found)


SESSION_TIMEOUTS = ("pupil_session_ttl", "pupil_session_max_age", "shared_session_ttl", "shared_session_max_age",
                    "pupil_shared_session_ttl", "pupil_shared_session_max_age")  # LEERID_<NAME>, idle then lifetime


@dataclass(frozen=True)
class Settings:
    issuer: str = "http://127.0.0.1:5000"
    database_url: str = "sqlite:///var/leerid.db"
    redis_url: str | None = None  # None: an embedded Redis under var_dir
    secret_keys: tuple[str, ...] = ()  # the first signs and encrypts, the rest only verify and decrypt
    env: str = "development"
    var_dir: Path = Path("var")
    access_token_ttl: int = 300
    id_token_ttl: int = 600
    refresh_token_ttl: int = 30 * 24 * 3600
    session_ttl: int = 8 * 3600  # idle: every use slides it forward
    session_max_age: int = 12 * 3600  # absolute: a session never outlives this
    # the same per role and device (idp/sessions.py): above for teachers, staff and parents on their own device
    pupil_session_ttl: int = 4 * 3600  # a pupil on their own device
    pupil_session_max_age: int = 12 * 3600
    shared_session_ttl: int = 3600  # a teacher, staff member or parent on a shared device
    shared_session_max_age: int = 8 * 3600
    pupil_shared_session_ttl: int = 30 * 60  # a pupil on a shared device
    pupil_shared_session_max_age: int = 4 * 3600
    leaver_grace_days: int = 90  # a leerID stays usable this long after its last membership ended
    consent_age: int = 13  # the digital consent age: younger pupils need a parent to consent for them
    badge_max_age: int = 12  # QR badges log in only pupils younger than this (on the day of the login)
    badge_session_ttl: int = 30 * 60  # a badge session's idle time-out
    badge_session_max_age: int = 4 * 3600  # a badge session never outlives this
    key_cache_seconds: int = 30  # how stale a process's view of the signing keys may be
    client_cache_seconds: int = 30  # how stale a process's view of a platform (its policy) may be
    trusted_proxies: int = 0  # how many reverse proxies set X-Forwarded-For/-Proto in front of leerID
    code_ttl: int = 60
    interaction_ttl: int = 600
    argon2_memory_kib: int = 19456  # OWASP Password Storage Cheat Sheet: argon2id m=19 MiB, t=2, p=1
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1
    password_min_pupil: int = 8  # a new password's length for pupils and parents (SP 800-63B)
    password_min_staff: int = 12  # for teachers and staff (and school administrators)
    login_max_failures: int = 5  # failures before an account locks for attempts without its device cookie
    login_max_failures_per_source: int = 300  # failures per source address in the window (a school's NAT: generous)
    login_window: int = 15 * 60  # the sliding window failures are counted in
    login_lock_seconds: int = 15 * 60  # how long an account (for untrusted attempts) or a device stays locked
    login_free_failures: int = 3  # failures before each next attempt must wait
    login_delay: int = 1  # seconds: the first wait, doubled for every further failure
    login_max_delay: int = 60  # seconds: the longest wait
    backchannel_retry_seconds: int = 5  # back-channel logout retries wait 1, 6, 24, 120 and 720 times this
    mfa_roles: tuple[str, ...] = ("teacher", "staff")  # a current membership in one of these needs a second factor
    log_level: str = "INFO"
    log_format: str = "text"  # "json": one JSON object per line, for a log collector (production)
    database_pool_size: int = 10  # connections each process keeps open to PostgreSQL
    database_max_overflow: int = 10  # more, for a moment, under a burst
    redis_sentinels: tuple[tuple[str, int], ...] = ()  # Redis Sentinel (host, port)s: they name the primary
    redis_sentinel_service: str = "leerid"  # the primary's name at the sentinels

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def secure_cookies(self) -> bool:
        return self.issuer.startswith("https://")

    @classmethod
    def from_env(cls, environ: dict | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        defaults = cls()
        var_dir = Path(env.get("LEERID_VAR_DIR") or defaults.var_dir)
        keys = _read(env, "LEERID_SECRET_KEY")
        settings = cls(
            issuer=(env.get("LEERID_ISSUER") or defaults.issuer).rstrip("/"),
            database_url=_read(env, "LEERID_DATABASE_URL") or f"sqlite:///{var_dir}/leerid.db",
            redis_url=_read(env, "LEERID_REDIS_URL"),
            secret_keys=tuple(k.strip() for k in keys.split(",") if k.strip()) if keys else (),
            env=env.get("LEERID_ENV") or defaults.env,
            var_dir=var_dir,
            access_token_ttl=_int(env, "LEERID_ACCESS_TOKEN_TTL", defaults.access_token_ttl),
            id_token_ttl=_int(env, "LEERID_ID_TOKEN_TTL", defaults.id_token_ttl),
            refresh_token_ttl=_int(env, "LEERID_REFRESH_TOKEN_TTL", defaults.refresh_token_ttl),
            session_ttl=_int(env, "LEERID_SESSION_TTL", defaults.session_ttl),
            session_max_age=_int(env, "LEERID_SESSION_MAX_AGE", defaults.session_max_age),
            **{name: _int(env, f"LEERID_{name.upper()}", getattr(defaults, name)) for name in SESSION_TIMEOUTS},
            trusted_proxies=_int(env, "LEERID_TRUSTED_PROXIES", defaults.trusted_proxies),
            key_cache_seconds=_int(env, "LEERID_KEY_CACHE_SECONDS", defaults.key_cache_seconds),
            client_cache_seconds=_int(env, "LEERID_CLIENT_CACHE_SECONDS", defaults.client_cache_seconds),
            leaver_grace_days=_int(env, "LEERID_LEAVER_GRACE_DAYS", defaults.leaver_grace_days),
            consent_age=_int(env, "LEERID_CONSENT_AGE", defaults.consent_age),
            badge_max_age=_int(env, "LEERID_BADGE_MAX_AGE", defaults.badge_max_age),
            badge_session_ttl=_int(env, "LEERID_BADGE_SESSION_TTL", defaults.badge_session_ttl),
            badge_session_max_age=_int(env, "LEERID_BADGE_SESSION_MAX_AGE", defaults.badge_session_max_age),
            argon2_memory_kib=_int(env, "LEERID_ARGON2_MEMORY_KIB", defaults.argon2_memory_kib),
            argon2_time_cost=_int(env, "LEERID_ARGON2_TIME_COST", defaults.argon2_time_cost),
            password_min_pupil=_int(env, "LEERID_PASSWORD_MIN_PUPIL", defaults.password_min_pupil),
            password_min_staff=_int(env, "LEERID_PASSWORD_MIN_STAFF", defaults.password_min_staff),
            login_max_failures=_int(env, "LEERID_LOGIN_MAX_FAILURES", defaults.login_max_failures),
            login_max_failures_per_source=_int(env, "LEERID_LOGIN_MAX_FAILURES_PER_SOURCE",
                                               defaults.login_max_failures_per_source),
            login_window=_int(env, "LEERID_LOGIN_WINDOW", defaults.login_window),
            login_lock_seconds=_int(env, "LEERID_LOGIN_LOCK_SECONDS", defaults.login_lock_seconds),
            login_free_failures=_int(env, "LEERID_LOGIN_FREE_FAILURES", defaults.login_free_failures),
            login_delay=_int(env, "LEERID_LOGIN_DELAY", defaults.login_delay),
            login_max_delay=_int(env, "LEERID_LOGIN_MAX_DELAY", defaults.login_max_delay),
            backchannel_retry_seconds=_int(env, "LEERID_BACKCHANNEL_RETRY_SECONDS",
                                           defaults.backchannel_retry_seconds),
            mfa_roles=_roles(env.get("LEERID_MFA_ROLES"), defaults.mfa_roles),
            log_level=env.get("LEERID_LOG_LEVEL") or defaults.log_level,
            log_format=(env.get("LEERID_LOG_FORMAT") or defaults.log_format).lower(),
            database_pool_size=_int(env, "LEERID_DATABASE_POOL_SIZE", defaults.database_pool_size),
            database_max_overflow=_int(env, "LEERID_DATABASE_MAX_OVERFLOW", defaults.database_max_overflow),
            redis_sentinels=_sentinels(env.get("LEERID_REDIS_SENTINELS")),
            redis_sentinel_service=env.get("LEERID_REDIS_SENTINEL_SERVICE") or defaults.redis_sentinel_service,
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse what is unsafe; in production also the development defaults."""
        if self.env not in ("development", "production", "test"):
            raise ConfigError(f"LEERID_ENV must be development, test or production, got {self.env!r}")
        parts = urlsplit(self.issuer)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ConfigError(f"LEERID_ISSUER must be an http(s) URL without query or fragment, got {self.issuer!r}")
        if self.backchannel_retry_seconds < 1:
            raise ConfigError("LEERID_BACKCHANNEL_RETRY_SECONDS must be at least 1")
        if min(self.login_max_failures, self.login_max_failures_per_source, self.login_window,
               self.login_lock_seconds, self.login_free_failures) < 1 or self.login_delay < 0 \
                or self.login_max_delay < self.login_delay:
            raise ConfigError("LEERID_LOGIN_MAX_FAILURES, _MAX_FAILURES_PER_SOURCE, _WINDOW, _LOCK_SECONDS and "
                              "_FREE_FAILURES must be at least 1, _DELAY at least 0, _MAX_DELAY at least _DELAY")
        if not 8 <= self.password_min_pupil <= self.password_min_staff <= 64:
            raise ConfigError("LEERID_PASSWORD_MIN_PUPIL and LEERID_PASSWORD_MIN_STAFF must be 8 to 64, "
                              "the staff minimum at least the pupils'")
        if not 0 <= self.badge_max_age <= 18:
            raise ConfigError("LEERID_BADGE_MAX_AGE must be 0 (no badge logins) to 18")
        if not 60 <= self.badge_session_ttl <= self.badge_session_max_age:
            raise ConfigError("LEERID_BADGE_SESSION_TTL must be at least 60 and at most LEERID_BADGE_SESSION_MAX_AGE")
        pairs = [(self.session_ttl, self.session_max_age)] + [
            (getattr(self, idle), getattr(self, lifetime)) for idle, lifetime in zip(*[iter(SESSION_TIMEOUTS)] * 2)]
        if not all(1 <= idle <= lifetime for idle, lifetime in pairs):
            raise ConfigError("every session time-out (LEERID_SESSION_TTL, LEERID_PUPIL_SHARED_SESSION_TTL, ...) must "
                              "be at least 1 second and at most its _MAX_AGE")
        database = urlsplit(self.redis_url or "redis://").path.strip("/")
        if self.redis_sentinels and database and not (database.isascii() and database.isdigit()):
            raise ConfigError("with LEERID_REDIS_SENTINELS, LEERID_REDIS_URL names at most a database number, "
                              "e.g. redis://:password@/0")
        if self.log_format not in ("text", "json"):
            raise ConfigError(f"LEERID_LOG_FORMAT must be text or json, got {self.log_format!r}")
        if self.database_pool_size < 1 or self.database_max_overflow < 0:
            raise ConfigError("LEERID_DATABASE_POOL_SIZE must be at least 1, LEERID_DATABASE_MAX_OVERFLOW at least 0")
        if self.production:
            if parts.scheme != "https":
                raise ConfigError("LEERID_ISSUER must use https:// when LEERID_ENV=production")
            if not self.secret_keys:
                raise ConfigError(
                    "LEERID_SECRET_KEY (or LEERID_SECRET_KEY_FILE) is required when LEERID_ENV=production")
            if any(len(k) < 32 for k in self.secret_keys):
                raise ConfigError("LEERID_SECRET_KEY must be at least 32 characters when LEERID_ENV=production")

    def with_secret(self) -> Settings:
        """In development, a secret key generated once into var/secret_key; production has one already."""
        if self.secret_keys:
            return self
        self.var_dir.mkdir(parents=True, exist_ok=True)
        path = self.var_dir / "secret_key"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(48))
        for _ in range(50):  # another process may be writing it this instant
            key = path.read_text().strip()
            if key:
                return replace(self, secret_keys=(key,))
            time.sleep(0.05)
        raise ConfigError(f"{path} is empty: remove it, or set LEERID_SECRET_KEY")
