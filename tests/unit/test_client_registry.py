"""clients.service.ClientRegistry: what `leerid clients create` accepts and how it shapes a client
(DESIGN.md Command line; SECURITY.md: redirect URIs, no `none` for ID tokens, public keys only)."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
from joserfc.jwk import ECKey, OctKey, RSAKey
from sqlalchemy import func, select

from clients.errors import InvalidClientMetadata, InvalidRedirectUri
from clients.models import Client
from clients.service import ClientRegistry, NewClient

BASE = NewClient(name="Leerplatform", redirect_uris=("https://rp.example/callback",))


@pytest.fixture
def registry(memory_db) -> ClientRegistry:
    return ClientRegistry(memory_db)


def build(registry, **changes):
    return registry._build(replace(BASE, **changes))


def refuse(registry, error=InvalidClientMetadata, **changes) -> str:
    with pytest.raises(error) as refused:
        build(registry, **changes)
    message = str(refused.value)
    assert message and "\n" not in message, "a one-line message for the operator"
    return message


def client_count(registry) -> int:
    with registry.db.read() as session:
        return session.scalar(select(func.count()).select_from(Client))


# --- what is accepted, and its shape ---------------------------------------------------------------------------------


def test_a_confidential_client_by_default(registry):
    client, secret = build(registry)
    assert secret and len(secret) >= 32
    assert client.token_endpoint_auth_method == "client_secret_basic"
    assert not client.is_public
    assert client.check_client_secret(secret)
    assert not client.check_client_secret(secret + "x")
    assert secret not in (client.secret_hash or ""), "only a hash of the secret is stored"
    assert client.scopes == ["openid", "profile"]
    assert client.grant_types == ["authorization_code", "client_credentials"]
    assert client.subject_type == "pairwise"
    assert client.id_token_alg == "ES256"
    assert client.basis == "school-agreement"


def test_create_stores_and_find_reads_back(registry):
    registered = registry.create(BASE)
    found = registry.find(registered.client.client_id)
    assert found is not None
    assert found.redirect_uris == ["https://rp.example/callback"]
    assert found.check_client_secret(registered.client_secret)
    assert registry.find("no-such-client") is None
    assert registry.find(None) is None
    assert registry.find("x" * 500) is None


def test_client_ids_and_secrets_are_unique(registry):
    a, b = registry.create(BASE), registry.create(BASE)
    assert a.client.client_id != b.client.client_id
    assert a.client_secret != b.client_secret


def test_public_client_has_no_secret(registry):
    client, secret = build(registry, public=True)
    assert secret is None
    assert client.is_public
    assert client.token_endpoint_auth_method == "none"
    assert "client_credentials" not in client.grant_types
    assert not client.check_client_secret("")


def test_openid_is_always_a_scope(registry):
    client, _ = build(registry, scopes=("profile",))
    assert client.scopes[0] == "openid"


def test_refresh_tokens_only_with_offline_access(registry):
    client, _ = build(registry, scopes=("openid", "offline_access"))
    assert "refresh_token" in client.grant_types
    assert "refresh_token" not in build(registry)[0].grant_types


def test_duplicates_are_dropped(registry):
    client, _ = build(registry, redirect_uris=("https://rp.example/cb", "https://rp.example/cb"),
                      attributes=("given_name", "given_name"))
    assert client.redirect_uris == ["https://rp.example/cb"]
    assert client.attributes == ["given_name"]


def test_loopback_http_is_allowed_for_native_apps(registry):
    for uri in ("http://127.0.0.1/cb", "http://127.0.0.1:8080/cb", "http://localhost:8080/cb"):
        assert build(registry, redirect_uris=(uri,))[0].redirect_uris == [uri]


def test_several_redirect_uris_and_no_default(registry):
    client, _ = build(registry, redirect_uris=("https://a.example/cb", "https://b.example/cb"))
    assert client.get_default_redirect_uri() is None
    assert client.check_redirect_uri("https://b.example/cb")
    assert not client.check_redirect_uri("https://c.example/cb")


def test_pairwise_sectors_differ_per_client(registry):
    a, _ = build(registry)
    b, _ = build(registry)
    assert a.sector_identifier != b.sector_identifier


def test_rs256_id_tokens(registry):
    assert build(registry, id_token_alg="RS256")[0].id_token_alg == "RS256"


def test_release_policy_and_basis(registry):
    client, _ = build(registry, attributes=("given_name", "school"), basis="consent", purpose="  Lessen  ")
    assert client.attributes == ["given_name", "school"]
    assert client.basis == "consent"
    assert client.purpose == "Lessen"


def test_private_key_jwt_with_a_public_jwks(registry, tmp_path):
    key = ECKey.generate_key("P-256", private=True)
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    client, secret = build(registry, token_auth_method="private_key_jwt", jwks_file=path)
    assert secret is None
    assert client.token_endpoint_auth_method == "private_key_jwt"
    assert "d" not in client.jwks["keys"][0]
    assert client.jwks["keys"][0]["x"] == key.as_dict()["x"]


def test_private_key_jwt_with_a_jwks_uri(registry):
    client, _ = build(registry, token_auth_method="private_key_jwt", jwks_uri="https://rp.example/jwks")
    assert client.jwks_uri == "https://rp.example/jwks"


# --- what is refused ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_bad_names(registry, name):
    refuse(registry, name=name)


def test_no_redirect_uri(registry):
    refuse(registry, InvalidRedirectUri, redirect_uris=())


@pytest.mark.parametrize("uri", [
    "rp.example/callback",
    "/callback",
    "https://",
    "javascript:alert(1)",
    "ftp://rp.example/cb",
    "http://rp.example/callback",
    "http://127.0.0.1.evil.example/callback",
    "https://rp.example/callback#fragment",
    "https://rp.example/callback#",
    "https://user:pw@rp.example/callback",
    "https://user@rp.example/callback",
    "https://rp.example/call back",
    "https://rp.example/" + "x" * 2000,
])
def test_bad_redirect_uris(registry, uri):
    refuse(registry, InvalidRedirectUri, redirect_uris=(uri,))


def test_one_bad_redirect_uri_among_good_ones(registry):
    refuse(registry, InvalidRedirectUri, redirect_uris=("https://rp.example/cb", "http://evil.example/cb"))


@pytest.mark.parametrize("uri", ["http://rp.example/bye", "https://rp.example/bye#x"])
def test_bad_post_logout_redirect_uris(registry, uri):
    refuse(registry, InvalidRedirectUri, post_logout_redirect_uris=(uri,))


def test_bad_backchannel_logout_uri(registry):
    refuse(registry, InvalidRedirectUri, backchannel_logout_uri="http://rp.example/logout")


def test_unknown_scope(registry):
    assert "admin" in refuse(registry, scopes=("openid", "admin"))


def test_unknown_attribute(registry):
    assert "national_number" in refuse(registry, attributes=("national_number",))


@pytest.mark.parametrize("basis", ["", "legitimate-interest", "Consent"])
def test_unknown_basis(registry, basis):
    refuse(registry, basis=basis)


def test_unknown_subject_type(registry):
    refuse(registry, subject_type="global")


@pytest.mark.parametrize("alg", ["none", "HS256", "RS512", "es256", ""])
def test_id_token_algorithms_other_than_es256_and_rs256(registry, alg):
    refuse(registry, id_token_alg=alg)


@pytest.mark.parametrize("method", ["client_secret_jwt", "tls_client_auth", "basic"])
def test_unknown_token_auth_method(registry, method):
    refuse(registry, token_auth_method=method)


def test_public_only_with_method_none(registry):
    refuse(registry, public=True, token_auth_method="client_secret_basic")
    refuse(registry, public=False, token_auth_method="none")


def test_private_key_jwt_needs_keys(registry):
    refuse(registry, token_auth_method="private_key_jwt")


def test_jwks_uri_and_jwks_file_exclude_each_other(registry, tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}))
    refuse(registry, token_auth_method="private_key_jwt", jwks_uri="https://rp.example/jwks", jwks_file=path)


def test_jwks_uri_must_be_https(registry):
    refuse(registry, token_auth_method="private_key_jwt", jwks_uri="http://rp.example/jwks")


def test_jwks_with_a_private_key_is_refused(registry, tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [RSAKey.generate_key(2048, private=True).as_dict(private=True)]}))
    assert "public" in refuse(registry, token_auth_method="private_key_jwt", jwks_file=path)


def test_jwks_with_a_symmetric_key_is_refused(registry, tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [OctKey.generate_key(256).as_dict(private=True)]}))
    refuse(registry, token_auth_method="private_key_jwt", jwks_file=path)


@pytest.mark.parametrize("content", ["not json", "{}", '{"keys": [{"kty": "EC"}]}', "[]"])
def test_unreadable_jwks_files(registry, tmp_path, content):
    path = tmp_path / "jwks.json"
    path.write_text(content)
    refuse(registry, token_auth_method="private_key_jwt", jwks_file=path)


def test_missing_jwks_file(registry, tmp_path):
    refuse(registry, token_auth_method="private_key_jwt", jwks_file=tmp_path / "missing.json")


def test_a_refused_client_writes_nothing(registry):
    before = client_count(registry)
    with pytest.raises(InvalidClientMetadata):
        registry.create(replace(BASE, scopes=("admin",)))
    assert client_count(registry) == before


def test_a_client_id_never_looks_like_a_command_line_option():
    from clients.service import new_client_id

    ids = [new_client_id() for _ in range(3000)]  # about 1 in 32 random ids would start with '-' or '_'
    assert all(i[0].isalnum() and len(i) == 24 for i in ids) and len(set(ids)) == len(ids)
