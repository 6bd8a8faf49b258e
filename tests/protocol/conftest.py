"""Fixtures of the protocol tests: a fresh browser (no cookies) per test, and people to log in with."""
from __future__ import annotations

import pytest

from tests.protocol.helpers import Browser


@pytest.fixture
def browser(provider):
    with Browser(provider) as person:
        yield person


@pytest.fixture
def user(provider, school) -> dict:
    """A pupil of the session's school, fresh for this test."""
    return provider.user(school=school)
