"""One room's full-duplex voice loop, without Ray: chunks in, turns out.

Audio frames flow in every state. :meth:`Room.feed` takes each captured 80 ms chunk through
echo cancellation (the room's own playback as reference), the wake word detector and the
end-of-speech detector, and drives the :class:`~roomvoice.rooms.state.VoiceStateMachine`; the
turn's work (STT, assistant, TTS, playback) runs on a :class:`~roomvoice.rooms.turns.TurnWorker`
thread meanwhile, so the room hears its user while it thinks and speaks. Control frames jump the
queue, as in pipecat: a barge-in (the wake word, or a stop phrase) cancels the running turn at the
chunk it is heard in and stops playback at the next chunk boundary.

Each wake is claimed with the house's wake arbiter (one answer per wake across rooms of an
``audio_zone``): the room starts recording at once and drops the capture with a ``wake_lost``
event if another room wins; without an answer in ``arbiter_timeout_s`` it answers alone.

Two clocks: logic runs on audio time (chunk stamps); a *live* room (microphone, real-time file)
captures while its turn runs. A room fed faster than real time (a file in a test) runs on virtual
time: :meth:`feed` waits while the turn computes and lets audio flow while the reply plays, so a
turn costs no audio time and tests are repeatable.

Any failure becomes an :class:`~roomvoice.events.ErrorEvent`, a spoken apology, and a return to
IDLE: a room never stops on bad input.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from roomvoice.errors import RoomVoiceError
from roomvoice.events import (
    AssistantRequest,
    ErrorEvent,
    RoomEvent,
    SpeechAudio,
    Stage,
    Transcript,
    TurnResult,
    Utterance,
    VoiceState,
    WakeClaim,
    WakeDetection,
)
from roomvoice.rooms.audio import CHUNK_SAMPLES, SAMPLE_RATE, AudioChunk, check_contract_chunk
from roomvoice.rooms.bargein import StopPhraseListener
from roomvoice.rooms.endpoint import EndOfSpeechDetector, EndpointKind
from roomvoice.rooms.player import Player
from roomvoice.rooms.preempt import PreemptiveReply
from roomvoice.rooms.room_types import (
    Decided,
    PendingDecision,
    RoomOptions,
    VoiceServices,
    WakeArbitration,
    error_tone,
)
from roomvoice.rooms.sinks import AudioSink
from roomvoice.rooms.speculation import Speculator
from roomvoice.rooms.state import VoiceStateMachine
from roomvoice.rooms.turn_side import BUSY, S, TurnSide
from roomvoice.rooms.jobs import Job, TurnControl
from roomvoice.rooms.turns import TurnWorker
from roomvoice.rooms.vocabulary import Heard, VocabularyCache, hear
from roomvoice.rooms.wake import WakeWordDetector

logger = logging.getLogger(__name__)

WAKE_WINDOW_CHUNKS = 20
"""Chunks (1.6 s) before a wake over which its speech level is measured."""
WAKE_LEVEL_TOP = 8
"""The level of a wake is the mean power of its loudest 8 chunks (0.64 s, about the phrase)."""


def _power(samples: np.ndarray) -> float:
    x = samples.astype(np.float64) / 32768.0
    return float(np.mean(x * x))


class Room(TurnSide):
    """The voice loop of one room (see the module docs).

    Args:
        name: room name.
        wake: wake word detector (openWakeWord).
        endpoint: end-of-speech detector.
        services: STT / assistant / TTS.
        sink: where reply audio goes.
        apology: text spoken after a failure.
        on_event: receives every event (StateChanged, WakeDetection, ErrorEvent, TurnResult,
            RoomEvent, Announcement), from the capture or the worker thread.
        options: zone, playback pacing, follow-ups, barge-in, echo cancellation.
        arbiter: where wake claims go; None = the room answers every wake it hears.
        incarnation: the actor's restart count, part of each claim id.
        on_played: receives each played 16 kHz reference chunk (a simulated echo path).
        live: capture runs in real time (a microphone, a paced file): see the module docs.
    """

    def __init__(
        self,
        name: str,
        *,
        wake: WakeWordDetector,
        endpoint: EndOfSpeechDetector,
        services: VoiceServices,
        sink: AudioSink,
        apology: str = "Sorry, something went wrong. Please try again.",
        on_event: Callable[[Any], None] | None = None,
        options: RoomOptions | None = None,
        arbiter: WakeArbitration | None = None,
        incarnation: int = 1,
        on_played: Callable[[AudioChunk], None] | None = None,
        live: bool = False,
    ) -> None:
        self.name = name
        self.wake = wake
        self.endpoint = endpoint
        self.services = services
        self.sink = sink
        self.apology = apology
        self.options = options or RoomOptions()
        self.arbiter = arbiter
        self.incarnation = incarnation
        self.live = live
        self._on_event = on_event
        self.cond = threading.Condition(threading.RLock())
        self.machine = VoiceStateMachine(name, on_event=self._emit_state)
        self.player = Player(sink, self.options.realtime_playback, on_played)
        self.echo = self._echo_canceller() if self.options.aec else None
        self.stop_listener = StopPhraseListener(self.options.barge_in, endpoint.settings.vad,
                                                endpoint.settings.silero_threshold, services.transcribe, name)
        self.turns: deque[TurnResult] = deque(maxlen=500)
        self.turn_count = 0
        self.audio_time_s = 0.0
        self.last_transcript = ""
        self.last_reply = ""
        self.apology_audio: list[SpeechAudio] | None = None
        self._current: TurnControl | None = None
        self._new_results: deque[TurnResult] = deque()
        self._levels: deque[float] = deque(maxlen=WAKE_WINDOW_CHUNKS)
        self._last_played: AudioChunk | None = None
        self._claims = 0
        self._pending: PendingDecision | None = None
        self._pending_claim: WakeClaim | None = None
        self._wake_time_s = 0.0
        self._wake_wall = 0.0
        self._followup = False
        self.vocabulary = VocabularyCache(getattr(services, "vocabulary", None), name)
        preempt = self._preempt if self.options.preemptive_reply and hasattr(services, "remember") else None
        self.speculator = Speculator(name, self.hear, on_change=self._notify, preempt=preempt)
        self.worker = TurnWorker(self)

    def _echo_canceller(self):
        from roomvoice.rooms.echo import EchoCanceller

        return EchoCanceller(SAMPLE_RATE)

    # ------------------------------------------------------------------ events
    def emit(self, event: Any) -> None:
        """Hand ``event`` to the observer; an observer failure is logged, never raised."""
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:  # an observer must never break the room
                logger.exception("%s: event observer failed", self.name)

    def _emit_state(self, event: Any) -> None:
        self.emit(event)
        self.cond.notify_all()  # the worker waits for IDLE; virtual-time capture waits for the worker

    def _notify(self) -> None:
        with self.cond:
            self.cond.notify_all()

    def _room_event(self, kind: str, t: float, **detail: Any) -> None:
        self.emit(RoomEvent(self.name, kind, round(t, 3), {k: v for k, v in detail.items() if v is not None}))

    @property
    def state(self) -> VoiceState:
        """The current voice state."""
        return self.machine.state

    def hear(self, utterance: Utterance) -> Heard:
        """STT of ``utterance`` and where the assistant would send it; a home request the fast path
        cannot act on is heard again biased towards the home's names (:func:`~roomvoice.rooms.vocabulary.hear`).

        Raises:
            whatever the services' first STT pass raises (SpeechToTextError, AudioError...).
        """
        route = self._route if hasattr(self.services, "route") else None
        fast = self._first_pass if getattr(self.services, "first_pass", False) else None
        return hear(utterance, self._stt, route, self.vocabulary, fast)

    def _first_pass(self, utterance: Utterance) -> Transcript:
        return self.services.transcribe(utterance, first_pass=True)

    def _stt(self, utterance: Utterance, prompt: str | None = None) -> Transcript:
        if prompt:
            return self.services.transcribe(utterance, prompt=prompt)
        return self.services.transcribe(utterance)

    def _preempt(self, text: str) -> PreemptiveReply:
        """Ask for the LLM's reply to ``text`` now, before the turn surely ended (nothing executed)."""
        request = AssistantRequest(text=text, conversation_id=self.name, room=self.name, preemptive=True)
        return PreemptiveReply(request, self.services.reply, self.services.synthesize, self.name)

    def _route(self, text: str) -> str:
        """Where the assistant would send ``text`` said here (nothing is executed)."""
        return self.services.route(AssistantRequest(text=text, conversation_id=self.name, room=self.name))

    def prepare_apology(self) -> None:
        """Synthesise the apology once now, so it can be played even if TTS later fails."""
        try:
            self.apology_audio = list(self.services.synthesize(self.apology))
        except Exception as exc:  # TTS down at start: fall back to a tone when needed
            logger.warning("%s: apology not pre-synthesised (%s); using the error tone", self.name, exc)
            self.apology_audio = None

    # ------------------------------------------------------------------ capture
    def run(self, chunks: Iterable[AudioChunk], stop: threading.Event | None = None) -> list[TurnResult]:
        """Feed every chunk until the iterable ends or ``stop`` is set, then let the last turn
        finish; returns this call's turns."""
        first = self.turn_count
        for chunk in chunks:
            if stop is not None and stop.is_set():
                break
            self.feed(chunk)
        self.drain()
        return [t for t in self.turns if t.turn > first]

    def feed(self, chunk: AudioChunk) -> TurnResult | None:
        """Process one captured contract chunk (16 kHz mono int16, 80 ms).

        Never blocks on a live room; on virtual time it waits while the turn computes.

        Returns:
            A :class:`TurnResult` completed since the previous call, if any.
        """
        self.audio_time_s = max(self.audio_time_s, chunk.end_s)
        try:
            check_contract_chunk(chunk)
            clean = self.echo.process(chunk, self._last_played) if self.echo is not None else chunk
            with self.cond:
                self._levels.append(_power(np.asarray(clean.samples)))
                playing = self._last_played is not None
                detection = self.wake.process(clean, max(self.wake.threshold, self.options.playing_wake_threshold)
                                              if playing else None)
                self._step(clean, detection)
        except RoomVoiceError as exc:  # a bad chunk or a failing detector: report, apologise, go on
            self._capture_failed(exc, chunk.end_s)
        self._last_played = self.player.tick(chunk.end_s)
        if not self.live:
            self.settle()
        return self._new_results.popleft() if self._new_results else None

    def _step(self, clean: AudioChunk, detection: WakeDetection | None) -> None:
        """Under the lock: one chunk through the state machine."""
        state = self.machine.state
        t = clean.end_s
        if state is S.IDLE:
            self.endpoint.observe(clean)
            if detection is not None:
                self.emit(detection)
                self._start_listening(detection, t)
        elif state in (S.LISTENING, S.RECORDING):
            if self._check_arbiter(t):
                return
            self._capture(clean, t)
        elif state in BUSY and self._current is not None and self.options.barge_in.enabled:
            if detection is not None:
                self.emit(detection)
                stopped = self.player.stopped_at_s if self.player.paused else t
                if self.interrupt("barge-in-wake", t, listen=True, phrase=detection.wake_word, stopped_at_s=stopped,
                                  onset_s=self.stop_listener.onset_s):
                    self._start_listening(detection, t, listening=True)
                return
            self._listen_for_stop(clean, t)

    def _start_listening(self, detection: WakeDetection, t: float, listening: bool = False) -> None:
        """Wake heard: claim it with the arbiter and start recording at once (no audio is lost)."""
        self._wake_time_s, self._wake_wall, self._followup = detection.audio_time_s, time.time(), False
        self._pending, self._pending_claim = None, None
        if self.arbiter is not None:
            self._claims += 1
            claim = WakeClaim(self.name, self.options.zone, float(detection.score), self._wake_level(),
                              detection.audio_time_s, f"{self.name}:{self.incarnation}:{self._claims}")
            try:
                self._pending, self._pending_claim = self.arbiter.submit(claim), claim
            except Exception:  # the arbiter client never should; if it does, answer alone
                logger.warning("%s: wake claim not sent; answering alone", self.name, exc_info=True)
        if not listening:
            self.machine.wake(detection.audio_time_s)
        self.endpoint.start(detection.audio_time_s)

    def _wake_level(self) -> float:
        """Speech level (dBFS) of the wake window: mean power of its loudest chunks."""
        top = sorted(self._levels, reverse=True)[:WAKE_LEVEL_TOP]
        p = float(np.mean(top)) if top else 0.0
        return round(10.0 * math.log10(p), 2) if p > 1e-12 else -120.0

    def _check_arbiter(self, t: float) -> bool:
        """A decision that came in while recording: True if the wake was lost (capture dropped)."""
        if self._pending is None or not getattr(self._pending, "answered", self._pending.done)():
            return False  # no answer yet: keep recording (the turn waits for it at end of speech)
        decision = self._pending.result(0.0)
        if decision.won:
            self._pending = Decided(decision)
            return False
        self._pending = None
        self.endpoint.reset()
        self.speculator.drop()
        self.machine.wake_lost(t)
        self._room_event("wake_lost", t, winner=decision.winner, rule=decision.rule,
                         level_dbfs=self._pending_claim.level_dbfs if self._pending_claim else None)
        return True

    def _capture(self, clean: AudioChunk, t: float) -> None:
        update = self.endpoint.process(clean)
        state = self.machine.state
        if update.kind is EndpointKind.SPEECH_STARTED and state is S.LISTENING:
            self.machine.speech_started(update.audio_time_s)
        elif update.kind is EndpointKind.NO_SPEECH:
            self.machine.no_speech(update.audio_time_s)
        elif update.kind is EndpointKind.PAUSE and update.utterance is not None:
            self.speculator.start(update.utterance, update.last_speech_end_s)
        elif update.kind is EndpointKind.NONE and state is S.RECORDING and self.options.command_ends_turn:
            spec = self.speculator.ready(update.last_speech_end_s, update.last_sound_end_s)
            if spec is not None and spec.complete_command:  # a whole home command: no need to wait
                self._end_turn(self.endpoint.end_now(t), state, "command")
        elif update.kind is EndpointKind.TOO_LONG:
            from roomvoice.errors import AudioError

            limit = self.endpoint.settings.max_utterance_s
            self._submit_failure(Stage.END_OF_SPEECH, AudioError("audio-too-long",
                                 f"utterance longer than the {limit:g} s limit"), update.audio_time_s)
        elif update.kind is EndpointKind.END_OF_SPEECH and update.utterance is not None:
            self._end_turn(update, state, "silence")
        if not self.endpoint.active and self.machine.state not in BUSY:  # no speech, too long: never used
            self.speculator.drop()

    def _end_turn(self, update: Any, state: VoiceState, how: str) -> None:
        """End of turn (``how``: ``"silence"`` after the hangover, ``"command"`` at a pause that ended
        a whole home command): hand the turn to the worker, with the transcript made in the pause."""
        if update.utterance is None:
            return
        if state is S.LISTENING:
            self.machine.speech_started(update.utterance.start_s)
        self.machine.end_of_speech(update.audio_time_s)
        control = TurnControl("voice")
        self._current = control
        self.worker.submit(Job("voice", control, utterance=update.utterance, decision=self._pending,
                               followup=self._followup, wake_audio_s=self._wake_time_s,
                               started_at=self._wake_wall, detected_at=time.monotonic(),
                               speculation=self.speculator.claim(update.last_speech_end_s, update.last_sound_end_s),
                               turn_end=how))
        self._pending, self._followup = None, False
        self.stop_listener.reset()

    def _listen_for_stop(self, clean: AudioChunk, t: float) -> None:
        """While busy: pause playback on speech, and interrupt on a stop phrase."""
        verdict = self.stop_listener.process(clean, self.player.paused)
        if verdict is None:
            return
        if verdict.kind == "pause":
            if self.options.barge_in.pause_on_speech:
                self.player.pause(t)
        elif verdict.kind == "resume":
            self.player.resume()
            self._room_event("speech_over_reply", t, onset_s=verdict.onset_s, heard=verdict.heard or None,
                             outcome=verdict.outcome)
        else:
            onset = verdict.onset_s
            stopped = self.player.stopped_at_s if self.player.paused else t
            self.interrupt("barge-in-stop", t, phrase=verdict.phrase, heard=verdict.heard, onset_s=onset,
                           stopped_at_s=stopped,
                           reaction_s=None if onset is None or stopped is None else round(max(0.0, stopped - onset), 3))

    def interrupt(self, reason: str, t: float, listen: bool = False, **detail: Any) -> bool:
        """Cut the running turn short (barge-in, an interrupting announcement): cancel its Serve
        calls, stop playback at the next chunk and leave the busy state (→ LISTENING if ``listen``).

        Returns False (and does nothing) when no turn is under way — a stop phrase while IDLE, or
        a barge-in that lost the race with the reply's natural end.
        """
        with self.cond:
            control = self._current
            if control is None or self.machine.state not in BUSY:
                return False
            control.cancel(reason)
            self.player.stop(t)
            self._current = None
            self.machine.interrupted(t, reason, listen)
            self.stop_listener.reset()
            self.cond.notify_all()
        if reason.startswith("barge-in"):
            self._room_event("barge_in", t, reason=reason, **detail)
        return True

    def _capture_failed(self, exc: RoomVoiceError, t: float) -> None:
        with self.cond:
            state = self.machine.state
            if state in BUSY or state is S.ERROR:  # the running turn goes on; the chunk is dropped
                self.emit(ErrorEvent(self.name, Stage.AUDIO, exc.code, exc.message, t))
                return
            self.endpoint.reset()
            self.speculator.drop()
            self._pending = None
            self._submit_failure(Stage.AUDIO, exc, t)

    def _submit_failure(self, stage: Stage, exc: BaseException, t: float) -> None:
        """Under the lock: → ERROR now (capture stops recording), the apology on the worker."""
        control = TurnControl("failure")
        if self.machine.state in (S.LISTENING, S.RECORDING):
            self.endpoint.reset()
        if self.machine.state is not S.ERROR:
            self.machine.fail(t, getattr(exc, "code", "room-failed"))
        self._current = control
        self.worker.submit(Job("failure", control, stage=stage, error=exc, audio_time_s=t,
                               detected_at=time.monotonic()))

    def settle(self) -> None:
        """Virtual time: wait while the worker computes and no reply audio is queued (a live room
        never waits: call it only when not :attr:`live`)."""
        deadline = time.monotonic() + 600.0
        with self.cond:
            while self._worker_computing() and time.monotonic() < deadline:
                self.cond.wait(0.02)

    def _worker_computing(self) -> bool:
        w = self.worker
        if self.stop_listener.checking or self.speculator.computing:
            return True  # a stop-phrase check or a transcript in a pause costs no audio time either
        return (w.busy or w.has_runnable()) and not w.waiting_on_audio and not self.player.has_queued

    @property
    def needs_ticks(self) -> bool:
        """True while something waits on the audio clock: a reply playing, jobs to run, a capture."""
        return (self.worker.pending > 0 or self.player.has_queued or self.player.paused
                or self.machine.state not in (S.IDLE,))

    def drain(self, max_audio_s: float = 120.0) -> None:
        """After the last chunk: advance the audio clock with silence until the room is IDLE with no
        work left (at most ``max_audio_s``); paced in real time on a live room."""
        t_end = self.audio_time_s + max_audio_s
        while self.needs_ticks and self.audio_time_s < t_end:
            self.feed(AudioChunk(np.zeros(CHUNK_SAMPLES, np.int16), SAMPLE_RATE, self.audio_time_s,
                                 captured_at=time.monotonic()))
            if self.live:
                time.sleep(CHUNK_SAMPLES / SAMPLE_RATE)

    def close(self) -> None:
        """Cancel the running turn, leave the arbiter's open windows, stop the worker and the checker."""
        self.interrupt("room-closed", self.audio_time_s)
        leave = getattr(self.arbiter, "leave", None)
        if leave is not None:
            try:
                leave(self.name)
            except Exception:  # the arbiter may be gone already
                logger.debug("%s: could not leave the arbiter", self.name, exc_info=True)
        self.worker.close()
        self.speculator.close()
        self.stop_listener.close()

__all__ = ["Room", "RoomOptions", "VoiceServices", "WakeArbitration", "PendingDecision", "error_tone"]
