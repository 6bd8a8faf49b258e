"""Fixtures of the protocol tests: a fresh browser (no cookies) per test, and people to log in with."""
from __future__ import annotations

import warnings

import pytest

try:  # Authlib 1.9 warns that its httpx integration will move to httpx2; the tests use it as documented
    from authlib.deprecate import AuthlibDeprecationWarning

    warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)
except ImportError:  # pragma: no cover
    pass

from tests.protocol.helpers import Browser  # noqa: E402


@pytest.fixture
def browser(provider):
    with Browser(provider) as person:
        yield person


@pytest.fixture(scope="session")
def user(provider, school) -> dict:
    """A pupil of the session's school, shared by the tests that only log in with it.

    Never type a wrong password for this account (its failures are throttled): a test that does
    makes its own account with provider.user().
    """
    return provider.user(school=school)
