"""The pure pieces of token exchange (idp/token_exchange.py, RFC 8693) and registering a client for it."""
from __future__ import annotations

from dataclasses import replace

import pytest
from authlib.oauth2.rfc6749 import InvalidRequestError

from clients.errors import InvalidClientMetadata
from clients.service import TOKEN_EXCHANGE, ClientRegistry, NewClient
from idp.token_exchange import (
    ACCESS_TOKEN_TYPE,
    ID_TOKEN_TYPE,
    SUBJECT_TYPE,
    InvalidTargetError,
    exchange_parameters,
    id_token_is_live_for,
    matching,
    narrowed_scope,
)

REQUEST = {"actor_token": "at", "actor_token_type": ACCESS_TOKEN_TYPE, "subject_token": "st",
           "subject_token_type": SUBJECT_TYPE}


def test_a_well_formed_request():
    assert exchange_parameters(REQUEST) == ("at", "st", SUBJECT_TYPE)
    assert exchange_parameters(dict(REQUEST, subject_token_type=ID_TOKEN_TYPE))[2] == ID_TOKEN_TYPE
    assert exchange_parameters(dict(REQUEST, requested_token_type=ACCESS_TOKEN_TYPE))


@pytest.mark.parametrize("name", sorted(REQUEST))
def test_every_parameter_is_required(name):
    for missing in ({k: v for k, v in REQUEST.items() if k != name}, dict(REQUEST, **{name: ""})):
        with pytest.raises(InvalidRequestError):
            exchange_parameters(missing)


@pytest.mark.parametrize("change", [
    {"actor_token_type": ID_TOKEN_TYPE},
    {"subject_token_type": ACCESS_TOKEN_TYPE},
    {"subject_token_type": "urn:ietf:params:oauth:token-type:jwt"},
    {"requested_token_type": "urn:ietf:params:oauth:token-type:id_token"},
])
def test_unsupported_token_types(change):
    with pytest.raises(InvalidRequestError):
        exchange_parameters(dict(REQUEST, **change))


@pytest.mark.parametrize("target", [{"audience": "api"}, {"resource": "https://api.example"}])
def test_no_other_target(target):
    with pytest.raises(InvalidTargetError):
        exchange_parameters(dict(REQUEST, **target))


def test_the_scope_is_the_actor_tokens_narrowed_to_the_request():
    granted = "openid profile offline_access email"
    assert narrowed_scope(granted, None) == "openid profile email"
    assert narrowed_scope(granted, "") == "openid profile email"
    assert narrowed_scope(granted, "email openid birthdate") == "openid email"
    assert narrowed_scope(granted, "offline_access") == ""
    assert narrowed_scope("openid", "profile") == ""


def test_an_id_token_must_be_live_and_for_this_client_only():
    assert id_token_is_live_for({"aud": "c", "exp": 101}, "c", 100)
    assert id_token_is_live_for({"aud": ["c"], "exp": 101}, "c", 100)
    assert not id_token_is_live_for({"aud": "c", "exp": 100}, "c", 100), "expired"
    assert not id_token_is_live_for({"aud": "d", "exp": 101}, "c", 100), "another client's"
    assert not id_token_is_live_for({"aud": ["c", "d"], "exp": 101}, "c", 100), "shared with another client"
    assert not id_token_is_live_for({"aud": "c", "exp": "101"}, "c", 100)
    assert not id_token_is_live_for({"aud": "c"}, "c", 100)


def test_matching_finds_the_candidate_with_that_subject():
    candidates = [("sub-a", "A"), ("sub-b", "B")]
    assert matching("sub-b", candidates) == "B"
    assert matching("sub-c", candidates) is None
    assert matching("sub-", candidates) is None
    assert matching("", candidates) is None
    assert matching("sub-a", []) is None


# --- registering a client for it -------------------------------------------------------------------------------------

BASE = NewClient(name="Leerplatform", redirect_uris=("https://rp.example/callback",))


@pytest.fixture
def registry(memory_db) -> ClientRegistry:
    return ClientRegistry(memory_db)


def test_only_clients_registered_for_it_may_exchange(registry):
    assert TOKEN_EXCHANGE not in registry._build(BASE)[0].grant_types
    client, _ = registry._build(replace(BASE, token_exchange=True))
    assert client.check_grant_type(TOKEN_EXCHANGE)
    assert TOKEN_EXCHANGE in registry._build(replace(BASE, token_exchange=True, token_auth_method="client_secret_post"
                                                     ))[0].grant_types


@pytest.mark.parametrize("change", [{"public": True}, {"delegation": False}])
def test_a_public_client_or_one_without_delegation_is_refused(registry, change):
    with pytest.raises(InvalidClientMetadata, match="--token-exchange"):
        registry._build(replace(BASE, token_exchange=True, **change))
