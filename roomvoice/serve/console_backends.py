"""What the console shows besides chat and rooms: cameras, system facts, preset switching.

- :class:`ConsoleSettings`: the static facts of the running config the console needs (picklable,
  built by :func:`console_settings`, passed to the ``VoiceGateway`` replica).
- :class:`LocalCameras`: the rooms' :class:`~roomvoice.rooms.camera.Camera` objects in this
  process, opened on first use.
- :class:`ConfigSystemInfo`: preset, models, Ray resources (read when asked).
- :class:`PresetSwitcher` protocol; :class:`NoPresetSwitcher` when switching is not available.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from roomvoice.errors import CameraError, RoomVoiceError
from roomvoice.rooms.camera import Camera, Frame, PresenceResult, cameras_from_config

logger = logging.getLogger(__name__)

PRESET_DIR = Path(__file__).resolve().parent.parent / "conf" / "preset"


def preset_names() -> tuple[str, ...]:
    """The hardware presets shipped in ``roomvoice/conf/preset`` (sorted)."""
    return tuple(sorted(p.stem for p in PRESET_DIR.glob("*.yaml")))


@dataclass(frozen=True)
class CameraSettings:
    """A room camera as the console opens it: ``source`` (device digits or path), ``fps``, ``detector``."""

    source: str
    fps: float = 2.0
    detector: str = "face"


@dataclass(frozen=True)
class ConsoleSettings:
    """Static facts for the console.

    Attributes:
        preset: active preset name; description: its description.
        stt_model, llm_model, tts_voice: the models of the preset.
        presets: preset names offered for switching.
        dashboard_url: the Ray dashboard, or ``None`` when it is off.
        cameras: room name -> camera, for rooms that have one.
        snapshot_dir: where camera snapshots are written (absolute).
        supervisor: name of the Ray actor that switches presets (``None``: not available).
    """

    preset: str
    description: str = ""
    stt_model: str = ""
    llm_model: str = ""
    tts_voice: str = ""
    presets: tuple[str, ...] = field(default_factory=preset_names)
    dashboard_url: str | None = None
    cameras: dict[str, CameraSettings] = field(default_factory=dict)
    snapshot_dir: str = "data/snapshots"
    supervisor: str | None = None


def supervisor_name(app_name: str) -> str:
    """Name of the preset supervisor actor of a Serve app."""
    return f"{app_name}:supervisor"


def console_settings(cfg: Any) -> ConsoleSettings:
    """:class:`ConsoleSettings` from an :class:`~roomvoice.config.AppConfig`."""
    dashboard = None
    if cfg.ray.dashboard:
        host = "127.0.0.1" if cfg.ray.dashboard_host in ("0.0.0.0", "::") else cfg.ray.dashboard_host
        dashboard = f"http://{host}:{cfg.ray.dashboard_port}"
    cameras = {
        r.name: CameraSettings(str(r.camera.source), float(r.camera.fps), str(r.camera.detector))
        for r in cfg.rooms.values() if getattr(r, "camera", None) is not None and r.camera.source is not None
    }
    return ConsoleSettings(
        preset=cfg.preset.name, description=cfg.preset.description, stt_model=cfg.stt.model,
        llm_model=cfg.llm.model, tts_voice=cfg.tts.voice, dashboard_url=dashboard, cameras=cameras,
        snapshot_dir=str(Path(cfg.store.data_dir).resolve() / "snapshots"),
        supervisor=supervisor_name(cfg.ray.app_name),
    )


# ---------------------------------------------------------------------------------- cameras
class CamerasBackend(Protocol):
    """Room cameras for the console."""

    def names(self) -> list[str]: ...

    async def frame(self, room: str) -> Frame: ...

    async def snapshot(self, room: str) -> Path: ...

    async def presence(self, room: str) -> PresenceResult: ...


class LocalCameras:
    """Cameras opened in this process on first use (the gateway's node on a cluster).

    Args:
        cameras: room name -> not-yet-started :class:`Camera`.
        snapshot_dir: where snapshots go.

    Every method raises :class:`~roomvoice.errors.CameraError` (``camera-unknown-room``,
    ``camera-open-failed``...) with a message for people.
    """

    def __init__(self, cameras: dict[str, Camera], snapshot_dir: str | Path) -> None:
        self.cameras = dict(cameras)
        self.snapshot_dir = Path(snapshot_dir)
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: ConsoleSettings) -> LocalCameras:
        """Cameras of :attr:`ConsoleSettings.cameras` (none opened yet)."""
        return cls(cameras_from_config(settings.cameras), settings.snapshot_dir)

    def names(self) -> list[str]:
        """Rooms that have a camera."""
        return sorted(self.cameras)

    def _started(self, room: str) -> Camera:
        cam = self.cameras.get(room)
        if cam is None:
            raise CameraError("camera-unknown-room", f"room {room!r} has no camera; cameras: "
                              f"{', '.join(self.names()) or 'none'}")
        with self._lock:
            if cam.latest_frame() is None:
                cam.start()
        return cam

    async def frame(self, room: str) -> Frame:
        """The latest frame of the room's camera (opening it on first use)."""
        cam = await asyncio.to_thread(self._started, room)
        frame = cam.latest_frame()
        assert frame is not None
        return frame

    async def snapshot(self, room: str) -> Path:
        """Save the latest frame as JPEG under the snapshot dir; returns the file."""
        cam = await asyncio.to_thread(self._started, room)
        return await asyncio.to_thread(cam.snapshot, self.snapshot_dir)

    async def presence(self, room: str) -> PresenceResult:
        """People in the latest frame."""
        cam = await asyncio.to_thread(self._started, room)
        return await asyncio.to_thread(cam.presence)

    def close(self) -> None:
        """Stop every camera."""
        for cam in self.cameras.values():
            cam.stop()


# ---------------------------------------------------------------------------------- system
@dataclass(frozen=True)
class SystemSnapshot:
    """What the System view shows.

    Attributes:
        preset, description: the active preset.
        models: ``{"stt": ..., "llm": ..., "tts": ...}`` model names.
        presets: presets offered for switching.
        ray: cluster resources as ``{name: (available, total)}``, or ``None`` when not on Ray.
        dashboard_url: Ray dashboard link, or ``None``.
    """

    preset: str
    description: str
    models: dict[str, str]
    presets: tuple[str, ...]
    ray: dict[str, tuple[float, float]] | None
    dashboard_url: str | None


class SystemInfo(Protocol):
    """Facts about the running system."""

    def snapshot(self) -> SystemSnapshot: ...


class ConfigSystemInfo:
    """:class:`SystemInfo` from :class:`ConsoleSettings`; Ray resources are read at each call."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings

    def snapshot(self) -> SystemSnapshot:
        """The current :class:`SystemSnapshot`."""
        s = self.settings
        return SystemSnapshot(s.preset, s.description, {"stt": s.stt_model, "llm": s.llm_model, "tts": s.tts_voice},
                              s.presets, ray_resources(), s.dashboard_url)


def ray_resources() -> dict[str, tuple[float, float]] | None:
    """``{resource: (available, total)}`` of the Ray cluster, or ``None`` when Ray is not initialised."""
    try:
        import ray
    except ImportError:
        return None
    if not ray.is_initialized():
        return None
    total, free = ray.cluster_resources(), ray.available_resources()
    return {k: (float(free.get(k, 0.0)), float(v)) for k, v in sorted(total.items())
            if not k.startswith("node:")}


# ---------------------------------------------------------------------------------- presets
class PresetSwitcher(Protocol):
    """Switches the hardware preset of the running app.

    ``switch(preset)`` returns a message for people; raises
    :class:`~roomvoice.errors.RoomVoiceError` (e.g. ``ConfigError`` for a preset that does not
    validate here) when it refuses.
    """

    def switch(self, preset: str) -> str: ...


class NoPresetSwitcher:
    """Refuses every switch (the app was not started by the runner, e.g. in tests)."""

    def switch(self, preset: str) -> str:
        """Always raises ``RoomVoiceError("preset-switch-unavailable")``."""
        raise RoomVoiceError("preset-switch-unavailable",
                             "preset switching needs the roomvoice runner (roomvoice run); not available here")
