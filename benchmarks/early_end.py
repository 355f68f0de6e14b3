"""Benchmark: does ending the turn at a whole home command (``command_ends_turn``) cut users off?

A room (:class:`~roomvoice.rooms.room.Room`, no Ray, virtual time) transcribes the speech so far
when the user pauses (:mod:`roomvoice.rooms.speculation`); with ``RoomOptions.command_ends_turn``
a transcript the fast path recognises ends the turn at once instead of after the 0.72 s
end-of-speech hangover. A user who pauses inside a command ("turn on the kitchen ceiling light …
and the hall lamp") may then be cut off after its first part. Project rule: end-of-turn cut-offs
must be no more frequent than with the hangover alone.

Scenes: "hey jarvis" (the bundled clip), 0.3 s, then a request synthesised at run time by two
voices (:mod:`benchmarks.voices`: piper joe, espeak-ng en-us), then 2 s of silence.

* two-part requests (:data:`TWO_PART`, 44): a complete-sounding first part and a continuation,
  each synthesised on its own and trimmed to its speech (:func:`~benchmarks.voices.speech_bounds`),
  with exactly 0.25 / 0.4 / 0.6 s of digital silence between them (all shorter than the hangover,
  so none is a turn end for the hangover-only detector);
* one-part requests (:data:`ONE_PART`, 20, controls): whole commands, said in one go.

Each scene runs through a fresh Room with ``command_ends_turn`` on and off, sharing one real
services object (:func:`roomvoice.serve.local.local_services_from_config`: Moonshine first pass,
whisper tiny.en, the intent fast path, SmolLM2, piper) pointed at the large fake home
(:mod:`benchmarks.large_home`, 135 entities over HTTP; commands change its state).

Counted per voice x pause x on/off: *cut off* = the turn ended before the continuation (two or
more turns, or the transcript lacks every content word of the continuation), also *ended before
the continuation's onset* in audio time (``timings.end_of_speech_audio_s`` < the continuation's
first sample); per voice x on/off for the controls: recognised by the fast path, ended by the
command, and the audio time saved by the early end (end of turn off − on, s).

Virtual time is the early end's most eager case: the room waits for the pause's transcription, so
an early end comes one chunk after the ``PAUSE`` report (0.16 s of VAD silence), i.e. at 0.24 s of
VAD silence after the last speech chunk; a live room ends it only once STT is done.

``--min-pause S`` (hypothetical, benchmark only): an early end needs at least S seconds of VAD
silence after the last speech chunk (the room's speculator is wrapped; nothing in ``roomvoice/``
changes). 0 = the room as shipped; >= 0.72 = never early.

Measured (2 shared CPU cores, 10 min; ``benchmarks/results/early_end.md``): with
``command_ends_turn`` on, 36-37 of 44 two-part requests per voice ended before the last word at a
0.4 or 0.6 s pause (hangover alone: 0-1), and 9-15 at 0.25 s (the VAD heard only 0.1-0.2 s of
the pause as silence; most of those ended inside the continuation's first word). Only requests
whose first part alone is not a fast-path command ("Set the bedroom lamp", "What's the humidity")
were spared. One-part commands: 35/40 ended by the command, 0.38-0.46 s sooner. With
``--min-pause 0.48`` (``--baseline`` for the off rows): 0-1 per voice ended early at 0.25 / 0.4 s,
still 36-37 at 0.6 s, and the saving halves (0.19-0.24 s). A minimum pause only protects pauses
shorter than itself.

    python benchmarks/early_end.py [--quick] [--min-pause 0.48 --baseline benchmarks/results/early_end.json]
    python benchmarks/early_end.py --from-json benchmarks/results/early_end.json   # judge again, no runs
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

if str(Path(__file__).resolve().parents[1]) not in sys.path:  # `benchmarks.*` from a script run
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import roomvoice  # noqa: E402
from roomvoice.rooms.audio import SAMPLE_RATE, iter_chunks, read_audio_file  # noqa: E402

from benchmarks.voices import EspeakSpeaker, PiperSpeaker, Speaker, peak_normalised, speech_bounds  # noqa: E402

AUDIO = Path(roomvoice.__file__).parent / "assets" / "audio"
PAUSES_S = (0.25, 0.4, 0.6)
LEAD_S, AFTER_WAKE_S, TAIL_S = 1.0, 0.3, 2.0
ROOM = "kitchen"

# (first part, continuation): the first part is a whole command on its own
TWO_PART: tuple[tuple[str, str, str], ...] = (
    # another device
    ("and", "Turn on the kitchen ceiling light", "and the hall lamp"),
    ("and", "Turn off the desk lamp", "and the office shelf lights"),
    ("and", "Turn on the reading lamp", "and the TV backlight"),
    ("and", "Turn off the garden lights", "and the porch light"),
    ("and", "Turn on the coffee maker", "and the kettle"),
    ("and", "Close the office blinds", "and the office window"),
    ("and", "Turn on the bedroom lamp", "and the left bedside lamp"),
    ("and", "Lock the front door", "and the back door"),
    ("and", "Turn off the printer", "and the monitor plug"),
    ("and", "Open the living room blinds", "and the living room curtains"),
    ("and", "Turn off the living room TV", "and the soundbar"),
    ("and", "Lock the garage side door", "and the garden gate"),
    # a value
    ("value", "Set the bedroom lamp", "to 40 percent"),
    ("value", "Turn on the living room floor lamp", "to 30 percent"),
    ("value", "Turn on the kitchen island pendants", "to 50 percent"),
    ("value", "Set the office thermostat", "to 22 degrees"),
    ("value", "Turn on the office fan", "to 50 percent"),
    ("value", "Open the kitchen blind", "to 50 percent"),
    ("value", "Dim the hall lamp", "to 20 percent"),
    ("value", "Turn on the patio lights", "at 70 percent"),
    ("value", "Set the bedroom thermostat", "to 19 degrees"),
    ("value", "Turn up the kitchen speaker", "to 60 percent"),
    # a time
    ("time", "Turn off the office fan", "in ten minutes"),
    ("time", "Turn on the electric blanket", "in twenty minutes"),
    ("time", "Turn off the living room floor lamp", "in five minutes"),
    ("time", "Turn on the coffee maker", "at seven tomorrow morning"),
    ("time", "Turn off the Christmas tree", "at midnight"),
    ("time", "Turn on the sprinklers", "for fifteen minutes"),
    ("time", "Turn off the towel rail", "in half an hour"),
    ("time", "Turn on the porch light", "at sunset"),
    ("time", "Turn on the EV charger", "after midnight"),
    ("time", "Close the bedroom blinds", "at nine tonight"),
    # a place
    ("place", "What's the temperature", "in the living room"),
    ("place", "What's the humidity", "in the bathroom"),
    ("place", "Turn on the light", "in the hallway"),
    ("place", "Turn off the lights", "in the kids room"),
    ("place", "Turn on the ceiling light", "in the dining room"),
    ("place", "Close the blinds", "in the office"),
    ("place", "Turn on the ceiling fan", "in the bedroom"),
    ("place", "What's the temperature", "in the office"),
    ("place", "Turn off the lights", "in the garage"),
    ("place", "Open the blinds", "in the living room"),
    ("place", "Turn on the bathroom ceiling light", "and the extractor fan"),
    ("place", "Turn off the dehumidifier", "in the basement"),
)
"""(phrasing, first part, continuation)."""

ONE_PART: tuple[str, ...] = (
    "Turn on the kitchen ceiling light", "Turn off the desk lamp", "Set the bedroom lamp to 40 percent",
    "What's the temperature in the living room", "Close the office blinds", "Turn on the coffee maker",
    "Lock the front door", "Turn off the garden lights", "Open the living room curtains", "Turn on the reading lamp",
    "Turn off the printer", "Set the office thermostat to 22 degrees", "Turn on the hall lamp",
    "Turn off the Christmas tree", "Turn on the fairy lights", "Close the garage door", "Turn on the patio lights",
    "Turn off the kettle", "What's the humidity in the bathroom", "Turn on the TV backlight",
)
"""Whole commands said in one go (controls)."""

FILLER = frozenset({"and", "the", "a", "to", "in", "at", "for", "of", "an", "after"})

log = logging.getLogger("early-end")


# ------------------------------------------------------------------------------ audio
def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(round(seconds * SAMPLE_RATE)), np.int16)


class Voice:
    """A speaker whose phrases are synthesised once, level-matched and trimmed to their speech."""

    def __init__(self, speaker: Speaker) -> None:
        self.speaker = speaker
        self.name = speaker.name
        self._cache: dict[str, np.ndarray] = {}

    def speech(self, text: str) -> np.ndarray:
        if text not in self._cache:
            samples = peak_normalised(self.speaker.say(text))
            start, end = speech_bounds(samples)
            self._cache[text] = samples[int(start * SAMPLE_RATE): int(end * SAMPLE_RATE)]
        return self._cache[text]


@dataclass(frozen=True)
class Scene:
    """One request as audio, with where its parts lie in the room's audio time (s)."""

    kind: str  # "two_part" or "one_part"
    phrasing: str  # and / value / time / place; "control"
    text: str
    first: str
    continuation: str
    voice: str
    pause_s: float | None
    first_end_s: float
    continuation_start_s: float | None
    speech_end_s: float


def build_scene(wake: np.ndarray, voice: Voice, phrasing: str, first: str, continuation: str | None,
                pause_s: float | None) -> tuple[Scene, np.ndarray]:
    head = [silence(LEAD_S), wake, silence(AFTER_WAKE_S)]
    t0 = sum(len(p) for p in head) / SAMPLE_RATE
    a = voice.speech(first)
    first_end = t0 + len(a) / SAMPLE_RATE
    parts = head + [a]
    cont_start = None
    if continuation is not None:
        b = voice.speech(continuation)
        cont_start = first_end + pause_s
        parts += [silence(pause_s), b]
        end = cont_start + len(b) / SAMPLE_RATE
    else:
        end = first_end
    audio = np.concatenate(parts + [silence(TAIL_S)])
    text = first if continuation is None else f"{first} {continuation}"
    scene = Scene("one_part" if continuation is None else "two_part", phrasing, text, first, continuation or "",
                  voice.name, pause_s, round(first_end, 3), None if cont_start is None else round(cont_start, 3),
                  round(end, 3))
    return scene, audio


# ------------------------------------------------------------------------------ the room
class MinPauseGate:
    """The room's speculator, but an early end (``ready``) only after ``min_pause_s`` of VAD silence
    since the last speech chunk (the room's clock: ``room.audio_time_s``, the chunk being processed)."""

    def __init__(self, room: Any, inner: Any, min_pause_s: float) -> None:
        self._room, self._inner, self.min_pause_s = room, inner, min_pause_s

    def ready(self, last_speech_end_s: float | None, last_sound_end_s: float | None = None):
        if last_speech_end_s is not None and self._room.audio_time_s - last_speech_end_s < self.min_pause_s - 1e-9:
            return None
        return self._inner.ready(last_speech_end_s, last_sound_end_s)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def run_scene(services: Any, audio: np.ndarray, ends_turn: bool, min_pause_s: float) -> list[Any]:
    from roomvoice.rooms.endpoint import EndOfSpeechDetector, EndpointSettings
    from roomvoice.rooms.room import Room
    from roomvoice.rooms.room_types import RoomOptions
    from roomvoice.rooms.sinks import NullSink
    from roomvoice.rooms.wake import WakeWordDetector

    services.core._history.pop(ROOM, None)  # every scene starts a fresh conversation
    room = Room(ROOM, wake=WakeWordDetector("hey_jarvis", 0.5), endpoint=EndOfSpeechDetector(EndpointSettings()),
                services=services, sink=NullSink(), options=RoomOptions(command_ends_turn=ends_turn))
    if min_pause_s > 0:
        room.speculator = MinPauseGate(room, room.speculator, min_pause_s)
    try:
        return room.run(iter_chunks(audio))
    finally:
        room.close()


def words(text: str) -> list[str]:
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9' ]", " ", text.lower())).split()


def _numbers(text: str) -> str:
    """Number words as digits (``numbers_as_digits``: "forty per cent" and "40%" compare equal)."""
    from roomvoice.skills.intents import numbers_as_digits

    return numbers_as_digits(text.replace("%", " percent"))


def measure(scene: Scene, turns: list[Any]) -> dict[str, Any]:
    first = turns[0] if turns else None
    row: dict[str, Any] = {"turns": len(turns), "transcript": first.transcript if first else None,
                           "route": first.reply_source if first else None,
                           "turn_end": first.timings.turn_end if first else None,
                           "end_s": round(first.timings.end_of_speech_audio_s, 3) if first else None,
                           "error": first.error.code if first is not None and first.error is not None else None,
                           "tool_calls": [f"{c.tool} {c.arguments}" for c in first.tool_calls] if first else []}
    return judge(scene.kind, scene.first, scene.continuation, scene.continuation_start_s, scene.speech_end_s, row)


def judge(kind: str, first_part: str, continuation: str, continuation_start_s: float | None, speech_end_s: float,
          row: dict[str, Any]) -> dict[str, Any]:
    """Add the verdicts of a two-part scene to ``row`` (from its turns, transcript and end time):

    * ``continuation_heard``: the transcript has a content word of the continuation not in the
      first part (two adjacent words joined also count: "sound bar" is "soundbar");
    * ``cut_off`` (the brief's measure): not exactly one turn, or the continuation not heard — an
      STT error on the continuation counts too, in both conditions;
    * ``ended_early``: not exactly one turn, or the turn ended (audio time) before the user's
      last word did — a cut-off whatever STT made of the words;
    * ``ended_before_continuation``: the turn ended before the continuation's first sample.
    """
    if kind != "two_part":
        return row
    said = words(_numbers(row["transcript"] or ""))
    heard = set(said) | {a + b for a, b in zip(said, said[1:])}
    wanted = set(words(_numbers(continuation))) - FILLER - set(words(_numbers(first_part)))
    end = row["end_s"]
    row["continuation_heard"] = bool(heard & wanted)
    row["cut_off"] = row["turns"] != 1 or not row["continuation_heard"]
    row["ended_early"] = row["turns"] != 1 or end is None or end < speech_end_s
    row["ended_before_continuation"] = end is None or end <= continuation_start_s
    return row


def rejudge(rows: list[dict]) -> list[dict]:
    """The verdicts of rows read back from a result JSON, made again (after a change to :func:`judge`)."""
    for r in rows:
        sc = r["scene"]
        judge(sc["kind"], sc["first"], sc["continuation"], sc["continuation_start_s"], sc["speech_end_s"], r)
    return rows


# ------------------------------------------------------------------------------ summary
def mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 3) if values else None


def summarise(rows: list[dict], pauses: tuple[float, ...]) -> dict[str, Any]:
    """Per condition (voice x pause x on/off for two-part; voice x on/off for controls)."""
    out: dict[str, Any] = {"two_part": [], "one_part": [], "by_phrasing": []}
    pairs = {(r["scene"]["text"], r["scene"]["voice"], r["scene"]["pause_s"], r["ends_turn"]): r for r in rows}

    def saving(r: dict) -> float | None:
        other = pairs.get((r["scene"]["text"], r["scene"]["voice"], r["scene"]["pause_s"], False))
        if other is None or r["end_s"] is None or other["end_s"] is None:
            return None
        return other["end_s"] - r["end_s"]

    voices = sorted({r["scene"]["voice"] for r in rows})
    for voice in voices:
        for pause in pauses:
            for on in (True, False):
                sel = [r for r in rows if r["scene"]["kind"] == "two_part" and r["scene"]["voice"] == voice
                       and r["scene"]["pause_s"] == pause and r["ends_turn"] == on]
                if not sel:
                    continue
                kept = [r for r in sel if not r["ended_early"]]
                out["two_part"].append({
                    "voice": voice, "pause_s": pause, "command_ends_turn": on, "n": len(sel),
                    "cut_off": sum(r["cut_off"] for r in sel),
                    "ended_early": sum(r["ended_early"] for r in sel),
                    "ended_before_continuation": sum(r["ended_before_continuation"] for r in sel),
                    "two_turns": sum(r["turns"] > 1 for r in sel),
                    "ended_by_command": sum(r["turn_end"] == "command" for r in sel),
                    "saving_s_when_whole": mean([s for r in kept if (s := saving(r)) is not None]) if on else None,
                })
        for on in (True, False):
            sel = [r for r in rows if r["scene"]["kind"] == "one_part" and r["scene"]["voice"] == voice
                   and r["ends_turn"] == on]
            if not sel:
                continue
            out["one_part"].append({
                "voice": voice, "command_ends_turn": on, "n": len(sel),
                "fast_path": sum(r["route"] == "fast_path" for r in sel),
                "ended_by_command": sum(r["turn_end"] == "command" for r in sel),
                "saving_s": mean([s for r in sel if (s := saving(r)) is not None]) if on else None,
            })
    for phrasing in sorted({r["scene"]["phrasing"] for r in rows if r["scene"]["kind"] == "two_part"}):
        for pause in pauses:
            entry: dict[str, Any] = {"phrasing": phrasing, "pause_s": pause}
            for on in (True, False):
                sel = [r for r in rows if r["scene"]["phrasing"] == phrasing and r["scene"]["pause_s"] == pause
                       and r["ends_turn"] == on]
                entry["on" if on else "off"] = f"{sum(r['cut_off'] for r in sel)}/{len(sel)}"
                entry["early_on" if on else "early_off"] = f"{sum(r['ended_early'] for r in sel)}/{len(sel)}"
            out["by_phrasing"].append(entry)
    # cut-offs on that the hangover alone did not make
    extra = []
    for r in rows:
        if r["scene"]["kind"] != "two_part" or not r["ends_turn"]:
            continue
        off = pairs.get((r["scene"]["text"], r["scene"]["voice"], r["scene"]["pause_s"], False))
        if off is not None and not off["ended_early"] and r["ended_early"]:
            extra.append({"text": r["scene"]["text"], "voice": r["scene"]["voice"], "pause_s": r["scene"]["pause_s"],
                          "heard_on": r["transcript"], "heard_off": off["transcript"], "turn_end_on": r["turn_end"]})
    out["extra_cut_offs"] = extra
    return out


def fmt(x: Any) -> str:
    return "–" if x is None else (f"{x:.2f}" if isinstance(x, float) else str(x))


def markdown(report: dict) -> str:
    m, s = report["machine"], report["summary"]
    lines = [f"# Early end of turn at a whole command: cut-offs ({m['cpu_count']} cores, {m['platform']}, "
             f"Python {m['python']}; wall {report['wall_s']:.0f} s; --min-pause {report['min_pause_s']:g})", "",
             "Two-part requests: a whole command, a pause of digital silence, a continuation (hangover 0.72 s). "
             "*ended early* = more than one turn, or the turn ended (audio time) before the last word did; "
             "*cut off (words)* = more than one turn, or the transcript has none of the continuation's content "
             "words (also counts STT errors on the continuation); *before cont.* = the turn ended before the "
             "continuation began; *saving* = end of turn off − on (s), over two-part turns not ended early.", "",
             "| voice | pause s | command_ends_turn | n | ended early | cut off (words) | before cont. | 2 turns "
             "| ended by command | saving s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in s["two_part"]:
        lines.append(f"| {r['voice']} | {r['pause_s']:g} | {'on' if r['command_ends_turn'] else 'off'} | {r['n']} | "
                     f"**{r['ended_early']}** | {r['cut_off']} | {r['ended_before_continuation']} | {r['two_turns']} | "
                     f"{r['ended_by_command']} | {fmt(r['saving_s_when_whole'])} |")
    lines += ["", "By phrasing (both voices): ended early and cut off (words), on / off:", "",
              "| phrasing | pause s | ended early on | ended early off | cut off on | cut off off |",
              "|---|---|---|---|---|---|"]
    for r in s["by_phrasing"]:
        lines.append(f"| {r['phrasing']} | {r['pause_s']:g} | {r['early_on']} | {r['early_off']} | {r['on']} "
                     f"| {r['off']} |")
    lines += ["", "One-part commands (controls): recognised by the fast path, ended by the command, mean audio time "
              "saved by the early end (s).", "",
              "| voice | command_ends_turn | n | fast path | ended by command | saving s |",
              "|---|---|---|---|---|---|"]
    for r in s["one_part"]:
        lines.append(f"| {r['voice']} | {'on' if r['command_ends_turn'] else 'off'} | {r['n']} | {r['fast_path']} | "
                     f"{r['ended_by_command']} | {fmt(r['saving_s'])} |")
    if s["extra_cut_offs"]:
        lines += ["", f"Ended early with command_ends_turn on but not off ({len(s['extra_cut_offs'])}):", "",
                  "| request | voice | pause s | heard (on) |", "|---|---|---|---|"]
        for e in s["extra_cut_offs"]:
            lines.append(f"| {e['text']} | {e['voice']} | {e['pause_s']:g} | {e['heard_on']} |")
    lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--voices", nargs="+", default=["piper", "espeak"], choices=["piper", "espeak"])
    p.add_argument("--pauses", type=float, nargs="+", default=list(PAUSES_S), help="inserted pauses (s)")
    p.add_argument("--min-pause", type=float, default=0.0,
                   help="hypothetical: VAD silence (s) needed before an early end (0 = as shipped)")
    p.add_argument("--baseline", default=None,
                   help="a previous result JSON: take its command_ends_turn=off rows (they do not depend on "
                        "--min-pause) and run only the on condition")
    p.add_argument("--from-json", default=None,
                   help="run nothing: judge and summarise the rows of a previous result JSON again, write --out")
    p.add_argument("--quick", action="store_true", help="smoke run: 4 two-part and 2 one-part requests")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "early_end.json"))
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. llm.max_tokens=24")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    pauses = tuple(args.pauses)
    if args.from_json:
        report = json.loads(Path(args.from_json).read_text())
        report["summary"] = summarise(rejudge(report["rows"]), tuple(report["pauses_s"]))
        return write(report, Path(args.out))

    from benchmarks.large_home import configure_skills, large_home_server, summary
    from roomvoice.config import load_config
    from roomvoice.serve.local import local_services_from_config

    two = TWO_PART[::11] if args.quick else TWO_PART
    one = ONE_PART[::10] if args.quick else ONE_PART
    wake = read_audio_file(AUDIO / "hey_jarvis.wav").samples
    speakers = [Voice(PiperSpeaker() if v == "piper" else EspeakSpeaker()) for v in args.voices]
    t_start = time.monotonic()
    rows: list[dict] = []
    with large_home_server() as fake:
        cfg = load_config([f"rooms=[{ROOM}]", "llm.max_tokens=24", *args.overrides])
        configure_skills(cfg, fake.url, {ROOM: "kitchen"})
        services = local_services_from_config(cfg)
        services.llm.start()
        scenes = []
        for voice in speakers:
            for phrasing, first, cont in two:
                for pause in pauses:
                    scenes.append(build_scene(wake, voice, phrasing, first, cont, pause))
            for text in one:
                scenes.append(build_scene(wake, voice, "control", text, None, None))
        log.info("%d scenes x on/off, synthesised in %.0f s", len(scenes), time.monotonic() - t_start)
        baseline = {}
        if args.baseline:
            baseline = {(r["scene"]["text"], r["scene"]["voice"], r["scene"]["pause_s"]): r
                        for r in json.loads(Path(args.baseline).read_text())["rows"] if not r["ends_turn"]}
        for i, (scene, audio) in enumerate(scenes):
            for on in (True, False):
                old = baseline.get((scene.text, scene.voice, scene.pause_s))
                if not on and old is not None:
                    rows.append(old)
                    continue
                t0 = time.monotonic()
                turns = run_scene(services, audio, on, args.min_pause)
                row = {"scene": asdict(scene), "ends_turn": on, **measure(scene, turns),
                       "wall_s": round(time.monotonic() - t0, 2)}
                rows.append(row)
            if (i + 1) % 20 == 0:
                log.info("%d/%d scenes, %.0f s", i + 1, len(scenes), time.monotonic() - t_start)
    wall = time.monotonic() - t_start
    report = {
        "benchmark": "early_end",
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "home": summary(),
        "voices": [v.name for v in speakers],
        "pauses_s": list(pauses),
        "min_pause_s": args.min_pause,
        "baseline": args.baseline,
        "hangover_s": 0.72,
        "n_two_part": len(two), "n_one_part": len(one),
        "wall_s": round(wall, 1),
        "summary": summarise(rows, pauses),
        "rows": rows,
    }
    return write(report, Path(args.out))


def write(report: dict, out: Path) -> int:
    """Write the JSON and the markdown table next to it; print the table."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=str) + "\n")
    table = markdown(report)
    out.with_suffix(".md").write_text(table)
    print(table)
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
