"""One room's voice loop, without Ray: chunks in, turns out.

:class:`Room` feeds each 80 ms chunk through the wake word detector, the end-of-speech
detector and the :class:`~roomvoice.rooms.state.VoiceStateMachine`; on end of speech it
runs the turn through injected :class:`VoiceServices` (speech-to-text, assistant,
text-to-speech — Ray Serve handles in production, in-process engines in tests) and
writes reply audio to its sink sentence by sentence, so the first sentence is played
while the assistant still writes the rest.

Any failure becomes an :class:`~roomvoice.events.ErrorEvent`, a spoken apology, and a
return to IDLE: a room never stops on bad input.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any, Protocol

import numpy as np

from roomvoice.errors import (
    AssistantError,
    AudioError,
    RoomVoiceError,
    SpeechToTextError,
    TextToSpeechError,
    as_roomvoice_error,
)
from roomvoice.events import (
    Announcement,
    AssistantRequest,
    ErrorEvent,
    ReplySentence,
    SpeechAudio,
    Stage,
    ToolCallRecord,
    Transcript,
    TurnResult,
    TurnTimings,
    Utterance,
    VoiceState,
)
from roomvoice.rooms.audio import AudioChunk, check_contract_chunk, clipped_fraction
from roomvoice.rooms.endpoint import EndOfSpeechDetector, EndpointKind
from roomvoice.rooms.sinks import AudioSink
from roomvoice.rooms.state import VoiceStateMachine
from roomvoice.rooms.wake import WakeWordDetector

logger = logging.getLogger(__name__)

MAX_CLIPPED_FRACTION = 0.05
"""Utterances with more than 5 % of samples at full scale are refused as clipped."""
NO_SPEECH_APOLOGY = "Sorry, I didn't catch that."


class VoiceServices(Protocol):
    """What a room needs from the shared services (Serve deployments or local engines)."""

    def transcribe(self, utterance: Utterance) -> Transcript:
        """Speech-to-text of one utterance (16 kHz mono int16)."""

    def reply(self, request: AssistantRequest) -> Iterable[ReplySentence]:
        """The assistant's reply, streamed sentence by sentence."""

    def synthesize(self, text: str) -> list[SpeechAudio]:
        """Text-to-speech of one sentence."""


def error_tone(rate: int = 22_050) -> SpeechAudio:
    """A short two-note descending chime (0.4 s, int16), played when even the apology cannot be synthesised."""
    t = np.arange(int(0.2 * rate)) / rate
    env = np.minimum(1.0, 10 * t) * np.exp(-6 * t)
    notes = [np.sin(2 * np.pi * f * t) * env for f in (660.0, 440.0)]
    samples = (np.concatenate(notes) * 0.3 * 32767).astype(np.int16)
    return SpeechAudio(samples, rate, "(error tone)")


class Room:
    """The voice loop of one room.

    Args:
        name: room name.
        wake: wake word detector (openWakeWord).
        endpoint: end-of-speech detector.
        services: STT / assistant / TTS.
        sink: where reply audio goes.
        apology: text spoken after a failure.
        on_event: receives every event (StateChanged, WakeDetection, ErrorEvent, TurnResult).
        clock: monotonic wall clock in seconds, for stage timings only (logic uses audio time).
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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.wake = wake
        self.endpoint = endpoint
        self.services = services
        self.sink = sink
        self.apology = apology
        self._on_event = on_event
        self._clock = clock
        self.machine = VoiceStateMachine(name, on_event=self._emit)
        self.turns: list[TurnResult] = []
        self.turn_count = 0
        self.audio_time_s = 0.0
        self.last_transcript = ""
        self.last_reply = ""
        self._wake_time_s = 0.0
        self._wake_wall = 0.0
        self._apology_audio: list[SpeechAudio] | None = None
        self._sink_open = False

    # ------------------------------------------------------------------ events
    def _emit(self, event: Any) -> None:
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:  # an observer must never break the room
                logger.exception("%s: event observer failed", self.name)

    @property
    def state(self) -> VoiceState:
        """The current voice state."""
        return self.machine.state

    def prepare_apology(self) -> None:
        """Synthesise the apology once now, so it can be played even if TTS later fails."""
        try:
            self._apology_audio = list(self.services.synthesize(self.apology))
        except Exception as exc:  # TTS down at start: fall back to a tone when needed
            logger.warning("%s: apology not pre-synthesised (%s); using the error tone", self.name, exc)
            self._apology_audio = None

    # ------------------------------------------------------------------ loop
    def run(self, chunks: Iterable[AudioChunk], stop: threading.Event | None = None) -> list[TurnResult]:
        """Feed every chunk until the iterable ends or ``stop`` is set; returns this call's turns."""
        first = len(self.turns)
        for chunk in chunks:
            if stop is not None and stop.is_set():
                break
            self.feed(chunk)
        return self.turns[first:]

    def feed(self, chunk: AudioChunk) -> TurnResult | None:
        """Process one contract chunk; runs a whole turn when end of speech is detected.

        Returns:
            The :class:`TurnResult` when a turn (or an error) completed with this chunk.
        """
        self.audio_time_s = chunk.end_s
        try:
            check_contract_chunk(chunk)
        except AudioError as exc:
            return self._fail(Stage.AUDIO, exc, chunk.end_s)
        state = self.machine.state
        if state is VoiceState.IDLE:
            self.endpoint.observe(chunk)
            detection = self.wake.process(chunk)
            if detection is not None:
                self._emit(detection)
                self._wake_time_s = detection.audio_time_s
                self._wake_wall = time.time()
                self.machine.wake(detection.audio_time_s)
                self.endpoint.start(detection.audio_time_s)
                # clear the model's window so the same phrase cannot fire again once back in IDLE
                self.wake.reset()
            return None
        if state in (VoiceState.LISTENING, VoiceState.RECORDING):
            update = self.endpoint.process(chunk)
            if update.kind is EndpointKind.SPEECH_STARTED and state is VoiceState.LISTENING:
                self.machine.speech_started(update.audio_time_s)
            elif update.kind is EndpointKind.NO_SPEECH:
                self.machine.no_speech(update.audio_time_s)
                self.wake.reset()
            elif update.kind is EndpointKind.TOO_LONG:
                limit = self.endpoint.settings.max_utterance_s
                err = AudioError("audio-too-long", f"utterance longer than the {limit:g} s limit")
                return self._fail(Stage.END_OF_SPEECH, err, update.audio_time_s)
            elif update.kind is EndpointKind.END_OF_SPEECH and update.utterance is not None:
                if self.machine.state is VoiceState.LISTENING:
                    self.machine.speech_started(update.utterance.start_s)
                self.machine.end_of_speech(update.audio_time_s)
                return self._turn(update.utterance)
        return None

    # ------------------------------------------------------------------ turn
    def _turn(self, utterance: Utterance) -> TurnResult:
        t = utterance.end_s
        t0 = self._clock()
        stage = Stage.AUDIO
        timings = TurnTimings(
            wake_audio_s=self._wake_time_s,
            end_of_speech_audio_s=utterance.end_s,
            wake_to_end_of_speech_s=max(0.0, utterance.end_s - self._wake_time_s),
            utterance_s=utterance.duration_s,
            started_at=self._wake_wall,
        )
        transcript = ""
        try:
            if clipped_fraction(utterance.samples) > MAX_CLIPPED_FRACTION:
                raise AudioError("audio-clipped", f"over {MAX_CLIPPED_FRACTION:.0%} of the utterance is clipped; "
                                 "lower the microphone gain")
            stage = Stage.STT
            result = self.services.transcribe(utterance)
            transcript = result.text.strip()
            timings = replace(timings, stt_s=result.stt_s, stt_rtf=result.real_time_factor)
            self.last_transcript = transcript
            if not transcript:
                raise SpeechToTextError("stt-no-speech", "no words were recognised")
        except Exception as exc:  # every failure -> error event + apology, never a dead room
            return self._fail(stage, exc, t, transcript=transcript, timings=timings, t0=t0)
        self.machine.transcribed(t)
        return self._respond(transcript, t, timings, t0)

    def handle_text(self, text: str) -> TurnResult:
        """Handle typed text as if it had been spoken in this room; the reply is spoken here.

        The room must be IDLE (callers queue text until it is). Goes IDLE → THINKING → SPEAKING → IDLE.
        """
        t = self.audio_time_s
        t0 = self._clock()
        timings = TurnTimings(wake_audio_s=t, end_of_speech_audio_s=t, started_at=time.time())
        self.machine.text_received(t)
        self.last_transcript = text.strip()
        return self._respond(text.strip(), t, timings, t0)

    def announce(self, text: str, source: str = "announcement") -> Announcement:
        """Speak ``text`` in this room outside a turn (announcements, timers, reminders).

        No turn is counted and the voice state does not change; call it only while the room is
        IDLE (the runner queues it until then). A TTS or sink failure is reported as an
        :class:`ErrorEvent` and returned in ``error``; it never raises.
        """
        t = self.audio_time_s
        seconds, path = 0.0, None
        try:
            audios = list(self.services.synthesize(text))
            self.sink.begin_announcement(self.turn_count + 1)
            for audio in audios:
                self.sink.write(audio)
                seconds += audio.duration_s
            path = self.sink.end()
        except Exception as exc:  # report, never break the room
            err = as_roomvoice_error(exc, TextToSpeechError, "tts-failed")
            logger.warning("%s: could not announce %r: %s", self.name, text[:60], err)
            self._emit(ErrorEvent(self.name, Stage.TTS, err.code, err.message, t))
            result = Announcement(self.name, text, source, seconds, t, None, err.code)
        else:
            result = Announcement(self.name, text, source, seconds, t, path)
        self._emit(result)
        return result

    def _respond(self, transcript: str, t: float, timings: TurnTimings, t0: float) -> TurnResult:
        """Ask the assistant and speak its reply sentence by sentence (state THINKING on entry)."""
        sentences: list[str] = []
        tool_calls: list[ToolCallRecord] = []
        source = "llm"
        stage = Stage.ASSISTANT
        try:
            request = AssistantRequest(text=transcript, conversation_id=self.name, room=self.name)
            self.sink.begin(self.turn_count + 1)
            self._sink_open = True
            for sentence in self._iter_reply(request):
                if not sentences:
                    timings = replace(timings, first_sentence_s=self._clock() - t0,
                                      llm_first_token_s=sentence.first_token_s)
                    source = sentence.source
                sentences.append(sentence.text)
                tool_calls.extend(sentence.tool_calls)
                stage = Stage.TTS
                t_synth = self._clock()
                audios = self.services.synthesize(sentence.text)
                for audio in audios:
                    if self.machine.state is VoiceState.THINKING:
                        timings = replace(timings, tts_first_audio_s=self._clock() - t_synth,
                                          end_of_speech_to_first_audio_s=self._clock() - t0)
                        self.machine.speaking(t)
                    stage = Stage.PLAYBACK
                    self.sink.write(audio)
                stage = Stage.ASSISTANT
            stage = Stage.PLAYBACK
            path = self.sink.end()
            self._sink_open = False
        except Exception as exc:  # every failure -> error event + apology, never a dead room
            return self._fail(stage, exc, t, transcript=transcript, timings=timings, t0=t0)
        reply = " ".join(sentences)
        self.last_reply = reply
        self.machine.done(t, "reply-done" if sentences else "no-reply")
        end = self._clock()
        timings = replace(timings, playback_end_s=end - t0, total_s=end - t0, ended_at=time.time())
        return self._record(TurnResult(self.name, self.turn_count + 1, transcript, reply, source, timings, path,
                                       tool_calls=tuple(tool_calls)))

    def _iter_reply(self, request: AssistantRequest) -> Iterator[ReplySentence]:
        iterator = iter(self.services.reply(request))
        while True:
            try:
                sentence = next(iterator)
            except StopIteration:
                return
            except Exception as exc:
                raise as_roomvoice_error(exc, AssistantError, "assistant-failed") from exc
            if sentence.text.strip():
                yield sentence

    # ------------------------------------------------------------------ errors
    def report_error(self, stage: Stage, exc: BaseException) -> TurnResult:
        """Report a failure outside a turn (e.g. the source could not be opened): error event, apology, IDLE."""
        return self._fail(stage, exc, self.audio_time_s)

    def _fail(self, stage: Stage, exc: BaseException, t: float, *, transcript: str = "",
              timings: TurnTimings | None = None, t0: float | None = None) -> TurnResult:
        default = {Stage.STT: SpeechToTextError, Stage.TTS: TextToSpeechError,
                   Stage.ASSISTANT: AssistantError, Stage.LLM: AssistantError}.get(stage, RoomVoiceError)
        err = as_roomvoice_error(exc, default, f"{stage.value.replace('_', '-')}-failed")
        if stage is Stage.ASSISTANT and err.code.startswith("llm"):
            stage = Stage.LLM
        event = ErrorEvent(self.name, stage, err.code, err.message, t)
        logger.warning("%s: %s error %s: %s", self.name, stage.value, err.code, err.message)
        self._emit(event)
        self.machine.fail(t, err.code)
        apology = NO_SPEECH_APOLOGY if err.code == "stt-no-speech" else self.apology
        path = self._speak_apology(apology)
        self.machine.recovered(t)
        self.wake.reset()
        self.endpoint.reset()
        end = self._clock()
        timings = timings or TurnTimings(started_at=time.time())
        if t0 is not None:
            timings = replace(timings, total_s=end - t0)
        timings = replace(timings, ended_at=time.time())
        self.last_reply = apology
        return self._record(TurnResult(self.name, self.turn_count + 1, transcript, apology, "apology",
                                       timings, path, event))

    def _speak_apology(self, text: str) -> str | None:
        audio: list[SpeechAudio] | None = None
        if text == self.apology and self._apology_audio:
            audio = self._apology_audio
        else:
            try:
                audio = list(self.services.synthesize(text))
            except Exception as exc:
                logger.warning("%s: could not synthesise the apology (%s)", self.name, exc)
                audio = self._apology_audio
        try:
            if not self._sink_open:
                self.sink.begin(self.turn_count + 1)
            for a in audio or [error_tone()]:
                self.sink.write(a)
            return self.sink.end()
        except Exception:
            logger.exception("%s: could not play the apology", self.name)
            return None
        finally:
            self._sink_open = False

    def _record(self, result: TurnResult) -> TurnResult:
        self.turn_count += 1
        self.turns.append(result)
        self._emit(result)
        return result
