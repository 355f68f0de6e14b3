"""Benchmark: N concurrent chat users x M turns over loopback HTTP against the real Serve app.

Starts Ray, the embedded PostgreSQL (in a fresh temporary data directory) and the roomvoice
Serve app with its HTTP proxy on 127.0.0.1, creates N users with API keys, then every user
concurrently opens a conversation and sends M messages through
``POST /api/conversations/{id}/messages`` with streaming (server-sent events). Every request
goes to 127.0.0.1 only, and the run is bounded (N x M requests, each with a timeout).

Reports p50/p95 of request latency (send → last delta) and time to first token (send → first
delta), throughput (completed turns per second and streamed characters per second), and the
count of lost or duplicated messages: afterwards each conversation's stored history is read
from PostgreSQL and compared with exactly what was sent and received (must be 0). Writes
JSON (default ``benchmarks/results/chat_load.json``).

    python benchmarks/chat_load.py --users 10 --turns 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

from roomvoice.config import load_config

PROMPTS = [
    "What time is it?",  # fast path
    "Name a colour of the sky.",
    "Give me one word for happy.",
    "What day is it?",  # fast path
    "Say something about cats.",
]


def _pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


async def one_user(client: httpx.AsyncClient, key: str, user_no: int, turns: int) -> dict:
    """One user's conversation; returns what was sent/received and the timings."""
    headers = {"Authorization": f"Bearer {key}"}
    r = await client.post("/api/conversations", json={"title": f"load user {user_no}"}, headers=headers)
    r.raise_for_status()
    cid = r.json()["id"]
    sent, received, latency, ttft, errors = [], [], [], [], []
    for turn in range(turns):
        # the tag keeps every message unique (for the lost/duplicated count) without home words
        text = f"{PROMPTS[(user_no + turn) % len(PROMPTS)]} (user {user_no}, message {turn})"
        t0 = time.perf_counter()
        first = None
        parts: list[str] = []
        async with client.stream("POST", f"/api/conversations/{cid}/messages", headers=headers,
                                 json={"content": text, "stream": True}) as resp:
            if resp.status_code != 200:
                errors.append(f"HTTP {resp.status_code}: {(await resp.aread())[:200]!r}")
                sent.append(text)
                continue
            async for line in resp.aiter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data == "[DONE]":
                    break
                event = json.loads(data)
                if "error" in event:
                    errors.append(event["error"]["code"])
                    break
                if first is None:
                    first = time.perf_counter() - t0
                parts.append(event["delta"])
        sent.append(text)
        received.append("".join(parts).strip())
        latency.append(time.perf_counter() - t0)
        if first is not None:
            ttft.append(first)
    return {"cid": cid, "sent": sent, "received": received, "latency": latency, "ttft": ttft, "errors": errors}


def check_history(db, result: dict) -> tuple[int, int]:
    """(lost, duplicated) messages of one conversation, comparing PostgreSQL with what was exchanged."""
    with db.connection() as conn:
        rows = conn.execute("SELECT role, content FROM messages WHERE conversation_id = %s ORDER BY id",
                            (result["cid"],)).fetchall()
    expected = []
    for i, text in enumerate(result["sent"]):
        expected.append(("user", text))
        if i < len(result["received"]) and result["received"][i]:
            expected.append(("assistant", result["received"][i]))
    stored = Counter(tuple(r) for r in rows)
    wanted = Counter(expected)
    lost = sum(max(0, n - stored[m]) for m, n in wanted.items())
    duplicated = sum(max(0, n - wanted[m]) for m, n in stored.items())
    return lost, duplicated


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=10)
    p.add_argument("--turns", type=int, default=3, help="messages per user")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--out", default="benchmarks/results/chat_load.json")
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. llm.max_tokens=32")
    args = p.parse_args(argv)
    if not (1 <= args.users <= 200 and 1 <= args.turns <= 50):
        p.error("--users must be 1..200 and --turns 1..50")

    import ray
    from ray import serve

    from roomvoice.bootstrap import prepare_store
    from roomvoice.serve.app import deploy, start_ray
    from roomvoice.store.credentials import ApiKeyStore
    from roomvoice.store.db import Database
    from roomvoice.store.users import UserStore

    data_dir = Path(tempfile.mkdtemp(prefix="roomvoice-chat-load-"))
    data_dir.chmod(0o755)
    cfg = load_config(["rooms=[kitchen]", "llm.max_tokens=24", f"api.port={args.port}",
                       f"store.data_dir={data_dir}", *args.overrides])
    store = prepare_store(cfg)
    db = Database(store.url)
    users, keys = UserStore(db, bcrypt_rounds=4), ApiKeyStore(db)
    api_keys = [keys.create(users.create_user(f"load{i}", "load test password", "member"), "load").key
                for i in range(args.users)]
    start_ray(cfg)
    t0 = time.monotonic()
    deploy(cfg, store.url)
    deploy_s = time.monotonic() - t0

    async def everyone() -> list[dict]:
        limits = httpx.Limits(max_connections=args.users + 4)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{args.port}", timeout=180, limits=limits) as c:
            return await asyncio.gather(*(one_user(c, k, i, args.turns) for i, k in enumerate(api_keys)))

    try:
        t0 = time.monotonic()
        results = asyncio.run(everyone())
        wall = time.monotonic() - t0
        time.sleep(1.0)  # let the gateway's last writes land
        lost = duplicated = 0
        for r in results:
            lo, du = check_history(db, r)
            lost, duplicated = lost + lo, duplicated + du
    finally:
        serve.shutdown()
        ray.shutdown()
        db.close()
    latency = [x for r in results for x in r["latency"]]
    ttft = [x for r in results for x in r["ttft"]]
    errors = [e for r in results for e in r["errors"]]
    chars = sum(len(t) for r in results for t in r["received"])
    report = {
        "benchmark": "chat_load",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0]},
        "users": args.users, "turns_per_user": args.turns, "llm": cfg.llm.model, "llm_max_tokens": cfg.llm.max_tokens,
        "serve_deploy_s": deploy_s, "wall_s": wall,
        "turns_completed": len(latency), "errors": len(errors), "error_codes": sorted(set(errors)),
        "latency_s": {"p50": _pct(latency, 50), "p95": _pct(latency, 95), "mean": statistics.fmean(latency)},
        "ttft_s": {"p50": _pct(ttft, 50), "p95": _pct(ttft, 95)},
        "throughput_turns_per_s": len(latency) / wall, "throughput_chars_per_s": chars / wall,
        "lost_messages": lost, "duplicated_messages": duplicated,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"{args.users} users x {args.turns} turns: {len(latency)} turns in {wall:.1f} s "
          f"({report['throughput_turns_per_s']:.2f} turns/s), latency p50 {report['latency_s']['p50']:.2f} s "
          f"p95 {report['latency_s']['p95']:.2f} s, TTFT p50 {report['ttft_s']['p50']:.2f} s "
          f"p95 {report['ttft_s']['p95']:.2f} s, errors {len(errors)}, lost {lost}, duplicated {duplicated}")
    print(f"wrote {out}")
    return 0 if lost == 0 and duplicated == 0 and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
