"""The main job: Ray, the Serve app and one actor per configured room.

:func:`run` starts everything, supervises the rooms (an actor that crashes is restarted
by Ray and resumes where it was), and — when every room reads from files — returns once
the rooms have consumed their audio. Live rooms (microphones) run until interrupted.
Results go to ``<run_dir>/turns.jsonl`` (one JSON record per turn, all rooms).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from roomvoice.config import AppConfig, to_yaml
from roomvoice.events import RoomStatus

logger = logging.getLogger(__name__)

HOUSE_START_S = 8.0
"""Seconds (plus 2 per room) after which the real-time file sources of a run start playing together
(room actors load their wake word and VAD models first)."""


@dataclass(frozen=True)
class RunResult:
    """What a run produced.

    Attributes:
        run_dir: the run directory.
        turns: JSON turn records of all rooms, ordered by start time.
        statuses: final status of each room.
        wall_s: seconds from start of Ray to the end of the run.
        api_url: base URL of the OpenAI-compatible API (None when HTTP is off).
        credentials_file: first-run admin credentials, when this run created them.
    """

    run_dir: Path
    turns: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[RoomStatus] = field(default_factory=list)
    wall_s: float = 0.0
    api_url: str | None = None
    credentials_file: Path | None = None


def _poll(actors: dict[str, Any], timeout_s: float = 5.0) -> dict[str, RoomStatus | None]:
    import ray
    from ray.exceptions import GetTimeoutError, RayActorError

    out: dict[str, RoomStatus | None] = {}
    for name, actor in actors.items():
        try:
            out[name] = ray.get(actor.status.remote(), timeout=timeout_s)
        except (RayActorError, GetTimeoutError):  # restarting after a crash, or busy
            out[name] = None
    return out


def run(cfg: AppConfig, *, poll_s: float = 1.0, max_wall_s: float | None = None,
        shutdown: bool = True, deploy_app: bool = True) -> RunResult:
    """Run roomvoice with ``cfg``.

    Args:
        cfg: validated config (:func:`roomvoice.config.load_config`).
        poll_s: seconds between status polls of the room actors.
        max_wall_s: stop after this many seconds (None = until done or interrupted).
        shutdown: stop Serve and Ray at the end.
        deploy_app: deploy the Serve app (False reuses one already running, e.g. in tests).

    Returns:
        :class:`RunResult`. KeyboardInterrupt stops the rooms cleanly and still returns.
    """
    import ray
    from ray import serve

    from roomvoice.actors.room_actor import room_options, start_room_actor
    from roomvoice.bootstrap import prepare_store
    from roomvoice.serve.app import api_url, console_url, deploy, start_ray

    t0 = time.monotonic()
    run_dir = Path(cfg.run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(to_yaml(cfg))
    store = prepare_store(cfg)
    start_ray(cfg)
    actors: dict[str, Any] = {}
    arbiter = None
    statuses: dict[str, RoomStatus | None] = {}
    try:
        if deploy_app:
            deploy(cfg, store.url)
        if cfg.api.enabled:
            logger.info("HTTP API (OpenAI-compatible): %s", api_url(cfg))
        if console_url(cfg):
            logger.info("console: %s", console_url(cfg))
        if deploy_app:
            from roomvoice.serve.supervisor import start_supervisor

            start_supervisor(cfg, store.url)  # switches presets for the console (redeploys Serve)
        arbiter_name = None
        if cfg.arbiter.enabled:
            from roomvoice.actors.arbiter import DEFAULT_NAME, start_wake_arbiter

            arbiter, arbiter_name = start_wake_arbiter(cfg.arbiter), DEFAULT_NAME  # held for the whole run
        house_start = time.time() + HOUSE_START_S + 2.0 * len(cfg.rooms)
        for room in cfg.rooms.values():
            plain = OmegaConf.to_object(room) if OmegaConf.is_config(room) else room
            if plain.source.type == "file" and plain.source.realtime and plain.source.start_at is None:
                plain.source.start_at = house_start  # simulated rooms hear one timeline, once all are up
            actors[room.name] = start_room_actor(plain, cfg.ray.app_name, str(run_dir), cfg.assistant.apology,
                                                 store.url, options=room_options(plain, cfg),
                                                 arbiter_name=arbiter_name, arbiter_timeout_s=cfg.arbiter.timeout_s)
            logger.info("room %s started (%s source)", room.name, room.source.type)
        finite = all(r.source.type == "file" for r in cfg.rooms.values())
        last_states: dict[str, str] = {}
        while True:
            statuses = _poll(actors)
            for name, st in statuses.items():
                if st is not None and last_states.get(name) != st.state.value:
                    last_states[name] = st.state.value
                    logger.info("room %s: %s (turns %d)", name, st.state.value, st.turns)
            if finite and cfg.wait_for_rooms and all(s is not None and s.done for s in statuses.values()):
                break
            if max_wall_s is not None and time.monotonic() - t0 > max_wall_s:
                logger.warning("stopping after %.0f s (max_wall_s)", max_wall_s)
                break
            time.sleep(poll_s)
    except KeyboardInterrupt:
        logger.info("interrupted: stopping rooms")
    finally:
        turns: list[dict[str, Any]] = []
        for name, actor in actors.items():
            try:
                ray.get(actor.stop.remote(), timeout=60)
                turns += ray.get(actor.results.remote(), timeout=30)
            except Exception as exc:  # a room that cannot answer must not lose the others' results
                logger.error("room %s: could not collect results (%s)", name, exc)
        turns.sort(key=lambda r: (r["timings"]["started_at"], r["room"]))
        with open(run_dir / "turns.jsonl", "w", encoding="utf-8") as f:
            for record in turns:
                f.write(json.dumps(record) + "\n")
        final = [s for s in statuses.values() if s is not None]
        if shutdown:
            for actor in actors.values():
                ray.kill(actor, no_restart=True)
            if arbiter is not None:
                ray.kill(arbiter, no_restart=True)
            serve.shutdown()
            ray.shutdown()
    return RunResult(run_dir, turns, final, time.monotonic() - t0, api_url(cfg), store.credentials_file)


def summarize(result: RunResult) -> str:
    """A short human-readable summary of a run (one block per turn)."""
    lines = [f"roomvoice run: {len(result.turns)} turns in {result.wall_s:.1f} s -> {result.run_dir}"]
    if result.api_url:
        lines.append(f"HTTP API (OpenAI-compatible) was served at {result.api_url}")
        lines.append(f"console was served at {result.api_url[: -len('/v1')]}/console/")
    if result.credentials_file:
        lines.append(f"first run: admin password and API key written to {result.credentials_file}")
    for r in result.turns:
        t = r["timings"]
        head = f"[{r['room']} #{r['turn']}]"
        if r.get("error"):
            lines.append(f"{head} ERROR {r['error']['code']}: {r['error']['message']} -> said {r['reply']!r}")
            continue
        lines.append(f"{head} heard: {r['transcript']!r}")
        lines.append(f"{' ' * len(head)} reply ({r['reply_source']}): {r['reply']!r}")
        ttft = t.get("llm_first_token_s")
        lines.append(
            f"{' ' * len(head)} STT {t['stt_s']:.2f} s (RTF {t['stt_rtf']:.2f})"
            + (f", LLM first token {ttft:.2f} s" if ttft is not None else "")
            + f", end of speech -> first audio {t['end_of_speech_to_first_audio_s']:.2f} s"
            + f", turn {t['total_s']:.2f} s; audio: {r.get('reply_audio')}"
        )
    return "\n".join(lines)
