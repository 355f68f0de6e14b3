"""Typed messages passed between pipeline stages.

Every message is a frozen dataclass; units are in the field names (``_s`` seconds,
``_hz`` Hz) or the attribute docs. Audio payloads are ``numpy.int16`` arrays with their
sample rate alongside. ``to_json()`` gives the JSON-safe form for logs and run files
(audio arrays are left out).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class VoiceState(str, enum.Enum):
    """States of a room's voice state machine (see ``roomvoice.rooms.state``)."""

    IDLE = "idle"
    """Waiting for the wake word."""
    LISTENING = "listening"
    """Wake word heard; waiting for speech to start."""
    RECORDING = "recording"
    """Speech under way; waiting for end of speech."""
    TRANSCRIBING = "transcribing"
    """Utterance sent to speech-to-text."""
    THINKING = "thinking"
    """Transcript sent to the assistant; waiting for the first reply sentence."""
    SPEAKING = "speaking"
    """Reply audio being played."""
    ERROR = "error"
    """Something failed; an apology is spoken, then back to IDLE."""


class Stage(str, enum.Enum):
    """Pipeline stages, used to say where an error happened."""

    AUDIO = "audio"
    WAKE = "wake"
    END_OF_SPEECH = "end_of_speech"
    STT = "stt"
    ASSISTANT = "assistant"
    LLM = "llm"
    TTS = "tts"
    PLAYBACK = "playback"


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, np.ndarray):
        return None
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not isinstance(getattr(value, f.name), np.ndarray)}
    return value


class _Jsonable:
    def to_json(self) -> dict[str, Any]:
        """JSON-safe dict of the fields (enums as values, tuples as lists); numpy arrays are omitted."""
        return _jsonable(self)


Jsonable = _Jsonable
"""Mixin giving a frozen dataclass ``to_json()`` (shared by the skills' message types)."""
to_jsonable = _jsonable
"""JSON-safe form of a value: dataclasses as dicts, enums as values, tuples as lists."""


@dataclass(frozen=True)
class ChatMessage(_Jsonable):
    """One OpenAI-style chat message.

    Attributes:
        role: ``"system"``, ``"user"`` or ``"assistant"``.
        content: the text.
    """

    role: str
    content: str

    def as_openai(self) -> dict[str, str]:
        """The OpenAI wire form ``{"role": ..., "content": ...}``."""
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class AssistantRequest(_Jsonable):
    """A request to the assistant, from a voice turn or a chat.

    Attributes:
        text: the user's words (a transcript or a typed message).
        conversation_id: whose history this continues (a room name for voice).
        room: the room it came from, or "" for chat.
        user_id: the authenticated user (chat), or None (a voice in a room: the household).
        role: the user's role (``admin``, ``member``, ``guest``); a voice in a room is a member.
        preemptive: asked before the user's turn surely ended (the words of an LLM reply made
            during the end-of-speech hangover): the fast path and the tool step are skipped (nothing
            is executed) and nothing is remembered; the room remembers the exchange
            (``remember``) once the reply is used.
    """

    text: str
    conversation_id: str = ""
    room: str = ""
    user_id: int | None = None
    role: str = "member"
    preemptive: bool = False


@dataclass(frozen=True)
class WakeDetection(_Jsonable):
    """The wake word was heard.

    Attributes:
        wake_word: model name, e.g. ``"hey_jarvis"``.
        score: model probability 0..1 of the chunk that crossed the threshold.
        audio_time_s: audio time (s since stream start) of the end of the chunk that fired.
    """

    wake_word: str
    score: float
    audio_time_s: float


@dataclass(frozen=True, eq=False)
class Utterance(_Jsonable):
    """Speech captured between wake and end of speech, in the contract format.

    Attributes:
        samples: ``numpy.int16`` array ``(n,)`` at ``rate`` Hz (16 000).
        rate: sample rate in Hz.
        start_s: audio time of the first sample.
        end_s: audio time at which end of speech was detected.
        last_speech_captured_at: ``time.monotonic()`` when the last chunk holding speech was
            captured (None when unknown): where ``speech_end_to_first_audio_s`` starts.
    """

    samples: np.ndarray
    rate: int
    start_s: float
    end_s: float
    last_speech_captured_at: float | None = None

    @property
    def duration_s(self) -> float:
        """Length of the captured audio in seconds."""
        return len(self.samples) / float(self.rate)


@dataclass(frozen=True)
class Transcript(_Jsonable):
    """Speech-to-text result.

    Attributes:
        text: the transcript, stripped.
        language: ISO 639-1 code detected or forced (``"en"``).
        audio_s: seconds of audio transcribed.
        stt_s: wall seconds spent in the engine.
    """

    text: str
    language: str = "en"
    audio_s: float = 0.0
    stt_s: float = 0.0

    @property
    def real_time_factor(self) -> float:
        """``stt_s / audio_s`` (lower is faster; 0 when no audio)."""
        return self.stt_s / self.audio_s if self.audio_s > 0 else 0.0


@dataclass(frozen=True)
class ToolCallRecord(_Jsonable):
    """One tool or Home Assistant service call made (or refused) while answering a request.

    Attributes:
        tool: the tool's name (``"turn_on"``) or, for the intent fast path, the intent
            (``"HassTurnOn"``); as asked for, even when unknown.
        source: ``"fast_path"`` (rules) or ``"llm"`` (the LLM chose it).
        arguments: the arguments as JSON text (validated ones, or as written when refused).
        ok: True if the call ran and succeeded.
        message: what was said about it ("Turned on the kitchen lights.", or why not).
        code: the error code when ``ok`` is False (``entity-unknown``, ``ha-unreachable``...).
        service: the Home Assistant service called, ``"light.turn_on"``; None if none was sent.
        entity_ids: the service call's target entity ids.
        service_data: the service call's extra data as JSON text (``{"brightness_pct": 50}``).
    """

    tool: str
    source: str
    arguments: str = "{}"
    ok: bool = False
    message: str = ""
    code: str | None = None
    service: str | None = None
    entity_ids: tuple[str, ...] = ()
    service_data: str = "{}"


@dataclass(frozen=True)
class ReplySentence(_Jsonable):
    """One sentence of a streamed assistant reply.

    Attributes:
        text: the sentence, stripped.
        index: 0-based position in the reply.
        source: ``"fast_path"`` (rules, no LLM) or ``"llm"``.
        first_token_s: for index 0 of an LLM reply, seconds from request to the LLM's first
            token; ``None`` otherwise.
        elapsed_s: seconds from the assistant receiving the request to this sentence.
        tool_calls: tool/service calls made (or refused) before this sentence was said; the
            room collects them into :attr:`TurnResult.tool_calls`.
    """

    text: str
    index: int
    source: str = "llm"
    first_token_s: float | None = None
    elapsed_s: float = 0.0
    tool_calls: tuple[ToolCallRecord, ...] = ()


@dataclass(frozen=True, eq=False)
class SpeechAudio(_Jsonable):
    """Synthesised audio for one sentence.

    Attributes:
        samples: ``numpy.int16`` array ``(n,)``.
        rate: sample rate in Hz (22 050 for the piper joe voice).
        text: the sentence spoken.
        synth_s: wall seconds the synthesis took.
    """

    samples: np.ndarray
    rate: int
    text: str
    synth_s: float = 0.0

    @property
    def duration_s(self) -> float:
        """Audio duration in seconds."""
        return len(self.samples) / float(self.rate)


@dataclass(frozen=True)
class StateChanged(_Jsonable):
    """A voice state machine transition.

    Attributes:
        room: room name.
        old: state before.
        new: state after.
        audio_time_s: audio time of the transition (s since the room's stream started).
        reason: short cause, e.g. ``"wake"``, ``"end-of-speech"``, an error code.
    """

    room: str
    old: VoiceState
    new: VoiceState
    audio_time_s: float
    reason: str = ""


@dataclass(frozen=True)
class ErrorEvent(_Jsonable):
    """A stage failed in a room; an apology is spoken and the room returns to IDLE.

    Attributes:
        room: room name.
        stage: where it failed.
        code: the :class:`~roomvoice.errors.RoomVoiceError` code.
        message: what was wrong, for people.
        audio_time_s: audio time at which it was reported.
    """

    room: str
    stage: Stage
    code: str
    message: str
    audio_time_s: float


@dataclass(frozen=True)
class TurnTimings(_Jsonable):
    """Per-stage timings of one voice turn, in seconds.

    ``wake_audio_s`` / ``end_of_speech_audio_s`` are positions in the room's audio stream
    (audio time); all ``*_s`` durations after end of speech are wall-clock seconds;
    ``started_at`` / ``ended_at`` are Unix epoch seconds (to show rooms overlapping).

    ``speech_end_to_first_audio_s`` is what the user feels: wall seconds from the *capture* of the
    utterance's last speech chunk to the first reply audio chunk handed to the sink (None for
    typed text). ``end_of_speech_to_first_audio_s`` starts later, at the detected end of speech.
    ``arbiter_wait_s``: wall seconds the turn waited for the wake arbiter after end of speech
    (0.0 when the decision was in before the user stopped speaking).
    ``speech_end_to_end_of_turn_s``: wall seconds from that last speech chunk to the end-of-turn
    decision; ``turn_end``: what ended the turn, ``"silence"`` (the end-of-speech hangover) or
    ``"command"`` (a whole home command heard in a pause); ``stt_in_pause``: the transcript was
    made during the pause, before the turn ended (:mod:`roomvoice.rooms.speculation`);
    ``preemptive_reply``: the LLM reply played was asked for during that pause
    (:mod:`roomvoice.rooms.preempt`).
    """

    wake_audio_s: float = 0.0
    end_of_speech_audio_s: float = 0.0
    wake_to_end_of_speech_s: float = 0.0
    utterance_s: float = 0.0
    stt_s: float = 0.0
    stt_rtf: float = 0.0
    llm_first_token_s: float | None = None
    first_sentence_s: float = 0.0
    tts_first_audio_s: float = 0.0
    end_of_speech_to_first_audio_s: float = 0.0
    speech_end_to_first_audio_s: float | None = None
    arbiter_wait_s: float = 0.0
    speech_end_to_end_of_turn_s: float | None = None
    turn_end: str = "silence"
    stt_in_pause: bool = False
    preemptive_reply: bool = False
    playback_end_s: float = 0.0
    total_s: float = 0.0
    started_at: float = 0.0
    ended_at: float = 0.0


@dataclass(frozen=True)
class TurnResult(_Jsonable):
    """What a voice turn produced, as written to the run's JSON lines.

    Attributes:
        room: room name.
        turn: 1-based turn number in the room.
        transcript: what was heard ("" if STT never ran).
        reply: the full reply text (the apology on error).
        reply_source: ``"fast_path"``, ``"llm"`` or ``"apology"``.
        timings: per-stage timings.
        reply_audio: path of the reply WAV, if the sink wrote one.
        error: the error event, if the turn failed.
        tool_calls: the tool/service calls made or refused while answering, in order.
        interrupted: the reply was cut short by a barge-in (stop phrase, wake word) or an
            interrupting announcement; generation and synthesis were cancelled.
        spoken_text: the text actually played before the interruption (None: the whole reply).
        followup: the turn was a follow-up heard without the wake word.
    """

    room: str
    turn: int
    transcript: str
    reply: str
    reply_source: str
    timings: TurnTimings = field(default_factory=TurnTimings)
    reply_audio: str | None = None
    error: ErrorEvent | None = None
    tool_calls: tuple[ToolCallRecord, ...] = ()
    interrupted: bool = False
    spoken_text: str | None = None
    followup: bool = False


@dataclass(frozen=True)
class RoomStatus(_Jsonable):
    """Live status of a room actor.

    Attributes:
        room: room name.
        state: current voice state.
        turns: turns completed (errors included), across actor restarts.
        audio_time_s: audio time reached in the room's stream.
        done: True once a finite source (files) is exhausted.
        incarnation: how many times the actor was (re)started (1 = never restarted).
        last_transcript: the latest transcript.
        last_reply: the latest reply text.
        last_error: code of the latest error, if any.
    """

    room: str
    state: VoiceState
    turns: int
    audio_time_s: float
    done: bool
    incarnation: int = 1
    last_transcript: str = ""
    last_reply: str = ""
    last_error: str | None = None


@dataclass(frozen=True)
class Announcement(_Jsonable):
    """Text spoken in a room outside a turn: an announcement, a timer ringing, a reminder.

    Attributes:
        room: room name.
        text: what was said.
        source: ``"announcement"``, ``"timer"`` or ``"reminder"``.
        audio_s: seconds of speech played (0.0 if nothing could be played).
        audio_time_s: the room's audio time when it was spoken.
        path: the WAV file written by a ``wav`` sink, if any.
        error: code of the error if it could not be spoken, else None.
    """

    room: str
    text: str
    source: str = "announcement"
    audio_s: float = 0.0
    audio_time_s: float = 0.0
    path: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class WakeClaim(_Jsonable):
    """A room's report of a wake word to the :class:`~roomvoice.actors.arbiter.WakeArbiter`.

    Attributes:
        room: room name.
        zone: the room's ``audio_zone``; only claims of one zone compete.
        score: wake word score 0..1 of the chunk that fired.
        level_dbfs: speech level of the wake window (RMS of its loudest chunks, dBFS, after echo
            cancellation): the louder room is nearer the talker.
        audio_time_s: the room's audio time of the wake (informational only: rooms' clocks are
            never compared; the arbiter stamps receipt with its own clock).
        claim_id: unique id of this claim (``room:incarnation:n``).
    """

    room: str
    zone: str
    score: float
    level_dbfs: float
    audio_time_s: float
    claim_id: str


@dataclass(frozen=True)
class WakeDecision(_Jsonable):
    """The arbiter's answer to one :class:`WakeClaim`.

    Attributes:
        room: the room that claimed.
        claim_id: the claim answered.
        won: True: this room answers; False: it returns to IDLE (``wake_lost``).
        winner: the room that answers.
        zone: the zone decided.
        contenders: every room that claimed in the window, winner first.
        decided_after_s: arbiter wall seconds from this claim's receipt to the decision.
        rule: why: ``"alone"`` (no other claim), ``"level"`` (loudest), ``"score"`` (levels within
            the tie margin, higher wake score), ``"fail-open"`` (no answer from the arbiter in time:
            the room answers alone), ``"duplicate"`` (a second claim of one room in one window),
            ``"late"`` (the claim reached the arbiter just after the window of the same wake closed).
    """

    room: str
    claim_id: str
    won: bool
    winner: str
    zone: str
    contenders: tuple[str, ...] = ()
    decided_after_s: float = 0.0
    rule: str = "alone"


@dataclass(frozen=True)
class RoomEvent(_Jsonable):
    """A named event in a room's ``events.jsonl``: ``wake_lost``, ``barge_in``, ``followup_started``...

    Attributes:
        room: room name.
        kind: the event's name.
        audio_time_s: the room's audio time when it happened (s).
        detail: short JSON-safe facts (winner, phrase, reaction time...), str/float/bool values.
    """

    room: str
    kind: str
    audio_time_s: float
    detail: dict[str, Any] = field(default_factory=dict)
