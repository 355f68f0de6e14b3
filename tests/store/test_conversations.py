"""Conversations: history, LLM context, idempotent writes, isolation, concurrency, turns."""

from __future__ import annotations

import threading
import uuid

import pytest

from roomvoice.events import ErrorEvent, Stage, TurnResult, TurnTimings
from roomvoice.store.conversations import ConversationStore, Message, select_last_exchanges
from roomvoice.store.db import Database
from roomvoice.store.errors import AccessError, NotFoundError, ValidationError
from roomvoice.store.turns import StoredTurn, TurnStore
from roomvoice.store.users import Role, User, UserStore
from tests.store.conftest import PASSWORD


def contents(messages: list[Message]) -> list[str]:
    return [m.content for m in messages]


def test_history_and_last_exchanges(conversations: ConversationStore, alice: User) -> None:
    conv = conversations.create_conversation(user_id=alice.id, title="dinner")
    conversations.append_message(conv.id, "system", "be brief")
    for i in range(1, 4):
        conversations.append_message(conv.id, "user", f"q{i}")
        conversations.append_message(conv.id, "assistant", f"a{i}")
    conversations.append_message(conv.id, "user", "q4")  # not answered yet

    history = conversations.history(conv.id, as_user=alice)
    assert contents(history) == ["be brief", "q1", "a1", "q2", "a2", "q3", "a3", "q4"]
    assert [m.id for m in history] == sorted(m.id for m in history)
    assert contents(conversations.history(conv.id, as_user=alice, limit=2)) == ["a3", "q4"]
    assert contents(conversations.last_exchanges(conv.id, 2)) == ["q3", "a3", "q4"]
    assert contents(conversations.last_exchanges(conv.id, 10)) == ["q1", "a1", "q2", "a2", "q3", "a3", "q4"]
    assert conversations.last_exchanges(conv.id, 0) == []
    for n in (0, 1, 2, 3, 10):  # the in-memory rule matches the SQL one
        assert contents(select_last_exchanges(history, n)) == contents(conversations.last_exchanges(conv.id, n))
    assert [m.as_chat().as_openai() for m in conversations.last_exchanges(conv.id, 1)] == [
        {"role": "user", "content": "q4"}
    ]


def test_append_is_idempotent_on_client_msg_id(db: Database, conversations: ConversationStore, alice: User) -> None:
    conv = conversations.create_conversation(user_id=alice.id)
    key = uuid.uuid4()
    first = conversations.append_message(conv.id, "user", "hello", client_msg_id=key)
    again = conversations.append_message(conv.id, "user", "hello", client_msg_id=key)
    assert again == first
    assert conversations.insert_conversation(conv) == conv  # same id twice: one row
    with db.connection() as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM conversations").fetchone() == (1,)
    other = conversations.create_conversation(user_id=alice.id)
    with pytest.raises(ValidationError, match="store-conflict"):
        conversations.append_message(other.id, "user", "hello", client_msg_id=key)


def test_message_validation(conversations: ConversationStore, alice: User) -> None:
    conv = conversations.create_conversation(user_id=alice.id)
    with pytest.raises(ValidationError) as info:
        conversations.append_message(conv.id, "user", "x" * 2001)
    assert info.value.code == "store-too-long" and "2001" in info.value.message and "2000" in info.value.message
    conversations.append_message(conv.id, "user", "x" * 2000)
    with pytest.raises(ValidationError, match="NUL"):
        conversations.append_message(conv.id, "user", "a\x00b")
    with pytest.raises(ValidationError, match="unknown message role"):
        conversations.append_message(conv.id, "root", "hi")
    with pytest.raises(NotFoundError):
        conversations.append_message(uuid.uuid4(), "user", "to nowhere")
    with pytest.raises(ValidationError, match="user or a room"):
        conversations.create_conversation()
    with pytest.raises(NotFoundError):
        conversations.create_conversation(user_id=424242)


def test_cross_user_isolation(
    conversations: ConversationStore, alice: User, bob: User, admin: User, guest: User
) -> None:
    mine = conversations.create_conversation(user_id=alice.id, title="private")
    conversations.append_message(mine.id, "user", "my secret")
    kitchen = conversations.create_conversation(room="kitchen")
    conversations.append_message(kitchen.id, "user", "what time is it")
    guest_conv = conversations.create_conversation(user_id=guest.id)

    assert contents(conversations.history(mine.id, as_user=alice)) == ["my secret"]
    assert contents(conversations.history(mine.id, as_user=admin)) == ["my secret"]
    for intruder, conv in [(bob, mine), (guest, mine), (guest, kitchen), (alice, guest_conv)]:
        with pytest.raises(AccessError) as info:
            conversations.history(conv.id, as_user=intruder)
        assert info.value.code == "store-forbidden"
        assert "my secret" not in str(info.value)
    assert contents(conversations.history(kitchen.id, as_user=bob)) == ["what time is it"]  # members: rooms
    assert conversations.history(guest_conv.id, as_user=guest) == []
    with pytest.raises(NotFoundError, match="store-not-found"):
        conversations.history(uuid.uuid4(), as_user=admin)
    assert [c.id for c in conversations.list_conversations(alice)] == [mine.id]
    assert conversations.list_conversations(bob) == []
    assert [c.id for c in conversations.room_conversations("kitchen")] == [kitchen.id]


INJECTIONS = [
    "'; DROP TABLE users; --",
    "Robert'); DROP TABLE messages;--",
    "\" OR 1=1 --",
    "$1; DELETE FROM conversations; $$",
    "%s %(x)s {0} \\x27 ' '' \\",
    "ü 🎤 \u202e reversed",
]


def test_injection_strings_round_trip_verbatim(
    db: Database, users: UserStore, conversations: ConversationStore, turns: TurnStore
) -> None:
    tables_before = set_of_tables(db)
    for i, text in enumerate(INJECTIONS):
        name = f"{text[:40]}{i}"
        user = users.create_user(name, text + " password", Role.MEMBER)
        assert users.authenticate(name, text + " password") == user
        assert users.find_user(name) == user and user.username == name
        conv = conversations.create_conversation(user_id=user.id, title=text)
        msg = conversations.append_message(conv.id, "user", text)
        assert msg.content == text
        assert conversations.get_conversation(conv.id).title == text
        assert contents(conversations.history(conv.id, as_user=user)) == [text]
        room_conv = conversations.create_conversation(room=text[:60])
        assert conversations.room_conversations(text[:60])[0].id == room_conv.id
        stored = turns.record(StoredTurn.from_result(
            TurnResult(room=text[:60], turn=i + 1, transcript=text, reply=text, reply_source=text)
        ))
        assert (stored.transcript, stored.reply, stored.reply_source, stored.room) == (text, text, text, text[:60])
        assert turns.recent(text[:60])[-1] == stored
    assert set_of_tables(db) == tables_before
    with db.connection() as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (len(INJECTIONS),)
        assert conn.execute("SELECT count(*) FROM messages").fetchone() == (len(INJECTIONS),)
        assert conn.execute("SELECT count(*) FROM conversations").fetchone() == (2 * len(INJECTIONS),)


def set_of_tables(db: Database) -> set[str]:
    with db.connection() as conn:
        return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def test_ten_concurrent_users_get_exact_ordered_histories(
    db: Database, users: UserStore, conversations: ConversationStore
) -> None:
    people = [users.create_user(f"user{i}", PASSWORD) for i in range(10)]
    convs = {p.id: conversations.create_conversation(user_id=p.id) for p in people}
    errors: list[BaseException] = []
    start = threading.Barrier(len(people))

    def chat(user: User) -> None:
        try:
            start.wait()
            for j in range(10):
                role = "user" if j % 2 == 0 else "assistant"
                conversations.append_message(convs[user.id].id, role, f"{user.username}-m{j}")
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=chat, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for p in people:
        history = conversations.history(convs[p.id].id, as_user=p)
        assert contents(history) == [f"{p.username}-m{j}" for j in range(10)]
        assert len({m.client_msg_id for m in history}) == 10
    with db.connection() as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT client_msg_id) FROM messages").fetchone() == (100, 100)


def test_turns_with_timings_and_errors(turns: TurnStore, conversations: ConversationStore) -> None:
    kitchen = conversations.create_conversation(room="kitchen")
    timings = TurnTimings(stt_s=0.21, llm_first_token_s=0.35, total_s=2.5, started_at=1.7e9)
    ok = StoredTurn.from_result(
        TurnResult(room="kitchen", turn=1, transcript="what time is it", reply="It is noon.",
                   reply_source="fast_path", timings=timings),
        conversation_id=kitchen.id,
    )
    failed = StoredTurn.from_result(TurnResult(
        room="kitchen", turn=2, transcript="", reply="Sorry.", reply_source="apology",
        error=ErrorEvent(room="kitchen", stage=Stage.STT, code="stt-failed", message="boom", audio_time_s=3.0),
    ))
    stored = turns.record(ok)
    assert stored.id is not None and stored.timings == timings and stored.conversation_id == kitchen.id
    assert turns.record(ok) == stored  # same turn_key: stored once
    assert turns.record(failed).error_code == "stt-failed"
    assert [t.turn for t in turns.recent("kitchen")] == [1, 2]
    assert turns.last_turn_number("kitchen") == 2 and turns.last_turn_number("office") == 0


def test_tool_calls_are_stored_with_the_turn_and_survive_the_journal(turns: TurnStore, tmp_path) -> None:
    from roomvoice.events import ToolCallRecord
    from roomvoice.store.journal import write_from_json, write_to_json

    calls = (
        ToolCallRecord("HassTurnOn", "fast_path", '{"intent": "HassTurnOn"}', True, "Turned on the kitchen lights.",
                       service="light.turn_on", entity_ids=("light.kitchen_lights",)),
        ToolCallRecord("unlock", "llm", '{"entity_id": "lock.front_door"}', False, "I didn't do that.",
                       code="tool-denied"),
    )
    turn = StoredTurn.from_result(TurnResult(room="kitchen", turn=3, transcript="turn on the kitchen lights",
                                             reply="Turned on the kitchen lights.", reply_source="fast_path",
                                             tool_calls=calls))
    assert write_from_json(write_to_json(turn)) == turn  # the outage journal keeps them
    stored = turns.record(turn)
    assert stored.tool_calls == calls
    assert turns.recent("kitchen")[-1].tool_calls == calls
