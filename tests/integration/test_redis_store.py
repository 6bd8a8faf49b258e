"""RedisStore and the stores built on it, against the real configured Redis (STYLE.md: short-lived state lives in
Redis with a TTL on every key; codes are consumed with GETDEL; nonces, jti and TOTP steps are written with SET NX;
SECURITY.md: a Redis failure fails closed)."""
from __future__ import annotations

import secrets

import pytest
import redis

from idp.codes import AuthorizationCode, CodeStore
from idp.ephemeral import RedisStore
from idp.errors import StoreUnavailable
from idp.interactions import InteractionStore
from idp.sessions import SessionStore
from idp.tokens import AuthContext
from tests.live import at_once

THREADS = 20


def ident() -> str:
    return f"test-{secrets.token_hex(8)}"  # unique on a Redis other runs share


def ttl_of(store: RedisStore, kind: str, name: str) -> int:
    return store.redis.ttl(RedisStore.key(kind, name))


def assert_has_ttl(store: RedisStore, kind: str, name: str, most: int) -> None:
    ttl = ttl_of(store, kind, name)
    assert ttl != -1, f"{kind} key written without a TTL"
    assert ttl != -2, f"{kind} key missing"
    assert 0 < ttl <= most, ttl


# --- keys ---------------------------------------------------------------------------------------------------------


def test_keys_are_hashed_and_namespaced(store):
    raw = "a-raw-authorization-code"
    key = RedisStore.key("code", raw)
    assert key.startswith("leerid:code:")
    assert raw not in key
    store.put("code", raw, {"x": 1}, 60)
    assert store.redis.exists(key)
    assert not store.redis.exists(raw)
    assert not any(raw.encode() in k for k in store.redis.keys("leerid:code:*"))


def test_put_all_writes_each_value_with_its_own_ttl(store):
    first, second = ident(), ident()
    store.put_all([("code-grant", first, {"grant_id": "g"}, 900), ("code", second, {"v": 2}, 60)])
    assert store.get("code-grant", first) == {"grant_id": "g"} and store.get("code", second) == {"v": 2}
    assert 60 < store.redis.ttl(RedisStore.key("code-grant", first)) <= 900
    assert 0 < store.redis.ttl(RedisStore.key("code", second)) <= 60


# --- consume: GETDEL, single use -----------------------------------------------------------------------------------


def test_consume_returns_the_value_once(store):
    name = ident()
    store.put("code", name, {"v": 1}, 60)
    assert store.consume("code", name) == {"v": 1}
    assert store.consume("code", name) is None


def test_consume_is_single_use_under_concurrency(store):
    for _ in range(3):
        name = ident()
        store.put("code", name, {"v": name}, 60)
        results = at_once(THREADS, lambda name=name: store.consume("code", name))
        winners = [r for r in results if r is not None]
        assert winners == [{"v": name}], f"{len(winners)} of {THREADS} callers got the value"


# --- add: SET NX ----------------------------------------------------------------------------------------------------


def test_add_is_set_nx(store):
    name = ident()
    assert store.add("nonce", name, {"first": True}, 90) is True
    assert store.add("nonce", name, {"first": False}, 90) is False
    assert store.get("nonce", name) == {"first": True}, "the second add must not overwrite"
    assert_has_ttl(store, "nonce", name, 90)


def test_add_has_one_winner_under_concurrency(store):
    name = ident()
    results = at_once(THREADS, lambda: store.add("jti", name, {}, 90))
    assert results.count(True) == 1, results


def test_add_after_expiry_succeeds_again(store):
    name = ident()
    assert store.add("nonce", name, {}, 90)
    store.redis.delete(RedisStore.key("nonce", name))
    assert store.add("nonce", name, {}, 90)


# --- every key has a TTL --------------------------------------------------------------------------------------------


def test_put_sets_a_ttl(store):
    name = ident()
    store.put("interaction", name, {}, 600)
    assert_has_ttl(store, "interaction", name, 600)


def test_get_with_touch_slides_the_ttl(store):
    name = ident()
    store.put("session", name, {"a": 1}, 100)
    store.redis.expire(RedisStore.key("session", name), 10)
    assert store.get("session", name, touch=3600) == {"a": 1}
    assert 100 < ttl_of(store, "session", name) <= 3600


def test_get_without_touch_leaves_the_ttl(store):
    name = ident()
    store.put("session", name, {"a": 1}, 100)
    store.get("session", name)
    assert_has_ttl(store, "session", name, 100)


def test_count_opens_a_window_with_a_ttl_and_incr_keeps_it(store):
    name = ident()
    assert store.count("ratelimit", name, 900)[0] == 1
    assert store.count("ratelimit", name, 900)[0] == 2
    assert_has_ttl(store, "ratelimit", name, 900)
    count, left = store.count("ratelimit", name, 900)
    assert count == 3 and 0 < left <= 900


def test_count_under_concurrency_counts_every_call(store):
    name = ident()
    results = at_once(THREADS, lambda: store.count("ratelimit", name, 900)[0])
    assert sorted(results) == list(range(1, THREADS + 1))
    assert_has_ttl(store, "ratelimit", name, 900)


def test_uncount_keeps_the_ttl(store):
    name = ident()
    store.count("ratelimit", name, 900)
    store.count("ratelimit", name, 900)
    store.uncount("ratelimit", name)
    assert_has_ttl(store, "ratelimit", name, 900)


def test_uncount_of_a_closed_window_leaves_no_key_without_ttl(store):
    """The window may close between a login's count and its uncount: DECR must not then create a key
    that never expires (STYLE.md: every Redis key has a TTL)."""
    name = ident()
    try:
        store.uncount("ratelimit", name)
        assert ttl_of(store, "ratelimit", name) != -1, "a counter key without a TTL"
    finally:
        store.redis.delete(RedisStore.key("ratelimit", name))  # leave no immortal key on a shared Redis


def test_session_store_keys_have_ttls(store):
    sessions = SessionStore(store, ttl=8 * 3600, max_age=24 * 3600)
    cookie, session = sessions.create("account-1", "urn:leerid:acr:pwd", ["pwd"])
    assert_has_ttl(store, "session", cookie, 8 * 3600)
    sessions.add_client(cookie, session, "client-1")
    assert_has_ttl(store, "session", cookie, 8 * 3600)
    assert sessions.get(cookie).clients == ["client-1"]
    assert sessions.end(cookie).account_id == "account-1"
    assert sessions.get(cookie) is None


def test_session_cookie_is_not_the_sid(store):
    cookie, session = SessionStore(store, ttl=60, max_age=3600).create("account-1", "acr", ["pwd"])
    assert cookie != session.sid


def test_interaction_store_keys_have_ttls_and_binding(store):
    interactions = InteractionStore(store, 600)
    started = interactions.start({"client_id": "c"}, "browser-a", "login")
    assert_has_ttl(store, "interaction", started.uid, 600)
    assert interactions.load(started.uid, "browser-a").params == {"client_id": "c"}
    assert interactions.load(started.uid, "browser-b") is None, "bound to the browser that started it"
    interactions.finish(started)
    assert interactions.load(started.uid, "browser-a") is None


def test_code_store_keys_have_ttls_and_codes_are_single_use(store):
    codes = CodeStore(store, tokens=None, ttl=60)
    code = secrets.token_urlsafe(32)
    context = AuthContext(account_id="a", sub="s", client_id="c", auth_time=1, acr="acr", amr=["pwd"],
                          grant_id=ident())
    codes.save(code, AuthorizationCode(client_id="c", redirect_uri="https://rp.example/cb", scope="openid",
                                       nonce=None, code_challenge=None, code_challenge_method=None, context=context))
    assert_has_ttl(store, "code", code, 60)
    assert_has_ttl(store, "code-grant", code, 15 * 60)
    results = at_once(THREADS, lambda: codes.store.consume("code", code))
    assert sum(r is not None for r in results) == 1


def test_nonce_store_is_per_client(store):
    codes = CodeStore(store, tokens=None, ttl=60)
    nonce = ident()
    assert codes.remember_nonce("client-a", nonce, 90)
    assert not codes.remember_nonce("client-a", nonce, 90)
    assert codes.remember_nonce("client-b", nonce, 90)
    assert codes.nonce_used("client-a", nonce)
    assert_has_ttl(store, "nonce", f"client-a\x00{nonce}", 90)


# --- fail closed ----------------------------------------------------------------------------------------------------


def test_unreachable_redis_fails_closed():
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from tests.live import free_port

    dead = RedisStore(redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1, socket_timeout=1,
                                  retry=Retry(NoBackoff(), 0)))
    for call in (lambda: dead.ping(), lambda: dead.consume("code", "x"), lambda: dead.add("jti", "x", {}, 60),
                 lambda: dead.count("ratelimit", "x", 60), lambda: dead.get("session", "x")):
        with pytest.raises(StoreUnavailable):
            call()
