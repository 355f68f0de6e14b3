"""Switching the hardware preset of a running app: compose, validate, redeploy the Serve app.

:func:`config_for_preset` composes the new preset with Hydra's compose API and takes from it
what a preset decides (``preset``, ``stt``, ``llm``, ``tts``), keeping everything else of the
running config (rooms, store, API, Ray). :class:`Supervisor` is a small Ray actor started by the
runner (:func:`start_supervisor`) that redeploys the Serve app under the same name with
``serve.run``: Serve replaces the deployments in place, and the room actors keep running (they
look deployments up by name for each call). The redeploy runs on the supervisor, never inside the
gateway replica that asked for it (that replica is itself replaced by the redeploy); ``switch``
returns as soon as the new config validates and the redeploy has started.

:class:`SupervisorPresetSwitcher` is the console's
:class:`~roomvoice.serve.console_backends.PresetSwitcher` over that actor.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from roomvoice.errors import ConfigError, RoomVoiceError, as_roomvoice_error

logger = logging.getLogger(__name__)

PRESET_GROUPS = ("preset", "stt", "llm", "tts")
"""The parts of the config a preset decides; the rest of the running config is kept."""
_MODEL_KEYS = {"stt": ("model", "device", "compute_type"), "llm": ("engine", "model"), "tts": ("voice",)}
"""The keys that say which model a group runs: when a preset changes none of them, the running
group (with its overrides) is kept."""


def config_for_preset(cfg: Any, preset: str) -> Any:
    """The running config ``cfg`` with another preset, validated.

    Args:
        cfg: the running :class:`~roomvoice.config.AppConfig` (OmegaConf or plain dataclass).
        preset: a preset name (``roomvoice/conf/preset/<name>.yaml``).

    Returns:
        the new config (OmegaConf, read-write).

    Raises:
        ConfigError: ``config-invalid`` for an unknown preset or one that does not validate here
            (e.g. ``llm.engine: 'vllm' is not available in this version`` for the GPU presets).
    """
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from roomvoice.config import CONF_MODULE, AppConfig, register, validate

    if not preset or not all(c.isalnum() or c in "_-" for c in preset):
        raise ConfigError("config-invalid", f"preset: {preset!r} is not a preset name")
    register()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONF_MODULE, version_base=None):
            fresh = compose(config_name="config", overrides=[f"preset={preset}"])
        OmegaConf.resolve(fresh)
        merged = OmegaConf.structured(AppConfig)
        merged = OmegaConf.merge(merged, cfg if OmegaConf.is_config(cfg) else OmegaConf.structured(cfg))
        merged["preset"] = fresh["preset"]
        for group, keys in _MODEL_KEYS.items():
            # a preset that picks other models replaces the group; one that keeps them keeps the
            # running group with its command-line overrides (llm.max_tokens=...)
            if any(fresh[group].get(k) != merged[group].get(k) for k in keys):
                merged[group] = fresh[group]
    except (HydraException, OmegaConfBaseException) as exc:
        text = str(exc).split("Config search path")[0]
        first = " ".join(line.strip() for line in text.splitlines() if line.strip())
        raise ConfigError("config-invalid", f"preset {preset!r}: {first}") from exc
    finally:
        GlobalHydra.instance().clear()
    return validate(merged)


@dataclass(frozen=True)
class SwitchState:
    """Where the last preset switch stands.

    Attributes:
        preset: the preset now deployed (or being deployed when ``busy``).
        busy: a redeploy is running.
        message: what happened last, for people.
        finished_at: Unix time the last redeploy ended (0 if none yet).
    """

    preset: str
    busy: bool
    message: str
    finished_at: float = 0.0


class PresetController:
    """Preset switching without Ray: validate, then run ``redeploy(new_cfg)`` on a thread.

    Args:
        cfg: the running config.
        redeploy: deploys a config (the Serve app in :class:`Supervisor`; a recorder in tests).
    """

    def __init__(self, cfg: Any, redeploy: Callable[[Any], None]) -> None:
        self.cfg = cfg
        self._redeploy = redeploy
        self._lock = threading.Lock()
        self._state = SwitchState(cfg.preset.name, False, f"running preset {cfg.preset.name!r}")
        self._thread: threading.Thread | None = None

    def state(self) -> SwitchState:
        """The current :class:`SwitchState`."""
        return self._state

    def switch(self, preset: str) -> str:
        """Start switching to ``preset``; returns a message at once.

        Raises:
            ConfigError: the preset does not compose or validate (nothing changes).
            RoomVoiceError: ``preset-switch-busy`` while another switch runs.
        """
        new_cfg = config_for_preset(self.cfg, preset)
        with self._lock:
            if self._state.busy:
                raise RoomVoiceError("preset-switch-busy", f"already switching to {self._state.preset!r}; wait")
            if preset == self.cfg.preset.name:
                return f"preset {preset!r} is already active"
            self._state = SwitchState(preset, True, f"switching to {preset!r}")
            self._thread = threading.Thread(target=self._run, args=(new_cfg,), name="preset-switch", daemon=True)
            self._thread.start()
        return (f"switching to preset {preset!r}: the services are being redeployed (rooms keep running); "
                "reload the console in a minute")

    def _run(self, new_cfg: Any) -> None:
        t0 = time.monotonic()
        try:
            self._redeploy(new_cfg)
        except Exception as exc:  # reported through state(); the old app stays if serve.run failed
            err = as_roomvoice_error(exc, RoomVoiceError, "preset-switch-failed")
            logger.error("preset switch to %s failed: %s", new_cfg.preset.name, err.message)
            self._state = SwitchState(self.cfg.preset.name, False, f"switch failed: {err.message}", time.time())
            return
        self.cfg = new_cfg
        logger.info("preset %s deployed in %.1f s", new_cfg.preset.name, time.monotonic() - t0)
        self._state = SwitchState(new_cfg.preset.name, False, f"preset {new_cfg.preset.name!r} is active", time.time())

    def wait(self, timeout_s: float | None = None) -> SwitchState:
        """Block until the running switch (if any) ends; returns the state."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
        return self._state


def serve_redeploy(store_url: str) -> Callable[[Any], None]:
    """A ``redeploy`` that re-runs the Serve app named ``cfg.ray.app_name`` with ``cfg``."""

    def redeploy(cfg: Any) -> None:
        from ray import serve

        from roomvoice.serve.app import build_app

        logging_config = {"enable_access_log": False, "log_level": "INFO"}
        serve.run(build_app(cfg, store_url), name=cfg.ray.app_name,
                  route_prefix="/" if cfg.api.enabled else None, logging_config=logging_config)

    return redeploy


def _supervisor_class():
    import ray

    @ray.remote(num_cpus=0, max_concurrency=4)
    class Supervisor:
        """Ray actor owning preset switches of one Serve app (see the module docstring)."""

        def __init__(self, cfg: Any, store_url: str) -> None:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
            self.controller = PresetController(cfg, serve_redeploy(store_url))

        def switch(self, preset: str) -> str:
            return self.controller.switch(preset)

        def state(self) -> SwitchState:
            return self.controller.state()

        def wait(self, timeout_s: float | None = None) -> SwitchState:
            return self.controller.wait(timeout_s)

    return Supervisor


def start_supervisor(cfg: Any, store_url: str) -> Any:
    """Start the named supervisor actor of ``cfg.ray.app_name`` (replacing a stale one). Returns its handle."""
    import ray
    from omegaconf import OmegaConf

    from roomvoice.serve.console_backends import supervisor_name

    name = supervisor_name(cfg.ray.app_name)
    try:
        ray.kill(ray.get_actor(name), no_restart=True)
    except ValueError:
        pass
    plain = OmegaConf.to_object(cfg) if OmegaConf.is_config(cfg) else cfg
    return _supervisor_class().options(name=name, lifetime=None).remote(plain, store_url)


class SupervisorPresetSwitcher:
    """:class:`~roomvoice.serve.console_backends.PresetSwitcher` over the named supervisor actor.

    Args:
        name: the actor's name (:func:`~roomvoice.serve.console_backends.supervisor_name`).
        timeout_s: seconds to wait for its answer (it validates and answers at once).
    """

    def __init__(self, name: str, timeout_s: float = 60.0) -> None:
        self.name, self.timeout_s = name, timeout_s

    def switch(self, preset: str) -> str:
        """Ask the supervisor to switch. Raises the supervisor's coded error (``ConfigError``...)."""
        import ray

        try:
            actor = ray.get_actor(self.name)
        except ValueError:
            raise RoomVoiceError("preset-switch-unavailable",
                                 "the preset supervisor is not running (start roomvoice with `roomvoice run`)") from None
        try:
            return ray.get(actor.switch.remote(preset), timeout=self.timeout_s)
        except Exception as exc:
            raise as_roomvoice_error(exc, RoomVoiceError, "preset-switch-failed") from exc
