"""STT biased towards the home's names: the room's vocabulary prompt fixes misheard device names.

Real piper (noise off, so the clips are the same every run), real whisper tiny.en, a real entity
index; only Home Assistant's states are made up (a home with brand-named devices).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import soxr

from roomvoice.config import load_config
from roomvoice.events import Utterance
from roomvoice.rooms.audio import SAMPLE_RATE
from roomvoice.rooms.endpoint import EndOfSpeechDetector, EndpointSettings
from roomvoice.rooms.room import Room
from roomvoice.rooms.sinks import NullSink
from roomvoice.rooms.vocabulary import MAX_PROMPT_CHARS, VocabularyCache
from roomvoice.rooms.wake import WakeWordDetector

pytestmark = pytest.mark.slow

DEVICES = {"light.lutron_dimmer": "Lutron Dimmer", "light.tradfri_lamp": "Tradfri Lamp",
           "light.govee_strip": "Govee Strip", "switch.meross_outlet": "Meross Outlet"}


@pytest.fixture(scope="module")
def engines():
    from roomvoice.serve.engines.piper import PiperEngine
    from roomvoice.serve.engines.models import piper_joe_voice
    from roomvoice.serve.factory import build_stt_engine

    model, config = piper_joe_voice()
    tts = PiperEngine(str(model), str(config), noise_scale=0.0, noise_w_scale=0.0)
    return build_stt_engine(load_config(["rooms=[kitchen]"]).stt), tts


def speak(tts, text: str) -> Utterance:
    audio = np.concatenate([a.samples for a in tts.synthesize(text)]).astype(np.float32) / 32768.0
    pcm = (np.clip(soxr.resample(audio, tts.sample_rate, SAMPLE_RATE), -1, 1) * 32767).astype(np.int16)
    pcm = np.concatenate([np.zeros(SAMPLE_RATE // 4, np.int16), pcm, np.zeros(SAMPLE_RATE // 4, np.int16)])
    return Utterance(pcm, SAMPLE_RATE, 0.0, len(pcm) / SAMPLE_RATE)


class Services:
    """STT through the real engine; routing and vocabulary from a real assistant (None: no Home Assistant)."""

    def __init__(self, stt, core=None):
        self.stt, self.core, self.prompts = stt, core, []

    def transcribe(self, utterance, prompt=None):
        self.prompts.append(prompt)
        return self.stt.transcribe([utterance.samples], prompt=prompt)[0]

    def route(self, request):
        return self.core.route(request) if self.core is not None else "llm"

    def vocabulary(self):
        if self.core is None:
            raise ConnectionError("Home Assistant is unreachable")
        return self.core.vocabulary()

    def reply(self, request):
        return iter(())

    def synthesize(self, text):
        return []


def room_with(services) -> Room:
    return Room("kitchen", wake=WakeWordDetector("hey_jarvis", 0.5), endpoint=EndOfSpeechDetector(EndpointSettings()),
                services=services, sink=NullSink())


@pytest.fixture(scope="module")
def brand_home():
    from tests.skills.fake_ha import FakeHomeAssistant
    from tests.skills.test_assistant_skills import make_core

    states = {eid: {"entity_id": eid, "state": "off", "attributes": {"friendly_name": name},
                    "last_changed": "2026-11-21T12:00:00+00:00"} for eid, name in DEVICES.items()}
    with FakeHomeAssistant(states=states, areas={}) as fake:
        yield make_core(fake.url)


def test_the_home_vocabulary_fixes_misheard_device_names(engines, brand_home):
    stt, tts = engines
    services = Services(stt, brand_home)
    room = room_with(services)
    plain = Services(stt, None)
    fixed = 0
    for entity_id, name in DEVICES.items():
        clip = speak(tts, f"Turn on the {name}.")
        before = plain.transcribe(clip).text
        heard = room.hear(clip)
        # the fast path acts on the right device: the name was heard, or is close enough to act on
        assert heard.route == "fast_path", (name, heard)
        match = brand_home.skills.recognizer.recognize(heard.transcript.text)
        assert [e.entity_id for e in match.entities] == [entity_id], (name, heard)
        if brand_home.skills.recognizes(before) != "sure":  # not acted on without the names: fixed by them
            fixed += 1
            assert heard.biased and name.lower() in heard.transcript.text.lower()
            assert services.prompts[-1] == brand_home.vocabulary()
    assert fixed >= 1  # e.g. "goby strip", "Maris Outlet" (tiny.en without the names)
    room.close()


def test_general_speech_is_heard_without_the_prompt(engines, brand_home):
    from tests.conftest import ARCTIC, AUDIO
    from roomvoice.rooms.audio import read_audio_file

    stt, _ = engines
    services = Services(stt, brand_home)
    room = room_with(services)
    clip = read_audio_file(AUDIO / "arctic_a0009.wav").samples
    heard = room.hear(Utterance(clip, SAMPLE_RATE, 0.0, len(clip) / SAMPLE_RATE))
    assert heard.route == "llm" and not heard.biased and services.prompts == [None]
    assert "gregson" in heard.transcript.text.lower()  # with a list of names as the prompt: "Greggs in"
    assert ARCTIC["arctic_a0009.wav"].split()[-1] in heard.transcript.text.lower()
    room.close()


def test_no_vocabulary_when_the_assistant_cannot_give_one(engines, caplog):
    stt, tts = engines
    services = Services(stt, None)
    room = room_with(services)
    clip = speak(tts, "Turn on the Lutron dimmer.")
    services.route = lambda request: "tool"
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            assert room.hear(clip).route == "tool"
    assert services.prompts == [None, None]
    assert sum("no STT vocabulary" in r.getMessage() for r in caplog.records) == 1
    room.close()


def test_vocabulary_cache_refreshes_and_bounds_the_prompt():
    now = [0.0]
    calls = []

    def fetch():
        calls.append(now[0])
        return "Kitchen,   Office\n" + "lamp " * 1000

    cache = VocabularyCache(fetch, "test", refresh_s=60.0, clock=lambda: now[0])
    text = cache.get()
    assert text.startswith("Kitchen, Office lamp") and len(text) <= MAX_PROMPT_CHARS
    now[0] = 30.0
    assert cache.get() == text and calls == [0.0]
    now[0] = 61.0
    cache.get()
    assert calls == [0.0, 61.0]
    assert VocabularyCache(None).get() is None
    assert VocabularyCache(lambda: "").get() is None
