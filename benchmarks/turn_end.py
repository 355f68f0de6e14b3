"""Benchmark: semantic end of turn (Smart Turn v3.2) against the Silero VAD hangover alone.

For each scene the :class:`~roomvoice.rooms.endpoint.EndOfSpeechDetector` (Silero VAD) runs
twice, ``turn_model="none"`` (the turn ends after ``end_silence_s`` = 0.72 s of non-speech) and
``turn_model="smart_turn"`` (after ``short_pause_s`` = 0.2 s of non-speech Smart Turn reads the
utterance: complete ends it there). Per scene it records the detected end minus the true end of
speech (s; negative = a premature cut-off: the turn ended while the talker had more to say),
whether the detector gave no END_OF_SPEECH at all, and Smart Turn's probabilities.

Scenes: the bundled real clips (CMU ARCTIC a0007, a0009, the pyannote phone-call cut), each as
recorded and with a silence of 0.3 / 0.45 / 0.6 s inserted at one word boundary (10 boundaries,
:data:`PAUSE_POINTS`: a mid-sentence pause, the talker has not finished; after words that
cannot end a sentence, "incomplete", or that already could, "complete"), padded with 1 s before
and 2 s after, at gains -12/-6/0/+6 dB x no noise / white noise at -60/-50/-45/-40 dBFS:
33 clip variants x 20 conditions = 660 scenes.

Measured (2 shared CPU cores, 35 s; Smart Turn 29 ms per call, 1.2 calls per scene):

================  ==========================  ===========================
scenes            Silero only (0.72 s)        Smart Turn v3.2 (0.2 s, 0.5)
================  ==========================  ===========================
as recorded (60)  0 premature, late p50 0.82  0 premature, late p50 0.34
pause, incomplete 11/360 premature            263/360 premature
pause, complete   0/240 premature             136/240 premature
================  ==========================  ===========================

Where both end correctly Smart Turn ends 0.48 s sooner (p50 and p95: 9 vs 3 chunks of 80 ms;
0 in 4/20 phone-call conditions, scored ~0.45 "incomplete"), but it calls a mid-sentence
pause "complete" far too often (p ~0.96-0.99 after "He turned sharply and faced Gregson across",
"Oh, I'm originally from"), at every gain and noise level; ``--threshold 0.9`` still cut 315/660.
Hence ``turn_model`` stays ``"none"`` by default.

Writes JSON (default ``benchmarks/results/turn_end.json``) and prints a table.

    python benchmarks/turn_end.py [--quick] [--threshold 0.5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import roomvoice
from roomvoice.rooms.audio import SAMPLE_RATE, iter_chunks, read_audio_file
from roomvoice.rooms.endpoint import EndOfSpeechDetector, EndpointKind, EndpointSettings
from roomvoice.rooms.turn_end import TurnEndModel

AUDIO = Path(roomvoice.__file__).parent / "assets" / "audio"
GAINS_DB = (-12.0, -6.0, 0.0, 6.0)
NOISES_DBFS = (None, -60.0, -50.0, -45.0, -40.0)
PAUSES_S = (0.3, 0.45, 0.6)
BEFORE_S, AFTER_S = 1.0, 2.0


@dataclass(frozen=True)
class Clip:
    name: str
    speech_start_s: float
    speech_end_s: float
    text: str


CLIPS = (  # speech boundaries as in tests/audio_helpers.py (10 ms RMS frames, whisper word timings)
    Clip("arctic_a0007.wav", 0.41, 3.44, "and you always want to see it in the superlative degree"),
    Clip("arctic_a0009.wav", 0.21, 2.90, "He turned sharply and faced Gregson across the table."),
    Clip("phonecall_chicago.wav", 0.21, 2.30, "Oh, I'm originally from Chicago also."),
)


def load(clip: Clip) -> np.ndarray:
    return read_audio_file(AUDIO / clip.name).samples


PAUSE_POINTS = {  # word boundaries (whisper tiny.en word timings, s) and the words before them;
    # "complete": the words so far already make a sentence, "incomplete": they cannot end one
    "arctic_a0007.wav": ((1.44, "and you always want", "incomplete"),
                         (2.04, "and you always want to see it", "complete"),
                         (2.42, "... to see it in the", "incomplete")),
    "arctic_a0009.wav": ((1.04, "He turned sharply", "complete"),
                         (1.66, "He turned sharply and faced", "incomplete"),
                         (2.06, "He turned sharply and faced Gregson", "complete"),
                         (2.44, "... faced Gregson across", "incomplete")),
    "phonecall_chicago.wav": ((1.12, "Oh, I'm originally", "incomplete"),
                              (1.50, "Oh, I'm originally from", "incomplete"),
                              (1.88, "Oh, I'm originally from Chicago", "complete")),
}


def quietest_point(samples: np.ndarray, at_s: float, within_s: float = 0.08) -> float:
    """The centre (s) of the quietest 10 ms frame within ``within_s`` of ``at_s`` (a word
    boundary from whisper's coarse timings, moved into the actual gap between the words)."""
    frame = SAMPLE_RATE // 100
    n = len(samples) // frame
    x = samples[: n * frame].astype(np.float64).reshape(n, frame)
    db = 10 * np.log10(np.mean(x * x, axis=1) + 1e-9)
    lo, hi = max(0, int((at_s - within_s) * 100)), min(n, int((at_s + within_s) * 100) + 1)
    return (lo + int(np.argmin(db[lo:hi]))) / 100 + 0.005


def insert_pause(samples: np.ndarray, at_s: float, pause_s: float) -> np.ndarray:
    i = int(round(at_s * SAMPLE_RATE))
    return np.concatenate([samples[:i], np.zeros(int(round(pause_s * SAMPLE_RATE)), np.int16), samples[i:]])


def scene(speech: np.ndarray, gain_db: float, noise_dbfs: float | None, seed: int) -> np.ndarray:
    x = np.concatenate([np.zeros(int(BEFORE_S * SAMPLE_RATE)), speech.astype(np.float64) * 10 ** (gain_db / 20),
                        np.zeros(int(AFTER_S * SAMPLE_RATE))])
    if noise_dbfs is not None:
        x += np.random.default_rng(seed).standard_normal(len(x)) * 32768.0 * 10 ** (noise_dbfs / 20)
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


class RecordingTurnEnd(TurnEndModel):
    """Smart Turn that remembers its answers (probability, call time in ms)."""

    def __init__(self, threshold: float) -> None:
        super().__init__(threshold=threshold)
        self.probs: list[float] = []
        self.call_ms: list[float] = []

    def complete(self, samples: np.ndarray) -> bool:
        t = time.perf_counter()
        answer = super().complete(samples)
        self.call_ms.append((time.perf_counter() - t) * 1e3)
        self.probs.append(round(float(self.last_probability), 3))
        return answer


def run_detector(detector: EndOfSpeechDetector, audio: np.ndarray,
                 turn: RecordingTurnEnd | None) -> tuple[str, float | None, list[float]]:
    """Feed ``audio`` after ``start(0)``; (final kind, its time, Smart Turn probabilities)."""
    if turn is not None:
        turn.probs = []
    detector.start(0.0)
    for chunk in iter_chunks(audio):
        update = detector.process(chunk)
        if update.kind not in (EndpointKind.NONE, EndpointKind.SPEECH_STARTED, EndpointKind.PAUSE):
            return update.kind.value, update.audio_time_s, list(turn.probs) if turn else []
    return "none", None, list(turn.probs) if turn else []


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "turn_end.json"))
    parser.add_argument("--quick", action="store_true", help="gain 0 dB, no noise / -50 dBFS only")
    parser.add_argument("--threshold", type=float, default=0.5, help="turn_threshold (default 0.5)")
    args = parser.parse_args(argv)
    gains = (0.0,) if args.quick else GAINS_DB
    noises = (None, -50.0) if args.quick else NOISES_DBFS
    turn = RecordingTurnEnd(args.threshold)
    detectors = {
        "silero": EndOfSpeechDetector(EndpointSettings(vad="silero", turn_model="none")),
        "smart_turn": EndOfSpeechDetector(EndpointSettings(vad="silero", turn_model="smart_turn",
                                                          turn_threshold=args.threshold), turn_end=turn),
    }
    if not turn.available:
        print("Smart Turn model unavailable: pip install --no-deps pipecat-ai==1.14.0", file=sys.stderr)
        return 2

    variants = []  # (clip, label, samples, true_end_s in the clip, None or "complete"/"incomplete" prefix)
    for clip in CLIPS:
        samples = load(clip)
        variants.append((clip, "as recorded", samples, clip.speech_end_s, None))
        for boundary, words, prefix in PAUSE_POINTS[clip.name]:
            gap = quietest_point(samples, boundary)
            for pause in PAUSES_S:
                variants.append((clip, f"{words} | +{pause:.2f}s at {gap:.3f}s", insert_pause(samples, gap, pause),
                                 clip.speech_end_s + pause, prefix))

    rows = []
    t0 = time.perf_counter()
    for v, (clip, label, samples, end_s, paused) in enumerate(variants):
        for gain in gains:
            for k, noise in enumerate(noises):
                audio = scene(samples, gain, noise, seed=100 * v + k)
                true_end = BEFORE_S + end_s
                row = {"clip": clip.name, "variant": label, "mid_pause": paused, "gain_db": gain,
                       "noise_dbfs": noise, "true_end_s": round(true_end, 3)}
                for name, det in detectors.items():
                    kind, at, probs = run_detector(det, audio, turn if name == "smart_turn" else None)
                    row[name] = {"kind": kind, "end_s": at, "error_s": None if at is None else round(at - true_end, 3),
                                 "premature": kind == "end_of_speech" and at is not None and at < true_end,
                                 "probs": probs}
                rows.append(row)
    elapsed = time.perf_counter() - t0

    summary = {}
    for name in detectors:
        for subset, keep in (("all", lambda r: True), ("as_recorded", lambda r: r["mid_pause"] is None),
                             ("pause_after_incomplete", lambda r: r["mid_pause"] == "incomplete"),
                             ("pause_after_complete", lambda r: r["mid_pause"] == "complete")):
            sel = [r for r in rows if keep(r)]
            ok = [r[name]["error_s"] for r in sel if r[name]["kind"] == "end_of_speech" and not r[name]["premature"]]
            summary.setdefault(name, {})[subset] = {
                "scenes": len(sel),
                "premature": sum(r[name]["premature"] for r in sel),
                "no_end": sum(r[name]["kind"] != "end_of_speech" for r in sel),
                "late_s_p50": pct(ok, 50), "late_s_p95": pct(ok, 95), "late_s_max": pct(ok, 100),
            }
    def saved_s(sel: list[dict]) -> list[float]:
        """Silero end - smart_turn end (s) where both ended the turn at or after the true end."""
        return [round(r["silero"]["end_s"] - r["smart_turn"]["end_s"], 3) for r in sel
                if r["silero"]["end_s"] is not None and r["smart_turn"]["end_s"] is not None
                and not r["smart_turn"]["premature"] and not r["silero"]["premature"]]

    saved = saved_s(rows)
    saved_recorded = saved_s([r for r in rows if r["mid_pause"] is None])
    calls = [len(r["smart_turn"]["probs"]) for r in rows]
    result = {
        "what": "end of turn: Silero VAD hangover (0.72 s) vs Smart Turn v3.2 after a 0.2 s pause",
        "settings": {"end_silence_s": 0.72, "short_pause_s": 0.2, "turn_threshold": args.threshold, "chunk_s": 0.08},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "scenes": len(rows), "seconds": round(elapsed, 1),
        "summary": summary,
        "saved_s": {"n": len(saved), "p50": pct(saved, 50), "p95": pct(saved, 95), "min": pct(saved, 0),
                    "mean": round(float(np.mean(saved)), 3) if saved else None},
        "saved_s_as_recorded": {"n": len(saved_recorded), "p50": pct(saved_recorded, 50),
                                "p95": pct(saved_recorded, 95), "min": pct(saved_recorded, 0),
                                "mean": round(float(np.mean(saved_recorded)), 3) if saved_recorded else None},
        "smart_turn_calls_per_scene": {"mean": round(float(np.mean(calls)), 2), "max": int(max(calls))},
        "smart_turn_call_ms": {"p50": pct(turn.call_ms, 50), "p95": pct(turn.call_ms, 95)},
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    head = json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=1)
    body = ",\n".join("  " + json.dumps(r) for r in rows)
    Path(args.out).write_text(head[:-2] + ',\n "rows": [\n' + body + "\n ]\n}\n")

    print(f"{len(rows)} scenes in {elapsed:.1f} s; saved by smart_turn (silero end - smart_turn end, "
          f"both correct): p50 {result['saved_s']['p50']} s, p95 {result['saved_s']['p95']} s, "
          f"mean {result['saved_s']['mean']} s (as recorded: mean {result['saved_s_as_recorded']['mean']} s); "
          f"Smart Turn call p50 {result['smart_turn_call_ms']['p50']} ms")
    print(f"{'detector':<11} {'scenes':<23} {'n':>4} {'premature':>9} {'no end':>6} "
          f"{'late p50':>8} {'late p95':>8} {'late max':>8}")
    for name, subsets in summary.items():
        for subset, s in subsets.items():
            print(f"{name:<11} {subset:<23} {s['scenes']:>4} {s['premature']:>9} {s['no_end']:>6} "
                  f"{s['late_s_p50']!s:>8} {s['late_s_p95']!s:>8} {s['late_s_max']!s:>8}")
    by_variant: dict[tuple[str, str], list[int]] = {}
    for r in rows:
        by_variant.setdefault((r["clip"], r["variant"]), []).append(int(r["smart_turn"]["premature"]))
    print("smart_turn premature cut-offs per clip variant (of gains x noises):")
    for (clip, label), flags in by_variant.items():
        print(f"  {clip:<22} {label:<58} {sum(flags)}/{len(flags)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
