"""Benchmark: acoustic echo cancellation backends on simulated room audio.

Compares, on the same scenes built with :mod:`roomvoice.rooms.acoustics` (the room plays
piper speech that leaks back into its microphone; a talker may speak at the same time):

* ``none``: the raw microphone (no AEC) — the baseline for the wake word results;
* ``pywebrtc-audio``: :class:`roomvoice.rooms.echo.EchoCanceller` (WebRTC AEC3 through
  ``pywebrtc-audio==0.2.0``), what roomvoice uses;
* ``livekit``: ``livekit.rtc.AudioProcessingModule(echo_cancellation=True)`` from
  ``livekit==1.2.0`` (also WebRTC's audio processing module, through LiveKit's Rust FFI),
  per 10 ms frame ``process_reverse_stream(far)`` then ``process_stream(near)``. Not a
  roomvoice dependency: skipped when it is not installed (``pip install livekit==1.2.0``).

Measured, for a dry echo path (pure delay and gain) and a reverberant one (RT60 0.3 s):

* ERLE: echo return loss enhancement in dB on echo only (mic level - cleaned level over
  the playback), overall and after the first second (converged); no noise;
* double talk: level change (dB) of a near talker (CMU ARCTIC a0009, a real voice) through
  the canceller while the reply plays, and while nothing plays;
* CPU: wall and thread-CPU milliseconds per 80 ms chunk;
* false wakes: trials where the room's own playback of piper saying "hey jarvis"
  (several texts and speaking rates, echo gains 0/-6/-12 dB) wakes ``hey_jarvis``; each
  trial starts with a fresh canceller (worst case: not yet converged);
* near-talker wake during playback: trials (talker gains 0/-6/-12 dB, several placements
  across a reply) where a talker's ``hey_jarvis.wav`` is detected while the reply plays.

Writes JSON (default ``benchmarks/results/aec_compare.json``) and prints a table.

    python benchmarks/aec_compare.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

import roomvoice
from roomvoice.rooms.acoustics import RoomAcoustics
from roomvoice.rooms.simulated_house import SimulatedHouse, play_while_listening
from roomvoice.rooms.audio import SAMPLE_RATE, AudioChunk, read_audio_file, rms_dbfs, to_contract

AUDIO = Path(roomvoice.__file__).parent / "assets" / "audio"
ECHO_DELAY_S = 0.03
NOISE_DBFS = -60.0
REPLY = ("It is twenty past four in the afternoon, and the oven timer has six minutes left. "
         "Tomorrow will be sunny with a light breeze.")
WAKE_TEXTS = ("Hey Jarvis, hey Jarvis. Hey Jarvis.", "Hey, Jarvis.", "Hey Jarvis, what time is it?")
WAKE_RATES = (1.0, 1.15)
ECHO_GAINS_DB = (0.0, -6.0, -12.0)
TALKER_GAINS_DB = (0.0, -6.0, -12.0)
RT60S = (0.0, 0.3)
NEAR_WAKE_OFFSETS_S = (1.0, 1.75, 2.5, 3.25, 4.0, 4.75, 5.5)
"""Where the talker's "hey jarvis" starts, seconds into the reply."""
NEAR_MISS = 0.4
"""A peak wake score at or above this (threshold 0.5) counts as a near miss."""


class LiveKitCanceller:
    """livekit's WebRTC audio processing module with only echo cancellation on, per 10 ms frame."""

    def __init__(self, stream_delay_ms: int = 0) -> None:
        from livekit import rtc

        self._rtc = rtc
        self._apm = rtc.AudioProcessingModule(echo_cancellation=True)
        self._delay = int(stream_delay_ms)

    def process(self, near: AudioChunk, far: AudioChunk | None) -> AudioChunk:
        rtc = self._rtc
        x = np.asarray(near.samples)
        f = np.zeros_like(x) if far is None else np.asarray(far.samples)
        out = np.empty_like(x)
        for i in range(0, len(x), 160):
            ref = rtc.AudioFrame(f[i : i + 160].tobytes(), SAMPLE_RATE, 1, 160)
            self._apm.process_reverse_stream(ref)
            frame = rtc.AudioFrame(x[i : i + 160].tobytes(), SAMPLE_RATE, 1, 160)
            self._apm.set_stream_delay_ms(self._delay)  # "must be called if echo processing is enabled"
            self._apm.process_stream(frame)
            out[i : i + 160] = np.frombuffer(frame.data, dtype=np.int16)
        return AudioChunk(out, near.rate, near.start_s)


def backends() -> dict[str, Callable[[], object] | None]:
    """Name -> factory of a fresh canceller (None = no AEC); livekit only when installed."""
    from roomvoice.rooms.echo import EchoCanceller

    found: dict[str, Callable[[], object] | None] = {"none": None, "pywebrtc-audio": EchoCanceller}
    try:
        import livekit.rtc  # noqa: F401
    except ImportError:
        print("livekit is not installed: skipped (pip install livekit==1.2.0 to compare)", file=sys.stderr)
    else:
        found["livekit"] = LiveKitCanceller
    return found


def speech(tts, text: str) -> np.ndarray:
    """16 kHz int16 piper speech of ``text``."""
    return np.concatenate([to_contract(a.samples, a.rate) for a in tts.synthesize(text)])


def run_scene(room: RoomAcoustics, clips, talk, duration_s: float, make, detector=None) -> dict:
    """Run one room for ``duration_s`` and return its mic/cleaned audio, timings and wakes."""
    house = SimulatedHouse([room], duration_s=duration_s)
    for at_s, samples in talk:
        house.add_utterance(at_s, samples)
    canceller = make() if make is not None else None
    if detector is not None:
        detector.reset()
        detector._last_detection_s = None  # a new stream: no cooldown from the last trial
    mic, out, wall, cpu, wakes, scores = [], [], [], [], [], []
    for near, far in play_while_listening(house.microphone(room.name), clips):
        if canceller is not None:
            w0, c0 = time.perf_counter(), time.thread_time()
            cleaned = canceller.process(near, far)
            wall.append(time.perf_counter() - w0)
            cpu.append(time.thread_time() - c0)
        else:
            cleaned = near
        if detector is not None:
            if detector.process(cleaned) is not None:
                wakes.append(cleaned.end_s)
            scores.append(detector.last_score)
        mic.append(near.samples)
        out.append(cleaned.samples)
    return {"mic": np.concatenate(mic), "out": np.concatenate(out), "wall": wall, "cpu": cpu,
            "wakes": wakes, "max_score": max(scores) if scores else None}


def level(x: np.ndarray, start_s: float, end_s: float) -> float:
    return rms_dbfs(x[int(start_s * SAMPLE_RATE) : int(end_s * SAMPLE_RATE)])


def bench_backend(name: str, make, material: dict, detector) -> dict:
    reply, talker, wake_clips, hey = material["reply"], material["talker"], material["wake_clips"], material["hey"]
    res: dict = {"backend": name, "erle_db": {}, "double_talk": {}, "false_wakes": {}, "near_wake": {}}
    wall, cpu = [], []
    play_at, reply_end = 0.5, 0.5 + len(reply) / SAMPLE_RATE
    for rt in RT60S:
        key = f"rt60_{rt:g}s"
        room = RoomAcoustics("bench", echo_gain_db=-6.0, echo_delay_s=ECHO_DELAY_S, echo_rt60_s=rt)
        r = run_scene(room, [(play_at, reply)], [], reply_end + 0.5, make)
        wall += r["wall"]
        cpu += r["cpu"]
        res["erle_db"][key] = {
            "overall": level(r["mic"], play_at, reply_end) - level(r["out"], play_at, reply_end),
            "after_1s": level(r["mic"], play_at + 1.0, reply_end) - level(r["out"], play_at + 1.0, reply_end),
            "first_80ms": level(r["mic"], play_at, play_at + 0.08) - level(r["out"], play_at, play_at + 0.08),
            "residual_dbfs": level(r["out"], play_at, reply_end),
        }
        # double talk: a real voice at -6 dB starts 2 s into the reply; and the same voice, nothing playing
        t0, t1 = play_at + 2.0, play_at + 2.0 + len(talker) / SAMPLE_RATE
        room = RoomAcoustics("bench", gain_db=-6.0, echo_gain_db=-6.0, echo_delay_s=ECHO_DELAY_S,
                             echo_rt60_s=rt, noise_dbfs=NOISE_DBFS)
        talker_level = rms_dbfs(talker) - 6.0
        dt = run_scene(room, [(play_at, reply)], [(t0, talker)], reply_end + 0.5, make)
        quiet = run_scene(room, [], [(t0, talker)], t1 + 0.5, make)
        res["double_talk"][key] = {
            "talker_dbfs": talker_level,
            "level_change_db_while_playing": level(dt["out"], t0, t1) - talker_level,
            "level_change_db_nothing_playing": level(quiet["out"], t0, t1) - level(quiet["mic"], t0, t1),
        }
    # false wakes from the room's own playback (each trial: its own noise seed, a fresh canceller)
    trials = wakes = near_misses = 0
    peaks = []
    for rt in RT60S:
        for gain in ECHO_GAINS_DB:
            for clip in wake_clips:
                room = RoomAcoustics("bench", echo_gain_db=gain, echo_delay_s=ECHO_DELAY_S, echo_rt60_s=rt,
                                     noise_dbfs=NOISE_DBFS, seed=trials)
                r = run_scene(room, [(0.5, clip)], [], 0.5 + len(clip) / SAMPLE_RATE + 1.0, make, detector)
                trials += 1
                wakes += bool(r["wakes"])
                near_misses += r["max_score"] >= NEAR_MISS
                peaks.append(r["max_score"])
                wall += r["wall"]
                cpu += r["cpu"]
    res["false_wakes"] = {"trials": trials, "trials_with_wake": wakes, f"trials_peak_over_{NEAR_MISS}": near_misses,
                          "max_score": max(peaks), "median_peak": float(np.median(peaks))}
    # a near talker's wake word while the reply plays (echo -6 dB)
    by_gain = {}
    for gain in TALKER_GAINS_DB:
        for rt in RT60S:
            n = hits = 0
            room = RoomAcoustics("bench", gain_db=gain, echo_gain_db=-6.0, echo_delay_s=ECHO_DELAY_S,
                                 echo_rt60_s=rt, noise_dbfs=NOISE_DBFS)
            for off in NEAR_WAKE_OFFSETS_S:
                at = play_at + off
                r = run_scene(room, [(play_at, reply)], [(at, hey)], at + len(hey) / SAMPLE_RATE + 1.0, make, detector)
                n += 1
                hits += any(at < w <= at + len(hey) / SAMPLE_RATE + 0.8 for w in r["wakes"])
            by_gain[f"talker_{gain:g}db_rt60_{rt:g}s"] = {"trials": n, "detected": hits}
    # control: the same talker with nothing playing
    n = hits = 0
    for gain in TALKER_GAINS_DB:
        room = RoomAcoustics("bench", gain_db=gain, noise_dbfs=NOISE_DBFS)
        r = run_scene(room, [], [(1.0, hey)], 3.0, make, detector)
        n += 1
        hits += bool(r["wakes"])
    by_gain["nothing_playing"] = {"trials": n, "detected": hits}
    res["near_wake"] = by_gain
    if wall:
        res["ms_per_chunk"] = {"wall_mean": 1000 * float(np.mean(wall)),
                               "wall_p95": 1000 * float(np.percentile(wall, 95)),
                               "cpu_mean": 1000 * float(np.mean(cpu)), "chunks": len(wall)}
    return res


def load_material() -> dict:
    from roomvoice.serve.engines.models import piper_joe_voice
    from roomvoice.serve.engines.piper import PiperEngine

    model, config = piper_joe_voice()
    tts = PiperEngine(str(model), str(config), noise_scale=0.0, noise_w_scale=0.0)
    wake_clips = [read_audio_file(AUDIO / "hey_jarvis.wav").samples]
    for rate in WAKE_RATES:
        voice = PiperEngine(str(model), str(config), length_scale=rate, noise_scale=0.0, noise_w_scale=0.0)
        wake_clips += [speech(voice, text) for text in WAKE_TEXTS]
    return {
        "reply": speech(tts, REPLY),
        "talker": read_audio_file(AUDIO / "arctic_a0009.wav").samples,
        "hey": read_audio_file(AUDIO / "hey_jarvis.wav").samples,
        "wake_clips": wake_clips,
    }


def print_table(results: Sequence[dict]) -> None:
    print(f"echo delay {ECHO_DELAY_S * 1000:.0f} ms; ERLE and double talk at echo gain -6 dB (double-talk talker "
          f"-6 dB); noise {NOISE_DBFS:g} dBFS in the wake and double-talk scenes; wake threshold 0.5")
    head = (f"{'backend':16s} {'rt60':>5s} {'ERLE':>6s} {'ERLE>1s':>7s} {'1st80ms':>7s} {'DT dB':>6s} "
            f"{'quiet dB':>8s} {'ms/chunk':>8s} {'near wake 0/-6/-12 dB':>22s}")
    print(head)
    print("-" * len(head))
    nan = float("nan")
    for r in results:
        for key in r["erle_db"]:
            e, d = r["erle_db"][key], r["double_talk"][key]
            ms = r.get("ms_per_chunk", {}).get("wall_mean", nan)
            nw = " / ".join(f"{r['near_wake'][f'talker_{g:g}db_{key}']['detected']}/"
                            f"{r['near_wake'][f'talker_{g:g}db_{key}']['trials']}" for g in TALKER_GAINS_DB)
            print(f"{r['backend']:16s} {key.removeprefix('rt60_'):>5s} {e['overall']:6.1f} {e['after_1s']:7.1f} "
                  f"{e['first_80ms']:7.1f} {d['level_change_db_while_playing']:6.1f} "
                  f"{d['level_change_db_nothing_playing']:8.2f} {ms:8.2f} {nw:>22s}")
    print()
    print(f"{'backend':16s} {'self-wakes':>10s} {f'peak>={NEAR_MISS}':>9s} {'max peak':>8s} {'median':>6s} "
          f"{'near wake, nothing playing':>27s}")
    for r in results:
        fw, q = r["false_wakes"], r["near_wake"]["nothing_playing"]
        print(f"{r['backend']:16s} {fw['trials_with_wake']:>4d}/{fw['trials']:<5d} "
              f"{fw[f'trials_peak_over_{NEAR_MISS}']:>9d} {fw['max_score']:8.3f} {fw['median_peak']:6.3f} "
              f"{q['detected']:>23d}/{q['trials']}")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="benchmarks/results/aec_compare.json")
    args = p.parse_args(argv)

    from roomvoice.rooms.wake import WakeWordDetector

    t0 = time.perf_counter()
    material = load_material()
    detector = WakeWordDetector("hey_jarvis", 0.5)
    results = []
    for name, make in backends().items():
        print(f"running {name} ...", file=sys.stderr)
        r = bench_backend(name, make, material, detector)
        results.append(r)
    print_table(results)
    versions = {}
    for pkg in ("pywebrtc-audio", "livekit", "openwakeword", "piper-tts"):
        try:
            from importlib.metadata import version

            versions[pkg] = version(pkg)
        except Exception:  # not installed
            versions[pkg] = None
    report = {
        "benchmark": "aec_compare",
        "machine": {"name": platform.node(), "cpus": os.cpu_count(), "platform": platform.platform(),
                    "processor": platform.processor() or platform.machine(), "python": sys.version.split()[0]},
        "versions": versions,
        "setup": {"echo_delay_s": ECHO_DELAY_S, "echo_gain_db_erle_and_double_talk": -6.0,
                  "echo_gains_db_false_wakes": list(ECHO_GAINS_DB), "talker_gains_db": list(TALKER_GAINS_DB),
                  "rt60_s": list(RT60S), "noise_dbfs": NOISE_DBFS, "reply_text": REPLY,
                  "wake_texts": list(WAKE_TEXTS), "wake_length_scales": list(WAKE_RATES),
                  "wake_threshold": 0.5, "double_talk_talker": "arctic_a0009.wav at -6 dB",
                  "near_wake_talker": "hey_jarvis.wav", "stream_delay_ms": 0},
        "results": results,
        "wall_s": time.perf_counter() - t0,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
