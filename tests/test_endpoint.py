"""End-of-speech detector on real speech (CMU ARCTIC, a phone call), both classifiers."""

from __future__ import annotations

import numpy as np
import pytest

from .audio_helpers import (
    ARCTIC_A0007,
    ARCTIC_A0009,
    HEY_JARVIS,
    REAL_SPEECH,
    WHAT_TIME,
    SpeechClip,
    chunks,
    load,
    scene,
)
from roomvoice.rooms.audio import SAMPLE_RATE, AudioChunk
from roomvoice.rooms.endpoint import (
    EndOfSpeechDetector,
    EndpointKind,
    EndpointSettings,
    EndpointUpdate,
)

VADS = ("energy", "silero")
FINAL = (EndpointKind.END_OF_SPEECH, EndpointKind.NO_SPEECH, EndpointKind.TOO_LONG)


def capture(detector: EndOfSpeechDetector, samples: np.ndarray, start_s: float = 0.0) -> list[EndpointUpdate]:
    """``start()`` at ``start_s``, feed chunks until a final update; return the updates other than NONE and PAUSE."""
    detector.start(start_s)
    updates = []
    for chunk in chunks(samples, start_s=start_s):
        update = detector.process(chunk)
        if update.kind not in (EndpointKind.NONE, EndpointKind.PAUSE):
            updates.append(update)
        if update.kind in FINAL:
            break
    return updates


def check_utterance(
    updates: list[EndpointUpdate], clip: SpeechClip, before_s: float, settings: EndpointSettings
) -> None:
    """SPEECH_STARTED then END_OF_SPEECH in [true end, true end + 1.2 s], utterance covering the speech."""
    true_start = before_s + clip.speech_start_s
    true_end = before_s + clip.speech_end_s
    kinds = [u.kind for u in updates]
    assert kinds == [EndpointKind.SPEECH_STARTED, EndpointKind.END_OF_SPEECH], updates
    started, ended = updates
    assert true_start - settings.pre_roll_s <= started.speech_start_s <= true_start + 0.2
    assert true_end <= ended.audio_time_s <= true_end + 1.2
    utterance = ended.utterance
    assert utterance is not None and utterance.rate == SAMPLE_RATE
    assert utterance.samples.dtype == np.int16
    assert utterance.start_s <= true_start and utterance.end_s >= true_end
    assert utterance.end_s == pytest.approx(ended.audio_time_s)
    assert utterance.duration_s == pytest.approx(utterance.end_s - utterance.start_s, abs=1e-6)
    assert utterance.start_s == pytest.approx(max(0.0, started.speech_start_s - settings.pre_roll_s), abs=0.081)


@pytest.mark.parametrize("vad", VADS)
@pytest.mark.parametrize("clip", REAL_SPEECH, ids=lambda c: c.name)
def test_end_of_speech_on_real_clips_in_low_noise(vad: str, clip: SpeechClip) -> None:
    settings = EndpointSettings(vad=vad)
    detector = EndOfSpeechDetector(settings)
    audio = scene(load(clip.name), before_s=1.0, after_s=2.0, noise_dbfs=-45.0)
    updates = capture(detector, audio)
    check_utterance(updates, clip, 1.0, settings)
    assert not detector.active


@pytest.mark.parametrize("vad", VADS)
@pytest.mark.parametrize("gain_db", [-12.0, 6.0])
@pytest.mark.parametrize("clip", [ARCTIC_A0007, ARCTIC_A0009], ids=lambda c: c.name)
def test_end_of_speech_at_other_gains(vad: str, gain_db: float, clip: SpeechClip) -> None:
    settings = EndpointSettings(vad=vad)
    audio = scene(load(clip.name), before_s=1.0, after_s=2.0, gain_db=gain_db, noise_dbfs=-50.0)
    check_utterance(capture(EndOfSpeechDetector(settings), audio), clip, 1.0, settings)


@pytest.mark.parametrize("vad", VADS)
@pytest.mark.parametrize("noise_dbfs", [None, -60.0])
def test_silence_gives_no_speech_after_the_timeout(vad: str, noise_dbfs: float | None) -> None:
    settings = EndpointSettings(vad=vad, no_speech_timeout_s=3.0)
    detector = EndOfSpeechDetector(settings)
    silence = scene(np.zeros(0, dtype=np.int16), before_s=0.0, after_s=6.0, noise_dbfs=noise_dbfs)
    updates = capture(detector, silence, start_s=10.0)
    assert [u.kind for u in updates] == [EndpointKind.NO_SPEECH]
    assert 13.0 <= updates[0].audio_time_s < 13.0 + 0.08 + 1e-9
    assert updates[0].utterance is None
    assert not detector.active


@pytest.mark.parametrize("vad", VADS)
def test_continuous_speech_longer_than_max_is_too_long(vad: str) -> None:
    gap = np.zeros(int(0.2 * SAMPLE_RATE), dtype=np.int16)
    parts = []
    for clip in (ARCTIC_A0007, ARCTIC_A0009, ARCTIC_A0007):
        speech = load(clip.name)
        parts += [speech[int(clip.speech_start_s * SAMPLE_RATE) : int(clip.speech_end_s * SAMPLE_RATE)], gap]
    audio = scene(np.concatenate(parts), before_s=1.0, after_s=1.0, noise_dbfs=-50.0)  # ~9 s of speech
    settings = EndpointSettings(vad=vad, max_utterance_s=4.0)
    updates = capture(EndOfSpeechDetector(settings), audio)
    assert [u.kind for u in updates] == [EndpointKind.SPEECH_STARTED, EndpointKind.TOO_LONG], updates
    too_long = updates[-1]
    assert too_long.audio_time_s == pytest.approx(too_long.speech_start_s + 4.0, abs=0.081)
    assert too_long.utterance is not None
    assert too_long.utterance.duration_s == pytest.approx(4.0 + settings.pre_roll_s, abs=0.17)


@pytest.mark.parametrize("vad", VADS)
def test_louder_steady_noise_while_idle_is_not_speech(vad: str) -> None:
    quiet = scene(np.zeros(0, dtype=np.int16), before_s=0, after_s=2.0, noise_dbfs=-65.0, seed=1)
    loud = scene(np.zeros(0, dtype=np.int16), before_s=0, after_s=10.0, noise_dbfs=-35.0, seed=2)
    detector = EndOfSpeechDetector(EndpointSettings(vad=vad))
    for chunk in chunks(quiet):
        detector.observe(chunk)
    floor_quiet = detector.noise_floor_dbfs
    observed = int(4.0 * SAMPLE_RATE)
    for chunk in chunks(loud[:observed], start_s=2.0):
        detector.observe(chunk)
    assert floor_quiet == pytest.approx(-65.0, abs=1.5)
    assert detector.noise_floor_dbfs > -40.0  # the floor followed the louder background
    updates = capture(detector, loud[observed:], start_s=6.0)
    assert [u.kind for u in updates] == [EndpointKind.NO_SPEECH]


def test_energy_floor_that_never_saw_the_noise_calls_it_speech() -> None:
    """Control for the test above: without adaptation the same noise would count as speech."""
    detector = EndOfSpeechDetector(EndpointSettings(vad="energy"))
    for chunk in chunks(scene(np.zeros(0, dtype=np.int16), before_s=0, after_s=2.0, noise_dbfs=-65.0, seed=1)):
        detector.observe(chunk)
    loud = scene(np.zeros(0, dtype=np.int16), before_s=0, after_s=6.0, noise_dbfs=-35.0, seed=2)
    updates = capture(detector, loud, start_s=2.0)
    assert updates[0].kind is EndpointKind.SPEECH_STARTED


@pytest.mark.parametrize("vad", VADS)
def test_short_click_is_not_speech(vad: str) -> None:
    audio = scene(np.zeros(0, dtype=np.int16), before_s=0, after_s=4.0, noise_dbfs=-60.0)
    audio[int(1.0 * SAMPLE_RATE) : int(1.08 * SAMPLE_RATE)] = 12000  # one 80 ms burst
    updates = capture(EndOfSpeechDetector(EndpointSettings(vad=vad, no_speech_timeout_s=3.0)), audio)
    assert [u.kind for u in updates] == [EndpointKind.NO_SPEECH]


@pytest.mark.parametrize("vad", VADS)
def test_command_right_after_the_wake_phrase(vad: str) -> None:
    """Wake phrase, 0.3 s pause, command: the wake phrase's tail is not taken as the command."""
    wake = load(HEY_JARVIS.name)
    command = load(WHAT_TIME.name)
    audio = scene(np.concatenate([wake, np.zeros(int(0.3 * SAMPLE_RATE), np.int16), command]),
                  before_s=1.0, after_s=2.0, noise_dbfs=-50.0)
    settings = EndpointSettings(vad=vad)
    detector = EndOfSpeechDetector(settings)
    wake_end_s = 1.0 + len(wake) / SAMPLE_RATE
    command_start_s = wake_end_s + 0.3 + WHAT_TIME.speech_start_s
    command_end_s = wake_end_s + 0.3 + WHAT_TIME.speech_end_s
    all_chunks = list(chunks(audio))
    k = int(round(2.0 / 0.08))  # the wake detector fires at ~2.0 s (see test_wake.py)
    for chunk in all_chunks[:k]:
        detector.observe(chunk)
    detector.start(all_chunks[k - 1].end_s)
    final = None
    for chunk in all_chunks[k:]:
        update = detector.process(chunk)
        if update.kind in FINAL:
            final = update
            break
    assert final is not None and final.kind is EndpointKind.END_OF_SPEECH
    assert command_end_s <= final.audio_time_s <= command_end_s + 1.2
    assert final.utterance.start_s <= command_start_s


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="vad"):
        EndpointSettings(vad="webrtc")
    with pytest.raises(ValueError, match="end_silence_s"):
        EndpointSettings(end_silence_s=0.0)
    with pytest.raises(ValueError, match="silero_threshold"):
        EndpointSettings(silero_threshold=1.0)
    assert EndpointSettings().vad == "silero"  # the better one on the clips above


def test_call_order_is_enforced() -> None:
    detector = EndOfSpeechDetector(EndpointSettings(vad="energy"))
    chunk = AudioChunk(np.zeros(1280, dtype=np.int16))
    with pytest.raises(RuntimeError):
        detector.process(chunk)
    detector.start(0.0)
    assert detector.active
    with pytest.raises(RuntimeError):
        detector.observe(chunk)
    detector.reset()
    assert not detector.active
    detector.observe(chunk)
