"""OpenID Connect Back-Channel Logout 1.0 against a live provider (DESIGN.md HTTP: back-channel logout): after
RP-initiated logout every platform of the session gets a logout token at its backchannel_logout_uri (§2.5), and
after the person withdraws their consent in Mijn leerID that platform does (no sid: all their sessions there). The
token verifies with /jwks and carries iss, aud, iat, exp, jti, events, the ID token's sub (and sid), never a nonce
(§2.4). A platform that fails is tried again later; the logout page never waits for one.

`leerid serve` runs the worker in a thread, so the test provider delivers by itself.

Clients of this file (each test registers its own, listening at a path of its own on a local receiver):
  listening   -- confidential, school-agreement, --backchannel-logout-uri
  consented   -- confidential, --basis consent, releases given_name, --backchannel-logout-uri
  silent      -- confidential, no back-channel logout URI
"""
from __future__ import annotations

import secrets
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import pytest
from joserfc import jwt

from tests.live import free_port
from tests.local_http import Documents, Posted
from tests.protocol.helpers import (
    discovery,
    form_with_button,
    sign_in,
    verify_id_token,
    verify_jwt,
)
from tests.protocol.test_mijn import mijn, signed_in_browser, withdraw_form

EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture(scope="module")
def receiver():
    with Documents() as documents:
        yield documents


@pytest.fixture
def person(provider, school) -> dict:
    return provider.user(school=school)


def listening(provider, receiver: Documents, *args: str, statuses: tuple[int, ...] = (), delay: float = 0.0):
    """A platform whose back-channel logout URI is a fresh path on the receiver: (client, path)."""
    path = f"/logout/{secrets.token_hex(6)}"
    return provider.client(*args, "--backchannel-logout-uri", receiver.receiver(path, *statuses, delay=delay)), path


def logout(provider, browser, id_token: str):
    return browser.http.get(f"{discovery(provider)['end_session_endpoint']}?{urlencode({'id_token_hint': id_token})}")


def logout_token(provider, posted: Posted, client: dict) -> dict:
    """The logout token of a back-channel POST, checked as a platform must (§2.6); its claims."""
    assert posted.headers["content-type"] == "application/x-www-form-urlencoded", posted.headers
    form = parse_qs(posted.body.decode())
    assert list(form) == ["logout_token"] and len(form["logout_token"]) == 1, form
    claims = verify_jwt(provider, form["logout_token"][0], ["ES256"], typ="logout+jwt").claims
    jwt.JWTClaimsRegistry(leeway=30, iss={"essential": True, "value": provider.issuer},
                          aud={"essential": True, "value": client["client_id"]}, iat={"essential": True},
                          exp={"essential": True}, jti={"essential": True}).validate(claims)
    assert claims["events"] == {EVENT: {}}, claims
    assert "nonce" not in claims, "§2.4: a logout token never carries a nonce"
    assert "sub" in claims or "sid" in claims
    return claims


def provider_queue(provider):
    """The provider's back-channel logout queue, in its Redis (the embedded one under its var dir)."""
    from idp.backchannel import LogoutQueue, retry_delays
    from idp.ephemeral import RedisStore, connect

    store = RedisStore(connect(provider.env.get("LEERID_REDIS_URL"), Path(provider.env["LEERID_VAR_DIR"])))
    return LogoutQueue(store, retry_delays(1))


def test_discovery_advertises_back_channel_logout_with_sessions(provider):
    meta = discovery(provider)
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True


def test_rp_initiated_logout_tells_every_platform_of_the_session(provider, browser, receiver, person):
    first, first_path = listening(provider, receiver)
    second, second_path = listening(provider, receiver)
    silent = provider.client()
    logins = {"first": sign_in(provider, browser, first, person), "second": sign_in(provider, browser, second, None)}
    sign_in(provider, browser, silent, None)
    assert logout(provider, browser, logins["first"].id_token).status_code == 200
    for name, client, path in (("first", first, first_path), ("second", second, second_path)):
        posts = receiver.wait_for_posts(path)
        assert len(posts) == 1, f"{name}: {len(posts)} logout POSTs"
        claims = logout_token(provider, posts[0], client)
        id_token = verify_id_token(provider, logins[name].id_token, client["client_id"])
        assert claims["sid"] == id_token["sid"], name
        assert claims["sub"] == id_token["sub"], name
    time.sleep(1.5)  # the worker's next rounds send nothing more
    assert len(receiver.posted(first_path)) == 1 and len(receiver.posted(second_path)) == 1


def test_withdrawing_consent_in_mijn_leerid_logs_the_person_out_at_that_platform(provider, receiver, person):
    consented, path = listening(provider, receiver, "--basis", "consent", "--attribute", "given_name")
    with signed_in_browser(provider, person) as browser:
        login = sign_in(provider, browser, consented, None, scope="openid profile")
        apps = mijn(provider, browser, "/apps")
        asked = browser.submit(apps, withdraw_form(apps))
        done = browser.send(asked, form_with_button(asked, "confirm", "yes"), button=("confirm", "yes"))
        assert done.status_code == 303
    [posted] = receiver.wait_for_posts(path)
    claims = logout_token(provider, posted, consented)
    assert claims["sub"] == verify_id_token(provider, login.id_token, consented["client_id"])["sub"]
    assert "sid" not in claims, "every session of the person at the platform ends"


def test_the_logout_page_never_waits_for_a_platform(provider, browser, receiver, person):
    slow, path = listening(provider, receiver, delay=3)
    login = sign_in(provider, browser, slow, person)
    started = time.monotonic()
    assert logout(provider, browser, login.id_token).status_code == 200
    assert time.monotonic() - started < 1.5
    assert len(receiver.wait_for_posts(path)) == 1


def test_a_refused_logout_is_sent_again_later(provider, browser, receiver, person):
    platform, path = listening(provider, receiver, statuses=(503, 200))
    login = sign_in(provider, browser, platform, person)
    logout(provider, browser, login.id_token)
    first, again = receiver.wait_for_posts(path, 2, timeout=30)
    base = int(provider.env.get("LEERID_BACKCHANNEL_RETRY_SECONDS", 5))
    assert again.at - first.at >= base - 0.5, "the retry waits for its backoff"
    claims = [logout_token(provider, p, platform) for p in (first, again)]
    assert claims[0]["sid"] == claims[1]["sid"] and claims[0]["jti"] != claims[1]["jti"]
    time.sleep(1.5)
    assert len(receiver.posted(path)) == 2, "delivered: not sent a third time"


def test_an_unreachable_platform_stays_queued_for_a_later_attempt(provider, browser, person):
    uri = f"http://127.0.0.1:{free_port()}/logout"  # nothing listens there
    platform = provider.client("--backchannel-logout-uri", uri)
    login = sign_in(provider, browser, platform, person)
    started = time.monotonic()
    assert logout(provider, browser, login.id_token).status_code == 200
    assert time.monotonic() - started < 1.5
    queue, deadline = provider_queue(provider), time.time() + 20
    while time.time() < deadline:
        jobs = [(job, due) for job, due in queue.pending() if job.client_id == platform["client_id"]]
        if jobs and jobs[0][0].attempts:
            break
        time.sleep(0.2)
    [(job, due)] = jobs
    assert job.attempts >= 1, "the worker tried it"
    assert due > time.time(), "and put it back for later"
    assert job.sid == verify_id_token(provider, login.id_token, platform["client_id"])["sid"]


def test_logging_out_tells_the_platform_about_the_person_acted_for(provider, receiver, school):
    from tests.protocol.helpers import Browser
    from tests.protocol.test_acting import log_in_as

    child, parent = provider.user(school=school), provider.user(role="parent")
    provider.cli("mandates", "grant", "--from", child["username"], "--to", parent["username"], "--type", "parent")
    platform, path = listening(provider, receiver, "--scope", "profile")
    with Browser(provider) as browser:
        claims, token = log_in_as(provider, browser, platform, parent, act_as=child["username"], scope="openid")
        assert "act" in claims
        assert logout(provider, browser, token["id_token"]).status_code == 200
    subs = set()
    for _ in range(20):  # the parent's own sub and the child's, each in a logout token of its own
        subs = {logout_token(provider, posted, platform)["sub"] for posted in receiver.posted(path)}
        if claims["sub"] in subs:
            break
        time.sleep(0.25)
    assert claims["sub"] in subs, "the platform hears that the child's session there ended too"


def test_revoking_a_mandate_logs_the_child_out_where_the_parent_acted(provider, receiver, school):
    from tests.protocol.helpers import Browser
    from tests.protocol.test_acting import log_in_as

    child, parent = provider.user(school=school), provider.user(role="parent")
    mandate = provider.cli("mandates", "grant", "--from", child["username"], "--to", parent["username"],
                           "--type", "parent")
    platform, path = listening(provider, receiver, "--scope", "profile")
    with Browser(provider) as browser:
        claims, _ = log_in_as(provider, browser, platform, parent, act_as=child["username"], scope="openid")
    provider.cli("mandates", "revoke", str(mandate["id"]))
    [posted] = receiver.wait_for_posts(path)
    ended = logout_token(provider, posted, platform)
    assert ended["sub"] == claims["sub"] and "sid" not in ended, "every delegated session for the child there"


def test_a_mandate_that_ended_is_swept_and_the_platform_told(provider, receiver, school):
    from idp.db import Database
    from mandates.store import Mandate
    from tests.protocol.helpers import Browser
    from tests.protocol.test_acting import log_in_as

    child, parent = provider.user(school=school), provider.user(role="parent")
    mandate = provider.cli("mandates", "grant", "--from", child["username"], "--to", parent["username"],
                           "--type", "parent")
    platform, path = listening(provider, receiver, "--scope", "profile")
    with Browser(provider) as browser:
        claims, _ = log_in_as(provider, browser, platform, parent, act_as=child["username"], scope="openid")
    db = Database(provider.env["LEERID_DATABASE_URL"])
    try:
        with db.transaction() as session:
            session.get(Mandate, mandate["id"]).valid_until = date.today() - timedelta(days=1)
    finally:
        db.engine.dispose()
    swept = provider.cli("mandates", "sweep")["expired"]
    assert mandate["id"] in [m["id"] for m in swept]
    [posted] = receiver.wait_for_posts(path)
    assert logout_token(provider, posted, platform)["sub"] == claims["sub"]
    assert mandate["id"] not in [m["id"] for m in provider.cli("mandates", "sweep")["expired"]], "once"
