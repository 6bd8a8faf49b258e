"""clients.sectors and `sector_identifier_uri` at registration (OIDC Core §8.1, OIDC Dynamic Registration §5):
the document is one bounded GET with no redirect, a JSON array that lists every redirect URI of the client, and
its host becomes the client's sector, shared by the clients that name it."""
from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select

from clients import sectors
from clients.errors import InvalidClientMetadata
from clients.models import Client
from clients.sectors import fetch, sector_identifier
from clients.service import ClientRegistry, NewClient
from clients.subjects import Subjects
from idp.audit import AuditEvent
from idp.crypto import Vault
from tests.live import free_port
from tests.local_http import Documents

CALLBACK = "http://127.0.0.1:8080/callback"
BASE = NewClient(name="Leerplatform", redirect_uris=(CALLBACK,))


@pytest.fixture
def documents():
    with Documents(drip=0.3) as served:
        yield served


@pytest.fixture
def registry(memory_db) -> ClientRegistry:
    return ClientRegistry(memory_db)


def refused(call, *args, **kw) -> str:
    with pytest.raises(InvalidClientMetadata) as error:
        call(*args, **kw)
    message = str(error.value)
    assert message and "\n" not in message, "a one-line message for the operator"
    return message


def client_count(registry) -> int:
    with registry.db.read() as session:
        return session.scalar(select(func.count()).select_from(Client))


# --- fetching the document -------------------------------------------------------------------------------------------


def test_a_json_array_is_read(documents):
    uri = documents.json("/sector.json", [CALLBACK, "https://other.example/cb"])
    assert fetch(uri) == [CALLBACK, "https://other.example/cb"]


def test_a_redirect_is_not_followed(documents):
    target = documents.json("/real.json", [CALLBACK])
    assert "302" in refused(fetch, documents.redirect("/moved.json", target))


def test_an_error_status_is_refused(documents):
    assert "404" in refused(fetch, documents.base + "/missing.json")


@pytest.mark.parametrize("body", [b"<html>no</html>", b'{"redirect_uris": []}', b"[]", b"[1, 2]", b"\xff\xfe[",
                                  b"[" * 50_000 + b"]" * 50_000])
def test_anything_but_an_array_of_strings_is_refused(documents, body):
    refused(fetch, documents.raw("/bad.json", body))


def test_a_large_document_is_refused(documents):
    body = ('["' + "https://rp.example/" + "a" * sectors.MAX_BYTES + '"]').encode()
    assert "larger" in refused(fetch, documents.raw("/large.json", body))


def test_a_slow_document_is_refused(documents):
    uri = documents.raw("/slow.json", [b'["http://127.0.0.1', b":8080", b"/callback", b'"]'])
    assert "longer" in refused(fetch, uri, timeout=0.5)


def test_an_unreachable_document_is_refused():
    assert "cannot be fetched" in refused(fetch, f"http://127.0.0.1:{free_port()}/sector.json")


# --- the sector --------------------------------------------------------------------------------------------------


def test_the_sector_is_the_host():
    listed = ["https://a.vendor.example/cb", "https://b.vendor.example/cb"]
    assert sector_identifier("https://vendor.example/sector.json", listed[:1], lambda _: listed) == "vendor.example"


def test_every_redirect_uri_must_be_listed():
    message = refused(sector_identifier, "https://vendor.example/s.json", ["https://a.vendor.example/cb",
                                                                           "https://evil.example/cb"],
                      lambda _: ["https://a.vendor.example/cb"])
    assert "https://evil.example/cb" in message


def test_a_host_that_could_be_a_client_id_is_refused():
    """A client of no sector URI has its client_id as sector: a sector host never looks like one."""
    refused(sector_identifier, "https://Ab3dEf6hIj9kLm2nOp5qRs8t/s.json", [CALLBACK], lambda _: [CALLBACK])


# --- registration ------------------------------------------------------------------------------------------------


def test_clients_naming_one_document_share_a_sector_and_a_sub(registry, documents):
    other = "http://127.0.0.1:9090/cb"
    uri = documents.json("/sector.json", [CALLBACK, other])
    a = registry.create(replace(BASE, sector_identifier_uri=uri)).client
    b = registry.create(replace(BASE, redirect_uris=(other,), sector_identifier_uri=uri)).client
    plain = registry.create(BASE).client
    assert a.sector_identifier == b.sector_identifier == "127.0.0.1"
    assert plain.sector_identifier == plain.client_id
    subjects = Subjects(registry.db, Vault(("unit-test-secret-key-" * 2,)))
    subjects.ensure()
    assert subjects.for_client(a, "account-1") == subjects.for_client(b, "account-1")
    assert subjects.for_client(a, "account-1") != subjects.for_client(plain, "account-1")
    assert subjects.for_client(a, "account-1") != subjects.for_client(a, "account-2")


def test_the_audit_record_names_the_document(registry, documents):
    uri = documents.json("/sector.json", [CALLBACK])
    client = registry.create(replace(BASE, sector_identifier_uri=uri)).client
    with registry.db.read() as session:
        record = session.scalar(select(AuditEvent).where(AuditEvent.event == "client_registered",
                                                         AuditEvent.client_id == client.client_id))
    assert record.detail["sector_identifier_uri"] == uri


def test_a_document_without_the_redirect_uri_writes_nothing(registry, documents):
    uri = documents.json("/sector.json", ["http://127.0.0.1:9090/cb"])
    assert CALLBACK in refused(registry.create, replace(BASE, sector_identifier_uri=uri))
    assert refused(registry.create, replace(BASE, sector_identifier_uri=documents.base + "/gone.json"))
    assert client_count(registry) == 0


def test_the_document_must_be_https_off_this_machine(registry):
    assert "https" in refused(registry.create, replace(BASE, sector_identifier_uri="http://vendor.example/s.json"))
    assert client_count(registry) == 0


def test_public_subjects_take_no_sector_document(registry, documents):
    uri = documents.json("/sector.json", [CALLBACK])
    refused(registry.create, replace(BASE, subject_type="public", sector_identifier_uri=uri))
