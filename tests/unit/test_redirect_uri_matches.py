"""clients.models.redirect_uri_matches: exact string comparison; only the port of an http loopback URI may vary
(RFC 6749 §3.1.2.3, RFC 8252 §7.3, RFC 9700 §4.1.3, SECURITY.md)."""
from __future__ import annotations

import pytest

from clients.models import redirect_uri_matches

REGISTERED = "https://rp.example/callback"
LOOPBACK = "http://127.0.0.1/callback"
LOOPBACK6 = "http://[::1]/callback"


@pytest.mark.parametrize("registered, given", [
    (REGISTERED, REGISTERED),
    ("https://rp.example/cb?tenant=1", "https://rp.example/cb?tenant=1"),
    (LOOPBACK, LOOPBACK),
    (LOOPBACK, "http://127.0.0.1:51234/callback"),
    ("http://127.0.0.1:8080/callback", "http://127.0.0.1:51234/callback"),
    (LOOPBACK6, "http://[::1]:51234/callback"),
])
def test_matches(registered, given):
    assert redirect_uri_matches(registered, given)


@pytest.mark.parametrize("given", [
    REGISTERED + "/",
    "https://rp.example/Callback",
    "HTTPS://rp.example/callback",
    "https://RP.example/callback",
    "https://rp.example/callback?x=1",
    "https://rp.example/callback#x",
    "https://rp.example:443/callback",
    "https://rp.example/callback/../callback",
    "https://rp.example.evil.example/callback",
    "https://evil.example/callback",
    "http://rp.example/callback",
    "https://user@rp.example/callback",
    "https://rp.example/callback%20",
    "",
])
def test_anything_but_the_exact_string_differs(given):
    assert not redirect_uri_matches(REGISTERED, given)


@pytest.mark.parametrize("given", [
    "http://127.0.0.1.evil.example/callback",
    "http://127.0.0.1.evil.example:8080/callback",
    "http://127.0.0.1:8080.evil.example/callback",
    "http://127.0.0.1:8080/other",
    "http://127.0.0.1:8080/callback?x=1",
    "http://127.0.0.1:8080/callback#frag",
    "http://evil@127.0.0.1:8080/callback",
    "http://evil:pw@127.0.0.1:8080/callback",
    "http://localhost:8080/callback",
    "http://127.0.0.2:8080/callback",
    "https://127.0.0.1:8080/callback",
    "http://127.0.0.1:99999/callback",
    "http://127.0.0.1:abc/callback",
    "http://[::1]:8080/callback",
])
def test_loopback_only_the_port_may_vary(given):
    assert not redirect_uri_matches(LOOPBACK, given)


def test_the_port_may_not_vary_for_other_hosts():
    assert not redirect_uri_matches("https://rp.example:8443/cb", "https://rp.example:9443/cb")
    assert not redirect_uri_matches("http://localhost:8080/cb", "http://localhost:9090/cb")

