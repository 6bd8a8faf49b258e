"""idp.passkeys with a software authenticator (an ECDSA P-256 key, CBOR, "none" attestation, as WebAuthn Level 2
lays them out) and one of py_webauthn's own published assertions as a known vector: registration, passwordless
login and the second factor, single-use challenges, the RP ID and origin, user verification, the signature counter
(a clone is refused and audited), and the person's list. No Flask, no Redis (a dict stands in for RedisStore)."""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
from pathlib import Path

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from idp.accounts import AccountService, NewAccount
from idp.audit import AuditEvent
from idp.crypto import Passwords
from idp.errors import InvalidInput, NotFound, Throttled
from idp.login import ACR_MFA
from idp.passkeys import (
    MAX_PASSKEYS,
    Passkey,
    PasskeyCloned,
    PasskeyRefused,
    PasskeyService,
    TooManyPasskeys,
    has_passkey,
    second_factors,
    usable_rp_id,
)

ISSUER = "http://localhost:5000"
UP, UV, AT = 0x01, 0x04, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftAuthenticator:
    """A platform authenticator in software: one discoverable credential (a P-256 key), a signature counter, user
    verification when `verifies`. `origin` is where the browser says the ceremony ran."""

    def __init__(self, rp_id: str = "localhost", origin: str = ISSUER, verifies: bool = True):
        self.rp_id, self.origin, self.verifies = rp_id, origin, verifies
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets.token_bytes(32)
        self.counter = 0
        self.user_handle: str | None = None

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin or self.origin,
                           "crossOrigin": False}).encode()

    def _flags(self, extra: int = 0) -> bytes:
        return bytes([UP | (UV if self.verifies else 0) | extra])

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    def create(self, options: str, origin: str | None = None, rp_id: str | None = None) -> str:
        """navigator.credentials.create(): the attestation, as the browser's JSON."""
        opts = json.loads(options)
        self.user_handle = opts["user"]["id"]
        client = self._client_data("webauthn.create", opts["challenge"], origin)
        auth = hashlib.sha256((rp_id or self.rp_id).encode()).digest() + self._flags(AT) \
            + self.counter.to_bytes(4, "big") + bytes(16) + len(self.credential_id).to_bytes(2, "big") \
            + self.credential_id + self._cose_key()
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth})
        return json.dumps({"id": b64url(self.credential_id), "rawId": b64url(self.credential_id),
                           "type": "public-key", "clientExtensionResults": {},
                           "response": {"clientDataJSON": b64url(client), "attestationObject": b64url(attestation),
                                        "transports": ["internal", "bogus"]}})

    def get(self, options: str, origin: str | None = None, counter: int | None = None) -> str:
        """navigator.credentials.get(): a signed assertion; the counter grows by one unless given."""
        opts = json.loads(options)
        self.counter = self.counter + 1 if counter is None else counter
        client = self._client_data("webauthn.get", opts["challenge"], origin)
        auth = hashlib.sha256(self.rp_id.encode()).digest() + self._flags() + self.counter.to_bytes(4, "big")
        signature = self.key.sign(auth + hashlib.sha256(client).digest(), ec.ECDSA(hashes.SHA256()))
        return json.dumps({"id": b64url(self.credential_id), "rawId": b64url(self.credential_id),
                           "type": "public-key", "clientExtensionResults": {},
                           "response": {"clientDataJSON": b64url(client), "authenticatorData": b64url(auth),
                                        "signature": b64url(signature), "userHandle": self.user_handle}})


class FakeStore:
    """The put/consume part of RedisStore, in a dict."""

    def __init__(self):
        self.values: dict[tuple[str, str], dict] = {}

    def put(self, kind: str, ident: str, value: dict, ttl: int) -> None:
        assert 0 < ttl <= 600, "a challenge is short-lived"
        self.values[(kind, ident)] = json.loads(json.dumps(value))

    def consume(self, kind: str, ident: str) -> dict | None:
        return self.values.pop((kind, ident), None)


@pytest.fixture
def store():
    return FakeStore()


@pytest.fixture
def passkeys(memory_db, store):
    return PasskeyService(memory_db, store, ISSUER)


@pytest.fixture
def accounts(memory_db):
    return AccountService(memory_db, Passwords(memory_kib=1024, time_cost=1, parallelism=1))


def make_account(accounts, username: str) -> str:
    return accounts.create_account(NewAccount(username=username, password="Een-lang-wachtwoord-42",
                                              given_name="An", family_name="Jacobs", role="teacher")).id


@pytest.fixture
def an(accounts):
    return make_account(accounts, "an.jacobs")


def events(db, name: str) -> list[AuditEvent]:
    with db.read() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def register(passkeys, account_id: str, authenticator: SoftAuthenticator, name: str = "Mijn laptop"):
    options = passkeys.registration_options(account_id, "session-1")
    return passkeys.register(account_id, "session-1", authenticator.create(options), name)


# --- registration ---------------------------------------------------------------------------------------------


def test_registration_options_name_leerid_as_the_rp_and_prefer_a_discoverable_verified_passkey(passkeys, an):
    options = json.loads(passkeys.registration_options(an, "session-1"))
    assert options["rp"] == {"id": "localhost", "name": "leerID"}
    assert options["user"]["name"] == "an.jacobs"
    assert unb64url(options["user"]["id"]) != an.encode(), "the user handle is not the account id"
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert options["attestation"] == "none"
    assert -7 in [p["alg"] for p in options["pubKeyCredParams"]]
    assert options["excludeCredentials"] == []


def test_register_stores_the_passkey_with_its_name_and_audits_it(passkeys, an, memory_db):
    info = register(passkeys, an, SoftAuthenticator(), "  Mijn   laptop ")
    assert info.name == "Mijn laptop" and info.last_used_at is None
    assert info.transports == ("internal",), "unknown transports are dropped"
    assert [p.name for p in passkeys.for_account(an)] == ["Mijn laptop"]
    added = events(memory_db, "passkey_added")
    assert [(e.actor_id, e.subject_id, e.detail["name"]) for e in added] == [(an, an, "Mijn laptop")]
    with memory_db.read() as session:
        assert has_passkey(session, an) and second_factors(session, an) == ("hwk",)


def test_a_second_registration_excludes_the_first_passkey_and_keeps_the_user_handle(passkeys, an):
    first = SoftAuthenticator()
    register(passkeys, an, first)
    options = json.loads(passkeys.registration_options(an, "session-1"))
    assert [c["id"] for c in options["excludeCredentials"]] == [b64url(first.credential_id)]
    assert options["excludeCredentials"][0]["transports"] == ["internal"]
    assert options["user"]["id"] == first.user_handle
    with pytest.raises(PasskeyRefused):  # the same authenticator again
        passkeys.register(an, "session-1", first.create(json.dumps(options)), "Nog eens")


def test_registration_from_another_origin_or_rp_is_refused_and_nothing_is_stored(passkeys, an):
    for origin, rp_id in (("https://leerid.example", None), ("http://localhost:5001", None), (None, "example.org")):
        options = passkeys.registration_options(an, "session-1")
        with pytest.raises(PasskeyRefused):
            passkeys.register(an, "session-1", SoftAuthenticator().create(options, origin, rp_id), "Laptop")
    assert passkeys.for_account(an) == []


def test_a_registration_challenge_counts_once_and_only_for_its_session(passkeys, an):
    authenticator = SoftAuthenticator()
    answer = authenticator.create(passkeys.registration_options(an, "session-1"))
    with pytest.raises(PasskeyRefused):
        passkeys.register(an, "session-2", answer, "Laptop")  # another SSO session
    passkeys.registration_options(an, "session-1")
    with pytest.raises(PasskeyRefused):
        passkeys.register(an, "session-1", answer, "Laptop")  # an older challenge than the one waiting
    with pytest.raises(PasskeyRefused):
        passkeys.register(an, "session-1", answer, "Laptop")  # and that one was used up by the failure
    assert passkeys.for_account(an) == []


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "tab\u0007bel"])
def test_a_passkey_needs_a_name(passkeys, an, name):
    options = passkeys.registration_options(an, "session-1")
    with pytest.raises(InvalidInput):
        passkeys.register(an, "session-1", SoftAuthenticator().create(options), name)


@pytest.mark.parametrize("answer", ["", "null", "[]", "{}", '{"id": "x", "rawId": "y"}', "{" * 5000, "x" * 20000])
def test_a_malformed_answer_is_refused(passkeys, an, answer):
    passkeys.registration_options(an, "session-1")
    with pytest.raises(PasskeyRefused):
        passkeys.register(an, "session-1", answer, "Laptop")
    passkeys.authentication_options("interaction-1")
    with pytest.raises(PasskeyRefused):
        passkeys.authenticate("interaction-1", answer)


# --- login ----------------------------------------------------------------------------------------------------


def test_passwordless_login_requires_user_verification_and_gives_hwk_and_mfa(passkeys, an, memory_db):
    authenticator = SoftAuthenticator()
    register(passkeys, an, authenticator)
    options = json.loads(passkeys.authentication_options("interaction-1"))
    assert options["userVerification"] == "required" and options["allowCredentials"] == []
    assert options["rpId"] == "localhost"
    result = passkeys.login("interaction-1", authenticator.get(json.dumps(options)))
    assert (result.account_id, result.acr, result.amr) == (an, ACR_MFA, ["hwk"])
    assert events(memory_db, "login")[-1].detail["amr"] == ["hwk"]
    assert passkeys.for_account(an)[0].last_used_at is not None


def test_passwordless_login_without_user_verification_is_refused(passkeys, an):
    authenticator = SoftAuthenticator(verifies=False)
    register(passkeys, an, authenticator)
    options = passkeys.authentication_options("interaction-1")
    with pytest.raises(PasskeyRefused):
        passkeys.authenticate("interaction-1", authenticator.get(options))


def test_as_second_factor_a_passkey_without_user_verification_counts(passkeys, an):
    authenticator = SoftAuthenticator(verifies=False)
    register(passkeys, an, authenticator)
    options = json.loads(passkeys.authentication_options("interaction-1", an))
    assert [c["id"] for c in options["allowCredentials"]] == [b64url(authenticator.credential_id)]
    result = passkeys.login("interaction-1", authenticator.get(json.dumps(options)), an, ("pwd",))
    assert (result.acr, result.amr) == (ACR_MFA, ["pwd", "hwk"])


def test_the_second_factor_must_be_that_persons_passkey(passkeys, an, accounts):
    other = make_account(accounts, "els.maes")
    theirs = SoftAuthenticator()
    register(passkeys, other, theirs)
    options = passkeys.authentication_options("interaction-1", an)
    with pytest.raises(PasskeyRefused):
        passkeys.authenticate("interaction-1", theirs.get(options), an)
    options = passkeys.authentication_options("interaction-1", an)  # a challenge for An, answered without her
    with pytest.raises(PasskeyRefused):
        passkeys.authenticate("interaction-1", theirs.get(options))


def test_a_login_challenge_counts_once(passkeys, an):
    authenticator = SoftAuthenticator()
    register(passkeys, an, authenticator)
    answer = authenticator.get(passkeys.authentication_options("interaction-1"))
    assert passkeys.authenticate("interaction-1", answer).account_id == an
    with pytest.raises(PasskeyRefused):
        passkeys.authenticate("interaction-1", answer)  # the same assertion replayed
    passkeys.authentication_options("interaction-1")
    with pytest.raises(PasskeyRefused):
        passkeys.authenticate("interaction-1", answer)  # a new challenge: the old assertion does not match it


def test_an_assertion_for_another_origin_is_refused_and_audited(passkeys, an, memory_db):
    authenticator = SoftAuthenticator()
    register(passkeys, an, authenticator)
    options = passkeys.authentication_options("interaction-1")
    with pytest.raises(PasskeyRefused):
        passkeys.authenticate("interaction-1", authenticator.get(options, origin="https://leerid.example"))
    assert [e.subject_id for e in events(memory_db, "passkey_failed")] == [an]


def test_a_user_handle_of_someone_else_is_refused(passkeys, an):
    authenticator = SoftAuthenticator()
    register(passkeys, an, authenticator)
    authenticator.user_handle = b64url(secrets.token_bytes(32))
    with pytest.raises(PasskeyRefused):
        passkeys.authenticate("interaction-1", authenticator.get(passkeys.authentication_options("interaction-1")))


def test_a_counter_that_goes_back_is_a_clone_refused_and_audited(passkeys, an, memory_db):
    authenticator = SoftAuthenticator()
    register(passkeys, an, authenticator)
    assert passkeys.authenticate("interaction-1", authenticator.get(
        passkeys.authentication_options("interaction-1"), counter=5)).account_id == an
    for counter in (5, 3):  # the same count again, or a lower one: another copy of the key signed in between
        with pytest.raises(PasskeyCloned):
            passkeys.authenticate("interaction-1", authenticator.get(
                passkeys.authentication_options("interaction-1"), counter=counter))
    clones = events(memory_db, "passkey_clone_detected")
    assert [(e.subject_id, e.detail["sign_count"]) for e in clones] == [(an, 5), (an, 3)]
    assert passkeys.authenticate("interaction-1", authenticator.get(
        passkeys.authentication_options("interaction-1"), counter=6)).account_id == an


def test_an_authenticator_without_a_counter_always_says_zero(passkeys, an):
    authenticator = SoftAuthenticator()
    register(passkeys, an, authenticator)
    for _ in range(2):
        options = passkeys.authentication_options("interaction-1")
        assert passkeys.authenticate("interaction-1", authenticator.get(options, counter=0)).account_id == an
    options = passkeys.authentication_options("interaction-1")
    passkeys.authenticate("interaction-1", authenticator.get(options, counter=1))
    options = passkeys.authentication_options("interaction-1")
    with pytest.raises(PasskeyCloned):  # once it counted, zero is going back
        passkeys.authenticate("interaction-1", authenticator.get(options, counter=0))


def test_a_deactivated_account_cannot_log_in_with_its_passkey(passkeys, an, accounts):
    authenticator = SoftAuthenticator()
    register(passkeys, an, authenticator)
    accounts.deactivate("an.jacobs")
    with pytest.raises(PasskeyRefused):
        passkeys.authenticate("interaction-1", authenticator.get(passkeys.authentication_options("interaction-1")))


# A published assertion from py_webauthn's own test suite (tests/test_verify_authentication_response.py,
# "with_EC2_public_key"): RP ID localhost, origin http://localhost:5000, counter 77 -> 78, user present but not
# verified (flags 0x01).
VECTOR_ID = "EDx9FfAbp4obx6oll2oC4-CZuDidRVV4gZhxC529ytlnqHyqCStDUwfNdm1SNHAe3X5KvueWQdAX3x9R1a2b9Q"
VECTOR = {
    "id": VECTOR_ID, "rawId": VECTOR_ID, "type": "public-key", "clientExtensionResults": {},
    "response": {
        "authenticatorData": "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MBAAAATg",
        "clientDataJSON": "eyJjaGFsbGVuZ2UiOiJ4aTMwR1BHQUZZUnhWRHBZMXNNMTBEYUx6VlFHNjZudi1fN1JVYXpIMHZJMll2RzhMWWdERW52T"
                          "jVmWlpOVnV2RUR1TWk5dGUzVkxxYjQyTjBma0xHQSIsImNsaWVudEV4dGVuc2lvbnMiOnt9LCJoYXNoQWxnb3JpdGhtI"
                          "joiU0hBLTI1NiIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6NTAwMCIsInR5cGUiOiJ3ZWJhdXRobi5nZXQifQ",
        "signature": "MEUCIGisVZOBapCWbnJJvjelIzwpixxIwkjCCb5aCHafQu68AiEA88v-2pJNNApPFwAKFiNuf82-2hBxYW5kGwVweeoxCwo",
    },
}
VECTOR_CHALLENGE = "xi30GPGAFYRxVDpY1sM10DaLzVQG66nv-_7RUazH0vI2YvG8LYgDEnvN5fZZNVuvEDuMi9te3VLqb42N0fkLGA"
VECTOR_KEY = "pQECAyYgASFYIIeDTe-gN8A-zQclHoRnGFWN8ehM1b7yAsa8I8KIvmplIlgg4nFGT5px8o6gpPZZhO01wdy9crDSA_Ngtkx0vGpvPHI"


@pytest.fixture
def vector_passkey(memory_db, an):
    with memory_db.transaction() as session:
        session.add(Passkey(account_id=an, credential_id=VECTOR_ID, public_key=unb64url(VECTOR_KEY), sign_count=77,
                            transports=[], user_handle=b64url(b"vector"), name="Sleutel"))
    return an


def test_the_known_vector_verifies_as_a_second_factor_and_moves_the_counter(passkeys, store, vector_passkey):
    waiting = {"challenge": VECTOR_CHALLENGE, "account_id": vector_passkey}
    store.put("passkey_challenge", "login:interaction-1", waiting, 300)
    verified = passkeys.authenticate("interaction-1", json.dumps(VECTOR), vector_passkey)
    assert verified.account_id == vector_passkey and verified.user_verified is False
    store.put("passkey_challenge", "login:interaction-1", waiting, 300)
    with pytest.raises(PasskeyCloned):  # the same signed counter (78) once more
        passkeys.authenticate("interaction-1", json.dumps(VECTOR), vector_passkey)


def test_the_known_vector_is_refused_alone_without_user_verification_or_with_another_challenge(
        passkeys, store, vector_passkey):
    for challenge, account in ((VECTOR_CHALLENGE, None), (b64url(b"another challenge"), vector_passkey)):
        store.put("passkey_challenge", "login:interaction-1", {"challenge": challenge, "account_id": account}, 300)
        with pytest.raises(PasskeyRefused):
            passkeys.authenticate("interaction-1", json.dumps(VECTOR), account)


def test_the_known_vector_is_refused_for_another_rp(memory_db, store, vector_passkey):
    other = PasskeyService(memory_db, store, "http://leerid.localhost:5000")
    store.put("passkey_challenge", "login:interaction-1", {"challenge": VECTOR_CHALLENGE,
                                                           "account_id": vector_passkey}, 300)
    with pytest.raises(PasskeyRefused):
        other.authenticate("interaction-1", json.dumps(VECTOR), vector_passkey)


# --- the person's list ------------------------------------------------------------------------------------------


def test_rename_and_remove_only_ones_own_passkeys(passkeys, an, accounts, memory_db):
    other = make_account(accounts, "els.maes")
    mine = register(passkeys, an, SoftAuthenticator())
    with pytest.raises(NotFound):
        passkeys.rename(other, mine.id, "Van mij")
    with pytest.raises(NotFound):
        passkeys.remove(other, mine.id, other)
    passkeys.rename(an, mine.id, "Sleutel van An")
    assert [p.name for p in passkeys.for_account(an)] == ["Sleutel van An"]
    assert passkeys.remove(an, mine.id, an) == "Sleutel van An"
    assert passkeys.for_account(an) == []
    removed = events(memory_db, "passkey_removed")
    assert [(e.actor_id, e.subject_id, e.detail["name"]) for e in removed] == [(an, an, "Sleutel van An")]
    with memory_db.read() as session:
        assert not has_passkey(session, an) and second_factors(session, an) == ()


def test_passkeys_need_a_domain_as_rp_id(memory_db, store):
    assert usable_rp_id("localhost") and usable_rp_id("leerid.vlaanderen.be")
    assert not usable_rp_id("127.0.0.1") and not usable_rp_id("::1") and not usable_rp_id("")
    assert not PasskeyService(memory_db, store, "http://127.0.0.1:5000").available
    assert PasskeyService(memory_db, store, "https://leerid.example:8443").origin == "https://leerid.example:8443"


def test_the_passkey_module_never_reaches_flask():
    from tests.unit.test_layering import flask_chain

    chain = flask_chain(Path(__file__).resolve().parents[2] / "idp" / "passkeys.py")
    assert chain is None, " -> ".join(chain)


class FakeGuard:
    """idp.guard.Guard's three calls, recorded; `refuse` makes before() raise as a throttled account does."""

    def __init__(self, refuse: bool = False):
        self.calls: list[tuple[str, str]] = []
        self.refuse = refuse

    def before(self, kind: str, account: str, source: str, device=None, version: str = ""):
        if self.refuse:
            raise Throttled(30, "delay", kind)
        self.calls.append(("before", account))
        return (kind, account)

    def failed(self, attempt) -> bool:
        self.calls.append(("failed", attempt[1]))
        return False

    def succeeded(self, attempt) -> None:
        self.calls.append(("succeeded", attempt[1]))


def test_the_guard_judges_every_assertion_as_kind_hwk(memory_db, store, an):
    guard = FakeGuard()
    passkeys = PasskeyService(memory_db, store, ISSUER, guard)
    authenticator = SoftAuthenticator()
    register(passkeys, an, authenticator)
    passkeys.authenticate("interaction-1", authenticator.get(passkeys.authentication_options("interaction-1")))
    with pytest.raises(PasskeyRefused):
        passkeys.authenticate("interaction-1", authenticator.get(passkeys.authentication_options("interaction-1"),
                                                                 origin="https://leerid.example"))
    stranger = SoftAuthenticator()  # a passkey leerID does not know: counted under a name of its own
    stranger.user_handle = b64url(b"x")
    with pytest.raises(PasskeyRefused):
        passkeys.authenticate("interaction-1", stranger.get(passkeys.authentication_options("interaction-1")))
    assert guard.calls[:4] == [("before", an), ("succeeded", an), ("before", an), ("failed", an)]
    assert guard.calls[4][0] == "before" and guard.calls[4][1].startswith("?") and guard.calls[5][0] == "failed"


def test_a_throttled_passkey_is_refused_before_it_is_checked(memory_db, store, an):
    authenticator = SoftAuthenticator()
    register(PasskeyService(memory_db, store, ISSUER), an, authenticator)
    passkeys = PasskeyService(memory_db, store, ISSUER, FakeGuard(refuse=True))
    with pytest.raises(Throttled):
        passkeys.authenticate("interaction-1", authenticator.get(passkeys.authentication_options("interaction-1")))
    assert passkeys.for_account(an)[0].last_used_at is None


def test_at_most_ten_passkeys_per_person(passkeys, an):
    for n in range(MAX_PASSKEYS):
        register(passkeys, an, SoftAuthenticator(), f"Sleutel {n}")
    with pytest.raises(TooManyPasskeys):
        register(passkeys, an, SoftAuthenticator(), "Nog een")
    assert len(passkeys.for_account(an)) == MAX_PASSKEYS
