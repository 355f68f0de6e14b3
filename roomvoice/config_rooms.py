"""The schema of a room's configuration (``rooms.<name>``): source, sink, end of turn, camera.

Part of :mod:`roomvoice.config` (which re-exports these classes); validation is in
:mod:`roomvoice.config_checks`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

ASSETS_DIR = Path(__file__).parent / "assets"

SOURCE_TYPES = ("file", "microphone")
SINK_TYPES = ("wav", "speaker", "null")
VAD_KINDS = ("energy", "silero")


@dataclass
class SourceConfig:
    """Where a room's audio comes from.

    Attributes:
        type: ``"file"`` (WAV/FLAC files played in order) or ``"microphone"`` (pyaudio).
        paths: for ``file``: audio files, any rate/channels (resampled to 16 kHz mono); an entry
            ``silence:SECONDS`` is that much silence.
        gap_s: seconds of silence between files.
        lead_s: seconds of silence before the first file (lets the noise floor settle).
        tail_s: seconds of silence after the last file.
        realtime: for ``file``: pace chunks at real time (as a microphone would).
        gain_db: for ``file``: gain applied to the files (dB; clipped at full scale), so one recording
            can reach two rooms at different levels.
        delay_s: for ``file``: extra silence before the first file (s), so one recording can reach
            two rooms at different times.
        echo_gain_db: for ``file``, simulated acoustics: the room's own playback leaks back into its
            "microphone" at this gain (dB; None = no echo path). Tests, benchmarks and the demo.
        echo_delay_s: delay of that echo path (s).
        noise_dbfs: simulated white noise added to the file's audio (dBFS; None = none).
        start_at: for a ``realtime`` file: Unix time at which its audio time 0 plays (rooms of a
            simulated house share one; ``roomvoice run`` sets it when None).
        device_index: for ``microphone``: pyaudio input device index (None = default).
        sample_rate: for ``microphone``: capture rate in Hz (resampled to 16 kHz).
        channels: for ``microphone``: capture channels (mixed down to mono).
    """

    type: str = "file"
    paths: list[str] = field(default_factory=list)
    gap_s: float = 1.5
    lead_s: float = 1.0
    tail_s: float = 2.0
    realtime: bool = False
    gain_db: float = 0.0
    delay_s: float = 0.0
    echo_gain_db: Optional[float] = None
    echo_delay_s: float = 0.03
    noise_dbfs: Optional[float] = None
    start_at: Optional[float] = None
    device_index: Optional[int] = None
    sample_rate: int = 16000
    channels: int = 1


@dataclass
class SinkConfig:
    """Where a room's reply audio goes: ``wav`` files in the run dir, a pyaudio ``speaker``, or ``null``.

    Attributes:
        type: ``wav``, ``speaker`` or ``null``.
        device_index: for ``speaker``: pyaudio output device index (None = default).
        realtime: play the reply at real-time pace on the room's audio clock, so the room stays
            SPEAKING for the reply audio's duration (and its playback is the echo reference).
            A ``speaker`` is always real time; ``wav``/``null`` write at once when False.
        sample_rate: for ``speaker``: the output device's rate in Hz (None = the voice's rate). With
            ``aec`` it must equal the microphone's ``source.sample_rate``, as one sound card's clock.
    """

    type: str = "wav"
    device_index: Optional[int] = None
    realtime: bool = False
    sample_rate: Optional[int] = None


@dataclass
class EndpointConfig:
    """End-of-speech settings (see ``roomvoice.rooms.endpoint.EndpointSettings``); seconds.

    ``vad``: ``silero`` (default: the Silero VAD shipped in faster-whisper; it found the end of speech in
    60/60 gain x noise conditions on the bundled clips, the energy detector in 51/60) or ``energy``
    (adaptive noise floor; more precise at high SNR, cheaper: 0.013 ms vs 0.2 ms per 80 ms chunk).

    ``turn_model``: ``none`` (the turn ends after ``end_silence_s`` of silence) or ``smart_turn``
    (Smart Turn v3.2 from pipecat-ai, installed ``--no-deps``: after ``short_pause_s`` of silence it
    reads the utterance; "complete" ends the turn there, else ``end_silence_s`` as before; a model that
    cannot load falls back to ``none``, logged once). ``turn_threshold``: its "complete" probability.
    Default ``none``: on the bundled real clips with inserted mid-sentence pauses Smart Turn ended
    the turn early in 399/660 scenes against 11/660 for Silero alone (``benchmarks/turn_end.py``),
    while saving 0.48 s where both were right.

    ``speculative_stt_s``: after this much silence the utterance so far is transcribed while the
    hangover runs (0 = off), so the transcript is ready when the turn ends.
    ``command_ends_turn``: when that transcript is a whole home command the fast path answers, the
    turn ends there instead of after ``end_silence_s`` (see ``roomvoice.rooms.speculation``). Off by
    default: it answers a home command ~0.3 s sooner, but a user who pauses 0.4-0.6 s inside a longer
    command ("turn off the office fan ... in ten minutes") is cut off after its first part: 73/88
    two-part commands against 0-1/88 with the hangover alone (``benchmarks/early_end.py``).
    ``preemptive_reply``: when it goes to the LLM's words, the reply is asked for at once and played
    if the turn ends with no more speech (``roomvoice.rooms.preempt``; nothing is executed early).
    """

    vad: str = "silero"
    speech_margin_db: float = 10.0
    silero_threshold: float = 0.5
    min_speech_s: float = 0.24
    end_silence_s: float = 0.72
    no_speech_timeout_s: float = 5.0
    max_utterance_s: float = 15.0
    pre_roll_s: float = 0.32
    turn_model: str = "none"
    short_pause_s: float = 0.2
    turn_threshold: float = 0.5
    speculative_stt_s: float = 0.16
    command_ends_turn: bool = False
    preemptive_reply: bool = True


@dataclass
class CameraConfig:
    """A room's camera (OpenCV), read by :class:`roomvoice.rooms.camera.Camera`.

    Attributes:
        source: ``None`` (no camera), a device index as digits (``"0"`` = ``/dev/video0``) or the
            path of a video file (looped) or still image (one frame).
        fps: frames read per second (the camera is sampled, not streamed).
        detector: presence detector: ``face`` (Haar frontal face), ``body`` (HOG people) or ``both``.
    """

    source: Optional[str] = None
    fps: float = 2.0
    detector: str = "face"


@dataclass
class RoomConfig:
    """One room: its audio in/out, wake word and Ray placement.

    Attributes:
        name: room name (unique; defaults to its key under ``rooms``).
        wake_word: openWakeWord model name (``hey_jarvis``, ``alexa``, ``hey_mycroft``...).
        wake_threshold: wake score 0..1 that triggers.
        wake_cooldown_s: audio seconds during which a second wake is ignored.
        num_cpus: fractional Ray CPU reserved by the room actor.
        resources: custom Ray resources that pin the actor to a node, e.g. ``{room_kitchen: 1}``.
        max_restarts: Ray actor restarts after a crash.
        turn_timeout_s: wall seconds after which a turn's assistant reply is abandoned.
        audio_zone: rooms that can hear each other share a zone; a wake word is answered by one
            room per zone (the :class:`~roomvoice.actors.arbiter.WakeArbiter` picks it).
        aec: echo cancellation with the room's own playback as reference (WebRTC AEC).
        followup_s: after a reply that ends with a question, listen this long without the wake
            word (None: the top-level ``followup_s``; 0 turns follow-ups off).
        announce_policy: announcements, timers and reminders while the room is busy: ``wait`` for
            IDLE, or ``interrupt`` the reply (they never overlap a reply).
    """

    name: str = ""
    wake_word: str = "hey_jarvis"
    wake_threshold: float = 0.5
    wake_cooldown_s: float = 2.0
    source: SourceConfig = field(default_factory=SourceConfig)
    sink: SinkConfig = field(default_factory=SinkConfig)
    endpoint: EndpointConfig = field(default_factory=EndpointConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    num_cpus: float = 0.25
    resources: dict[str, float] = field(default_factory=dict)
    max_restarts: int = 3
    turn_timeout_s: float = 60.0
    audio_zone: str = "home"
    aec: bool = True
    followup_s: Optional[float] = None
    announce_policy: str = "wait"
