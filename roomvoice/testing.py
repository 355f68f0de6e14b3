"""Fakes for hardware only (microphone, speaker), for tests and demos without devices.

:class:`FakePyAudio` stands in for the ``pyaudio`` module: its input streams play a given
int16 array (any rate/channels, as a real sound card would deliver it) and its output
streams record what was written. Install it with ``monkeypatch.setitem(sys.modules,
"pyaudio", FakePyAudio(...))``.
"""

from __future__ import annotations

import time
import types

import numpy as np


class _FakeStream:
    def __init__(self, owner: FakePyAudio, channels: int, rate: int, is_input: bool) -> None:
        self.owner, self.channels, self.rate, self.is_input = owner, channels, rate, is_input
        self.closed = False

    def read(self, frames: int, exception_on_overflow: bool = True) -> bytes:
        if self.owner.realtime:  # a sound card's read blocks until the frames were captured
            if self.owner.t0 is None:
                self.owner.t0 = time.monotonic()
            due = self.owner.t0 + (self.owner.read_pos + frames) / float(self.rate)
            time.sleep(max(0.0, due - time.monotonic()))
        cap = self.owner.capture
        pos = self.owner.read_pos
        block = cap[pos : pos + frames]
        if len(block) < frames:  # after the recording: silence, like a quiet room
            block = np.concatenate([block, np.zeros((frames - len(block), cap.shape[1]), np.int16)])
        self.owner.read_pos = pos + frames
        return np.ascontiguousarray(block, dtype=np.int16).tobytes()

    def write(self, data: bytes) -> None:
        self.owner.played.append((self.rate, np.frombuffer(data, dtype=np.int16).copy()))

    def stop_stream(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class _FakePA:
    def __init__(self, owner: FakePyAudio) -> None:
        self.owner = owner

    def get_device_count(self) -> int:
        return len(self.owner.devices)

    def get_device_info_by_index(self, i: int) -> dict:
        return self.owner.devices[i]

    def open(self, format, channels, rate, input=False, output=False, input_device_index=None,
             output_device_index=None, frames_per_buffer=1024):
        self.owner.opened.append({"channels": channels, "rate": rate, "input": input, "output": output})
        return _FakeStream(self.owner, channels, rate, bool(input))

    def terminate(self) -> None:
        self.owner.terminated = True


class FakePyAudio(types.ModuleType):
    """A stand-in for the ``pyaudio`` module.

    Args:
        capture: int16 samples ``(n,)`` or ``(n, channels)`` the microphone delivers.
        inputs: number of capture devices (0 = a box without a microphone).
        outputs: number of playback devices.
        realtime: reads block until the frames would have been captured (wall-clock pace).
    """

    paInt16 = 8

    def __init__(self, capture: np.ndarray | None = None, *, inputs: int = 1, outputs: int = 1,
                 realtime: bool = False) -> None:
        super().__init__("pyaudio")
        cap = np.zeros((0, 1), np.int16) if capture is None else np.asarray(capture, dtype=np.int16)
        self.capture = cap.reshape(-1, 1) if cap.ndim == 1 else cap
        self.read_pos = 0
        self.realtime = realtime
        self.t0: float | None = None
        self.devices = [{"maxInputChannels": 2, "maxOutputChannels": 0}] * inputs + \
                       [{"maxInputChannels": 0, "maxOutputChannels": 2}] * outputs
        self.opened: list[dict] = []
        self.played: list[tuple[int, np.ndarray]] = []
        self.terminated = False

    def PyAudio(self) -> _FakePA:  # noqa: N802 - pyaudio's name
        return _FakePA(self)
