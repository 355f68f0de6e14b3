"""Who is asking, from where, and when: the context a skill's tools act in.

Tool arguments come from the LLM and never name the user or the role — those come from the
request (an authenticated API user, or the room a voice turn came from). A tool factory
(``tools(skill, context)`` in each skill module) takes either a fixed :class:`SkillContext`
or a zero-argument callable returning the current one (so one registry can serve many
requests, e.g. reading a ``contextvars.ContextVar``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from roomvoice.skills.timewords import utc_now, zone


@dataclass(frozen=True)
class SkillContext:
    """The context of one request.

    Attributes:
        user_id: the user's id (None: an unidentified voice in a room; their items are the
            household's).
        role: ``"admin"``, ``"member"`` or ``"guest"`` (a voice in a room counts as member).
        room: the room the request came from ("" for chat).
        timezone: IANA zone the user's words are meant in ("UTC" if unknown).
        now: the reference "now" (aware); None: the wall clock at each use.
        request_text: the words of the request (checked for prompt injection by tools that act
            on the system).
    """

    user_id: int | None = None
    role: str = "member"
    room: str = ""
    timezone: str = "UTC"
    now: datetime | None = field(default=None, compare=False)
    request_text: str = field(default="", compare=False)

    def local_reference(self, clock: Callable[[], datetime] = utc_now) -> datetime:
        """``now`` (or ``clock()`` when unset) in the request's timezone: what "tomorrow at 9" is relative to."""
        return (self.now or clock()).astimezone(zone(self.timezone))

    def reference(self) -> datetime:
        """``now``, or the current wall-clock time (aware, UTC)."""
        return self.now if self.now is not None else utc_now()


ContextSource = SkillContext | Callable[[], SkillContext]
"""A fixed context, or a callable giving the current one."""


def resolve(source: ContextSource) -> SkillContext:
    """The context ``source`` stands for now."""
    return source if isinstance(source, SkillContext) else source()
