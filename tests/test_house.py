"""One house, not N rooms, without Ray: full-duplex rooms in simulated acoustics.

Real wake word, Silero end of speech, whisper, SmolLM2, piper and WebRTC echo cancellation;
the rooms run on virtual time (file-like microphones read as fast as the room takes them), so a
turn's computing costs no audio time while its reply plays on the audio clock. Speech is the
bundled "hey jarvis" recording and piper's joe voice with its sampling noise off.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from roomvoice.config import load_config
from roomvoice.events import RoomEvent, TurnResult, WakeClaim, WakeDecision, WakeDetection
from roomvoice.rooms.acoustics import RoomAcoustics
from roomvoice.rooms.simulated_house import SimulatedHouse
from roomvoice.rooms.arbitration import ArbitrationBook
from roomvoice.rooms.audio import SAMPLE_RATE, read_audio_file, to_contract
from roomvoice.rooms.bargein import BargeInSettings, match_stop_phrase
from roomvoice.rooms.endpoint import EndOfSpeechDetector, EndpointSettings
from roomvoice.rooms.room import Room, RoomOptions
from roomvoice.rooms.sinks import NullSink, WavSink
from roomvoice.rooms.wake import WakeWordDetector
from tests.conftest import AUDIO, in_process_services, repeatable_tts

pytestmark = pytest.mark.slow

WAKE = read_audio_file(AUDIO / "hey_jarvis.wav").samples


def said(text: str) -> np.ndarray:
    """``text`` spoken by piper (noise off), 16 kHz int16."""
    tts = repeatable_tts()
    return to_contract(np.concatenate([a.samples for a in tts.synthesize(text)]), tts.sample_rate, what="piper")


def onset_s(samples: np.ndarray) -> float:
    """Seconds from the start of a clip to its first 10 ms frame above -40 dBFS (where speech starts)."""
    frames = samples[: len(samples) // 160 * 160].astype(np.float64).reshape(-1, 160) / 32768.0
    loud = np.flatnonzero(np.sqrt((frames ** 2).mean(axis=1)) > 0.01)
    return float(loud[0] * 160 / SAMPLE_RATE) if len(loud) else 0.0


@pytest.fixture(scope="module")
def services():
    return in_process_services(max_tokens=160)


class Events(list):
    def of(self, type_, **match):
        return [e for e in self if isinstance(e, type_) and all(getattr(e, k) == v for k, v in match.items())]


def house_room(house: SimulatedHouse, name: str, services, tmp_path, *, aec=True, followup_s=0.0, arbiter=None,
               realtime_playback=True, sink=None, barge_in=BargeInSettings()):
    events = Events()
    room = Room(name, wake=WakeWordDetector("hey_jarvis", 0.5), endpoint=EndOfSpeechDetector(EndpointSettings()),
                services=services, sink=sink or WavSink(tmp_path / name), on_event=events.append,
                options=RoomOptions(realtime_playback=realtime_playback, aec=aec, followup_s=followup_s,
                                    barge_in=barge_in),
                arbiter=arbiter, on_played=house.tap(name).write)
    room.prepare_apology()
    return room, events


def request_at(house: SimulatedHouse, at_s: float, text: str) -> tuple[float, float]:
    """The wake word at ``at_s``, then ``text``; returns the request's (start, end) on the timeline."""
    _, wake_end = house.add_utterance(at_s, WAKE)
    return house.add_utterance(wake_end + 0.25, said(text))


def test_stop_phrase_interrupts_a_long_reply_within_0_4_s(services, tmp_path):
    house = SimulatedHouse([RoomAcoustics("den", echo_gain_db=-6.0)], duration_s=30.0)
    _, end = request_at(house, 1.0, "Tell me a long story about a dragon who lived in a castle.")
    stop = said("Stop.")
    stop_at = end + 4.0  # the reply starts about 0.8 s after the request ends (virtual time)
    house.add_utterance(stop_at, stop)
    room, events = house_room(house, "den", services, tmp_path)
    turns = room.run(house.microphone("den").chunks())
    [turn] = turns
    assert turn.interrupted and turn.spoken_text, turn
    assert len(turn.spoken_text.split()) < len(turn.reply.split()) or turn.reply_source == "llm"
    [barge] = events.of(RoomEvent, kind="barge_in")
    assert barge.detail["reason"] == "barge-in-stop" and barge.detail["phrase"] == "stop", barge
    reaction = barge.detail["reaction_s"]
    assert reaction <= 0.3, barge  # VAD onset -> playback held
    true_start = stop_at + onset_s(stop)
    # phrase start -> silence: one trial, so bounded by the benchmark's p95 (0.32 s, benchmarks/house.py) plus
    # margin; the echo under the phrase (which words of the reply play then) moves the VAD onset by ~0.1 s
    assert barge.detail["stopped_at_s"] - true_start <= 0.4, (barge, true_start)
    assert room.state.value == "idle"
    # nothing more was played after the stop: the tap holds silence from the stop on
    tap = house.tap("den")
    after = tap.read(barge.detail["stopped_at_s"] + 0.01, SAMPLE_RATE)
    assert not after.any()


def test_wake_word_during_a_reply_starts_a_new_turn(services, tmp_path):
    house = SimulatedHouse([RoomAcoustics("den", echo_gain_db=-6.0)], duration_s=32.0)
    _, end = request_at(house, 1.0, "Tell me a long story about a dragon who lived in a castle.")
    request_at(house, end + 4.0, "What time is it?")
    room, events = house_room(house, "den", services, tmp_path)
    turns = room.run(house.microphone("den").chunks())
    assert len(turns) == 2, turns
    assert turns[0].interrupted and not turns[1].interrupted
    assert turns[1].reply_source == "fast_path" and "time" in turns[1].transcript.lower(), turns[1]
    [barge] = events.of(RoomEvent, kind="barge_in")
    assert barge.detail["reason"] == "barge-in-wake"


@pytest.mark.parametrize("aec", [True, False])
def test_own_reply_saying_the_wake_word_does_not_wake_the_room_with_aec(services, tmp_path, aec):
    house = SimulatedHouse([RoomAcoustics("den", echo_gain_db=-6.0, noise_dbfs=-60.0)], duration_s=14.0)
    # playback is not paused on speech here: without AEC the room's own echo would pause it
    room, events = house_room(house, "den", services, tmp_path, aec=aec,
                              barge_in=BargeInSettings(pause_on_speech=False))
    done = room.submit_announcement("Hey Jarvis, hey Jarvis. Hey Jarvis.")
    for chunk in house.microphone("den").chunks():
        room.feed(chunk)
    room.drain()
    assert done.result(5).audio_s > 1.0
    wakes = events.of(WakeDetection)
    if aec:
        assert wakes == [] and events.of(RoomEvent, kind="barge_in") == [], wakes
    else:  # the same scene without echo cancellation: the room wakes itself (the test can fail)
        assert wakes, "expected the room's own 'hey jarvis' to wake it without AEC"


def test_stop_phrase_while_idle_does_nothing(services, tmp_path):
    house = SimulatedHouse([RoomAcoustics("den")], duration_s=6.0)
    house.add_utterance(1.0, said("Stop."))
    room, events = house_room(house, "den", services, tmp_path)
    assert room.run(house.microphone("den").chunks()) == []
    assert events.of(RoomEvent) == [] and room.state.value == "idle"


def test_stop_phrase_matching():
    phrases = ("stop", "cancel", "never mind")
    for text in ("Stop.", "stop stop", "Okay, stop please!", "Jarvis, cancel.", "Nevermind.", "never mind",
                 "Ansel."):  # how whisper heard "Cancel." through the echo canceller
        assert match_stop_phrase(text, phrases), text
    for text in ("Don't stop the music.", "Stopwatch", "", "Thank you.", "cancel my meeting tomorrow", "Stuff.",
                 "Hello.", "Scotland", "It's gone.", "pencil."):
        assert match_stop_phrase(text, phrases) is None, text


class BookArbiter:
    """The arbiter's pure logic in-process, on the house's (shared, simulated) clock."""

    def __init__(self, window_s=0.2):
        self.book = ArbitrationBook(window_s, 1.0)
        self.now = 0.0
        self.decisions: dict[str, WakeDecision] = {}

    def advance(self, now_s: float) -> None:
        self.now = now_s
        for d in self.book.due(now_s):
            self.decisions[d.claim_id] = d

    def submit(self, claim: WakeClaim):
        self.book.submit(claim, self.now)
        arbiter = self

        class Pending:
            def done(self):
                return claim.claim_id in arbiter.decisions

            def result(self, timeout_s=None):
                return arbiter.decisions[claim.claim_id]

        return Pending()


def test_louder_room_answers_every_utterance_exactly_once(services, tmp_path):
    """20 utterances, random level gaps of 3-15 dB and delays of 0-80 ms between two rooms."""
    rng = random.Random(8)
    n = 20
    layout = [(rng.uniform(3, 15), rng.uniform(0.0, 0.08), rng.random() < 0.5) for _ in range(n)]
    rooms_ac = [RoomAcoustics("kitchen", noise_dbfs=-65.0, seed=1), RoomAcoustics("office", noise_dbfs=-65.0, seed=2)]
    request = said("What time is it?")
    answers: dict[str, list[TurnResult]] = {"kitchen": [], "office": []}
    for i, (gap_db, delay_s, kitchen_louder) in enumerate(layout):
        arbiter = BookArbiter()  # each scene starts the house clock at 0
        # one utterance per scene; each room hears it at its own gain and delay
        near, far = ("kitchen", "office") if kitchen_louder else ("office", "kitchen")
        acoustics = {near: RoomAcoustics(near, gain_db=-3.0, noise_dbfs=-65.0, seed=i),
                     far: RoomAcoustics(far, gain_db=-3.0 - gap_db, delay_s=delay_s, noise_dbfs=-65.0, seed=i + 50)}
        house = SimulatedHouse(list(acoustics.values()), duration_s=7.0)
        _, wake_end = house.add_utterance(1.0, WAKE)
        house.add_utterance(wake_end + 0.25, request)
        rooms = {name: house_room(house, name, services, tmp_path / str(i), aec=False, arbiter=arbiter,
                                  realtime_playback=False, sink=NullSink())
                 for name in acoustics}
        mics = {name: house.microphone(name).chunks() for name in acoustics}
        for chunks in zip(*mics.values()):
            arbiter.advance(chunks[0].end_s)
            for (name, (room, _)), chunk in zip(rooms.items(), chunks):
                room.feed(chunk)
        for name, (room, events) in rooms.items():
            room.drain()
            answers[name] += [t for t in room.turns if t.error is None]
            room.close()
        answered = [name for name, (room, _) in rooms.items() if room.turns]
        assert answered == [near], (i, gap_db, delay_s, answered, {k: r[1] for k, r in rooms.items()})
        lost = rooms[far][1].of(RoomEvent, kind="wake_lost")
        assert len(lost) == 1 and lost[0].detail["winner"] == near
    assert sum(len(v) for v in answers.values()) == n  # exactly one answer per utterance


def test_followup_is_answered_without_the_wake_word(tmp_path):
    from roomvoice.serve.local import local_services_from_config
    from tests.skills.fake_ha import TOKEN, FakeHomeAssistant

    with FakeHomeAssistant() as fake:
        services = local_services_from_config(load_config([
            "rooms=[kitchen]", "llm.max_tokens=24", f"skills.homeassistant.url={fake.url}",
            f"skills.homeassistant.token={TOKEN}"]))
        house = SimulatedHouse([RoomAcoustics("kitchen", echo_gain_db=-6.0)], duration_s=22.0)
        _, end = request_at(house, 1.0, "Turn on kitchen.")
        house.add_utterance(end + 7.0, said("Turn on the kitchen lights."))  # no wake word
        room, events = house_room(house, "kitchen", services, tmp_path, followup_s=8.0)
        turns = room.run(house.microphone("kitchen").chunks())
        assert [t.reply for t in turns][:1] == ["Which one did you mean: Coffee Maker or Kitchen Lights?"], turns
        assert len(turns) == 2 and turns[1].followup and not turns[0].followup, turns
        assert events.of(RoomEvent, kind="followup_started")
        assert len(events.of(WakeDetection)) == 1  # only the first request had the wake word
        assert [(c.domain, c.service, c.body) for c in fake.calls] == \
            [("light", "turn_on", {"entity_id": ["light.kitchen_lights"]})]


class FailingSink(WavSink):
    """A speaker that dies after a few chunks of a reply (a USB speaker unplugged mid-sentence)."""

    def __init__(self, directory, after_writes=5):
        super().__init__(directory)
        self.after, self.writes = after_writes, 0

    def write(self, audio):
        self.writes += 1
        if self.writes == self.after:
            from roomvoice.errors import AudioError

            raise AudioError("audio-device-lost", "the speaker went away")
        super().write(audio)


def test_a_sink_that_fails_mid_reply_gives_an_error_and_the_room_listens_again(services, tmp_path):
    from roomvoice.events import ErrorEvent

    house = SimulatedHouse([RoomAcoustics("den", echo_gain_db=-6.0)], duration_s=26.0)
    request_at(house, 1.0, "What time is it?")
    request_at(house, 14.0, "What time is it?")
    room, events = house_room(house, "den", services, tmp_path, sink=FailingSink(tmp_path / "den"))
    turns = room.run(house.microphone("den").chunks())
    assert [t.reply_source for t in turns] == ["apology", "fast_path"], turns  # then answered again
    [err] = events.of(ErrorEvent)
    assert err.code == "audio-device-lost" and err.stage.value == "playback"
    assert room.state.value == "idle"


def test_barge_in_racing_the_natural_end_of_the_reply_does_nothing(services, tmp_path):
    house = SimulatedHouse([RoomAcoustics("den")], duration_s=8.0)
    request_at(house, 1.0, "What time is it?")
    room, events = house_room(house, "den", services, tmp_path)
    [turn] = room.run(house.microphone("den").chunks())
    assert not turn.interrupted
    assert room.interrupt("barge-in-stop", room.audio_time_s) is False  # the reply already ended
    assert events.of(RoomEvent, kind="barge_in") == [] and room.state.value == "idle"


@pytest.mark.parametrize("policy", ["wait", "interrupt"])
def test_announcements_never_overlap_a_reply(services, tmp_path, policy):
    """An announcement made while the room speaks waits for the reply to end, or cuts it (policy)."""
    from roomvoice.events import Announcement, StateChanged

    house = SimulatedHouse([RoomAcoustics("den", echo_gain_db=-6.0)], duration_s=40.0)
    _, end = request_at(house, 1.0, "Tell me a long story about a dragon who lived in a castle.")
    events = Events()
    room = Room("den", wake=WakeWordDetector("hey_jarvis", 0.5), endpoint=EndOfSpeechDetector(EndpointSettings()),
                services=services, sink=WavSink(tmp_path / "den"), on_event=events.append,
                options=RoomOptions(realtime_playback=True, aec=True, announce_policy=policy),
                on_played=house.tap("den").write)
    announced = None
    for chunk in house.microphone("den").chunks():
        room.feed(chunk)
        if announced is None and room.state.value == "speaking" and chunk.end_s > end + 2.0:
            announced = room.submit_announcement("Dinner is ready.")
    room.drain()
    assert announced is not None and announced.result(5).error is None
    [turn] = list(room.turns)
    assert turn.interrupted is (policy == "interrupt"), turn
    changes = [(e.old.value, e.new.value, e.reason) for e in events.of(StateChanged)]
    i = changes.index(("idle", "speaking", "announcement"))
    # the reply's SPEAKING ended (done or cut) before the announcement's began: never both at once
    assert changes[i - 1][1] == "idle", changes
    [said] = events.of(Announcement)
    assert said.audio_s > 0.5
