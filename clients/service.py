"""ClientRegistry: registering relying parties and reading them on the hot path."""
from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import and_, select

from clients.activations import SchoolActivation
from clients.errors import InvalidClientMetadata, InvalidRedirectUri
from clients.models import Client
from clients.policies import ATTRIBUTES, BASES, Document, first_version
from clients.sectors import sector_identifier
from idp import audit
from idp.crypto import sha256_hex
from idp.db import Database
from idp.directory import Membership
from idp.school_scope import current_on

SCOPES = ("openid", "profile", "email", "school", "age", "birthdate", "offline_access")
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
PROVISIONING_SCOPE = "scim"  # only a school's provisioning client has it
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # RFC 8693, idp/token_exchange.py
LOCAL_HOSTS = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class NewClient:
    name: str
    redirect_uris: tuple[str, ...]
    public: bool = False
    scopes: tuple[str, ...] = ("openid", "profile")
    attributes: tuple[str, ...] = ()
    purpose: str | None = None
    basis: str = "school-agreement"
    subject_type: str = "pairwise"
    post_logout_redirect_uris: tuple[str, ...] = ()
    backchannel_logout_uri: str | None = None
    frontchannel_logout_uri: str | None = None  # OIDC Front-Channel Logout 1.0: an iframe on the logout page
    frontchannel_logout_session_required: bool = False  # that iframe gets iss and sid (§2)
    token_auth_method: str | None = None
    jwks_uri: str | None = None
    jwks_file: Path | None = None
    id_token_alg: str = "ES256"
    grant_types: tuple[str, ...] = field(default=())
    vendor: str | None = None
    delegation: bool = True  # logins on someone's behalf under a mandate
    token_exchange: bool = False  # delegated access tokens for its server, under the actor's mandates (RFC 8693)
    require_mfa: bool = False  # every login there needs a second factor, as if it asked acr_values=...:mfa
    policy: Document | None = None  # the whole release policy; instead of attributes, basis and purpose
    sector_identifier_uri: str | None = None  # shares pairwise subjects with the vendor's other clients listed there


@dataclass(frozen=True)
class Registered:
    client: Client
    client_secret: str | None


def new_client_id() -> str:
    """A random client_id that starts with a letter or digit, so that a command line never reads it as an option."""
    while not (client_id := secrets.token_urlsafe(18))[0].isalnum():
        continue
    return client_id


def check_uri(uri: str, what: str, *, allow_query: bool = True) -> str:
    """An absolute https URI (http only on this machine), without fragment or credentials."""
    parts = urlsplit(uri)
    if len(uri) > 2000 or parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidRedirectUri(f"{what} must be an absolute https:// URI, got {uri!r}")
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        raise InvalidRedirectUri(f"{what} must use https:// (http only for 127.0.0.1 or localhost), got {uri!r}")
    if parts.fragment or "#" in uri or parts.username or parts.password or any(c.isspace() for c in uri):
        raise InvalidRedirectUri(f"{what} must not have a fragment, credentials or spaces, got {uri!r}")
    if not allow_query and parts.query:
        raise InvalidRedirectUri(f"{what} must not have a query, got {uri!r}")
    return uri


def frontchannel_uri(uri: str, redirect_uris: list[str]) -> str:
    """OIDC Front-Channel Logout 1.0 §2: checked like the other URIs, and with the scheme, host and port of one of the
    platform's redirect URIs, so that the logout page frames nothing but the platform itself."""
    check_uri(uri, "front-channel logout URI")
    if not any(_origin(uri) == _origin(registered) for registered in redirect_uris):
        raise InvalidRedirectUri(f"front-channel logout URI must have the scheme, host and port of a redirect URI, "
                                 f"got {uri!r}")
    return uri


NEEDS_BACKCHANNEL = ("a front-channel logout URI needs a back-channel logout URI (--backchannel-logout-uri): only "
                     "back-channel logout reaches the platform however a session ends (switch pupil, another person "
                     "logging in, time-outs); the front-channel iframe is an addition on the logout page")


def _origin(uri: str) -> tuple:
    parts = urlsplit(uri)
    try:
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    except ValueError:
        return (None,)
    return parts.scheme, (parts.hostname or "").lower(), port


class ClientRegistry:
    """Creates clients and answers `find` from a short-lived in-process cache."""

    def __init__(self, db: Database, cache_seconds: int = 30):
        self.db = db
        self.cache_seconds = cache_seconds  # how stale a process's view of a changed client may be
        self._cache: dict[str, tuple[float, Client]] = {}
        self._activated: dict[str, tuple[float, frozenset[int]]] = {}  # client id -> schools (ids) that activated it

    def find(self, client_id: str | None) -> Client | None:
        if not client_id or len(client_id) > 64:
            return None
        hit = self._cache.get(client_id)
        now = time.monotonic()
        if hit and hit[0] > now:
            return hit[1]
        with self.db.read() as session:
            client = session.get(Client, client_id)
            if client is None:
                return None  # not remembered: a client registered a moment later works at once
            session.expunge(client)
        if self.cache_seconds > 0:
            self._cache[client_id] = (now + self.cache_seconds, client)
        return client

    def forget(self, client_id: str) -> None:
        self._cache.pop(client_id, None)
        self._activated.pop(client_id, None)

    def forget_all(self) -> None:
        self._cache.clear()
        self._activated.clear()

    def activated_by(self, client_id: str) -> frozenset[int]:
        """The schools (ids) that activated the platform now, cached like the platform itself."""
        hit, now = self._activated.get(client_id), time.monotonic()
        if hit and hit[0] > now:
            return hit[1]
        query = select(SchoolActivation.school_id).where(SchoolActivation.client_id == client_id,
                                                         SchoolActivation.ended_at.is_(None))
        with self.db.read() as session:
            schools = frozenset(session.scalars(query))
        if self.cache_seconds > 0:
            self._activated[client_id] = (now + self.cache_seconds, schools)
        return schools

    def require_mfa(self, client_id: str, required: bool) -> Client:
        """Every login at the platform needs a second factor (or no longer), audited `client_changed`."""
        return self.update(client_id, require_mfa=required)

    def update(self, client_id: str, *, require_mfa: bool | None = None, frontchannel_logout_uri: str | None = None,
               frontchannel_logout_session_required: bool | None = None,
               backchannel_logout_uri: str | None = None) -> Client:
        """Change a platform's settings (None: keep; a logout URI of "" removes it), all or nothing, audited
        `client_changed` with what changed. A front-channel logout URI needs a back-channel one (NEEDS_BACKCHANNEL)."""
        with self.db.transaction() as session:
            client = session.get(Client, client_id, with_for_update=True) if client_id else None
            if client is None or client.school_id is not None:
                raise InvalidClientMetadata(f"no platform with client_id {client_id!r}")
            uri = client.frontchannel_logout_uri if frontchannel_logout_uri is None \
                else frontchannel_uri(frontchannel_logout_uri, client.redirect_uris) if frontchannel_logout_uri else None
            backchannel = client.backchannel_logout_uri if backchannel_logout_uri is None else check_uri(
                backchannel_logout_uri, "back-channel logout URI") if backchannel_logout_uri else None
            if uri and not backchannel and (frontchannel_logout_uri or backchannel_logout_uri is not None):
                raise InvalidClientMetadata(NEEDS_BACKCHANNEL)  # one registered before this rule is kept as it is
            wanted = {"require_mfa": client.require_mfa if require_mfa is None else require_mfa,
                      "backchannel_logout_uri": backchannel, "frontchannel_logout_uri": uri,
                      "frontchannel_logout_session_required": bool(uri) and (
                          client.frontchannel_logout_session_required if frontchannel_logout_session_required is None
                          else frontchannel_logout_session_required)}
            if frontchannel_logout_session_required and not uri:
                raise InvalidClientMetadata("--frontchannel-logout-session-required needs a front-channel logout URI")
            changed = {name: value for name, value in wanted.items() if getattr(client, name) != value}
            for name, value in changed.items():
                setattr(client, name, value)
            if changed:
                audit.record(session, "client_changed", client_id=client_id, detail=changed)
            session.flush()
            session.expunge(client)
        self.forget(client_id)
        return client

    def all(self) -> list[Client]:
        with self.db.read() as session:
            return list(session.scalars(select(Client).order_by(Client.created_at)))

    def create(self, new: NewClient) -> Registered:
        client, secret = self._build(new)
        document = new.policy or Document.parse({
            "basis": client.basis, "purpose": {"nl": client.purpose} if client.purpose else {},
            "attributes": list(client.attributes)}, strict=False)
        client.basis, client.attributes, client.policy_version = document.basis, document.names, 1
        client.purpose = document.purpose.get("nl")
        with self.db.transaction() as session:
            session.add(client)
            session.flush()
            session.add(first_version(client, document))
            audit.record(session, "client_registered", client_id=client.client_id,
                         detail={"name": client.name, "attributes": client.attributes, "basis": client.basis,
                                 "sector_identifier_uri": new.sector_identifier_uri, "require_mfa": new.require_mfa})
        return Registered(client, secret)

    def create_provisioning(self, school_number: str, name: str | None = None) -> Registered:
        """A `client_credentials` client for a school's administration software, bound to that one school,
        that may ask only for the `scim` scope."""
        from idp.accounts import AccountRepository

        secret = secrets.token_urlsafe(32)
        with self.db.transaction() as session:
            school = AccountRepository(session).find_school(school_number.strip())
            if school is None:
                raise InvalidClientMetadata(f"no school with number {school_number}")
            client_id = new_client_id()
            client = Client(
                client_id=client_id, secret_hash=sha256_hex(secret), name=(name or f"Schoolsoftware {school.name}")[:200],
                redirect_uris=[], post_logout_redirect_uris=[], scopes=[PROVISIONING_SCOPE],
                grant_types=["client_credentials"], token_endpoint_auth_method="client_secret_basic",
                subject_type="pairwise", sector_identifier=client_id, basis="school-agreement", attributes=[],
                school_id=school.id,
            )
            session.add(client)
            audit.record(session, "provisioning_client_registered", client_id=client_id, school_id=school.id)
        return Registered(client, secret)

    def activate(self, client_id: str, school_numbers: list[str], agreement: str | None = None,
                 actor_id: str | None = None, today: date | None = None) -> list[SchoolActivation]:
        """The schools take the platform on under their agreement with the vendor, all or none; a school that
        has it already keeps it (with a new agreement reference, when one is given)."""
        from idp.accounts import AccountRepository

        agreement = (agreement or "").strip() or None
        if agreement is not None and len(agreement) > 200:
            raise InvalidClientMetadata("the agreement reference is at most 200 characters")
        with self.db.transaction() as session:
            client = session.get(Client, client_id) if client_id and len(client_id) <= 64 else None
            if client is None or client.school_id is not None:
                raise InvalidClientMetadata(f"no platform with client_id {client_id!r}")
            done = []
            for number in dict.fromkeys(n.strip() for n in school_numbers):
                school = AccountRepository(session).find_school(number)
                if school is None:
                    raise InvalidClientMetadata(f"no school with number {number}")
                done.append(self._activate(session, client_id, school.id, agreement, actor_id, today or date.today()))
            return done

    @staticmethod
    def _activate(session, client_id: str, school_id: int, agreement: str | None, actor_id: str | None,
                  today: date) -> SchoolActivation:
        found = session.scalar(select(SchoolActivation).where(SchoolActivation.client_id == client_id,
                                                              SchoolActivation.school_id == school_id))
        if found is not None and found.ended_at is None and (agreement is None or found.agreement == agreement):
            return found  # activated already: nothing changes, nothing to record
        if found is None:
            found = SchoolActivation(client_id=client_id, school_id=school_id, since=today)
            session.add(found)
        elif found.ended_at is not None:
            found.since, found.ended_at = today, None
        found.agreement, found.activated_by = agreement or found.agreement, actor_id
        audit.record(session, "platform_activated", actor_id=actor_id, client_id=client_id, school_id=school_id,
                     detail={"agreement": found.agreement})
        return found

    def covers(self, client: Client, account_id: str, today: date | None = None,
               schools: frozenset[int] | None = None) -> bool:
        """Whether the platform may serve this person: a `school-agreement` platform only the people of a school
        that activated it (someone of no school at all is not a school's to refuse). `schools`: the person's
        current schools, when the caller read them already."""
        if client.basis != "school-agreement":
            return True
        if schools is not None:
            return not schools or bool(schools & self.activated_by(client.client_id))
        activated = and_(SchoolActivation.school_id == Membership.school_id,
                         SchoolActivation.client_id == client.client_id, SchoolActivation.ended_at.is_(None))
        query = select(SchoolActivation.id).select_from(Membership).outerjoin(SchoolActivation, activated).where(
            Membership.account_id == account_id, current_on(today or date.today()))
        with self.db.read() as session:  # one query on the login path: the person's schools, each activated or not
            found = list(session.scalars(query))
        return not found or any(activation is not None for activation in found)

    def _build(self, new: NewClient) -> tuple[Client, str | None]:
        name, vendor = new.name.strip(), (new.vendor or "").strip() or None
        if not name or len(name) > 200:
            raise InvalidClientMetadata("client name must be 1 to 200 characters")
        if vendor is not None and len(vendor) > 200:
            raise InvalidClientMetadata("vendor name must be at most 200 characters")
        if not new.redirect_uris:
            raise InvalidRedirectUri("at least one --redirect-uri is needed")
        redirect_uris = [check_uri(u, "redirect URI") for u in dict.fromkeys(new.redirect_uris)]
        post_logout = [check_uri(u, "post-logout redirect URI") for u in dict.fromkeys(new.post_logout_redirect_uris)]
        backchannel = check_uri(new.backchannel_logout_uri, "back-channel logout URI", allow_query=True) \
            if new.backchannel_logout_uri else None
        frontchannel = frontchannel_uri(new.frontchannel_logout_uri, redirect_uris) \
            if new.frontchannel_logout_uri else None
        if new.frontchannel_logout_session_required and not frontchannel:
            raise InvalidClientMetadata("--frontchannel-logout-session-required needs --frontchannel-logout-uri")
        if frontchannel and not backchannel:
            raise InvalidClientMetadata(NEEDS_BACKCHANNEL)
        unknown = [s for s in new.scopes if s not in SCOPES]
        if unknown:
            raise InvalidClientMetadata(f"unknown scope {unknown[0]!r}; use {', '.join(SCOPES)}")
        scopes = list(dict.fromkeys(("openid",) + tuple(new.scopes)))
        bad = [a for a in new.attributes if a not in ATTRIBUTES]
        if bad:
            raise InvalidClientMetadata(f"unknown attribute {bad[0]!r}; use {', '.join(ATTRIBUTES)}")
        if new.basis not in BASES:
            raise InvalidClientMetadata(f"basis must be consent or school-agreement, got {new.basis!r}")
        if new.subject_type not in ("pairwise", "public"):
            raise InvalidClientMetadata(f"subject type must be pairwise or public, got {new.subject_type!r}")
        if new.sector_identifier_uri and new.subject_type != "pairwise":
            raise InvalidClientMetadata("a sector identifier URI is for pairwise subjects only")
        if new.id_token_alg not in ("ES256", "RS256"):
            raise InvalidClientMetadata(f"ID token algorithm must be ES256 or RS256, got {new.id_token_alg!r}")
        method = self._auth_method(new)
        jwks = self._jwks(new, method)
        grant_types = ["authorization_code"]
        if "offline_access" in scopes:
            grant_types.append("refresh_token")
        if method != "none":
            grant_types.append("client_credentials")
        if new.token_exchange:
            if method == "none":
                raise InvalidClientMetadata("--token-exchange is for confidential clients only")
            if not new.delegation:
                raise InvalidClientMetadata("--token-exchange acts on someone's behalf: not with --no-delegation")
            grant_types.append(TOKEN_EXCHANGE)
        secret = secrets.token_urlsafe(32) if method in ("client_secret_basic", "client_secret_post") else None
        sector = sector_identifier(check_uri(new.sector_identifier_uri, "sector identifier URI"), redirect_uris) \
            if new.sector_identifier_uri else None  # fetched after every other check
        client_id = new_client_id()
        client = Client(
            client_id=client_id, secret_hash=sha256_hex(secret) if secret else None, name=name, vendor=vendor,
            delegation=new.delegation, require_mfa=new.require_mfa,
            redirect_uris=redirect_uris, post_logout_redirect_uris=post_logout, scopes=scopes,
            grant_types=grant_types, token_endpoint_auth_method=method, subject_type=new.subject_type,
            sector_identifier=sector or client_id, id_token_alg=new.id_token_alg,  # else unlinkable across clients
            jwks=jwks, jwks_uri=new.jwks_uri, backchannel_logout_uri=backchannel, basis=new.basis,
            frontchannel_logout_uri=frontchannel,
            frontchannel_logout_session_required=new.frontchannel_logout_session_required,
            purpose=(new.purpose or "").strip() or None, attributes=list(dict.fromkeys(new.attributes)),
        )
        return client, secret

    @staticmethod
    def _auth_method(new: NewClient) -> str:
        method = new.token_auth_method or ("none" if new.public else "client_secret_basic")
        if method not in AUTH_METHODS:
            raise InvalidClientMetadata(f"token auth method must be one of {', '.join(AUTH_METHODS)}, got {method!r}")
        if new.public != (method == "none"):
            raise InvalidClientMetadata("a --public client uses token auth method none, and only it does")
        return method

    @staticmethod
    def _jwks(new: NewClient, method: str) -> dict | None:
        if new.jwks_uri and new.jwks_file:
            raise InvalidClientMetadata("give --jwks-uri or --jwks, not both")
        if method == "private_key_jwt" and not (new.jwks_uri or new.jwks_file):
            raise InvalidClientMetadata("private_key_jwt needs --jwks-uri or --jwks")
        if new.jwks_uri:
            check_uri(new.jwks_uri, "JWKS URI")
        if not new.jwks_file:
            return None
        try:
            data = json.loads(Path(new.jwks_file).read_text())
            keys = KeySet.import_key_set(data)
        except (OSError, ValueError, JoseError, TypeError, KeyError) as exc:
            raise InvalidClientMetadata(f"--jwks {new.jwks_file} is not a readable JWK set: {exc}") from exc
        if any(key.is_private for key in keys.keys):
            raise InvalidClientMetadata("--jwks must hold public keys only")
        return keys.as_dict(private=False)
