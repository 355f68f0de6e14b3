"""A room's voice loop without Ray: real wake word, end of speech, STT, LLM and TTS in-process.

Failures of remote services are injected with small wrappers around the real services;
everything else is the real pipeline on real audio.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jiwer
import numpy as np
import pytest

from roomvoice.errors import LLMError, TextToSpeechError
from roomvoice.events import ErrorEvent, StateChanged, TurnResult, VoiceState
from roomvoice.rooms.audio import SAMPLE_RATE, AudioChunk, iter_chunks, read_audio_file, rms_dbfs
from roomvoice.rooms.endpoint import EndOfSpeechDetector, EndpointSettings
from roomvoice.rooms.room import Room
from roomvoice.rooms.sinks import WavSink
from roomvoice.rooms.sources import FileSource
from roomvoice.rooms.wake import WakeWordDetector

from .conftest import ARCTIC, AUDIO, in_process_services

pytestmark = pytest.mark.slow


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^a-z' ]", " ", text.lower())).strip()


@pytest.fixture(scope="module")
def services():
    return in_process_services(max_tokens=40)


class Recorder:
    def __init__(self):
        self.events = []

    def __call__(self, event):
        self.events.append(event)

    def of(self, kind):
        return [e for e in self.events if isinstance(e, kind)]


def make_room(services, tmp_path, **endpoint):
    rec = Recorder()
    room = Room("kitchen", wake=WakeWordDetector("hey_jarvis", 0.5), endpoint=EndOfSpeechDetector(EndpointSettings(**endpoint)),
                services=services, sink=WavSink(tmp_path), on_event=rec)
    room.prepare_apology()
    return room, rec


def clip_source(*names, gap_s=1.2):
    return FileSource([AUDIO / n for n in names], gap_s=gap_s).chunks()


def test_full_turn_on_real_speech(services, tmp_path):
    room, rec = make_room(services, tmp_path)
    turns = room.run(clip_source("hey_jarvis.wav", "arctic_a0007.wav"))
    assert len(turns) == 1
    turn = turns[0]
    assert turn.error is None, turn.error
    assert jiwer.wer(norm(ARCTIC["arctic_a0007.wav"]), norm(turn.transcript)) <= 0.2, turn.transcript
    assert turn.reply and turn.reply_source == "llm"
    states = [(e.old, e.new) for e in rec.of(StateChanged)]
    S = VoiceState
    assert states == [(S.IDLE, S.LISTENING), (S.LISTENING, S.RECORDING), (S.RECORDING, S.TRANSCRIBING),
                      (S.TRANSCRIBING, S.THINKING), (S.THINKING, S.SPEAKING), (S.SPEAKING, S.IDLE)]
    t = turn.timings
    assert 1.0 < t.wake_audio_s < t.end_of_speech_audio_s
    assert t.stt_s > 0 and 0 < t.stt_rtf < 1
    assert t.llm_first_token_s is not None and t.llm_first_token_s > 0
    assert 0 < t.end_of_speech_to_first_audio_s <= t.total_s
    audio = read_audio_file(turn.reply_audio).samples
    assert len(audio) > SAMPLE_RATE // 2 and rms_dbfs(audio) > -40  # non-silent reply
    assert room.state is VoiceState.IDLE


def test_time_question_uses_fast_path(services, tmp_path):
    room, _ = make_room(services, tmp_path)
    turns = room.run(clip_source("hey_jarvis.wav", "what_time_is_it.wav"))
    assert len(turns) == 1 and turns[0].error is None
    assert turns[0].reply_source == "fast_path"
    assert re.match(r"It's \d{1,2}:\d\d [AP]M\.", turns[0].reply)
    assert turns[0].timings.llm_first_token_s is None


def test_no_speech_after_wake_returns_to_idle_without_a_turn(services, tmp_path):
    room, rec = make_room(services, tmp_path, no_speech_timeout_s=2.0)
    wake = read_audio_file(AUDIO / "hey_jarvis.wav").samples
    samples = np.concatenate([np.zeros(SAMPLE_RATE, np.int16), wake, np.zeros(4 * SAMPLE_RATE, np.int16)])
    assert room.run(iter_chunks(samples)) == []
    assert rec.of(StateChanged)[-1].reason == "no-speech"
    assert room.state is VoiceState.IDLE


def _assert_error_then_recovers(room, rec, code, stage):
    errors = rec.of(ErrorEvent)
    assert errors and errors[-1].code == code and errors[-1].stage.value == stage, errors
    assert room.state is VoiceState.IDLE
    last = rec.of(TurnResult)[-1]
    assert last.reply_source == "apology" and last.error.code == code
    assert last.reply_audio and rms_dbfs(read_audio_file(last.reply_audio).samples) > -40  # apology spoken
    # ... and the room keeps working afterwards
    ok = room.run(clip_source("hey_jarvis.wav", "what_time_is_it.wav"))
    assert ok and ok[-1].error is None and ok[-1].reply_source == "fast_path"


def test_wrong_sample_rate_chunk_is_refused_and_room_recovers(services, tmp_path):
    room, rec = make_room(services, tmp_path)
    room.feed(AudioChunk(np.zeros(1411, np.int16), rate=44_100, start_s=0.0))
    _assert_error_then_recovers(room, rec, "audio-bad-format", "audio")


def test_stereo_chunk_is_refused(services, tmp_path):
    room, rec = make_room(services, tmp_path)
    room.feed(AudioChunk(np.zeros((1280, 2), np.int16), channels=2))
    assert rec.of(ErrorEvent)[-1].code == "audio-bad-format"
    assert room.state is VoiceState.IDLE


def test_clipped_utterance_is_refused(services, tmp_path):
    room, rec = make_room(services, tmp_path)
    speech = read_audio_file(AUDIO / "arctic_a0009.wav").samples.astype(np.float32)
    clipped = np.clip(speech * 40, -32768, 32767).astype(np.int16)  # heavily overdriven microphone
    wake = read_audio_file(AUDIO / "hey_jarvis.wav").samples
    gap = np.zeros(int(1.2 * SAMPLE_RATE), np.int16)
    samples = np.concatenate([gap, wake, gap, clipped, gap, gap])
    room.run(iter_chunks(samples))
    _assert_error_then_recovers(room, rec, "audio-clipped", "audio")


def test_utterance_over_the_limit(services, tmp_path):
    room, rec = make_room(services, tmp_path, max_utterance_s=1.5)
    room.run(clip_source("hey_jarvis.wav", "arctic_a0007.wav"))
    _assert_error_then_recovers(room, rec, "audio-too-long", "end_of_speech")


class FailingLLM:
    """Wraps real services; the assistant's stream fails after ``after`` sentences."""

    def __init__(self, inner, exc):
        self.inner, self.exc = inner, exc

    def transcribe(self, u):
        return self.inner.transcribe(u)

    def reply(self, request):
        raise self.exc

    def synthesize(self, text):
        return self.inner.synthesize(text)


def test_llm_error_gives_apology(services, tmp_path):
    room, rec = make_room(FailingLLM(services, LLMError("llm-failed", "engine crashed")), tmp_path)
    room.run(clip_source("hey_jarvis.wav", "arctic_a0009.wav"))
    errors = rec.of(ErrorEvent)
    assert errors[-1].code == "llm-failed" and errors[-1].stage.value == "llm"
    assert room.state is VoiceState.IDLE
    assert rec.of(TurnResult)[-1].transcript  # the transcript was kept


def test_llm_timeout_gives_apology(services, tmp_path):
    services.timeout_s, saved = 0.0001, services.timeout_s
    try:
        room, rec = make_room(services, tmp_path)
        room.run(clip_source("hey_jarvis.wav", "arctic_a0009.wav"))
    finally:
        services.timeout_s = saved
    assert rec.of(ErrorEvent)[-1].code == "llm-timeout"
    _assert_error_then_recovers(room, rec, "llm-timeout", "llm")


class FailingTTS(FailingLLM):
    def __init__(self, inner):
        super().__init__(inner, None)
        self.fail = False

    def reply(self, request):
        return self.inner.reply(request)

    def synthesize(self, text):
        if self.fail:
            raise TextToSpeechError("tts-failed", "voice model crashed")
        return self.inner.synthesize(text)


def test_tts_failure_plays_the_cached_apology(services, tmp_path):
    svc = FailingTTS(services)
    room, rec = make_room(svc, tmp_path)  # apology synthesised while TTS still works
    svc.fail = True
    room.run(clip_source("hey_jarvis.wav", "what_time_is_it.wav"))
    errors = rec.of(ErrorEvent)
    assert errors[-1].code == "tts-failed" and errors[-1].stage.value == "tts"
    last = rec.of(TurnResult)[-1]
    assert last.reply_audio and rms_dbfs(read_audio_file(last.reply_audio).samples) > -40
    svc.fail = False
    _assert_error_then_recovers(room, rec, "tts-failed", "tts")


@pytest.mark.parametrize("content,code", [(b"this is not audio at all" * 10, "audio-unreadable"), (None, "audio-empty"),
                                          ("nan", "audio-invalid")])
def test_bad_source_file_reports_error_and_apologises(services, tmp_path, content, code):
    from roomvoice.actors.room_actor import RoomRunner
    from roomvoice.config import RoomConfig, SinkConfig, SourceConfig

    bad = tmp_path / "input.wav"
    import soundfile as sf
    if content is None:
        sf.write(str(bad), np.zeros(0, np.int16), 16000, subtype="PCM_16")
    elif content == "nan":  # a float WAV carrying NaN samples
        data = np.full(16000, 0.1, np.float32)
        data[100:200] = np.nan
        sf.write(str(bad), data, 16000, subtype="FLOAT")
    else:
        bad.write_bytes(content)
    cfg = RoomConfig(name="garage", source=SourceConfig(type="file", paths=[str(bad)]), sink=SinkConfig(type="wav"))
    runner = RoomRunner(cfg, services, tmp_path / "run", "Sorry, something went wrong.")
    runner.start()
    assert runner.wait(60)
    status = runner.status()
    assert status.done and status.state is VoiceState.IDLE and status.last_error == code
    records = runner.results()
    assert records[-1]["error"]["code"] == code and records[-1]["reply_source"] == "apology"
    assert Path(records[-1]["reply_audio"]).exists()
    events = [json.loads(x) for x in (tmp_path / "run" / "garage" / "events.jsonl").read_text().splitlines()]
    assert any(e["type"] == "ErrorEvent" and e["code"] == code for e in events)


def test_text_sent_into_a_room_is_answered_and_spoken_there(services, tmp_path):
    from roomvoice.actors.room_actor import RoomRunner
    from roomvoice.config import RoomConfig, SinkConfig, SourceConfig
    from roomvoice.errors import AssistantError

    cfg = RoomConfig(name="den", source=SourceConfig(type="file", paths=[str(AUDIO / "what_time_is_it.wav")]),
                     sink=SinkConfig(type="wav"))
    runner = RoomRunner(cfg, services, tmp_path, "Sorry.")
    runner.start()
    assert runner.wait(60)  # no wake word in that file: no turn from audio
    result = runner.say("What time is it?")
    assert result.reply_source == "fast_path" and result.transcript == "What time is it?"
    assert result.reply_audio and rms_dbfs(read_audio_file(result.reply_audio).samples) > -40
    events = [json.loads(x) for x in (tmp_path / "den" / "events.jsonl").read_text().splitlines()]
    changes = [(e["old"], e["new"], e["reason"]) for e in events if e["type"] == "StateChanged"]
    assert changes == [("idle", "thinking", "text"), ("thinking", "speaking", "first-audio"),
                       ("speaking", "idle", "reply-done")]
    with pytest.raises(AssistantError):
        runner.say("   ")
    assert runner.status().turns == 1
    runner.stop()
