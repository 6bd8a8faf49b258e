"""ChangeFeed: every process hears at once which platforms changed, so that its caches never serve a stale one.

A commit that changed a platform (its settings, release policy or a school's activation of it) publishes the platforms'
client ids on one Redis channel; each process follows the channel in a thread and drops them from its caches. A
process that lost the channel (Redis restarted, a fail-over) drops everything it cached, since it may have missed
news; the caches' time-outs (LEERID_CLIENT_CACHE_SECONDS) remain the last resort.
"""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable

import redis

from idp.ephemeral import RedisStore
from idp.errors import StoreUnavailable

CHANNEL = "leerid:changed"
log = logging.getLogger("leerid")


class ChangeFeed:
    def __init__(self, store: RedisStore):
        self.store = store

    def publish(self, client_ids: Iterable[str]) -> None:
        """After the commit: a Redis failure is logged, not raised (what was written stays written; the other
        processes' caches expire on their own)."""
        message = json.dumps(sorted(client_ids))
        try:
            self.store.raw(lambda r: r.publish(CHANNEL, message))
        except StoreUnavailable:
            log.warning("platform change not published: Redis is unreachable")

    def follow(self, forget: Callable[[str | None], None], stop: threading.Event) -> threading.Thread:
        """A thread calling forget(client_id) for each change heard, and forget(None) whenever it (re)subscribes."""
        def run() -> None:
            while not stop.is_set():
                try:
                    pubsub = self.store.redis.pubsub(ignore_subscribe_messages=True)
                    pubsub.subscribe(CHANNEL)
                    forget(None)
                    while not stop.is_set():
                        message = pubsub.get_message(timeout=1.0)
                        if message and message.get("type") == "message":
                            for client_id in json.loads(message["data"]):
                                forget(client_id)
                except (redis.ConnectionError, redis.TimeoutError, ValueError):
                    forget(None)
                    stop.wait(1.0)

        thread = threading.Thread(target=run, name="change-feed", daemon=True)
        thread.start()
        return thread
