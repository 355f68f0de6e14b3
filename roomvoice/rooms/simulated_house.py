"""A simulated house: several rooms hearing one talker timeline, each with its own playback tap
(:class:`SimulatedHouse`), and helpers that play audio into a room's tap. Built on the per-room
model of :mod:`roomvoice.rooms.acoustics`; for tests, benchmarks and the demo."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from roomvoice.rooms.acoustics import (
    DEFAULT_TAP_SECONDS,
    PlaybackTap,
    RoomAcoustics,
    SimulatedMicrophone,
    TalkerTimeline,
    to_index,
)
from roomvoice.rooms.audio import CHUNK_SAMPLES, SAMPLE_RATE, AudioChunk, read_audio_file, to_contract

class SimulatedHouse:
    """Several rooms hearing one talker timeline, each with its own playback tap.

    Args:
        rooms: the rooms' acoustics (unique names).
        duration_s: audio time at which every microphone's stream ends; None = live-like,
            endless streams.
        realtime: microphones pace their chunks at wall-clock rate.
        tap_capacity_s: seconds of playback each room's tap keeps.

    Raises:
        ValueError: no rooms or duplicate room names.
    """

    def __init__(
        self,
        rooms: Sequence[RoomAcoustics],
        duration_s: float | None = None,
        realtime: bool = False,
        *,
        tap_capacity_s: float = DEFAULT_TAP_SECONDS,
    ) -> None:
        names = [r.name for r in rooms]
        if not names:
            raise ValueError("a simulated house needs at least one room")
        if len(set(names)) != len(names):
            raise ValueError(f"room names must be unique, got {names}")
        self.rooms = {r.name: r for r in rooms}
        self.duration_s = duration_s
        self.realtime = realtime
        self.talker = TalkerTimeline()
        self._taps = {name: PlaybackTap(tap_capacity_s) for name in names}

    def room(self, name: str) -> RoomAcoustics:
        """The acoustics of room ``name``.

        Raises:
            KeyError: unknown room, naming the rooms there are.
        """
        try:
            return self.rooms[name]
        except KeyError:
            raise KeyError(f"no room {name!r} in the simulated house; rooms: {', '.join(self.rooms)}") from None

    def add_utterance(self, at_s: float, samples: np.ndarray, rate: int = SAMPLE_RATE) -> tuple[float, float]:
        """Someone says ``samples`` at house audio time ``at_s`` (see :meth:`TalkerTimeline.add`).

        Returns:
            ``(start_s, end_s)`` on the house timeline (before each room's delay).
        """
        return self.talker.add(at_s, samples, rate)

    def add_file(self, at_s: float, path: str | Path) -> tuple[float, float]:
        """Someone says the content of an audio file at ``at_s`` (any format ``read_audio_file`` reads).

        Raises:
            AudioError: as :func:`~roomvoice.rooms.audio.read_audio_file`.
        """
        return self.talker.add(at_s, read_audio_file(path).samples)

    def tap(self, room_name: str) -> PlaybackTap:
        """The playback tap of room ``room_name`` (one per room; write what it plays there)."""
        self.room(room_name)
        return self._taps[room_name]

    def microphone(self, room_name: str, *, realtime: bool | None = None) -> SimulatedMicrophone:
        """A new microphone of room ``room_name`` (the house's duration; ``realtime`` overrides the house's)."""
        return SimulatedMicrophone(
            self.room(room_name), self.talker, self._taps[room_name], duration_s=self.duration_s,
            realtime=self.realtime if realtime is None else realtime,
        )


def play_into(tap: PlaybackTap, samples: np.ndarray, at_s: float, rate: int = SAMPLE_RATE) -> AudioChunk:
    """Write a whole clip to ``tap`` as played from audio time ``at_s`` (resampled to 16 kHz).

    For scenes where the playback is known in advance; a room writes chunk by chunk as it
    plays instead.

    Returns:
        The contract chunk written.

    Raises:
        AudioError: as ``to_contract``.
    """
    chunk = AudioChunk(to_contract(np.asarray(samples), rate, what="playback"), SAMPLE_RATE, float(at_s))
    tap.write(chunk)
    return chunk


def play_while_listening(
    mic: SimulatedMicrophone,
    clips: Sequence[tuple[float, np.ndarray]],
    start_s: float = 0.0,
) -> Iterator[tuple[AudioChunk, AudioChunk]]:
    """Run a room that plays scripted clips while it listens, the causal way.

    Before each microphone chunk is pulled, the room writes to its tap what its speaker
    plays over that chunk's audio time (one chunk ahead, as a playback thread would); so the
    echo is in the chunk and the reference is ready when the chunk is processed.

    Args:
        mic: a microphone whose ``tap`` is the room's playback tap.
        clips: ``(at_s, samples)`` pairs: 16 kHz int16 audio played from audio time ``at_s``
            (overlapping clips are mixed).
        start_s: audio time to start listening at.

    Yields:
        ``(near, far)``: the microphone chunk and what the speaker played over the same
        audio time (a contract chunk, zeros when silent) — the AEC's inputs.

    Raises:
        ValueError: ``mic`` has no tap.
    """
    if mic.tap is None:
        raise ValueError("play_while_listening needs a microphone with a playback tap")
    script = TalkerTimeline()  # reuse the timeline's mixing for the playback script
    for at_s, samples in clips:
        script.add(at_s, samples)
    next_index = to_index(max(0.0, float(start_s)))

    def play(index: int) -> None:
        piece = script.read_index(index, CHUNK_SAMPLES)
        if piece.any():
            pcm = np.clip(np.round(piece), -32768, 32767).astype(np.int16)
            mic.tap.write(AudioChunk(pcm, SAMPLE_RATE, index / SAMPLE_RATE))

    play(next_index)
    for chunk in mic.chunks(start_s):
        index = to_index(chunk.start_s)
        far = AudioChunk(mic.tap.read_index(index, len(chunk.samples)), SAMPLE_RATE, chunk.start_s)
        play(index + CHUNK_SAMPLES)
        yield chunk, far


__all__ = [
    "play_while_listening",
    "PlaybackTap",
    "RoomAcoustics",
    "SimulatedHouse",
    "SimulatedMicrophone",
    "TalkerTimeline",
    "play_into",
]
