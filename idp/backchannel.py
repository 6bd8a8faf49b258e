"""OpenID Connect Back-Channel Logout 1.0: logout tokens, and their delivery from a queue in Redis.

`enqueue` only writes to Redis, so that no page waits on a platform. A worker (`leerid worker`, or the thread that
`leerid serve` starts) takes due jobs, POSTs a fresh logout token to the platform's backchannel_logout_uri (§2.5)
and retries a failure with backoff until it gives up. Jobs live in Redis: their ids in one sorted set by due time,
each job's data under a key of its own, all with a TTL, so they outlive any worker. Taking a job is one atomic
script that leases it (moves its due time past the lease), so two workers never take the same job at once. A
worker that dies mid-delivery leaves its job leased: it is due again when the lease ends (at least once; a second
logout is a success for the platform, §2.8).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import httpx

from clients.service import ClientRegistry
from clients.subjects import Subjects
from idp.audit import AuditLog
from idp.crypto import random_token
from idp.ephemeral import RedisStore
from idp.sessions import SessionStore, SsoSession
from idp.tokens import TokenService

EVENT = "http://schemas.openid.net/event/backchannel-logout"
TOKEN_TTL = 120  # a logout token is made just before each attempt, so it only has to outlive the POST
TIMEOUT = 5.0
LEASE = 60  # a taken job is due again after this, should its worker have died; longer than any attempt
STEPS = (1, 6, 24, 120, 720)  # the waits before each retry, in units of the base: 5 s 30 s 2 min 10 min 1 h at 5
DELIVERED = (200, 204)  # §2.8: 200, and 204 from frameworks that answer an empty 200 so
OUTCOME_TTL = 600  # how long a job's outcome stays readable for the logout page that queued it
# Take the first due job id and lease it, in one step: of any number of workers exactly one gets it.
CLAIM = """
local due = redis.call('zrangebyscore', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1)[1]
if due then redis.call('zadd', KEYS[1], ARGV[2], due) end
return due
"""
log = logging.getLogger(__name__)


def retry_delays(base: int) -> tuple[int, ...]:
    return tuple(base * step for step in STEPS)


@dataclass(frozen=True)
class Job:
    id: str
    client_id: str
    account_id: str
    sid: str | None = None  # None: every session of the person at the platform
    attempts: int = 0  # failed deliveries so far


class LogoutQueue:
    """The jobs in Redis. `clock` is wall-clock seconds, shared by every worker on every machine."""

    KIND = "backchannel-job"

    def __init__(self, store: RedisStore, delays: tuple[int, ...], clock: Callable[[], float] = time.time):
        self.store = store
        self.delays = delays
        self.clock = clock
        self.due = RedisStore.key("backchannel-due", "queue")
        self.ttl = sum(delays) + LEASE * (len(delays) + 1) + 3600  # outlives every job's last attempt

    def add(self, job: Job, delay: float = 0) -> Job:
        self.store.put(self.KIND, job.id, asdict(job), self.ttl)  # the data first: a taken id always has it
        self.store.raw(lambda r: r.pipeline().zadd(self.due, {job.id: self.clock() + delay})
                       .expire(self.due, self.ttl).execute())
        return job

    def claim(self) -> Job | None:
        """The first due job, leased to the caller; None when nothing is due."""
        now = self.clock()
        found = self.store.raw(lambda r: r.eval(CLAIM, 1, self.due, now, now + LEASE))
        if found is None:
            return None
        job_id = found.decode() if isinstance(found, bytes) else found
        data = self.store.get(self.KIND, job_id)
        if data is None:  # its data expired: nothing left to send
            self.store.raw(lambda r: r.zrem(self.due, job_id))
            return None
        return Job(**data)

    def finish(self, job: Job) -> None:
        self.store.raw(lambda r: r.zrem(self.due, job.id))
        self.store.delete(self.KIND, job.id)

    def retry(self, job: Job) -> int | None:
        """Count a failed attempt: the wait before the next one, or None when the job is given up (and gone)."""
        if job.attempts >= len(self.delays):
            self.finish(job)
            return None
        wait = self.delays[job.attempts]
        self.add(Job(job.id, job.client_id, job.account_id, job.sid, job.attempts + 1), wait)
        return wait

    def report(self, job: Job, outcome: str) -> None:
        """What became of the job's last attempt ("done" or "unreachable"), for the logout page's status."""
        self.store.put("backchannel-outcome", job.id, {"outcome": outcome}, OUTCOME_TTL)

    def outcomes(self, job_ids: list[str]) -> dict[str, str]:
        """The reported outcome of each of these jobs that has one, in one round trip."""
        keys = [RedisStore.key("backchannel-outcome", job_id) for job_id in job_ids]
        found = self.store.raw(lambda r: r.mget(keys)) if keys else []
        return {job_id: json.loads(raw)["outcome"] for job_id, raw in zip(job_ids, found) if raw}

    def pending(self) -> list[tuple[Job, float]]:
        """Every queued job with its due time, soonest first (for operators and tests)."""
        entries = self.store.raw(lambda r: r.zrange(self.due, 0, -1, withscores=True))
        found = []
        for job_id, due in entries:
            data = self.store.get(self.KIND, job_id.decode() if isinstance(job_id, bytes) else job_id)
            if data is not None:
                found.append((Job(**data), due))
        return found


class BackchannelLogout:
    """Who is told about which logout, the logout token (§2.4), and its delivery (§2.5)."""

    def __init__(self, queue: LogoutQueue, clients: ClientRegistry, subjects: Subjects, tokens: TokenService,
                 audit: AuditLog, http: httpx.Client | None = None):
        self.queue = queue
        self.clients = clients
        self.subjects = subjects
        self.tokens = tokens
        self.audit = audit
        self.http = http or httpx.Client(timeout=TIMEOUT, follow_redirects=False, headers={"User-Agent": "leerID"})
        self.sweep: Callable[[], list[SsoSession]] | None = None  # SSO sessions past their deadline, each claimed once

    # --- what to tell ---

    def enqueue(self, client_id: str, account_id: str, sid: str | None = None) -> Job | None:
        """A logout for the platform, when it registered a backchannel_logout_uri (else None): of that session
        (`sid`), or of every session of the person there."""
        client = self.clients.find(client_id)
        if client is None or not client.backchannel_logout_uri:
            return None
        return self.queue.add(Job(random_token(16), client_id, account_id, sid))

    def session_ended(self, session: SsoSession) -> list[Job]:
        """Every platform of the SSO session, the one that asked for the logout too (the spec allows it); the jobs
        queued (the logout page follows them)."""
        return [job for client_id in session.clients
                for account_id in SessionStore.people_at(session, client_id)  # and whom they acted for there
                if (job := self.enqueue(client_id, account_id, session.sid)) is not None]

    # --- the token and its delivery ---

    def logout_token(self, client, account_id: str, sid: str | None) -> str:
        """Signed like the platform's ID tokens; never a nonce, and typ logout+jwt against cross-JWT confusion."""
        now = int(time.time())
        claims = {"iss": self.tokens.issuer, "aud": client.client_id, "iat": now, "exp": now + TOKEN_TTL,
                  "jti": random_token(16), "events": {EVENT: {}}, "sub": self.subjects.for_client(client, account_id)}
        if sid:
            claims["sid"] = sid
        return self.tokens.sign(claims, client.id_token_alg, typ="logout+jwt")

    def post(self, uri: str, token: str) -> int | str:
        """The answer's status, or the name of the error; the body is never read."""
        try:
            with self.http.stream("POST", uri, data={"logout_token": token}) as response:
                return response.status_code
        except httpx.HTTPError as exc:
            return type(exc).__name__

    def deliver_next(self) -> bool:
        """Take one due job and try it; whether there was one."""
        job = self.queue.claim()
        if job is None:
            return False
        client = self.clients.find(job.client_id)
        if client is None or not client.backchannel_logout_uri:  # removed since: nobody left to tell
            self.queue.finish(job)
            return True
        outcome = self.post(client.backchannel_logout_uri, self.logout_token(client, job.account_id, job.sid))
        attempt = {"attempt": job.attempts + 1, "session": job.sid is not None}
        if outcome in DELIVERED:
            self.queue.finish(job)
            self.queue.report(job, "done")
            self.audit.record("backchannel_logout_sent", subject_id=job.account_id, client_id=job.client_id,
                              detail=attempt)
            return True
        wait = self.queue.retry(job)
        self.queue.report(job, "unreachable")  # for now: a later retry may still get through
        failed = {"status" if isinstance(outcome, int) else "error": outcome}
        failed.update({"retry_in": wait} if wait is not None else {"gave_up": True})
        self.audit.record("backchannel_logout_failed", subject_id=job.account_id, client_id=job.client_id,
                          detail=attempt | failed)
        log.info("back-channel logout to %s failed (%s); %s", job.client_id, outcome,
                 f"retry in {wait} s" if wait is not None else "given up")
        return True

    # --- the worker ---

    def run(self, stop: threading.Event, poll: float = 1.0) -> None:
        """Deliver due jobs until `stop` is set, and every `poll` seconds end the SSO sessions that timed out (their
        platforms are told as after a click). A failing Redis or database pauses the loop, never ends it."""
        swept = 0.0
        while not stop.is_set():
            try:
                if self.sweep is not None and time.monotonic() - swept >= poll:
                    swept = time.monotonic()
                    for session in self.sweep():
                        self.session_ended(session)
                busy = self.deliver_next()
            except Exception:  # a leased job comes back; the worker carries on
                log.exception("back-channel logout worker")
                busy = False
            if not busy:
                stop.wait(poll)

    def start(self, stop: threading.Event, threads: int = 1, poll: float = 1.0) -> list[threading.Thread]:
        workers = [threading.Thread(target=self.run, args=(stop, poll), name=f"backchannel-{n}", daemon=True)
                   for n in range(threads)]
        for worker in workers:
            worker.start()
        return workers
