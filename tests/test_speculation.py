"""Transcribing in the pause before the end of turn (roomvoice.rooms.speculation).

Real end-of-speech detection (Silero), real whisper tiny.en and the real fast path on the bundled
clips; the only wrapper counts STT calls.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from roomvoice.events import Transcript, Utterance
from roomvoice.rooms.audio import SAMPLE_RATE, iter_chunks, read_audio_file
from roomvoice.rooms.endpoint import EndOfSpeechDetector, EndpointKind, EndpointSettings
from roomvoice.rooms.room import Room
from roomvoice.rooms.room_types import RoomOptions
from roomvoice.rooms.sinks import NullSink
from roomvoice.rooms.speculation import Speculator, wait_for
from roomvoice.rooms.vocabulary import Heard
from roomvoice.rooms.wake import WakeWordDetector

from .conftest import AUDIO, in_process_services
from .test_room import norm

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def services():
    return in_process_services(max_tokens=24)


def clip(name: str) -> np.ndarray:
    return read_audio_file(AUDIO / name).samples


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), np.int16)


class CountingServices:
    """The real services, counting STT calls."""

    def __init__(self, inner):
        self.inner = inner
        self.transcribed: list[float] = []
        self.passes: list[str] = []

    def transcribe(self, utterance, prompt=None, first_pass=False):
        self.transcribed.append(utterance.duration_s)
        self.passes.append("first" if first_pass else "main")
        return self.inner.transcribe(utterance, prompt, first_pass)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def pause_and_final(samples: np.ndarray) -> tuple[list[Utterance], Utterance]:
    """Run the default detector over ``samples``: the utterances of its PAUSE reports and the final one."""
    det = EndOfSpeechDetector(EndpointSettings())
    det.start(0.0)
    pauses = []
    for chunk in iter_chunks(samples):
        update = det.process(chunk)
        if update.kind is EndpointKind.PAUSE:
            pauses.append(update.utterance)
        elif update.kind is EndpointKind.END_OF_SPEECH:
            return pauses, update.utterance
    raise AssertionError("no end of speech")


@pytest.mark.parametrize("names", [("arctic_a0007.wav",), ("phonecall_chicago.wav",), ("what_time_is_it.wav",),
                                   ("what_time_is_it.wav", "arctic_a0009.wav")])
def test_the_pause_pass_gives_the_same_text_as_one_full_pass(services, names):
    parts = [silence(0.5)]
    for name in names:  # two clips: a 0.5 s pause inside the utterance, then speech again
        parts += [clip(name), silence(0.5)]
    pauses, final = pause_and_final(np.concatenate(parts + [silence(1.0)]))
    assert len(pauses) >= len(names)
    last = pauses[-1]
    assert last.duration_s < final.duration_s - 0.4  # the hangover's silence is not in the pause pass
    full = services.transcribe(final).text
    ahead = services.transcribe(last).text
    assert norm(ahead) == norm(full), (ahead, full)
    if len(names) == 2:  # the first pause saw only the first clip: its transcript is not the turn's
        assert len(norm(services.transcribe(pauses[0]).text).split()) < len(norm(full).split())


def make_room(services, **options):
    return Room("kitchen", wake=WakeWordDetector("hey_jarvis", 0.5), endpoint=EndOfSpeechDetector(EndpointSettings()),
                services=services, sink=NullSink(), options=RoomOptions(**options))


def run(room, *names, pause_s=0.0):
    parts = [silence(1.0), clip("hey_jarvis.wav"), silence(0.3)]
    for i, name in enumerate(names):
        parts += ([silence(pause_s)] if i else []) + [clip(name)]
    return room.run(iter_chunks(np.concatenate(parts + [silence(2.0)])))


def test_a_whole_home_command_ends_the_turn_at_the_pause(services):
    counting = CountingServices(services)
    early = make_room(counting, command_ends_turn=True)
    [turn] = run(early, "what_time_is_it.wav")
    assert turn.reply_source == "fast_path" and turn.error is None
    assert turn.timings.turn_end == "command" and turn.timings.stt_in_pause
    assert len(counting.transcribed) == 1  # the pause pass was the turn's transcript
    assert counting.passes == ["first"]  # Moonshine's: the fast path acts on it, whisper never runs

    late = make_room(CountingServices(services))
    [slow] = run(late, "what_time_is_it.wav")
    assert slow.timings.turn_end == "silence" and slow.timings.stt_in_pause
    assert slow.transcript == turn.transcript
    # the command ended the turn at least 0.4 s of audio sooner than the hangover would have
    assert slow.timings.end_of_speech_audio_s - turn.timings.end_of_speech_audio_s >= 0.4
    early.close()
    late.close()


def test_speech_after_a_pause_makes_a_new_pass(services):
    counting = CountingServices(services)
    room = make_room(counting, command_ends_turn=False)
    [turn] = run(room, "what_time_is_it.wav", "arctic_a0009.wav", pause_s=0.3)
    assert turn.timings.stt_in_pause and turn.timings.turn_end == "silence"
    assert len(counting.transcribed) >= 2  # the first pause's pass was dropped
    words = norm(turn.transcript)
    assert "time" in words and ("gregson" in words or "table" in words), words
    room.close()


def test_a_long_llm_question_is_not_ended_early(services):
    counting = CountingServices(services)
    room = make_room(counting, command_ends_turn=True)
    [turn] = run(room, "arctic_a0007.wav")
    assert turn.timings.turn_end == "silence" and turn.reply_source == "llm"
    assert counting.passes == ["first", "main"]  # not a command: whisper hears the sentence
    assert norm(turn.transcript) == "and you always want to see it in the superlative degree"
    room.close()


# --- the speculator alone ------------------------------------------------------------------------

def utterance(seconds: float) -> Utterance:
    return Utterance(silence(seconds), SAMPLE_RATE, 0.0, seconds)


def test_speculator_keeps_only_the_newest_pause_and_matches_by_speech_end():
    gate = threading.Event()
    seen = []

    def hear(u):
        gate.wait(5)
        seen.append(u.duration_s)
        return Heard(Transcript(text=f"{u.duration_s:.1f}", language="en", audio_s=u.duration_s, stt_s=0.01),
                     "fast_path")

    spec = Speculator("test", hear)
    spec.start(utterance(1.0), 0.8)
    time.sleep(0.05)
    spec.start(utterance(2.0), 1.8)  # queued behind the running one
    spec.start(utterance(3.0), 2.8)  # replaces the queued one
    assert spec.ready(2.8) is None and spec.computing
    gate.set()
    deadline = time.monotonic() + 5
    while spec.ready(2.8) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    job = spec.claim(2.8)
    result = wait_for(job, 5)
    assert result is not None and result.transcript.text == "3.0" and result.complete_command
    assert seen == [1.0, 3.0]
    assert spec.claim(2.8) is None  # claimed once
    spec.close()


def test_speculator_failure_means_the_turn_transcribes_again():
    def hear(u):
        raise RuntimeError("stt down")

    spec = Speculator("test", hear)
    spec.start(utterance(1.0), 0.8)
    deadline = time.monotonic() + 5
    while spec.computing and time.monotonic() < deadline:
        time.sleep(0.01)
    assert wait_for(spec.claim(0.8), 1) is None
    spec.start(utterance(1.0), 0.8)
    spec.drop()
    assert spec.claim(0.8) is None
    spec.close()


def test_a_soft_sound_after_the_pause_voids_its_transcript():
    """A word too soft to count as speech (energy VAD: 7 dB over the floor, under the 10 dB margin)
    after the pause: the detector reports it, and the pause's transcript is not used."""
    rng = np.random.default_rng(7)

    def noise(seconds, dbfs):
        return (rng.standard_normal(int(seconds * SAMPLE_RATE)) * 32768 * 10 ** (dbfs / 20)).astype(np.int16)

    samples = np.concatenate([noise(1.0, -60), noise(0.8, -20), noise(0.32, -60), noise(0.16, -53), noise(1.0, -60)])
    det = EndOfSpeechDetector(EndpointSettings(vad="energy"))
    for chunk in iter_chunks(samples[:SAMPLE_RATE]):
        det.observe(chunk)
    det.start(1.0)
    pause = final = None
    for chunk in iter_chunks(samples[SAMPLE_RATE:], start_s=1.0):
        update = det.process(chunk)
        if update.kind is EndpointKind.PAUSE:
            pause = update
        elif update.kind is EndpointKind.END_OF_SPEECH:
            final = update
            break
    assert pause is not None and final is not None
    assert pause.last_sound_end_s == pause.last_speech_end_s  # nothing soft yet when the pause was reported
    assert final.last_speech_end_s == pause.last_speech_end_s  # the soft sound was not speech...
    assert final.last_sound_end_s > pause.utterance.end_s  # ...but it came after the pause's audio

    spec = Speculator("test", lambda u: Heard(Transcript("turn on the garage", "en", u.duration_s, 0.01), "fast_path"))
    spec.start(pause.utterance, pause.last_speech_end_s)
    deadline = time.monotonic() + 5
    while spec.ready(pause.last_speech_end_s) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert spec.ready(pause.last_speech_end_s, pause.last_sound_end_s) is not None
    assert spec.ready(final.last_speech_end_s, final.last_sound_end_s) is None  # no early end on it
    assert spec.claim(final.last_speech_end_s, final.last_sound_end_s) is None  # the turn transcribes it all
    spec.close()


# --- the LLM's reply asked for in the pause -----------------------------------------------------

def history(services, room="kitchen"):
    return list(services.core._history.get(room, ()))


def test_an_llm_reply_made_in_the_pause_is_played_and_remembered(services):
    services.core._history.pop("kitchen", None)
    room = make_room(services)
    [turn] = run(room, "arctic_a0007.wav")
    assert turn.reply_source == "llm" and turn.error is None and turn.reply
    assert turn.timings.preemptive_reply and turn.timings.stt_in_pause
    assert history(services) == [(turn.transcript, turn.reply)]  # remembered once, when used
    room.close()


def test_speech_after_the_pause_cancels_the_reply_made_in_it(services):
    services.core._history.pop("kitchen", None)
    made = []
    room = make_room(services)
    original = room._preempt

    def spy(text):
        reply = original(text)
        made.append(reply)
        return reply

    room.speculator._preempt = spy
    [turn] = run(room, "arctic_a0009.wav", "arctic_a0007.wav", pause_s=0.0)
    words = norm(turn.transcript)
    if len(made) < 2:
        pytest.skip(f"no pause inside the utterance was long enough here: {words}")
    assert made[0].cancelled and not made[-1].cancelled  # the first part's reply was never played
    assert "gregson" in words and "superlative" in words
    assert history(services) == [(turn.transcript, turn.reply)]
    room.close()
