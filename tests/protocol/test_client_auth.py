"""Client authentication at the token endpoint (RFC 6749 §2.3, OIDC Core §9, RFC 7523) and client_credentials.

Conformance suite, Basic OP: oidcc-server (client_secret_basic), oidcc-server-client-secret-post;
Dynamic OP: private_key_jwt, oidcc-ensure-client-assertion-with-iss-aud-succeeds.
"""
from __future__ import annotations

import base64
import json
import secrets
import time

import pytest
from authlib.integrations.base_client import OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from tests.protocol.helpers import (
    assert_oauth_error,
    b64url,
    discovery,
    introspect,
    relying_party,
    sign_in,
    token_request,
    verify_id_token,
    verify_jwt,
)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

# Clients of this file:
#   basic   -- client_secret_basic (the default)
#   post    -- --token-auth-method client_secret_post
#   jwt     -- --token-auth-method private_key_jwt --jwks FILE (an ES256 key made per test)
#   rsa_jwt -- as jwt, with an RSA key (RS256 and PS256 assertions)
#   public  -- --public
BASIC = ()
POST = ("--token-auth-method", "client_secret_post")
PUBLIC = ("--public",)


class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """Authlib's private_key_jwt client authentication, with assertions that live one minute.

    Fresh claims per assertion, so that Authlib adds a new jti each time.
    """

    @property
    def claims(self):
        return {"exp": int(time.time()) + 60}

    @claims.setter
    def claims(self, value):
        pass


def private_key_jwt_args(tmp_path, key) -> tuple[str, ...]:
    path = tmp_path / f"jwks-{secrets.token_hex(4)}.json"
    path.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    return ("--token-auth-method", "private_key_jwt", "--jwks", str(path))


@pytest.fixture(scope="module")
def basic(provider):
    return provider.client(*BASIC)


@pytest.fixture(scope="module")
def post(provider):
    return provider.client(*POST)


@pytest.fixture(scope="module")
def ec_key():
    return ECKey.generate_key("P-256", private=True, parameters={"kid": secrets.token_hex(8)})


@pytest.fixture(scope="module")
def jwt_client(provider, tmp_path_factory, ec_key):
    client = provider.client(*private_key_jwt_args(tmp_path_factory.mktemp("jwks"), ec_key))
    assert client.get("client_secret") is None
    return client


@pytest.fixture(scope="module")
def token_endpoint(provider):
    return discovery(provider)["token_endpoint"]


def assertion(client_id: str, key, audience: str, alg: str = "ES256", header: dict | None = None,
              **claims) -> str:
    now = int(time.time())
    payload = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now, "exp": now + 60,
               "jti": secrets.token_urlsafe(16)}
    payload.update(claims)
    return jwt.encode(dict({"alg": alg}, **(header or {})), payload, key, algorithms=[alg])


def client_credentials_with_assertion(provider, client_assertion: str, **extra) -> object:
    data = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion}
    data.update(extra)
    return provider.http.post("/token", data=data)


def assert_invalid_client(response) -> None:
    assert_oauth_error(response, "invalid_client", (400, 401))


# --- client_secret_basic and client_secret_post -----------------------------------------------------------------


def test_client_secret_basic_with_authlib(provider, browser, user, basic):
    login = sign_in(provider, browser, basic, user, auth_method="client_secret_basic")
    verify_id_token(provider, login.id_token, basic["client_id"], nonce=login.nonce)


def test_client_secret_post_with_authlib(provider, browser, user, post):
    login = sign_in(provider, browser, post, user, auth_method="client_secret_post")
    verify_id_token(provider, login.id_token, post["client_id"], nonce=login.nonce)


def test_wrong_secret_by_basic_is_401_with_www_authenticate(provider, basic):
    response = provider.http.post("/token", data={"grant_type": "client_credentials"},
                                  auth=(basic["client_id"], "not-the-secret"))
    assert_oauth_error(response, "invalid_client", 401)
    assert response.headers.get("www-authenticate", "").lower().startswith("basic")


def test_wrong_secret_in_body_is_refused(provider, post):
    response = provider.http.post("/token", data={"grant_type": "client_credentials", "client_id": post["client_id"],
                                                  "client_secret": "not-the-secret"})
    assert_invalid_client(response)


def test_unknown_client_is_refused(provider):
    response = provider.http.post("/token", data={"grant_type": "client_credentials"},
                                  auth=("no-such-client", "whatever"))
    assert_oauth_error(response, "invalid_client", 401)


def test_confidential_client_without_credentials_is_refused(provider, basic):
    response = provider.http.post("/token", data={"grant_type": "client_credentials",
                                                  "client_id": basic["client_id"]})
    assert_invalid_client(response)


def test_authlib_reports_the_refusal(provider, browser, user, basic):
    rp = relying_party(provider, dict(basic, client_secret="wrong"))
    with pytest.raises(OAuthError) as refused:
        rp.fetch_token(grant_type="client_credentials")
    assert refused.value.error == "invalid_client"


# --- client_credentials ---------------------------------------------------------------------------------------


def test_client_credentials_gives_an_access_token_only(provider, basic):
    rp = relying_party(provider, basic)
    token = rp.fetch_token(grant_type="client_credentials")
    assert token["token_type"].lower() == "bearer"
    assert "refresh_token" not in token
    assert "id_token" not in token
    claims = verify_jwt(provider, token["access_token"], ["ES256"], typ="at+jwt").claims
    assert claims["client_id"] == basic["client_id"]
    assert claims["sub"] == basic["client_id"]
    info = introspect(provider, basic, token["access_token"]).json()
    assert info["active"] is True
    assert info["client_id"] == basic["client_id"]


def test_public_client_may_not_use_client_credentials(provider):
    public = provider.client(*PUBLIC)
    response = provider.http.post("/token", data={"grant_type": "client_credentials",
                                                  "client_id": public["client_id"]})
    assert response.status_code in (400, 401)
    assert response.json()["error"] in ("unauthorized_client", "invalid_client")
    assert "access_token" not in response.json()


def test_unsupported_grant_type(provider, basic):
    response = token_request(provider, {"grant_type": "password", "username": "x", "password": "y"}, basic)
    assert_oauth_error(response, "unsupported_grant_type")


# --- private_key_jwt (RFC 7523 §2.2, OIDC Core §9) -------------------------------------------------------------


def test_private_key_jwt_with_authlib(provider, browser, user, jwt_client, ec_key, token_endpoint):
    rp = relying_party(provider, dict(jwt_client, client_secret=ec_key), auth_method="private_key_jwt")
    rp.register_client_auth_method(ShortLivedPrivateKeyJWT(token_endpoint, alg="ES256",
                                                           headers={"kid": ec_key.kid}))
    login = sign_in(provider, browser, jwt_client, user, rp=rp)
    verify_id_token(provider, login.id_token, jwt_client["client_id"], nonce=login.nonce)


def test_private_key_jwt_client_credentials_with_authlib(provider, jwt_client, ec_key, token_endpoint):
    rp = relying_party(provider, dict(jwt_client, client_secret=ec_key), auth_method="private_key_jwt")
    rp.register_client_auth_method(ShortLivedPrivateKeyJWT(token_endpoint, alg="ES256"))
    assert rp.fetch_token(grant_type="client_credentials")["access_token"]
    assert rp.fetch_token(grant_type="client_credentials")["access_token"], "a new jti every time"


def test_authlib_default_assertion_is_accepted(provider, jwt_client, ec_key, token_endpoint):
    """Authlib's default assertion lives an hour: the longest leerID accepts."""
    rp = relying_party(provider, dict(jwt_client, client_secret=ec_key), auth_method="private_key_jwt")
    rp.register_client_auth_method(PrivateKeyJWT(token_endpoint, alg="ES256"))
    assert rp.fetch_token(grant_type="client_credentials")["access_token"]


def test_assertion_living_longer_than_allowed_is_refused(provider, jwt_client, ec_key, token_endpoint):
    """RFC 7523 §3 item 4: an exp unreasonably far ahead may be refused; leerID allows an hour."""
    rp = relying_party(provider, dict(jwt_client, client_secret=ec_key), auth_method="private_key_jwt")
    rp.register_client_auth_method(PrivateKeyJWT(token_endpoint, alg="ES256", claims={"exp": int(time.time()) + 7200}))
    with pytest.raises(OAuthError) as refused:
        rp.fetch_token(grant_type="client_credentials")
    assert refused.value.error == "invalid_client"
    assert "within an hour" in refused.value.description


def test_assertion_with_issuer_as_audience_is_accepted(provider, jwt_client, ec_key):
    """oidcc-ensure-client-assertion-with-iss-aud-succeeds: aud may be the issuer."""
    response = client_credentials_with_assertion(
        provider, assertion(jwt_client["client_id"], ec_key, provider.issuer))
    assert response.status_code == 200, response.text


def test_rsa_keys_with_rs256_and_ps256(provider, tmp_path, token_endpoint):  # its own client: an RSA key
    key = RSAKey.generate_key(2048, private=True)
    client = provider.client(*private_key_jwt_args(tmp_path, key))
    for alg in ("RS256", "PS256"):
        response = client_credentials_with_assertion(
            provider, assertion(client["client_id"], key, token_endpoint, alg=alg))
        assert response.status_code == 200, (alg, response.text)


def test_jti_is_single_use(provider, jwt_client, ec_key, token_endpoint):
    """RFC 7523 §3 item 7; SECURITY.md: SET NX."""
    signed = assertion(jwt_client["client_id"], ec_key, token_endpoint)
    assert client_credentials_with_assertion(provider, signed).status_code == 200
    assert_invalid_client(client_credentials_with_assertion(provider, signed))


def test_jti_reused_with_a_new_signature_is_refused(provider, jwt_client, ec_key, token_endpoint):
    jti = secrets.token_urlsafe(16)
    first = assertion(jwt_client["client_id"], ec_key, token_endpoint, jti=jti)
    second = assertion(jwt_client["client_id"], ec_key, token_endpoint, jti=jti, iat=int(time.time()) - 1)
    assert first != second
    assert client_credentials_with_assertion(provider, first).status_code == 200
    assert_invalid_client(client_credentials_with_assertion(provider, second))


def test_authlib_with_a_fixed_jti_is_refused_the_second_time(provider, jwt_client, ec_key, token_endpoint):
    rp = relying_party(provider, dict(jwt_client, client_secret=ec_key), auth_method="private_key_jwt")
    jti = secrets.token_urlsafe(16)
    rp.register_client_auth_method(PrivateKeyJWT(token_endpoint, alg="ES256", claims={
        "jti": jti, "exp": int(time.time()) + 120}))
    rp.fetch_token(grant_type="client_credentials")
    with pytest.raises(OAuthError) as refused:
        rp.fetch_token(grant_type="client_credentials")
    assert refused.value.error == "invalid_client"


def test_assertion_signed_by_another_key_is_refused(provider, jwt_client, token_endpoint):
    other = ECKey.generate_key("P-256", private=True)
    assert_invalid_client(client_credentials_with_assertion(
        provider, assertion(jwt_client["client_id"], other, token_endpoint)))


def test_assertion_with_alg_none_is_refused(provider, jwt_client, token_endpoint):
    now = int(time.time())
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64url(json.dumps({"iss": jwt_client["client_id"], "sub": jwt_client["client_id"],
                                 "aud": token_endpoint, "iat": now, "exp": now + 60,
                                 "jti": secrets.token_urlsafe(16)}).encode())
    assert_invalid_client(client_credentials_with_assertion(provider, f"{header}.{payload}."))


def test_assertion_hmac_signed_with_the_public_key_is_refused(provider, jwt_client, ec_key, token_endpoint):
    """Algorithm confusion: HS256 keyed with the client's published public key."""
    public = json.dumps(ec_key.as_dict(private=False))
    secret = OctKey.import_key(public.encode())
    assert_invalid_client(client_credentials_with_assertion(
        provider, assertion(jwt_client["client_id"], secret, token_endpoint, alg="HS256")))


def test_assertion_with_its_own_embedded_key_is_refused(provider, jwt_client, token_endpoint):
    attacker = ECKey.generate_key("P-256", private=True)
    signed = assertion(jwt_client["client_id"], attacker, token_endpoint,
                       header={"jwk": attacker.as_dict(private=False)})
    assert_invalid_client(client_credentials_with_assertion(provider, signed))


def test_assertion_with_unknown_crit_header_is_refused(provider, jwt_client, ec_key, token_endpoint):
    """RFC 7515 §4.1.11: a critical header parameter the recipient does not understand makes the JWS invalid."""
    header = {"alg": "ES256", "crit": ["urn:example:unknown"], "urn:example:unknown": True}
    payload = {"iss": jwt_client["client_id"], "sub": jwt_client["client_id"], "aud": token_endpoint,
               "iat": int(time.time()), "exp": int(time.time()) + 60, "jti": secrets.token_urlsafe(16)}
    assert_invalid_client(client_credentials_with_assertion(provider, sign_es256_by_hand(header, payload, ec_key)))


def test_the_same_assertion_without_crit_is_accepted(provider, jwt_client, ec_key, token_endpoint):
    """The control for the test above: the hand-made signature itself is good."""
    payload = {"iss": jwt_client["client_id"], "sub": jwt_client["client_id"], "aud": token_endpoint,
               "iat": int(time.time()), "exp": int(time.time()) + 60, "jti": secrets.token_urlsafe(16)}
    signed = sign_es256_by_hand({"alg": "ES256"}, payload, ec_key)
    assert client_credentials_with_assertion(provider, signed).status_code == 200


def sign_es256_by_hand(header: dict, payload: dict, key: ECKey) -> str:
    """A compact JWS that no JOSE library would write (unknown crit), signed with `cryptography` directly."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(payload).encode())
    r, s = decode_dss_signature(key.private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


@pytest.mark.parametrize("claims", [
    {"aud": "https://somewhere-else.example/token"},
    {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 3700},
    {"iss": "someone-else"},
    {"jti": None},
], ids=["wrong-aud", "expired", "iss-is-not-sub", "no-jti"])
def test_assertion_with_bad_claims_is_refused(provider, jwt_client, ec_key, token_endpoint, claims):
    signed_claims = {k: v for k, v in claims.items() if v is not None}
    signed = assertion(jwt_client["client_id"], ec_key, token_endpoint, **signed_claims)
    if claims.get("jti", "") is None:  # sign again without a jti
        now = int(time.time())
        signed = jwt.encode({"alg": "ES256"}, {"iss": jwt_client["client_id"], "sub": jwt_client["client_id"],
                                               "aud": token_endpoint, "iat": now, "exp": now + 60},
                            ec_key, algorithms=["ES256"])
    assert_invalid_client(client_credentials_with_assertion(provider, signed))


def test_private_key_jwt_client_may_not_use_a_secret(provider, jwt_client):
    response = provider.http.post("/token", data={"grant_type": "client_credentials"},
                                  auth=(jwt_client["client_id"], "anything"))
    assert_oauth_error(response, "invalid_client", 401)


def test_secret_client_may_not_switch_to_private_key_jwt(provider, basic, ec_key, token_endpoint):
    assert_invalid_client(client_credentials_with_assertion(
        provider, assertion(basic["client_id"], ec_key, token_endpoint)))


def test_garbage_assertion_is_refused_without_a_stack_trace(provider, jwt_client):
    for garbage in ("not-a-jwt", "a.b.c", base64.urlsafe_b64encode(b"{}").decode() + ".." , "x" * 5000):
        response = client_credentials_with_assertion(provider, garbage)
        assert response.status_code in (400, 401), (garbage[:20], response.status_code, response.text[:200])
        assert response.json()["error"] in ("invalid_client", "invalid_request")
