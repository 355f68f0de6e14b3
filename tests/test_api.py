"""The HTTP API: OpenAI-compatible chat (official client, streaming), rooms JSON API, access control.

Real embedded PostgreSQL for users and API keys, the real LLM and a real room runner; the official
``openai`` client talks to uvicorn on 127.0.0.1. Other requests go in-process (httpx ASGI transport),
which also lets a test pretend to come from an address outside the allow-list.
"""

from __future__ import annotations

import asyncio
from contextlib import ExitStack

import httpx
import pytest

from roomvoice.config import RoomConfig, SinkConfig, SourceConfig, load_config
from roomvoice.serve.api import ApiSettings, create_api
from roomvoice.serve.backends import LocalChatBackend, LocalRooms

from .conftest import AUDIO, data_dir_for_postgres, serve_on_loopback

pytestmark = pytest.mark.slow

INJECTIONS = ["'; DROP TABLE users; --", "Robert'); DROP TABLE messages;--", "1 OR 1=1"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from roomvoice.actors.room_actor import RoomRunner
    from roomvoice.serve.local import local_services_from_config
    from roomvoice.store.access import IpAllowList
    from roomvoice.store.credentials import ApiKeyStore
    from roomvoice.store.db import Database
    from roomvoice.store.server import EmbeddedPostgres
    from roomvoice.store.users import UserStore

    cleanup = ExitStack()
    server = EmbeddedPostgres(cleanup.enter_context(data_dir_for_postgres("roomvoice-test-api-"))).start()
    db = Database(server.url())
    db.migrate()
    users, keys = UserStore(db, bcrypt_rounds=4), ApiKeyStore(db)
    people = {name: users.create_user(name, "a long enough password", role)
              for name, role in (("alice", "member"), ("guest", "guest"), ("root", "admin"))}
    api_keys = {name: keys.create(u, "tests").key for name, u in people.items()}
    revoked = keys.create(people["alice"], "old")
    keys.revoke(revoked.info.id, as_user=people["alice"])

    cfg = load_config(["rooms=[kitchen]", "llm.max_tokens=32"])
    services = local_services_from_config(cfg)
    room_cfg = RoomConfig(name="kitchen", source=SourceConfig(type="file", paths=[str(AUDIO / "what_time_is_it.wav")]),
                          sink=SinkConfig(type="wav"))
    runner = RoomRunner(room_cfg, services, tmp_path_factory.mktemp("run"), "Sorry.")
    runner.start()
    chat = LocalChatBackend(services.core, services.llm, max_tokens=32)
    app = create_api(keys, IpAllowList(), chat, LocalRooms({"kitchen": runner}),
                     ApiSettings(model="roomvoice-test", max_message_chars=500))
    yield {"app": app, "keys": api_keys, "revoked": revoked.key, "db": db, "users": users}
    runner.stop()
    db.close()
    server.stop()
    cleanup.close()


def call(env, method, path, *, key="alice", ip="127.0.0.1", **kw):
    headers = kw.pop("headers", {})
    if key:
        headers["Authorization"] = f"Bearer {env['keys'].get(key, key)}"

    async def go():
        transport = httpx.ASGITransport(app=env["app"], client=(ip, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://roomvoice") as client:
            return await client.request(method, path, headers=headers, timeout=120, **kw)

    return asyncio.run(go())


@pytest.fixture(scope="module")
def http_url(env):
    with serve_on_loopback(env["app"]) as url:
        yield f"{url}/v1"


def test_openai_client_streams_a_chat_completion(env, http_url):
    from openai import OpenAI

    client = OpenAI(base_url=http_url, api_key=env["keys"]["alice"])
    assert [m.id for m in client.models.list().data] == ["roomvoice-test"]
    stream = client.chat.completions.create(
        model="roomvoice-test", stream=True, max_tokens=24,
        messages=[{"role": "user", "content": "Name a colour of the sky."}])
    deltas = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    assert len(deltas) > 1 and "".join(deltas).strip()
    full = client.chat.completions.create(model="roomvoice-test", messages=[{"role": "user", "content": "What time is it?"}])
    assert full.choices[0].message.content.startswith("It's ") and full.choices[0].finish_reason == "stop"


def test_openai_client_with_a_bad_key_gets_401(env, http_url):
    from openai import AuthenticationError, OpenAI

    with pytest.raises(AuthenticationError):
        OpenAI(base_url=http_url, api_key="rv-nope-nope").models.list()


@pytest.mark.parametrize("key,code", [(None, "missing_api_key"), ("rv-invalid-key", "invalid_api_key"),
                                      ("revoked", "invalid_api_key")])
def test_missing_invalid_or_revoked_key(env, key, code):
    if key == "revoked":
        key = env["revoked"]
    r = call(env, "GET", "/v1/models", key=key)
    assert r.status_code == 401 and r.json()["error"]["code"] == code


@pytest.mark.parametrize("ip", ["203.0.113.5", "8.8.8.8", "2001:db8::1"])
def test_addresses_outside_the_allow_list_are_refused(env, ip):
    r = call(env, "GET", "/v1/models", ip=ip)
    assert r.status_code == 403 and r.json()["error"]["code"] == "ip_not_allowed"


@pytest.mark.parametrize("ip", ["127.0.0.1", "192.168.1.20", "10.1.2.3"])
def test_loopback_and_private_addresses_are_allowed(env, ip):
    assert call(env, "GET", "/v1/models", ip=ip).status_code == 200


@pytest.mark.parametrize("body,status,code", [
    ({"messages": [{"role": "user", "content": "x" * 501}]}, 413, "message_too_long"),
    ({"messages": []}, 400, "invalid_request"),
    ({"messages": [{"role": "assistant", "content": "hi"}]}, 400, "invalid_request"),
    ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": "lots"}, 400, "invalid_request"),
    ({"messages": [{"role": "wizard", "content": "hi"}]}, 400, "invalid_request"),
    ({"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]}, 404, "model_not_found"),
])
def test_bad_chat_requests(env, body, status, code):
    r = call(env, "POST", "/v1/chat/completions", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["message"]


def test_malformed_json(env):
    r = call(env, "POST", "/v1/chat/completions", content=b'{"messages": [', headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"


def test_rooms_api_lists_and_speaks_into_a_room(env):
    rooms = call(env, "GET", "/api/rooms").json()
    assert [r["room"] for r in rooms] == ["kitchen"] and rooms[0]["state"] in ("idle", "listening")
    r = call(env, "POST", "/api/rooms/kitchen/say", json={"text": "What time is it?"})
    assert r.status_code == 200, r.text
    turn = r.json()
    assert turn["reply_source"] == "fast_path" and turn["reply"].startswith("It's ") and turn["reply_audio"]
    turns = call(env, "GET", "/api/rooms/kitchen/turns?limit=5").json()
    assert turns[-1]["transcript"] == "What time is it?" and "end_of_speech_to_first_audio_s" in turns[-1]["timings"]


@pytest.mark.parametrize("room", ["attic", *INJECTIONS])
def test_unknown_room(env, room):
    r = call(env, "POST", f"/api/rooms/{room}/say", json={"text": "hello"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "room_not_found"


def test_guest_may_not_speak_in_rooms_and_bad_texts_are_refused(env):
    assert call(env, "POST", "/api/rooms/kitchen/say", key="guest", json={"text": "hi"}).status_code == 403
    assert call(env, "POST", "/api/rooms/kitchen/say", json={"text": ""}).status_code == 400
    assert call(env, "POST", "/api/rooms/kitchen/say", json={"text": "y" * 501}).status_code == 413
    assert call(env, "GET", "/api/rooms/kitchen/turns?limit=0").status_code == 400


def test_injection_strings_are_just_text(env):
    for text in INJECTIONS:
        r = call(env, "POST", "/v1/chat/completions",
                 json={"messages": [{"role": "user", "content": f"What time is it? {text}"}]})
        assert r.status_code == 200
    assert [u.username for u in env["users"].list_users()] == ["alice", "guest", "root"]  # tables intact
