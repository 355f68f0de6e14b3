"""Words to times: natural dates ("tomorrow at 9"), durations ("1 hour and 30 minutes"),
recurrences ("every weekday", RRULE) — pure functions with an explicit reference time.

* :func:`parse_when` — a moment from words, via ``dateparser`` (``RELATIVE_BASE`` = the
  reference time, ``PREFER_DATES_FROM=future``) after a few normalisations dateparser lacks
  ("at 9" → 09:00, "tonight at 8" → 20:00, "half an hour" → 30 minutes). Past or absurdly far
  times are refused.
* :func:`parse_duration` — seconds from words or ``H:MM:SS``.
* :func:`parse_rrule` / :func:`occurrences` / :func:`next_occurrence` — RFC 5545 recurrence
  rules via ``dateutil.rrule.rrulestr``, expanded in the item's own timezone so "every day at
  9" stays at 09:00 local across daylight-saving changes.

Every refusal is a :class:`~roomvoice.skills.errors.ScheduleError` whose message can be spoken.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rrulestr

from roomvoice.skills.errors import ScheduleError

logger = logging.getLogger(__name__)

MAX_TIMER_S = 24 * 3600.0
"""Longest timer, in seconds (24 h); longer waits are reminders."""
MAX_AHEAD = timedelta(days=5 * 366)
"""Furthest a reminder or event may be scheduled ahead of the reference time."""
PAST_TOLERANCE = timedelta(seconds=30)
"""A parsed time this little in the past is taken as "now" (the words took time to say)."""
MAX_OCCURRENCES = 1000
"""Most occurrences :func:`occurrences` returns for one item and window."""

_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "twenty five": 25, "thirty": 30, "forty": 40, "forty five": 45, "fifty": 50, "sixty": 60, "ninety": 90,
}
_UNITS = {"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "mins": 60,
          "minute": 60, "minutes": 60, "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
          "d": 86400, "day": 86400, "days": 86400, "week": 604800, "weeks": 604800,
          "year": 31536000, "years": 31536000}
_NUM = (r"\d+(?:\.\d+)?|(?:" + "|".join(sorted((re.escape(w) for w in _NUMBER_WORDS), key=len, reverse=True))
        + r")(?=\s)")
_DURATION_PART = re.compile(rf"\b(?P<num>{_NUM})\s*(?P<unit>[a-z]+)\b(?P<half>\s+and\s+a\s+half)?")
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2})$")

_REPEAT_WORDS = {
    "hourly": "FREQ=HOURLY", "daily": "FREQ=DAILY", "every day": "FREQ=DAILY",
    "weekly": "FREQ=WEEKLY", "every week": "FREQ=WEEKLY",
    "weekdays": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "every weekday": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
    "weekends": "FREQ=WEEKLY;BYDAY=SA,SU", "every weekend": "FREQ=WEEKLY;BYDAY=SA,SU",
    "monthly": "FREQ=MONTHLY", "every month": "FREQ=MONTHLY", "yearly": "FREQ=YEARLY",
    "annually": "FREQ=YEARLY", "every year": "FREQ=YEARLY",
}
REPEAT_KEYWORDS = tuple(_REPEAT_WORDS)
"""Plain words accepted by :func:`parse_rrule` besides RRULE text."""


def zone(name: str | None) -> ZoneInfo:
    """The IANA zone ``name`` (``"Europe/Paris"``); ``None``/``""`` → UTC.

    Raises:
        ScheduleError: ``time-unparsable`` for an unknown zone.
    """
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError("time-unparsable", f"Unknown timezone {name!r}.") from exc


def _aware(value: datetime, tz: ZoneInfo) -> datetime:
    return value.replace(tzinfo=tz) if value.tzinfo is None else value.astimezone(tz)


def _normalise_when(text: str) -> str:
    t = re.sub(r"\s+", " ", text.lower().replace("’", "'")).strip(" .!?")
    t = re.sub(r"\bhalf an hour\b", "30 minutes", t)
    t = re.sub(r"\ba quarter of an hour\b|\ba quarter hour\b", "15 minutes", t)
    t = re.sub(r"\b(?:an|one) hour and a half\b", "90 minutes", t)
    t = re.sub(r"\bin an? (minute|hour|day|week|month|year)\b", r"in 1 \1", t)
    evening = bool(re.search(r"\b(tonight|this evening|in the evening)\b", t))
    t = re.sub(r"\btonight\b|\bthis evening\b", "today", t)
    t = re.sub(r"\bin the evening\b", "", t)

    def bare_hour(m: re.Match[str]) -> str:  # "at 9" → "at 09:00" (dateparser would ignore the hour)
        hour = int(m.group(1))
        if evening and hour < 12:
            hour += 12
        return f"at {hour:02d}:00"

    t = re.sub(r"\bat (\d{1,2})\b(?!\s*(?::|am|pm|a\.m|p\.m|o'clock|h\b))", bare_hour, t)
    t = re.sub(r"\b(\d{1,2}) o'clock\b", lambda m: f"{int(m.group(1)):02d}:00", t)
    return re.sub(r"\s+", " ", t).strip()


def parse_when(text: str, reference: datetime, tz: str | None = None, *,
               max_ahead: timedelta = MAX_AHEAD) -> datetime:
    """The moment meant by ``text``, relative to ``reference``.

    Args:
        text: e.g. ``"tomorrow at 9"``, ``"in 10 minutes"``, ``"next friday at 18:00"``,
            ``"2026-12-01 10:00"``.
        reference: "now"; aware (any zone) or naive (taken as local time in ``tz``).
        tz: IANA timezone the words are meant in (None: UTC).
        max_ahead: the furthest accepted time after ``reference``.

    Returns:
        An aware datetime in ``tz``.

    Raises:
        ScheduleError: ``time-unparsable`` (no time in the words), ``time-in-past``,
            ``duration-invalid`` (beyond ``max_ahead``).
    """
    import dateparser  # imported here: ~0.2 s, only the time skills need it

    zone_info = zone(tz)
    ref = _aware(reference, zone_info)
    words = _normalise_when(text or "")
    if not words:
        raise ScheduleError("time-unparsable", "No time was given.")
    settings = {"RELATIVE_BASE": ref.replace(tzinfo=None), "TIMEZONE": zone_info.key,
                "TO_TIMEZONE": zone_info.key, "RETURN_AS_TIMEZONE_AWARE": True,
                "PREFER_DATES_FROM": "future"}
    when = dateparser.parse(words, languages=["en"], settings=settings)
    if when is None:
        raise ScheduleError("time-unparsable", f"I could not understand the time {text.strip()[:80]!r}.")
    when = _aware(when, zone_info)
    check_future(when, ref, max_ahead=max_ahead)
    return max(when, ref)


def check_future(when: datetime, reference: datetime, *, max_ahead: timedelta = MAX_AHEAD) -> None:
    """Refuse a time in the past (beyond :data:`PAST_TOLERANCE`) or beyond ``max_ahead``.

    Raises:
        ScheduleError: ``time-in-past`` or ``duration-invalid``.
    """
    if when.tzinfo is None or reference.tzinfo is None:
        raise ValueError("check_future needs timezone-aware datetimes")
    if when < reference - PAST_TOLERANCE:
        raise ScheduleError("time-in-past", f"{describe_time(when, reference)} is in the past.")
    if when - reference > max_ahead:
        raise ScheduleError("duration-invalid", f"{describe_time(when, reference)} is too far ahead "
                                                f"(at most {max_ahead.days} days).")


def parse_duration(text: str) -> float:
    """Seconds meant by ``text``: ``"5 minutes"``, ``"1 hour and 30 minutes"``, ``"an hour and a
    half"``, ``"90 s"``, ``"1:30"`` (minutes:seconds), ``"1:00:00"`` (h:mm:ss), or a bare number
    (seconds).

    Returns:
        The duration in seconds (may be ≤ 0; see :func:`check_timer_duration`).

    Raises:
        ScheduleError: ``time-unparsable`` when no duration is found, or words are left over.
    """
    t = re.sub(r"\s+", " ", (text or "").lower()).strip(" .!?")
    t = re.sub(r"^(for|in) ", "", t)
    t = re.sub(r"\bhalf an? (hour|minute)\b", lambda m: f"0.5 {m.group(1)}", t)
    if (m := _CLOCK.match(t)) is not None:
        h, mi, s = int(m.group(1) or 0), int(m.group(2)), int(m.group(3))
        return float(h * 3600 + mi * 60 + s) if m.group(1) else float(mi * 60 + s)
    try:
        return float(t)
    except ValueError:
        pass
    total, found, rest = 0.0, False, t
    for m in _DURATION_PART.finditer(t):
        unit = _UNITS.get(m.group("unit"))
        if unit is None:
            continue
        num = m.group("num")
        value = float(num) if num[0].isdigit() else float(_NUMBER_WORDS[num])
        if m.group("half"):
            value += 0.5
        total += value * unit
        found = True
        rest = rest.replace(m.group(0), " ", 1)
    if not found or re.sub(r"\b(and|,)\b|[,\s]", "", rest):
        raise ScheduleError("time-unparsable", f"I could not understand the duration {text.strip()[:80]!r}.")
    return total


def check_timer_duration(seconds: float, max_s: float = MAX_TIMER_S) -> float:
    """Return ``seconds`` if it is a usable timer length (0 < seconds ≤ ``max_s``).

    Raises:
        ScheduleError: ``duration-invalid``.
    """
    if not isinstance(seconds, (int, float)) or seconds != seconds or seconds <= 0:
        raise ScheduleError("duration-invalid", "A timer needs a length greater than zero.")
    if seconds > max_s:
        raise ScheduleError("duration-invalid", f"A timer can run at most {format_duration(max_s)}; "
                                                "use a reminder for anything longer.")
    return float(seconds)


def format_duration(seconds: float) -> str:
    """``"1 hour and 5 minutes"``, ``"45 seconds"``: rounded to whole seconds, at most 2 parts."""
    s = max(0, int(round(seconds)))
    parts = []
    for name, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        n, s = divmod(s, size)
        if n:
            parts.append(f"{n} {name}{'s' if n != 1 else ''}")
    parts = parts[:2] or ["0 seconds"]
    return " and ".join(parts)


def describe_time(when: datetime, reference: datetime) -> str:
    """``"today at 3:07 PM"``, ``"tomorrow at 9:00 AM"``, ``"Friday, November 27 at 6:00 PM"``
    (``when`` shown in ``reference``'s zone)."""
    local = when.astimezone(reference.tzinfo) if reference.tzinfo else when
    clock = f"{local.hour % 12 or 12}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"
    days = (local.date() - reference.date()).days
    if days == 0:
        return f"today at {clock}"
    if days == 1:
        return f"tomorrow at {clock}"
    if days == -1:
        return f"yesterday at {clock}"
    return f"{local:%A}, {local:%B} {local.day}{'' if local.year == reference.year else f', {local.year}'} at {clock}"


def parse_rrule(text: str | None) -> str | None:
    """Validate a recurrence and return it as RRULE text (without ``RRULE:``), or None for none.

    Args:
        text: a keyword of :data:`REPEAT_KEYWORDS` (``"daily"``, ``"weekdays"``...) or an
            RFC 5545 rule (``"FREQ=WEEKLY;BYDAY=MO"``, ``"RRULE:FREQ=DAILY;COUNT=3"``).
            ``None``, ``""``, ``"none"``, ``"never"`` → None.

    Raises:
        ScheduleError: ``rrule-invalid`` (unparsable, has its own DTSTART, or repeats more
            often than hourly).
    """
    if text is None or text.strip().lower() in ("", "none", "never", "once", "no"):
        return None
    raw = _REPEAT_WORDS.get(text.strip().lower(), text.strip())
    raw = re.sub(r"^RRULE:", "", raw, flags=re.IGNORECASE).upper()
    if "DTSTART" in raw or "\n" in raw:
        raise ScheduleError("rrule-invalid", "The recurrence must be a single RRULE without DTSTART.")
    if not re.fullmatch(r"[A-Z0-9=;,:+\-]{1,300}", raw):
        raise ScheduleError("rrule-invalid", f"{text.strip()[:60]!r} is not a recurrence I understand.")
    try:
        rule = rrulestr(raw, dtstart=datetime(2000, 1, 1, tzinfo=timezone.utc))
    except (ValueError, TypeError) as exc:
        raise ScheduleError("rrule-invalid", f"{text.strip()[:60]!r} is not a valid recurrence: {exc}") from exc
    if not isinstance(rule, rrule) or rule._freq > 4:  # noqa: SLF001  (5 = MINUTELY, 6 = SECONDLY)
        raise ScheduleError("rrule-invalid", "Recurrences can repeat at most hourly.")
    return raw


def _rule(rule_text: str, dtstart: datetime, tz: str | None) -> rrule:
    return rrulestr(rule_text, dtstart=dtstart.astimezone(zone(tz)))


def occurrences(rule_text: str | None, dtstart: datetime, start: datetime, end: datetime,
                tz: str | None = None, limit: int = MAX_OCCURRENCES) -> list[datetime]:
    """Occurrences of an item in ``[start, end)``.

    Args:
        rule_text: RRULE text (see :func:`parse_rrule`), or None for a one-off at ``dtstart``.
        dtstart: the first occurrence (aware).
        start, end: the window (aware).
        tz: the item's IANA zone; the rule is expanded in local time there (DST-correct).
        limit: most occurrences returned.

    Returns:
        Aware datetimes in ``tz``, ascending.
    """
    if rule_text is None:
        return [dtstart.astimezone(zone(tz))] if start <= dtstart < end else []
    out: list[datetime] = []
    for when in _rule(rule_text, dtstart, tz).xafter(start, inc=True):
        if when >= end or len(out) >= limit:
            break
        out.append(when)
    return out


def next_occurrence(rule_text: str | None, dtstart: datetime, after: datetime, tz: str | None = None) -> datetime | None:
    """The first occurrence strictly after ``after``, or None (one-off, or the rule has ended)."""
    if rule_text is None:
        return None
    return _rule(rule_text, dtstart, tz).after(after, inc=False)


def first_occurrence(rule_text: str | None, start: datetime, tz: str | None = None) -> datetime:
    """The first occurrence at or after ``start`` of a rule anchored there (``start`` itself
    for a one-off): "every weekday from tomorrow (a Sunday) at 9" first falls on Monday.

    Raises:
        ScheduleError: ``rrule-invalid`` when the rule never occurs.
    """
    if rule_text is None:
        return start
    first = _rule(rule_text, start, tz).after(start, inc=True)
    if first is None:
        raise ScheduleError("rrule-invalid", "That recurrence never happens.")
    return first


def utc_now() -> datetime:
    """The current time, aware, in UTC (the default wall clock of the schedule stores)."""
    return datetime.now(timezone.utc)
