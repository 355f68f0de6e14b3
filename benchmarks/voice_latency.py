"""Benchmark: the latency a user feels, from their last spoken word to the first reply sound.

Issue 9 part 1, "Measure what the user feels". Every request is spoken into a room in real time,
as a microphone delivers it: the bundled ``hey_jarvis.wav``, a short pause, the request said by
one of two synthesised voices (piper joe and espeak-ng, made at run time by :mod:`voices`,
alternating), then silence until the room has been idle for a second (its reply is over) before
the next wake -- a polite talker (:class:`TalkerSource`, in place of the room's file source in a
:class:`~roomvoice.actors.room_actor.RoomRunner` subclass), so no request lands on a reply
however slow the box is, and no time is spent on fixed gaps. It runs through the real Ray Serve
app (faster-whisper, the assistant's reply pipeline, SmolLM2 on llama.cpp, piper) with Home
Assistant faked over HTTP by a realistic home of ~135 entities (:mod:`large_home`).

Three kinds of request, interleaved in each room's timeline:

* ``home``: commands the intent fast path answers ("close the garage door");
* ``llm``: questions the LLM answers in words ("what is the capital of France");
* ``tool``: home requests the intent templates miss, handled by the LLM's constrained tool step
  ("it's too dark in the office"); such a turn records ``reply_source: llm`` with a tool call
  whose ``source`` is ``llm``.

For 1, 2 and 4 rooms running at once (``--samples`` per kind and room count, split over the
rooms) it reports p50/p95 of ``speech_end_to_first_audio_s`` (capture of the last chunk with
speech → first reply audio handed to the sink: what the user feels) beside the older
``end_of_speech_to_first_audio_s`` (from the end-of-turn decision), and p50s of where the time
goes: the end-of-turn wait (last speech → turn decided), STT, the reply's first sentence (fast
path + Home Assistant / tool step / LLM), the LLM's first token and TTS of the first sentence.
It also checks the timings against the script: the talker knows when each request's last word
was said, so ``true_speech_end_to_first_audio_s`` measures the same span without the VAD (first
audio on the Unix clock is ``ended_at - total_s + end_of_speech_to_first_audio_s``).

Writes JSON (default ``benchmarks/results/voice_latency.json``) and a markdown table (printed,
and saved next to the JSON as ``.md``).

    python benchmarks/voice_latency.py                        # 1, 2, 4 rooms x 3 kinds x 20 (~17 min on 2 cores)
    python benchmarks/voice_latency.py --quick                # smoke run: 1 room, 2 per kind (~70 s)
    python benchmarks/voice_latency.py --rooms 1 --samples 20 --kinds home llm.max_tokens=64
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import roomvoice  # noqa: E402
from large_home import configure_skills, large_home_server, summary  # noqa: E402
from roomvoice.rooms.audio import CHUNK_SECONDS, SAMPLE_RATE  # noqa: E402
from roomvoice.rooms.sources import AudioSource  # noqa: E402
from voices import ClipCache, EspeakSpeaker, PiperSpeaker, Speaker, VoiceUnavailable  # noqa: E402

AUDIO = Path(roomvoice.__file__).parent / "assets" / "audio"
WAKE_CLIP = AUDIO / "hey_jarvis.wav"
WAKE_GAP_S = 0.35
"""Pause between the wake word and the request (s), as people leave one."""
LEAD_S = 1.0
"""Silence before the first wake of a room's timeline (s)."""

PHRASES: dict[str, tuple[str, ...]] = {
    # checked against the large home: the fast path answers all of these (whisper tiny.en hears them
    # right when piper says them; "office fan" -> "office stand", "hall lamp" -> "whole lamp" were dropped)
    "home": ("Turn on the kitchen light.", "Close the garage door.", "Set the bedroom lamp to 40 percent.",
             "What is the temperature in the living room?", "Open the living room blinds.", "Lock the front door.",
             "Turn on the coffee maker.", "Is the front door locked?", "Turn off the garden lights.",
             "Turn on the living room TV.", "Turn on the desk lamp.", "What's the temperature in the office?"),
    # no device, area or home word: the tool step is skipped, the LLM answers in words
    "llm": ("Tell me a joke.", "What is the capital of France?", "How many legs does a spider have?",
            "Give me a fun fact about the moon.", "Who wrote Romeo and Juliet?", "Why is the sky blue?",
            "What is the biggest animal on Earth?", "How do you say thank you in Spanish?",
            "What rhymes with orange?", "Say something nice about Mondays."),
    # home words the intent templates do not match: the constrained tool step
    # ("I'd like the hall lamp on please" is matched by the templates: fast path, not here)
    "tool": ("It's too dark in the office.", "Make the kitchen warmer.", "It's way too bright in the kitchen.",
             "Could I have the dining room chandelier on?", "I'm freezing in the office.",
             "Get the living room blinds down please.", "The garage should be shut now.",
             "It is too hot in the bedroom.", "It's not bright enough in the living room."),
}
EXPECTED_ROUTE = {"home": "fast_path", "llm": "llm", "tool": "tool"}
IDLE_GAP_S = 1.0
"""The talker waits until the room has been idle this long (audio seconds) before the next wake."""
SLOT_ESTIMATE_S = {"home": 5.5, "llm": 7.0, "tool": 11.0}
"""Rough seconds per request in one room on 2 cores (wake + request + reply + idle gap), for the estimate."""
CONTENTION = {"home": 0.15, "llm": 0.25, "tool": 0.35}
"""Rough growth of a request's time per other room (one STT, LLM and TTS replica shared)."""
ROOM_KEYS = ("kitchen", "living_room", "office", "bedroom", "dining_room", "kids_room", "hallway", "garage")
"""Rooms are named after areas of the large home (``kitchen2`` = the kitchen in the 2-room round)."""

log = logging.getLogger("voice-latency")


# ------------------------------------------------------------------------------ the script
@dataclass
class Request:
    """One scripted request (audio times in seconds on the room's clock; ``*_epoch`` Unix seconds).

    ``speech_end_epoch`` is when the last word was said: the source paces audio against its start
    like a microphone (late chunks are delivered late, never stretched), so audio time ``x`` was
    spoken at ``start_epoch + x``. ``waited_s``: audio seconds the talker waited for the room to
    be idle before saying it; ``forced``: it gave up waiting (the room was still busy).
    """

    room: str
    index: int
    kind: str
    text: str
    voice: str
    path: str
    speech_start_in_clip_s: float
    speech_end_in_clip_s: float
    wake_start_s: float = 0.0
    speech_start_s: float = 0.0
    speech_end_s: float = 0.0
    speech_end_epoch: float = 0.0
    waited_s: float = 0.0
    forced: bool = False


COMMAND_ENDS_TURN = [False]
"""Set from ``--command-ends-turn`` (rooms built in actors read it through their config)."""

def plan(n_rooms: int, samples: int, kinds: list[str]) -> list[list[tuple[str, str, int]]]:
    """Per room, its requests as (kind, phrase, voice index): ``samples`` per kind over all rooms
    (rounded up per room); kinds interleaved, shifted per room so rooms ask different kinds at once;
    voices alternating."""
    per_room = max(1, math.ceil(samples / n_rooms))
    rooms = []
    for i in range(n_rooms):
        count = {k: 0 for k in kinds}
        seq = []
        for s in range(per_room * len(kinds)):
            kind = kinds[(s + i) % len(kinds)]
            j = count[kind]
            count[kind] += 1
            phrases = PHRASES[kind]
            seq.append((kind, phrases[(j * n_rooms + i) % len(phrases)], (j + i) % 2))
        rooms.append(seq)
    return rooms


class TalkerSource(AudioSource):
    """A paced microphone with a polite talker: for each request the wake word, a short pause and the
    request; then silence until the room has been idle for ``idle_gap_s`` (its reply is over), at
    most ``max_wait_s``, before the next one. Runs on the room's capture thread (the room has
    handled every chunk yielded so far when :meth:`chunks` resumes), so ``room_idle`` is exact.

    Args:
        requests: what to say, in order (their audio times are filled in as they are said).
        room_idle: True when the room is idle with nothing queued.
    """

    def __init__(self, requests: list[Request], room_idle, *, idle_gap_s: float = 1.0, max_wait_s: float = 90.0,
                 lead_s: float = LEAD_S, tail_s: float = 1.0) -> None:
        from roomvoice.rooms.audio import read_audio_file

        self.requests = requests
        self.room_idle = room_idle
        self.idle_gap_s, self.max_wait_s, self.lead_s, self.tail_s = idle_gap_s, max_wait_s, lead_s, tail_s
        self.wake = read_audio_file(WAKE_CLIP).samples
        self.clips = {r.path: read_audio_file(r.path).samples for r in requests}
        self.realtime = True
        self.start_epoch: float | None = None
        self._t = 0.0
        self._closed = False

    @property
    def paced(self) -> bool:
        return True

    @property
    def duration_s(self) -> float:
        return self._t

    def close(self) -> None:
        self._closed = True

    def chunks(self, start_s: float = 0.0):
        from roomvoice.rooms.audio import CHUNK_SAMPLES, AudioChunk

        t0_mono, self.start_epoch = time.monotonic() - start_s, time.time() - start_s
        pending = np.zeros(0, np.int16)
        self._t = start_s

        def emit(samples: np.ndarray):
            nonlocal pending
            pending = np.concatenate([pending, samples])
            while len(pending) >= CHUNK_SAMPLES and not self._closed:
                chunk, pending = pending[:CHUNK_SAMPLES], pending[CHUNK_SAMPLES:]
                end = self._t + CHUNK_SECONDS
                ahead = t0_mono + end - time.monotonic()  # a microphone: never ahead of real time
                if ahead > 0:
                    time.sleep(ahead)
                yield AudioChunk(chunk, SAMPLE_RATE, self._t, captured_at=time.monotonic())
                self._t = end

        def quiet(seconds: float):
            yield from emit(np.zeros(int(round(seconds * SAMPLE_RATE)), np.int16))

        yield from quiet(self.lead_s)
        for req in self.requests:
            req.wake_start_s = self._t + len(pending) / SAMPLE_RATE
            yield from emit(self.wake)
            yield from quiet(WAKE_GAP_S)
            begin = self._t + len(pending) / SAMPLE_RATE
            req.speech_start_s = begin + req.speech_start_in_clip_s
            req.speech_end_s = begin + req.speech_end_in_clip_s
            req.speech_end_epoch = self.start_epoch + req.speech_end_s
            yield from emit(self.clips[req.path])
            yield from self._wait_idle(req, quiet)
            if self._closed:
                return
        yield from quiet(self.tail_s)

    def _wait_idle(self, req: Request, quiet):
        """Silence until the room has been idle for ``idle_gap_s`` (audio seconds), or ``max_wait_s``."""
        waited = idle = 0.0
        yield from quiet(0.5)  # the end of turn cannot come sooner
        waited = 0.5
        while idle < self.idle_gap_s - 1e-9 and not self._closed:
            if waited >= self.max_wait_s:
                req.forced = True
                log.warning("%s: room still busy %.0f s after %r; going on", req.room, waited, req.text)
                break
            yield from quiet(CHUNK_SECONDS)
            waited += CHUNK_SECONDS
            idle = idle + CHUNK_SECONDS if self.room_idle() else 0.0
        req.waited_s = round(waited, 2)


def _scripted_actor_class():
    """The Ray actor of a benchmark room: :class:`~roomvoice.actors.room_actor.RoomRunner` (the real
    room, Serve services, files) with a :class:`TalkerSource` instead of the configured source."""
    import ray
    from ray import cloudpickle

    from roomvoice.actors.room_actor import RoomRunner

    if __name__ != "__main__":  # imported (not run as a script): Ray workers cannot import this file by name
        cloudpickle.register_pickle_by_value(sys.modules[__name__])

    class ScriptedRunner(RoomRunner):
        def __init__(self, requests: list[Request], *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.talker = TalkerSource(requests, self._room_idle)

        def _room_idle(self) -> bool:
            room = self.room
            busy = getattr(room, "needs_ticks", None)
            if busy is not None:
                return not busy
            return room.state.value == "idle" and room.worker.pending == 0

        def _open_source(self):
            return self.talker

    @ray.remote(max_concurrency=4)
    class ScriptedRoomActor:
        def __init__(self, cfg, requests: list[Request], app_name: str, run_dir: str, apology: str, options) -> None:
            from roomvoice.actors.services import ServeServices

            logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
            self.runner = ScriptedRunner(requests, cfg, ServeServices(app_name, cfg.turn_timeout_s), run_dir, apology,
                                         options=options)
            self.runner.start()

        def status(self):
            return self.runner.status()

        def results(self) -> list[dict]:
            return self.runner.results()

        def script(self) -> list[Request]:
            return self.runner.talker.requests

        def stop(self) -> None:
            self.runner.stop()

    return ScriptedRoomActor


# ------------------------------------------------------------------------------ one round
def run_round(cfg, n_rooms: int, rooms: dict[str, list[Request]], run_dir: Path) -> tuple[list[dict], dict]:
    """One scripted room actor per room, all starting together; wait until every talker is done and
    the rooms are idle. Returns (turn records, round info with the requests as said)."""
    import ray

    from roomvoice.actors.room_actor import room_options
    from roomvoice.config import EndpointConfig, RoomConfig, SinkConfig, SourceConfig

    actor_class = _scripted_actor_class()
    start_at = time.time() + 4.0 + 1.5 * n_rooms  # actors load wake word and VAD models first
    actors = {}
    for name, requests in rooms.items():
        # the configured source is not opened (TalkerSource replaces it); it says "paced" and when to start
        rc = RoomConfig(name=name, source=SourceConfig(type="file", paths=[str(WAKE_CLIP)], realtime=True,
                                                       start_at=start_at),
                        sink=SinkConfig(type="wav"), audio_zone=f"zone-{name}", followup_s=0.0,
                        endpoint=EndpointConfig(command_ends_turn=COMMAND_ENDS_TURN[0]))
        actors[name] = actor_class.options(name=f"bench-room:{name}", num_cpus=float(rc.num_cpus), max_restarts=0).remote(
            rc, requests, cfg.ray.app_name, str(run_dir), cfg.assistant.apology, room_options(rc, cfg))
    expected = sum(SLOT_ESTIMATE_S[r.kind] * (1 + CONTENTION[r.kind] * (n_rooms - 1)) for r in max(
        rooms.values(), key=len))
    deadline = start_at + 3 * expected + 300.0
    t0 = time.monotonic()
    while True:
        statuses = ray.get([a.status.remote() for a in actors.values()])
        if all(st.done and st.state.value == "idle" for st in statuses):
            break
        if time.time() > deadline:
            log.warning("round of %d rooms: not done after %.0f s; stopping it", n_rooms, time.monotonic() - t0)
            break
        time.sleep(1.0)
    wall = time.monotonic() - t0
    for st in statuses:
        if st.last_error:
            log.warning("%s: last error %s", st.room, st.last_error)
    records = [r for a in actors.values() for r in ray.get(a.results.remote())]
    said = {name: ray.get(a.script.remote()) for name, a in actors.items()}
    for a in actors.values():
        try:
            ray.get(a.stop.remote(), timeout=30)
        except Exception:  # noqa: BLE001 - a stuck room must not stop the benchmark
            log.warning("a room did not stop cleanly", exc_info=True)
        ray.kill(a, no_restart=True)
    events = {name: _read_jsonl(run_dir / name / "events.jsonl") for name in rooms}
    return records, {"said": said, "wall_s": round(wall, 1),
                     "barge_ins": {n: sum(1 for e in ev if e.get("type") == "barge_in") for n, ev in events.items()},
                     "errors": {n: [e.get("code") for e in ev if e.get("type") == "ErrorEvent"]
                                for n, ev in events.items()}}


def _read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ------------------------------------------------------------------------------ analysis
_NUMBER_WORDS = {"forty": "40", "twenty": "20", "percent": "%"}


def normalise(text: str) -> str:
    """Lower case, ``%`` as a word, no punctuation: for comparing transcripts with the script."""
    text = text.lower().replace("%", " percent ").replace("'", "")
    words = re.sub(r"[^a-z0-9 ]+", " ", text).split()
    return " ".join(_NUMBER_WORDS.get(w, w) for w in words)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word error rate of ``hypothesis`` against ``reference`` (both normalised): edit distance / words."""
    ref, hyp = normalise(reference).split(), normalise(hypothesis).split()
    d = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hyp, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
    return d[len(hyp)] / max(1, len(ref))


def route_of(turn: dict) -> str:
    """How a turn was answered: ``fast_path``, ``tool`` (the LLM's tool step), ``llm`` (words),
    ``apology`` (an error) or the record's own ``reply_source``."""
    source = turn.get("reply_source")
    if source == "llm" and any(c.get("source") == "llm" for c in turn.get("tool_calls") or ()):
        return "tool"
    return source or "?"


def match_turns(requests: list[Request], turns: list[dict]) -> tuple[list[tuple[Request, dict | None]], list[dict]]:
    """Pair each request with the turn woken by its wake word (``wake_audio_s`` inside its wake clip or
    just after it); returns the pairs and the turns that matched no request."""
    left = sorted(turns, key=lambda t: t["timings"]["wake_audio_s"])
    pairs = []
    for req in requests:
        hit = next((t for t in left if req.wake_start_s - 0.2 <= t["timings"]["wake_audio_s"] <= req.speech_end_s),
                   None)
        if hit is not None:
            left.remove(hit)
        pairs.append((req, hit))
    return pairs, left


def measure(req: Request, turn: dict | None) -> dict[str, Any]:
    """One sample: what was said and heard, the route, and the timings (wall seconds)."""
    row: dict[str, Any] = {"room": req.room, "kind": req.kind, "voice": req.voice, "text": req.text,
                           "speech_end_audio_s": round(req.speech_end_s, 3), "talker_waited_s": req.waited_s,
                           "talker_forced": req.forced}
    if turn is None:
        return {**row, "missed": True}
    t = turn["timings"]
    route = route_of(turn)
    wer = word_error_rate(req.text, turn.get("transcript") or "")
    row.update(missed=False, transcript=turn.get("transcript"), reply=turn.get("reply"), route=route,
               routed_ok=route == EXPECTED_ROUTE[req.kind], wer=round(wer, 3), heard_ok=wer == 0.0,
               error=(turn.get("error") or {}).get("code"), interrupted=bool(turn.get("interrupted")),
               turn_end=t.get("turn_end"), stt_in_pause=t.get("stt_in_pause"),
               tool_calls=[{k: c.get(k) for k in ("tool", "source", "ok", "code", "service", "entity_ids")}
                           for c in turn.get("tool_calls") or ()])
    felt, old = t.get("speech_end_to_first_audio_s"), t.get("end_of_speech_to_first_audio_s")
    has_audio = felt is not None and bool(old)
    stt, arb, first = t.get("stt_s") or 0.0, t.get("arbiter_wait_s") or 0.0, t.get("first_sentence_s") or 0.0
    eot = t.get("speech_end_to_end_of_turn_s")
    if eot is None and has_audio:
        eot = round(felt - old, 4)
    # first audio on the Unix clock: the turn ended at ended_at, total_s after the end-of-turn decision
    true_felt = None
    if has_audio and t.get("ended_at") and t.get("total_s"):
        true_felt = round(t["ended_at"] - t["total_s"] + old - req.speech_end_epoch, 4)
    stt_after = 0.0 if t.get("stt_in_pause") else stt
    row.update(
        speech_end_to_first_audio_s=felt if has_audio else None,
        end_of_speech_to_first_audio_s=old if has_audio else None,
        true_speech_end_to_first_audio_s=true_felt,
        end_of_turn_wait_s=eot,
        stt_s=stt, arbiter_wait_s=arb,
        decided_to_first_sentence_s=first or None,
        reply_step_s=round(first - stt_after - arb, 4) if first else None,
        llm_first_token_s=t.get("llm_first_token_s"),
        tts_first_audio_s=t.get("tts_first_audio_s") if has_audio else None,
        handoff_s=round(old - first - (t.get("tts_first_audio_s") or 0.0), 4) if has_audio and first else None,
        total_s=t.get("total_s"),
    )
    return row


def pct(values: list[float | None], q: float) -> float | None:
    vals = [v for v in values if v is not None]
    return round(float(np.percentile(vals, q)), 3) if vals else None


METRICS = ("speech_end_to_first_audio_s", "end_of_speech_to_first_audio_s", "true_speech_end_to_first_audio_s",
           "end_of_turn_wait_s", "stt_s", "arbiter_wait_s", "decided_to_first_sentence_s", "reply_step_s",
           "llm_first_token_s", "tts_first_audio_s", "handoff_s", "total_s", "talker_waited_s")


def summarise(rows: list[dict]) -> dict[str, Any]:
    """Counts and p50/p95 of every metric over the samples that produced reply audio."""
    heard = [r for r in rows if not r["missed"]]
    timed = [r for r in heard if r.get("speech_end_to_first_audio_s") is not None]
    rows_all = rows
    out: dict[str, Any] = {
        "requests": len(rows), "answered": len(heard), "missed": len(rows) - len(heard), "n": len(timed),
        "heard_ok": sum(1 for r in heard if r["heard_ok"]), "routed_ok": sum(1 for r in heard if r["routed_ok"]),
        "errors": sum(1 for r in heard if r.get("error")), "interrupted": sum(1 for r in heard if r.get("interrupted")),
        "talker_forced": sum(1 for r in rows if r.get("talker_forced")),
        "calls_ok": sum(1 for r in heard if any(c.get("ok") for c in r.get("tool_calls") or ())),
        "stt_in_pause": sum(1 for r in heard if r.get("stt_in_pause")),
        "turn_end": {k: sum(1 for r in heard if r.get("turn_end") == k)
                     for k in sorted({str(r.get("turn_end")) for r in heard})},
        "routes": {k: sum(1 for r in heard if r["route"] == k) for k in sorted({r["route"] for r in heard})},
        "by_voice": {},
    }
    for m in METRICS:
        vals = [r.get(m) for r in (rows_all if m == "talker_waited_s" else timed)]
        out[m] = {"p50": pct(vals, 50), "p95": pct(vals, 95), "n": sum(v is not None for v in vals)}
    for voice in sorted({r["voice"] for r in rows}):
        vr = [r for r in timed if r["voice"] == voice]
        out["by_voice"][voice] = {"n": len(vr), "heard_ok": sum(1 for r in vr if r["heard_ok"]),
                                  "speech_end_to_first_audio_p50": pct([r["speech_end_to_first_audio_s"]
                                                                        for r in vr], 50)}
    return out


# ------------------------------------------------------------------------------ report
def fmt(x: float | None, nd: int = 2) -> str:
    return "–" if x is None else f"{x:.{nd}f}"


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [f"# Voice latency: last spoken word → first reply sound ({m['cpus']} cores, {m['platform']}, "
             f"Python {m['python']}; wall {report['wall_s']:.0f} s)", "",
             f"Home: {report['home']['entities']} entities in {report['home']['areas']} areas (fake Home Assistant over "
             f"HTTP). Voices: {', '.join(report['settings']['voices'])}. Audio paced in real time; the talker says "
             f"the next request {report['settings']['idle_gap_s']:g} s after the room is idle; replies to WAV.",
             "", "Seconds. *speech end* = capture of the last chunk with speech (what the user feels); *detected EoS* = "
             "the end-of-turn decision (the older figure). heard = transcript word-exact; routed = answered by the "
             "expected path (home: fast path, llm: words, tool: the LLM's tool step).", "",
             "| kind | rooms | n | speech end→first audio p50 / p95 | detected EoS→first audio p50 / p95 "
             "| end-of-turn wait p50 | STT p50 | heard | routed |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        s = r["summary"]
        a, b = s["speech_end_to_first_audio_s"], s["end_of_speech_to_first_audio_s"]
        heard = s["answered"] or 1
        lines.append(f"| {r['kind']} | {r['rooms']} | {s['n']} | **{fmt(a['p50'])}** / {fmt(a['p95'])} "
                     f"| {fmt(b['p50'])} / {fmt(b['p95'])} | {fmt(s['end_of_turn_wait_s']['p50'])} "
                     f"| {fmt(s['stt_s']['p50'])} | {s['heard_ok']}/{s['answered']} ({s['heard_ok'] / heard:.0%}) "
                     f"| {s['routed_ok']}/{s['answered']} ({s['routed_ok'] / heard:.0%}) |")
    lines += ["", "Where the time goes (p50, s): end-of-turn wait (last speech → turn decided) → turn decided → "
              "first sentence of the reply (the rest of STT, then the reply step: fast path with its Home Assistant "
              "call / tool step / LLM up to its first sentence, LLM first token inside it) → TTS of that sentence → "
              "hand-off to the sink. *scripted end* = from the true end of the words (the talker's clock) to first "
              "audio, independent of the VAD. STT in pause / turn end: transcripts made during the pause before the "
              "turn ended, and what ended it (silence hangover or a whole command).", "",
              "| kind | rooms | end-of-turn wait | STT | decided→first sentence | reply step | LLM first token "
              "| TTS first audio | hand-off | scripted end→first audio p50 / p95 | STT in pause | turn end "
              "| missed | errors | interrupted | routes | calls ok |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        s = r["summary"]
        p = lambda k: fmt(s[k]["p50"])  # noqa: E731
        tr = s["true_speech_end_to_first_audio_s"]
        routes = ", ".join(f"{k} {v}" for k, v in s["routes"].items())
        ends = ", ".join(f"{k} {v}" for k, v in s["turn_end"].items())
        lines.append(f"| {r['kind']} | {r['rooms']} | {p('end_of_turn_wait_s')} | {p('stt_s')} "
                     f"| {p('decided_to_first_sentence_s')} | {p('reply_step_s')} | {p('llm_first_token_s')} "
                     f"| {p('tts_first_audio_s')} | {p('handoff_s')} | {fmt(tr['p50'])} / {fmt(tr['p95'])} "
                     f"| {s['stt_in_pause']}/{s['answered']} | {ends} | {s['missed']} | {s['errors']} "
                     f"| {s['interrupted']} | {routes} | {s['calls_ok']} |")
    lines.append("")
    return "\n".join(lines)


def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("ray", "faster-whisper", "ctranslate2", "piper-tts", "llama_cpp_python", "openwakeword",
                "hassil", "espeakng-loader"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


# ------------------------------------------------------------------------------ main
def make_speakers(names: list[str], piper_length_scale: float | None) -> list[Speaker]:
    speakers: list[Speaker] = []
    for name in names:
        if name == "piper":
            speakers.append(PiperSpeaker(piper_length_scale))
        elif name == "espeak":
            speakers.append(EspeakSpeaker())
        else:
            raise SystemExit(f"unknown voice {name!r} (piper, espeak)")
    return speakers


def estimate_s(rooms: list[int], samples: int, kinds: list[str]) -> float:
    """Rough wall seconds of all rounds (rounds one after another; the rooms of a round together)."""
    total = 0.0
    for n in rooms:
        per_room = max(1, math.ceil(samples / n))
        total += per_room * sum(SLOT_ESTIMATE_S[k] * (1 + CONTENTION[k] * (n - 1)) for k in kinds)
        total += LEAD_S + 4.0 + 1.5 * n + 8.0  # start delay, the last turn, stopping
    return total


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rooms", type=int, nargs="+", default=[1, 2, 4], help="room counts, one round each")
    p.add_argument("--samples", type=int, default=20, help="requests per kind per room count (split over rooms)")
    p.add_argument("--kinds", nargs="+", default=["home", "llm", "tool"], choices=sorted(PHRASES))
    p.add_argument("--voices", nargs="+", default=["piper", "espeak"], choices=["piper", "espeak"],
                   help="request voices, alternating")
    p.add_argument("--piper-length-scale", type=float, default=None, help="request voice speed (>1 slower)")
    p.add_argument("--quick", action="store_true", help="smoke run: --rooms 1 --samples 2")
    p.add_argument("--command-ends-turn", action="store_true",
                   help="rooms end the turn at a whole home command heard in a pause (endpoint.command_ends_turn)")
    p.add_argument("--out", default="benchmarks/results/voice_latency.json")
    p.add_argument("--keep-run", action="store_true", help="keep the run folder (audio, turns.jsonl) afterwards")
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. llm.max_tokens=48")
    args = p.parse_args(argv)
    COMMAND_ENDS_TURN[0] = bool(args.command_ends_turn)
    if args.quick:
        args.rooms, args.samples = [1], 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    t_start = time.monotonic()
    load_start = os.getloadavg()

    try:
        speakers = make_speakers(args.voices, args.piper_length_scale)
    except VoiceUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    import ray
    from omegaconf import OmegaConf
    from ray import serve

    from roomvoice.bootstrap import prepare_store
    from roomvoice.config import RoomConfig, load_config, validate
    from roomvoice.serve.app import deploy, start_ray
    from roomvoice.store.server import stop_embedded_server

    run_dir = (Path("runs") / f"voice-latency-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    run_dir.mkdir(parents=True)
    own_store = not any(o.startswith(("store.url=", "store.data_dir=")) for o in args.overrides)
    data_dir = Path(tempfile.mkdtemp(prefix="roomvoice-bench-latency-")) if own_store else None
    if data_dir is not None:
        data_dir.chmod(0o755)  # the embedded server runs as another user when we are root
    extra = [f"store.data_dir={data_dir}"] if data_dir else []
    cfg = load_config(["rooms=[kitchen]", "api.enabled=false", *extra, *args.overrides])
    names = {f"{ROOM_KEYS[i]}{n}": ROOM_KEYS[i] for n in args.rooms for i in range(n)}
    # every benchmark room is one of the house's rooms (and gets its logical CPU share in Ray)
    cfg.rooms = {name: OmegaConf.structured(RoomConfig(name=name, source=cfg.rooms.kitchen.source)) for name in names}
    est = estimate_s(args.rooms, args.samples, args.kinds)
    print(f"voice latency: rooms {args.rooms}, {args.samples} per kind, kinds {args.kinds}, voices "
          f"{[s.name for s in speakers]}; about {est / 60:.1f} min of paced audio (+ ~1-2 min start-up)",
          file=sys.stderr, flush=True)

    report: dict[str, Any] = {
        "benchmark": "voice_latency",
        "machine": {"name": platform.node(), "cpus": os.cpu_count(), "platform": platform.platform(),
                    "processor": platform.processor() or platform.machine(), "python": sys.version.split()[0],
                    "loadavg_at_start": [round(x, 2) for x in load_start]},
        "versions": versions(),
        "home": summary(),
    }
    results: list[dict] = []
    with large_home_server() as fake:
        configure_skills(cfg, fake.url, names)
        validate(cfg)
        # ---- the request audio: every (voice, phrase) once
        t_syn = time.monotonic()
        clips = ClipCache(run_dir / "requests")
        scripts: dict[int, dict[str, list[Request]]] = {}
        for n in args.rooms:
            scripts[n] = {}
            for i, items in enumerate(plan(n, args.samples, args.kinds)):
                room = f"{ROOM_KEYS[i]}{n}"
                scripts[n][room] = []
                for k, (kind, text, voice) in enumerate(items):
                    clip = clips.clip(speakers[voice % len(speakers)], text)
                    scripts[n][room].append(Request(room, k, kind, text, clip.voice, clip.path, clip.speech_start_s,
                                                    clip.speech_end_s))
        synth_s = time.monotonic() - t_syn
        try:
            t0 = time.monotonic()
            store = prepare_store(cfg)
            t_store = time.monotonic() - t0
            t0 = time.monotonic()
            start_ray(cfg)
            t_ray = time.monotonic() - t0
            t0 = time.monotonic()
            deploy(cfg, store.url)
            t_deploy = time.monotonic() - t0
            print(f"store {t_store:.1f} s, Ray {t_ray:.1f} s, Serve deploy {t_deploy:.1f} s; request audio "
                  f"{synth_s:.1f} s", file=sys.stderr, flush=True)
            for n in args.rooms:
                print(f"{n} room(s): {sum(len(v) for v in scripts[n].values())} requests "
                      f"(about {estimate_s([n], args.samples, args.kinds) / 60:.1f} min) ...", file=sys.stderr, flush=True)
                turns, info = run_round(cfg, n, scripts[n], run_dir / f"rooms{n}")
                rows, unmatched = [], []
                for room, said in info["said"].items():
                    pairs, extra_turns = match_turns(said, [t for t in turns if t["room"] == room])
                    rows += [measure(req, turn) for req, turn in pairs]
                    unmatched += extra_turns
                for kind in args.kinds:
                    kr = [r for r in rows if r["kind"] == kind]
                    results.append({"kind": kind, "rooms": n, "summary": summarise(kr), "samples": kr})
                    s = results[-1]["summary"]
                    a = s["speech_end_to_first_audio_s"]
                    print(f"  {kind:5} n={s['n']:3} speech end->first audio p50 {fmt(a['p50'])} p95 {fmt(a['p95'])}; "
                          f"EoS->first audio p50 {fmt(s['end_of_speech_to_first_audio_s']['p50'])}; routed "
                          f"{s['routed_ok']}/{s['answered']}, heard {s['heard_ok']}/{s['answered']}, missed "
                          f"{s['missed']}", file=sys.stderr, flush=True)
                results.append({"kind": "_round", "rooms": n, "wall_s": info["wall_s"],
                                "barge_ins": info["barge_ins"], "error_events": info["errors"],
                                "unmatched_turns": unmatched,
                                "turns": len(turns)})
        finally:
            serve.shutdown()
            ray.shutdown()
            if data_dir is not None:
                stop_embedded_server(data_dir)
                shutil.rmtree(data_dir, ignore_errors=True)
    report["settings"] = {
        "argv": sys.argv[1:] if argv is None else argv, "rooms": args.rooms, "samples_per_kind": args.samples,
        "kinds": args.kinds, "voices": [s.name for s in speakers], "phrases": {k: list(PHRASES[k]) for k in args.kinds},
        "wake_gap_s": WAKE_GAP_S, "idle_gap_s": IDLE_GAP_S, "endpoint": dict(OmegaConf.to_container(
            OmegaConf.structured(RoomConfig().endpoint)), command_ends_turn=COMMAND_ENDS_TURN[0]),
        "sink": "wav (written at once)", "source": "paced talker: next wake after the room is idle",
        "preset": cfg.preset.name, "stt": cfg.stt.model, "stt_beam_size": cfg.stt.beam_size, "llm": cfg.llm.model,
        "llm_max_tokens": cfg.llm.max_tokens, "tts": cfg.tts.voice, "ray_start_s": round(t_ray, 1),
        "serve_deploy_s": round(t_deploy, 1), "request_audio_s": round(synth_s, 1),
    }
    report["rounds"] = [r for r in results if r["kind"] == "_round"]
    report["results"] = [r for r in results if r["kind"] != "_round"]
    report["wall_s"] = round(time.monotonic() - t_start, 1)
    table = markdown(report)
    print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    out.with_suffix(".md").write_text(table + "\n")
    print(f"wrote {out} and {out.with_suffix('.md')} in {report['wall_s']:.0f} s", file=sys.stderr)
    if not args.keep_run:
        shutil.rmtree(run_dir, ignore_errors=True)
    else:
        print(f"run folder kept: {run_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
