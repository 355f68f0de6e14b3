"""In-process voice services: the engines called directly, no Ray.

Used by tests and benchmarks that measure the models without Serve's hops, and as the
reference behaviour the Serve deployments must match.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from roomvoice.errors import LLMError, SpeechToTextError, TextToSpeechError, as_roomvoice_error
from roomvoice.events import AssistantRequest, ReplySentence, SpeechAudio, Transcript, Utterance
from roomvoice.serve.assistant import AssistantCore
from roomvoice.serve.engines.base import LLMEngine, SpeechToTextEngine, TextToSpeechEngine


class LocalServices:
    """:class:`~roomvoice.rooms.room.VoiceServices` backed by in-process engines.

    Args:
        stt: speech-to-text engine.
        llm: LLM engine (started on first use).
        tts: text-to-speech engine.
        core: assistant logic (fast path, prompt, memory).
        max_tokens: reply length cap in tokens.
        temperature: LLM sampling temperature.
        language: STT language (None = detect).
        timeout_s: wall seconds allowed for a whole LLM reply (checked between deltas).
    """

    def __init__(self, stt: SpeechToTextEngine, llm: LLMEngine, tts: TextToSpeechEngine, core: AssistantCore,
                 *, max_tokens: int = 96, temperature: float = 0.2, language: str | None = "en",
                 timeout_s: float = 30.0) -> None:
        self.stt, self.llm, self.tts, self.core = stt, llm, tts, core
        self.max_tokens, self.temperature, self.language = max_tokens, temperature, language
        self.timeout_s = timeout_s

    def transcribe(self, utterance: Utterance, prompt: str | None = None) -> Transcript:
        try:
            return self.stt.transcribe([utterance.samples], language=self.language, prompt=prompt)[0]
        except Exception as exc:
            raise as_roomvoice_error(exc, SpeechToTextError, "stt-failed") from exc

    def _stream(self, messages) -> Iterator[str]:
        self.llm.start()
        deadline = time.monotonic() + self.timeout_s
        try:
            for delta in self.llm.stream_chat(messages, max_tokens=self.max_tokens, temperature=self.temperature):
                if time.monotonic() > deadline:
                    raise LLMError("llm-timeout", f"no complete reply within {self.timeout_s:g} s")
                yield delta
        except Exception as exc:
            raise as_roomvoice_error(exc, LLMError, "llm-failed") from exc

    def _complete_json(self, messages, schema, max_tokens: int) -> str:
        try:
            return self.llm.complete_json(messages, schema, max_tokens=max_tokens)
        except Exception as exc:
            raise as_roomvoice_error(exc, LLMError, "llm-failed") from exc

    def reply(self, request: AssistantRequest) -> Iterator[ReplySentence]:
        return self.core.reply(request, self._stream, self._complete_json)

    def synthesize(self, text: str) -> list[SpeechAudio]:
        try:
            return list(self.tts.synthesize(text))
        except Exception as exc:
            raise as_roomvoice_error(exc, TextToSpeechError, "tts-failed") from exc


def local_services_from_config(cfg: Any) -> LocalServices:
    """Build :class:`LocalServices` from an :class:`~roomvoice.config.AppConfig` (skills included:
    see :func:`roomvoice.skills.setup.build_skills`)."""
    from roomvoice.serve.factory import build_llm_engine, build_stt_engine, build_tts_engine
    from roomvoice.skills.setup import build_skills

    skills_cfg = getattr(cfg, "skills", None)
    skills = build_skills(skills_cfg, timezone=cfg.assistant.timezone)
    core = AssistantCore(cfg.llm.system_prompt, cfg.assistant.history_turns, cfg.assistant.timezone,
                         skills=skills, tool_max_tokens=skills_cfg.llm_tool_max_tokens if skills_cfg else 96)
    return LocalServices(build_stt_engine(cfg.stt), build_llm_engine(cfg.llm), build_tts_engine(cfg.tts), core,
                         max_tokens=cfg.llm.max_tokens, temperature=cfg.llm.temperature, language=cfg.stt.language,
                         timeout_s=cfg.llm.timeout_s)
