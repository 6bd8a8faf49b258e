"""CodeStore: authorization codes in Redis, consumed once; a replay revokes what the first use issued."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from idp.ephemeral import RedisStore
from idp.tokens import AuthContext, TokenService

USED_TTL = 15 * 60  # a replay this long after first use still revokes the grant


@dataclass
class AuthorizationCode:
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    context: AuthContext

    # --- Authlib's AuthorizationCodeMixin ---
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.context.auth_time

    def get_acr(self) -> str:
        return self.context.acr

    def get_amr(self) -> list[str]:
        return self.context.amr


class CodeStore:
    KIND = "code"

    def __init__(self, store: RedisStore, tokens: TokenService, ttl: int):
        self.store = store
        self.tokens = tokens
        self.ttl = ttl

    def save(self, code: str, record: AuthorizationCode) -> None:
        # The grant marker is written with the code (one round trip, in this order) and outlives it, so that any
        # redemption after the winning GETDEL finds it, however close behind it comes.
        self.store.put_all([("code-grant", code, {"grant_id": record.context.grant_id}, USED_TTL),
                            (self.KIND, code, asdict(record), self.ttl)])

    def consume(self, code: str, client_id: str) -> AuthorizationCode | None:
        """GETDEL, so that of parallel redemptions exactly one wins; later ones revoke its grant."""
        if not code or len(code) > 200:
            return None
        data = self.store.consume(self.KIND, code)
        if data is None:
            issued = self.store.get("code-grant", code)
            if issued is not None:
                self.tokens.revoke_grant(issued["grant_id"], "authorization code replayed")
            return None
        data["context"] = AuthContext(**data["context"])
        record = AuthorizationCode(**data)
        if record.client_id != client_id:
            self.tokens.revoke_grant(record.context.grant_id, "authorization code sent by another client")
            return None
        return record

    def remember_nonce(self, client_id: str, nonce: str, ttl: int) -> bool:
        """False when this client already used the nonce (OIDC Core §15.5.2)."""
        return self.store.add("nonce", f"{client_id}\x00{nonce}", {}, ttl)

    def nonce_used(self, client_id: str, nonce: str) -> bool:
        return self.store.get("nonce", f"{client_id}\x00{nonce}") is not None
