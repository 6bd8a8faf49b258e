"""Client: a relying party, with the metadata Authlib asks through ClientMixin."""
from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin, list_to_scope, scope_to_list
from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, false, true
from sqlalchemy.orm import Mapped, mapped_column

from idp.crypto import sha256_hex
from idp.db import Base, UtcDateTime, utcnow

SECRET_METHODS = ("client_secret_basic", "client_secret_post")


class Client(Base, ClientMixin):
    __tablename__ = "clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    vendor: Mapped[str | None] = mapped_column(String(200))  # who runs the platform
    redirect_uris: Mapped[list] = mapped_column(JSON)
    post_logout_redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    scopes: Mapped[list] = mapped_column(JSON)
    grant_types: Mapped[list] = mapped_column(JSON)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32))
    subject_type: Mapped[str] = mapped_column(String(16), default="pairwise")
    sector_identifier: Mapped[str] = mapped_column(String(255))
    id_token_alg: Mapped[str] = mapped_column(String(8), default="ES256")
    jwks: Mapped[dict | None] = mapped_column(JSON)
    jwks_uri: Mapped[str | None] = mapped_column(String(2000))
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(2000))
    frontchannel_logout_uri: Mapped[str | None] = mapped_column(String(2000))  # an iframe on the logout page
    frontchannel_logout_session_required: Mapped[bool] = mapped_column(  # that iframe gets iss and sid
        Boolean, default=False, server_default=false())
    basis: Mapped[str] = mapped_column(String(32), default="school-agreement")
    purpose: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[list] = mapped_column(JSON, default=list)
    delegation: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())  # acting for others
    require_mfa: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # as acr_values=mfa
    policy_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # of the release policy
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"))  # a school's provisioning client
    created_at = mapped_column(UtcDateTime, default=utcnow)

    # --- ClientMixin (Authlib) ---

    @property
    def changes_platform(self) -> str:
        """A change of it is a change of the platform (idp/changes.py)."""
        return self.client_id

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"

    @property
    def client_metadata(self) -> dict:
        return {"post_logout_redirect_uris": list(self.post_logout_redirect_uris or [])}

    @property
    def id_token_signed_response_alg(self) -> str:
        return self.id_token_alg

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # Only when exactly one is registered: a guess among several is an error (SECURITY.md).
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        allowed = set(self.scopes)
        return list_to_scope([s for s in scope_to_list(scope) if s in allowed])

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return any(redirect_uri_matches(registered, redirect_uri) for registered in self.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        if not self.secret_hash:
            return False
        return hmac.compare_digest(self.secret_hash, sha256_hex(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """The registered method; a client with a secret may send it by Basic or in the body alike."""
        if method in SECRET_METHODS:
            return self.token_endpoint_auth_method in SECRET_METHODS
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types

    def allows_scope(self, scope: str) -> bool:
        return scope in self.scopes


def redirect_uri_matches(registered: str, given: str) -> bool:
    """Exact string match; for an http loopback URI only the port may differ (RFC 8252 §7.3)."""
    if hmac.compare_digest(registered.encode(), given.encode()):
        return True
    reg, got = urlsplit(registered), urlsplit(given)
    if reg.scheme != "http" or got.scheme != "http" or reg.hostname not in ("127.0.0.1", "::1"):
        return False
    try:
        port = got.port
    except ValueError:
        return False
    same = (reg.hostname, reg.path, reg.query) == (got.hostname, got.path, got.query)
    return same and port is not None and not (got.username or got.password or got.fragment)
