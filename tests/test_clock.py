"""Time/date fast path (no LLM)."""

from datetime import datetime

import pytest

from roomvoice.skills.clock import answer_time_or_date

NOW = datetime(2026, 11, 21, 15, 7)


@pytest.mark.parametrize("text", ["What time is it?", "what's the time", "Hey, tell me the time.", "WHAT TIME IS IT"])
def test_time_questions(text):
    assert answer_time_or_date(text, NOW) == "It's 3:07 PM."


@pytest.mark.parametrize("text", ["What is the date?", "what day is it", "What's today's date?"])
def test_date_questions(text):
    assert answer_time_or_date(text, NOW) == "Today is Saturday, November 21st, 2026."


def test_midnight_and_noon():
    assert answer_time_or_date("what time is it", datetime(2026, 1, 2, 0, 5)) == "It's 12:05 AM."
    assert answer_time_or_date("what time is it", datetime(2026, 1, 2, 12, 0)) == "It's 12:00 PM."


@pytest.mark.parametrize("text", ["", "tell me a joke", "and you always want to see it in the superlative degree",
                                  "turn on the kitchen lights",
                                  "I once spent a long time writing about what time it is in other countries"])
def test_other_text_goes_to_the_llm(text):
    assert answer_time_or_date(text, NOW) is None
