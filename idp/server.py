"""The Authlib AuthorizationServer: grants, endpoints, client authentication, the token generator."""
from __future__ import annotations

from collections import defaultdict
from functools import cached_property

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request, scope_to_list
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from flask import request as flask_request

from clients.service import ATTRIBUTES, SCOPES, TOKEN_EXCHANGE
from idp.badges import ACR_BADGE
from idp.crypto import random_token
from idp.grants import (
    ALL_METHODS,
    AccessTokenValidator,
    ClientCredentials,
    CodeGrant,
    EndSession,
    Introspection,
    OpenIDCodeExtension,
    Pkce,
    PrivateKeyJwt,
    RefreshGrant,
    Revocation,
    UserInfo,
    id_token_claims,
    release_fields,
)
from idp.login import ACR_MFA, ACR_PASSWORD
from idp.token_exchange import TokenExchangeGrant
from idp.wiring import Container


class FormPayload(OAuth2Payload):
    """Parameters of a POST endpoint come from the body only (RFC 6749 §3.2), never the query."""

    def __init__(self, request):
        self._request = request

    @property
    def data(self):
        return self._request.form if self._request.method == "POST" else self._request.args

    @cached_property
    def datalist(self):
        values = defaultdict(list)
        for key in self.data:
            values[key].extend(self.data.getlist(key))
        return values


class HttpRequest(OAuth2Request):
    """The Flask request, addressed by the issuer URL (correct behind a TLS-terminating proxy)."""

    def __init__(self, request, issuer: str):
        super().__init__(request.method, issuer + request.path, headers=request.headers)
        self._request = request
        self.payload = FormPayload(request)

    @property
    def args(self):
        return self._request.args

    @property
    def form(self):
        return self._request.form


class ParamsRequest(OAuth2Request):
    """An authorization request resumed from stored parameters after login or consent."""

    def __init__(self, params: dict, uri: str):
        super().__init__("GET", uri)
        self.payload = BasicOAuth2Payload(params)

    @property
    def args(self):
        return self.payload.data

    @property
    def form(self):
        return {}


class LeerIDServer(AuthorizationServer):
    def __init__(self, container: Container):
        super().__init__()
        self.container = container
        self.register_token_generator("default", self.generate_bearer)
        self.register_grant(CodeGrant, [Pkce(required=True), OpenIDCodeExtension(container)])
        self.register_grant(RefreshGrant)
        self.register_grant(ClientCredentials)
        self.register_grant(TokenExchangeGrant)
        self.register_client_auth_method("private_key_jwt", PrivateKeyJwt(container))
        protector = ResourceProtector()
        protector.register_token_validator(AccessTokenValidator(container))
        self.register_endpoint(UserInfo(resource_protector=protector))
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)
        self.register_endpoint(EndSession)

    def query_client(self, client_id):
        return self.container.clients.find(client_id)

    def create_oauth2_request(self, request):
        if isinstance(request, OAuth2Request):
            return request
        return HttpRequest(flask_request, self.container.settings.issuer)

    def authorization_request(self, params: dict) -> OAuth2Request:
        return ParamsRequest(params, self.container.settings.issuer + "/authorize")

    def validate_requested_scope(self, scope):
        """Scopes a client may not use are dropped by Client.get_allowed_scope, not refused."""

    def generate_bearer(self, grant_type, client, user=None, scope=None, expires_in=None,
                        include_refresh_token=True):
        scope = client.get_allowed_scope(scope)
        tokens = self.container.tokens
        token = {"token_type": "Bearer", "access_token": tokens.access_token(client, user, scope),
                 "expires_in": tokens.access_ttl, "scope": scope}
        if include_refresh_token and user is not None and "offline_access" in scope_to_list(scope):
            token["refresh_token"] = random_token(32)
        return token

    def save_token(self, token, request):
        """The refresh token, and (a code redemption with an ID token) the release of the ID token's claims with its
        audit record: in one commit."""
        records = []
        if request.payload.grant_type == "authorization_code" and "openid" in scope_to_list(token["scope"]):
            request.id_token_claims = claims = id_token_claims(self.container, request, token["scope"])
            context = request.user  # recorded even when it carries no attribute: the person sees every ID token
            records.append(release_fields(context.account_id, request.client, claims, "id_token", token["scope"],
                                          context.actor_id))
        if "refresh_token" in token:
            previous = request.refresh_token  # set on a refresh: the family keeps its absolute expiry
            expires_at = previous.expires_at if previous is not None else None
            self.container.tokens.store_refresh(token["refresh_token"], request.user, token["scope"], expires_at,
                                                released=records)
        elif records:
            self.container.audit.record("attributes_released", **records[0])


def discovery(settings) -> dict:
    issuer = settings.issuer
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "end_session_endpoint": f"{issuer}/logout",
        "scopes_supported": list(SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", TOKEN_EXCHANGE],
        "subject_types_supported": ["pairwise", "public"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
        "userinfo_signing_alg_values_supported": [],
        "token_endpoint_auth_methods_supported": ALL_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256", "PS256"],
        "revocation_endpoint_auth_methods_supported": ALL_METHODS,
        "introspection_endpoint_auth_methods_supported": [m for m in ALL_METHODS if m != "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "amr", "sid", "nonce",
                             *ATTRIBUTES],
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "acr_values_supported": [ACR_BADGE, ACR_PASSWORD, ACR_MFA],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "ui_locales_supported": ["nl", "en"],
        "claims_locales_supported": ["nl"],
        "authorization_response_iss_parameter_supported": True,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,  # logout tokens carry the ID tokens' sid
        "frontchannel_logout_supported": True,  # iframes on the logout page (idp/endpoints.py logout)
        "frontchannel_logout_session_supported": True,  # with iss and sid for a platform that asks for them
    }
