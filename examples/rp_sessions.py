"""The demo platforms' server-side sessions, so that a back-channel logout can end a browser's session.

Flask's default session lives in the cookie: the platform cannot take it back. Here the cookie holds only a random
session id; the data lives in this process (a demo platform is one process). `end(sid=..., sub=...)` drops every
session of that leerID session or person (OIDC Back-Channel Logout 1.0 §2.7), and a request that was under way
at that moment cannot bring its session back: only a session still in the store is saved again.
"""
from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

from flask import request
from flask.sessions import SecureCookieSession, SessionInterface

IDLE = 8 * 3600  # a session unused this long is gone
ENDED_NOTICE = 600  # for this long, the browser of a session ended from elsewhere is told so once
LOGIN = "leerid"  # the session key of the leerID login: {"sid": ..., "sub": ...}


class ServerSession(SecureCookieSession):
    """A session whose data lives on the server under `key` (None: not stored yet)."""

    def __init__(self, initial=None, key: str | None = None, ended_elsewhere: bool = False):
        super().__init__(initial)
        self.key = key
        self.renew = False  # a fresh key at the next save (set at login, against session fixation)
        self.ended_elsewhere = ended_elsewhere  # a back-channel logout ended this browser's session


class SessionStore:
    """Session data by id, with an idle timeout; thread-safe."""

    def __init__(self, idle: int = IDLE, clock: Callable[[], float] = time.monotonic):
        self.idle = idle
        self.clock = clock
        self._data: dict[str, tuple[float, dict]] = {}
        self._ended: dict[str, float] = {}  # id -> until when its browser is told it was logged out elsewhere
        self._lock = threading.Lock()

    def load(self, key: str) -> dict | None:
        with self._lock:
            found = self._data.get(key)
            if found is None or found[0] < self.clock():
                self._data.pop(key, None)
                return None
            return dict(found[1])

    def create(self, data: dict) -> str:
        key = secrets.token_urlsafe(32)
        with self._lock:
            self._purge()
            self._data[key] = (self.clock() + self.idle, dict(data))
        return key

    def update(self, key: str, data: dict) -> bool:
        """Only a session still here: one that a logout ended meanwhile stays ended."""
        with self._lock:
            if key not in self._data:
                return False
            self._data[key] = (self.clock() + self.idle, dict(data))
            return True

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def end(self, sid: str | None = None, sub: str | None = None) -> int:
        """Drop the sessions of leerID session `sid`, or else every session of `sub`; how many there were."""
        def matches(login: dict) -> bool:
            return login.get("sid") == sid if sid else bool(sub) and login.get("sub") == sub

        with self._lock:
            keys = [k for k, (_, data) in self._data.items() if matches(data.get(LOGIN) or {})]
            for key in keys:
                del self._data[key]
                self._ended[key] = self.clock() + ENDED_NOTICE
            return len(keys)

    def was_ended(self, key: str) -> bool:
        """Whether a back-channel logout ended this session lately; told once."""
        with self._lock:
            until = self._ended.pop(key, None)
            return until is not None and until >= self.clock()

    def _purge(self) -> None:
        now = self.clock()
        for key in [k for k, (expires, _) in self._data.items() if expires < now]:
            del self._data[key]
        for key in [k for k, until in self._ended.items() if until < now]:
            del self._ended[key]


class ServerSessionInterface(SessionInterface):
    """Flask's session, kept in a SessionStore; the cookie (HttpOnly, SameSite=Lax, no expiry) holds the id."""

    def __init__(self, store: SessionStore):
        self.store = store

    def open_session(self, app, request) -> ServerSession:
        key = request.cookies.get(self.get_cookie_name(app))
        if not key or len(key) > 100:
            return ServerSession()
        data = self.store.load(key)
        if data is None:
            return ServerSession(ended_elsewhere=self.store.was_ended(key))
        return ServerSession(data, key)

    def save_session(self, app, session: ServerSession, response) -> None:
        name, domain, path = self.get_cookie_name(app), self.get_cookie_domain(app), self.get_cookie_path(app)
        if session.accessed:
            response.vary.add("Cookie")
        if not session:
            if session.key:
                self.store.delete(session.key)
            if name in request.cookies:
                response.delete_cookie(name, domain=domain, path=path)
            return
        if session.key and session.renew:
            self.store.delete(session.key)
        elif session.key:
            if not self.store.update(session.key, dict(session)):  # ended meanwhile: it stays ended
                response.delete_cookie(name, domain=domain, path=path)
            return
        session.key = self.store.create(dict(session))
        response.set_cookie(name, session.key, httponly=True, samesite=self.get_cookie_samesite(app),
                            secure=self.get_cookie_secure(app), domain=domain, path=path)
