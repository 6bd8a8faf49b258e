"""sector_identifier_uri (OIDC Core §8.1, OIDC Dynamic Client Registration §5).

A vendor whose platform runs on several hosts publishes one JSON array of all their redirect URIs. Every client
that names that document, and whose redirect URIs it lists, gets the document's host as its sector: the same
pairwise `sub` for a person across those clients, and still another one at any other vendor's.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import httpx

from clients.errors import InvalidClientMetadata

TIMEOUT = 5.0  # seconds for the whole fetch, not per read
MAX_BYTES = 64 * 1024


def fetch(uri: str, timeout: float = TIMEOUT, limit: int = MAX_BYTES) -> list[str]:
    """The JSON array of URIs at `uri`: one GET, no redirect followed, at most `limit` bytes and `timeout` s."""
    deadline = time.monotonic() + timeout
    try:
        with httpx.stream("GET", uri, timeout=timeout, follow_redirects=False,
                          headers={"Accept": "application/json"}) as response:
            if response.status_code != 200:
                raise InvalidClientMetadata(f"sector identifier URI {uri} answered {response.status_code}, "
                                            "not 200 with a JSON array")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > limit:
                    raise InvalidClientMetadata(f"sector identifier URI {uri} is larger than {limit} bytes")
                if time.monotonic() > deadline:
                    raise InvalidClientMetadata(f"sector identifier URI {uri} took longer than {timeout:g} s")
    except httpx.HTTPError as exc:
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise InvalidClientMetadata(f"sector identifier URI {uri} cannot be fetched: {reason}") from exc
    return parse(bytes(body), uri)


def parse(body: bytes, uri: str) -> list[str]:
    try:
        listed = json.loads(body)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested too deep
        raise InvalidClientMetadata(f"sector identifier URI {uri} is not JSON") from None
    if not isinstance(listed, list) or not listed or not all(isinstance(u, str) for u in listed):
        raise InvalidClientMetadata(f"sector identifier URI {uri} must hold a JSON array of URIs")
    return listed


def sector_identifier(uri: str, redirect_uris: Iterable[str],
                      fetch: Callable[[str], list[str]] = fetch) -> str:
    """The host of `uri`, once the document there lists every one of the client's redirect URIs."""
    host = urlsplit(uri).hostname or ""
    if "." not in host and ":" not in host and host != "localhost":
        # a client's own sector is its client_id, which has no dot: a sector host never equals one
        raise InvalidClientMetadata(f"sector identifier URI {uri} must name a fully qualified host")
    listed = set(fetch(uri))
    missing = [u for u in redirect_uris if u not in listed]
    if missing:
        raise InvalidClientMetadata(f"sector identifier URI {uri} does not list the redirect URI {missing[0]}")
    return host
