"""Build and start the Ray Serve application from config.

:func:`start_ray` starts (or joins) Ray; :func:`build_app` binds the deployments with the
preset's resources; :func:`deploy` runs the app and waits for it to be ready.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from roomvoice.config import AppConfig, ResourceShare

logger = logging.getLogger(__name__)

SERVICE_NAMES = ("SpeechToText", "LLM", "TextToSpeech", "Assistant")


def _plain(node: Any) -> Any:
    """OmegaConf node → typed dataclass instance (picklable, no OmegaConf inside replicas)."""
    return OmegaConf.to_object(node) if OmegaConf.is_config(node) else node


def _actor_options(share: ResourceShare) -> dict[str, float]:
    return {"num_cpus": float(share.num_cpus), "num_gpus": float(share.num_gpus)}


def logical_cpus_needed(cfg: AppConfig) -> int:
    """Logical Ray CPUs the preset and rooms ask for (models themselves use 1 thread each)."""
    p = cfg.preset
    total = sum(s.num_cpus * s.num_replicas for s in (p.stt, p.llm, p.tts, p.assistant)) + 0.05
    total += sum(r.num_cpus for r in cfg.rooms.values())
    return int(math.ceil(total)) + 1


def start_ray(cfg: AppConfig) -> None:
    """Start a local Ray instance (or connect to ``ray.address``) unless one is running.

    The dashboard is off unless ``ray.dashboard=true``; it binds to ``ray.dashboard_host``
    (127.0.0.1 by default). Logical CPUs default to max(cores, what the config asks).
    """
    import ray

    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {
        "include_dashboard": bool(cfg.ray.dashboard),
        "logging_level": logging.WARNING,
        "log_to_driver": True,
    }
    if cfg.ray.dashboard:
        kwargs.update(dashboard_host=cfg.ray.dashboard_host, dashboard_port=int(cfg.ray.dashboard_port))
    if cfg.ray.address:
        ray.init(address=cfg.ray.address, **kwargs)
        return
    kwargs["num_cpus"] = cfg.ray.num_cpus or max(os.cpu_count() or 1, logical_cpus_needed(cfg))
    if cfg.ray.temp_dir:
        kwargs["_temp_dir"] = os.path.abspath(cfg.ray.temp_dir)
    t0 = time.monotonic()
    ray.init(**kwargs)
    logger.info("Ray started in %.1f s with %s logical CPUs", time.monotonic() - t0, kwargs["num_cpus"])


def household_settings(cfg: AppConfig, store_url: str | None, console: Any):
    """The :class:`~roomvoice.skills.personal.HouseholdSettings` of ``cfg``: its rooms, and the
    cameras and snapshot folder of ``console`` (:func:`~roomvoice.serve.console_backends.console_settings`)."""
    from roomvoice.skills.personal import HouseholdSettings

    return HouseholdSettings(store_url, tuple(r.name for r in cfg.rooms.values()), dict(console.cameras),
                             console.snapshot_dir)


def build_app(cfg: AppConfig, store_url: str):
    """Bind SpeechToText, LLM, TextToSpeech and Assistant behind the VoiceGateway ingress.

    Args:
        cfg: the config.
        store_url: PostgreSQL URL for the gateway (API keys), from :func:`roomvoice.bootstrap.prepare_store`.

    Returns:
        A Serve ``Application`` ready for ``serve.run``.
    """
    from roomvoice.serve.console_backends import console_settings
    from roomvoice.serve.deployments import LLM, Assistant, SpeechToText, TextToSpeech, VoiceGateway

    console = console_settings(cfg)
    p = cfg.preset
    stt = SpeechToText.options(num_replicas=p.stt.num_replicas, ray_actor_options=_actor_options(p.stt))
    llm = LLM.options(num_replicas=p.llm.num_replicas, ray_actor_options=_actor_options(p.llm))
    tts = TextToSpeech.options(num_replicas=p.tts.num_replicas, ray_actor_options=_actor_options(p.tts))
    assistant = Assistant.options(num_replicas=p.assistant.num_replicas,
                                  ray_actor_options=_actor_options(p.assistant))
    llm_app = llm.bind(_plain(cfg.llm))
    return VoiceGateway.bind(
        stt.bind(_plain(cfg.stt)),
        assistant.bind(llm_app, _plain(cfg.assistant), _plain(cfg.llm), _plain(cfg.skills),
                       household_settings(cfg, store_url, console)),
        tts.bind(_plain(cfg.tts)),
        _plain(cfg.api), store_url, [r.name for r in cfg.rooms.values()],
        str(Path(cfg.store.data_dir).resolve() / "chat-journal.jsonl"), int(cfg.assistant.history_turns),
        console=console,
    )


def deploy(cfg: AppConfig, store_url: str):
    """Run the Serve app named ``ray.app_name`` and return its ingress handle.

    With ``api.enabled`` the HTTP proxy listens on ``api.host:api.port`` (127.0.0.1:8000 by default).
    """
    from ray import serve

    # no per-request access log lines: one voice turn makes several calls
    logging_config = {"enable_access_log": False, "log_level": "INFO"}
    if cfg.api.enabled:
        serve.start(proxy_location="HeadOnly", http_options={"host": cfg.api.host, "port": int(cfg.api.port)},
                    logging_config=logging_config)
    else:
        serve.start(proxy_location="Disabled", logging_config=logging_config)
    t0 = time.monotonic()
    handle = serve.run(build_app(cfg, store_url), name=cfg.ray.app_name,
                       route_prefix="/" if cfg.api.enabled else None, logging_config=logging_config)
    logger.info("Serve app %r ready in %.1f s", cfg.ray.app_name, time.monotonic() - t0)
    return handle


def api_url(cfg: AppConfig) -> str | None:
    """Base URL of the OpenAI-compatible API, or None when HTTP is off."""
    if not cfg.api.enabled:
        return None
    host = "127.0.0.1" if cfg.api.host in ("0.0.0.0", "::") else cfg.api.host
    return f"http://{host}:{cfg.api.port}/v1"


def console_url(cfg: AppConfig) -> str | None:
    """URL of the Gradio console (same port as the API), or None when HTTP or the console is off."""
    base = api_url(cfg)
    if base is None or not getattr(cfg.api, "console", True):
        return None
    return base[: -len("/v1")] + "/console/"
