"""Fixtures: a live provider per test session (per xdist worker), on the configured storage back ends."""
from __future__ import annotations

import pytest

from tests.live import LiveProvider, fresh_database


@pytest.fixture(scope="session")
def provider(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("leerid")
    with fresh_database(workdir) as url:
        live = LiveProvider(workdir, url).start()
        try:
            yield live
        finally:
            live.stop()


@pytest.fixture(scope="session")
def school(provider) -> str:
    return provider.school()
