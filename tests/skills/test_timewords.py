"""Natural times against a fixed reference, durations, recurrence rules (pure, no database)."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from roomvoice.skills.errors import ScheduleError
from roomvoice.skills.timewords import (
    check_timer_duration,
    format_duration,
    next_occurrence,
    occurrences,
    parse_duration,
    parse_rrule,
    parse_when,
)

PARIS = ZoneInfo("Europe/Paris")
REF = datetime(2026, 11, 21, 15, 7, tzinfo=PARIS)  # a Saturday


@pytest.mark.parametrize("words, expected", [
    ("tomorrow at 9", datetime(2026, 11, 22, 9, 0)),
    ("in 10 minutes", datetime(2026, 11, 21, 15, 17)),
    ("next friday at 18:00", datetime(2026, 11, 27, 18, 0)),
    ("tonight at 8", datetime(2026, 11, 21, 20, 0)),
    ("in half an hour", datetime(2026, 11, 21, 15, 37)),
    ("at 3pm", datetime(2026, 11, 22, 15, 0)),  # 3 pm today has passed: the next one
    ("monday at 9:30", datetime(2026, 11, 23, 9, 30)),
    ("2026-12-01 10:00", datetime(2026, 12, 1, 10, 0)),
])
def test_natural_times_with_a_fixed_reference(words, expected):
    when = parse_when(words, REF, "Europe/Paris")
    assert when == expected.replace(tzinfo=PARIS) and when.tzinfo is not None


def test_reference_in_another_zone_is_converted():
    ref_utc = REF.astimezone(timezone.utc)
    assert parse_when("tomorrow at 9", ref_utc, "Europe/Paris") == datetime(2026, 11, 22, 9, 0, tzinfo=PARIS)
    assert parse_when("tomorrow at 9", ref_utc, "America/New_York").utcoffset().total_seconds() == -5 * 3600


@pytest.mark.parametrize("words, code", [
    ("yesterday at 9", "time-in-past"),
    ("2 hours ago", "time-in-past"),
    ("2020-01-01 10:00", "time-in-past"),
    ("in 30 years", "duration-invalid"),
    ("banana", "time-unparsable"),
    ("", "time-unparsable"),
])
def test_past_absurd_and_unparsable_times_are_refused(words, code):
    with pytest.raises(ScheduleError) as exc:
        parse_when(words, REF, "Europe/Paris")
    assert exc.value.code == code and exc.value.message


def test_unknown_timezone_is_refused():
    with pytest.raises(ScheduleError, match="Unknown timezone"):
        parse_when("tomorrow", REF, "Mars/Olympus")


@pytest.mark.parametrize("words, seconds", [
    ("5 minutes", 300), ("1 hour and 30 minutes", 5400), ("an hour and a half", 5400), ("90 s", 90),
    ("1:30", 90), ("1:00:00", 3600), ("ten minutes", 600), ("half an hour", 1800), ("for 2 hours, 5 min", 7500),
    ("45", 45),
])
def test_durations(words, seconds):
    assert parse_duration(words) == seconds


@pytest.mark.parametrize("words", ["pizza", "5 bananas", "2 and", "minutes"])
def test_unparsable_durations(words):
    with pytest.raises(ScheduleError) as exc:
        parse_duration(words)
    assert exc.value.code == "time-unparsable"


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), 86400 * 2, 86400 * 400])
def test_timer_duration_limits(seconds):
    with pytest.raises(ScheduleError) as exc:
        check_timer_duration(seconds)
    assert exc.value.code == "duration-invalid"


def test_format_duration():
    assert format_duration(5400) == "1 hour and 30 minutes"
    assert format_duration(61) == "1 minute and 1 second"
    assert format_duration(0.2) == "0 seconds"


def test_recurrence_keywords_and_rrules():
    assert parse_rrule("weekdays") == "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"
    assert parse_rrule("RRULE:freq=daily;count=3") == "FREQ=DAILY;COUNT=3"
    assert parse_rrule(None) is None and parse_rrule("never") is None
    for bad in ("FREQ=MINUTELY", "FREQ=SECONDLY", "every blue moon", "FREQ=DAILY\nDTSTART:20200101T000000Z",
                "FREQ=DAILY;DTSTART=20200101"):
        with pytest.raises(ScheduleError) as exc:
            parse_rrule(bad)
        assert exc.value.code == "rrule-invalid"


def test_weekday_expansion_skips_the_weekend():
    start = datetime(2026, 11, 20, 9, 0, tzinfo=PARIS)  # Friday
    got = occurrences("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", start, REF, datetime(2026, 12, 1, tzinfo=PARIS),
                      "Europe/Paris")
    assert [d.day for d in got] == [23, 24, 25, 26, 27, 30] and all(d.hour == 9 for d in got)


def test_daily_recurrence_keeps_local_time_across_daylight_saving():
    start = datetime(2027, 3, 26, 9, 0, tzinfo=PARIS)  # DST starts on Sunday 28 March 2027
    got = occurrences("FREQ=DAILY", start, start, datetime(2027, 3, 30, tzinfo=PARIS), "Europe/Paris")
    assert [(d.day, d.hour, d.utcoffset().total_seconds() / 3600) for d in got] == [
        (26, 9, 1), (27, 9, 1), (28, 9, 2), (29, 9, 2)]
    after = datetime(2027, 3, 27, 12, 0, tzinfo=timezone.utc)
    assert next_occurrence("FREQ=DAILY", start, after, "Europe/Paris") == datetime(2027, 3, 28, 9, 0, tzinfo=PARIS)
    assert next_occurrence("FREQ=DAILY;COUNT=2", start, after, "Europe/Paris") is None
    assert next_occurrence(None, start, after) is None


def test_monthly_on_the_31st_skips_short_months():
    start = datetime(2027, 1, 31, 8, 0, tzinfo=PARIS)
    got = occurrences("FREQ=MONTHLY", start, start, datetime(2027, 6, 1, tzinfo=PARIS), "Europe/Paris")
    assert [d.month for d in got] == [1, 3, 5]
