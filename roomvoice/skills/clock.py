"""Fast path for time and date questions: answered by rules, never by the LLM.

Patterns cover the common English phrasings ("what time is it", "what's the time",
"what is today's date", "what day is it"). The clock is injected so tests are exact.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

_TIME = re.compile(
    r"\b(what(?:'s| is)? the time|what time(?: is it)?|tell me the time|time is it|current time)\b"
)
_DATE = re.compile(
    r"\b(what(?:'s| is)? (?:the |today's )?date|what day(?: is it| is today)?|today's date|which day is (?:it|today))\b"
)


def _normalise(text: str) -> str:
    text = text.lower().replace("’", "'")
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def answer_time_or_date(text: str, now: datetime) -> str | None:
    """Answer a time or date question, or return None if ``text`` is not one.

    Args:
        text: the user's words (any case/punctuation).
        now: the current local time (timezone-aware or naive).

    Returns:
        e.g. ``"It's 3:07 PM."``, ``"Today is Saturday, November 21st, 2026."``, or None.
    """
    norm = _normalise(text)
    if not norm or len(norm.split()) > 12:
        return None
    asks_time = bool(_TIME.search(norm))
    asks_date = bool(_DATE.search(norm))
    if not (asks_time or asks_date):
        return None
    hour = now.hour % 12 or 12
    time_text = f"It's {hour}:{now.minute:02d} {'AM' if now.hour < 12 else 'PM'}."
    date_text = f"Today is {now:%A}, {now:%B} {_ordinal(now.day)}, {now.year}."
    if asks_time and asks_date:
        return f"{time_text} {date_text}"
    return time_text if asks_time else date_text


def local_now(timezone: str | None = None) -> datetime:
    """The current time in ``timezone`` (IANA name, e.g. ``"Europe/Paris"``) or the system's local zone.

    Raises:
        zoneinfo.ZoneInfoNotFoundError: for an unknown zone name.
    """
    if timezone:
        return datetime.now(ZoneInfo(timezone))
    return datetime.now().astimezone()
