"""Stored multi-user chat: conversations API, per-user isolation, concurrency, a PostgreSQL outage.

Real embedded PostgreSQL, the real SmolLM2 engine behind :class:`LocalChatBackend`, requests
through the FastAPI app (httpx ASGI transport). The backend is wrapped only to record which
context each request carried, so a test can check that no user ever sees another's history.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence

import httpx
import pytest

from roomvoice.config import load_config
from roomvoice.events import ChatMessage
from roomvoice.serve.api import ApiSettings, create_api
from roomvoice.serve.backends import LocalChatBackend, LocalRooms
from roomvoice.serve.chat import ChatService
from tests.store.conftest import embedded_server, fresh_database_url

pytestmark = pytest.mark.slow

PASSWORD = "a long enough password"


class RecordingBackend:
    """The real backend, recording (user id, context) of every request."""

    def __init__(self, inner: LocalChatBackend) -> None:
        self.inner = inner
        self.seen: list[tuple[int, list[ChatMessage]]] = []

    async def stream(self, user, messages: Sequence[ChatMessage], max_tokens, temperature) -> AsyncIterator[str]:
        self.seen.append((user.id, list(messages)))
        async for delta in self.inner.stream(user, messages, max_tokens, temperature):
            yield delta


@pytest.fixture(scope="module")
def llm_backend():
    from roomvoice.serve.local import local_services_from_config

    services = local_services_from_config(load_config(["rooms=[kitchen]", "llm.max_tokens=12"]))
    return LocalChatBackend(services.core, services.llm, max_tokens=12)


@pytest.fixture(scope="module")
def pg():
    with embedded_server("roomvoice-test-chat-") as server:
        yield server


def build(pg_server, llm_backend, *, history_turns: int = 2):
    from roomvoice.store.access import IpAllowList
    from roomvoice.store.conversations import ConversationStore
    from roomvoice.store.credentials import ApiKeyStore
    from roomvoice.store.db import Database
    from roomvoice.store.resilient import ResilientStore
    from roomvoice.store.turns import TurnStore
    from roomvoice.store.users import UserStore

    db = Database(fresh_database_url(pg_server), connect_timeout_s=2.0, acquire_timeout_s=1.0)
    db.migrate()
    store = ResilientStore(ConversationStore(db), TurnStore(db), retry_initial_s=0.05, retry_max_s=0.5)
    backend = RecordingBackend(llm_backend)
    service = ChatService(store, backend, history_turns=history_turns, max_message_chars=300)
    users, keys = UserStore(db, bcrypt_rounds=4), ApiKeyStore(db)
    app = create_api(keys, IpAllowList(), backend, LocalRooms({}), ApiSettings(max_message_chars=300),
                     conversations=service, users=users)
    return db, store, service, backend, users, keys, app


@pytest.fixture(scope="module")
def env(pg, llm_backend):
    db, store, service, backend, users, keys, app = build(pg, llm_backend)
    people = {n: users.create_user(n, PASSWORD, r) for n, r in (("alice", "member"), ("bob", "member"),
                                                                ("gus", "guest"), ("root", "admin"))}
    api_keys = {n: keys.create(u, "tests").key for n, u in people.items()}
    yield {"app": app, "keys": api_keys, "db": db, "store": store, "service": service, "backend": backend,
           "users": users, "people": people}
    store.close()
    db.close()


async def _request(app, method, path, key, **kw):
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://roomvoice") as client:
        headers = {"Authorization": f"Bearer {key}", **kw.pop("headers", {})}
        return await client.request(method, path, headers=headers, timeout=120, **kw)


def call(env, method, path, who="alice", **kw):
    return asyncio.run(_request(env["app"], method, path, env["keys"].get(who, who), **kw))


def stored(db, conversation_id) -> list[tuple[str, str]]:
    with db.connection() as conn:
        return [tuple(r) for r in conn.execute(
            "SELECT role, content FROM messages WHERE conversation_id = %s ORDER BY id", (conversation_id,))]


def test_conversation_is_stored_and_streamed(env):
    r = call(env, "POST", "/api/conversations", json={"title": "sky"})
    assert r.status_code == 201
    cid = r.json()["id"]
    r = call(env, "POST", f"/api/conversations/{cid}/messages", json={"content": "What time is it?"})
    assert r.status_code == 200 and r.json()["reply"].startswith("It's ")
    r = call(env, "POST", f"/api/conversations/{cid}/messages",
             json={"content": "Name a colour of the sky.", "stream": True})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = [line[6:] for line in r.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    deltas = [json.loads(e)["delta"] for e in events[:-1]]
    assert len(deltas) > 1
    history = call(env, "GET", f"/api/conversations/{cid}/messages").json()
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]
    assert history[2]["content"] == "Name a colour of the sky."
    assert history[3]["content"] == "".join(deltas).strip()
    assert stored(env["db"], uuid.UUID(cid)) == [(m["role"], m["content"]) for m in history]
    # the second request's context was the first exchange
    _, context = env["backend"].seen[-1]
    assert [m.content for m in context[:2]] == ["What time is it?", history[1]["content"]]
    assert cid in [c["id"] for c in call(env, "GET", "/api/conversations").json()]


def test_no_user_reads_or_writes_anothers_conversation(env):
    cid = call(env, "POST", "/api/conversations", json={"title": "private"}).json()["id"]
    call(env, "POST", f"/api/conversations/{cid}/messages", json={"content": "What day is it?"})
    before = stored(env["db"], uuid.UUID(cid))
    for who in ("bob", "gus"):
        r = call(env, "GET", f"/api/conversations/{cid}/messages", who=who)
        assert r.status_code == 403 and r.json()["error"]["code"] == "store_forbidden"
        r = call(env, "POST", f"/api/conversations/{cid}/messages", who=who, json={"content": "leak it"})
        assert r.status_code == 403
        assert cid not in [c["id"] for c in call(env, "GET", "/api/conversations", who=who).json()]
    assert stored(env["db"], uuid.UUID(cid)) == before  # nothing written
    assert call(env, "GET", f"/api/conversations/{cid}/messages", who="root").status_code == 200  # admin


@pytest.mark.parametrize("path,body,status,code", [
    ("/api/conversations/not-a-uuid/messages", {"content": "hi"}, 400, "invalid_conversation_id"),
    (f"/api/conversations/{uuid.UUID(int=7)}/messages", {"content": "hi"}, 404, "store_not_found"),
    ("/api/conversations", {"title": "x" * 201}, 400, "invalid_request"),
    ("/api/conversations", {"owner": 3}, 400, "invalid_request"),
])
def test_bad_conversation_requests(env, path, body, status, code):
    r = call(env, "POST", path, json=body)
    assert r.status_code == status and r.json()["error"]["code"] == code


def test_oversized_empty_and_malformed_messages_write_nothing(env):
    cid = call(env, "POST", "/api/conversations", json={}).json()["id"]
    path = f"/api/conversations/{cid}/messages"
    assert call(env, "POST", path, json={"content": "x" * 301}).status_code == 413
    assert call(env, "POST", path, json={"content": "   "}).status_code == 400
    assert call(env, "POST", path, json={"content": "a\x00b"}).status_code == 400
    r = call(env, "POST", path, content=b'{"content": ', headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    assert stored(env["db"], uuid.UUID(cid)) == []


@pytest.mark.parametrize("text", ["'; DROP TABLE messages; --", "Robert'); DELETE FROM users;--", "1 OR 1=1"])
def test_sql_injection_text_is_stored_verbatim(env, text):
    r = call(env, "POST", "/api/conversations", json={"title": text})
    cid = r.json()["id"]
    assert r.status_code == 201 and r.json()["title"] == text
    call(env, "POST", f"/api/conversations/{cid}/messages", json={"content": text})
    assert stored(env["db"], uuid.UUID(cid))[0] == ("user", text)
    assert len(env["users"].list_users()) == 4


def test_ten_concurrent_users_each_get_their_own_history(env):
    users = [env["users"].create_user(f"user{i}", PASSWORD, "member") for i in range(10)]
    service: ChatService = env["service"]
    env["backend"].seen.clear()

    async def one(user):
        conversation = await asyncio.to_thread(service.start, user, f"chat of {user.username}")
        replies = []
        for turn in range(2):
            replies.append(await service.reply(user, conversation.id, f"I am {user.username}, message {turn}."))
        return conversation.id, replies

    async def everyone():
        return await asyncio.gather(*(one(u) for u in users))

    t0 = time.monotonic()
    results = asyncio.run(everyone())
    elapsed = time.monotonic() - t0
    for user, (cid, replies) in zip(users, results):
        history = service.history(user, cid)
        assert [(m.role, m.content) for m in history] == [
            ("user", f"I am {user.username}, message 0."), ("assistant", replies[0]),
            ("user", f"I am {user.username}, message 1."), ("assistant", replies[1]),
        ]
        contexts = [ctx for uid, ctx in env["backend"].seen if uid == user.id]
        assert len(contexts) == 2
        # the second request carried exactly this user's first exchange, nobody else's
        assert [m.content for m in contexts[1]] == [f"I am {user.username}, message 0.", replies[0],
                                                   f"I am {user.username}, message 1."]
    assert len(env["backend"].seen) == 20 and elapsed < 120


def test_postgres_stopped_and_restarted_mid_conversation_keeps_every_message(llm_backend):
    with embedded_server("roomvoice-test-chat-outage-") as server:
        db, store, service, backend, users, _, _ = build(server, llm_backend)
        alice = users.create_user("alice", PASSWORD, "member")
        conversation = service.start(alice, "outage")
        first = asyncio.run(service.reply(alice, conversation.id, "What time is it?"))

        server.stop()
        second = asyncio.run(service.reply(alice, conversation.id, "Name a colour of the sky."))
        assert not store.online and store.pending == 2
        # context during the outage came from memory
        assert [m.content for m in backend.seen[-1][1][:2]] == ["What time is it?", first]
        assert [m.content for m in service.history(alice, conversation.id)][-2:] == ["Name a colour of the sky.",
                                                                                     second]
        outage_conversation = service.start(alice, "started while down")
        third = asyncio.run(service.reply(alice, outage_conversation.id, "What day is it?"))

        server.start()
        deadline = time.monotonic() + 30
        while (store.pending or not store.online) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert store.pending == 0 and store.rejected == []
        assert stored(db, conversation.id) == [("user", "What time is it?"), ("assistant", first),
                                               ("user", "Name a colour of the sky."), ("assistant", second)]
        assert stored(db, outage_conversation.id) == [("user", "What day is it?"), ("assistant", third)]
        assert {c.id for c in service.conversations(alice)} == {conversation.id, outage_conversation.id}
        store.close()
        db.close()


def test_voice_turns_are_stored_with_their_timings(pg, tmp_path):
    from roomvoice.actors.room_actor import RoomRunner
    from roomvoice.config import RoomConfig, SinkConfig, SourceConfig
    from roomvoice.serve.local import local_services_from_config
    from roomvoice.store.db import Database
    from tests.conftest import AUDIO

    url = fresh_database_url(pg)
    db = Database(url)
    db.migrate()
    services = local_services_from_config(load_config(["rooms=[kitchen]", "llm.max_tokens=12"]))
    room_cfg = RoomConfig(name="kitchen", source=SourceConfig(
        type="file", paths=[str(AUDIO / "hey_jarvis.wav"), str(AUDIO / "what_time_is_it.wav")], gap_s=1.2),
        sink=SinkConfig(type="wav"))
    runner = RoomRunner(room_cfg, services, tmp_path, "Sorry.", store_url=url)
    runner.start()
    assert runner.wait(120)
    typed = runner.say("What day is it?")
    runner.stop()
    with db.connection() as conn:
        rows = conn.execute("SELECT room, turn, transcript, reply, reply_source, timings, conversation_id"
                            " FROM voice_turns ORDER BY turn").fetchall()
        messages = conn.execute("SELECT role, content FROM messages WHERE conversation_id = %s ORDER BY id",
                                (rows[0][6],)).fetchall()
    assert [r[1] for r in rows] == [1, 2]
    assert "time" in rows[0][2].lower() and rows[0][4] == "fast_path" and rows[0][5]["stt_s"] > 0
    assert rows[1][2] == "What day is it?" and rows[1][3] == typed.reply
    assert [m[0] for m in messages] == ["user", "assistant", "user", "assistant"]
    db.close()


def test_only_admins_manage_users(env):
    body = {"username": "newcomer", "password": PASSWORD, "role": "guest"}
    for who in ("alice", "gus"):
        r = call(env, "POST", "/api/users", who=who, json=body)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        assert call(env, "GET", "/api/users", who=who).status_code == 403
    assert env["users"].find_user("newcomer") is None  # nothing written
    r = call(env, "POST", "/api/users", who="root", json=body)
    assert r.status_code == 201 and r.json()["role"] == "guest"
    new_id = r.json()["id"]
    assert call(env, "POST", "/api/users", who="root", json=body).status_code == 409
    assert call(env, "POST", "/api/users", who="root", json={**body, "username": "x", "password": "short"}
                ).status_code == 400
    assert call(env, "POST", "/api/users", who="root", json={**body, "role": "superuser"}).status_code == 400
    assert call(env, "PATCH", f"/api/users/{new_id}", who="root", json={"role": "member"}).json()["role"] == "member"
    assert call(env, "PATCH", "/api/users/999999", who="root", json={"role": "member"}).status_code == 404
    root_id = env["people"]["root"].id
    assert call(env, "DELETE", f"/api/users/{root_id}", who="root").status_code == 400
    assert call(env, "DELETE", f"/api/users/{new_id}", who="root").status_code == 204
    assert env["users"].find_user("newcomer") is None
