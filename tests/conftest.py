"""Fixtures: a live provider per test session (per xdist worker), on the configured storage back ends."""
from __future__ import annotations

import pytest

from tests.live import running_provider


@pytest.fixture(scope="session")
def provider(tmp_path_factory):
    """With the session's school made first: a platform made by `provider.client` is activated for the schools
    there are, so a module's platform made before any test asked for `school` still serves its pupils."""
    with running_provider(tmp_path_factory.mktemp("leerid")) as live:
        live.school()
        yield live


@pytest.fixture(scope="session")
def school(provider) -> str:
    return provider.schools[0]
