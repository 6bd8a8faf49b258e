"""Signing key rotation (OIDC Core §10.1.1, DESIGN.md `leerid keys rotate`): a new key is published before it
signs, the old one stays published while its tokens live, and every token keeps verifying.

Conformance suite, Dynamic OP: oidcc-server-rotate-keys.

`leerid keys rotate` changes the keys of the whole (per-worker) provider, so these tests never compare kids
with those of other tests; they only compare before and after their own rotation. The switch to the new key
(about 65 s later) is not waited for: that minute is more than the CI budget allows for one check.

Clients of this file:
  es256 -- confidential, default (ES256 ID tokens)
  rs256 -- confidential, --id-token-alg RS256
"""
from __future__ import annotations

import base64
import json
import time

import pytest
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from tests.protocol.helpers import (
    jwt_header,
    sign_in,
    userinfo,
    verify_id_token,
)

ES256 = ()
RS256 = ("--id-token-alg", "RS256")
PUBLISH_WITHIN = 120  # the test provider reloads its keys every 2 s; generous for a loaded CI machine


def published_kids(provider) -> set[str]:
    return {key["kid"] for key in provider.http.get("/jwks").json()["keys"]}


def wait_for(condition, within: float, interval: float = 1.0):
    """Poll `condition` until it returns something true; fail after `within` seconds (not a timing assertion:
    the deadline only keeps a broken provider from hanging the suite)."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {within} s: {condition.__doc__ or condition}")
        time.sleep(interval)


@pytest.fixture(scope="module")
def es256(provider):
    return provider.client(*ES256)


@pytest.fixture(scope="module")
def rs256(provider):
    return provider.client(*RS256)


def test_rotation_publishes_new_keys_and_keeps_the_old(provider, browser, user, es256, rs256):
    before_es = sign_in(provider, browser, es256, user)
    before_rs = sign_in(provider, browser, rs256, None)
    old_kids = published_kids(provider)
    assert jwt_header(before_es.id_token)["kid"] in old_kids
    assert jwt_header(before_rs.id_token)["kid"] in old_kids

    new_kids = set(provider.cli("keys", "rotate")["kids"])
    assert len(new_kids) == 2 and not new_kids & old_kids

    def new_keys_published():
        """the rotated-in keys appear in /jwks"""
        return new_kids <= published_kids(provider)

    wait_for(new_keys_published, PUBLISH_WITHIN)
    assert old_kids <= published_kids(provider), "the old keys stay published"
    algs = {k["kid"]: k["alg"] for k in provider.http.get("/jwks").json()["keys"]}
    assert {algs[kid] for kid in new_kids} == {"ES256", "RS256"}

    # tokens signed before the rotation still verify, with the explicit algorithm of their client
    verify_id_token(provider, before_es.id_token, es256["client_id"], "ES256")
    verify_id_token(provider, before_rs.id_token, rs256["client_id"], "RS256")
    assert userinfo(provider, before_es.access_token).status_code == 200

    # logins go on meanwhile, and their tokens verify against the published keys
    during = sign_in(provider, browser, es256, None, prompt="none")
    assert jwt_header(during.id_token)["kid"] in published_kids(provider)
    verify_id_token(provider, during.id_token, es256["client_id"], "ES256", nonce=during.nonce)
    assert userinfo(provider, during.access_token).status_code == 200


def test_token_signed_with_an_unpublished_key_is_refused(provider, browser, user, es256):
    """The provider verifies with its own published keys only, whatever kid the token names."""
    login = sign_in(provider, browser, es256, user)
    payload = json.loads(base64.urlsafe_b64decode(login.access_token.split(".")[1] + "=="))
    stranger = ECKey.generate_key("P-256", private=True)
    forged = jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": jwt_header(login.access_token)["kid"]}, payload,
                        stranger, algorithms=["ES256"])
    assert userinfo(provider, forged).status_code == 401
    with pytest.raises(JoseError):
        verify_id_token(provider, forged, es256["client_id"])
