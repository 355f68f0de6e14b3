"""Benchmark: speech-to-text engines on real speech and short home commands (WER, latency, memory).

Engines (each in its own subprocess, one after another, built by
:func:`roomvoice.serve.factory.build_stt_engine` from the composed config, 1 CPU thread,
``OMP_NUM_THREADS=1`` as under Ray):

* ``whisper-tiny.en-beam5``: faster-whisper tiny.en int8, beam 5 — the cpu preset's default;
* ``whisper-tiny.en-beam1``: the same, greedy;
* ``moonshine-base``: Moonshine base English on onnxruntime (``stt=moonshine_base``), greedy,
  running the ``.onnx`` files the engine converts from the wheel's ``.ort`` files (the
  default); the worker gets a fresh ``$ROOMVOICE_CACHE``, so ``load_s`` includes the one-time
  conversion and ``reload_s`` is a second load from the cache;
* ``moonshine-base-ort``: the same engine on the shipped ``.ort`` files (``convert=False``,
  the fallback when conversion fails);
* ``moonshine-tiny``: only when a tiny model directory is given (``--moonshine-tiny DIR``):
  ``moonshine-cpp==0.1.4`` ships base-en only.

Audio:

* real: the bundled CMU ARCTIC a0007 / a0009 and the pyannote phone-call cut
  (``roomvoice/assets/audio``, references from its README), as recorded;
* commands: :data:`COMMANDS`, synthesised with piper and the packaged joe voice
  (:func:`~roomvoice.serve.factory.build_tts_engine`), resampled 22 050 → 16 000 Hz with soxr
  (:func:`~roomvoice.rooms.audio.to_contract`) and padded as the room's end-of-speech detector
  hands them over: ``pre_roll_s`` (0.32 s) before, ``end_silence_s`` (0.72 s) after.

WER: jiwer's corpus WER (all words of a group pooled) after lower-casing, removing punctuation
and writing numerals as words ("10" → "ten"), so "ten minutes" / "10 minutes" both count as
right. Latency: wall seconds per utterance, ``--repeats`` passes after one warm-up pass, p50/p95
over every (utterance, pass). Load: seconds to build the engine. RSS: resident MB of the worker
after the runs, and its growth from just before the model was loaded (imports excluded).

Measured (2 cores shared with other work, load average 2.6 → 2.1; 3 real clips + 16 commands,
3 timed passes; piper's synthesis noise is on, so the command audio differs run to run):

=======================  ========  ========  ================  ================  ===========  ======
engine                   WER real  WER cmds  p50/p95 real (s)  p50/p95 cmds (s)  load s       RSS MB
=======================  ========  ========  ================  ================  ===========  ======
whisper tiny.en beam5    0.000     0.034     0.30 / 0.32       0.29 / 0.38       0.19         176
whisper tiny.en beam1    0.077     0.034     0.29 / 0.35       0.29 / 0.37       0.14         191
moonshine base (.onnx)   0.077     0.000     0.12 / 0.14       0.09 / 0.12       1.58 / 0.61  517
moonshine base (.ort)    0.077     0.000     0.49 / 0.57       0.34 / 0.46       0.14         644
=======================  ========  ========  ================  ================  ===========  ======

Moonshine's load: first load with the one-time ``.ort`` → ``.onnx`` conversion / later loads
from the cache. Both Moonshine rows give the same text for all 19 utterances (pooled WER
0.017 against 0.026 for tiny.en beam 5); the real-speech miss is the phone-call cut ("I'm from
Chicago also."). The converted model is ~3× faster than whisper and ~4× faster than the
``.ort`` files; its RSS is float32 weights folded at load (peak 863 MB during the fold, then
``malloc_trim``), the ``.ort`` row's is ONNX Runtime's arena holding weights dequantised on
every decoder call (see :mod:`roomvoice.serve.engines.moonshine`).

Writes JSON (default ``benchmarks/results/stt_compare.json``) and prints a markdown table.
Other work may share the 2 CPU cores while it runs: the JSON records the load average.

    python benchmarks/stt_compare.py [--repeats 3] [--moonshine-tiny DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import roomvoice

AUDIO = Path(roomvoice.__file__).parent / "assets" / "audio"
RESULTS = Path(__file__).resolve().parent / "results"
REAL = {  # transcripts from roomvoice/assets/audio/README.md
    "arctic_a0007.wav": "and you always want to see it in the superlative degree",
    "arctic_a0009.wav": "He turned sharply and faced Gregson across the table.",
    "phonecall_chicago.wav": "Oh, I'm originally from Chicago also.",
}
COMMANDS = (
    "What time is it?",
    "Turn on the kitchen lights.",
    "Turn off the lights in the office.",
    "Set a timer for ten minutes.",
    "Cancel the timer.",
    "How much time is left on the oven timer?",
    "What's the weather like tomorrow?",
    "Play some jazz in the living room.",
    "Stop.",
    "Remind me to call my sister at six.",
    "Set the thermostat to twenty one degrees.",
    "Add milk and eggs to the shopping list.",
    "Is the front door locked?",
    "Dim the bedroom lights to thirty percent.",
    "Good night.",
    "What's on my calendar today?",
)
ENGINES = ("whisper-tiny.en-beam5", "whisper-tiny.en-beam1", "moonshine-base", "moonshine-base-ort", "moonshine-tiny")
_CONVERT = "moonshine_convert"
"""Worker-only config key (not an ``SttConfig`` field): False builds Moonshine on its ``.ort`` files."""

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> str:
    """English words for 0..999 (``21`` → ``twenty one``); larger numbers stay digits."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + number_words(n % 100))
    return str(n)


def normalise(text: str) -> str:
    """Lower case, numerals as words, ``%`` as "percent", no punctuation, single spaces."""
    text = text.lower().replace("%", " percent")
    text = re.sub(r"\d+", lambda m: f" {number_words(int(m.group()))} ", text)
    return re.sub(r"\s+", " ", re.sub(r"[^a-z' ]", " ", text)).strip()


def stt_configs(moonshine_tiny: str | None) -> dict[str, dict]:
    """Engine name → ``SttConfig`` fields, from the composed config (cpu preset)."""
    from omegaconf import OmegaConf

    from roomvoice.config import load_config

    def stt(*overrides: str) -> dict:
        return OmegaConf.to_container(load_config(["rooms=[kitchen]", *overrides]).stt, resolve=True)

    preset, moonshine = stt(), stt("stt=moonshine_base")
    out = {
        "whisper-tiny.en-beam5": preset,
        "whisper-tiny.en-beam1": {**preset, "beam_size": 1},
        "moonshine-base": moonshine,
        "moonshine-base-ort": {**moonshine, _CONVERT: False},
    }
    if moonshine_tiny:
        out["moonshine-tiny"] = {**moonshine, "model": "tiny.en", "model_path": moonshine_tiny}
    return out


def synthesise_commands() -> tuple[list[np.ndarray], float]:
    """Piper joe-voice commands at 16 kHz, padded as the endpointer hands them over; and load seconds."""
    from roomvoice.config import EndpointConfig, TtsConfig
    from roomvoice.rooms.audio import SAMPLE_RATE, to_contract
    from roomvoice.serve.factory import build_tts_engine

    t0 = time.perf_counter()
    tts = build_tts_engine(TtsConfig())
    load_s = time.perf_counter() - t0
    ep = EndpointConfig()
    before = np.zeros(int(ep.pre_roll_s * SAMPLE_RATE), dtype=np.int16)
    after = np.zeros(int(ep.end_silence_s * SAMPLE_RATE), dtype=np.int16)
    out = []
    for text in COMMANDS:
        speech = np.concatenate([to_contract(a.samples, tts.sample_rate) for a in tts.synthesize(text)])
        out.append(np.concatenate([before, speech, after]))
    return out, load_s


def _rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MB, from /proc."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, kb = line.split()[:2]
            values[key] = int(kb) / 1024
    return values.get("VmRSS:", 0.0), values.get("VmHWM:", 0.0)


def worker(cfg_json: str, clips_npz: str, repeats: int) -> dict:
    """Load one engine, transcribe every clip (1 warm-up pass + ``repeats``); runs in a subprocess."""
    from roomvoice.config import SttConfig
    from roomvoice.serve.factory import build_stt_engine

    fields = json.loads(cfg_json)
    convert = fields.pop(_CONVERT, True)
    cfg = SttConfig(**fields)
    __import__("onnxruntime" if cfg.engine == "moonshine" else "faster_whisper")  # libraries before the model

    def build():
        if convert:
            return build_stt_engine(cfg)
        from roomvoice.serve.engines.models import moonshine_base_en_dir
        from roomvoice.serve.engines.moonshine import MoonshineEngine

        return MoonshineEngine(cfg.model_path or moonshine_base_en_dir(), cpu_threads=cfg.cpu_threads,
                               language=cfg.language, convert=False)

    data = np.load(clips_npz)
    names = sorted(data.files, key=lambda k: int(k.split("_")[0]))
    clips = [data[k] for k in names]
    rss_before, _ = _rss_mb()
    t0 = time.perf_counter()
    engine = build()
    load_s = time.perf_counter() - t0
    texts: list[str] = []
    times: list[list[float]] = [[] for _ in clips]
    for rep in range(repeats + 1):
        for i, clip in enumerate(clips):
            [transcript] = engine.transcribe([clip])
            if rep == 0:
                texts.append(transcript.text)
            else:
                times[i].append(transcript.stt_s)
    rss, peak = _rss_mb()
    name, files = engine.name, [str(f) for f in getattr(engine, "model_files", ())]
    del engine
    t0 = time.perf_counter()
    build()  # a second load: from the conversion cache where there is one
    reload_s = time.perf_counter() - t0
    return {"name": name, "load_s": load_s, "reload_s": reload_s, "rss_mb": rss, "rss_peak_mb": peak,
            "model_rss_mb": rss - rss_before, "model_files": files, "texts": texts, "stt_s": times}


def run_engine(cfg: dict, clips_npz: str, repeats: int, cache: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ROOMVOICE_CACHE": cache}
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(cfg), "--clips", clips_npz, "--repeats", str(repeats)],
        capture_output=True, text=True, env=env, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"worker failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarise(raw: dict, refs: list[str], groups: list[str], audio_s: list[float]) -> dict:
    import jiwer

    out: dict = {k: raw[k] for k in ("name", "load_s", "reload_s", "rss_mb", "rss_peak_mb", "model_rss_mb",
                                     "model_files")}
    for group in ("real", "command", "all"):
        idx = [i for i, g in enumerate(groups) if group in ("all", g)]
        ref = [normalise(refs[i]) for i in idx]
        hyp = [normalise(raw["texts"][i]) for i in idx]
        lat = np.array([t for i in idx for t in raw["stt_s"][i]])
        rtf = np.array([t / audio_s[i] for i in idx for t in raw["stt_s"][i]])
        out[group] = {
            "utterances": len(idx), "wer": jiwer.wer(ref, hyp),
            "exact": sum(r == h for r, h in zip(ref, hyp, strict=True)),
            "latency_s": {"p50": float(np.percentile(lat, 50)), "p95": float(np.percentile(lat, 95)),
                          "mean": float(lat.mean())},
            "rtf_mean": float(rtf.mean()),
        }
    out["utterances"] = [
        {"group": g, "reference": r, "hypothesis": h, "audio_s": a, "stt_s": s}
        for g, r, h, a, s in zip(groups, refs, raw["texts"], audio_s, raw["stt_s"], strict=True)
    ]
    return out


def table(results: dict) -> str:
    lines = [
        "| engine | WER real | WER commands | exact cmds | p50 / p95 real (s) | p50 / p95 commands (s) "
        "| RTF cmds | load / reload (s) | RSS (MB) | model RSS (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, r in results.items():
        if "skipped" in r:
            lines.append(f"| {key} | skipped: {r['skipped']} |||||||||")
            continue
        re_, co = r["real"], r["command"]
        lines.append(
            f"| {key} | {re_['wer']:.3f} | {co['wer']:.3f} | {co['exact']}/{co['utterances']} "
            f"| {re_['latency_s']['p50']:.3f} / {re_['latency_s']['p95']:.3f} "
            f"| {co['latency_s']['p50']:.3f} / {co['latency_s']['p95']:.3f} | {co['rtf_mean']:.3f} "
            f"| {r['load_s']:.2f} / {r['reload_s']:.2f} | {r['rss_mb']:.0f} | {r['model_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed passes after one warm-up pass")
    parser.add_argument("--moonshine-tiny", default=None, help="directory of a Moonshine tiny model (optional)")
    parser.add_argument("--out", default=str(RESULTS / "stt_compare.json"))
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--clips", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.clips, args.repeats)))
        return

    from roomvoice.rooms.audio import SAMPLE_RATE, read_audio_file

    t_start = time.perf_counter()
    load_before = os.getloadavg()
    configs = stt_configs(args.moonshine_tiny)
    commands, tts_load_s = synthesise_commands()
    refs = [*REAL.values(), *COMMANDS]
    groups = ["real"] * len(REAL) + ["command"] * len(COMMANDS)
    clips = [read_audio_file(AUDIO / name).samples for name in REAL] + commands
    audio_s = [len(c) / SAMPLE_RATE for c in clips]
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        npz = str(Path(tmp) / "clips.npz")
        np.savez(npz, **{f"{i}_clip": c for i, c in enumerate(clips)})
        for key in ENGINES:
            if key not in configs:
                results[key] = {"skipped": "moonshine-cpp 0.1.4 ships base-en only (pass --moonshine-tiny DIR)"}
                continue
            print(f"{key} ...", file=sys.stderr, flush=True)
            cache = Path(tmp) / f"cache-{key}"  # empty: the first load converts
            results[key] = summarise(run_engine(configs[key], npz, args.repeats, str(cache)), refs, groups, audio_s)
            results[key]["config"] = configs[key]
    report = {
        "benchmark": "stt_compare",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
                    "note": "2 shared cores: other work may have run at the same time"},
        "repeats": args.repeats,
        "audio": {"real": list(REAL), "commands": list(COMMANDS), "command_padding_s": "pre_roll_s + end_silence_s",
                  "command_audio_s": [round(a, 2) for a, g in zip(audio_s, groups, strict=True) if g == "command"],
                  "tts_load_s": tts_load_s},
        "results": results,
        "wall_s": time.perf_counter() - t_start,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(table(results))
    print(f"\nwrote {args.out} ({report['wall_s']:.0f} s; load average {load_before[0]:.2f} → "
          f"{report['machine']['loadavg_after'][0]:.2f})")


if __name__ == "__main__":
    main()
