"""A login for leerID's own pages leads back only to those pages: never an open redirect."""
from __future__ import annotations

import pytest

from idp.web import own_page


@pytest.mark.parametrize("path", ["/beheer", "/beheer/123456/personen", "/mijn", "/mijn/toestemmingen"])
def test_own_pages_are_kept(path):
    assert own_page(path) == path


@pytest.mark.parametrize("path", [
    "", "https://evil.example/beheer", "//evil.example/beheer", "/beheer//evil.example", "/beheer\\evil",
    "/beheerder", "/mijnen", "/authorize", "beheer", "/beheer/\nx", "/beheer/" + "a" * 600, None, 42,
])
def test_anything_else_is_refused(path):
    assert own_page(path) is None
