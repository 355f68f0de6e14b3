"""Wake word detector on the real openWakeWord models (pyopen-wakeword) and real audio."""

from __future__ import annotations

import numpy as np
import pytest

from .audio_helpers import HEY_JARVIS, WHAT_TIME, chunks, load, scene
from roomvoice.errors import AudioError, WakeWordError
from roomvoice.rooms.audio import AudioChunk
from roomvoice.rooms.wake import WakeWordDetector, available_wake_words, wake_model_path

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def detector() -> WakeWordDetector:
    return WakeWordDetector("hey_jarvis", threshold=0.5, cooldown_s=2.0)


@pytest.fixture()
def fresh(detector: WakeWordDetector) -> WakeWordDetector:
    """The module's detector with cleared buffers and the default cooldown."""
    detector.reset()
    detector.cooldown_s = 2.0
    return detector


def run(detector: WakeWordDetector, samples: np.ndarray) -> tuple[list, float]:
    """Feed ``samples``; return the detections and the peak score."""
    detections, peak = [], 0.0
    for chunk in chunks(samples):
        detection = detector.process(chunk)
        peak = max(peak, detector.last_score)
        if detection is not None:
            detections.append(detection)
    return detections, peak


def test_available_wake_words_lists_bundled_models() -> None:
    names = available_wake_words()
    assert {"hey_jarvis", "alexa", "hey_mycroft", "hey_rhasspy", "okay_nabu"} <= set(names)
    assert "melspectrogram" not in names and "embedding_model" not in names
    assert wake_model_path("alexa").name == "alexa.tflite"
    assert wake_model_path("alexa").is_file()


def test_unknown_wake_word_names_the_options() -> None:
    with pytest.raises(WakeWordError) as info:
        wake_model_path("hey_computer")
    assert info.value.code == "wake-model-missing"
    assert "hey_jarvis" in info.value.message and "hey_computer" in info.value.message
    with pytest.raises(WakeWordError):
        WakeWordDetector("hey_computer")


@pytest.mark.parametrize("threshold", [0.0, 1.0, -0.2, 1.5])
def test_bad_threshold_is_refused(threshold: float) -> None:
    with pytest.raises(ValueError, match="threshold"):
        WakeWordDetector("hey_jarvis", threshold=threshold)


def test_wake_phrase_fires_once_at_the_right_time(fresh: WakeWordDetector) -> None:
    audio = scene(load(HEY_JARVIS.name), before_s=1.0, after_s=1.0)
    detections, peak = run(fresh, audio)
    phrase_end_s = 1.0 + HEY_JARVIS.speech_end_s
    assert len(detections) == 1, detections
    detection = detections[0]
    assert detection.wake_word == "hey_jarvis"
    assert phrase_end_s - 0.2 <= detection.audio_time_s <= phrase_end_s + 0.5
    assert detection.score >= 0.5
    assert peak > 0.8  # the bundled clip is detected with a clear margin


@pytest.mark.parametrize(("gain_db", "noise_dbfs"), [(0.0, -45.0), (-12.0, -50.0)])
def test_wake_phrase_in_noise_and_at_low_gain(fresh: WakeWordDetector, gain_db: float, noise_dbfs: float) -> None:
    audio = scene(load(HEY_JARVIS.name), before_s=1.0, after_s=1.0, gain_db=gain_db, noise_dbfs=noise_dbfs)
    detections, peak = run(fresh, audio)
    assert len(detections) == 1 and peak > 0.8


def test_no_false_wake_on_30_s_of_real_speech(fresh: WakeWordDetector) -> None:
    detections, peak = run(fresh, load("non_wake_speech_30s.flac"))
    assert detections == []
    assert peak < 0.2


def test_no_wake_on_a_command(fresh: WakeWordDetector) -> None:
    detections, _ = run(fresh, scene(load(WHAT_TIME.name)))
    assert detections == []


@pytest.mark.parametrize(("cooldown_s", "expected"), [(2.0, 1), (1.0, 2)])
def test_cooldown_in_audio_time(fresh: WakeWordDetector, cooldown_s: float, expected: int) -> None:
    phrase = load(HEY_JARVIS.name)
    # "Hey, Jarvis" twice, 0.3 s apart: the second fires 1.44 s after the first.
    audio = np.concatenate([scene(phrase, before_s=1.0, after_s=0.3), scene(phrase, before_s=0.0, after_s=1.0)])
    fresh.cooldown_s = cooldown_s
    detections, _ = run(fresh, audio)
    assert len(detections) == expected, detections
    if expected == 2:
        gap = detections[1].audio_time_s - detections[0].audio_time_s
        assert 1.0 <= gap <= 2.0


def test_reset_stops_a_stale_score_from_firing_again(fresh: WakeWordDetector) -> None:
    fresh.cooldown_s = 0.0  # only reset() stands between the phrase and a second detection
    audio = scene(load(HEY_JARVIS.name), before_s=1.0, after_s=2.0)
    detections = []
    for chunk in chunks(audio):
        detection = fresh.process(chunk)
        if detection is not None:
            detections.append(detection)
            fresh.reset()
    assert len(detections) == 1, detections


def test_new_stream_clears_the_cooldown(fresh: WakeWordDetector) -> None:
    audio = scene(load(HEY_JARVIS.name), before_s=1.0, after_s=1.0)
    first, _ = run(fresh, audio)
    fresh.reset()
    second, _ = run(fresh, audio)  # audio time starts again at 0
    assert len(first) == 1 and len(second) == 1


def test_wrong_chunk_format_is_refused(fresh: WakeWordDetector) -> None:
    with pytest.raises(AudioError) as info:
        fresh.process(AudioChunk(np.zeros(1280, dtype=np.float32)))
    assert info.value.code == "audio-bad-format"
    with pytest.raises(AudioError):
        fresh.process(AudioChunk(np.zeros(640, dtype=np.int16)))
