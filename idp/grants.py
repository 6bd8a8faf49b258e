"""Authlib grant and endpoint subclasses: one-line hooks onto leerID's services."""
from __future__ import annotations

import time

import httpx
from authlib.oauth2.rfc6749 import (
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    grants,
)
from authlib.oauth2.rfc6750 import BearerTokenValidator, InvalidTokenError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import OpenIDCode, UserInfoEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from idp.accounts import read_person
from idp.claims import release
from idp.codes import AuthorizationCode
from idp.tokens import ScopeNotGranted

CONFIDENTIAL_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
ALL_METHODS = CONFIDENTIAL_METHODS + ["none"]
ASSERTION_ALGORITHMS = ["ES256", "RS256", "PS256"]
MAX_ASSERTION_LIFETIME = 3600 + 60  # an hour (Authlib's client default) and some clock skew
PERSON_SCOPES = ("openid", "profile", "email", "school", "age", "birthdate", "offline_access")


def _container(grant_or_endpoint):
    return grant_or_endpoint.server.container


def _active_account(container, account_id: str):
    """The person whose claims a token carries, while their account is active (one query of plain columns)."""
    return read_person(container.db, account_id)


def record_release(container, account_id: str, client, claims: dict, via: str, scope: str,
                   actor_id: str | None = None, token_id: str | None = None) -> None:
    """The attributes_released audit record: what went where, and on which basis, for the person's receipts
    (`actor_id`: who acted for them under a mandate). With `token_id` (an access token's jti), once per token,
    endpoint and set of attributes: a platform that asks userinfo again with the same token learns nothing new."""
    marker = f"{via}:{token_id}:{','.join(sorted(claims))}" if token_id else None
    if marker and not container.store.add("release-recorded", marker, {}, container.settings.access_token_ttl):
        return  # these attributes, by this token, at this endpoint: recorded already
    try:
        container.audit.record("attributes_released", **release_fields(account_id, client, claims, via, scope, actor_id))
    except Exception:
        if marker:
            container.store.delete("release-recorded", marker)  # not recorded: the next call records it
        raise


def release_fields(account_id: str, client, claims: dict, via: str, scope: str, actor_id: str | None) -> dict:
    """The attributes_released record's fields."""
    return {"actor_id": actor_id or account_id, "subject_id": account_id, "client_id": client.client_id,
            "detail": {"via": via, "claims": sorted(claims), "scope": scope, "basis": client.basis,
                       "policy_version": client.policy_version}}


def id_token_claims(container, request, scope: str) -> dict:
    """What the ID token of a code redemption carries about the person: the client's policy, what was asked,
    and the consent (the account was loaded by CodeGrant.authenticate_user)."""
    client, context = request.client, request.user
    consented = container.consents.released_to(client, context.account_id)
    return release(request.account, scope, client.attributes, context.claims, consented, target="id_token")


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_METHODS

    def save_authorization_code(self, code, request):
        data = request.payload.data
        record = AuthorizationCode(
            client_id=request.client.client_id, redirect_uri=self.redirect_uri, scope=request.scope,
            nonce=data.get("nonce"), code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"), context=request.user,
        )
        _container(self).codes.save(code, record)

    def query_authorization_code(self, code, client):
        return _container(self).codes.consume(code, client.client_id)

    def delete_authorization_code(self, authorization_code):
        """Nothing left to delete: the code was consumed atomically when it was queried."""

    def authenticate_user(self, authorization_code):
        """The code's person, if still active; the account is kept on the request for the ID token's claims."""
        context, container = authorization_code.context, _container(self)
        if context.act and not container.mandates.in_force(context.act.get("mandate")):
            return None  # the mandate ended between the code and its redemption
        if context.sid and not container.sessions.alive(context.sid):
            return None  # its session ended since (log out everywhere): no tokens that nobody would revoke
        self.request.account = _active_account(container, context.account_id)
        return context if self.request.account else None


class OpenIDCodeExtension(OpenIDCode):
    def __init__(self, container):
        super().__init__(require_nonce=False)
        self.container = container

    def exists_nonce(self, nonce, request):
        return self.container.codes.nonce_used(request.payload.client_id, nonce)

    def generate_user_info(self, user, scope):
        raise RuntimeError("encode_id_token releases the claims with the client's policy")

    def encode_id_token(self, token, request):
        """The claims were released, and recorded, with the token (LeerIDServer.save_token: one commit)."""
        client, context = request.client, request.user
        claims = getattr(request, "id_token_claims", None)
        if claims is None:
            claims = id_token_claims(self.container, request, token["scope"])
            record_release(self.container, context.account_id, client, claims, "id_token", token["scope"],
                           context.actor_id)
        return self.container.tokens.id_token(client, context, claims, request.authorization_code.nonce,
                                              token.get("access_token"))


class Pkce(CodeChallenge):
    """PKCE with S256 only: required of public clients, accepted from confidential ones (RFC 9700 §2.1.1)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        challenge, method = data.get("code_challenge"), data.get("code_challenge_method")
        if grant.request.client.is_public and not challenge:
            raise InvalidRequestError("code_challenge with code_challenge_method=S256 is required")
        if challenge and method != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        try:
            return _container(self).tokens.use_refresh(refresh_token, self.request.client.client_id,
                                                       self.request.payload.scope)
        except ScopeNotGranted:
            raise InvalidScopeError() from None

    def authenticate_user(self, refresh_token):
        """The person, while still active and still served by the platform (a school may end a school-agreement
        platform: its refresh tokens stop with it)."""
        container, context = _container(self), refresh_token.context
        standing = container.mandates.standing(context.account_id)
        if not standing.active \
                or not container.clients.covers(self.request.client, context.account_id, schools=standing.schools) \
                or (context.act and not container.mandates.in_force(context.act.get("mandate"))):
            raise InvalidGrantError("the refresh token no longer holds")  # RFC 6749 §5.2
        subjects = container.subjects  # as the platform's subjects are now
        context.sub = subjects.for_client(self.request.client, context.account_id)
        if context.act:
            context.act = dict(context.act, sub=subjects.for_client(self.request.client, context.actor_id))
        return context

    def revoke_old_credential(self, refresh_token):
        """Nothing to do: authenticate_refresh_token already rotated it out atomically."""


class ClientCredentials(grants.ClientCredentialsGrant):
    """A token for the client itself: no person, so none of the scopes that concern a person."""

    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_METHODS

    def create_token_response(self):
        requested = [s for s in (self.request.payload.scope or "").split() if s not in PERSON_SCOPES]
        token = self.generate_token(scope=" ".join(requested), include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class PrivateKeyJwt(JWTBearerClientAssertion):
    """private_key_jwt (OIDC Core §9): explicit algorithms, the client's own keys, every jti once."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, container):
        super().__init__(validate_jti=True, leeway=30)
        self.container = container

    def get_audiences(self):
        issuer = self.container.settings.issuer
        return [issuer, f"{issuer}/token"]

    def validate_jti(self, claims, jti):
        ttl = max(int(claims.get("exp", 0) - time.time()), 0) + self.leeway + 60
        return self.container.store.add("jti", f"{claims['sub']}\x00{jti}", {}, ttl)

    def resolve_client_public_key(self, client):
        if client.jwks:
            return KeySet.import_key_set(client.jwks)
        if client.jwks_uri:
            try:
                resp = httpx.get(client.jwks_uri, timeout=5, follow_redirects=False)
                resp.raise_for_status()
                return KeySet.import_key_set(resp.json())
            except (httpx.HTTPError, ValueError, JoseError) as exc:
                raise InvalidClientError(description="The client's jwks_uri cannot be read.") from exc
        raise InvalidClientError(description="The client has no keys.")

    def verify_claims(self, claims):
        """Besides Authlib's checks: an assertion lives at most an hour, so its jti need not be kept longer."""
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or exp - time.time() > MAX_ASSERTION_LIFETIME:
            raise InvalidClientError(description="The client assertion must expire within an hour.")
        super().verify_claims(claims)

    def process_assertion_claims(self, assertion, resolve_key):
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=ASSERTION_ALGORITHMS)
        except (JoseError, ValueError) as exc:
            raise InvalidClientError(description="Invalid client assertion.") from exc
        self.verify_claims(token.claims)
        return token.claims


class HintIsOnlyAHint:
    """RFC 7009 §2.1: an unknown token_type_hint is ignored; the search covers every kind of token anyway."""

    def check_params(self, request, client):
        if "token" not in request.form:
            raise InvalidRequestError("token is required")


class Revocation(HintIsOnlyAHint, RevocationEndpoint):
    CLIENT_AUTH_METHODS = ALL_METHODS

    def query_token(self, token_string, token_type_hint):
        return _container(self).tokens.find(token_string, token_type_hint)

    def revoke_token(self, token, request):
        _container(self).tokens.revoke_grant(token.grant_id, f"{token.kind} revoked by client")


class Introspection(HintIsOnlyAHint, IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CONFIDENTIAL_METHODS

    def query_token(self, token_string, token_type_hint):
        return _container(self).tokens.find(token_string, token_type_hint)

    def check_permission(self, token, client, request):
        return token.client_id == client.client_id

    def introspect_token(self, token):
        keep = ("scope", "client_id", "sub", "exp", "iat", "iss", "aud", "auth_time", "acr", "amr", "sid", "jti",
                "act")
        info = {k: v for k, v in token.claims.items() if k in keep}
        if token.kind == "access_token":
            info.update(self.attributes(token))
        return dict(info, active=True, token_type="Bearer" if token.kind == "access_token" else "refresh_token")

    def attributes(self, token) -> dict:
        """What the access token's scope releases about the person, resolved as for the ID token and userinfo,
        for the platform's own resource servers (RFC 7662 §2.2 allows more members)."""
        container = _container(self)
        account_id = container.tokens.account_for(token.claims)
        account = _active_account(container, account_id) if account_id else None
        client = container.clients.find(token.client_id)
        if account is None or client is None:
            return {}
        scope = token.claims.get("scope", "")
        claims = release(account, scope, client.attributes, None, container.consents.released_to(client, account_id),
                         target="introspection")
        if claims:
            record_release(container, account_id, client, claims, "introspection", scope,
                           container.tokens.actor_for(token.claims), token.claims.get("jti"))
        return claims


class AccessToken:
    """A verified access token, as Authlib's resource protector and userinfo endpoint read it."""

    def __init__(self, claims: dict, container):
        self.claims = claims
        self.scope = claims.get("scope", "")
        self.container = container

    def is_expired(self) -> bool:
        return self.claims["exp"] <= time.time()

    def is_revoked(self) -> bool:
        return False  # verify_access_token already refused revoked grants

    def get_scope(self) -> str:
        return self.scope

    def get_client(self):
        return self.container.clients.find(self.claims["client_id"])

    def get_user(self) -> str:
        return self.claims["sub"]


class AccessTokenValidator(BearerTokenValidator):
    def __init__(self, container):
        super().__init__()
        self.container = container

    def authenticate_token(self, token_string):
        claims = self.container.tokens.verify_access_token(token_string)
        return AccessToken(claims, self.container) if claims else None


class UserInfo(UserInfoEndpoint):
    def __call__(self, request):
        token = self.resource_protector.acquire_token("openid")
        container = self.server.container
        context = token.claims
        account_id = container.tokens.account_for(context)
        account = _active_account(container, account_id) if account_id else None
        if account is None:  # a client's own token, or a person no longer active
            raise InvalidTokenError()
        client = token.get_client()
        claims = {}
        if client is not None:
            asked = {"userinfo": dict.fromkeys(context.get("userinfo_claims") or ())}
            claims = release(account, token.scope, client.attributes, asked,
                             container.consents.released_to(client, account_id), target="userinfo")
        if claims:
            record_release(container, account_id, client, claims, "userinfo", token.scope,
                           container.tokens.actor_for(context), context.get("jti"))
        delegated = {"act": context["act"]} if "act" in context else {}  # who really acts (RFC 8693 §4.1)
        headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
        return 200, dict(claims, sub=context["sub"], **delegated), headers


class EndSession(EndSessionEndpoint):
    def get_server_jwks(self):
        return _container(self).keys.verification_keys()

    def _validate_id_token_hint(self, id_token_hint):
        claims = _container(self).tokens.verify_id_token_hint(id_token_hint)
        if claims is None:
            raise InvalidRequestError("id_token_hint is not an ID token from this provider")
        return claims

    def end_session(self, end_session_request):
        """The view ends the browser's SSO session; nothing else here to do."""
