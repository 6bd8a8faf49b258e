"""TokenService: access tokens (RFC 9068), ID tokens, refresh tokens with rotation, revocation."""
from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from joserfc import jwt
from joserfc.errors import JoseError
from sqlalchemy import JSON, ForeignKey, String, Text, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from clients.models import Client
from idp import audit
from idp.claims import requested
from idp.crypto import Vault, random_token, sha256_hex
from idp.db import Base, Database, UtcDateTime, utcnow
from idp.errors import LeerIDError
from idp.keys import KeyRing


class ScopeNotGranted(LeerIDError):
    """A refresh asked for scope beyond what the person granted."""


# Claims that describe the token itself; attribute claims never overwrite them (SECURITY.md).
PROTOCOL_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "iat", "nbf", "nonce", "act", "azp", "auth_time", "acr",
                             "amr", "sid", "at_hash", "jti", "client_id", "scope", "gid", "ctx", "actx",
                             "userinfo_claims"})


@dataclass
class AuthContext:
    """Who authenticated, how, and for which client: the `user` that Authlib carries through a grant."""

    account_id: str
    sub: str
    client_id: str
    auth_time: int
    acr: str
    amr: list[str]
    grant_id: str
    sid: str | None = None
    claims: dict | None = None  # the request's `claims` parameter (OIDC Core §5.5)
    actor_id: str | None = None  # acting for `account_id` under a mandate: who really acts
    act: dict | None = None  # then the `act` claim (RFC 8693 §4.1): the actor's sub here and the mandate id

    def get_user_id(self) -> str:
        return self.sub


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str] = mapped_column(String(64), index=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(Text)
    context: Mapped[dict] = mapped_column(JSON)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class RevokedGrant(Base):
    """A grant (code redemption and everything refreshed from it) that no token of may serve again."""

    __tablename__ = "revoked_grants"

    grant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    revoked_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(String(64))


# Built once, with bind parameters: the token endpoint runs them on every refresh and code redemption.
REVOKED = select(RevokedGrant.grant_id).where(RevokedGrant.grant_id == bindparam("grant_id"))
STORE = insert(RefreshToken.__table__)
# A live token of the client (unused, unexpired, its grant not revoked), claimed; what it carried comes back.
CLAIM = (update(RefreshToken.__table__)
         .where(RefreshToken.token_hash == bindparam("token"), RefreshToken.client_id == bindparam("client"),
                RefreshToken.used_at.is_(None), RefreshToken.expires_at > bindparam("now"),
                ~select(RevokedGrant.grant_id).where(RevokedGrant.grant_id == RefreshToken.grant_id).exists())
         .values(used_at=bindparam("now"))
         .returning(RefreshToken.grant_id, RefreshToken.scope, RefreshToken.context, RefreshToken.expires_at))


@dataclass
class RefreshGrant:
    """A refresh token that was just rotated out, with what it carried."""

    context: AuthContext
    scope: str
    expires_at: datetime
    client_id: str

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope


@dataclass
class TokenInfo:
    """A token found by revocation or introspection (RFC 7009, RFC 7662)."""

    kind: str  # access_token | refresh_token
    client_id: str
    grant_id: str
    claims: dict = field(default_factory=dict)
    active: bool = True

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def is_expired(self) -> bool:
        return self.claims.get("exp", 0) <= time.time()

    def is_revoked(self) -> bool:
        return not self.active


def half_hash(value: str, alg: str) -> str:
    """at_hash (OIDC Core §3.1.3.6): the left half of the hash that matches the signing algorithm."""
    digest = hashlib.sha256(value.encode()).digest()  # ES256 and RS256 both use SHA-256
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


class TokenService:
    def __init__(self, db: Database, keys: KeyRing, vault: Vault, issuer: str, access_ttl: int, id_ttl: int,
                 refresh_ttl: int):
        self.db = db
        self.keys = keys
        self.vault = vault
        self.issuer = issuer
        self.access_ttl = access_ttl
        self.id_ttl = id_ttl
        self.refresh_ttl = refresh_ttl
        self.delegation_holds = lambda act: False  # whether an `act` claim's mandate holds; wired to the store

    # --- signing ---

    def sign(self, claims: dict, alg: str = "ES256", typ: str = "JWT") -> str:
        signer = self.keys.signer(alg)
        return jwt.encode({"alg": alg, "kid": signer.kid, "typ": typ}, claims, signer.key, algorithms=[alg])

    def access_token(self, client: Client, context: AuthContext | None, scope: str) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "exp": now + self.access_ttl, "iat": now, "jti": random_token(16),
                  "client_id": client.client_id, "aud": client.client_id, "scope": scope}
        if context is None:
            claims.update(sub=client.client_id, gid=random_token(16))
        else:
            claims.update(sub=context.sub, auth_time=context.auth_time, acr=context.acr, amr=context.amr,
                          gid=context.grant_id, ctx=self.vault.encrypt(context.account_id.encode(), "access-token"))
            if context.sid:
                claims["sid"] = context.sid
            if context.act:
                claims["act"] = context.act
                claims["actx"] = self.vault.encrypt(context.actor_id.encode(), "access-token-actor")
            asked = requested(context.claims, "userinfo")
            if asked:  # the `claims` parameter's userinfo member, for the UserInfo endpoint (OIDC Core §5.5)
                claims["userinfo_claims"] = sorted(asked)
        return self.sign(claims, "ES256", typ="at+jwt")

    def id_token(self, client: Client, context: AuthContext, attributes: dict, nonce: str | None,
                 access_token: str | None) -> str:
        now = int(time.time())
        alg = client.id_token_alg
        claims = {k: v for k, v in attributes.items() if k not in PROTOCOL_CLAIMS}
        claims.update(iss=self.issuer, sub=context.sub, aud=client.client_id, exp=now + self.id_ttl, iat=now,
                      auth_time=context.auth_time, acr=context.acr, amr=context.amr)
        if context.sid:
            claims["sid"] = context.sid
        if context.act:
            claims["act"] = context.act
        if nonce:
            claims["nonce"] = nonce
        if access_token:
            claims["at_hash"] = half_hash(access_token, alg)
        return self.sign(claims, alg)

    def verify_access_token(self, token: str) -> dict | None:
        """The claims of a live access token that leerID issued, else None."""
        if not token or len(token) > 4096:
            return None
        try:
            decoded = jwt.decode(token, self.keys.verification_keys(), algorithms=["ES256"])
        except (JoseError, ValueError, TypeError):
            return None
        if decoded.header.get("typ") != "at+jwt":
            return None
        claims = decoded.claims
        now = time.time()
        if claims.get("iss") != self.issuer or not isinstance(claims.get("exp"), int) or claims["exp"] <= now:
            return None
        if self.is_revoked(claims.get("gid", "")):
            return None
        if "act" in claims and not self.delegation_holds(claims["act"]):
            return None  # the mandate it was issued under was revoked or ended
        return claims

    def actor_for(self, claims: dict) -> str | None:
        """Who really acts behind a delegated access token (sealed in it, like the account); None otherwise."""
        try:
            return self.vault.decrypt(claims["actx"], "access-token-actor").decode()
        except (KeyError, ValueError, TypeError):
            return None

    def account_for(self, claims: dict) -> str | None:
        """The account behind an access token: sealed inside it, so that no platform learns the internal id."""
        try:
            return self.vault.decrypt(claims["ctx"], "access-token").decode()
        except (KeyError, ValueError, TypeError):
            return None

    def verify_id_token_hint(self, token: str) -> dict | None:
        """The claims of an ID token leerID issued (expired ones too, OIDC RP-Initiated Logout §2), else None.

        Access tokens and anything not from this issuer are refused, so no other token can stand in for it.
        """
        if not token or len(token) > 8192:
            return None
        try:
            decoded = jwt.decode(token, self.keys.verification_keys(), algorithms=["ES256", "RS256"])
        except (JoseError, ValueError, TypeError):
            return None
        claims = decoded.claims
        if decoded.header.get("typ", "JWT") != "JWT" or claims.get("iss") != self.issuer:
            return None
        if "scope" in claims or "client_id" in claims or not isinstance(claims.get("sub"), str):
            return None
        return claims

    # --- refresh tokens (RFC 9700 §4.14: rotation, reuse revokes the family) ---

    def store_refresh(self, raw: str, context: AuthContext, scope: str, expires_at: datetime | None = None,
                      released: list[dict] = ()) -> None:
        """Record a refresh token by its hash; a rotated one keeps its family's absolute expiry. `released`: the
        attributes_released records of what came with it, in the same transaction."""
        with self.db.transaction() as session:
            for fields in released:
                audit.record(session, "attributes_released", **fields)
            session.execute(STORE, {
                "token_hash": sha256_hex(raw), "grant_id": context.grant_id, "client_id": context.client_id,
                "account_id": context.account_id, "scope": scope, "context": asdict(context), "issued_at": utcnow(),
                "expires_at": expires_at or utcnow() + timedelta(seconds=self.refresh_ttl),
            })

    def use_refresh(self, raw: str, client_id: str, requested_scope: str | None = None) -> RefreshGrant | None:
        """Rotate a refresh token out: exactly one caller wins; a second use revokes the whole grant.

        One UPDATE claims a live token of the client (unused, unexpired, its grant not revoked) and returns what it
        carried. A request for more scope than was granted is refused, and its claim rolled back with it.
        """
        if not raw or len(raw) > 200:
            return None
        token_hash = sha256_hex(raw)
        now = utcnow()
        with self.db.transaction() as session:
            won = session.execute(CLAIM, {"token": token_hash, "client": client_id, "now": now}).first()
            if won is None:
                # a racing loser waited for the winner's commit: it revokes the grant only after the claim is made,
                # so that revocation can never take the claim from the winner
                row = session.get(RefreshToken, token_hash)
                reused = row is not None and row.client_id == client_id and row.used_at is not None \
                    and row.expires_at > now
                reused_grant = row.grant_id if reused else None
            elif requested_scope and not set(requested_scope.split()) <= set(won.scope.split()):
                raise ScopeNotGranted(requested_scope)  # rolls the claim back: the token is untouched
        if won is None:
            if reused_grant is not None:
                self.revoke_grant(reused_grant, "refresh token reused")
            return None
        return RefreshGrant(AuthContext(**won.context), won.scope, won.expires_at, client_id)

    def find(self, raw: str, hint: str | None) -> TokenInfo | None:
        """A token by its value, for revocation and introspection."""
        if not raw or len(raw) > 4096:
            return None
        if raw.count(".") == 2:  # a JWT whatever the hint says (RFC 7009 §2.1: extend the search)
            claims = self.verify_access_token(raw)
            if claims:
                return TokenInfo("access_token", claims["client_id"], claims["gid"], claims)
        with self.db.read() as session:
            row = session.get(RefreshToken, sha256_hex(raw))
        if row is None:
            return None
        context = row.context
        live = row.used_at is None and row.expires_at > utcnow() and not self.is_revoked(row.grant_id) \
            and (not context.get("act") or self.delegation_holds(context["act"]))
        claims = {"sub": context["sub"], "scope": row.scope, "client_id": row.client_id, "iss": self.issuer,
                  "exp": int(row.expires_at.timestamp()), "iat": int(row.issued_at.timestamp()),
                  "auth_time": context["auth_time"]}
        if context.get("act"):
            claims["act"] = context["act"]
        return TokenInfo("refresh_token", row.client_id, row.grant_id, claims, active=live)

    # --- grants ---

    def revoke_grant(self, grant_id: str, reason: str) -> None:
        """Every token of the grant stops working, durably (it outlives any Redis restart)."""
        try:
            with self.db.transaction() as session:
                if session.get(RevokedGrant, grant_id) is None:
                    session.add(RevokedGrant(grant_id=grant_id, reason=reason[:64]))
        except IntegrityError:
            pass  # revoked concurrently: the row is there either way

    def is_revoked(self, grant_id: str) -> bool:
        return bool(self.db.rows(REVOKED, grant_id=grant_id))
