"""Streaming sentence splitter: the same sentences whether text comes whole, by character or in chunks."""

from __future__ import annotations

import random

import pytest

from roomvoice.text import SentenceSplitter, split_sentences

CASES = [
    ("Hello there. How are you? Fine!", ["Hello there.", "How are you?", "Fine!"]),
    ("It is 3.5 degrees outside. Take a coat.", ["It is 3.5 degrees outside.", "Take a coat."]),
    ("Dr. Smith and Mr. Jones are here. Mrs. Brown left.", ["Dr. Smith and Mr. Jones are here.", "Mrs. Brown left."]),
    ("Use a lamp, e.g. the red one, i.e. the old one. Done.",
     ["Use a lamp, e.g. the red one, i.e. the old one.", "Done."]),
    ("Meet me at 7 a.m. tomorrow. Bring coffee.", ["Meet me at 7 a.m. tomorrow.", "Bring coffee."]),
    ("The meeting ends at 5 p.m. Then we go home.", ["The meeting ends at 5 p.m.", "Then we go home."]),
    ("The timer ends at 10.30 today. It is 7.45. Okay?", ["The timer ends at 10.30 today.", "It is 7.45.", "Okay?"]),
    ("Version 1.2.1 is out. Prices rose 2.5%. Great", ["Version 1.2.1 is out.", "Prices rose 2.5%.", "Great"]),
    ("First line\nSecond line\n\nThird. Fourth", ["First line", "Second line", "Third.", "Fourth"]),
    ("Wait... what? Hmm... Okay.", ["Wait... what?", "Hmm...", "Okay."]),
    ('He said "stop." Then he left.', ['He said "stop."', "Then he left."]),
    ("J. R. R. Tolkien wrote it. Read it.", ["J. R. R. Tolkien wrote it.", "Read it."]),
    ("Steps:\n1. Open the door.\n2. Turn on the light.", ["Steps:", "1. Open the door.", "2. Turn on the light."]),
    ("Room No. 5 is free. I said no. Sorry.", ["Room No. 5 is free.", "I said no.", "Sorry."]),
    ("Come in. Sit down.", ["Come in.", "Sit down."]),
    ("Really?! Yes.", ["Really?!", "Yes."]),
    ("no punctuation at all", ["no punctuation at all"]),
    ("   ", []),
]


def feed(pieces: list[str]) -> list[str]:
    splitter = SentenceSplitter()
    out: list[str] = []
    for piece in pieces:
        out += splitter.push(piece)
    rest = splitter.flush()
    return out + ([rest] if rest else [])


@pytest.mark.parametrize("text,expected", CASES)
def test_whole_text(text, expected):
    assert split_sentences(text) == expected
    assert feed([text]) == expected


@pytest.mark.parametrize("text,expected", CASES)
def test_character_by_character(text, expected):
    assert feed(list(text)) == expected


@pytest.mark.parametrize("text,expected", CASES)
def test_random_chunks_like_llm_deltas(text, expected):
    rng = random.Random(len(text))
    pieces, i = [], 0
    while i < len(text):
        n = rng.randint(1, 6)
        pieces.append(text[i:i + n])
        i += n
    assert feed(pieces) == expected


def test_sentences_come_out_as_soon_as_the_next_word_starts():
    s = SentenceSplitter()
    assert s.push("It is sunny.") == []          # could still be "sunny.com" or an abbreviation
    assert s.push(" ") == []                     # need the next character to judge
    assert s.push("T") == ["It is sunny."]
    assert s.push("he end") == []
    assert s.flush() == "The end"
    assert s.flush() is None                     # flush resets


def test_empty_pushes_and_reuse():
    s = SentenceSplitter()
    assert s.push("") == []
    assert s.flush() is None
    assert s.push("One. Two") == ["One."]
    assert s.flush() == "Two"
    assert s.push("Three! Four") == ["Three!"]
