"""Benchmark: one simulated house, several full-duplex rooms (arbitration, barge-in, self-wakes).

Three parts, all with the real models (openWakeWord, Silero, faster-whisper tiny.en, SmolLM2 via
llama.cpp, piper joe, WebRTC AEC) called in-process (:class:`~roomvoice.serve.local.LocalServices`,
one shared instance, STT and TTS serialised by a lock):

1. **Arbitration** (``--rooms 2 4``, ``--utterances 40``): one long house timeline per room count;
   each utterance is the bundled ``hey_jarvis.wav`` + a short fast-path command spoken by piper.
   A random room is the nearest (-3 dB); every other room hears the same utterance 3-15 dB
   quieter and 0-80 ms later (random per utterance and room, seeded) plus its own noise. Rooms are
   *live* (``Room(live=True)``): one thread per room feeds a real-time paced microphone, and wake
   claims go to the real Ray ``WakeArbiter`` actor (``ray.init`` locally) through ``ArbiterClient``,
   so the arbiter's 0.2 s window runs on the wall clock. Reports accuracy (the nearest room
   answers), duplicate answers, missed utterances, claim -> decision latency, the wait the arbiter
   adds to a turn after end of speech (``timings.arbiter_wait_s``) and
   ``speech_end_to_first_audio_s``.
2. **Barge-in** (``--barge-trials 20``): virtual time; the room plays a long reply (an LLM reply
   to "tell me a long story ..." by default, or ``--barge-source announcement``) with AEC on and
   echo at -6 dB / 30 ms; piper "Stop." / "Cancel." / "Never mind." starts 2-6 s into the reply.
   Reaction = playback stopped (audio time) - true phrase start (placement + energy onset), and
   the room's own ``reaction_s`` (VAD onset -> stop).
3. **Self-wakes** (``--selfwake-minutes 6``): virtual time; the room announces minutes of varied
   piper speech, about half of the announcements containing "hey Jarvis"; echo at -6 and 0 dB,
   30 ms, noise -60 dBFS; AEC on/off; the room's playing wake threshold as configured (0.7) and
   0.5. Counts wakes and barge-ins per hour of played speech; one extra run with the configured
   ``pause_on_speech`` counts how often the room's own echo pauses its playback.

Writes JSON (default ``benchmarks/results/house.json``) and a markdown table (printed, and saved
next to the JSON as ``.md``).

    python benchmarks/house.py                                   # full run (~15 min on 2 cores)
    python benchmarks/house.py --rooms 2 --utterances 6 --barge-trials 4 --selfwake-minutes 0.5 --no-selfwake-full
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import platform
import random
import sys
import threading
import time
from pathlib import Path

import numpy as np

import roomvoice
from roomvoice.rooms.audio import SAMPLE_RATE, read_audio_file, to_contract

AUDIO = Path(roomvoice.__file__).parent / "assets" / "audio"
ROOM_NAMES = ("kitchen", "office", "living_room", "bedroom", "den", "hall")
COMMANDS = ("What time is it?", "What's the date?", "What day is it?", "Tell me the time.")
"""Short requests the assistant answers on its rule fast path (checked in :func:`check_fast_path`)."""
STOP_PHRASES = ("Stop.", "Cancel.", "Never mind.")
STORY_PROMPTS = ("Tell me a long story about a dragon who lived in a castle.",
                 "Tell me a long story about a sailor and a lighthouse.",
                 "Tell me a long story about a robot who loved gardening.",
                 "Tell me a long story about a fox in a snowy forest.")
LONG_ANNOUNCEMENT = (
    "Here is the morning briefing. The weather today will be mostly sunny with a high of twenty two degrees "
    "and a light breeze from the west. In the afternoon there is a small chance of showers, so take an umbrella "
    "if you go out after four. Your first meeting starts at half past nine in the small conference room, and the "
    "dentist appointment is moved to Thursday at eleven. The washing machine finished its cycle twenty minutes "
    "ago. Remember to water the plants on the balcony and to buy milk, bread and coffee on the way home. "
    "Traffic on the ring road is heavy because of road works near the bridge.")
NEAR_GAIN_DB = -3.0
NOISE_DBFS_ARBITRATION = -65.0
NOISE_DBFS_ROOM = -60.0
ECHO_DELAY_S = 0.03
LEAD_S = 2.0
"""Silence at the start of the live house timeline (s)."""

log = logging.getLogger("house-bench")


# ------------------------------------------------------------------------------ helpers
def pct(values, q: float) -> float | None:
    vals = [v for v in values if v is not None]
    return round(float(np.percentile(vals, q)), 4) if vals else None


def summary(values) -> dict:
    vals = [v for v in values if v is not None]
    return {"n": len(vals), "p50": pct(vals, 50), "p95": pct(vals, 95),
            "mean": round(float(np.mean(vals)), 4) if vals else None,
            "max": round(float(np.max(vals)), 4) if vals else None}


def onset_s(samples: np.ndarray) -> float:
    """Seconds from the start of a clip to its first 10 ms frame above -40 dBFS (where speech starts)."""
    frames = samples[: len(samples) // 160 * 160].astype(np.float64).reshape(-1, 160) / 32768.0
    loud = np.flatnonzero(np.sqrt((frames ** 2).mean(axis=1)) > 0.01)
    return float(loud[0] * 160 / SAMPLE_RATE) if len(loud) else 0.0


def scaled(samples: np.ndarray, gain_db: float) -> np.ndarray:
    x = samples.astype(np.float64) * 10.0 ** (gain_db / 20.0)
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


class Speech:
    """piper joe with its sampling noise off (repeatable), 16 kHz int16, cached per (text, rate)."""

    def __init__(self) -> None:
        self._engines: dict[float, object] = {}
        self._cache: dict[tuple[str, float], np.ndarray] = {}

    def engine(self, length_scale: float = 1.0):
        if length_scale not in self._engines:
            from roomvoice.serve.engines.models import piper_joe_voice
            from roomvoice.serve.engines.piper import PiperEngine

            model, config = piper_joe_voice()
            self._engines[length_scale] = PiperEngine(str(model), str(config), noise_scale=0.0, noise_w_scale=0.0,
                                                      length_scale=None if length_scale == 1.0 else length_scale)
        return self._engines[length_scale]

    def audio(self, text: str, length_scale: float = 1.0) -> list:
        """piper's SpeechAudio list (device rate) for ``text``."""
        return list(self.engine(length_scale).synthesize(text))

    def said(self, text: str, length_scale: float = 1.0) -> np.ndarray:
        key = (text, length_scale)
        if key not in self._cache:
            audios = self.audio(text, length_scale)
            self._cache[key] = to_contract(np.concatenate([a.samples for a in audios]), audios[0].rate, what="piper")
        return self._cache[key]


class SharedServices:
    """One :class:`LocalServices` shared by every room: STT and TTS serialised by locks (the
    llama.cpp engine serialises its streams itself); optional canned TTS audio per text."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.canned: dict[str, list] = {}
        self._stt = threading.Lock()
        self._tts = threading.Lock()
        self.transcribe_calls = 0
        self.heard: list[dict] = []
        """Every transcription: the utterance's audio span and the text (for the stop-phrase checks)."""

    def transcribe(self, utterance):
        with self._stt:
            self.transcribe_calls += 1
            result = self.inner.transcribe(utterance)
            self.heard.append({"start_s": round(utterance.start_s, 3), "end_s": round(utterance.end_s, 3),
                               "text": result.text})
            return result

    def reply(self, request):
        return self.inner.reply(request)

    def synthesize(self, text: str):
        if text in self.canned:
            return list(self.canned[text])
        with self._tts:
            return self.inner.synthesize(text)


class Recorder:
    """Thread-safe event list of one room."""

    def __init__(self) -> None:
        self.events: list = []
        self._lock = threading.Lock()

    def __call__(self, event) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, type_, **match) -> list:
        with self._lock:
            return [e for e in self.events
                    if isinstance(e, type_) and all(getattr(e, k) == v for k, v in match.items())]


def make_room(name: str, services, cfg, *, sink, on_event, live: bool, realtime_playback: bool, aec: bool,
              arbiter=None, on_played=None, pause_on_speech: bool | None = None, **option_changes):
    """A :class:`Room` built as the room actor builds it from ``cfg.rooms.kitchen`` (wake word,
    threshold, cooldown, end of speech, barge-in), with these changes."""
    from roomvoice.actors.room_actor import endpoint_settings, room_options
    from roomvoice.rooms.endpoint import EndOfSpeechDetector
    from roomvoice.rooms.room import Room
    from roomvoice.rooms.wake import WakeWordDetector

    rc = cfg.rooms.kitchen
    options = dataclasses.replace(room_options(rc, cfg), realtime_playback=realtime_playback, aec=aec, followup_s=0.0,
                                  **option_changes)
    if pause_on_speech is not None:
        options = dataclasses.replace(options, barge_in=dataclasses.replace(options.barge_in,
                                                                            pause_on_speech=pause_on_speech))
    room = Room(name, wake=WakeWordDetector(rc.wake_word, rc.wake_threshold, rc.wake_cooldown_s),
                endpoint=EndOfSpeechDetector(endpoint_settings(rc)), services=services, sink=sink,
                apology=cfg.assistant.apology, on_event=on_event, options=options, arbiter=arbiter,
                on_played=on_played, live=live)
    room.prepare_apology()
    return room


def check_fast_path(services) -> dict[str, bool]:
    from roomvoice.events import AssistantRequest

    return {c: services.inner.core.fast_reply(AssistantRequest(text=c, conversation_id="bench", room="bench"))
            is not None for c in COMMANDS}


# ------------------------------------------------------------------------------ 1. arbitration
class TimedArbiter:
    """An :class:`ArbiterClient` that also logs every claim and when its decision arrived."""

    def __init__(self, client, claims: list, lock: threading.Lock, starts: dict[str, float]) -> None:
        self.client = client
        self.claims = claims
        self.lock = lock
        self.starts = starts  # room -> time.monotonic() at its audio time 0

    def submit(self, claim):
        pending = self.client.submit(claim)
        t0 = self.starts.get(claim.room)
        rec = {"room": claim.room, "claim_id": claim.claim_id, "audio_time_s": round(claim.audio_time_s, 3),
               "score": round(claim.score, 3), "level_dbfs": claim.level_dbfs,
               # how late (wall s) the room's capture was when it claimed, vs the real-time due time of the chunk
               "capture_lag_s": None if t0 is None else round(pending.sent_s - (t0 + claim.audio_time_s), 4),
               "sent_s": pending.sent_s}
        with self.lock:
            self.claims.append(rec)

        def watch() -> None:
            decision = pending.result()  # blocks until the decision (or fail-open at the client's timeout)
            rec.update(latency_s=round(time.monotonic() - pending.sent_s, 4), won=decision.won,
                       winner=decision.winner, rule=decision.rule, contenders=list(decision.contenders),
                       decided_after_s=round(decision.decided_after_s, 4))

        threading.Thread(target=watch, name=f"watch-{claim.claim_id}", daemon=True).start()
        return pending

    def leave(self, room: str) -> None:
        self.client.leave(room)


def run_arbitration(n_rooms: int, n_utt: int, spacing_s: float, seed: int, services, speech: Speech, cfg,
                    arbiter_name: str) -> dict:
    from roomvoice.actors.arbiter import ArbiterClient
    from roomvoice.events import ErrorEvent, RoomEvent, TurnResult, WakeDetection
    from roomvoice.rooms.acoustics import RoomAcoustics, SimulatedMicrophone, TalkerTimeline
    from roomvoice.rooms.simulated_house import SimulatedHouse
    from roomvoice.rooms.sinks import NullSink

    names = list(ROOM_NAMES[:n_rooms])
    rng = random.Random(seed * 1000 + n_rooms)
    wake = read_audio_file(AUDIO / "hey_jarvis.wav").samples
    gap = np.zeros(int(0.25 * SAMPLE_RATE), np.int16)
    # Each room hears its own copy of the talker (per-utterance gain and delay): one timeline per room.
    timelines = {n: TalkerTimeline() for n in names}
    plan = []
    for i in range(n_utt):
        at = LEAD_S + i * spacing_s
        command = COMMANDS[i % len(COMMANDS)]
        clip = np.concatenate([wake, gap, speech.said(command)])
        near = rng.choice(names)
        heard = {}
        for n in names:
            g, d = (NEAR_GAIN_DB, 0.0) if n == near else (NEAR_GAIN_DB - rng.uniform(3.0, 15.0), rng.uniform(0.0, 0.08))
            timelines[n].add(at + d, scaled(clip, g))
            heard[n] = {"gain_db": round(g, 2), "delay_s": round(d, 4)}
        plan.append({"i": i, "at_s": round(at, 3), "end_s": round(at + len(clip) / SAMPLE_RATE, 3),
                     "command": command, "near": near, "rooms": heard})
    duration = LEAD_S + n_utt * spacing_s + 1.0
    house = SimulatedHouse([RoomAcoustics(n) for n in names], duration_s=duration)

    claims: list[dict] = []
    claims_lock = threading.Lock()
    starts: dict[str, float] = {}
    recorders = {n: Recorder() for n in names}
    rooms = {}
    for k, n in enumerate(names):
        client = ArbiterClient(arbiter_name, float(cfg.arbiter.timeout_s))
        rooms[n] = make_room(n, services, cfg, sink=NullSink(), on_event=recorders[n], live=True,
                             realtime_playback=False, aec=False,
                             arbiter=TimedArbiter(client, claims, claims_lock, starts))
    mics = {n: SimulatedMicrophone(RoomAcoustics(n, noise_dbfs=NOISE_DBFS_ARBITRATION, seed=100 + k), timelines[n],
                                   house.tap(n), duration_s=duration, realtime=True)
            for k, n in enumerate(names)}
    lags: dict[str, list[float]] = {n: [] for n in names}
    stalls: list[dict] = []  # chunks fed more than 0.25 s after they were due
    feed_s: dict[str, list[float]] = {n: [] for n in names}
    barrier = threading.Barrier(len(names))
    errors: list[str] = []

    def capture(n: str) -> None:
        room, mic = rooms[n], mics[n]
        try:
            barrier.wait()
            t0 = time.monotonic()
            starts[n] = t0
            for chunk in mic.chunks():
                now = time.monotonic()
                lags[n].append(now - (t0 + chunk.end_s))
                if lags[n][-1] > 0.25:
                    stalls.append({"room": n, "audio_time_s": round(chunk.end_s, 2), "lag_s": round(lags[n][-1], 3)})
                room.feed(chunk)
                feed_s[n].append(time.monotonic() - now)
            room.drain(max_audio_s=15.0)
        except Exception as exc:  # report, let the other rooms finish
            errors.append(f"{n}: {type(exc).__name__}: {exc}")
            log.exception("capture of %s failed", n)

    print(f"arbitration: {n_rooms} rooms, {n_utt} utterances, {duration:.0f} s of live audio ...", file=sys.stderr,
          flush=True)
    t_wall = time.monotonic()
    threads = [threading.Thread(target=capture, args=(n,), name=f"capture-{n}") for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t_wall
    time.sleep(0.2)  # let the last decision watchers write
    for room in rooms.values():
        room.close()

    # ---- attribute everything to utterances (window [at, at + spacing) of house audio time)
    def index_of(t: float) -> int | None:
        i = int(math.floor((t - LEAD_S) / spacing_s))
        return i if 0 <= i < n_utt else None

    per_utt = [{**p, "wakes": {}, "claims": [], "answered": [], "wake_lost": [], "turns": []} for p in plan]
    outside = []
    for n in names:
        rec = recorders[n]
        for w in rec.of(WakeDetection):
            i = index_of(w.audio_time_s)
            if i is None:
                outside.append({"room": n, "wake_s": w.audio_time_s})
            else:
                per_utt[i]["wakes"].setdefault(n, []).append(round(w.audio_time_s, 3))
        for e in rec.of(RoomEvent, kind="wake_lost"):
            i = index_of(e.audio_time_s)
            if i is not None:
                per_utt[i]["wake_lost"].append(n)
        for tr in rec.of(TurnResult):
            i = index_of(tr.timings.wake_audio_s)
            if i is None:
                outside.append({"room": n, "turn_wake_s": tr.timings.wake_audio_s, "transcript": tr.transcript})
                continue
            tm = tr.timings
            per_utt[i]["answered"].append(n)
            per_utt[i]["turns"].append({
                "room": n, "transcript": tr.transcript, "reply": tr.reply, "reply_source": tr.reply_source,
                "error": tr.error.code if tr.error is not None else None, "interrupted": tr.interrupted,
                "arbiter_wait_s": tm.arbiter_wait_s, "speech_end_to_first_audio_s": tm.speech_end_to_first_audio_s,
                "end_of_speech_to_first_audio_s": round(tm.end_of_speech_to_first_audio_s, 4),
                "stt_s": round(tm.stt_s, 4), "wake_audio_s": round(tm.wake_audio_s, 3),
                "end_of_speech_audio_s": round(tm.end_of_speech_audio_s, 3)})
        for e in rec.of(ErrorEvent):
            i = index_of(e.audio_time_s)
            if i is not None:
                per_utt[i].setdefault("errors", []).append({"room": n, "code": e.code, "stage": str(e.stage.value)})
    t_first = min(starts.values()) if starts else 0.0
    for c in claims:
        c["sent_s"] = round(c["sent_s"] - t_first, 4)  # wall seconds since the capture started
        i = index_of(c["audio_time_s"])
        if i is not None:
            per_utt[i]["claims"].append(c)
    for u in per_utt:
        sent = [c["sent_s"] for c in u["claims"]]
        u["claim_send_spread_s"] = round(max(sent) - min(sent), 4) if len(sent) > 1 else 0.0
        u["capture_stalls"] = [st for st in stalls if u["at_s"] - 1.0 <= st["audio_time_s"] < u["at_s"] + spacing_s]
    correct = duplicates = missed = wrong = 0
    for u in per_utt:
        ans = sorted(set(u["answered"]))
        u["outcome"] = ("missed" if not ans else "duplicate" if len(ans) > 1 else
                        "correct" if ans == [u["near"]] else "wrong-room")
        correct += u["outcome"] == "correct"
        duplicates += u["outcome"] == "duplicate"
        missed += u["outcome"] == "missed"
        wrong += u["outcome"] == "wrong-room"
    turns = [t for u in per_utt for t in u["turns"]]
    rules: dict[str, int] = {}
    for c in claims:
        rules[c.get("rule", "undecided")] = rules.get(c.get("rule", "undecided"), 0) + 1
    wakes_per_utt = [len(u["wakes"]) for u in per_utt]
    all_lags = [x for v in lags.values() for x in v]
    return {
        "rooms": n_rooms, "room_names": names, "utterances": n_utt, "spacing_s": spacing_s, "audio_s": duration,
        "wall_s": round(wall, 1), "seed": seed,
        "correct": correct, "accuracy": round(correct / n_utt, 4) if n_utt else None,
        "duplicate_answers": duplicates, "missed": missed, "wrong_room": wrong,
        "answer_errors": sum(1 for t in turns if t["error"]),
        "fast_path_answers": sum(1 for t in turns if t["reply_source"] == "fast_path"),
        "rooms_waking_per_utterance": {str(k): wakes_per_utt.count(k) for k in sorted(set(wakes_per_utt))},
        "claims": len(claims), "claims_by_rule": rules,
        "fail_open": rules.get("fail-open", 0),
        "claim_to_decision_s": summary([c.get("latency_s") for c in claims]),
        "arbiter_decided_after_s": summary([c.get("decided_after_s") for c in claims]),
        "arbiter_wait_s": summary([t["arbiter_wait_s"] for t in turns]),
        "arbiter_wait_nonzero": sum(1 for t in turns if t["arbiter_wait_s"] > 0),
        "speech_end_to_first_audio_s": summary([t["speech_end_to_first_audio_s"] for t in turns]),
        "end_of_speech_to_first_audio_s": summary([t["end_of_speech_to_first_audio_s"] for t in turns]),
        "capture_lag_s": summary(all_lags),
        "claim_capture_lag_s": summary([c.get("capture_lag_s") for c in claims]),
        "claim_send_spread_s": summary([u["claim_send_spread_s"] for u in per_utt]),
        "chunks_fed_over_0_25_s_late": len(stalls),
        "feed_s": summary([x for v in feed_s.values() for x in v]),
        "capture_errors": errors, "events_outside_utterances": outside,
        "per_utterance": per_utt,
    }


# ------------------------------------------------------------------------------ 2. barge-in
def run_barge_in(n_trials: int, seed: int, source: str, services, speech: Speech, cfg) -> dict:
    from roomvoice.events import RoomEvent, TurnResult, VoiceState
    from roomvoice.rooms.acoustics import RoomAcoustics
    from roomvoice.rooms.simulated_house import SimulatedHouse
    from roomvoice.rooms.sinks import NullSink

    rng = random.Random(seed * 7 + 1)
    wake = read_audio_file(AUDIO / "hey_jarvis.wav").samples
    stops = {p: speech.said(p) for p in STOP_PHRASES}
    trials = []
    t_all = time.monotonic()
    print(f"barge-in: {n_trials} trials ({source}) ...", file=sys.stderr, flush=True)
    for i in range(n_trials):
        t_trial = time.monotonic()
        phrase = STOP_PHRASES[i % len(STOP_PHRASES)]
        offset = rng.uniform(2.0, 6.0)
        house = SimulatedHouse([RoomAcoustics("den", echo_gain_db=-6.0, echo_delay_s=ECHO_DELAY_S,
                                              noise_dbfs=NOISE_DBFS_ROOM, seed=500 + i)])
        tap = house.tap("den")
        played: list[float] = []  # [first start, last end] of played reference audio

        def on_played(chunk, tap=tap, played=played) -> None:
            tap.write(chunk)
            if not played:
                played[:] = [chunk.start_s, chunk.end_s]
            played[1] = chunk.end_s

        rec = Recorder()
        room = make_room("den", services, cfg, sink=NullSink(), on_event=rec, live=False, realtime_playback=True,
                         aec=True, on_played=on_played)
        if source == "llm":
            prompt = STORY_PROMPTS[i % len(STORY_PROMPTS)]
            _, wake_end = house.add_utterance(1.0, wake)
            house.add_utterance(wake_end + 0.25, speech.said(prompt))
        else:
            prompt = LONG_ANNOUNCEMENT
            room.submit_announcement(LONG_ANNOUNCEMENT)
        stop_at = None
        heard_from = len(services.heard)
        mic = house.microphone("den")
        for chunk in mic.chunks():
            room.feed(chunk)
            if stop_at is None and played:
                stop_at = played[0] + offset
                house.add_utterance(stop_at, stops[phrase])
            if stop_at is not None and chunk.end_s > stop_at + 4.0 and room.state is VoiceState.IDLE:
                break
            if chunk.end_s > 120.0:
                break
        mic.close()
        room.drain(max_audio_s=30.0)
        room.close()
        true_start = None if stop_at is None else stop_at + onset_s(stops[phrase])
        barges = rec.of(RoomEvent, kind="barge_in")
        stop_barge = next((b for b in barges if b.detail.get("reason") == "barge-in-stop"), None)
        turns = rec.of(TurnResult)
        playing_at_phrase = bool(played) and true_start is not None and played[1] > true_start
        r = {"trial": i, "phrase": phrase, "offset_s": round(offset, 3), "prompt": prompt,
             "reply_started_s": round(played[0], 3) if played else None,
             "phrase_placed_s": round(stop_at, 3) if stop_at is not None else None,
             "true_phrase_start_s": round(true_start, 3) if true_start is not None else None,
             "reply_still_playing": playing_at_phrase,
             "recognised": stop_barge is not None,
             "stop_checks_heard": [h for h in services.heard[heard_from:]
                                   if stop_at is not None and h["end_s"] >= stop_at - 0.5],
             "barge_ins": [b.detail for b in barges],
             "turns": [{"transcript": t.transcript, "reply_source": t.reply_source, "interrupted": t.interrupted,
                        "reply_words": len(t.reply.split()), "spoken_words": len((t.spoken_text or t.reply).split())}
                       for t in turns],
             "wall_s": round(time.monotonic() - t_trial, 2)}
        if stop_barge is not None:
            d = stop_barge.detail
            r.update(heard=d.get("heard"), stopped_at_s=d.get("stopped_at_s"), onset_s=d.get("onset_s"),
                     reaction_s=d.get("reaction_s"),
                     reaction_from_true_start_s=None if d.get("stopped_at_s") is None or true_start is None
                     else round(d["stopped_at_s"] - true_start, 4))
            after = tap.read(d["stopped_at_s"] + 0.09, SAMPLE_RATE) if d.get("stopped_at_s") is not None else None
            r["silent_after_stop"] = None if after is None else not bool(after.any())
        trials.append(r)
        if r["recognised"]:
            outcome = f"stopped {r.get('reaction_from_true_start_s'):.3f} s"
        else:
            outcome = f"NOT stopped, heard {[h['text'] for h in r['stop_checks_heard']]!r}"
        print(f"  trial {i}: {phrase!r} at +{offset:.2f} s -> {outcome}"
              f"{'' if playing_at_phrase else ' (reply already over)'}", file=sys.stderr, flush=True)
    valid = [t for t in trials if t["reply_still_playing"]]
    return {
        "source": source, "trials": n_trials, "echo_gain_db": -6.0, "echo_delay_s": ECHO_DELAY_S,
        "noise_dbfs": NOISE_DBFS_ROOM, "aec": True, "offsets_s": [2.0, 6.0], "phrases": list(STOP_PHRASES),
        "wall_s": round(time.monotonic() - t_all, 1),
        "valid_trials": len(valid),
        "reply_over_before_phrase": n_trials - len(valid),
        "recognised": sum(1 for t in valid if t["recognised"]),
        "not_recognised": sum(1 for t in valid if not t["recognised"]),
        "not_silent_after_stop": sum(1 for t in valid if t.get("silent_after_stop") is False),
        "misheard_as": [f"{t['phrase']} -> {' / '.join(h['text'] for h in t['stop_checks_heard']) or '(no check)'}"
                        for t in valid if not t["recognised"]],
        "reaction_from_true_start_s": summary([t.get("reaction_from_true_start_s") for t in valid]),
        "reaction_vad_onset_s": summary([t.get("reaction_s") for t in valid]),
        "per_trial": trials,
    }


# ------------------------------------------------------------------------------ 3. self-wakes
SENTENCES = (
    "The oven timer has six minutes left.", "Tomorrow will be sunny with a light breeze from the south.",
    "Your package was delivered to the front door at ten past two.", "The living room lights are now off.",
    "It is twenty past four in the afternoon.", "The next bus to the city centre leaves in twelve minutes.",
    "Here is a recipe for a simple tomato soup with basil and garlic.",
    "The washing machine finished its cycle.", "Remember to take the recycling out tonight.",
    "The temperature in the bedroom is nineteen degrees.", "Your meeting with Anna starts in fifteen minutes.",
    "The front door is locked and the alarm is set.", "I added eggs, flour and butter to your shopping list.",
    "The dishwasher needs more salt.", "Traffic on the motorway is light this morning.",
    "The football match starts at eight thirty on channel four.", "It will rain heavily after midnight.",
    "Your library books are due back on Friday.", "The garden sprinkler will run for twenty minutes at dawn.",
    "The kids have a dentist appointment on Thursday at eleven.", "Saturn is visible in the east after sunset.",
    "The battery of the smoke alarm in the hall is low.", "The coffee machine is warming up.",
    "Grandma called while you were out and asked you to call her back.",
    "The heating will switch to the night setting at ten.", "Lunch with the team is moved to one o'clock.",
    "Your flight to Lisbon boards at gate twelve.", "The solar panels produced eleven kilowatt hours today.",
    "There is a new episode of your favourite podcast.", "The humidity in the bathroom is high; open a window.",
)
WAKE_INSERTS = ("Hey Jarvis, {}", "{} Hey Jarvis.", "Hey, Jarvis. {}", "{} Hey Jarvis, hey Jarvis.",
                "Someone said hey Jarvis earlier. {}", "Hey Jarvis, what time is it? {}")


def selfwake_corpus(minutes: float, seed: int, speech: Speech) -> list[dict]:
    """Announcements of varied piper speech (two speaking rates) until ``minutes`` of audio; about
    half contain "hey Jarvis". Returns dicts with text, rate, audio (SpeechAudio list), seconds."""
    rng = random.Random(seed * 11 + 3)
    out, total, k = [], 0.0, 0
    while total < minutes * 60.0:
        body = " ".join(rng.sample(SENTENCES, 2))
        wake = k % 2 == 0
        text = WAKE_INSERTS[(k // 2) % len(WAKE_INSERTS)].format(body) if wake else body
        rate = (1.0, 1.15, 0.9)[k % 3]
        audio = speech.audio(text, rate)
        seconds = sum(a.duration_s for a in audio)
        out.append({"text": text, "length_scale": rate, "audio": audio, "seconds": seconds,
                    "wake_phrases": text.lower().count("jarvis")})
        total += seconds
        k += 1
    return out


def wake_context(events: list, corpus: list[dict]) -> list[dict]:
    """Each wake with the room's state when it fired and the announcement that was playing last."""
    from roomvoice.events import StateChanged, VoiceState, WakeDetection

    out, state, speaking = [], None, 0
    for e in events:
        if isinstance(e, StateChanged):
            state = e.new.value
            speaking += e.new is VoiceState.SPEAKING and e.old is VoiceState.IDLE
        elif isinstance(e, WakeDetection):
            k = speaking - 1
            out.append({"audio_time_s": round(e.audio_time_s, 3), "score": round(e.score, 3), "state": state,
                        "announcement": k, "text": corpus[k]["text"] if 0 <= k < len(corpus) else None,
                        "previous_text": corpus[k - 1]["text"] if 1 <= k <= len(corpus) else None})
    return out


def run_selfwake(label: str, corpus: list[dict], services, cfg, *, aec: bool, echo_gain_db: float,
                 playing_wake_threshold: float, pause_on_speech: bool, seed: int) -> dict:
    from roomvoice.events import Announcement, RoomEvent, WakeDetection
    from roomvoice.rooms.acoustics import RoomAcoustics
    from roomvoice.rooms.simulated_house import SimulatedHouse
    from roomvoice.rooms.sinks import NullSink

    t0 = time.monotonic()
    house = SimulatedHouse([RoomAcoustics("den", echo_gain_db=echo_gain_db, echo_delay_s=ECHO_DELAY_S,
                                          noise_dbfs=NOISE_DBFS_ROOM, seed=seed)])
    sink = NullSink()
    rec = Recorder()
    room = make_room("den", services, cfg, sink=sink, on_event=rec, live=False, realtime_playback=True, aec=aec,
                     on_played=house.tap("den").write, playing_wake_threshold=playing_wake_threshold,
                     pause_on_speech=pause_on_speech)
    pauses: list[float] = []
    orig_pause = room.player.pause

    def counting_pause(at_s: float) -> bool:  # measurement only: how often the room's own echo pauses it
        held = orig_pause(at_s)
        if held:
            pauses.append(round(at_s, 3))
        return held

    room.player.pause = counting_pause
    services.canned.update({c["text"]: c["audio"] for c in corpus})
    calls0 = services.transcribe_calls
    futures = [room.submit_announcement(c["text"]) for c in corpus]
    mic = house.microphone("den")
    for chunk in mic.chunks():
        room.feed(chunk)
        if all(f.done() for f in futures) and not room.needs_ticks:
            break
    mic.close()
    room.drain(max_audio_s=10.0)
    room.close()
    audio_end = room.audio_time_s
    played_s = sink.seconds
    hours = played_s / 3600.0
    wakes = rec.of(WakeDetection)
    barges = rec.of(RoomEvent, kind="barge_in")
    anns = [f.result() for f in futures if f.done() and not f.exception()]
    phrases_played = sum(c["wake_phrases"] for c, a in zip(corpus, anns) if isinstance(a, Announcement)
                         and a.audio_s > 0)
    r = {"label": label, "aec": aec, "echo_gain_db": echo_gain_db, "echo_delay_s": ECHO_DELAY_S,
         "noise_dbfs": NOISE_DBFS_ROOM, "wake_threshold": cfg.rooms.kitchen.wake_threshold,
         "playing_wake_threshold": playing_wake_threshold, "pause_on_speech": pause_on_speech,
         "announcements": len(corpus), "played_s": round(played_s, 1), "played_min": round(played_s / 60.0, 2),
         "audio_s": round(audio_end, 1), "wake_phrases_in_text": phrases_played,
         "wakes": len(wakes), "wakes_per_hour": round(len(wakes) / hours, 1) if hours else None,
         "barge_ins": len(barges), "barge_ins_per_hour": round(len(barges) / hours, 1) if hours else None,
         "self_pauses": len(pauses), "self_pauses_per_hour": round(len(pauses) / hours, 1) if hours else None,
         "stop_checks": services.transcribe_calls - calls0,
         "wake_events": wake_context(rec.events, corpus),
         "barge_in_events": [b.detail for b in barges], "pause_times_s": pauses[:200],
         "wall_s": round(time.monotonic() - t0, 1)}
    print(f"  {label}: {r['played_min']} min played, {r['wakes']} wakes ({r['wakes_per_hour']}/h), "
          f"{r['barge_ins']} barge-ins, {r['self_pauses']} self-pauses, {r['wall_s']} s", file=sys.stderr, flush=True)
    return r


# ------------------------------------------------------------------------------ report
def fmt(x, nd=3) -> str:
    return "–" if x is None else f"{x:.{nd}f}"


def markdown(report: dict) -> str:
    lines = [f"# House benchmark ({report['machine']['name']}, {report['machine']['cpus']} cores, "
             f"wall {report['wall_s']:.0f} s)", ""]
    arb = report.get("arbitration") or []
    if arb:
        lines += ["## Arbitration (live rooms, real-time microphones, Ray WakeArbiter, window "
                  f"{report['settings']['arbiter']['window_s']} s)", "",
                  "| rooms | utterances | correct (accuracy) | duplicate answers | missed | wrong room | fail-open "
                  "| claim→decision p50 / p95 (s) | arbiter wait in turn p50 / p95 (s) | turns with wait > 0 "
                  "| speech end→first audio p50 / p95 (s) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in arb:
            c, w, e = r["claim_to_decision_s"], r["arbiter_wait_s"], r["speech_end_to_first_audio_s"]
            lines.append(f"| {r['rooms']} | {r['utterances']} | {r['correct']} ({r['accuracy']:.1%}) "
                         f"| {r['duplicate_answers']} | {r['missed']} | {r['wrong_room']} | {r['fail_open']} "
                         f"| {fmt(c['p50'])} / {fmt(c['p95'])} | {fmt(w['p50'])} / {fmt(w['p95'])} "
                         f"| {r['arbiter_wait_nonzero']}/{w['n']} | {fmt(e['p50'])} / {fmt(e['p95'])} |")
        lines.append("")
    b = report.get("barge_in")
    if b:
        rt, rv = b["reaction_from_true_start_s"], b["reaction_vad_onset_s"]
        lines += [f"## Barge-in (virtual time, AEC on, echo {b['echo_gain_db']:g} dB / {b['echo_delay_s'] * 1000:g} ms, "
                  f"reply: {'LLM reply' if b['source'] == 'llm' else 'long announcement'})", "",
                  "| trials | reply over before phrase | stopped | not recognised | phrase start→playback stopped "
                  "p50 / p95 (s) | VAD onset→stopped p50 / p95 (s) |",
                  "|---|---|---|---|---|---|",
                  f"| {b['trials']} | {b['reply_over_before_phrase']} | {b['recognised']}/{b['valid_trials']} "
                  f"| {b['not_recognised']} | {fmt(rt['p50'])} / {fmt(rt['p95'])} | {fmt(rv['p50'])} / {fmt(rv['p95'])} |",
                  ""]
        if b["misheard_as"]:
            lines += ["Not recognised (what the stop-phrase check transcribed): " + "; ".join(b["misheard_as"]), ""]
    sw = report.get("selfwake") or []
    if sw:
        lines += ["## False wakes from the room's own speech (virtual time, noise -60 dBFS, echo delay 30 ms)", "",
                  "| AEC | echo gain (dB) | wake threshold while playing | pause on speech | minutes played "
                  "| 'jarvis' in text | wakes | wakes / hour | barge-ins / hour | self-pauses / hour |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in sw:
            lines.append(f"| {'on' if r['aec'] else 'off'} | {r['echo_gain_db']:g} | {r['playing_wake_threshold']:g} "
                         f"| {'yes' if r['pause_on_speech'] else 'no'} | {r['played_min']:.1f} "
                         f"| {r['wake_phrases_in_text']} | {r['wakes']} | {r['wakes_per_hour']:g} "
                         f"| {r['barge_ins_per_hour']:g} | {r['self_pauses_per_hour']:g} |")
        lines.append("")
    return "\n".join(lines)


def versions() -> dict:
    from importlib.metadata import version

    out = {}
    for pkg in ("ray", "numpy", "openwakeword", "faster-whisper", "ctranslate2", "piper-tts", "llama-cpp-python",
                "pywebrtc-audio", "onnxruntime"):
        try:
            out[pkg] = version(pkg)
        except Exception:  # not installed
            out[pkg] = None
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rooms", type=int, nargs="*", default=[2, 4], help="room counts for the arbitration part")
    p.add_argument("--utterances", type=int, default=40, help="utterances per room count (arbitration)")
    p.add_argument("--spacing", type=float, default=6.0, help="seconds between utterance starts (arbitration)")
    p.add_argument("--barge-trials", type=int, default=20)
    p.add_argument("--barge-source", choices=("llm", "announcement"), default="llm")
    p.add_argument("--selfwake-minutes", type=float, default=6.0, help="minutes of played speech per self-wake run")
    p.add_argument("--selfwake-full", action=argparse.BooleanOptionalAction, default=True,
                   help="also run echo 0 dB and playing threshold 0.5 (else only AEC on/off at -6 dB, 0.7)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default="benchmarks/results/house.json")
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. llm.max_tokens=160")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from roomvoice.config import load_config
    from roomvoice.serve.local import local_services_from_config

    t_start = time.monotonic()
    load_start = os.getloadavg()
    cfg = load_config(["rooms=[kitchen]", "llm.max_tokens=160", *args.overrides])
    services = SharedServices(local_services_from_config(cfg))
    speech = Speech()
    fast = check_fast_path(services)
    if not all(fast.values()):
        print(f"warning: not all commands are fast path: {fast}", file=sys.stderr)
    # warm the models (first calls load them)
    from roomvoice.events import Utterance

    warm = speech.said("What time is it?")
    services.transcribe(Utterance(warm, SAMPLE_RATE, 0.0, len(warm) / SAMPLE_RATE))
    services.synthesize("Warming up.")
    if args.barge_trials and args.barge_source == "llm":
        services.inner.llm.start()

    report: dict = {
        "benchmark": "house",
        "machine": {"name": platform.node(), "cpus": os.cpu_count(), "platform": platform.platform(),
                    "processor": platform.processor() or platform.machine(), "python": sys.version.split()[0],
                    "loadavg_at_start": [round(x, 2) for x in load_start]},
        "versions": versions(),
        "settings": {"argv": sys.argv[1:], "seed": args.seed, "preset": cfg.preset.name, "stt": cfg.stt.model,
                     "llm": cfg.llm.model, "llm_max_tokens": cfg.llm.max_tokens, "tts": cfg.tts.voice,
                     "wake_word": cfg.rooms.kitchen.wake_word, "wake_threshold": cfg.rooms.kitchen.wake_threshold,
                     "wake_cooldown_s": cfg.rooms.kitchen.wake_cooldown_s,
                     "arbiter": {"window_s": cfg.arbiter.window_s, "timeout_s": cfg.arbiter.timeout_s,
                                 "level_tie_db": cfg.arbiter.level_tie_db},
                     "commands": list(COMMANDS), "commands_fast_path": fast,
                     "arbitration": {"near_gain_db": NEAR_GAIN_DB, "others_gap_db": [3.0, 15.0],
                                     "others_delay_s": [0.0, 0.08], "noise_dbfs": NOISE_DBFS_ARBITRATION,
                                     "lead_s": LEAD_S, "spacing_s": args.spacing, "sink": "null (not paced)",
                                     "aec": False, "live": True,
                                     "services": "one in-process LocalServices, STT and TTS behind locks"},
                     },
    }

    # ---- 1. arbitration (Ray)
    arbitration = []
    if args.rooms and args.utterances > 0:
        import ray

        from roomvoice.actors.arbiter import DEFAULT_NAME, start_wake_arbiter

        t_ray = time.monotonic()
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
        arbiter = start_wake_arbiter(cfg.arbiter)  # keep the handle for the run
        ray.get(arbiter.stats.remote())
        report["ray_start_s"] = round(time.monotonic() - t_ray, 1)
        try:
            for n in args.rooms:
                r = run_arbitration(n, args.utterances, args.spacing, args.seed, services, speech, cfg, DEFAULT_NAME)
                arbitration.append(r)
                print(f"  {n} rooms: {r['correct']}/{r['utterances']} correct, {r['duplicate_answers']} duplicates, "
                      f"{r['missed']} missed, {r['wrong_room']} wrong room; claim->decision p50 "
                      f"{r['claim_to_decision_s']['p50']} s; wait p95 {r['arbiter_wait_s']['p95']} s",
                      file=sys.stderr, flush=True)
            report["arbiter_stats"] = {k: v for k, v in ray.get(arbiter.stats.remote()).items() if k != "recent"}
        finally:
            del arbiter
            ray.shutdown()
    report["arbitration"] = arbitration

    # ---- 2. barge-in
    if args.barge_trials > 0:
        report["barge_in"] = run_barge_in(args.barge_trials, args.seed, args.barge_source, services, speech, cfg)

    # ---- 3. self-wakes
    selfwake = []
    if args.selfwake_minutes > 0:
        t_corpus = time.monotonic()
        corpus = selfwake_corpus(args.selfwake_minutes, args.seed, speech)
        print(f"self-wakes: {len(corpus)} announcements, {sum(c['seconds'] for c in corpus) / 60:.1f} min of speech "
              f"({time.monotonic() - t_corpus:.0f} s to synthesise) ...", file=sys.stderr, flush=True)
        runs = [("aec-on -6dB 0.7", True, -6.0, 0.7, False), ("aec-off -6dB 0.7", False, -6.0, 0.7, False)]
        if args.selfwake_full:
            runs += [("aec-on 0dB 0.7", True, 0.0, 0.7, False), ("aec-off 0dB 0.7", False, 0.0, 0.7, False),
                     ("aec-on -6dB 0.5", True, -6.0, 0.5, False), ("aec-off -6dB 0.5", False, -6.0, 0.5, False)]
        runs.append(("aec-on -6dB 0.7 pause-on-speech", True, -6.0, 0.7, True))
        for k, (label, aec, gain, thr, pause) in enumerate(runs):
            selfwake.append(run_selfwake(label, corpus, services, cfg, aec=aec, echo_gain_db=gain,
                                         playing_wake_threshold=thr, pause_on_speech=pause, seed=900 + k))
        report["selfwake_corpus"] = [{k: v for k, v in c.items() if k != "audio"} for c in corpus]
    report["selfwake"] = selfwake

    report["wall_s"] = round(time.monotonic() - t_start, 1)
    table = markdown(report)
    print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    out.with_suffix(".md").write_text(table + "\n")
    print(f"wrote {out} and {out.with_suffix('.md')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
