"""In-process voice services: the engines called directly, no Ray.

Used by tests and benchmarks that measure the models without Serve's hops, and as the
reference behaviour the Serve deployments must match. Replies come from the same
:class:`~roomvoice.assistant.pipeline.ReplyPipeline` as the Serve ``Assistant``'s, over the
in-process engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from roomvoice.assistant import AssistantCore, EngineLLM, ReplyPipeline, Sampling, TimeoutPolicy
from roomvoice.errors import SpeechToTextError, TextToSpeechError, as_roomvoice_error
from roomvoice.events import AssistantRequest, ReplySentence, SpeechAudio, Transcript, Utterance
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
        timeout_s: wall seconds allowed for the LLM's part of a reply (see
            :class:`~roomvoice.assistant.pipeline.TimeoutPolicy`).
        first: the fast first-pass STT engine (``stt.first_pass``), or None.
    """

    def __init__(self, stt: SpeechToTextEngine, llm: LLMEngine, tts: TextToSpeechEngine, core: AssistantCore,
                 *, max_tokens: int = 96, temperature: float = 0.2, language: str | None = "en",
                 timeout_s: float = 30.0, first: SpeechToTextEngine | None = None) -> None:
        self.stt, self.llm, self.tts, self.core, self.first = stt, llm, tts, core, first
        self.max_tokens, self.temperature, self.language = max_tokens, temperature, language
        self.pipeline = ReplyPipeline(core, EngineLLM(llm), sampling=Sampling(max_tokens, temperature),
                                      timeouts=TimeoutPolicy(timeout_s))

    @property
    def timeout_s(self) -> float | None:
        """Wall seconds allowed for the LLM's part of a reply (the pipeline's one timeout policy)."""
        return self.pipeline.timeouts.llm_s

    @timeout_s.setter
    def timeout_s(self, value: float | None) -> None:
        self.pipeline.timeouts = TimeoutPolicy(value)

    @property
    def first_pass(self) -> bool:
        """True when a fast first-pass engine is loaded."""
        return self.first is not None

    def transcribe(self, utterance: Utterance, prompt: str | None = None, first_pass: bool = False) -> Transcript:
        """STT of ``utterance`` (``prompt``: words to bias towards; ``first_pass``: the fast engine)."""
        try:
            if first_pass and self.first is not None:
                return self.first.transcribe([utterance.samples], language="en")[0]
            return self.stt.transcribe([utterance.samples], language=self.language, prompt=prompt)[0]
        except Exception as exc:
            raise as_roomvoice_error(exc, SpeechToTextError, "stt-failed") from exc

    def reply(self, request: AssistantRequest) -> Iterator[ReplySentence]:
        """The reply's sentences (blocking; closing the iterator stops the LLM)."""
        return self.pipeline.sentences_sync(request)

    def route(self, request: AssistantRequest) -> str:
        """Where the pipeline would send ``request``: ``fast_path``, ``tool`` or ``llm`` (nothing runs)."""
        return self.core.route(request)

    def vocabulary(self) -> str:
        """The home's names and areas (STT biasing)."""
        return self.core.vocabulary()

    def remember(self, request: AssistantRequest, reply: str) -> None:
        """Store an exchange whose reply was made preemptively, now that it was used."""
        self.core.remember(request, reply)
        self.pipeline.warm(request, True)

    def synthesize(self, text: str) -> list[SpeechAudio]:
        try:
            return list(self.tts.synthesize(text))
        except Exception as exc:
            raise as_roomvoice_error(exc, TextToSpeechError, "tts-failed") from exc


def local_services_from_config(cfg: Any) -> LocalServices:
    """Build :class:`LocalServices` from an :class:`~roomvoice.config.AppConfig` (skills included:
    see :func:`roomvoice.skills.setup.build_skills`)."""
    from roomvoice.serve.factory import build_first_pass_engine, build_llm_engine, build_stt_engine, build_tts_engine
    from roomvoice.skills.setup import build_skills

    skills_cfg = getattr(cfg, "skills", None)
    skills = build_skills(skills_cfg, timezone=cfg.assistant.timezone)
    core = AssistantCore(cfg.llm.system_prompt, cfg.assistant.history_turns, cfg.assistant.timezone,
                         skills=skills, tool_max_tokens=skills_cfg.llm_tool_max_tokens if skills_cfg else 96)
    return LocalServices(build_stt_engine(cfg.stt), build_llm_engine(cfg.llm), build_tts_engine(cfg.tts), core,
                         max_tokens=cfg.llm.max_tokens, temperature=cfg.llm.temperature, language=cfg.stt.language,
                         timeout_s=cfg.llm.timeout_s, first=build_first_pass_engine(cfg.stt))
