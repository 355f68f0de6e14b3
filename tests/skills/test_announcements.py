"""Announcements: the phrase parser, and real speech (piper) reaching several in-process rooms
through ``LocalRooms``, the ``announce`` tool and ``POST /api/announce``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from roomvoice.config import RoomConfig, SinkConfig, SourceConfig
from roomvoice.events import AssistantRequest, Transcript, Utterance
from roomvoice.rooms.audio import AudioClip, read_audio_file, rms_dbfs, silence, write_wav
from roomvoice.skills.announcements import AnnouncementRequest, parse_announcement, tools
from roomvoice.skills.context import SkillContext
from roomvoice.skills.errors import ActionError
from roomvoice.skills.registry import ToolRegistry

ROOMS = ["kitchen", "office", "living_room"]


@pytest.mark.parametrize("words, expected", [
    ("Announce dinner is ready in the kitchen", AnnouncementRequest("Dinner is ready.", ("kitchen",))),
    ("announce dinner is ready everywhere", AnnouncementRequest("Dinner is ready.", (), True)),
    ("Announce in the kitchen and the living room that the film starts",
     AnnouncementRequest("The film starts.", ("kitchen", "living_room"))),
    ("hey jarvis, announce bedtime in the office, kitchen and living room",
     AnnouncementRequest("Bedtime.", ("office", "kitchen", "living_room"))),
    ("please announce that the taxi is here", AnnouncementRequest("The taxi is here.", (), True)),
    ("announce to everyone: lunch", AnnouncementRequest("Lunch.", (), True)),
    ("announce the garage door is open in the garage", AnnouncementRequest("The garage door is open in the garage.",
                                                                           (), True)),
])
def test_parse_announcement(words, expected):
    assert parse_announcement(words, ROOMS) == expected


def test_not_an_announcement_or_empty():
    assert parse_announcement("turn on the kitchen lights", ROOMS) is None
    assert parse_announcement("what did the announcer say", ROOMS) is None
    with pytest.raises(ActionError):
        parse_announcement("announce in the kitchen", ROOMS)


class SpeechOnly:
    """VoiceServices with the real piper voice; no STT or assistant (announcements need neither)."""

    def __init__(self) -> None:
        from roomvoice.serve.engines.models import piper_joe_voice
        from roomvoice.serve.engines.piper import PiperEngine

        self.tts = PiperEngine(*piper_joe_voice())

    def transcribe(self, utterance: Utterance) -> Transcript:
        raise AssertionError("no speech expected")

    def reply(self, request: AssistantRequest):
        raise AssertionError("no turn expected")

    def synthesize(self, text: str):
        return list(self.tts.synthesize(text))


@pytest.fixture(scope="module")
def house(tmp_path_factory):
    from roomvoice.actors.room_actor import RoomRunner
    from roomvoice.serve.backends import LocalRooms

    quiet = tmp_path_factory.mktemp("audio") / "quiet.wav"
    write_wav(quiet, AudioClip(silence(1.0), 16000))
    services = SpeechOnly()
    run_dir = tmp_path_factory.mktemp("run")
    runners = {}
    for name in ROOMS:
        cfg = RoomConfig(name=name, source=SourceConfig(type="file", paths=[str(quiet)], lead_s=0.0, tail_s=0.0),
                         sink=SinkConfig(type="wav"))
        runners[name] = RoomRunner(cfg, services, run_dir, "Sorry.")
        runners[name].start()
    for r in runners.values():
        assert r.wait(60)
    yield LocalRooms(runners), run_dir
    for r in runners.values():
        r.stop()


def spoken_seconds(path: str) -> float:
    clip = read_audio_file(path)
    assert rms_dbfs(clip.samples) > -40, f"{path} is silent"
    return len(clip.samples) / clip.rate


def test_announcement_reaches_several_rooms(house):
    rooms, run_dir = house
    said = asyncio.run(rooms.announce(["kitchen", "living_room"], "Dinner is ready."))
    assert [a.room for a in said] == ["kitchen", "living_room"]
    for a in said:
        assert a.error is None and a.source == "announcement" and a.audio_s > 0.5
        assert Path(a.path).parent.name == a.room and spoken_seconds(a.path) == pytest.approx(a.audio_s, abs=0.01)
    assert not list((Path(run_dir) / "office").glob("announce-*.wav"))
    assert all(s.turns == 0 for s in asyncio.run(rooms.statuses()))  # no turn was counted
    everywhere = asyncio.run(rooms.announce([], "Bedtime."))
    assert sorted(a.room for a in everywhere) == sorted(ROOMS) and all(spoken_seconds(a.path) for a in everywhere)
    assert len(list((Path(run_dir) / "kitchen").glob("announce-*.wav"))) == 2  # none overwritten
    with pytest.raises(Exception) as exc:
        asyncio.run(rooms.announce(["garage"], "x"))
    assert getattr(exc.value, "code", "") == "room-unknown"


def test_announce_tool(house):
    rooms, _ = house

    def announcer(targets, text):
        return asyncio.run(rooms.announce(targets, text))

    member = ToolRegistry(tools(announcer, SkillContext(role="member"), ROOMS))
    result = member.dispatch("announce", {"text": "the taxi is here", "rooms": ["office", "kitchen"]})
    assert result.ok and result.message == "Announced in the office and the kitchen."
    assert result.data["text"] == "The taxi is here."
    assert member.dispatch("announce", {"text": "x", "rooms": ["garage"]}).code == "tool-bad-arguments"
    assert member.dispatch("announce", {"text": "x", "rooms": "kitchen"}).code == "tool-bad-arguments"
    assert member.dispatch("announce", {"text": "x", "rooms": []}).code == "tool-bad-arguments"
    guest = ToolRegistry(tools(announcer, SkillContext(role="guest"), ROOMS))
    assert guest.dispatch("announce", {"text": "hello", "rooms": ["everywhere"]}).code == "permission-denied"


@dataclass(frozen=True)
class FakeUser:
    id: int
    username: str
    role: str


class Keys:
    def verify(self, key: str):
        return {"admin-key": FakeUser(1, "root", "admin"), "member-key": FakeUser(2, "alice", "member"),
                "guest-key": FakeUser(3, "visitor", "guest")}.get(key)


class AllowAll:
    def allows(self, ip: str) -> bool:
        return True


def test_http_announce_route(house):
    from roomvoice.serve.api import create_api

    rooms, run_dir = house
    app = create_api(Keys(), AllowAll(), chat=None, rooms=rooms)

    async def post(key, body):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/api/announce", json=body, headers={"Authorization": f"Bearer {key}"})

    before = len(list((Path(run_dir) / "office").glob("announce-*.wav")))
    ok = asyncio.run(post("admin-key", {"text": "Lunch is served", "rooms": ["office"]}))
    assert ok.status_code == 200, ok.text
    assert [r["room"] for r in ok.json()["rooms"]] == ["office"] and ok.json()["rooms"][0]["audio_s"] > 0.5
    assert len(list((Path(run_dir) / "office").glob("announce-*.wav"))) == before + 1
    every = asyncio.run(post("member-key", {"text": "Fire drill", "rooms": "everywhere"}))
    assert every.status_code == 200 and len(every.json()["rooms"]) == 3
    kitchen_before = len(list((Path(run_dir) / "kitchen").glob("announce-*.wav")))
    unknown = asyncio.run(post("admin-key", {"text": "x", "rooms": ["kitchen", "garage"]}))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "room_not_found"
    assert asyncio.run(post("guest-key", {"text": "x", "rooms": "everywhere"})).status_code == 403
    assert asyncio.run(post("nope", {"text": "x", "rooms": "everywhere"})).status_code == 401
    for bad in ({"text": "x", "rooms": "kitchen"}, {"text": "x"}, {"text": "", "rooms": ["office"]},
                {"text": "x", "rooms": ["office"], "shell": "rm -rf /"}):
        assert asyncio.run(post("admin-key", bad)).status_code == 400, bad
    assert len(list((Path(run_dir) / "kitchen").glob("announce-*.wav"))) == kitchen_before  # 404: spoken nowhere
    assert np.isfinite(spoken_seconds(ok.json()["rooms"][0]["path"]))
