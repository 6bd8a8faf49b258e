"""The audit log (idp/audit.py) on SQLite and, in CI, PostgreSQL: records written with one INSERT and no lock, chained
afterwards (`seal`) in the order they were written; `verify` finds an altered, a missing and a cut-off record, and
is not fooled by a worker that seals while it walks."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import delete, event, select, update

from idp.audit import AuditEvent, AuditHead, AuditLog
from idp.db import Database
from migrations import upgrade
from tests.live import fresh_database


@pytest.fixture
def url(tmp_path):
    with fresh_database(tmp_path) as found:
        upgrade(found)
        yield found


@pytest.fixture
def log(url):
    db = Database(url)
    yield AuditLog(db)
    db.engine.dispose()


def rows(log: AuditLog) -> list[AuditEvent]:
    with log.db.read() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def test_records_are_chained_in_the_order_they_were_written(log):
    for n in range(5):
        log.record("login", actor_id=f"person-{n}", detail={"n": n})
    assert all(row.position is None for row in rows(log)), "written without the chain"
    assert log.seal() == 5
    assert [row.position for row in rows(log)] == [1, 2, 3, 4, 5]
    assert [row.detail["n"] for row in rows(log)] == [0, 1, 2, 3, 4]
    assert log.verify() == (5, None)
    assert log.seal() == 0


def test_verify_chains_what_waits_and_finds_an_altered_record(log):
    for n in range(3):
        log.record("login", actor_id=f"person-{n}")
    assert log.verify() == (3, None)
    with log.db.transaction() as session:
        session.execute(update(AuditEvent).where(AuditEvent.position == 2).values(actor_id="someone-else"))
    checked, broken = log.verify()
    assert (checked, broken.seq, broken.reason) == (1, 2, "its content was altered")


def test_verify_finds_a_deleted_record_and_a_cut_off_tail(log):
    for n in range(4):
        log.record("login", actor_id=f"person-{n}")
    log.seal()
    with log.db.transaction() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.position == 2))
    assert log.verify()[1].reason == "record 2 is missing"
    with log.db.transaction() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.position >= 2))
    assert log.verify()[1].reason == "records after this point were deleted"


def test_a_seal_while_verify_walks_is_no_break(url, log):
    """The worker seals every second: verify checks the chain up to the head it read first."""
    for _ in range(3):
        log.record("login")
    log.seal()
    sealed = []

    @event.listens_for(log.db.engine, "before_cursor_execute")
    def worker_seals_meanwhile(conn, cursor, statement, *args):
        if not sealed and "FROM audit_events" in statement and "position >=" in statement:
            sealed.append(True)
            worker = Database(url)  # on a connection of its own
            AuditLog(worker).record("login")
            AuditLog(worker).seal()
            worker.engine.dispose()

    assert log.verify() == (3, None)
    assert sealed
    assert log.verify() == (4, None)


def test_writers_at_once_are_all_chained_once(url, log):
    """Many writers never wait for each other; sealers running at the same time give every record one place."""
    def write(n: int) -> None:
        for i in range(10):
            log.record("login", detail={"writer": n, "i": i})

    writers = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    sealers = [threading.Thread(target=log.seal) for _ in range(2)]
    for thread in writers + sealers:
        thread.start()
    for thread in writers + sealers:
        thread.join()
    assert log.verify() == (40, None)
    assert sorted(row.position for row in rows(log)) == list(range(1, 41))
    with log.db.read() as session:
        assert session.get(AuditHead, 1).seq == 40
