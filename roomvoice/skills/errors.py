"""Coded errors of the skills: tools, entities and Home Assistant.

Every error is a :class:`~roomvoice.errors.RoomVoiceError` with a stable kebab-case ``code``:

=========================  ==================================================================
code                       meaning
=========================  ==================================================================
``tool-unknown``           the LLM named a tool that is not registered
``tool-bad-arguments``     arguments that are not JSON, not an object, or fail the schema
``entity-unknown``         no entity matches a name or id
``entity-ambiguous``       several entities match about equally well (``candidates`` lists them)
``entity-unsure``          no name is spelled alike, one only *sounds* alike; the message asks
                           "Did you mean the Kitchen Lamp?" (``candidates`` holds it)
``entity-wrong-domain``    the entity exists but the tool/intent cannot act on its domain
``ha-no-token``            no Home Assistant token (argument or ``HA_TOKEN``)
``ha-unreachable``         Home Assistant did not answer (connection refused, timeout)
``ha-error``               Home Assistant answered with an HTTP error (``status`` holds it)
``ha-bad-response``        Home Assistant answered with malformed or unexpected JSON
=========================  ==================================================================

``message`` is written to be spoken or shown as is ("Which one did you mean: Kitchen Lights
or Kitchen Window?").
"""

from __future__ import annotations

from roomvoice.errors import RoomVoiceError


class SkillError(RoomVoiceError):
    """Base class of the skills' coded errors."""


class ToolError(SkillError):
    """A tool call the registry refuses: ``tool-unknown`` or ``tool-bad-arguments``."""


class EntityError(SkillError):
    """An entity reference that cannot be used: ``entity-unknown``, ``entity-ambiguous``,
    ``entity-unsure``, ``entity-wrong-domain``.

    Args:
        code: the error code.
        message: what was wrong, phrased to be spoken.
        candidates: for ``entity-ambiguous``, the entity ids that matched about equally well,
            best first; for ``entity-unsure``, the one that sounds alike; for
            ``entity-wrong-domain``, the entity found; empty otherwise.
    """

    def __init__(self, code: str, message: str, candidates: tuple[str, ...] = ()) -> None:
        super().__init__(code, message)
        self.candidates = tuple(candidates)

    def __reduce__(self):  # keep candidates across pickling (Ray, Serve)
        return (self.__class__, (self.code, self.message, self.candidates))


class HomeAssistantError(SkillError):
    """Home Assistant could not be used: ``ha-no-token``, ``ha-unreachable``, ``ha-error``,
    ``ha-bad-response``.

    Args:
        code: the error code.
        message: what was wrong.
        status: the HTTP status for ``ha-error``; ``None`` otherwise.
    """

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(code, message)
        self.status = status

    def __reduce__(self):
        return (self.__class__, (self.code, self.message, self.status))


class ScheduleError(SkillError):
    """A time-based request (timer, reminder, calendar event, task) that cannot be done.

    Codes: ``time-unparsable`` (no time found in the words), ``time-in-past``,
    ``duration-invalid`` (≤ 0 or absurdly long), ``rrule-invalid`` (a recurrence that cannot be
    parsed or repeats too often), ``timer-not-found``, ``timer-ambiguous`` (several timers fit),
    ``timer-exists`` (a running timer already has that name), ``reminder-not-found``,
    ``event-not-found``, ``task-not-found``, ``task-ambiguous``.
    """


class ActionError(SkillError):
    """An announcement, system action or camera request that is refused or failed.

    Codes: ``room-unknown``, ``permission-denied`` (the user's role may not do this),
    ``action-unknown`` (not in the allow-list), ``action-failed`` (it ran and failed or timed
    out), ``camera-unavailable``.
    """
