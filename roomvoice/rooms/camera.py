"""A room's camera through OpenCV, and presence detection with detectors that ship with OpenCV.

:class:`Camera` reads a device (``cv2.VideoCapture(index)``), a video file (looped) or a still
image (a one-frame source) at ``fps`` frames per second on a background thread and keeps the
latest frame. :class:`PresenceDetector` counts people in a frame with OpenCV's Haar frontal-face
cascade (``cv2.data.haarcascades``) and/or its HOG people detector. No Ray here.

Frames are RGB ``uint8`` arrays of shape ``(H, W, 3)``; OpenCV's BGR is converted at the edge.
Errors are :class:`~roomvoice.errors.CameraError` with codes ``camera-open-failed``,
``camera-read-failed``, ``camera-bad-frame`` and ``camera-snapshot-failed``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import numpy as np

from roomvoice.errors import CameraError

logger = logging.getLogger(__name__)

DETECTORS = ("face", "body", "both")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
ASSETS = Path(__file__).resolve().parent.parent / "assets" / "camera"
SAMPLE_IMAGE = ASSETS / "astronaut.jpg"
"""A bundled public-domain photo with one person in view (see ``assets/camera/README.md``)."""


@dataclass(frozen=True)
class Frame:
    """One camera frame.

    Attributes:
        image: RGB, ``uint8``, shape ``(H, W, 3)``.
        captured_at: wall-clock capture time, seconds since the Unix epoch.
        index: frames read since the camera started (0 = first).
    """

    image: np.ndarray = field(repr=False)
    captured_at: float
    index: int

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])


@dataclass(frozen=True)
class Box:
    """A detection in pixel coordinates of the frame.

    Attributes:
        x, y: top-left corner, pixels.
        w, h: width and height, pixels.
        kind: ``"face"`` (Haar cascade) or ``"body"`` (HOG people detector).
    """

    x: int
    y: int
    w: int
    h: int
    kind: Literal["face", "body"]

    def contains_center_of(self, other: Box) -> bool:
        """Whether ``other``'s centre lies inside this box."""
        cx, cy = other.x + other.w / 2, other.y + other.h / 2
        return self.x <= cx <= self.x + self.w and self.y <= cy <= self.y + self.h


@dataclass(frozen=True)
class PresenceResult:
    """Who is in view.

    Attributes:
        people: people counted (faces, plus bodies without a detected face inside).
        boxes: the detections behind the count.
        detector: ``face``, ``body`` or ``both``.
        elapsed_s: detection time, seconds.
    """

    people: int
    boxes: tuple[Box, ...]
    detector: str
    elapsed_s: float

    def describe(self) -> str:
        """One line for people: ``"1 person in view (face at 86,31 52x52)"``."""
        if not self.people:
            return f"nobody in view ({self.detector} detector, {self.elapsed_s * 1000:.0f} ms)"
        where = ", ".join(f"{b.kind} at {b.x},{b.y} {b.w}x{b.h}" for b in self.boxes)
        noun = "person" if self.people == 1 else "people"
        return f"{self.people} {noun} in view ({where}; {self.elapsed_s * 1000:.0f} ms)"


def _check_frame(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 8 or arr.shape[1] < 8:
        raise CameraError("camera-bad-frame",
                          f"expected an RGB uint8 (H, W, 3) image of at least 8x8, got {arr.dtype} {arr.shape}")
    return arr


class PresenceDetector:
    """Counts people with OpenCV's own detectors (no model download). Thread-safe.

    Args:
        kind: ``face`` (Haar frontal face: people facing the camera, fast), ``body`` (HOG
            people detector: upright full bodies at least ~64x128 px) or ``both``.
        min_face_px: smallest face side in pixels.

    Raises:
        CameraError: ``camera-detector-unavailable`` for an unknown kind or a missing cascade.
    """

    def __init__(self, kind: str = "face", *, min_face_px: int = 24) -> None:
        import cv2

        if kind not in DETECTORS:
            raise CameraError("camera-detector-unavailable", f"unknown detector {kind!r}; use one of {DETECTORS}")
        self.kind, self.min_face_px = kind, min_face_px
        self._lock = threading.Lock()
        self._face = self._hog = None
        if kind in ("face", "both"):
            path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
            self._face = cv2.CascadeClassifier(str(path))
            if self._face.empty():
                raise CameraError("camera-detector-unavailable", f"cannot load the face cascade {path}")
        if kind in ("body", "both"):
            self._hog = cv2.HOGDescriptor()
            self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def detect(self, image: np.ndarray) -> PresenceResult:
        """People in an RGB ``uint8`` ``(H, W, 3)`` image.

        Raises:
            CameraError: ``camera-bad-frame`` for anything else.
        """
        import cv2

        rgb = _check_frame(image)
        t0 = time.perf_counter()
        faces: list[Box] = []
        bodies: list[Box] = []
        with self._lock:
            if self._face is not None:
                gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
                found = self._face.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5,
                                                    minSize=(self.min_face_px, self.min_face_px))
                faces = [Box(int(x), int(y), int(w), int(h), "face") for x, y, w, h in found]
            if self._hog is not None and rgb.shape[0] >= 128 and rgb.shape[1] >= 64:
                found, weights = self._hog.detectMultiScale(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), winStride=(8, 8))
                bodies = [Box(int(x), int(y), int(w), int(h), "body")
                          for (x, y, w, h), wt in zip(found, np.ravel(weights)) if float(wt) > 0.5]
        # a body with a face inside is one person, not two
        lone_bodies = [b for b in bodies if not any(b.contains_center_of(f) for f in faces)]
        boxes = tuple(faces + lone_bodies)
        return PresenceResult(len(boxes), boxes, self.kind, time.perf_counter() - t0)


def parse_source(source: int | str | Path) -> int | Path:
    """A device index (``0``, ``"0"``) or a file path."""
    if isinstance(source, int):
        return source
    text = str(source).strip()
    return int(text) if text.isdigit() else Path(text)


class Camera:
    """One room's camera, sampled at ``fps`` on a background thread.

    Args:
        source: device index (``0`` / ``"0"``), a video file (looped at its end) or a still image.
        fps: frames read per second (> 0).
        name: the room, for logs and snapshot names.
        detector: the presence detector (a ``face`` detector is made on first use if ``None``).

    Usage: ``cam.start()`` (raises :class:`CameraError` ``camera-open-failed`` if the source
    cannot be opened or gives no frame), ``cam.latest_frame()``, ``cam.snapshot(dir)``,
    ``cam.presence()``, ``cam.stop()``. Also a context manager.
    """

    def __init__(self, source: int | str | Path, *, fps: float = 2.0, name: str = "camera",
                 detector: PresenceDetector | None = None) -> None:
        if not 0 < fps <= 60:
            raise CameraError("camera-open-failed", f"fps must be in (0, 60], got {fps}")
        self.source, self.fps, self.name = parse_source(source), float(fps), name
        self._detector = detector
        self._cap = None
        self._still: np.ndarray | None = None
        self._latest: Frame | None = None
        self._count = 0
        self._failures = 0
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def running(self) -> bool:
        """Whether the capture thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Camera:
        """Open the source, read the first frame, start sampling. Returns ``self``.

        Raises:
            CameraError: ``camera-open-failed`` (no such file, not an image/video, no device).
        """
        if self.running:
            return self
        self._open()
        self.read()
        if self._still is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name=f"camera-{self.name}", daemon=True)
            self._thread.start()
        logger.info("camera %s: %s open (%dx%d)", self.name, self.source, *self._latest.size)  # type: ignore[union-attr]
        return self

    def _open(self) -> None:
        import cv2

        src = self.source
        if isinstance(src, Path):
            if not src.is_file():
                raise CameraError("camera-open-failed", f"camera {self.name}: no such file {src}")
            if src.suffix.lower() in IMAGE_SUFFIXES:
                bgr = cv2.imread(str(src), cv2.IMREAD_COLOR)
                if bgr is None:
                    raise CameraError("camera-open-failed", f"camera {self.name}: {src} is not a readable image")
                self._still = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                return
            cap = cv2.VideoCapture(str(src))
        else:
            cap = cv2.VideoCapture(int(src))
        if not cap.isOpened():
            cap.release()
            what = f"device {src}" if isinstance(src, int) else f"{src} (not a video OpenCV can read)"
            raise CameraError("camera-open-failed", f"camera {self.name}: cannot open {what}")
        self._cap = cap

    def stop(self) -> None:
        """Stop sampling and release the device (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def __enter__(self) -> Camera:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ frames
    def _grab(self) -> np.ndarray:
        import cv2

        if self._still is not None:
            return self._still
        if self._cap is None:
            raise CameraError("camera-read-failed", f"camera {self.name} is not started")
        ok, bgr = self._cap.read()
        if not ok and isinstance(self.source, Path):  # end of a video file: loop
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = self._cap.read()
        if not ok or bgr is None:
            raise CameraError("camera-read-failed", f"camera {self.name}: no frame from {self.source}")
        if bgr.ndim == 2:
            return cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def read(self) -> Frame:
        """Read the next frame now (a still image gives the same frame) and make it the latest.

        Raises:
            CameraError: ``camera-read-failed``.
        """
        image = self._grab()
        with self._lock:
            frame = Frame(image=image, captured_at=time.time(), index=self._count)
            self._count += 1
            self._latest = frame
        return frame

    def _loop(self) -> None:
        period = 1.0 / self.fps
        while not self._stop.wait(period):
            try:
                self.read()
                self._failures, self.last_error = 0, None
            except CameraError as exc:
                self._failures += 1
                self.last_error = exc.code
                if self._failures in (1, 10) or self._failures % 100 == 0:
                    logger.warning("%s (failure %d)", exc.message, self._failures)

    def latest_frame(self) -> Frame | None:
        """The most recent frame (RGB uint8 ``(H, W, 3)`` with its capture time), or ``None`` before start."""
        with self._lock:
            return self._latest

    # ------------------------------------------------------------------ uses
    def snapshot(self, directory: str | Path) -> Path:
        """Save the latest frame as JPEG ``<directory>/<name>-<UTC time>.jpg``.

        Returns:
            the file written.

        Raises:
            CameraError: ``camera-read-failed`` before the first frame, ``camera-snapshot-failed``
                if the file cannot be written.
        """
        import cv2

        frame = self.latest_frame()
        if frame is None:
            raise CameraError("camera-read-failed", f"camera {self.name} has no frame yet (not started?)")
        stamp = datetime.fromtimestamp(frame.captured_at, timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in self.name) or "camera"
        path = Path(directory) / f"{safe}-{stamp}.jpg"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            ok = cv2.imwrite(str(path), cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        except (OSError, cv2.error) as exc:
            raise CameraError("camera-snapshot-failed", f"cannot write {path}: {exc}") from exc
        if not ok:
            raise CameraError("camera-snapshot-failed", f"cannot write {path}")
        logger.info("camera %s: snapshot %s", self.name, path)
        return path

    def presence(self, frame: Frame | np.ndarray | None = None) -> PresenceResult:
        """People in ``frame`` (a :class:`Frame` or RGB uint8 ``(H, W, 3)`` array; default the latest).

        Raises:
            CameraError: ``camera-read-failed`` with no frame yet, ``camera-bad-frame`` for a bad array.
        """
        if frame is None:
            frame = self.latest_frame()
            if frame is None:
                raise CameraError("camera-read-failed", f"camera {self.name} has no frame yet (not started?)")
        if self._detector is None:
            self._detector = PresenceDetector("face")
        return self._detector.detect(frame.image if isinstance(frame, Frame) else frame)


def camera_from_config(cfg: object, name: str) -> Camera | None:
    """A (not started) :class:`Camera` from a :class:`~roomvoice.config.CameraConfig`, or ``None``
    when ``source`` is unset."""
    source = getattr(cfg, "source", None)
    if source is None or str(source).strip() == "":
        return None
    detector = PresenceDetector(getattr(cfg, "detector", "face"))
    return Camera(source, fps=float(getattr(cfg, "fps", 2.0)), name=name, detector=detector)


def cameras_from_config(configs: Mapping[str, object]) -> dict[str, Camera]:
    """Room name → (not started) :class:`Camera` for every room whose
    :class:`~roomvoice.config.CameraConfig` names a source; a camera that cannot be configured is
    left out and logged (the rest of the house keeps working)."""
    cameras: dict[str, Camera] = {}
    for room, cfg in configs.items():
        try:
            cam = camera_from_config(cfg, room)
        except CameraError as exc:
            logger.error("room %s: camera unavailable: %s", room, exc.message)
            continue
        if cam is not None:
            cameras[room] = cam
    return cameras
