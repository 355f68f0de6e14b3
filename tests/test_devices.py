"""Microphone and speaker edges, with a fake pyaudio (hardware is the one thing we fake)."""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pytest
import soxr

from roomvoice.errors import AudioError
from roomvoice.events import SpeechAudio
from roomvoice.rooms.audio import CHUNK_SAMPLES, SAMPLE_RATE, read_audio_file, to_contract
from roomvoice.rooms.sinks import SpeakerSink
from roomvoice.rooms.sources import ArraySource, MicrophoneSource
from roomvoice.testing import FakePyAudio

from .conftest import AUDIO


def test_microphone_without_pyaudio(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyaudio", None)
    with pytest.raises(AudioError) as err:
        MicrophoneSource()
    assert err.value.code == "audio-no-pyaudio" and "roomvoice[audio]" in err.value.message


def test_microphone_without_capture_device(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyaudio", FakePyAudio(inputs=0))
    with pytest.raises(AudioError) as err:
        MicrophoneSource()
    assert err.value.code == "audio-no-input-device"


def test_microphone_44k_stereo_becomes_contract_chunks(monkeypatch):
    speech = read_audio_file(AUDIO / "arctic_a0009.wav").samples.astype(np.float32) / 32768
    hi = soxr.resample(speech, SAMPLE_RATE, 44_100)
    stereo = (np.stack([hi, hi * 0.5], axis=1) * 32767).astype(np.int16)
    fake = FakePyAudio(stereo)
    monkeypatch.setitem(sys.modules, "pyaudio", fake)
    mic = MicrophoneSource(sample_rate=44_100, channels=2)
    n = len(speech) // CHUNK_SAMPLES + 2
    chunks = list(itertools.islice(mic.chunks(), n))
    mic.close()
    assert fake.opened[0] == {"channels": 2, "rate": 44_100, "input": True, "output": False}
    assert all(c.rate == SAMPLE_RATE and len(c.samples) == CHUNK_SAMPLES and c.samples.dtype == np.int16 for c in chunks)
    assert [c.start_s for c in chunks[:3]] == pytest.approx([0.0, 0.08, 0.16])
    got = np.concatenate([c.samples for c in chunks]).astype(np.float32) / 32768
    ref = speech * 0.75  # mono mix of the two channels
    lag = int(np.argmax(np.correlate(got[:8000], ref[:4000], mode="valid")))
    m = min(len(ref), len(got) - lag)
    corr = np.corrcoef(got[lag:lag + m], ref[:m])[0, 1]
    assert corr > 0.95 and fake.terminated


def test_speaker_plays_every_sentence_in_order(monkeypatch):
    fake = FakePyAudio()
    monkeypatch.setitem(sys.modules, "pyaudio", fake)
    sink = SpeakerSink()
    sink.begin(1)
    parts = [np.full(2205, v, np.int16) for v in (100, 200)]
    for p in parts:
        sink.write(SpeechAudio(p, 22050, "s"))
    assert sink.end() is None  # returns once played
    assert [r for r, _ in fake.played] == [22050, 22050]
    assert [int(x[0]) for _, x in fake.played] == [100, 200]
    sink.close()


def test_speaker_without_output_device(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyaudio", FakePyAudio(outputs=0))
    with pytest.raises(AudioError) as err:
        SpeakerSink()
    assert err.value.code == "audio-no-output-device"


@pytest.mark.parametrize("samples,rate,code", [
    (np.array([0.1, np.nan, 0.2], np.float32), 16000, "audio-invalid"),
    (np.zeros(0, np.int16), 16000, "audio-empty"),
    (np.zeros(100, np.int16), 4000, "audio-bad-rate"),
    (np.zeros((10, 2, 2), np.int16), 16000, "audio-invalid"),
    (np.array(["a", "b"]), 16000, "audio-bad-format"),
])
def test_edge_conversion_refuses_bad_audio(samples, rate, code):
    with pytest.raises(AudioError) as err:
        to_contract(samples, rate)
    assert err.value.code == code


def test_array_source_resamples_and_chunks():
    tone = (np.sin(np.arange(48_000) * 2 * np.pi * 440 / 48_000) * 8000).astype(np.int16)
    chunks = list(ArraySource(tone, 48_000).chunks())
    assert len(chunks) == int(np.ceil(16_000 / CHUNK_SAMPLES))
    assert chunks[-1].start_s == pytest.approx((len(chunks) - 1) * 0.08)
