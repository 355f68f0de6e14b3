"""piper with the packaged en_US-joe-medium voice, and a round trip through faster-whisper."""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest

from roomvoice.errors import ConfigError, TextToSpeechError
from roomvoice.rooms.audio import rms_dbfs, to_contract
from roomvoice.serve.engines import TextToSpeechEngine
from roomvoice.serve.engines.base import MAX_TTS_CHARS
from roomvoice.serve.engines.faster_whisper import FasterWhisperEngine
from roomvoice.serve.engines.models import piper_joe_voice, whisper_tiny_en_dir
from roomvoice.serve.engines.piper import PiperEngine

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tts() -> PiperEngine:
    model, config = piper_joe_voice()
    return PiperEngine(model, config)


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]", " ", text.lower()).split()


def test_one_sentence_is_int16_at_22050_and_not_silent(tts):
    assert isinstance(tts, TextToSpeechEngine) and tts.sample_rate == 22050
    [audio] = list(tts.synthesize("Turn on the kitchen lights."))
    assert audio.samples.dtype == np.int16 and audio.samples.ndim == 1
    assert audio.rate == 22050
    assert 0.5 < audio.duration_s < 5.0
    assert rms_dbfs(audio.samples) > -30.0  # speech, not silence (digital silence is -120)
    assert audio.text == "Turn on the kitchen lights."
    assert audio.synth_s > 0


def test_one_speech_audio_per_sentence(tts):
    out = list(tts.synthesize("Dr. Smith is in the kitchen. It is 3.5 degrees outside!"))
    assert [a.text for a in out] == ["Dr. Smith is in the kitchen.", "It is 3.5 degrees outside!"]
    assert all(a.samples.dtype == np.int16 and rms_dbfs(a.samples) > -30.0 for a in out)


def test_synthesis_is_lazy_sentence_by_sentence(tts):
    stream = tts.synthesize("First sentence. Second sentence. Third sentence.")
    first = next(stream)
    assert first.text == "First sentence."
    stream.close()  # the rest is never made


@pytest.mark.parametrize("text,code", [
    ("", "tts-empty-text"),
    ("   \n ", "tts-empty-text"),
    (None, "tts-bad-text"),
    ("a" * (MAX_TTS_CHARS + 1), "tts-text-too-long"),
])
def test_bad_text_is_refused_at_call_time(tts, text, code):
    with pytest.raises(TextToSpeechError) as err:
        tts.synthesize(text)  # no next(): checked when called
    assert err.value.code == code


def test_punctuation_only_sentence_yields_nothing(tts):
    assert list(tts.synthesize("???")) == []
    assert [a.text for a in tts.synthesize("Okay. ... Done.")] == ["Okay.", "Done."]


def test_length_scale_slows_speech_and_is_checked():
    model, config = piper_joe_voice()
    slow = PiperEngine(model, config, length_scale=1.6)
    [audio] = list(slow.synthesize("Turn on the kitchen lights."))
    assert audio.duration_s > 1.9  # ~1.4 s at the voice's own pace
    with pytest.raises(ConfigError):
        PiperEngine(model, config, length_scale=0)


def test_missing_voice_file(tmp_path):
    _, config = piper_joe_voice()
    with pytest.raises(TextToSpeechError) as err:
        PiperEngine(tmp_path / "nope.onnx", config)
    assert err.value.code == "tts-load-failed"


def test_concurrent_calls_from_two_threads(tts):
    results: dict[int, list] = {}

    def run(i: int) -> None:
        results[i] = list(tts.synthesize(f"Timer number {i} is done."))

    threads = [threading.Thread(target=run, args=(i,)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert [len(results[i]) for i in (1, 2)] == [1, 1]
    assert all(rms_dbfs(results[i][0].samples) > -30.0 for i in (1, 2))


def test_round_trip_through_speech_to_text(tts):
    stt = FasterWhisperEngine(whisper_tiny_en_dir(), cpu_threads=1)
    [audio] = list(tts.synthesize("Turn on the kitchen lights."))
    contract = to_contract(audio.samples, audio.rate, what="piper output")
    assert contract.dtype == np.int16
    assert len(contract) == pytest.approx(audio.duration_s * 16000, abs=2)
    [transcript] = stt.transcribe([contract])
    # piper samples its prosody noise, so allow one word in five to differ (WER <= 0.2)
    import jiwer

    assert jiwer.wer("turn on the kitchen lights", " ".join(words(transcript.text))) <= 0.2, transcript.text
