"""Pairwise subjects (OIDC Core §8.1, DESIGN.md Tokens and claims) seen by a real RP (Authlib): one `sub` per
sector, the same at every login, through signing-key rotation, `leerid db upgrade` and a new process; a vendor's
platforms that name one sector_identifier_uri share it (OIDC Dynamic Registration §5); and the one-way move of a
platform to public subjects with the mapping for its vendor (README "Subjects: pairwise and public").

Clients of this file:
  vendor_a, vendor_b -- one vendor's two platforms, both --sector-identifier-uri of the same document
  plain_a, plain_b   -- two ordinary platforms (each a sector of its own)
  moving             -- made per test: confidential, offline_access, moved to public subjects
"""
from __future__ import annotations

import json
import os
import stat
import time

import pytest
from sqlalchemy import text

from idp.db import make_engine
from tests.live import LiveProvider, free_port
from tests.local_http import Documents
from tests.protocol.helpers import (
    Browser,
    jwt_header,
    sign_in,
    userinfo,
    verify_id_token,
)

VENDOR = ("https://les.vendor.example/callback", "https://toets.vendor.example/callback")
SWITCH_WITHIN = 120  # seconds: a rotated key signs after ~10 s; a running provider caches a client a while


@pytest.fixture(scope="module")
def documents():
    with Documents() as served:
        yield served


@pytest.fixture(scope="module")
def sector_uri(documents) -> str:
    return documents.json("/vendor/sector.json", list(VENDOR))


@pytest.fixture(scope="module")
def vendor_a(provider, sector_uri):
    return provider.client("--sector-identifier-uri", sector_uri, redirect_uri=VENDOR[0])


@pytest.fixture(scope="module")
def vendor_b(provider, sector_uri):
    return provider.client("--sector-identifier-uri", sector_uri, redirect_uri=VENDOR[1])


@pytest.fixture(scope="module")
def plain_a(provider):
    return provider.client()


@pytest.fixture(scope="module")
def plain_b(provider):
    return provider.client()


def sub_at(provider, client: dict, user: dict, browser: Browser | None = None, **kw) -> str:
    """The `sub` of a verified ID token from a whole code flow (a fresh browser unless one is given)."""
    if browser is not None:
        login = sign_in(provider, browser, client, user, **kw)
        return verify_id_token(provider, login.id_token, client["client_id"])["sub"]
    with Browser(provider) as fresh:
        return sub_at(provider, client, user, fresh, **kw)


def until(condition, within: float = SWITCH_WITHIN, interval: float = 1.0):
    """Poll `condition` until it returns something true (a deadline against a hanging provider, not a timing
    assertion)."""
    deadline = time.monotonic() + within
    while not (result := condition()):
        assert time.monotonic() < deadline, f"still not true after {within} s: {condition.__doc__}"
        time.sleep(interval)
    return result


def scalar(provider, query: str, **params):
    engine = make_engine(provider.env["LEERID_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return conn.execute(text(query), params).scalar()
    finally:
        engine.dispose()


def client_count(provider) -> int:
    return scalar(provider, "SELECT count(*) FROM clients")


def refused_registration(provider, *args: str) -> str:
    before = client_count(provider)
    done = provider.run("clients", "create", "--name", "Weigeraar", *args, check=False)
    assert done.returncode != 0 and not done.stdout
    assert done.stderr.startswith("leerid: ") and done.stderr.count("\n") == 1, done.stderr
    assert client_count(provider) == before, "a refused registration writes nothing"
    return done.stderr


# --- sectors ---------------------------------------------------------------------------------------------------


def test_one_vendors_platforms_share_a_sub(provider, user, vendor_a, vendor_b, plain_a):
    with Browser(provider) as browser:
        at_a = sub_at(provider, vendor_a, user, browser)
        at_b = sub_at(provider, vendor_b, user, browser)
        elsewhere = sub_at(provider, plain_a, user, browser)
    assert at_a == at_b
    assert elsewhere != at_a


def test_ordinary_platforms_cannot_link_a_person(provider, user, plain_a, plain_b):
    with Browser(provider) as browser:
        assert sub_at(provider, plain_a, user, browser) != sub_at(provider, plain_b, user, browser)


def test_a_document_that_does_not_list_the_redirect_uri_is_refused(provider, sector_uri):
    stderr = refused_registration(provider, "--redirect-uri", "https://vreemd.example/callback",
                                  "--sector-identifier-uri", sector_uri)
    assert "https://vreemd.example/callback" in stderr


def test_a_document_that_cannot_be_read_is_refused(provider, documents):
    html = documents.raw("/vendor/page.html", b"<html><body>sector</body></html>")
    for uri in (f"http://127.0.0.1:{free_port()}/sector.json", html, documents.base + "/vendor/missing.json"):
        refused_registration(provider, "--redirect-uri", VENDOR[0], "--sector-identifier-uri", uri)


# --- the same sub, whatever happens to keys, schema and processes ----------------------------------------------


def test_the_sub_survives_logins_and_key_rotation(provider, user, vendor_a, plain_a):
    before = {c["client_id"]: sub_at(provider, c, user) for c in (vendor_a, plain_a)}
    assert sub_at(provider, plain_a, user) == before[plain_a["client_id"]], "a second login, the same sub"
    new_kids = set(provider.cli("keys", "rotate")["kids"])
    with Browser(provider) as browser:
        def signed_with_a_new_key():
            """an ID token signed with a rotated-in key"""
            login = sign_in(provider, browser, plain_a, user)
            return login if jwt_header(login.id_token)["kid"] in new_kids else None

        login = until(signed_with_a_new_key)
        assert verify_id_token(provider, login.id_token, plain_a["client_id"])["sub"] == before[plain_a["client_id"]]
        assert sub_at(provider, vendor_a, user, browser) == before[vendor_a["client_id"]]


def test_the_sub_survives_db_upgrade_and_a_new_process(provider, user, vendor_a, plain_a, tmp_path):
    before = {c["client_id"]: sub_at(provider, c, user) for c in (vendor_a, plain_a)}
    provider.run("db", "upgrade")
    secret = (provider.workdir / "var" / "secret_key").read_text().strip()
    database = provider.env["LEERID_DATABASE_URL"]
    other = LiveProvider(tmp_path, database, {"LEERID_SECRET_KEY": secret}).start()  # its own Redis and var/
    try:
        for client in (vendor_a, plain_a):
            assert sub_at(other, client, user) == before[client["client_id"]]
    finally:
        other.stop()


def test_without_the_key_that_sealed_the_salt_nothing_starts(provider, tmp_path):
    """A var/ of its own means another development secret key: refused, not a new salt (and new subs)."""
    stranger = LiveProvider(tmp_path, provider.env["LEERID_DATABASE_URL"])
    done = stranger.run("db", "upgrade", check=False)
    stranger.http.close()
    assert done.returncode != 0 and "LEERID_SECRET_KEY" in done.stderr, done.stderr


# --- from pairwise to public -----------------------------------------------------------------------------------


@pytest.fixture
def moving(provider):
    return provider.client("--scope", "openid", "--scope", "profile", "--scope", "offline_access")


def test_the_move_to_public_maps_every_known_person(provider, user, moving, tmp_path):
    with Browser(provider) as browser:
        first = sign_in(provider, browser, moving, user, scope="openid profile offline_access")
    pairwise = verify_id_token(provider, first.id_token, moving["client_id"])["sub"]
    path = tmp_path / "mapping.json"

    moved = provider.cli("clients", "subject-type", moving["client_id"], "public", "--mapping", str(path))

    assert (moved["from"], moved["to"], moved["people"]) == ("pairwise", "public", 1)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, "only its owner reads who is who"
    mapping = json.loads(path.read_text())
    assert mapping["client_id"] == moving["client_id"]
    [entry] = mapping["subjects"]
    assert entry["old_sub"] == pairwise and entry["new_sub"] != pairwise
    with Browser(provider) as browser:
        def public_sub():
            """an ID token with another sub than the pairwise one (the provider's client cache expired)"""
            sub = sub_at(provider, moving, user, browser)
            return sub if sub != pairwise else None

        assert until(public_sub) == entry["new_sub"]
    refreshed = first.rp.refresh_token(refresh_token=first.token["refresh_token"])
    assert userinfo(provider, refreshed["access_token"]).json()["sub"] == entry["new_sub"]
    assert scalar(provider, "SELECT count(*) FROM audit_events WHERE event = 'subject_type_changed' "
                            "AND client_id = :client_id", client_id=moving["client_id"]) == 1
    assert provider.cli("audit", "verify")["ok"] is True


def test_the_move_goes_one_way_and_writes_nothing_when_refused(provider, moving, tmp_path):
    path, kept = tmp_path / "mapping.json", tmp_path / "kept.json"
    kept.write_text("the vendor's earlier mapping")
    taken = provider.run("clients", "subject-type", moving["client_id"], "public", "--mapping", str(kept),
                         check=False)
    assert taken.returncode != 0 and "exists" in taken.stderr and kept.read_text() == "the vendor's earlier mapping"
    back = provider.run("clients", "subject-type", moving["client_id"], "pairwise", "--mapping", str(path),
                        check=False)
    assert back.returncode != 0 and "pairwise to public" in back.stderr and not path.exists()
    bare = provider.run("clients", "subject-type", moving["client_id"], "pairwise", check=False)
    assert bare.returncode != 0 and "pairwise to public" in bare.stderr
    unknown = provider.run("clients", "subject-type", "no-such-client", "public", "--mapping", str(path),
                           check=False)
    assert unknown.returncode != 0 and not path.exists()
    provider.cli("clients", "subject-type", moving["client_id"], "public", "--mapping", str(path))
    again = provider.run("clients", "subject-type", moving["client_id"], "public", "--mapping",
                         str(tmp_path / "again.json"), check=False)
    assert again.returncode != 0 and "already" in again.stderr and not (tmp_path / "again.json").exists()
