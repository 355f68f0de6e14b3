"""PostgreSQL stopped mid-conversation: writes queue, context comes from memory, nothing is lost
or duplicated after the restart (and after a process restart, through the journal).

These tests stop and start their own embedded server, not the session one.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from roomvoice.events import TurnResult
from roomvoice.store.conversations import ConversationStore, Message
from roomvoice.store.db import Database
from roomvoice.store.journal import WriteJournal
from roomvoice.store.resilient import ResilientStore
from roomvoice.store.server import EmbeddedPostgres
from roomvoice.store.turns import StoredTurn, TurnStore
from roomvoice.store.users import User, UserStore
from tests.store.conftest import PASSWORD, embedded_server, fresh_database_url


@pytest.fixture(scope="module")
def outage_server() -> Iterator[EmbeddedPostgres]:
    with embedded_server("roomvoice-test-outage-") as server:
        yield server


@pytest.fixture
def outage_db(outage_server: EmbeddedPostgres) -> Iterator[Database]:
    outage_server.start()
    database = Database(fresh_database_url(outage_server), connect_timeout_s=2.0, acquire_timeout_s=1.0)
    database.migrate()
    yield database
    outage_server.start()  # leave it running for the next test
    database.close()


@pytest.fixture
def owner(outage_db: Database) -> User:
    return UserStore(outage_db, bcrypt_rounds=4).create_user("alice", PASSWORD)


def make_store(db: Database, journal: Path | None, *, background: bool = False) -> ResilientStore:
    return ResilientStore(
        ConversationStore(db), TurnStore(db), journal=WriteJournal(journal) if journal else None,
        background=background, retry_initial_s=0.05, retry_max_s=0.5,
    )


def stored_messages(db: Database, conversation_id: uuid.UUID) -> list[str]:
    with db.connection() as conn:
        rows = conn.execute(
            "SELECT content FROM messages WHERE conversation_id = %s ORDER BY id", (conversation_id,)
        ).fetchall()
    return [r[0] for r in rows]


def chat(store: ResilientStore, conversation_id: uuid.UUID, *indices: int) -> list[Message]:
    out = []
    for i in indices:
        out.append(store.append_message(conversation_id, "user", f"q{i}"))
        out.append(store.append_message(conversation_id, "assistant", f"a{i}"))
    return out


def test_outage_mid_conversation_loses_nothing_and_duplicates_nothing(
    outage_server: EmbeddedPostgres, outage_db: Database, owner: User, tmp_path: Path
) -> None:
    journal = tmp_path / "store-journal.jsonl"
    store = make_store(outage_db, journal)
    conv = store.create_conversation(user_id=owner.id)
    assert all(m.id is not None for m in chat(store, conv.id, 1, 2))

    outage_server.stop()
    t0 = time.perf_counter()
    queued = chat(store, conv.id, 3)  # the first write notices the outage (acquire timeout)
    noticed_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    queued += chat(store, conv.id, 4, 5)
    queued_rate = 4 / (time.perf_counter() - t0)
    store.record_turn(StoredTurn.from_result(TurnResult("kitchen", 1, "q5", "a5", "llm")))
    assert not store.online and store.pending == 7
    assert all(m.id is None for m in queued)
    assert [m.content for m in store.last_exchanges(conv.id, 3)] == ["q3", "a3", "q4", "a4", "q5", "a5"]
    assert len(journal.read_text().splitlines()) == 7
    assert store.flush() == 0  # still down
    shutil.copy(journal, tmp_path / "journal-copy.jsonl")

    outage_server.start()
    assert store.flush() == 7
    assert store.online and store.pending == 0 and not journal.exists()
    expected = [f"{r}{i}" for i in range(1, 6) for r in ("q", "a")]
    assert stored_messages(outage_db, conv.id) == expected
    assert [m.content for m in store.last_exchanges(conv.id, 2)] == ["q4", "a4", "q5", "a5"]
    assert store.append_message(conv.id, "user", "q6").id is not None  # direct again

    replay = make_store(outage_db, tmp_path / "journal-copy.jsonl")  # e.g. a crash before the rewrite
    assert replay.pending == 7 and replay.flush() == 7
    assert stored_messages(outage_db, conv.id) == expected + ["q6"]
    with outage_db.connection() as conn:
        assert conn.execute("SELECT count(*) FROM voice_turns").fetchone() == (1,)
    assert replay.rejected == [] and store.rejected == []
    assert noticed_s < 3.0 and queued_rate > 20


def test_background_flusher_reconnects_by_itself(
    outage_server: EmbeddedPostgres, outage_db: Database, owner: User
) -> None:
    with make_store(outage_db, None, background=True) as store:
        conv = store.create_conversation(user_id=owner.id)
        chat(store, conv.id, 1)
        outage_server.stop()
        chat(store, conv.id, 2, 3)
        assert store.pending == 4
        time.sleep(0.3)  # a few failed attempts while the server is down
        assert store.pending == 4
        outage_server.start()
        deadline = time.monotonic() + 10
        while store.pending and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.pending == 0 and store.online
    assert stored_messages(outage_db, conv.id) == ["q1", "a1", "q2", "a2", "q3", "a3"]


def test_process_restart_replays_the_journal(
    outage_server: EmbeddedPostgres, outage_db: Database, owner: User, tmp_path: Path
) -> None:
    journal = tmp_path / "store-journal.jsonl"
    first = make_store(outage_db, journal)
    outage_server.stop()
    conv = first.create_conversation(user_id=owner.id, title="made while down")  # queued, FK order kept
    chat(first, conv.id, 1, 2)
    stray = first.append_message(uuid.uuid4(), "user", "to a conversation that never existed")
    chat(first, conv.id, 3)
    first.close(flush=False)  # the process dies with 8 writes queued

    outage_server.start()
    second = make_store(outage_db, journal)
    assert second.pending == 8
    assert [m.content for m in second.last_exchanges(conv.id, 1)] == ["q3", "a3"]
    assert second.flush() == 8
    assert second.rejected == [stray]  # refused for a reason other than availability: set aside
    assert stored_messages(outage_db, conv.id) == ["q1", "a1", "q2", "a2", "q3", "a3"]
    assert ConversationStore(outage_db).get_conversation(conv.id).title == "made while down"


def test_outage_noticed_by_a_read_ends_without_writes(
    outage_server: EmbeddedPostgres, outage_db: Database, owner: User
) -> None:
    store = make_store(outage_db, None)
    conv = store.create_conversation(user_id=owner.id)
    chat(store, conv.id, 1)
    outage_server.stop()
    assert [m.content for m in store.last_exchanges(conv.id, 5)] == ["q1", "a1"]  # from memory
    assert not store.online
    outage_server.start()
    assert store.flush() == 0 and store.online


def test_journal_skips_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = WriteJournal(path, fsync=False)
    turn = StoredTurn.from_result(TurnResult("office", 3, "hi", "hello", "llm"))
    journal.append(turn)
    with path.open("a") as f:
        f.write('{"kind": "message", "conversation_id": "')
    assert journal.load() == [turn]
    journal.rewrite([])
    assert not path.exists()
