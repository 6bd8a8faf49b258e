"""Authorization codes are single-use (RFC 6749 §4.1.2, §10.5; RFC 9700 §4.5; SECURITY.md): a replay gets
invalid_grant and revokes what the first redemption issued; of parallel redemptions exactly one wins.

Conformance suite, Basic OP: oidcc-codereuse. (oidcc-codereuse-30seconds waits 30 s before the replay; leerID
consumes a code with GETDEL and keeps the grant marker 15 minutes, so the wait adds nothing but half a minute of
CI time, and is left out.)

Clients of this file:
  offline -- confidential, --scope openid --scope profile --scope offline_access (so that a refresh token is issued
             too, and its revocation can be seen)
"""
from __future__ import annotations

import httpx
import pytest

from tests.live import at_once
from tests.protocol.helpers import (
    assert_oauth_error,
    introspect,
    redeem,
    refresh,
    sign_in,
    userinfo,
)

OFFLINE = ("--scope", "openid", "--scope", "profile", "--scope", "offline_access")
SCOPE = "openid profile offline_access"


@pytest.fixture(scope="module")
def offline(provider):
    return provider.client(*OFFLINE)


def assert_revoked(provider, client: dict, tokens: dict) -> None:
    assert userinfo(provider, tokens["access_token"]).status_code == 401
    assert introspect(provider, client, tokens["access_token"]).json() == {"active": False}
    assert_oauth_error(refresh(provider, client, tokens["refresh_token"]), "invalid_grant")


def test_replayed_code_is_refused_and_revokes_the_first_tokens(provider, browser, user, offline):
    login = sign_in(provider, browser, offline, user, scope=SCOPE)  # the first redemption, by Authlib
    assert userinfo(provider, login.access_token).status_code == 200
    replay = redeem(provider, offline, login.callback.code, login.verifier)
    assert_oauth_error(replay, "invalid_grant")
    assert_revoked(provider, offline, login.token)


def test_code_redeemed_by_another_client_is_burnt(provider, browser, user, offline):
    thief = provider.client(*OFFLINE, redirect_uri=offline["redirect_uri"])
    login = sign_in(provider, browser, offline, user, scope=SCOPE, redeem=False)
    assert_oauth_error(redeem(provider, thief, login.callback.code, login.verifier), "invalid_grant")
    assert_oauth_error(redeem(provider, offline, login.callback.code, login.verifier), "invalid_grant")


def test_parallel_redemptions_have_exactly_one_winner(provider, browser, user, offline):
    n = 10
    login = sign_in(provider, browser, offline, user, scope=SCOPE, redeem=False)
    def redeem_at_once() -> httpx.Response:
        with httpx.Client(base_url=provider.issuer, timeout=60, trust_env=False) as http:
            return http.post("/token", data={
                "grant_type": "authorization_code", "code": login.callback.code,
                "redirect_uri": offline["redirect_uri"], "code_verifier": login.verifier,
            }, auth=(offline["client_id"], offline["client_secret"]))

    results = at_once(n, redeem_at_once)
    winners = [r for r in results if r.status_code == 200]
    losers = [r for r in results if r.status_code != 200]
    assert len(winners) == 1, [r.status_code for r in results]
    assert all(r.status_code == 400 and r.json()["error"] == "invalid_grant" for r in losers), \
        [(r.status_code, r.text[:100]) for r in losers]
    # the losers were replays: what the winner got is revoked
    assert_revoked(provider, offline, winners[0].json())
