"""Coded errors, one subclass per pipeline stage.

Modelled on Home Assistant's ``assist_pipeline`` errors: every error carries a stable
``code`` (kebab-case, e.g. ``"stt-failed"``) that UIs and tests match on, and a human
``message`` that says what was wrong. Raise them ``from`` the underlying cause.
"""

from __future__ import annotations


class RoomVoiceError(Exception):
    """Base error with a stable machine-readable code.

    Args:
        code: kebab-case error code, e.g. ``"audio-empty"``.
        message: what went wrong, for people (logs, console, error events).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def __reduce__(self):  # keep code/message across pickling (Ray, Serve)
        return (self.__class__, (self.code, self.message))


class ConfigError(RoomVoiceError):
    """Invalid configuration; ``message`` names the offending key."""


class AudioError(RoomVoiceError):
    """Audio that cannot be used: not audio, empty, wrong format, NaN, clipped, too long."""


class WakeWordError(RoomVoiceError):
    """Wake word model could not be loaded or run."""


class SpeechToTextError(RoomVoiceError):
    """Speech-to-text failed."""


class LLMError(RoomVoiceError):
    """The LLM failed or timed out."""


class TextToSpeechError(RoomVoiceError):
    """Text-to-speech failed."""


class AssistantError(RoomVoiceError):
    """The assistant could not produce a reply."""


class CameraError(RoomVoiceError):
    """A camera that cannot be opened or read (``camera-open-failed``, ``camera-read-failed``...)."""


def as_roomvoice_error(exc: BaseException, default: type[RoomVoiceError], code: str) -> RoomVoiceError:
    """Find the :class:`RoomVoiceError` behind ``exc`` (through Ray's ``RayTaskError.cause``
    and ``__cause__``), or wrap ``exc`` as ``default(code, ...)``.

    Ray Serve re-raises a replica's exception wrapped in ``RayTaskError``; this recovers the
    coded error so rooms can report the real code.
    """
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, RoomVoiceError) and hasattr(cur, "code"):
            return cur
        cur = getattr(cur, "cause", None) or cur.__cause__
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return default(code, f"{type(exc).__name__}: {text}"[:500])
