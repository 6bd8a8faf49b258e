"""Passkeys (WebAuthn, with py_webauthn): a phishing-resistant second factor after the password, and a login with
neither username nor password (a discoverable credential).

The relying party is leerID itself: the RP ID is the issuer's host and the only origin accepted is the issuer's
origin, so a passkey never signs for a look-alike site. Each ceremony's challenge waits in Redis for CHALLENGE_TTL,
bound to the person's SSO session (registration) or to the login interaction (and, for a second factor, to its
account), and is used up by its first answer, right or wrong (GETDEL). The signature counter must grow: a counter
that goes back means a copied authenticator, so the login is refused and audited `passkey_clone_detected`.

`acr` and `amr`: a passkey login has `amr` ["hwk"] alone, or ["pwd", "hwk"] as the second factor after a password,
and `acr` urn:leerid:acr:mfa in both cases. After a password the passkey is the second factor (something you have).
Alone, the passkey login requires user verification (the UV flag): the authenticator only signs after the person
unlocked it with a PIN, a fingerprint or a face, so it proves something you have and something you know or are,
which is multi-factor authentication (NIST SP 800-63B §5.1.9, multi-factor cryptographic authenticators).
"""
from __future__ import annotations

import ipaddress
import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from idp.accounts import AccountRepository
from idp.audit import record as audit
from idp.db import Base, Database, UtcDateTime, utcnow
from idp.ephemeral import RedisStore
from idp.errors import InvalidCredentials, InvalidInput, NotFound
from idp.guard import Guard
from idp.totp import TotpCredential

RP_NAME = "leerID"
CHALLENGE_TTL = 300  # seconds: a ceremony's challenge waits this long in Redis, for one answer
TIMEOUT_MS = 120_000  # what the browser is told to give the person
RECENT_LOGIN = 15 * 60  # seconds: adding or removing a passkey needs a login this recent (or a current code)
MAX_PASSKEYS = 10  # per account
NAME_LENGTH = 64
MAX_CREDENTIAL = 16 * 1024  # characters of the browser's JSON answer
ALGORITHMS = [COSEAlgorithmIdentifier.ECDSA_SHA_256, COSEAlgorithmIdentifier.EDDSA,
              COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256]
TRANSPORTS = {t.value for t in AuthenticatorTransport}
FAILURES = (WebAuthnException, ValueError, TypeError, KeyError, AttributeError)  # a malformed answer, any way


class Passkey(Base):
    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)  # base64url of the raw id (≤ 1023 bytes)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE_Key, as the authenticator gave it
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    transports: Mapped[list] = mapped_column(JSON, default=list)
    user_handle: Mapped[str] = mapped_column(String(100))  # base64url; one per account, never the account id
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class PasskeyRefused(InvalidCredentials):
    """No challenge waiting, a passkey leerID does not know, or an answer that does not verify."""


class TooManyPasskeys(InvalidInput):
    """The account has MAX_PASSKEYS already."""


class PasskeyCloned(PasskeyRefused):
    """The signature counter did not grow: the passkey may have been copied."""


@dataclass(frozen=True)
class PasskeyInfo:
    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    transports: tuple[str, ...]


@dataclass(frozen=True)
class Verified:
    account_id: str
    passkey_id: int
    user_verified: bool


def has_passkey(session: Session, account_id: str) -> bool:
    return session.scalar(select(Passkey.id).where(Passkey.account_id == account_id).limit(1)) is not None


def second_factors(session: Session, account_id: str) -> tuple[str, ...]:
    """The second factors the account has, as amr values: "otp" (a code app), "hwk" (a passkey); one query."""
    otp = select(TotpCredential.account_id).where(TotpCredential.account_id == account_id).exists()
    hwk = select(Passkey.id).where(Passkey.account_id == account_id).exists()
    has = session.execute(select(otp, hwk)).one()
    return tuple(m for m, found in zip(("otp", "hwk"), has) if found)


def relying_party(issuer: str) -> tuple[str, str]:
    """(RP ID, origin): the issuer's host, and its scheme://host[:port]."""
    parts = urlsplit(issuer)
    return (parts.hostname or ""), f"{parts.scheme}://{parts.netloc}"


def usable_rp_id(rp_id: str) -> bool:
    """WebAuthn needs a domain (`localhost` included); browsers refuse an IP address such as 127.0.0.1."""
    try:
        ipaddress.ip_address(rp_id)
    except ValueError:
        return bool(rp_id)
    return False


def recent(auth_time: int, now: float | None = None) -> bool:
    return (now if now is not None else time.time()) - auth_time <= RECENT_LOGIN


def clean_name(name: str) -> str:
    """The name the person gives a passkey: spaces tidied, 1 to NAME_LENGTH printable characters."""
    name = " ".join((name or "")[:4 * NAME_LENGTH].split())
    if not name or len(name) > NAME_LENGTH or not name.isprintable():
        raise InvalidInput("a passkey needs a name of 1 to 64 characters")
    return name


def _answer(credential: str) -> dict:
    if not isinstance(credential, str) or not credential or len(credential) > MAX_CREDENTIAL:
        raise PasskeyRefused("no answer from the browser")
    try:
        value = json.loads(credential)
    except (ValueError, RecursionError):
        raise PasskeyRefused("the browser's answer is not JSON") from None
    if not isinstance(value, dict):
        raise PasskeyRefused("the browser's answer is not an object")
    return value


class PasskeyService:
    """Registers passkeys, verifies them at login, and lists, renames and removes them."""

    def __init__(self, db: Database, store: RedisStore | None, issuer: str, guard: Guard | None = None,
                 clock=time.time):
        self.db = db
        self.store = store
        self.guard = guard
        self.rp_id, self.origin = relying_party(issuer)
        self.clock = clock

    @property
    def available(self) -> bool:
        return usable_rp_id(self.rp_id)

    # --- registration (Mijn leerID) ---------------------------------------------------------------------------

    def registration_options(self, account_id: str, binding: str) -> str:
        """PublicKeyCredentialCreationOptions as JSON: a discoverable credential preferred, user verification
        preferred, and the person's own passkeys excluded (an authenticator is not registered twice)."""
        with self.db.read() as session:
            account = AccountRepository(session).get(account_id)
            mine = list(session.scalars(select(Passkey).where(Passkey.account_id == account_id)))
            name, display = account.username, account.name
        handle = mine[0].user_handle if mine else bytes_to_base64url(secrets.token_bytes(32))
        options = generate_registration_options(
            rp_id=self.rp_id, rp_name=RP_NAME, user_name=name, user_display_name=display,
            user_id=base64url_to_bytes(handle), timeout=TIMEOUT_MS, supported_pub_key_algs=ALGORITHMS,
            exclude_credentials=[_descriptor(p) for p in mine],
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED, user_verification=UserVerificationRequirement.PREFERRED))
        self.store.put("passkey_challenge", f"register:{account_id}:{binding}",
                       {"challenge": bytes_to_base64url(options.challenge), "user_handle": handle}, CHALLENGE_TTL)
        return options_to_json(options)

    def register(self, account_id: str, binding: str, credential: str, name: str) -> PasskeyInfo:
        """The browser's answer to the options: verified, then stored with its name and audited, together."""
        name = clean_name(name)
        waiting = self.store.consume("passkey_challenge", f"register:{account_id}:{binding}")
        answer = _answer(credential)
        if waiting is None:
            raise PasskeyRefused("no registration waiting")
        try:
            verified = verify_registration_response(
                credential=answer, expected_challenge=base64url_to_bytes(waiting["challenge"]),
                expected_rp_id=self.rp_id, expected_origin=self.origin, supported_pub_key_algs=ALGORITHMS)
        except FAILURES as exc:
            raise PasskeyRefused(f"registration does not verify: {exc}") from None
        transports = answer.get("response", {}).get("transports")
        passkey = Passkey(account_id=account_id, credential_id=bytes_to_base64url(verified.credential_id),
                          public_key=verified.credential_public_key, sign_count=verified.sign_count,
                          transports=[t for t in transports or () if t in TRANSPORTS][:8],
                          user_handle=waiting["user_handle"], name=name, created_at=utcnow())
        try:
            with self.db.transaction() as session:
                self._check_room(session, account_id, passkey.credential_id)
                session.add(passkey)
                session.flush()
                audit(session, "passkey_added", actor_id=account_id, subject_id=account_id,
                      detail={"passkey": passkey.id, "name": name})
        except IntegrityError:  # the same passkey registered at the same moment elsewhere
            raise PasskeyRefused("this passkey is registered already") from None
        return _info(passkey)

    @staticmethod
    def _check_room(session: Session, account_id: str, credential_id: str) -> None:
        count = session.scalar(select(func.count()).select_from(Passkey).where(Passkey.account_id == account_id))
        if count >= MAX_PASSKEYS:
            raise TooManyPasskeys(f"at most {MAX_PASSKEYS} passkeys")
        if session.scalar(select(Passkey.id).where(Passkey.credential_id == credential_id)) is not None:
            raise PasskeyRefused("this passkey is registered already")

    # --- authentication (the login interaction) -----------------------------------------------------------

    def authentication_options(self, binding: str, account_id: str | None = None) -> str:
        """PublicKeyCredentialRequestOptions as JSON. With `account_id` (the second factor after a password, or a
        step-up): that person's passkeys. Without: any discoverable passkey, with user verification required."""
        allow = []
        if account_id is not None:
            with self.db.read() as session:
                allow = [_descriptor(p) for p in session.scalars(select(Passkey).where(
                    Passkey.account_id == account_id))]
        uv = UserVerificationRequirement.PREFERRED if account_id else UserVerificationRequirement.REQUIRED
        options = generate_authentication_options(rp_id=self.rp_id, timeout=TIMEOUT_MS, allow_credentials=allow,
                                                  user_verification=uv)
        self.store.put("passkey_challenge", f"login:{binding}", {
            "challenge": bytes_to_base64url(options.challenge), "account_id": account_id}, CHALLENGE_TTL)
        return options_to_json(options)

    def authenticate(self, binding: str, credential: str, account_id: str | None = None, source: str = "unknown",
                     device: str | None = None) -> Verified:
        """The browser's assertion for the waiting challenge: the passkey (of `account_id`, when given) of an active
        account, its signature, user verification when it logs in alone, and a growing counter. The guard judges
        it as kind "hwk" of the passkey's account (Throttled or Locked before anything is checked)."""
        waiting = self.store.consume("passkey_challenge", f"login:{binding}")
        answer = _answer(credential)
        if waiting is None or waiting.get("account_id") != account_id:
            raise PasskeyRefused("no login waiting for this person")
        try:
            parsed = parse_authentication_credential_json(answer)
        except FAILURES:
            raise PasskeyRefused("malformed assertion") from None
        passkey = self._find(parsed.id)
        attempt = self.guard.before("hwk", passkey.account_id if passkey else Guard.unknown("hwk:" + parsed.id[:200]),
                                    source, device) if self.guard else None
        try:
            verified = self._verify(parsed, waiting["challenge"], passkey, account_id)
        except PasskeyRefused:
            if attempt is not None:
                self.guard.failed(attempt)
            raise
        if attempt is not None:
            self.guard.succeeded(attempt)
        return verified

    def _find(self, credential_id: str) -> Passkey | None:
        with self.db.read() as session:
            return session.scalar(select(Passkey).where(Passkey.credential_id == credential_id[:1400]))

    def _verify(self, parsed, challenge: str, passkey: Passkey | None, account_id: str | None) -> Verified:
        self._check_owner(passkey, account_id, parsed.response.user_handle)
        try:
            verified = verify_authentication_response(
                credential=parsed, expected_challenge=base64url_to_bytes(challenge), expected_rp_id=self.rp_id,
                expected_origin=self.origin, credential_public_key=passkey.public_key,
                credential_current_sign_count=0,  # the counter is checked below, atomically
                require_user_verification=account_id is None)
        except FAILURES as exc:
            self._failed(passkey)
            raise PasskeyRefused(f"assertion does not verify: {exc}") from None
        self._advance(passkey, verified.new_sign_count)
        return Verified(passkey.account_id, passkey.id, verified.user_verified)

    def _check_owner(self, passkey: Passkey | None, account_id: str | None, user_handle: bytes | None) -> None:
        """A passkey of an active account (of `account_id`, when given), whose user handle is the one it got."""
        with self.db.read() as session:
            account = AccountRepository(session).find(passkey.account_id) if passkey else None
        if passkey is None or account is None or account.disabled_at is not None \
                or (account_id is not None and passkey.account_id != account_id):
            raise PasskeyRefused("unknown passkey")
        if (user_handle is None and account_id is None) or \
                (user_handle is not None and bytes_to_base64url(user_handle) != passkey.user_handle):
            raise PasskeyRefused("the user handle does not match")  # WebAuthn §7.2 step 6

    def _failed(self, passkey: Passkey) -> None:
        with self.db.transaction() as session:
            audit(session, "passkey_failed", actor_id=passkey.account_id, subject_id=passkey.account_id,
                  detail={"passkey": passkey.id, "method": "hwk"})

    def _advance(self, passkey: Passkey, new: int) -> None:
        """Store the new counter only when it grew (compare and set); an authenticator without a counter always
        says 0. Anything else is a clone: refused and audited (compare and set also keeps a replayed counter out)."""
        with self.db.transaction() as session:
            grows = Passkey.sign_count < new if new > 0 else Passkey.sign_count == 0
            done = session.execute(update(Passkey).where(Passkey.id == passkey.id, grows)
                                   .values(sign_count=new, last_used_at=utcnow())).rowcount == 1
            if not done:
                audit(session, "passkey_clone_detected", actor_id=passkey.account_id,
                      subject_id=passkey.account_id,
                      detail={"passkey": passkey.id, "name": passkey.name, "sign_count": new})
        if not done:
            raise PasskeyCloned("the signature counter went back")

    def login(self, binding: str, credential: str, second_factor_for: str | None = None, amr: tuple[str, ...] = (),
              source: str = "unknown", device: str | None = None):
        """An AuthResult for the assertion: amr ["hwk"] (alone) or amr + ["hwk"] (after a password), acr mfa either
        way (see the module's docstring); the login is audited."""
        from idp.login import (  # idp.login asks this module who has a second factor
            ACR_MFA,
            AuthResult,
        )

        verified = self.authenticate(binding, credential, second_factor_for, source, device)
        methods = [*dict.fromkeys([*amr, "hwk"])] if second_factor_for else ["hwk"]
        with self.db.transaction() as session:
            audit(session, "login", actor_id=verified.account_id, subject_id=verified.account_id,
                  detail={"amr": methods, "passkey": verified.passkey_id})
        return AuthResult(verified.account_id, ACR_MFA, methods, int(self.clock()))

    # --- the person's own passkeys -------------------------------------------------------------------------

    def for_account(self, account_id: str) -> list[PasskeyInfo]:
        with self.db.read() as session:
            return [_info(p) for p in session.scalars(select(Passkey).where(Passkey.account_id == account_id)
                                                      .order_by(Passkey.created_at, Passkey.id))]

    def rename(self, account_id: str, passkey_id: int, name: str) -> None:
        name = clean_name(name)
        with self.db.transaction() as session:
            done = session.execute(update(Passkey).where(Passkey.id == passkey_id, Passkey.account_id == account_id)
                                   .values(name=name)).rowcount == 1
        if not done:
            raise NotFound(f"no passkey {passkey_id}")

    def remove(self, account_id: str, passkey_id: int, actor_id: str | None = None) -> str:
        """Removes one of the person's passkeys (by them, or by an operator: actor_id None); its name."""
        with self.db.transaction() as session:
            passkey = session.scalar(select(Passkey).where(Passkey.id == passkey_id,
                                                           Passkey.account_id == account_id))
            if passkey is None:
                raise NotFound(f"no passkey {passkey_id}")
            session.execute(delete(Passkey).where(Passkey.id == passkey.id))
            audit(session, "passkey_removed", actor_id=actor_id, subject_id=account_id,
                  detail={"passkey": passkey.id, "name": passkey.name})
            return passkey.name

    def account_of(self, username: str) -> str:
        with self.db.read() as session:
            account = AccountRepository(session).find_by_username(username.strip().lower()[:64])
            if account is None:
                raise NotFound(f"no account {username}")
            return account.id


def _descriptor(passkey: Passkey) -> PublicKeyCredentialDescriptor:
    return PublicKeyCredentialDescriptor(id=base64url_to_bytes(passkey.credential_id),
                                         transports=[AuthenticatorTransport(t) for t in passkey.transports or ()])


def _info(passkey: Passkey) -> PasskeyInfo:
    return PasskeyInfo(passkey.id, passkey.name, passkey.created_at, passkey.last_used_at,
                       tuple(passkey.transports or ()))
