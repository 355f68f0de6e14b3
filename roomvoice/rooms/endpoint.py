"""End-of-speech detection after the wake word, driven by audio time.

After :meth:`EndOfSpeechDetector.start` (wake word heard) every 80 ms chunk is classified as
speech or non-speech, and the detector reports, in audio time (``chunk.end_s``):

* ``SPEECH_STARTED`` once ``min_speech_s`` of speech has been heard;
* ``END_OF_SPEECH`` after ``end_silence_s`` of trailing non-speech, with the
  :class:`~roomvoice.events.Utterance` (``pre_roll_s`` before the onset through that time);
* ``NO_SPEECH`` if no speech began within ``no_speech_timeout_s`` of ``start()``;
* ``TOO_LONG`` if the speech runs past ``max_utterance_s``;
* ``PAUSE`` once per pause, after ``speculative_stt_s`` of non-speech, with the utterance so far:
  the room transcribes it while the hangover runs (and may end the turn there, see
  :mod:`roomvoice.rooms.speculation`); :meth:`EndOfSpeechDetector.end_now` ends the capture.

Two speech classifiers:

``"energy"``
    Chunk RMS level in dBFS against an adaptive noise floor: an exponential moving average
    in dB that falls fast (time constant ``floor_fall_s``) and rises slowly
    (``floor_rise_s``), fed with every chunk while idle (:meth:`~EndOfSpeechDetector.observe`)
    and with non-speech chunks while capturing — the asymmetric tracker of classic
    energy VADs (e.g. the ``speech_recognition`` package's dynamic energy threshold).
    Speech is a level above ``floor + speech_margin_db``; once in speech, a level above
    ``floor + speech_margin_db - hysteresis_db`` keeps it going. A chunk more than
    ``speech_range_db`` below the utterance's loudest chunk is never speech.

``"silero"``
    Silero VAD v6 (https://github.com/snakers4/silero-vad, MIT), the ONNX file shipped in
    faster-whisper (``faster_whisper/assets/silero_vad_v6.onnx``), run through onnxruntime
    one 512-sample window (32 ms) at a time with its LSTM state and 64 samples of context
    carried over, as ``faster_whisper.vad.SileroVADModel`` does for a whole file. A
    1 280-sample chunk holds 2.5 windows: the remainder waits for the next chunk. A chunk is
    speech if a window ending in it scores ``>= silero_threshold``; once in speech,
    ``>= silero_threshold - silero_hysteresis`` keeps it going (Silero's ``neg_threshold``).

Measured on the bundled real clips (two CMU ARCTIC sentences and a phone-call cut), each
padded with 1 s before and 2 s after, at gains -12/-6/0/+6 dB and with no noise or white
noise at -60/-50/-45/-40 dBFS (60 conditions): ``"silero"`` put the end of speech inside
``[true end, true end + 1.2 s]`` in 60/60 (last speech chunk 0.04-0.30 s after the true end,
mean 0.11 s; in 4 quiet phone-call conditions it heard the first word 0.47 s late);
``"energy"`` is more precise when the speech is >= ~15 dB above the noise (median 0.04 s)
but failed 9/60 at low SNR (7 missed the speech, 2 ended it 0.4-1.4 s early). Silero is
therefore the default; it costs ~0.2 ms per 80 ms chunk against ~0.01 ms for energy.

Semantic end of turn (``turn_model="smart_turn"``, off by default): after ``short_pause_s``
of non-speech, once per pause, Smart Turn v3.2 (:mod:`roomvoice.rooms.turn_end`, ~30 ms)
reads the utterance so far; "complete" ends it at once, else the hangover runs on. On the same
clips (``benchmarks/turn_end.py``, 660 scenes with inserted mid-sentence pauses) it ended
finished sentences 0.48 s sooner but cut off 399/660 turns inside a pause, Silero alone 11/660.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from dataclasses import dataclass

import numpy as np

from roomvoice.events import Utterance
from roomvoice.rooms.audio import SAMPLE_RATE, AudioChunk, check_contract_chunk, rms_dbfs
from roomvoice.rooms.turn_end import MODEL_SAMPLES, TURN_MODELS, TurnEndModel
from roomvoice.rooms.vad import SILERO_CONTEXT, SILERO_WINDOW, VAD_KINDS, NoiseFloor, SileroStream, silero_model_path

logger = logging.getLogger(__name__)

__all__ = ["EndOfSpeechDetector", "EndpointKind", "EndpointSettings", "EndpointUpdate", "NoiseFloor", "SileroStream",
           "SILERO_CONTEXT", "SILERO_WINDOW", "VAD_KINDS", "silero_model_path"]


@dataclass(frozen=True)
class EndpointSettings:
    """Settings of :class:`EndOfSpeechDetector`; every duration is seconds of audio.

    Attributes:
        vad: speech classifier, ``"energy"`` or ``"silero"``.
        speech_margin_db: energy: dB above the noise floor that counts as speech onset.
        hysteresis_db: energy: once in speech, ``speech_margin_db - hysteresis_db`` above the
            floor keeps it going.
        floor_rise_s: energy: time constant (s) of the noise floor rising towards a louder level.
        floor_fall_s: energy: time constant (s) of the noise floor falling towards a quieter level.
        min_floor_dbfs: energy: lowest noise floor (dBFS), so digital silence (-120 dBFS)
            does not make faint noise "speech".
        speech_range_db: energy: a chunk more than this many dB below the loudest speech
            chunk of the current utterance is not speech (ends speech even when the
            background got louder while capturing, which the floor does not follow).
        silero_threshold: silero: speech probability (0..1) that starts speech.
        silero_hysteresis: silero: once in speech, ``silero_threshold - silero_hysteresis``
            keeps it going. Silero's own ``neg_threshold`` offset is 0.15; with 0.72 s of
            required silence it only made the end later here (mean error 0.15 vs 0.11 s).
        min_speech_s: speech needed before ``SPEECH_STARTED`` (and so before an end can be
            declared); shorter bursts followed by ``end_silence_s`` of non-speech are dropped.
        end_silence_s: trailing non-speech that ends the utterance.
        no_speech_timeout_s: after ``start()``, give up if no speech began by then.
        max_utterance_s: speech longer than this (from its onset) ends with ``TOO_LONG``.
        pre_roll_s: audio kept from before the speech onset (only audio after ``start()``).
        turn_model: semantic end of turn: ``"none"`` (VAD hangover only) or ``"smart_turn"``
            (Smart Turn v3.2, :mod:`roomvoice.rooms.turn_end`): once per pause, after
            ``short_pause_s`` of non-speech, the model reads the utterance so far; complete
            ends it there, incomplete waits for ``end_silence_s`` as before.
        short_pause_s: smart_turn: the pause (s) after which the model is asked; must be
            shorter than ``end_silence_s``.
        turn_threshold: smart_turn: model probability above which the turn is complete.
        speculative_stt_s: pause (s) after which :meth:`~EndOfSpeechDetector.process` reports
            ``PAUSE`` with the utterance so far, once per pause, so the room can transcribe it
            before the turn ends (0, or a pause as long as ``end_silence_s``: never).

    Raises:
        ValueError: naming the field, for an unknown ``vad`` or an out-of-range value.
    """

    vad: str = "silero"
    speech_margin_db: float = 10.0
    hysteresis_db: float = 3.0
    floor_rise_s: float = 2.0
    floor_fall_s: float = 0.2
    min_floor_dbfs: float = -70.0
    speech_range_db: float = 30.0
    silero_threshold: float = 0.5
    silero_hysteresis: float = 0.0
    min_speech_s: float = 0.24
    end_silence_s: float = 0.72
    no_speech_timeout_s: float = 5.0
    max_utterance_s: float = 15.0
    pre_roll_s: float = 0.32
    turn_model: str = "none"
    short_pause_s: float = 0.2
    turn_threshold: float = 0.5
    speculative_stt_s: float = 0.16

    def __post_init__(self) -> None:
        if self.vad not in VAD_KINDS:
            raise ValueError(f"vad must be one of {', '.join(VAD_KINDS)}, got {self.vad!r}")
        if self.turn_model not in TURN_MODELS:
            raise ValueError(f"turn_model must be one of {', '.join(TURN_MODELS)}, got {self.turn_model!r}")
        if not 0.0 < self.silero_threshold < 1.0:
            raise ValueError(f"silero_threshold must be between 0 and 1, got {self.silero_threshold}")
        if not 0.0 <= self.silero_hysteresis < self.silero_threshold:
            raise ValueError(
                f"silero_hysteresis must be in [0, silero_threshold), got {self.silero_hysteresis}"
            )
        if self.speech_margin_db <= 0 or not 0 <= self.hysteresis_db < self.speech_margin_db:
            raise ValueError(
                f"need speech_margin_db > 0 and 0 <= hysteresis_db < speech_margin_db, "
                f"got {self.speech_margin_db} / {self.hysteresis_db}"
            )
        positive = ("speech_range_db", "floor_rise_s", "floor_fall_s", "end_silence_s", "no_speech_timeout_s",
                    "max_utterance_s")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("min_speech_s", "pre_roll_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 seconds, got {getattr(self, name)}")
        if self.turn_model != "none" and not 0.0 < self.short_pause_s < self.end_silence_s:
            raise ValueError(f"short_pause_s must be > 0 and < end_silence_s, got {self.short_pause_s}")
        if not 0.0 < self.turn_threshold < 1.0:
            raise ValueError(f"turn_threshold must be between 0 and 1, got {self.turn_threshold}")
        if self.speculative_stt_s < 0:
            raise ValueError(f"speculative_stt_s must be >= 0 seconds (0 = off), got {self.speculative_stt_s}")


class EndpointKind(str, enum.Enum):
    """What :meth:`EndOfSpeechDetector.process` saw in a chunk."""

    NONE = "none"
    """Nothing new (waiting for speech, or speech going on)."""
    SPEECH_STARTED = "speech_started"
    """``min_speech_s`` of speech heard; recording."""
    END_OF_SPEECH = "end_of_speech"
    """Speech ended; carries the utterance."""
    NO_SPEECH = "no_speech"
    """No speech within ``no_speech_timeout_s`` of ``start()``."""
    TOO_LONG = "too_long"
    """Speech ran past ``max_utterance_s``; carries the utterance captured so far."""
    PAUSE = "pause"
    """``speculative_stt_s`` of silence after speech (once per pause); carries the utterance so far."""


@dataclass(frozen=True)
class EndpointUpdate:
    """Result of one :meth:`EndOfSpeechDetector.process` call.

    Attributes:
        kind: what happened.
        audio_time_s: audio time (s) of the decision: the end of the chunk processed.
        utterance: for ``END_OF_SPEECH`` and ``TOO_LONG``, the captured audio (16 kHz int16,
            from ``pre_roll_s`` before the speech onset through ``audio_time_s``).
        speech_start_s: audio time (s) of the speech onset (start of its first speech
            chunk), once speech has started; ``None`` before.
        last_speech_end_s: audio time (s) of the end of the newest speech chunk; ``None`` before.
        last_sound_end_s: audio time (s) of the end of the newest chunk that *may* hold speech
            (Silero probability >= half ``silero_threshold``, or energy >= half the margin above
            the floor): a soft word the speech threshold missed. A transcript made in a pause is
            only used when nothing of the kind came after it.
    """

    kind: EndpointKind
    audio_time_s: float
    utterance: Utterance | None = None
    speech_start_s: float | None = None
    last_speech_end_s: float | None = None
    last_sound_end_s: float | None = None


class EndOfSpeechDetector:
    """Finds the end of the spoken command after the wake word (see the module docs).

    Use: :meth:`observe` every chunk while idle; :meth:`start` when the wake word is heard;
    then :meth:`process` every chunk until it returns ``END_OF_SPEECH``, ``NO_SPEECH`` or
    ``TOO_LONG`` (the detector is then inactive again).

    Args:
        settings: thresholds and durations.
        turn_end: the end-of-turn model for ``turn_model="smart_turn"`` (default: Smart Turn
            v3.2 at ``turn_threshold``), loaded here; one that cannot load is logged once and
            the detector uses the VAD hangover alone.

    Raises:
        AudioError: ``vad-model-missing`` if ``vad="silero"`` and the model is not installed.
    """

    def __init__(self, settings: EndpointSettings = EndpointSettings(), turn_end: TurnEndModel | None = None) -> None:
        self.settings = settings
        self._floor = NoiseFloor(settings.floor_rise_s, settings.floor_fall_s, settings.min_floor_dbfs)
        self._silero = SileroStream() if settings.vad == "silero" else None
        self._turn: TurnEndModel | None = None
        if settings.turn_model == "smart_turn":
            self._turn = turn_end if turn_end is not None else TurnEndModel(threshold=settings.turn_threshold)
            self._turn.load()
        self._active = False
        self._no_speech_timeout_s = settings.no_speech_timeout_s
        self._clear_capture(0.0)

    def _clear_capture(self, start_s: float) -> None:
        self._start_s = start_s
        self._chunks: deque[AudioChunk] = deque()
        self._onset_s: float | None = None
        self._speech_s = 0.0
        self._silence_s = 0.0
        self._in_speech = False
        self._started = False
        self._peak_dbfs: float | None = None
        self._last_speech_captured_at: float | None = None
        self._last_speech_end_s: float | None = None
        self._last_sound_end_s: float | None = None
        self._pause_asked = False
        self._pause_reported = False

    @property
    def active(self) -> bool:
        """True between :meth:`start` and the update that ends the capture."""
        return self._active

    @property
    def noise_floor_dbfs(self) -> float | None:
        """Current noise floor estimate in dBFS (``None`` before any audio)."""
        return self._floor.level_dbfs

    def observe(self, chunk: AudioChunk) -> None:
        """While idle: adapt the noise floor to ``chunk`` (16 kHz mono int16).

        Raises:
            AudioError: ``audio-bad-format`` for a non-contract chunk.
            RuntimeError: if called while capturing (use :meth:`process`).
        """
        if self._active:
            raise RuntimeError("observe() called while capturing; use process()")
        check_contract_chunk(chunk)
        self._floor.update(rms_dbfs(np.asarray(chunk.samples)), chunk.duration_s)

    def start(self, audio_time_s: float, no_speech_timeout_s: float | None = None) -> None:
        """The wake word was heard at ``audio_time_s`` (s): capture from the next chunk on.

        ``no_speech_timeout_s`` overrides the setting for this capture (a follow-up listens longer).
        """
        self._clear_capture(float(audio_time_s))
        self._no_speech_timeout_s = (self.settings.no_speech_timeout_s if no_speech_timeout_s is None
                                     else float(no_speech_timeout_s))
        if self._silero is not None:
            self._silero.reset()
        self._active = True
        logger.debug("capture started at %.2f s (floor %s dBFS)", self._start_s, self._floor.level_dbfs)

    def reset(self) -> None:
        """Stop any capture and forget it (the noise floor is kept)."""
        self._active = False
        self._clear_capture(0.0)
        self._no_speech_timeout_s = self.settings.no_speech_timeout_s
        if self._silero is not None:
            self._silero.reset()

    def _is_speech(self, samples: np.ndarray, level_dbfs: float, duration_s: float) -> bool:
        """Speech in this chunk? Also sets :attr:`_maybe_speech` (a softer sound that may be a word)."""
        if self._silero is not None:
            prob = self._silero(samples)
            if prob is None:  # no window completed (chunks shorter than 512 samples)
                self._maybe_speech = self._in_speech
                return self._in_speech
            hysteresis = self.settings.silero_hysteresis if self._in_speech else 0.0
            self._maybe_speech = prob >= 0.5 * self.settings.silero_threshold
            return prob >= self.settings.silero_threshold - hysteresis
        floor = self._floor.level_dbfs
        if floor is None:
            floor = self._floor.update(level_dbfs, duration_s)
        margin = self.settings.speech_margin_db - (self.settings.hysteresis_db if self._in_speech else 0.0)
        self._maybe_speech = level_dbfs > floor + 0.5 * self.settings.speech_margin_db
        if level_dbfs <= floor + margin:
            return False
        return self._peak_dbfs is None or level_dbfs > self._peak_dbfs - self.settings.speech_range_db

    def _trim_pre_roll(self) -> None:
        """Before the onset, keep only the newest ``pre_roll_s`` of audio."""
        total = sum(c.duration_s for c in self._chunks)
        while self._chunks and total - self._chunks[0].duration_s >= self.settings.pre_roll_s - 1e-9:
            total -= self._chunks.popleft().duration_s

    def _utterance(self, end_s: float) -> Utterance:
        samples = np.concatenate([np.asarray(c.samples, dtype=np.int16) for c in self._chunks])
        return Utterance(samples, SAMPLE_RATE, self._chunks[0].start_s, end_s,
                         last_speech_captured_at=self._last_speech_captured_at)

    def end_now(self, audio_time_s: float) -> EndpointUpdate:
        """End the capture now (the room decided the turn is complete, e.g. a whole home command
        was heard in a pause): ``END_OF_SPEECH`` with the audio captured so far.

        Raises:
            RuntimeError: if not :attr:`active`.
        """
        if not self._active:
            raise RuntimeError("end_now() called while not capturing")
        return self._finish(EndpointKind.END_OF_SPEECH, float(audio_time_s), True)

    def _finish(self, kind: EndpointKind, t: float, with_audio: bool) -> EndpointUpdate:
        utterance = self._utterance(t) if with_audio and self._chunks else None
        update = EndpointUpdate(kind, t, utterance, self._onset_s if self._started else None,
                                self._last_speech_end_s, self._last_sound_end_s)
        logger.info("%s at %.2f s (speech from %s s)", kind.value, t, self._onset_s)
        self._active = False
        self._chunks = deque()
        return update

    def _turn_complete(self) -> bool:
        """Ask the end-of-turn model about the newest ``MODEL_SAMPLES`` of the capture."""
        tail, n = [], 0
        for c in reversed(self._chunks):
            tail.append(np.asarray(c.samples, dtype=np.int16))
            n += len(c.samples)
            if n >= MODEL_SAMPLES:
                break
        complete = self._turn.complete(np.concatenate(tail[::-1]))
        logger.debug("end of turn model: p=%s after %.2f s of pause", self._turn.last_probability, self._silence_s)
        return complete

    def process(self, chunk: AudioChunk) -> EndpointUpdate:
        """While capturing: classify ``chunk`` and say what happened.

        Args:
            chunk: contract chunk (16 kHz mono int16, normally 1 280 samples), following
                the previous one in audio time.

        Returns:
            An :class:`EndpointUpdate` stamped ``chunk.end_s``.

        Raises:
            AudioError: ``audio-bad-format`` for a non-contract chunk, ``vad-failed`` if
                Silero fails.
            RuntimeError: if not :attr:`active` (call :meth:`start` first).
        """
        if not self._active:
            raise RuntimeError("process() called while not capturing; call start() first")
        check_contract_chunk(chunk)
        s = self.settings
        samples = np.asarray(chunk.samples)
        dt = chunk.duration_s
        level = rms_dbfs(samples)
        self._maybe_speech = False
        speech = self._is_speech(samples, level, dt)
        if speech or (self._maybe_speech and self._onset_s is not None):
            self._last_sound_end_s = chunk.end_s
        if not speech:
            self._floor.update(level, dt)
        self._chunks.append(chunk)
        if speech:
            self._last_speech_captured_at = chunk.captured_at
            self._last_speech_end_s = chunk.end_s
            self._pause_reported = False
            if self._onset_s is None:
                self._onset_s = chunk.start_s
            self._speech_s += dt
            self._silence_s = 0.0
            self._pause_asked = False
            self._peak_dbfs = level if self._peak_dbfs is None else max(self._peak_dbfs, level)
        elif self._onset_s is not None:
            self._silence_s += dt
        self._in_speech = speech
        t = chunk.end_s

        if self._started:
            if self._silence_s >= s.end_silence_s - 1e-9:
                return self._finish(EndpointKind.END_OF_SPEECH, t, True)
            if self._turn is not None and not self._pause_asked and self._silence_s >= s.short_pause_s - 1e-9:
                self._pause_asked = True  # once per pause
                if self._turn_complete():
                    return self._finish(EndpointKind.END_OF_SPEECH, t, True)
            if t - self._onset_s > s.max_utterance_s + 1e-9:
                return self._finish(EndpointKind.TOO_LONG, t, True)
            if s.speculative_stt_s > 0 and not self._pause_reported and self._silence_s >= s.speculative_stt_s - 1e-9:
                self._pause_reported = True  # once per pause
                return EndpointUpdate(EndpointKind.PAUSE, t, self._utterance(t), self._onset_s,
                                      self._last_speech_end_s, self._last_sound_end_s)
            return EndpointUpdate(EndpointKind.NONE, t, None, self._onset_s, self._last_speech_end_s,
                                  self._last_sound_end_s)

        if self._onset_s is not None and self._speech_s >= s.min_speech_s - 1e-9:
            self._started = True
            logger.debug("speech started at %.2f s (reported %.2f s)", self._onset_s, t)
            return EndpointUpdate(EndpointKind.SPEECH_STARTED, t, None, self._onset_s)
        if self._onset_s is not None and self._silence_s >= s.end_silence_s - 1e-9:
            logger.debug("dropped %.2f s of speech-like sound at %.2f s", self._speech_s, self._onset_s)
            self._onset_s, self._speech_s, self._silence_s, self._peak_dbfs = None, 0.0, 0.0, None
        if self._onset_s is None:
            self._trim_pre_roll()
        if t - self._start_s >= self._no_speech_timeout_s - 1e-9:
            return self._finish(EndpointKind.NO_SPEECH, t, False)
        return EndpointUpdate(EndpointKind.NONE, t)
