"""Fixtures: a live provider per test session (per xdist worker), on the configured storage back ends."""
from __future__ import annotations

import pytest

from tests.live import running_provider


@pytest.fixture(scope="session")
def provider(tmp_path_factory):
    with running_provider(tmp_path_factory.mktemp("leerid")) as live:
        yield live


@pytest.fixture(scope="session")
def school(provider) -> str:
    return provider.school()
