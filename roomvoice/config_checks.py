"""Validation of the composed configuration: every problem names its key.

:func:`validate` checks what the dataclass types of :mod:`roomvoice.config` cannot: names, ranges,
files that must exist, values that must agree with each other. Every problem raises
:class:`~roomvoice.errors.ConfigError` (``config-invalid``) whose message starts with the offending key.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from roomvoice.config import (
    LLM_ENGINES,
    SINK_TYPES,
    SOURCE_TYPES,
    STT_ENGINES,
    TTS_ENGINES,
    VAD_KINDS,
    AppConfig,
)
from roomvoice.errors import ConfigError


def _fail(key: str, problem: str) -> None:
    raise ConfigError("config-invalid", f"{key}: {problem}")


def validate(cfg: DictConfig | AppConfig) -> AppConfig:
    """Check values that types alone cannot: names, ranges, files that must exist.

    Fills ``rooms.<key>.name`` from the key when empty. Model files are checked only when a
    path is configured (None means the packaged default, checked when the engine loads).

    Raises:
        ConfigError: naming the key, e.g. ``rooms.kitchen.source.sample_rate: 11 Hz ...``.
    """
    c: Any = cfg
    if not c.rooms:
        _fail("rooms", "no room configured (e.g. rooms=[demo])")
    names = set()
    for key, room in c.rooms.items():
        k = f"rooms.{key}"
        if not room.name:
            room.name = key
        if room.name in names:
            _fail(f"{k}.name", f"duplicate room name {room.name!r}")
        names.add(room.name)
        if room.source.type not in SOURCE_TYPES:
            _fail(f"{k}.source.type", f"{room.source.type!r} is not one of {SOURCE_TYPES}")
        if room.source.type == "file":
            if not room.source.paths:
                _fail(f"{k}.source.paths", "a file source needs at least one audio file")
            for i, p in enumerate(room.source.paths):
                if str(p).startswith("silence:"):
                    from roomvoice.errors import AudioError
                    from roomvoice.rooms.sources import _silence_seconds

                    try:
                        _silence_seconds(str(p))
                    except AudioError as exc:
                        _fail(f"{k}.source.paths[{i}]", exc.message)
                elif not Path(p).is_file():
                    _fail(f"{k}.source.paths[{i}]", f"file not found: {p}")
        if not 8000 <= room.source.sample_rate <= 192000:
            _fail(f"{k}.source.sample_rate", f"{room.source.sample_rate} Hz is outside 8000..192000 Hz")
        if room.source.channels < 1:
            _fail(f"{k}.source.channels", f"must be >= 1, got {room.source.channels}")
        for attr in ("gap_s", "lead_s", "tail_s", "delay_s", "echo_delay_s"):
            if getattr(room.source, attr) < 0:
                _fail(f"{k}.source.{attr}", "must be >= 0")
        if not -60.0 <= room.source.gain_db <= 40.0:
            _fail(f"{k}.source.gain_db", f"must be within -60..40 dB, got {room.source.gain_db}")
        if room.source.echo_gain_db is not None and not -80.0 <= room.source.echo_gain_db <= 20.0:
            _fail(f"{k}.source.echo_gain_db", f"must be within -80..20 dB, got {room.source.echo_gain_db}")
        if room.source.noise_dbfs is not None and not -120.0 <= room.source.noise_dbfs <= 0.0:
            _fail(f"{k}.source.noise_dbfs", f"must be within -120..0 dBFS, got {room.source.noise_dbfs}")
        if not str(room.audio_zone).strip():
            _fail(f"{k}.audio_zone", "must not be empty")
        if room.followup_s is not None and not 0.0 <= room.followup_s <= 60.0:
            _fail(f"{k}.followup_s", f"must be within 0..60 s, got {room.followup_s}")
        if room.announce_policy not in ("wait", "interrupt"):
            _fail(f"{k}.announce_policy", f"{room.announce_policy!r} is not one of ('wait', 'interrupt')")
        if room.aec and room.source.type == "microphone" and room.sink.type == "speaker" and \
                room.sink.sample_rate is not None and room.sink.sample_rate != room.source.sample_rate:
            _fail(f"{k}.aec", f"echo reference (sink.sample_rate {room.sink.sample_rate} Hz) and microphone "
                  f"(source.sample_rate {room.source.sample_rate} Hz) differ: set them equal or aec=false")
        if room.sink.type not in SINK_TYPES:
            _fail(f"{k}.sink.type", f"{room.sink.type!r} is not one of {SINK_TYPES}")
        if not 0.0 < room.wake_threshold < 1.0:
            _fail(f"{k}.wake_threshold", f"must be between 0 and 1, got {room.wake_threshold}")
        _check_wake_word(f"{k}.wake_word", room.wake_word)
        if room.endpoint.vad not in VAD_KINDS:
            _fail(f"{k}.endpoint.vad", f"{room.endpoint.vad!r} is not one of {VAD_KINDS}")
        if room.endpoint.max_utterance_s <= room.endpoint.min_speech_s:
            _fail(f"{k}.endpoint.max_utterance_s", "must be longer than endpoint.min_speech_s")
        if room.endpoint.turn_model not in ("none", "smart_turn"):
            _fail(f"{k}.endpoint.turn_model", f"{room.endpoint.turn_model!r} is not one of ('none', 'smart_turn')")
        e = room.endpoint
        if e.turn_model != "none" and not 0.0 < e.short_pause_s < e.end_silence_s:
            _fail(f"{k}.endpoint.short_pause_s", "must be > 0 and shorter than endpoint.end_silence_s")
        if e.speculative_stt_s < 0:
            _fail(f"{k}.endpoint.speculative_stt_s", f"must be >= 0 seconds (0 = off), got {e.speculative_stt_s}")
        if not 0.0 < room.endpoint.turn_threshold < 1.0:
            _fail(f"{k}.endpoint.turn_threshold", f"must be between 0 and 1, got {room.endpoint.turn_threshold}")
        if room.num_cpus < 0:
            _fail(f"{k}.num_cpus", "must be >= 0")
        _check_camera(f"{k}.camera", room.camera)
    if c.stt.engine not in STT_ENGINES:
        _fail("stt.engine", f"{c.stt.engine!r} is not one of {STT_ENGINES}")
    if c.stt.first_pass not in (None, "moonshine"):
        _fail("stt.first_pass", f"{c.stt.first_pass!r} is not null or 'moonshine'")
    if c.stt.first_pass is not None and c.stt.language not in (None, "en"):
        _fail("stt.first_pass", f"the moonshine first pass is English only; stt.language is {c.stt.language!r}")
    if c.tts.engine not in TTS_ENGINES:
        _fail("tts.engine", f"{c.tts.engine!r} is not one of {TTS_ENGINES}")
    if c.llm.engine not in LLM_ENGINES:
        _fail("llm.engine", f"{c.llm.engine!r} is not available in this version (implemented: {LLM_ENGINES})")
    for key in ("stt.model_path", "tts.model_path", "tts.config_path", "llm.model_path"):
        section, attr = key.split(".")
        value = getattr(getattr(c, section), attr)
        if value is not None and not Path(value).exists():
            _fail(key, f"model file not found: {value}")
    if c.llm.max_tokens < 1:
        _fail("llm.max_tokens", f"must be >= 1, got {c.llm.max_tokens}")
    if c.llm.timeout_s <= 0:
        _fail("llm.timeout_s", "must be > 0")
    if c.stt.max_batch_size < 1:
        _fail("stt.max_batch_size", "must be >= 1")
    if not 1 <= c.api.port <= 65535:
        _fail("api.port", f"must be 1..65535, got {c.api.port}")
    for i, cidr in enumerate(c.api.allow):
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            _fail(f"api.allow[{i}]", f"{cidr!r} is not a CIDR prefix")
    if c.store.pool_min < 0 or c.store.pool_max < max(1, c.store.pool_min):
        _fail("store.pool_max", "pool sizes must satisfy 0 <= pool_min <= pool_max, pool_max >= 1")
    _check_skills(c.skills)
    a = c.arbiter
    if not 0.0 < a.window_s <= 2.0:
        _fail("arbiter.window_s", f"must be in (0, 2] s, got {a.window_s}")
    if a.timeout_s <= a.window_s:
        _fail("arbiter.timeout_s", f"must be longer than arbiter.window_s ({a.window_s} s), got {a.timeout_s}")
    if a.level_tie_db < 0:
        _fail("arbiter.level_tie_db", "must be >= 0")
    if not 0.0 <= c.followup_s <= 60.0:
        _fail("followup_s", f"must be within 0..60 s, got {c.followup_s}")
    b = c.barge_in
    if not 0.0 <= b.min_speech_s < b.max_phrase_s:
        _fail("barge_in.min_speech_s", "need 0 <= min_speech_s < max_phrase_s")
    if b.enabled and not [p for p in b.stop_phrases if str(p).strip()]:
        _fail("barge_in.stop_phrases", "needs at least one phrase (or barge_in.enabled=false)")
    for part in ("stt", "llm", "tts", "assistant"):
        share = getattr(c.preset, part)
        if share.num_cpus < 0 or share.num_gpus < 0 or share.num_replicas < 1:
            _fail(f"preset.{part}", "num_cpus and num_gpus must be >= 0 and num_replicas >= 1")
    return c


def _check_camera(key: str, cam: Any) -> None:
    from roomvoice.rooms.camera import DETECTORS

    if not 0 < cam.fps <= 60:
        _fail(f"{key}.fps", f"must be in (0, 60], got {cam.fps}")
    if cam.detector not in DETECTORS:
        _fail(f"{key}.detector", f"{cam.detector!r} is not one of {DETECTORS}")
    src = cam.source
    if src is not None and not str(src).strip().isdigit() and not Path(str(src)).is_file():
        _fail(f"{key}.source", f"not a device index and no such file: {src}")


def _check_skills(skills: Any) -> None:
    ha = skills.homeassistant
    if ha.url is not None and not str(ha.url).startswith(("http://", "https://")):
        _fail("skills.homeassistant.url", f"must start with http:// or https://, got {ha.url!r}")
    for attr in ("timeout_s", "refresh_interval_s"):
        if getattr(ha, attr) <= 0:
            _fail(f"skills.homeassistant.{attr}", "must be > 0")
    if ha.read_attempts < 1 or ha.backoff_s < 0:
        _fail("skills.homeassistant.read_attempts", "read_attempts must be >= 1 and backoff_s >= 0")
    for entity_id in list(ha.areas) + list(ha.aliases):
        if "." not in str(entity_id):
            _fail(f"skills.homeassistant.areas/aliases.{entity_id}", "keys must be entity ids like light.kitchen")
    if skills.llm_tool_max_tokens < 8:
        _fail("skills.llm_tool_max_tokens", f"must be >= 8, got {skills.llm_tool_max_tokens}")


def _check_wake_word(key: str, name: str) -> None:
    from roomvoice.rooms.wake import available_wake_words

    options = available_wake_words()
    if name not in options:
        _fail(key, f"unknown wake word {name!r}; available: {', '.join(options)}")
