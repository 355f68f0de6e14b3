"""The work of a turn, on the room's worker thread: STT → assistant → TTS → paced playback.

A :class:`~roomvoice.rooms.room.Room` hands each job (a voice turn, typed text, an
announcement, a failure to apologise for) to its :class:`TurnWorker`; capture goes on meanwhile
(full duplex). Each job carries a :class:`TurnControl`: a barge-in cancels it, which cancels the
in-flight Serve calls (the LLM stream and TTS of that turn stop, not left running) and ends
playback. A cancelled job still records its turn, with ``interrupted: true`` and the text
actually spoken, but no longer drives the room's state: the room already moved on.

Jobs run one at a time. Voice turns and failures run as soon as they arrive; typed text and
announcements wait until the room is IDLE (they never overlap a reply), unless the room's
``announce_policy`` is ``interrupt``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import replace
from typing import TYPE_CHECKING, Any

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
    TurnResult,
    TurnTimings,
    VoiceState,
    WakeDecision,
)
from roomvoice.rooms import background
from roomvoice.rooms.audio import clipped_fraction
from roomvoice.rooms.jobs import Job, TurnCancelled, TurnControl, call_quietly
from roomvoice.rooms.preempt import PreemptiveReply
from roomvoice.rooms.speculation import wait_for

if TYPE_CHECKING:
    from roomvoice.rooms.room import Room

logger = logging.getLogger(__name__)

MAX_CLIPPED_FRACTION = 0.05
"""Utterances with more than 5 % of samples at full scale are refused as clipped."""
NO_SPEECH_APOLOGY = "Sorry, I didn't catch that."
SPECULATION_WAIT_S = 30.0
"""Wall seconds a turn waits for the transcript already being made in the pause (a new pass
would take longer) before transcribing again."""
ARBITER_GRACE_S = 0.25
"""Wall seconds a turn still waits for the arbiter after end of speech when the claim's own timeout has
passed (a claim delayed by a stalled CPU must not make two rooms answer)."""


class TurnWorker:
    """Runs a room's jobs on one thread (see the module docs).

    Args:
        room: the room whose state, player, services and events it uses.
    """

    def __init__(self, room: Room) -> None:
        self.room = room
        self.busy = False
        """True while a job runs (the room's virtual-time capture waits on it)."""
        self.waiting_on_audio = False
        """True while the running job waits for playback (virtual-time capture must go on)."""
        self._jobs: list[Job] = []
        self._closed = False
        self._thread = background.start(self._loop, f"turns-{room.name}", self.close)

    # ------------------------------------------------------------------ queue
    def submit(self, job: Job) -> Future:
        """Queue ``job``; returns its future."""
        with self.room.cond:
            self._jobs.append(job)
            self.room.cond.notify_all()
        return job.future

    @property
    def pending(self) -> int:
        """Jobs queued or running."""
        return len(self._jobs) + (1 if self.busy else 0)

    def close(self) -> None:
        """Stop after the running job; queued jobs are failed with ``room-closed``."""
        with self.room.cond:
            self._closed = True
            jobs, self._jobs = self._jobs, []
            self.room.cond.notify_all()
        for job in jobs:
            if not job.future.done():
                job.future.set_exception(RoomVoiceError("room-closed", "the room stopped before this was done"))

    def has_runnable(self) -> bool:
        """Under the room's lock: a queued job could start now."""
        return any(j.kind in ("voice", "failure") for j in self._jobs) or (
            self.room.machine.state is VoiceState.IDLE and bool(self._jobs))

    def _pick(self) -> Job | None:
        """Under the room's lock: the next runnable job (voice/failure first; others only when IDLE)."""
        for job in self._jobs:
            if job.kind in ("voice", "failure"):
                self._jobs.remove(job)
                return job
        if self.room.machine.state is VoiceState.IDLE and self._jobs:
            return self._jobs.pop(0)
        return None

    def _loop(self) -> None:
        while True:
            with self.room.cond:
                job = None
                while not self._closed and (job := self._pick()) is None:
                    self.room.cond.wait(0.1)
                if self._closed:
                    return
                self.busy = True
            try:
                result = self._run(job)
                if not job.future.done():
                    job.future.set_result(result)
            except BaseException as exc:  # the job's caller gets it; the worker goes on
                logger.exception("%s: %s job failed", self.room.name, job.kind)
                if not job.future.done():
                    job.future.set_exception(exc)
            finally:
                with self.room.cond:
                    self.busy = False
                    self.waiting_on_audio = False
                    self.room.cond.notify_all()

    def _run(self, job: Job) -> Any:
        if job.kind == "voice":
            return self._voice(job)
        if job.kind == "text":
            return self._text(job)
        if job.kind == "announce":
            return self._announce(job)
        return self._fail(job, job.stage, job.error or RoomVoiceError("room-failed", "failure"), job.audio_time_s)

    # ------------------------------------------------------------------ jobs
    def _voice(self, job: Job) -> TurnResult | None:
        room, u = self.room, job.utterance
        assert u is not None
        t = u.end_s
        captured = u.last_speech_captured_at
        timings = TurnTimings(wake_audio_s=job.wake_audio_s, end_of_speech_audio_s=u.end_s,
                              wake_to_end_of_speech_s=max(0.0, u.end_s - job.wake_audio_s),
                              utterance_s=u.duration_s, started_at=job.started_at, turn_end=job.turn_end,
                              speech_end_to_end_of_turn_s=None if captured is None or not job.detected_at
                              else round(job.detected_at - captured, 4))
        if job.decision is not None:
            t_wait = time.monotonic()
            # the budget counts from the claim; an answer is still awaited a little after end of speech
            sent = getattr(job.decision, "sent_s", None)
            budget = room.options.arbiter_timeout_s
            if sent is not None:
                budget = max(budget, t_wait - sent + ARBITER_GRACE_S)
            decision: WakeDecision = job.decision.result(budget)
            timings = replace(timings, arbiter_wait_s=round(time.monotonic() - t_wait, 4))
            if not decision.won:
                self._discard_ahead(job)
                room.lose_wake(job.control, decision, t)
                return None
        stage, transcript = Stage.AUDIO, ""
        try:
            if clipped_fraction(u.samples) > MAX_CLIPPED_FRACTION:
                raise AudioError("audio-clipped", f"over {MAX_CLIPPED_FRACTION:.0%} of the utterance is clipped; "
                                 "lower the microphone gain")
            stage = Stage.STT
            job.control.check()
            ahead = wait_for(job.speculation, SPECULATION_WAIT_S) if job.speculation is not None else None
            result = ahead.transcript if ahead is not None else room.hear(u).transcript
            job.control.check()
            transcript = result.text.strip()
            timings = replace(timings, stt_s=result.stt_s, stt_rtf=result.real_time_factor,
                              stt_in_pause=ahead is not None)
            room.last_transcript = transcript
            if not transcript:
                raise SpeechToTextError("stt-no-speech", "no words were recognised")
        except TurnCancelled:
            self._discard_ahead(job)
            return self._record_cancelled(job, transcript, "", timings, ())
        except Exception as exc:  # every failure -> error event + apology, never a dead room
            self._discard_ahead(job)
            return self._fail(job, stage, exc, t, transcript=transcript, timings=timings)
        if not room.advance(job.control, "transcribed", t):
            self._discard_ahead(job)
            return self._record_cancelled(job, transcript, "", timings, ())
        reply = ahead.reply if ahead is not None and ahead.reply is not None and not ahead.reply.cancelled else None
        return self._respond(job, transcript, t, timings, reply)

    @staticmethod
    def _discard_ahead(job: Job) -> None:
        """The turn ends without its reply: cancel the LLM reply asked for in the pause, if any
        (also one that has not started yet)."""
        if job.speculation is not None:
            job.speculation.discard()

    def _text(self, job: Job) -> TurnResult:
        room = self.room
        t = room.audio_time_s
        timings = TurnTimings(wake_audio_s=t, end_of_speech_audio_s=t, started_at=time.time())
        if not room.begin_busy(job.control, "text", t):
            raise RoomVoiceError("room-busy", "the room could not take the text")
        room.last_transcript = job.text
        return self._respond(job, job.text, t, timings)

    def _announce(self, job: Job) -> Announcement:
        """Speak ``job.text`` outside a turn (SPEAKING while it plays; barge-in stops it). Never raises."""
        room = self.room
        t = room.audio_time_s
        seconds, path, code = 0.0, None, None
        if not room.begin_busy(job.control, "announcement", t):
            code = "room-busy"
        else:
            try:
                audios = list(room.services.synthesize(job.text))
                room.player.begin(room.turn_count + 1, announcement=True)
                for audio in audios:
                    room.player.enqueue(audio)
                    seconds += audio.duration_s
                self.waiting_on_audio = True
                path = room.player.finish(job.control.event)
                self.waiting_on_audio = False
            except Exception as exc:  # report, never break the room
                err = as_roomvoice_error(exc, TextToSpeechError, "tts-failed")
                logger.warning("%s: could not announce %r: %s", room.name, job.text[:60], err)
                room.emit(ErrorEvent(room.name, Stage.TTS, err.code, err.message, t))
                code = err.code
            room.advance(job.control, "done", room.audio_time_s, reason="announcement-done")
        result = Announcement(room.name, job.text, job.source, seconds, t, path, code)
        room.emit(result)
        return result

    def _respond(self, job: Job, transcript: str, t: float, timings: TurnTimings,
                 preempted: PreemptiveReply | None = None) -> TurnResult:
        """Ask the assistant and play its reply sentence by sentence (state THINKING on entry);
        with ``preempted``, play the reply already being made in the pause instead."""
        room, control = self.room, job.control
        sentences: list[str] = []
        tool_calls: list[ToolCallRecord] = []
        source, stage = "llm", Stage.ASSISTANT
        t0 = job.detected_at or time.monotonic()
        try:
            request = AssistantRequest(text=transcript, conversation_id=room.name, room=room.name)
            room.player.begin(room.turn_count + 1)
            if preempted is not None:
                control.on_cancel(preempted.cancel)
                timings = replace(timings, preemptive_reply=True)
                items = preempted.sentences(control.event)
            else:
                items = ((s, None) for s in self._iter_reply(request, control))
            for sentence, made in items:
                control.check()
                if not sentences:
                    timings = replace(timings, first_sentence_s=time.monotonic() - t0,
                                      llm_first_token_s=sentence.first_token_s)
                    source = sentence.source
                sentences.append(sentence.text)
                tool_calls.extend(sentence.tool_calls)
                stage = Stage.TTS
                t_synth = time.monotonic()
                audios = made if made is not None else self._synthesize(sentence.text, control)
                for audio in audios:
                    control.check()
                    first = room.machine.state is VoiceState.THINKING
                    stage = Stage.PLAYBACK
                    room.player.enqueue(audio)
                    if first and timings.tts_first_audio_s == 0.0:
                        timings = replace(timings, tts_first_audio_s=time.monotonic() - t_synth)
                        if not room.advance(control, "speaking", room.audio_time_s):
                            raise TurnCancelled(control.reason or "cancelled")
                stage = Stage.ASSISTANT
            stage = Stage.PLAYBACK
            self.waiting_on_audio = True
            path = room.player.finish(control.event)
            self.waiting_on_audio = False
            control.check()
        except TurnCancelled:
            return self._record_cancelled(job, transcript, " ".join(sentences), timings, tuple(tool_calls), source)
        except Exception as exc:  # every failure -> error event + apology, never a dead room
            if control.cancelled:
                return self._record_cancelled(job, transcript, " ".join(sentences), timings, tuple(tool_calls),
                                              source)
            if preempted is not None:  # the reply made in the pause stops with the turn
                preempted.cancel()
            return self._fail(job, stage, exc, t, transcript=transcript, timings=self._audio_timings(job, timings))
        reply = " ".join(sentences)
        room.last_reply = reply
        if preempted is not None and sentences:
            self._remember(request, reply)
        end = time.monotonic()
        timings = replace(self._audio_timings(job, timings), playback_end_s=end - t0, total_s=end - t0,
                          ended_at=time.time())
        result = room.record(TurnResult(room.name, room.turn_count + 1, transcript, reply, source, timings, path,
                                        tool_calls=tuple(tool_calls), followup=job.followup))
        room.finish_turn(control, room.audio_time_s, reply, "reply-done" if sentences else "no-reply")
        return result

    def _remember(self, request: AssistantRequest, reply: str) -> None:
        """Have the assistant remember an exchange answered by a preemptive reply (never raises)."""
        remember = getattr(self.room.services, "remember", None)
        if remember is None:
            return
        try:
            remember(request, reply)
        except Exception as exc:  # the reply was spoken; only the conversation memory misses it
            logger.warning("%s: could not remember the exchange: %s", self.room.name, exc)

    def _audio_timings(self, job: Job, timings: TurnTimings) -> TurnTimings:
        """Add the first-audio figures from the player (wall seconds)."""
        first = self.room.player.first_audio_at
        if first is None:
            return timings
        t0 = job.detected_at or first
        captured = job.utterance.last_speech_captured_at if job.utterance is not None else None
        return replace(timings, end_of_speech_to_first_audio_s=max(0.0, first - t0),
                       speech_end_to_first_audio_s=None if captured is None else round(first - captured, 4))

    def _record_cancelled(self, job: Job, transcript: str, reply: str, timings: TurnTimings,
                          tool_calls: tuple[ToolCallRecord, ...], source: str = "llm") -> TurnResult:
        """Record a turn cut short by a barge-in: ``interrupted`` with the text actually spoken."""
        room = self.room
        spoken = room.player.spoken_text()
        try:
            path = room.player.finish()
        except Exception:  # the sink failed as well: the turn is still recorded
            logger.warning("%s: could not close the interrupted reply", room.name, exc_info=True)
            path = None
        end = time.monotonic()
        t0 = job.detected_at or end
        timings = replace(self._audio_timings(job, timings), total_s=end - t0, ended_at=time.time())
        room.last_reply = spoken
        logger.info("%s: turn interrupted (%s); spoke %r", room.name, job.control.reason, spoken[:80])
        return room.record(TurnResult(room.name, room.turn_count + 1, transcript, reply, source, timings, path,
                                      tool_calls=tool_calls, interrupted=True, spoken_text=spoken,
                                      followup=job.followup))

    def _iter_reply(self, request: AssistantRequest, control: TurnControl) -> Iterator[ReplySentence]:
        control.check()
        stream = self.room.services.reply(request)
        cancel = getattr(stream, "cancel", None)
        if cancel is not None:  # a Serve response generator: cancelled through Serve on barge-in
            control.on_cancel(cancel)
        iterator = iter(stream)
        try:
            while True:
                try:
                    sentence = next(iterator)
                except StopIteration:
                    return
                except Exception as exc:
                    control.check()
                    raise as_roomvoice_error(exc, AssistantError, "assistant-failed") from exc
                control.check()
                if sentence.text.strip():
                    yield sentence
        finally:
            close = getattr(iterator, "close", None)
            if close is not None and control.cancelled:
                call_quietly(close)

    def _synthesize(self, text: str, control: TurnControl) -> list[SpeechAudio]:
        control.check()
        synth = getattr(self.room.services, "synthesize_cancellable", None)
        if synth is not None:
            return synth(text, control.on_cancel)
        return list(self.room.services.synthesize(text))

    # ------------------------------------------------------------------ errors
    def _fail(self, job: Job, stage: Stage, exc: BaseException, t: float, *, transcript: str = "",
              timings: TurnTimings | None = None) -> TurnResult:
        room = self.room
        default = {Stage.STT: SpeechToTextError, Stage.TTS: TextToSpeechError,
                   Stage.ASSISTANT: AssistantError, Stage.LLM: AssistantError}.get(stage, RoomVoiceError)
        err = as_roomvoice_error(exc, default, f"{stage.value.replace('_', '-')}-failed")
        if stage is Stage.ASSISTANT and err.code.startswith("llm"):
            stage = Stage.LLM
        event = ErrorEvent(room.name, stage, err.code, err.message, t)
        logger.warning("%s: %s error %s: %s", room.name, stage.value, err.code, err.message)
        room.emit(event)
        room.enter_error(job.control, t, err.code)
        apology = NO_SPEECH_APOLOGY if err.code == "stt-no-speech" else room.apology
        path = self._speak_apology(apology, job.control)
        end = time.monotonic()
        timings = timings or TurnTimings(started_at=time.time())
        if job.detected_at:
            timings = replace(timings, total_s=end - job.detected_at)
        timings = replace(timings, ended_at=time.time())
        room.last_reply = apology
        result = room.record(TurnResult(room.name, room.turn_count + 1, transcript, apology, "apology",
                                        timings, path, event, followup=job.followup))
        room.recover(job.control, room.audio_time_s)
        return result

    def _speak_apology(self, text: str, control: TurnControl) -> str | None:
        room = self.room
        audio: list[SpeechAudio] | None = None
        if text == room.apology and room.apology_audio:
            audio = room.apology_audio
        else:
            try:
                audio = list(room.services.synthesize(text))
            except Exception as exc:
                logger.warning("%s: could not synthesise the apology (%s)", room.name, exc)
                audio = room.apology_audio
        from roomvoice.rooms.room import error_tone

        try:
            room.player.begin(room.turn_count + 1)
            for a in audio or [error_tone()]:
                room.player.enqueue(a)
            self.waiting_on_audio = True
            return room.player.finish(control.event)
        except Exception:
            logger.exception("%s: could not play the apology", room.name)
            return None
        finally:
            self.waiting_on_audio = False
