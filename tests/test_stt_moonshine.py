"""Moonshine base English (``moonshine-cpp`` wheel, onnxruntime) on real and synthesised speech.

Clips (sources and licences in ``roomvoice/assets/audio/README.md``): CMU ARCTIC
``arctic_a0007`` / ``arctic_a0009`` (real speech) and ``what_time_is_it.wav`` (a command
synthesised with piper and the joe voice). The real packaged model is loaded (~0.2 s).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import jiwer
import numpy as np
import pytest

from roomvoice.config import SttConfig, load_config
from roomvoice.errors import AudioError, ConfigError, SpeechToTextError
from roomvoice.serve.engines import SpeechToTextEngine
from roomvoice.serve.engines.models import moonshine_base_en_dir
from roomvoice.serve.engines.moonshine import MoonshineEngine, _BinTokenizer
from roomvoice.serve.factory import build_stt_engine
from .audio_helpers import ARCTIC_A0007, ARCTIC_A0009, WHAT_TIME, load

pytestmark = pytest.mark.slow


def norm(text: str) -> str:
    """Lower case, no punctuation, single spaces."""
    return re.sub(r"\s+", " ", re.sub(r"[^a-z' ]", " ", text.lower())).strip()


def wer(reference: str, hypothesis: str) -> float:
    return jiwer.wer(norm(reference), norm(hypothesis))


@pytest.fixture(scope="module")
def stt() -> MoonshineEngine:
    return MoonshineEngine(moonshine_base_en_dir(), cpu_threads=1)


def test_packaged_model_is_found_without_importing_moonshine_cpp():
    path = moonshine_base_en_dir()
    assert {"encoder_model.ort", "decoder_model_merged.ort", "tokenizer.bin"} <= {p.name for p in path.iterdir()}
    assert "moonshine_cpp" not in sys.modules  # its __init__ loads a second onnxruntime with ctypes


def test_bin_tokenizer_decodes_words_and_skips_special_tokens():
    tokenizer = _BinTokenizer(moonshine_base_en_dir() / "tokenizer.bin")
    assert tokenizer.decode([1, 2]) == ""  # <s>, </s>
    assert tokenizer.decode([3 + ord("h"), 3 + ord("i")]) == "hi"  # byte-fallback tokens 3..258


@pytest.mark.parametrize("clip", [ARCTIC_A0007, ARCTIC_A0009, WHAT_TIME], ids=lambda c: c.name)
def test_transcribes_real_and_synthesised_speech(stt, clip):
    assert isinstance(stt, SpeechToTextEngine)
    samples = load(clip.name)
    [transcript] = stt.transcribe([samples], prompt="stop, cancel")  # no prompting: ignored
    assert wer(clip.text, transcript.text) <= 0.2, transcript.text
    assert transcript.language == "en"
    assert transcript.audio_s == pytest.approx(len(samples) / 16000)
    assert 0 < transcript.stt_s < 10 and transcript.real_time_factor < 2.0


def test_silence_and_very_short_audio_give_no_text(stt):
    transcripts = stt.transcribe([np.zeros(16000, dtype=np.int16), np.zeros(100, dtype=np.int16)])
    assert [t.text for t in transcripts] == ["", ""]  # under 0.1 s is padded, not an encoder error
    assert stt.transcribe([]) == []


def test_long_audio_is_cut_in_a_pause_and_keeps_both_sentences():
    first, second = load(ARCTIC_A0009.name), load(WHAT_TIME.name)
    samples = np.concatenate([first, np.zeros(8000, dtype=np.int16), second])  # 4.1 s
    engine = MoonshineEngine(moonshine_base_en_dir(), max_segment_s=3.5)
    pieces = engine._pieces(samples.astype(np.float32))
    assert [len(p) for p in pieces] != [len(samples)] and sum(len(p) for p in pieces) == len(samples)
    assert len(first) - 1600 <= len(pieces[0]) <= 3.5 * 16000  # cut in the quiet end of the first clip
    [transcript] = engine.transcribe([samples])
    assert wer(f"{ARCTIC_A0009.text} {WHAT_TIME.text}", transcript.text) <= 0.2, transcript.text


@pytest.mark.parametrize("samples,code", [
    (np.zeros(0, dtype=np.int16), "audio-empty"),
    (np.array([0.0, np.nan, 0.1], dtype=np.float32), "audio-invalid"),
    (np.zeros((800, 2), dtype=np.int16), "audio-bad-format"),
    (np.zeros(800, dtype=np.int32), "audio-bad-format"),
])
def test_bad_audio_is_refused_with_a_code(stt, samples, code):
    with pytest.raises(AudioError) as err:
        stt.transcribe([load(WHAT_TIME.name), samples])  # every item is checked before any is transcribed
    assert err.value.code == code and "utterance 1" in err.value.message


def test_english_only(stt):
    with pytest.raises(SpeechToTextError) as err:
        stt.transcribe([load(WHAT_TIME.name)], language="de")
    assert err.value.code == "stt-language-unsupported"
    with pytest.raises(SpeechToTextError) as err:
        MoonshineEngine(moonshine_base_en_dir(), language="fr")
    assert err.value.code == "stt-language-unsupported"


def test_missing_or_broken_model_dir(tmp_path: Path):
    for path in (tmp_path / "missing", tmp_path):  # no directory; a directory without the files
        with pytest.raises(SpeechToTextError) as err:
            MoonshineEngine(path)
        assert err.value.code == "stt-load-failed"
    for name in ("encoder_model.ort", "decoder_model_merged.ort", "tokenizer.bin"):
        (tmp_path / name).write_bytes(b"not a model")
    with pytest.raises(SpeechToTextError) as err:
        MoonshineEngine(tmp_path)
    assert err.value.code == "stt-load-failed" and str(tmp_path) in err.value.message


def test_selectable_by_config():
    cfg = load_config(["rooms=[kitchen]", "stt=moonshine_base"])
    assert cfg.stt.engine == "moonshine" and cfg.stt.cpu_threads == 1
    engine = build_stt_engine(cfg.stt)
    assert isinstance(engine, MoonshineEngine) and engine.model_path == moonshine_base_en_dir()
    with pytest.raises(ConfigError) as err:
        build_stt_engine(SttConfig(engine="moonshine", device="cuda"))
    assert err.value.message.startswith("stt.device")
    with pytest.raises(ConfigError) as err:
        load_config(["rooms=[kitchen]", "stt.engine=moonshyne"])
    assert err.value.message.startswith("stt.engine")
