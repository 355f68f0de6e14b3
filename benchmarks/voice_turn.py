"""Benchmark: full voice turns through Ray Serve for 1, 2 and 4 concurrent rooms.

Each room plays bundled audio (wake word + real CMU ARCTIC speech / phone-call sentence /
a synthesised "what time is it") from a file source, so rooms run concurrently at full
speed (not paced to real time: a worst case for contention). For every room count it
reports p50/p95 of: wake → end of speech (audio seconds), STT seconds and real-time
factor, LLM time to first token, end of speech → first reply audio, total turn; plus the
resident memory (RSS) of all Ray processes. Writes JSON (default
``benchmarks/results/voice_turn.json``) and prints a table.

    python benchmarks/voice_turn.py --rooms 1 2 4 --turns 4
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

import roomvoice
from roomvoice.config import RoomConfig, SinkConfig, SourceConfig, load_config, validate

AUDIO = Path(roomvoice.__file__).parent / "assets" / "audio"
REQUESTS = ["arctic_a0007.wav", "what_time_is_it.wav", "arctic_a0009.wav", "phonecall_chicago.wav"]


def _pct(values: list[float], q: float) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.percentile(vals, q)) if vals else None


def ray_rss_mb() -> float:
    """Sum of VmRSS (MB) of processes whose command line mentions ray (raylet, gcs, workers, serve)."""
    total_kb = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="ignore")
            if "ray" not in cmd or "voice_turn.py" in cmd:
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024.0


def bench_rooms(cfg, n_rooms: int, turns: int, run_dir: Path) -> dict:
    import ray

    from roomvoice.actors.room_actor import start_room_actor

    paths = []
    for i in range(turns):
        paths += [str(AUDIO / "hey_jarvis.wav"), str(AUDIO / REQUESTS[i % len(REQUESTS)])]
    rooms = {}
    for i in range(n_rooms):
        name = f"bench{n_rooms}_{i}"
        rooms[name] = RoomConfig(name=name, source=SourceConfig(type="file", paths=paths, gap_s=1.2),
                                 sink=SinkConfig(type="wav"))
    t0 = time.monotonic()
    actors = [start_room_actor(r, cfg.ray.app_name, str(run_dir), cfg.assistant.apology) for r in rooms.values()]
    peak_rss = 0.0
    while True:
        statuses = ray.get([a.status.remote() for a in actors])
        peak_rss = max(peak_rss, ray_rss_mb())
        if all(s.done for s in statuses):
            break
        time.sleep(0.5)
    wall = time.monotonic() - t0
    records = [r for a in actors for r in ray.get(a.results.remote())]
    for a in actors:
        ray.kill(a, no_restart=True)
    ok = [r for r in records if not r.get("error")]
    t = lambda key: [r["timings"][key] for r in ok]  # noqa: E731
    llm = [r for r in ok if r["reply_source"] == "llm"]
    out = {
        "rooms": n_rooms, "turns_per_room": turns, "turns": len(records), "errors": len(records) - len(ok),
        "wall_s": wall, "ray_rss_mb_peak": peak_rss,
        "fast_path_turns": sum(1 for r in ok if r["reply_source"] == "fast_path"),
    }
    metrics = {
        "wake_to_end_of_speech_s": t("wake_to_end_of_speech_s"),
        "stt_s": t("stt_s"),
        "stt_rtf": t("stt_rtf"),
        "llm_first_token_s": [r["timings"]["llm_first_token_s"] for r in llm],
        "end_of_speech_to_first_audio_s": t("end_of_speech_to_first_audio_s"),
        "end_of_speech_to_first_audio_llm_s": [r["timings"]["end_of_speech_to_first_audio_s"] for r in llm],
        "first_sentence_s": t("first_sentence_s"),
        "tts_first_audio_s": t("tts_first_audio_s"),
        "total_turn_s": t("total_s"),
    }
    for k, v in metrics.items():
        out[k] = {"p50": _pct(v, 50), "p95": _pct(v, 95), "n": len([x for x in v if x is not None])}
    out["transcripts"] = sorted({r["transcript"] for r in ok})
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rooms", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--turns", type=int, default=4, help="turns per room")
    p.add_argument("--out", default="benchmarks/results/voice_turn.json")
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. llm.max_tokens=48")
    args = p.parse_args(argv)

    import ray
    from ray import serve

    from roomvoice.bootstrap import prepare_store
    from roomvoice.serve.app import deploy, start_ray

    cfg = load_config(["rooms=[kitchen]", *args.overrides])
    # Room actors are added per round; make sure Ray has logical CPUs for the largest round.
    cfg.rooms = {f"r{i}": OmegaConf.structured(RoomConfig(name=f"r{i}", source=cfg.rooms.kitchen.source))
                 for i in range(max(args.rooms))}
    validate(cfg)
    run_dir = Path("runs") / f"bench-{time.strftime('%Y%m%d-%H%M%S')}"
    t0 = time.monotonic()
    store = prepare_store(cfg)
    t0 = time.monotonic()
    start_ray(cfg)
    t_ray = time.monotonic() - t0
    deploy(cfg, store.url)
    t_deploy = time.monotonic() - t0 - t_ray
    idle_rss = ray_rss_mb()
    results = []
    try:
        for n in args.rooms:
            r = bench_rooms(cfg, n, args.turns, run_dir)
            results.append(r)
            e2a = r["end_of_speech_to_first_audio_s"]
            print(f"{n} room(s): {r['turns']} turns ({r['errors']} errors) in {r['wall_s']:.1f} s; "
                  f"EoS->first audio p50 {e2a['p50']:.2f} s p95 {e2a['p95']:.2f} s; "
                  f"STT p50 {r['stt_s']['p50']:.2f} s (RTF {r['stt_rtf']['p50']:.3f}); "
                  f"LLM TTFT p50 {r['llm_first_token_s']['p50'] or 0:.2f} s; "
                  f"turn p50 {r['total_turn_s']['p50']:.2f} s; Ray RSS peak {r['ray_rss_mb_peak']:.0f} MB",
                  flush=True)
    finally:
        serve.shutdown()
        ray.shutdown()
    report = {
        "benchmark": "voice_turn",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
                    "processor": platform.processor() or platform.machine()},
        "preset": cfg.preset.name, "stt": cfg.stt.model, "llm": cfg.llm.model, "tts": cfg.tts.voice,
        "llm_max_tokens": cfg.llm.max_tokens,
        "ray_start_s": t_ray, "serve_deploy_s": t_deploy, "ray_rss_mb_idle": idle_rss,
        "results": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
