"""RoomActor: one Ray actor per room.

The actor owns its room's source, wake word, end of speech, state machine and sink
(:class:`~roomvoice.rooms.room.Room`) and calls the shared Serve deployments. Its voice
loop runs on a thread started in the constructor, so after a crash Ray's restart
(``max_restarts``) brings the room straight back: the constructor rebuilds state from
``<run_dir>/<room>/progress.json`` (turns done, audio time reached) and resumes there.

Files per room under the run directory: ``turns.jsonl`` (one JSON record per turn),
``turn-NNN.wav`` (reply audio), ``events.jsonl`` (state changes, wakes, errors),
``progress.json``.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

import ray

from roomvoice.config import RoomConfig
from roomvoice.errors import AssistantError, AudioError, RoomVoiceError
from roomvoice.events import Announcement, ErrorEvent, RoomEvent, RoomStatus, Stage, TurnResult
from roomvoice.rooms.bargein import BargeInSettings
from roomvoice.rooms.endpoint import EndOfSpeechDetector, EndpointSettings
from roomvoice.rooms.room import Room, RoomOptions, VoiceServices
from roomvoice.rooms.sinks import make_sink
from roomvoice.rooms.sources import make_source
from roomvoice.rooms.wake import WakeWordDetector

logger = logging.getLogger(__name__)

MAX_TEXT_CHARS = 2000
"""Longest text accepted by :meth:`RoomRunner.say`, in characters."""


def endpoint_settings(room: RoomConfig) -> EndpointSettings:
    """:class:`EndpointSettings` from a room's ``endpoint`` config."""
    e = room.endpoint
    return EndpointSettings(
        vad=e.vad, speech_margin_db=e.speech_margin_db, silero_threshold=e.silero_threshold,
        min_speech_s=e.min_speech_s, end_silence_s=e.end_silence_s,
        no_speech_timeout_s=e.no_speech_timeout_s, max_utterance_s=e.max_utterance_s, pre_roll_s=e.pre_roll_s,
        turn_model=e.turn_model, short_pause_s=e.short_pause_s, turn_threshold=e.turn_threshold,
        speculative_stt_s=e.speculative_stt_s,
    )


def room_options(room: RoomConfig, app: Any = None) -> RoomOptions:
    """The :class:`RoomOptions` of ``room`` in the house ``app`` (:class:`~roomvoice.config.AppConfig`;
    None: this room's config alone, follow-ups off unless ``room.followup_s`` is set).

    Echo cancellation runs only when playback is paced (a speaker, or ``sink.realtime``): a room
    that writes its replies to files at once plays nothing into its microphone.
    """
    realtime = bool(room.sink.realtime) or room.sink.type == "speaker"
    followup = room.followup_s if room.followup_s is not None else (app.followup_s if app is not None else 0.0)
    barge = BargeInSettings()
    arbiter_timeout = 1.0
    if app is not None:
        b = app.barge_in
        barge = BargeInSettings(enabled=b.enabled, stop_phrases=tuple(b.stop_phrases), pause_on_speech=b.pause_on_speech,
                                min_speech_s=b.min_speech_s, max_phrase_s=b.max_phrase_s)
        arbiter_timeout = float(app.arbiter.timeout_s)
    return RoomOptions(zone=room.audio_zone, realtime_playback=realtime, followup_s=float(followup or 0.0),
                       barge_in=barge, announce_policy=room.announce_policy, arbiter_timeout_s=arbiter_timeout,
                       aec=bool(room.aec) and realtime, command_ends_turn=bool(room.endpoint.command_ends_turn),
                       preemptive_reply=bool(room.endpoint.preemptive_reply))


class RoomRunner:
    """Runs one room's capture loop on a thread and keeps its files; no Ray here (tests use it directly).

    Args:
        cfg: the room's config.
        services: STT / assistant / TTS.
        run_dir: the run directory; the room writes under ``run_dir/<room name>``.
        apology: text spoken after a failure.
        store_url: PostgreSQL URL; when given, every turn is stored (see
            :class:`~roomvoice.actors.turn_recorder.TurnRecorder`); None keeps turns in files only.
            It also gives the room its timers and reminders (a
            :class:`~roomvoice.skills.room_schedule.RoomSchedule`) unless ``schedule`` is given.
        schedule: the room's timers/reminders driven by its audio time (``start(audio_s)`` and
            ``advance(audio_s, sync=...)`` returning announcements); None: from ``store_url``, if any.
        options: the room's behaviour in the house (None: :func:`room_options` of ``cfg``).
        arbiter: where wake claims go (an :class:`~roomvoice.actors.arbiter.ArbiterClient`); None:
            the room answers every wake it hears.
    """

    PROGRESS_EVERY_S = 2.0
    """Audio seconds between saves of ``progress.json`` (the audio clock survives a crash)."""

    def __init__(self, cfg: RoomConfig, services: VoiceServices, run_dir: str | Path, apology: str,
                 store_url: str | None = None, schedule: Any | None = None, options: RoomOptions | None = None,
                 arbiter: Any = None) -> None:
        self.cfg = cfg
        self.dir = Path(run_dir) / cfg.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self._progress_path = self.dir / "progress.json"
        progress = self._load_progress()
        self.incarnation = progress.get("incarnation", 0) + 1
        self.resume_s = float(progress.get("audio_time_s", 0.0))
        self._resume_wall = progress.get("wall_time")
        self.events: deque[dict[str, Any]] = deque(maxlen=200)
        self.last_error: str | None = None
        self.done = False
        self._done = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._tap = None  # a simulated echo path (source.echo_gain_db), fed with the room's playback
        self._saved_at_s = self.resume_s
        self.room = Room(
            cfg.name,
            wake=WakeWordDetector(cfg.wake_word, cfg.wake_threshold, cfg.wake_cooldown_s),
            endpoint=EndOfSpeechDetector(endpoint_settings(cfg)),
            services=services,
            sink=make_sink(cfg.sink, self.dir),
            apology=apology,
            on_event=self._on_event,
            options=options or room_options(cfg),
            arbiter=arbiter,
            incarnation=self.incarnation,
            on_played=self._played,
            live=cfg.source.type == "microphone" or bool(cfg.source.realtime),
        )
        self.room.turn_count = int(progress.get("turns", 0))
        self.room.audio_time_s = self.resume_s
        self._db = self._database(store_url)
        self.recorder = self._recorder(progress.get("conversation_id"))
        self.schedule = schedule if schedule is not None else self._schedule()
        self._save_progress()
        self._thread = threading.Thread(target=self._loop, name=f"room-{cfg.name}", daemon=True)

    def start(self) -> None:
        """Start the capture loop thread."""
        self._thread.start()

    def _played(self, chunk: Any) -> None:
        if self._tap is not None:
            self._tap.write(chunk)

    # -------------------------------------------------------------- persistence
    def _database(self, store_url: str | None) -> Any:
        """One small pool for the room's turn recorder and schedule; None without a URL or database."""
        if not store_url:
            return None
        from roomvoice.store.db import Database
        from roomvoice.store.errors import StoreError

        try:
            return Database(store_url, 1, 3, connect_timeout_s=3.0, acquire_timeout_s=2.0)
        except StoreError as exc:  # the voice loop works without the database
            logger.error("%s: no stored turns, timers or reminders: %s", self.cfg.name, exc)
            return None

    def _recorder(self, conversation_id: str | None) -> Any:
        if self._db is None:
            return None
        from roomvoice.actors.turn_recorder import TurnRecorder
        from roomvoice.store.errors import StoreError

        try:
            return TurnRecorder(self._db, self.cfg.name, self.dir / "store-journal.jsonl",
                                uuid.UUID(conversation_id) if conversation_id else None)
        except StoreError as exc:  # the voice loop works without the database
            logger.error("%s: turns will not be stored: %s", self.cfg.name, exc)
            return None

    def _schedule(self) -> Any:
        if self._db is None:
            return None
        from roomvoice.skills.room_schedule import RoomSchedule
        from roomvoice.store.schedule import ReminderStore, TimerStore

        # household reminders (set over chat, no room) are spoken by whichever room claims them first
        return RoomSchedule(self.cfg.name, TimerStore(self._db), ReminderStore(self._db), roomless_reminders=True,
                            min_sync_wall_s=1.0)

    def _tick(self, sync: bool = False, start: bool = False) -> None:
        """Advance the schedule to the room's audio time; what fell due is spoken (after the reply,
        or cutting it, by the room's ``announce_policy``)."""
        if self.schedule is not None:
            try:
                now_s = self.room.audio_time_s
                due = self.schedule.start(now_s) if start else self.schedule.advance(now_s, sync=sync)
            except RoomVoiceError as exc:  # e.g. PostgreSQL down: keep the wheel, retry at the next sync
                logger.warning("%s: schedule sync failed: %s", self.cfg.name, exc)
                due = []
            for item in due:
                self.room.submit_announcement(item.text, item.kind)
            if due and not self.room.live:
                self.room.settle()  # virtual time: it is spoken at the chunk it fell due in
        if self.room.audio_time_s - self._saved_at_s >= self.PROGRESS_EVERY_S:
            self._save_progress()

    def _load_progress(self) -> dict[str, Any]:
        try:
            return json.loads(self._progress_path.read_text())
        except (OSError, ValueError):
            return {}

    def _save_progress(self) -> None:
        self._saved_at_s = self.room.audio_time_s
        data = {"turns": self.room.turn_count, "audio_time_s": self.room.audio_time_s, "wall_time": time.time(),
                "incarnation": self.incarnation, "done": self.done,
                "conversation_id": str(self.recorder.conversation_id) if getattr(self, "recorder", None) else None}
        tmp = self._progress_path.with_suffix(".tmp")
        with self._lock:
            tmp.write_text(json.dumps(data))
            tmp.replace(self._progress_path)

    def _append(self, name: str, record: dict[str, Any]) -> None:
        with self._lock, open(self.dir / name, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def _on_event(self, event: Any) -> None:
        record = {"type": type(event).__name__, "at": time.time(), **event.to_json()}
        if isinstance(event, TurnResult):
            self._append("turns.jsonl", event.to_json())
            if self.recorder is not None:
                self.recorder.record(event)
            self._save_progress()
            return
        if isinstance(event, ErrorEvent):
            self.last_error = event.code
        if isinstance(event, RoomEvent):
            record["type"] = event.kind  # events.jsonl: {"type": "wake_lost", "audio_time_s": ..., ...}
        self.events.append(record)
        self._append("events.jsonl", record)

    # -------------------------------------------------------------- loop
    def _open_source(self) -> Any:
        """The configured source; with ``source.echo_gain_db``/``noise_dbfs`` the file becomes the talker
        of a simulated microphone that also hears this room's own playback."""
        source = make_source(self.cfg.source)
        src = self.cfg.source
        if src.type == "file" and (src.echo_gain_db is not None or src.noise_dbfs is not None):
            from roomvoice.rooms.acoustics import PlaybackTap, RoomAcoustics, SimulatedMicrophone, TalkerTimeline

            talker = TalkerTimeline()
            talker.add(0.0, source.samples)
            acoustics = RoomAcoustics(self.cfg.name, echo_gain_db=-math.inf if src.echo_gain_db is None
                                      else float(src.echo_gain_db), echo_delay_s=src.echo_delay_s,
                                      noise_dbfs=src.noise_dbfs)
            self._tap = PlaybackTap()
            source = SimulatedMicrophone(acoustics, talker, self._tap, duration_s=source.duration_s,
                                         realtime=source.realtime)
        return source

    def _start_s(self, source: Any) -> float:
        """Where the audio clock resumes: a file at its saved position; a live source adds the wall
        time the room was down, so timers reloaded after a restart still ring on time. A paced file
        with ``source.start_at`` waits for it (or skips what it missed), so the rooms of a simulated
        house hear one timeline together."""
        start = self.resume_s
        if not source.finite and self._resume_wall is not None:
            start += max(0.0, time.time() - float(self._resume_wall))
        start_at = self.cfg.source.start_at
        if start_at is not None and source.paced and source.finite:  # a simulated house: one timeline
            wait = float(start_at) - time.time()
            if wait > 0:
                self._stop.wait(wait)
            elif -wait > start:  # started late: a live microphone does not hear what was said before
                logger.warning("%s: audio started %.2f s after source.start_at; skipping that audio",
                               self.cfg.name, -wait)
                start = -wait
        return start

    def _loop(self) -> None:
        source = None
        try:
            self.room.prepare_apology()
            try:
                source = self._open_source()
            except AudioError as exc:  # e.g. a file that is not audio: report, apologise, stay alive
                self.room.report_error(Stage.AUDIO, exc)
            if source is not None:
                self.room.live = source.paced
                start_s = self._start_s(source)
                self.room.audio_time_s = max(self.room.audio_time_s, start_s)
            self._tick(start=True)
            for chunk in source.chunks(start_s=start_s) if source is not None else ():
                if self._stop.is_set():
                    break
                self._tick(sync=self.room.feed(chunk) is not None)
            if source is not None and not self._stop.is_set():
                self.room.drain()
            if source is not None and source.finite and not self._stop.is_set():
                # the stream ended: flush the room's audio time so a restart does not replay
                self.room.audio_time_s = max(self.room.audio_time_s, getattr(source, "duration_s", 0.0))
        except RoomVoiceError as exc:
            logger.error("%s: %s", self.cfg.name, exc)
            self.last_error = exc.code
        except Exception:
            logger.exception("%s: voice loop failed", self.cfg.name)
            self.last_error = "room-loop-failed"
        finally:
            if source is not None:
                source.close()
            self.done = True
            self._save_progress()
            self._done.set()
        # the audio has ended (files) but text sent into the room is still answered (and played) until stop()
        while not self._stop.is_set():
            if self.room.needs_ticks and (self.room.worker.waiting_on_audio or self.room.player.has_queued):
                self.room.drain(max_audio_s=0.08)
            else:
                time.sleep(0.02)

    # -------------------------------------------------------------- API
    def status(self) -> RoomStatus:
        """The room's live :class:`RoomStatus`."""
        return RoomStatus(
            room=self.cfg.name, state=self.room.state, turns=self.room.turn_count,
            audio_time_s=self.room.audio_time_s, done=self.done, incarnation=self.incarnation,
            last_transcript=self.room.last_transcript, last_reply=self.room.last_reply,
            last_error=self.last_error,
        )

    def results(self) -> list[dict[str, Any]]:
        """All turn records of this run (JSON form, as in ``turns.jsonl``), across restarts."""
        path = self.dir / "turns.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the loop after the current chunk; cancel a running turn; waits up to ``timeout_s``."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        self.room.close()
        if self.recorder is not None:
            self.recorder.close()
        if self._db is not None:
            self._db.close()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the audio source is finished; True if it was within ``timeout_s``."""
        return self._done.wait(timeout_s)

    def say(self, text: str, timeout_s: float = 120.0) -> TurnResult:
        """Send typed text into the room: handled as if spoken, the reply is spoken in the room.

        Waits for the room to be idle and the turn to finish.

        Raises:
            AssistantError: ``assistant-empty-request`` / ``assistant-request-too-long``.
            TimeoutError: if the turn did not finish within ``timeout_s``.
        """
        text = _checked_text(text)
        return self.room.submit_text(text).result(timeout=timeout_s)

    def announce(self, text: str, timeout_s: float = 60.0) -> Announcement:
        """Speak ``text`` in the room without a turn (no assistant), once the room is IDLE.

        Raises:
            AssistantError: ``assistant-empty-request`` / ``assistant-request-too-long``.
            TimeoutError: if it was not spoken within ``timeout_s``.
        """
        text = _checked_text(text)
        return self.room.submit_announcement(text).result(timeout=timeout_s)


def _checked_text(text: str) -> str:
    """Typed text for a room, stripped.

    Raises:
        AssistantError: ``assistant-empty-request`` / ``assistant-request-too-long``.
    """
    text = (text or "").strip()
    if not text:
        raise AssistantError("assistant-empty-request", "the text is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise AssistantError("assistant-request-too-long", f"{len(text)} characters (limit {MAX_TEXT_CHARS})")
    return text


@ray.remote(max_concurrency=4)
class RoomActor:
    """Ray actor wrapping :class:`RoomRunner` with :class:`~roomvoice.actors.services.ServeServices`.

    Create with :func:`start_room_actor` so placement and restart policy come from config.
    """

    def __init__(self, cfg: RoomConfig, app_name: str, run_dir: str, apology: str,
                 store_url: str | None = None, options: RoomOptions | None = None,
                 arbiter_name: str | None = None, arbiter_timeout_s: float = 1.0) -> None:
        from roomvoice.actors.services import ServeServices

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        arbiter = None
        if arbiter_name:
            from roomvoice.actors.arbiter import ArbiterClient

            arbiter = ArbiterClient(arbiter_name, arbiter_timeout_s)
        self.runner = RoomRunner(cfg, ServeServices(app_name, cfg.turn_timeout_s), run_dir, apology, store_url,
                                 options=options, arbiter=arbiter)
        self.runner.start()

    def status(self) -> RoomStatus:
        return self.runner.status()

    def results(self) -> list[dict[str, Any]]:
        return self.runner.results()

    def stop(self) -> None:
        self.runner.stop()

    def say(self, text: str, timeout_s: float = 120.0) -> TurnResult:
        """Typed text into the room (see :meth:`RoomRunner.say`)."""
        return self.runner.say(text, timeout_s)

    def announce(self, text: str, timeout_s: float = 60.0) -> Announcement:
        """Speak text in the room without a turn (see :meth:`RoomRunner.announce`)."""
        return self.runner.announce(text, timeout_s)

    def pid(self) -> int:
        """Process id of the actor (tests use it to simulate a crash)."""
        import os

        return os.getpid()


def start_room_actor(cfg: RoomConfig, app_name: str, run_dir: str, apology: str, store_url: str | None = None,
                     options: RoomOptions | None = None, arbiter_name: str | None = None,
                     arbiter_timeout_s: float = 1.0):
    """Create the room's actor named ``room:<name>`` with its CPU share, custom resources and restarts.

    ``store_url``: PostgreSQL URL where its turns are stored (None: files only). ``options``: its
    behaviour in the house (:func:`room_options`). ``arbiter_name``: the house's
    :class:`~roomvoice.actors.arbiter.WakeArbiter` (None: the room answers every wake it hears).
    """
    return RoomActor.options(
        name=f"room:{cfg.name}",
        num_cpus=float(cfg.num_cpus),
        resources=dict(cfg.resources) or None,
        max_restarts=int(cfg.max_restarts),
        max_task_retries=0,
    ).remote(cfg, app_name, str(Path(run_dir).resolve()), apology, store_url, options, arbiter_name,
             arbiter_timeout_s)
