"""Moonshine base English (``moonshine-cpp`` wheel, onnxruntime) on real and synthesised speech.

Clips (sources and licences in ``roomvoice/assets/audio/README.md``): CMU ARCTIC
``arctic_a0007`` / ``arctic_a0009`` (real speech) and ``what_time_is_it.wav`` (a command
synthesised with piper and the joe voice). The real packaged model is loaded: its ``.ort``
files are converted to ``.onnx`` once per module (~0.7 s) into a temporary
``$ROOMVOICE_CACHE``; each converted load takes ~0.6 s, an ``.ort`` load ~0.2 s.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import jiwer
import numpy as np
import pytest

from roomvoice.config import SttConfig, load_config
from roomvoice.errors import AudioError, ConfigError, SpeechToTextError
from roomvoice.serve.engines import SpeechToTextEngine
from roomvoice.serve.engines.models import moonshine_base_en_dir
from roomvoice.serve.engines.moonshine import CACHE_SUBDIR, MoonshineEngine, _BinTokenizer
from roomvoice.serve.engines.ort_to_onnx import MANIFEST, OrtConversionError, cached_onnx_dir, convert_ort_to_onnx
from roomvoice.serve.factory import build_stt_engine
from .audio_helpers import ARCTIC_A0007, ARCTIC_A0009, WHAT_TIME, load

pytestmark = pytest.mark.slow


def norm(text: str) -> str:
    """Lower case, no punctuation, single spaces."""
    return re.sub(r"\s+", " ", re.sub(r"[^a-z' ]", " ", text.lower())).strip()


def wer(reference: str, hypothesis: str) -> float:
    return jiwer.wer(norm(reference), norm(hypothesis))


STEMS = ("encoder_model", "decoder_model_merged")


@pytest.fixture(scope="module", autouse=True)
def roomvoice_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``$ROOMVOICE_CACHE`` in a temporary folder: engines built with defaults convert there."""
    path = tmp_path_factory.mktemp("roomvoice-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ROOMVOICE_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def stt() -> MoonshineEngine:
    return MoonshineEngine(moonshine_base_en_dir(), cpu_threads=1)


@pytest.fixture(scope="module")
def stt_ort() -> MoonshineEngine:
    """The shipped ``.ort`` files as they are (the fallback)."""
    return MoonshineEngine(moonshine_base_en_dir(), cpu_threads=1, convert=False)


def onnx_mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.rglob("*.onnx")}


def test_converted_by_default_into_the_cache(stt, roomvoice_cache):
    assert stt.converted and [f.suffix for f in stt.model_files] == [".onnx", ".onnx"]
    folder = stt.model_files[0].parent
    assert folder.parent == roomvoice_cache / CACHE_SUBDIR and (folder / MANIFEST).is_file()
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temporary folders left


@pytest.mark.parametrize("clip", [WHAT_TIME, ARCTIC_A0007], ids=lambda c: c.name)
def test_converted_model_gives_the_same_text_as_the_ort_files(stt, stt_ort, clip):
    assert not stt_ort.converted and [f.suffix for f in stt_ort.model_files] == [".ort", ".ort"]
    samples = load(clip.name)
    [converted], [original] = stt.transcribe([samples]), stt_ort.transcribe([samples])
    assert converted.text == original.text and wer(clip.text, converted.text) <= 0.2, converted.text


def test_second_load_reuses_the_cache_and_onnx_folders_are_used_as_is(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="roomvoice.serve.engines")
    first = MoonshineEngine(moonshine_base_en_dir(), cache_dir=tmp_path / "cache")
    assert first.converted and any("converting" in r.getMessage() for r in caplog.records)
    mtimes = onnx_mtimes(tmp_path / "cache")
    assert len(mtimes) == 2
    caplog.clear()
    second = MoonshineEngine(moonshine_base_en_dir(), cache_dir=tmp_path / "cache")
    assert second.converted and second.model_files == first.model_files
    assert onnx_mtimes(tmp_path / "cache") == mtimes  # not written again
    assert not any("convert" in r.getMessage() for r in caplog.records)
    own = tmp_path / "own"  # a model directory that already holds .onnx files
    own.mkdir()
    for path in (*first.model_files, moonshine_base_en_dir() / "tokenizer.bin"):
        os.symlink(path, own / path.name)
    engine = MoonshineEngine(own, cache_dir=tmp_path / "unused")
    assert engine.model_files == (own / "encoder_model.onnx", own / "decoder_model_merged.onnx")
    assert not engine.converted and not (tmp_path / "unused").exists()
    assert engine.transcribe([load(WHAT_TIME.name)])[0].text == "What time is it?"


def test_corrupt_cache_file_falls_back_to_ort_with_one_warning(tmp_path, caplog, stt_ort):
    good = MoonshineEngine(moonshine_base_en_dir(), cache_dir=tmp_path)
    folder = good.model_files[0].parent
    del good
    (folder / "decoder_model_merged.onnx").write_bytes(b"\x08\x07 truncated")
    caplog.set_level(logging.INFO, logger="roomvoice.serve.engines")
    engine = MoonshineEngine(moonshine_base_en_dir(), cache_dir=tmp_path)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "converted Moonshine model" in warnings[0].getMessage()
    assert not engine.converted and engine.model_files == stt_ort.model_files
    clip = load(WHAT_TIME.name)
    assert engine.transcribe([clip])[0].text == stt_ort.transcribe([clip])[0].text
    assert not folder.exists()  # removed, so the next start converts again


def test_conversion_failure_falls_back_to_ort_with_one_warning(tmp_path, caplog):
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file where the cache folder should be")
    caplog.set_level(logging.WARNING, logger="roomvoice.serve.engines")
    engine = MoonshineEngine(moonshine_base_en_dir(), cache_dir=not_a_folder)
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        f"cannot convert Moonshine's .ort files to .onnx in {not_a_folder}"]
    assert not engine.converted and [f.suffix for f in engine.model_files] == [".ort", ".ort"]
    assert wer(WHAT_TIME.text, engine.transcribe([load(WHAT_TIME.name)])[0].text) == 0


def test_two_processes_converting_at_once_publish_one_folder(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="roomvoice.serve.engines")
    results: list[Path] = []
    barrier = threading.Barrier(2)

    def convert() -> None:
        barrier.wait()
        results.append(cached_onnx_dir(moonshine_base_en_dir(), STEMS, cache_dir=tmp_path))

    threads = [threading.Thread(target=convert) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and results[0] == results[1]
    assert [p.name for p in tmp_path.iterdir()] == [results[0].name]  # no temporary folders left
    assert {p.name for p in results[0].iterdir()} == {MANIFEST, "decoder_model_merged.onnx", "encoder_model.onnx"}
    assert any("another process converted" in r.getMessage() for r in caplog.records)  # both did convert


def test_converter_refuses_a_file_that_is_not_ort_format(tmp_path):
    src = tmp_path / "model.ort"
    src.write_bytes(b"\x00" * 64)
    with pytest.raises(OrtConversionError, match="not an ORT-format model"):
        convert_ort_to_onnx(src, tmp_path / "model.onnx")
    assert list(tmp_path.iterdir()) == [src]


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
