"""Discovery and JWKS (OIDC Discovery §3–4, RFC 8414, RFC 7517): the Config OP plan's
oidcc-discovery-endpoint-verification, run against leerID's own metadata.

No clients are needed: discovery and JWKS are public.
"""
from __future__ import annotations

import re

import pytest

from tests.protocol.helpers import discovery

REQUIRED = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "response_types_supported",
            "subject_types_supported", "id_token_signing_alg_values_supported")
ENDPOINTS = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "revocation_endpoint",
             "introspection_endpoint", "end_session_endpoint")
PUBLIC_MEMBERS = {"kid", "kty", "crv", "x", "y", "n", "e", "use", "alg"}
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


@pytest.fixture(scope="module")
def meta(provider):
    return discovery(provider)


def test_discovery_is_json_with_status_200(provider):
    response = provider.http.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")


def test_issuer_is_the_configured_issuer(provider, meta):
    """OIDC Discovery §4.3: the issuer is exactly the URL the configuration was fetched under."""
    assert meta["issuer"] == provider.issuer
    assert not meta["issuer"].endswith("/")
    assert "?" not in meta["issuer"] and "#" not in meta["issuer"]


def test_required_metadata_is_present(meta):
    missing = [name for name in REQUIRED if name not in meta]
    assert not missing, missing


@pytest.mark.parametrize("name", ENDPOINTS)
def test_every_endpoint_is_listed_under_the_issuer(provider, meta, name):
    assert meta[name].startswith(provider.issuer + "/"), (name, meta.get(name))


@pytest.mark.parametrize("name", ENDPOINTS)
def test_every_listed_endpoint_exists(provider, meta, name):
    url = meta[name]
    response = provider.http.get(url) if name in ("jwks_uri", "authorization_endpoint", "end_session_endpoint",
                                                  "userinfo_endpoint") else provider.http.post(url)
    assert response.status_code != 404, (name, response.status_code)
    assert response.status_code < 500, (name, response.status_code, response.text[:300])


def test_code_flow_metadata(meta):
    assert "code" in meta["response_types_supported"]
    assert set(meta["response_types_supported"]) == {"code"}, "only the code flow is offered"
    assert "authorization_code" in meta["grant_types_supported"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert "form_post" in meta["response_modes_supported"] and "query" in meta["response_modes_supported"]
    assert meta["authorization_response_iss_parameter_supported"] is True


def test_signing_algorithms(meta):
    algs = meta["id_token_signing_alg_values_supported"]
    assert "RS256" in algs, "OIDC Discovery §3: RS256 MUST be included"
    assert "ES256" in algs
    assert "none" not in algs
    assert not any(a.startswith("HS") for a in algs)
    assert "none" not in meta.get("token_endpoint_auth_signing_alg_values_supported", [])


def test_subjects_scopes_and_claims(meta):
    assert set(meta["subject_types_supported"]) <= {"public", "pairwise"}
    assert "pairwise" in meta["subject_types_supported"]
    assert "openid" in meta["scopes_supported"]
    assert all(re.fullmatch(r"[\x21\x23-\x5B\x5D-\x7E]+", s) for s in meta["scopes_supported"])  # RFC 6749 §3.3
    for claim in ("sub", "iss", "aud", "exp", "iat"):
        assert claim in meta["claims_supported"]


def test_client_authentication_methods(meta):
    methods = set(meta["token_endpoint_auth_methods_supported"])
    assert {"client_secret_basic", "client_secret_post", "private_key_jwt"} <= methods
    assert "none" not in meta["introspection_endpoint_auth_methods_supported"]


def test_unsupported_features_are_declared_so(meta):
    assert meta["request_parameter_supported"] is False
    assert meta["request_uri_parameter_supported"] is False


def test_locales_are_well_formed(meta):
    for name in ("ui_locales_supported", "claims_locales_supported"):
        for tag in meta.get(name, []):
            assert re.fullmatch(r"[a-z]{2,3}(-[A-Z]{2})?", tag), (name, tag)


def test_jwks_publishes_only_public_signing_keys(provider, meta):
    response = provider.http.get(meta["jwks_uri"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    keys = response.json()["keys"]
    assert keys
    kids = [k["kid"] for k in keys]
    assert len(kids) == len(set(kids)), "kids are unique"
    for key in keys:
        assert set(key) <= PUBLIC_MEMBERS, f"non-public members published: {set(key) - PUBLIC_MEMBERS}"
        assert not set(key) & PRIVATE_MEMBERS
        assert key["kty"] in ("EC", "RSA"), "no symmetric keys"
        assert key.get("use", "sig") == "sig"
        if key["kty"] == "EC":
            assert key["crv"] == "P-256" and key["alg"] == "ES256"
        else:
            assert key["alg"] == "RS256"
            assert len(key["n"]) >= 342, "RSA keys of at least 2048 bits"
    assert {k["alg"] for k in keys} >= {"ES256", "RS256"}


def test_discovery_and_jwks_may_be_fetched_cross_origin_and_cached(provider):
    for path in ("/.well-known/openid-configuration", "/jwks"):
        response = provider.http.get(path, headers={"Origin": "https://rp.example"})
        assert response.headers.get("access-control-allow-origin") == "*"
        assert "public" in response.headers.get("cache-control", "")


def test_discovery_refuses_writes(provider):
    response = provider.http.post("/.well-known/openid-configuration")
    assert response.status_code == 405
