"""Ray Serve deployments: the shared services every room calls.

- :class:`SpeechToText` batches utterances from several rooms into one engine call
  (``@serve.batch``; size and wait from ``stt.max_batch_size`` / ``batch_wait_timeout_s``).
- :class:`LLM` streams text deltas; the blocking engine runs in a worker thread, one
  request at a time per replica (llama.cpp contexts are not thread-safe).
- :class:`TextToSpeech` synthesises one sentence per call.
- :class:`Assistant` runs the one reply pipeline (:mod:`roomvoice.assistant.pipeline`: the fast
  path — time, date, Home Assistant intents, executed there — else one constrained LLM tool
  call for a home request, else the LLM's words) for voice (sentences) and chat (deltas).
- :class:`VoiceGateway` is the application's ingress; it binds the others into one app.

Resources (CPU shares, GPU fractions, replicas) come from the preset at build time
(:func:`roomvoice.serve.app.build_app`). Engines log their load time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from typing import Any

import numpy as np
from ray import serve
from ray.serve.handle import DeploymentHandle

from roomvoice.config import ApiConfig, AssistantConfig, LlmConfig, SkillsConfig, SttConfig, TtsConfig
from roomvoice.errors import LLMError, SpeechToTextError, TextToSpeechError, as_roomvoice_error
from roomvoice.events import AssistantRequest, ChatMessage, ReplySentence, SpeechAudio, Transcript
from roomvoice.rooms.audio import SAMPLE_RATE
from roomvoice.serve.streaming import iterate_in_thread

logger = logging.getLogger(__name__)

def _check_utterance(samples: Any) -> np.ndarray:
    arr = np.asarray(samples)
    if arr.ndim != 1 or arr.size == 0:
        raise SpeechToTextError("stt-bad-audio", f"expected a non-empty (n,) int16 array, got shape {arr.shape}")
    if arr.dtype != np.int16:
        raise SpeechToTextError("stt-bad-audio", f"expected int16 samples at {SAMPLE_RATE} Hz, got {arr.dtype}")
    return arr


@serve.deployment(name="SpeechToText")
class SpeechToText:
    """faster-whisper behind ``@serve.batch``.

    ``transcribe(samples)``: ``samples`` int16 ``(n,)`` at 16 kHz → :class:`Transcript`.
    """

    def __init__(self, cfg: SttConfig) -> None:
        from roomvoice.serve.factory import build_stt_engine

        t0 = time.monotonic()
        from roomvoice.serve.factory import build_first_pass_engine

        self.engine = build_stt_engine(cfg)
        self.first = build_first_pass_engine(cfg)
        self.language = cfg.language
        for batched in (self.transcribe_batch, self.first_pass_batch):
            batched.set_max_batch_size(cfg.max_batch_size)
            batched.set_batch_wait_timeout_s(cfg.batch_wait_timeout_s)
        self.batch_sizes: list[int] = []
        logger.info("SpeechToText ready (%s) in %.1f s", cfg.model, time.monotonic() - t0)

    @serve.batch(max_batch_size=4, batch_wait_timeout_s=0.05)
    async def transcribe_batch(self, batch: list[tuple[np.ndarray, str | None]]) -> list[Transcript]:
        """Utterances from concurrent calls (several rooms) → one engine call, each with its prompt."""
        self.batch_sizes.append(len(batch))
        samples, prompts = [item[0] for item in batch], [item[1] for item in batch]
        return await asyncio.to_thread(self.engine.transcribe, samples, language=self.language, prompt=prompts)

    @serve.batch(max_batch_size=4, batch_wait_timeout_s=0.05)
    async def first_pass_batch(self, batch: list[np.ndarray]) -> list[Transcript]:
        """Utterances for the fast first-pass engine, one engine call per batch."""
        return await asyncio.to_thread(self.first.transcribe, batch, language="en")

    def has_first_pass(self) -> bool:
        """True when a fast first-pass engine (``stt.first_pass``) is loaded."""
        return self.first is not None

    async def transcribe(self, samples: np.ndarray, prompt: str | None = None, first_pass: bool = False) -> Transcript:
        """Transcribe one utterance, batched with concurrent calls from other rooms into one engine
        call; ``prompt``: words to bias towards (stop phrases, the home's device names);
        ``first_pass``: with the fast first-pass engine (the main one when there is none)."""
        arr = _check_utterance(samples)
        if prompt is not None and not isinstance(prompt, str):
            raise SpeechToTextError("stt-bad-prompt", f"the prompt must be a string, got {type(prompt).__name__}")
        try:
            if first_pass and self.first is not None:
                return await self.first_pass_batch(arr)
            return await self.transcribe_batch((arr, prompt or None))
        except Exception as exc:
            raise as_roomvoice_error(exc, SpeechToTextError, "stt-failed") from exc

    def stats(self) -> dict[str, Any]:
        """Batch sizes seen so far (to check that rooms share calls)."""
        return {"batch_sizes": list(self.batch_sizes)}


@serve.deployment(name="TextToSpeech")
class TextToSpeech:
    """piper behind Serve. ``synthesize(text)`` → list of :class:`SpeechAudio` (one per sentence)."""

    def __init__(self, cfg: TtsConfig) -> None:
        from roomvoice.serve.factory import build_tts_engine

        t0 = time.monotonic()
        self.engine = build_tts_engine(cfg)
        logger.info("TextToSpeech ready (%s) in %.1f s", cfg.voice, time.monotonic() - t0)

    async def synthesize(self, text: str) -> list[SpeechAudio]:
        """Synthesise ``text``; raises :class:`TextToSpeechError` on failure."""
        try:
            return await asyncio.to_thread(lambda: list(self.engine.synthesize(text)))
        except Exception as exc:
            raise as_roomvoice_error(exc, TextToSpeechError, "tts-failed") from exc

    def sample_rate(self) -> int:
        """Output sample rate in Hz."""
        return int(self.engine.sample_rate)


@serve.deployment(name="LLM")
class LLM:
    """The LLM engine behind Serve, streaming text deltas.

    ``stream_chat(messages, max_tokens, temperature)`` yields ``str`` deltas; raises
    :class:`LLMError` (``llm-timeout`` after ``llm.timeout_s``).
    """

    def __init__(self, cfg: LlmConfig) -> None:
        from roomvoice.serve.factory import build_llm_engine

        t0 = time.monotonic()
        self.cfg = cfg
        self.engine = build_llm_engine(cfg)
        self.engine.start()
        self._lock = asyncio.Lock()
        self._stats = {"streams": 0, "active": 0, "completed": 0, "cancelled": 0, "failed": 0,
                       "last_deltas": 0, "last_finish": None}
        logger.info("LLM ready (%s) in %.1f s", cfg.model, time.monotonic() - t0)

    def stats(self) -> dict[str, Any]:
        """Streams started, running now, completed, cancelled (a barge-in or a closed client) and
        failed; deltas and finish (``stop``/``cancelled``/``failed``) of the latest stream."""
        return dict(self._stats)

    async def stream_chat(
        self, messages: Sequence[ChatMessage], max_tokens: int | None = None, temperature: float | None = None
    ) -> AsyncIterator[str]:
        max_tokens = int(max_tokens or self.cfg.max_tokens)
        temperature = self.cfg.temperature if temperature is None else float(temperature)
        deadline = time.monotonic() + self.cfg.timeout_s
        stats = self._stats
        deltas, finish = 0, "failed"
        async with self._lock:
            stats["streams"] += 1
            stats["active"] += 1
            try:
                stream = iterate_in_thread(
                    lambda: self.engine.stream_chat(messages, max_tokens=max_tokens, temperature=temperature)
                )
                try:
                    while True:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            raise TimeoutError
                        try:
                            delta = await asyncio.wait_for(stream.__anext__(), timeout=remaining)
                        except StopAsyncIteration:
                            finish = "stop"
                            break
                        deltas += 1
                        yield delta
                except (asyncio.CancelledError, GeneratorExit):
                    finish = "cancelled"  # the caller went away: the engine stops at its next token
                    raise
                finally:
                    await asyncio.shield(stream.aclose())
                    stats["active"] -= 1
                    stats[{"stop": "completed"}.get(finish, finish)] += 1
                    stats["last_deltas"], stats["last_finish"] = deltas, finish
            except TimeoutError as exc:
                raise LLMError("llm-timeout", f"no complete reply within {self.cfg.timeout_s:g} s") from exc
            except LLMError:
                raise
            except Exception as exc:
                raise as_roomvoice_error(exc, LLMError, "llm-failed") from exc

    async def prefill(self, messages: Sequence[ChatMessage], delay_s: float = 0.0) -> bool:
        """After ``delay_s``, evaluate a conversation's prompt prefix while the model is idle
        (skipped when busy), so its next request starts sooner (see ``LlamaCppEngine.prefill``)."""
        await asyncio.sleep(max(0.0, float(delay_s)))
        if self._lock.locked():
            return False
        async with self._lock:
            return await asyncio.to_thread(self.engine.prefill, list(messages))

    async def complete_json(self, messages: Sequence[ChatMessage], schema: dict[str, Any],
                            max_tokens: int | None = None) -> str:
        """One reply constrained to ``schema`` (tool calls); raises :class:`LLMError`
        (``llm-timeout`` after ``llm.timeout_s``, ``llm-json-unsupported``, ...)."""
        max_tokens = int(max_tokens or self.cfg.max_tokens)
        async with self._lock:
            try:
                return await asyncio.wait_for(
                    asyncio.to_thread(self.engine.complete_json, messages, schema, max_tokens=max_tokens),
                    timeout=self.cfg.timeout_s)
            except TimeoutError as exc:
                raise LLMError("llm-timeout", f"no constrained reply within {self.cfg.timeout_s:g} s") from exc
            except LLMError:
                raise
            except Exception as exc:
                raise as_roomvoice_error(exc, LLMError, "llm-failed") from exc

    def model_name(self) -> str:
        """The served model's name."""
        return self.cfg.model


@serve.deployment(name="Assistant")
class Assistant:
    """The one reply pipeline (:class:`~roomvoice.assistant.pipeline.ReplyPipeline`: fast path,
    tools or LLM) behind Serve, over the ``LLM`` deployment's handle. ``reply(request)`` yields
    :class:`ReplySentence` (voice); ``chat(messages, ...)`` yields text deltas (chat, the API).
    Cancelling either (a barge-in, a closed client) cancels the LLM's Serve request.

    The skills (Home Assistant client, entity index, intents, tool registry) live in this
    replica, built from ``skills_cfg`` (None: time/date rules only); with ``household``
    (:class:`~roomvoice.skills.personal.HouseholdSettings`) also timers, reminders, calendar,
    tasks, announcements (queued on the room actors), cameras and system actions.
    """

    def __init__(self, llm: DeploymentHandle, cfg: AssistantConfig, llm_cfg: LlmConfig,
                 skills_cfg: SkillsConfig | None = None, household: Any = None) -> None:
        from roomvoice.assistant import AssistantCore, ReplyPipeline, Sampling, ServeLLM, TimeoutPolicy
        from roomvoice.skills.personal import build_household, ray_announcer
        from roomvoice.skills.setup import build_skills

        self.llm = llm
        self.llm_cfg = llm_cfg
        personal = None
        if skills_cfg is not None and skills_cfg.enabled and household is not None:
            personal = build_household(household, skills_cfg.system_actions,
                                       announcer=ray_announcer(household.rooms))
        skills = build_skills(skills_cfg, timezone=cfg.timezone, personal=personal)
        self.core = AssistantCore(llm_cfg.system_prompt, cfg.history_turns, cfg.timezone, skills=skills,
                                  tool_max_tokens=skills_cfg.llm_tool_max_tokens if skills_cfg else 96)
        self.pipeline = ReplyPipeline(self.core, ServeLLM(llm), sampling=Sampling.from_config(llm_cfg),
                                      timeouts=TimeoutPolicy.from_config(llm_cfg))

    async def reply(self, request: AssistantRequest) -> AsyncIterator[ReplySentence]:
        """Voice: the reply to ``request`` sentence by sentence (remembered per conversation)."""
        async with aclosing(self.pipeline.sentences(request)) as sentences:
            async for sentence in sentences:
                yield sentence

    async def route(self, request: AssistantRequest) -> str:
        """Where the pipeline would send ``request`` (``fast_path``, ``tool``, ``llm``); nothing runs."""
        return await asyncio.to_thread(self.core.route, request)

    async def remember(self, request: AssistantRequest, reply: str) -> None:
        """Store an exchange answered from a preemptive request (``request.preemptive``) once used."""
        self.core.remember(request, reply)
        self.pipeline.warm(request, True)

    async def vocabulary(self) -> str:
        """The home's names and areas, to bias speech recognition towards."""
        return await asyncio.to_thread(self.core.vocabulary)

    async def chat(self, messages: Sequence[ChatMessage], max_tokens: int | None = None,
                   temperature: float | None = None, user_id: int | None = None,
                   role: str = "member") -> AsyncIterator[str]:
        """Chat (the OpenAI-compatible API, the console): the reply as text deltas, acting for
        ``user_id`` with ``role``."""
        async with aclosing(self.pipeline.chat(messages, max_tokens, temperature, user_id, role)) as deltas:
            async for delta in deltas:
                yield delta


@serve.deployment(name="VoiceGateway", ray_actor_options={"num_cpus": 0.05})
@serve.ingress()
class VoiceGateway:
    """Ingress of the roomvoice app: the HTTP API (see :mod:`roomvoice.serve.api`) over the services.

    Args:
        stt, assistant, tts: handles of the service deployments.
        api: HTTP API settings (allow-list, limits, model id).
        store_url: the PostgreSQL URL (users, API keys, conversations).
        rooms: names of the configured rooms.
        journal_path: absolute path of the chat write journal (writes queued during a
            PostgreSQL outage survive a restart); None keeps the queue in memory.
        history_turns: previous exchanges of a stored conversation sent to the LLM.
        console: :class:`~roomvoice.serve.console_backends.ConsoleSettings`; the Gradio console is
            mounted at ``/console`` when given and ``api.console`` is on.
    """

    def __init__(self, stt: DeploymentHandle, assistant: DeploymentHandle, tts: DeploymentHandle,
                 api: ApiConfig, store_url: str, rooms: list[str], journal_path: str | None = None,
                 history_turns: int = 4, console: Any = None) -> None:
        from roomvoice.store.conversations import ConversationStore
        from roomvoice.store.db import Database
        from roomvoice.store.journal import WriteJournal
        from roomvoice.store.resilient import ResilientStore
        from roomvoice.store.turns import TurnStore

        self.stt, self.assistant, self.tts = stt, assistant, tts
        self.api_cfg, self.rooms = api, list(rooms)
        self.db = Database(store_url, 1, 4)
        self.chat_store = ResilientStore(
            ConversationStore(self.db, max_message_chars=api.max_message_chars), TurnStore(self.db),
            journal=WriteJournal(journal_path) if journal_path else None)
        self.history_turns = history_turns
        self.console = console

    def __serve_build_asgi_app__(self):
        from roomvoice.serve.api import ApiSettings, create_api
        from roomvoice.serve.backends import ActorRooms, ServeChatBackend
        from roomvoice.store.access import IpAllowList
        from roomvoice.store.credentials import ApiKeyStore

        from roomvoice.serve.chat import ChatService
        from roomvoice.store.users import UserStore

        backend = ServeChatBackend(self.assistant)
        self.chat = ChatService(self.chat_store, backend, history_turns=self.history_turns,
                                max_message_chars=self.api_cfg.max_message_chars)
        app = create_api(
            ApiKeyStore(self.db), IpAllowList(self.api_cfg.allow), backend,
            ActorRooms(self.rooms),
            ApiSettings(model=self.api_cfg.model, max_message_chars=self.api_cfg.max_message_chars),
            conversations=self.chat, users=UserStore(self.db),
        )
        if self.console is not None and getattr(self.api_cfg, "console", True):
            from roomvoice.serve.console import mount_console, serve_console_deps

            mount_console(app, serve_console_deps(self.db, self.chat, ActorRooms(self.rooms), self.console))
        return app
