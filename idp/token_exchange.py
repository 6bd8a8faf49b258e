"""OAuth 2.0 Token Exchange (RFC 8693): a platform's server trades the access token of someone who holds a mandate,
and whom they act for, for an access token on that person's behalf (DESIGN.md: Tokens and claims, acting on behalf).

Only confidential clients registered with `leerid clients create --token-exchange` may, authenticating as for the
other grants. The request (application/x-www-form-urlencoded, every parameter once):

    grant_type          urn:ietf:params:oauth:grant-type:token-exchange
    actor_token         an access token leerID issued to this client for the actor, live and not itself delegated
    actor_token_type    urn:ietf:params:oauth:token-type:access_token
    subject_token       a live ID token leerID issued to this client about the represented person
    subject_token_type  urn:ietf:params:oauth:token-type:id_token
        or
    subject_token       the represented person's `sub` at this client
    subject_token_type  urn:leerid:params:oauth:token-type:subject (leerID's own: a reference, not a token)
    scope               optional: at most the actor token's scope

The represented person is found only among those the actor holds a mandate with `login` for at this platform
today, never by a global lookup. The answer is an access token (no refresh token) whose `sub` is the represented
person's and whose `act` names the actor and the mandate (RFC 8693 §4.1); it belongs to the actor token's grant,
so revoking either ends both, and it stops the moment the mandate is revoked or ends.
"""
from __future__ import annotations

import hmac
import time
from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, TypeVar

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
    grants,
)

from clients.service import TOKEN_EXCHANGE
from idp.directory import below_consent_age
from idp.grants import CONFIDENTIAL_METHODS, _active_account
from idp.tokens import AuthContext

if TYPE_CHECKING:
    from mandates.store import Held

ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
SUBJECT_TYPE = "urn:leerid:params:oauth:token-type:subject"  # the represented person's `sub` at this client
SUBJECT_TYPES = (ID_TOKEN_TYPE, SUBJECT_TYPE)
MAX_SUB = 255
NOT_AN_ACTOR = "actor_token is not a live access token issued to this client for a person acting for themselves"
NOT_AN_ID_TOKEN = "subject_token is not a live ID token issued to this client"
NO_MANDATE = "The actor holds no mandate to act for this subject at this platform"
T = TypeVar("T")


class InvalidTargetError(OAuth2Error):
    """RFC 8693 §2.2.2: no token for another target than the client itself."""

    error = "invalid_target"


def exchange_parameters(data) -> tuple[str, str, str]:
    """(actor_token, subject_token, subject_token_type) of a well-formed request; else the RFC 8693 §2.2.2 error."""
    for name in ("actor_token", "actor_token_type", "subject_token", "subject_token_type"):
        if not data.get(name):
            raise InvalidRequestError(f"{name} is required")
    if data["actor_token_type"] != ACCESS_TOKEN_TYPE:
        raise InvalidRequestError(f"actor_token_type must be {ACCESS_TOKEN_TYPE}")
    if data["subject_token_type"] not in SUBJECT_TYPES:
        raise InvalidRequestError(f"subject_token_type must be {ID_TOKEN_TYPE} or {SUBJECT_TYPE}")
    if data.get("requested_token_type") not in (None, ACCESS_TOKEN_TYPE):
        raise InvalidRequestError(f"only {ACCESS_TOKEN_TYPE} is issued")
    if data.get("resource") or data.get("audience"):
        raise InvalidTargetError("Tokens are issued for the requesting client only")
    return data["actor_token"], data["subject_token"], data["subject_token_type"]


def narrowed_scope(granted: str, requested: str | None) -> str:
    """The actor token's scope, narrowed to the requested scope when one is given; never `offline_access` (an
    exchanged token has no refresh token)."""
    wanted = set(requested.split()) if requested else None
    return " ".join(s for s in granted.split() if s != "offline_access" and (wanted is None or s in wanted))


def id_token_is_live_for(claims: dict, client_id: str, now: float) -> bool:
    """An ID token's claims name this client as its only audience and have not expired."""
    aud, exp = claims.get("aud"), claims.get("exp")
    return aud in (client_id, [client_id]) and isinstance(exp, int) and exp > now


def matching(sub: str, candidates: Iterable[tuple[str, T]]) -> T | None:
    """The candidate whose subject is `sub`, every subject compared in constant time."""
    found = None
    for subject, candidate in candidates:
        if hmac.compare_digest(subject.encode(), sub.encode()) and found is None:
            found = candidate
    return found


class TokenExchangeGrant(grants.BaseGrant, grants.TokenEndpointMixin):
    GRANT_TYPE = TOKEN_EXCHANGE
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_METHODS

    def validate_token_request(self):
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE) or not client.delegation:
            raise UnauthorizedClientError(f"The client may not use grant_type={self.GRANT_TYPE}")
        self.request.client = client
        self.exchange = exchange_parameters(self.request.payload.data)

    def create_token_response(self):
        container, client = self.server.container, self.request.client
        actor_token, subject_token, subject_type = self.exchange
        claims, actor_id = self.actor(actor_token)
        held = self.mandate(actor_id, self.subject(subject_token, subject_type))
        scope = narrowed_scope(claims.get("scope", ""), self.request.payload.scope)
        if not client.get_allowed_scope(scope):
            raise InvalidScopeError("None of the requested scope is in the actor token")
        represented_id = held.represented.id
        context = AuthContext(
            account_id=represented_id, sub=container.subjects.for_client(client, represented_id),
            client_id=client.client_id, auth_time=claims["auth_time"], acr=claims["acr"], amr=claims["amr"],
            grant_id=claims["gid"], sid=claims.get("sid"), actor_id=actor_id,  # amr, acr: the actor's own login
            act={"sub": container.subjects.for_client(client, actor_id), "mandate": held.mandate.id},
        )
        token = self.generate_token(user=context, scope=scope, include_refresh_token=False)
        container.audit.record("token_exchanged", actor_id=actor_id, subject_id=represented_id,
                               client_id=client.client_id, detail={"mandate": held.mandate.id, "scope": token["scope"]})
        return 200, dict(token, issued_token_type=ACCESS_TOKEN_TYPE), self.TOKEN_RESPONSE_HEADER

    def actor(self, actor_token: str) -> tuple[dict, str]:
        """The actor token's claims and the actor's account id: a person's own live token for this client."""
        container = self.server.container
        claims = container.tokens.verify_access_token(actor_token)
        if not claims or claims.get("client_id") != self.request.client.client_id or "act" in claims:
            raise InvalidGrantError(NOT_AN_ACTOR)
        actor_id = container.tokens.account_for(claims)
        if actor_id is None or _active_account(container, actor_id) is None:
            raise InvalidGrantError(NOT_AN_ACTOR)  # a client's own token, or a person no longer active
        return claims, actor_id

    def subject(self, subject_token: str, subject_type: str) -> str:
        """The represented person's `sub` at this client, as the subject token gives it."""
        if subject_type == SUBJECT_TYPE:
            if len(subject_token) > MAX_SUB:
                raise InvalidGrantError(NO_MANDATE)
            return subject_token
        claims = self.server.container.tokens.verify_id_token_hint(subject_token)
        if claims is None or not id_token_is_live_for(claims, self.request.client.client_id, time.time()):
            raise InvalidGrantError(NOT_AN_ID_TOKEN)
        return claims["sub"]

    def mandate(self, actor_id: str, sub: str) -> Held:
        """The mandate that lets the actor log in here for the person whose `sub` this is, checked only among the
        people the actor may act for; that person must be active and served by this platform."""
        container, client = self.server.container, self.request.client
        held = container.mandates.represented_by(actor_id, "login", client.client_id)
        found = matching(sub, ((container.subjects.for_client(client, h.represented.id), h) for h in held))
        if found is None or _active_account(container, found.represented.id) is None \
                or not container.clients.covers(client, found.represented.id) or not consented(container, client, found):
            raise InvalidGrantError(NO_MANDATE)
        return found


def consented(container, client, held: Held) -> bool:
    """A `consent`-basis platform serves the person only under their consent for its current policy (a young
    pupil's counts only when someone else, a parent, gave it), as at the login."""
    if client.basis != "consent":
        return True
    person = held.represented
    consent = container.consents.current(person.id, client.client_id, client.policy_version)
    young = below_consent_age(person.role, person.birthdate, date.today(), container.settings.consent_age)
    return consent is not None and (consent.given_by != person.id or not young)
