"""Announcements: "Announce dinner is ready in the kitchen", "…everywhere" — spoken in the named
rooms (or all of them) at once, without a turn.

* :func:`parse_announcement` — the pure parser of the phrase against the known room names.
* :func:`tools` — the LLM tool ``announce`` (``rooms`` is an ``enum`` of the known rooms plus
  ``"everywhere"``), which calls an injected :class:`Announcer` (the rooms backend's
  ``announce(rooms, text)``, or a blocking wrapper of it). Guests may not announce.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from roomvoice.skills.context import ContextSource, resolve
from roomvoice.skills.errors import ActionError
from roomvoice.skills.registry import Tool
from roomvoice.skills.types import ToolCall, ToolResult

logger = logging.getLogger(__name__)

MAX_ANNOUNCEMENT_CHARS = 300
"""Longest announcement, in characters."""
EVERYWHERE = "everywhere"
ROLES_THAT_MAY_ANNOUNCE = ("admin", "member")

_START = re.compile(r"^(?:(?:hey |ok |okay )?\w+[, ]+)??(?:please |can you |could you )?"
                    r"(?:make an announcement|announce|broadcast)\b[,:]?\s*(?P<body>.*)$", re.IGNORECASE)
_ALL = r"(?:everywhere|in (?:all|every) rooms?|to (?:everyone|everybody|all rooms|the whole house)|all over the house)"


@dataclass(frozen=True)
class AnnouncementRequest:
    """What to announce where.

    Attributes:
        text: the words to speak ("Dinner is ready.").
        rooms: the target rooms, in the order named; empty when ``everywhere``.
        everywhere: every room.
    """

    text: str
    rooms: tuple[str, ...] = ()
    everywhere: bool = False


class Announcer(Protocol):
    """Speaks text in rooms (all when ``rooms`` is empty) and returns one result per room
    (:class:`~roomvoice.events.Announcement`); raises a coded error for unknown rooms."""

    def __call__(self, rooms: Sequence[str], text: str) -> Sequence[Any]: ...


def _room_pattern(rooms: Sequence[str]) -> dict[str, str]:
    """Spoken form (``"living room"``) → room name (``"living_room"``)."""
    return {" ".join(r.replace("_", " ").replace("-", " ").lower().split()): r for r in rooms}


def _rooms_phrase(spoken: dict[str, str]) -> str:
    names = "|".join(re.escape(n) for n in sorted(spoken, key=len, reverse=True))
    one = rf"(?:the )?(?:{names})"
    return rf"(?:in|to|into) {one}(?:(?:,| and|, and) {one})*"


def _finish(text: str) -> str:
    text = text.strip(" ,:;-")
    text = re.sub(r"^that\s+", "", text, flags=re.IGNORECASE)
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def parse_announcement(utterance: str, rooms: Sequence[str]) -> AnnouncementRequest | None:
    """Parse "announce <text> in the kitchen [and the office]" / "announce <text> everywhere" /
    "announce in the kitchen that <text>".

    Args:
        utterance: the user's words.
        rooms: known room names (``"kitchen"``, ``"living_room"``; "living room" is matched).

    Returns:
        The request, or None when the words are not an announcement. With no room named it is
        ``everywhere``.

    Raises:
        ActionError: ``action-failed`` when it is an announcement with nothing to say.
    """
    m = _START.match(" ".join((utterance or "").split()))
    if m is None:
        return None
    body = m.group("body").rstrip(" .!?")
    spoken = _room_pattern(rooms)
    found: list[str] = []
    everywhere = False
    if spoken:
        phrase = _rooms_phrase(spoken)
        lead = re.match(rf"^(?P<where>{phrase})[,:]?\s+(?P<rest>.+)$", body, re.IGNORECASE)
        tail = re.match(rf"^(?P<rest>.+?)\s+(?P<where>{phrase})$", body, re.IGNORECASE)
        hit = lead or tail
        if hit is None and re.fullmatch(phrase, body, re.IGNORECASE):
            raise ActionError("action-failed", "What should I announce?")
        if hit is not None:
            where = hit.group("where").lower()
            found = [spoken[n] for n in sorted(spoken, key=len, reverse=True)
                     if re.search(rf"\b{re.escape(n)}\b", where)]
            found.sort(key=lambda r: where.find(next(k for k, v in spoken.items() if v == r)))
            body = hit.group("rest")
    if not found:
        lead = re.match(rf"^{_ALL}[,:]?\s+(?P<rest>.+)$", body, re.IGNORECASE)
        tail = re.match(rf"^(?P<rest>.+?)\s+{_ALL}$", body, re.IGNORECASE)
        if lead or tail:
            body = (lead or tail).group("rest")
        everywhere = True
    text = _finish(body)
    if not text:
        raise ActionError("action-failed", "What should I announce?")
    return AnnouncementRequest(text[:MAX_ANNOUNCEMENT_CHARS], tuple(dict.fromkeys(found)), everywhere)


def announce(announcer: Announcer, request: AnnouncementRequest, role: str = "member") -> ToolResult:
    """Speak ``request`` through ``announcer`` and say where it was heard.

    Raises:
        ActionError: ``permission-denied`` for a role that may not announce.
    """
    if role not in ROLES_THAT_MAY_ANNOUNCE:
        raise ActionError("permission-denied", f"A {role} may not make announcements.")
    results = list(announcer(list(request.rooms), request.text))
    heard = [getattr(r, "room", "?") for r in results if not getattr(r, "error", None)]
    failed = [getattr(r, "room", "?") for r in results if getattr(r, "error", None)]
    where = "everywhere" if request.everywhere else "in the " + " and the ".join(heard or request.rooms)
    message = f"Announced {where}." if heard else "I could not play the announcement."
    if failed and heard:
        message += f" It could not be played in the {' and the '.join(failed)}."
    return ToolResult("announce", bool(heard), message, code=None if heard else "action-failed",
                      data={"text": request.text, "rooms": heard, "failed": failed})


def tools(announcer: Announcer, context: ContextSource, rooms: Sequence[str]) -> list[Tool]:
    """The ``announce`` tool for the LLM.

    Args:
        announcer: speaks text in rooms.
        context: the request's context (its role decides whether announcing is allowed).
        rooms: known room names.
    """

    def handler(call: ToolCall) -> ToolResult:
        targets = list(dict.fromkeys(call.arguments["rooms"]))
        everywhere = EVERYWHERE in targets
        text = _finish(call.arguments["text"])
        request = AnnouncementRequest(text, () if everywhere else tuple(targets), everywhere)
        return announce(announcer, request, resolve(context).role)

    return [Tool(
        "announce", "Speak a message aloud in some rooms, or everywhere, right now.",
        {"type": "object", "additionalProperties": False, "required": ["text", "rooms"],
         "properties": {"text": {"type": "string", "minLength": 1, "maxLength": MAX_ANNOUNCEMENT_CHARS},
                        "rooms": {"type": "array", "minItems": 1, "maxItems": max(1, len(rooms) + 1),
                                  "items": {"enum": sorted(rooms) + [EVERYWHERE]}}}},
        handler)]
