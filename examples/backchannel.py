"""The platform's side of OpenID Connect Back-Channel Logout 1.0: checking a logout token (§2.6).

leerID POSTs `logout_token` to the platform's backchannel_logout_uri when a leerID session ends. The platform
verifies it with joserfc against leerID's JWKS (explicit algorithms, never a key from the token), checks iss, aud,
iat, exp, jti, events, sid/sub and the absence of a nonce, refuses a jti it saw before, and then ends its own
sessions of that sid (or of that sub). No Flask here: examples.rp turns HTTP into a call on `verify`.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

EVENT = "http://schemas.openid.net/event/backchannel-logout"
ALGORITHMS = ("ES256", "RS256")  # what leerID signs ID tokens with; never none, never HMAC
TYP = "logout+jwt"
LEEWAY = 60  # clock difference allowed between leerID and the platform
MAX_AGE = 300  # a logout token issued longer ago than this is refused (iat)
MAX_LENGTH = 16_000


class InvalidLogoutToken(Exception):
    """A logout token that does not pass §2.6; the message is the error_description."""


@dataclass(frozen=True)
class LogoutRequest:
    """Whose sessions end: the leerID session `sid`, or else every session of `sub`."""

    sid: str | None
    sub: str | None


class SeenTokens:
    """The jti of every accepted logout token, for as long as a token with it could still be accepted."""

    def __init__(self, keep: float = MAX_AGE + 2 * LEEWAY, clock: Callable[[], float] = time.monotonic):
        self.keep = keep
        self.clock = clock
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_time(self, jti: str) -> bool:
        """Remember `jti`; whether it was new (one atomic step: of two replays at once, one wins)."""
        now = self.clock()
        with self._lock:
            for old in [j for j, until in self._seen.items() if until < now]:
                del self._seen[old]
            if jti in self._seen:
                return False
            self._seen[jti] = now + self.keep
            return True


class LogoutTokenVerifier:
    """§2.6 for one platform: `issuer` is leerID's, `audience` the platform's client_id, `jwks(force)` leerID's
    published keys (force: fetch them again, e.g. after a key rotation)."""

    def __init__(self, issuer: str, audience: str, jwks: Callable[[bool], dict],
                 seen: SeenTokens | None = None, clock: Callable[[], float] = time.time):
        self.issuer = issuer
        self.audience = audience
        self.jwks = jwks
        self.seen = seen or SeenTokens()
        self.clock = clock

    def verify(self, token: str) -> LogoutRequest:
        claims = self.claims(token)
        if not self.seen.first_time(claims["jti"]):
            raise InvalidLogoutToken("this logout token was used before (jti)")
        return LogoutRequest(claims.get("sid"), claims.get("sub"))

    def claims(self, token: str) -> dict:
        """The token's claims once the signature and every claim check passed."""
        if not isinstance(token, str) or len(token) > MAX_LENGTH or token.count(".") != 2:
            raise InvalidLogoutToken("logout_token is not a signed JWT")
        decoded = self.decode(token)
        if decoded.header.get("typ", TYP) != TYP:
            raise InvalidLogoutToken(f"typ must be {TYP}")
        claims = decoded.claims
        now = int(self.clock())
        try:
            jwt.JWTClaimsRegistry(
                now=now, leeway=LEEWAY, iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.audience}, iat={"essential": True},
                jti={"essential": True},
            ).validate(claims)
        except JoseError as exc:
            raise InvalidLogoutToken(f"claim check failed: {exc.description or exc.error}") from exc
        check_logout_claims(claims, now)
        return claims

    def decode(self, token: str) -> jwt.Token:
        registry = JWSRegistry(algorithms=list(ALGORITHMS))
        try:
            try:
                return jwt.decode(token, self.keys(False), registry=registry)
            except InvalidKeyIdError:  # a key leerID published since we fetched its keys
                return jwt.decode(token, self.keys(True), registry=registry)
        except JoseError as exc:
            raise InvalidLogoutToken(f"signature check failed: {exc.description or exc.error}") from exc
        except (ValueError, TypeError) as exc:
            raise InvalidLogoutToken("logout_token is not a signed JWT") from exc

    def keys(self, force: bool) -> KeySet:
        try:
            return KeySet.import_key_set(self.jwks(force))
        except (OSError, RuntimeError, ValueError, TypeError, KeyError) as exc:  # requests' errors are OSErrors
            raise InvalidLogoutToken("leerID's keys could not be fetched; try again later") from exc


def check_logout_claims(claims: dict, now: int) -> None:
    """§2.4 and §2.6 beyond the registered claims: recent, the back-channel event, sid or sub, no nonce."""
    if claims["iat"] < now - MAX_AGE - LEEWAY:
        raise InvalidLogoutToken("the logout token is too old (iat)")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(EVENT), dict):
        raise InvalidLogoutToken("events must hold the back-channel logout event")
    if "nonce" in claims:
        raise InvalidLogoutToken("a logout token never has a nonce")
    sid, sub = claims.get("sid"), claims.get("sub")
    if not (sid or sub) or any(v is not None and not isinstance(v, str) for v in (sid, sub)):
        raise InvalidLogoutToken("sid or sub is needed (strings)")
    if not isinstance(claims["jti"], str) or not claims["jti"]:
        raise InvalidLogoutToken("jti must be a string")
