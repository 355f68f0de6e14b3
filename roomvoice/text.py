"""Sentence splitting for speaking a streamed reply sentence by sentence.

The LLM streams small text deltas; the room wants to start speaking as soon as the
first sentence is complete. :class:`SentenceSplitter` takes deltas and hands back each
sentence once it is certainly finished: a ``.``, ``!``, ``?`` or ``…`` (optionally
followed by closing quotes/brackets) *and then whitespace*, or a line break. Because a
boundary needs the following whitespace, a sentence is only released when the next
delta shows it; the last one comes out of :meth:`SentenceSplitter.flush`.

Not split: decimals and versions (``3.5``, ``1.2.1``), times (``10.30``, ``7 a.m.``
mid-sentence), common abbreviations (``Mr.``, ``Dr.``, ``e.g.``, ``i.e.``, ``vs.``,
``St.``...; ``etc.``/``p.m.`` only when a capital follows; ``No. 5``), single initials
(``J. R. R. Tolkien``), list markers (``1. ``), and any period or ellipsis followed by a
lower-case word. Dotted acronyms of up to three letters (``U.S.``) and a single capital
letter (an initial, so also "vitamin C. It") are not split either. The rules are
heuristics in the spirit of piper's / espeak-ng's clause splitting; pure Python, no
model, no I/O.
"""

from __future__ import annotations

import re

__all__ = ["SentenceSplitter", "split_sentences"]

ABBREVIATIONS: frozenset[str] = frozenset(
    {
        # titles
        "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "rev", "capt", "lt", "sgt", "gov",
        "sen", "pres", "hon",
        # shorthands that are not words
        "e.g", "i.e", "vs", "cf", "approx", "dept", "misc", "ave", "blvd", "hrs", "mins", "secs",
        "lbs", "yrs", "jan", "feb", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
        "tue", "tues", "thu", "thur", "thurs",
    }
)
"""Lower-case words (without their final period) after which a period never ends a sentence."""

NUMBERED: frozenset[str] = frozenset(
    {"no", "nos", "fig", "vol", "ch", "p", "pp", "min", "max", "sec", "hr", "yr", "ft", "oz", "lb",
     "ext", "tel", "mar", "est", "ca"}
)
"""Words that are abbreviations only before a number ("No. 5", "Fig. 3", "Mar. 3")."""

SENTENCE_FINAL: frozenset[str] = frozenset({"etc", "a.m", "p.m", "inc", "ltd", "co", "corp", "al"})
"""Abbreviations that often end a sentence: they do end it when a capitalised word follows."""

_CLOSERS = "\"')]}»”’"
# A candidate boundary: terminator run, optional closers, then whitespace (or a line break
# on its own, which always ends a sentence).
_BOUNDARY = re.compile(r"([.!?…]+[" + re.escape(_CLOSERS) + r"]*)(\s+)|(\s*\n\s*)")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")


def _is_boundary(before: str, term: str, after: str) -> bool:
    """Decide whether ``before + term`` ends a sentence, given what follows.

    Args:
        before: the text of the sentence so far, up to (not including) the terminator.
        term: the terminator run with any closing quotes, e.g. ``"."``, ``"?!"``, ``".\""``.
        after: the text after the whitespace (may be empty at the end of the buffer).
    """
    stripped = term.rstrip(_CLOSERS)
    if stripped != ".":
        # "!", "?", "?!", "..." and "…": a boundary unless an ellipsis runs on in lower case.
        if ("..." in stripped or "…" in stripped) and after[:1].islower():
            return False
        return True
    if before.strip().isdigit():
        return False  # a list marker: "1. Turn on the lights"
    if after[:1].islower():
        return False  # "approx. three", "at 7 a.m. tomorrow": sentences start with a capital
    match = _WORD_BEFORE.search(before)
    if match is None:
        return True  # "It is 7.30." or a period after punctuation: a boundary
    word = match.group(1).lower()
    next_upper = after[:1].isupper()
    if word in SENTENCE_FINAL:
        return next_upper
    if word in ABBREVIATIONS:
        return False
    if word in NUMBERED and after[:1].isdigit():
        return False
    if len(word) == 1 and before[-2:-1] in ("", " ", ".", "(") and next_upper:
        return False  # an initial: "J. Smith"
    if "." in word:  # dotted acronym such as "U.S." or "e.g." written in an unknown form
        return next_upper and len(word.replace(".", "")) > 3
    return True


class SentenceSplitter:
    """Incremental sentence splitter for streamed text.

    ``push`` returns the sentences completed so far (stripped, in order); ``flush``
    returns what is left at the end of the stream. Feeding a text whole or one
    character at a time gives the same sentences.

    Example::

        s = SentenceSplitter()
        s.push("It is 3.5 degrees. Dr. Smi")   # -> ["It is 3.5 degrees."]
        s.push("th is in.")                     # -> []
        s.flush()                               # -> "Dr. Smith is in."
    """

    def __init__(self) -> None:
        self._buffer = ""
        self._scan_from = 0

    def push(self, delta: str) -> list[str]:
        """Add a text delta.

        Args:
            delta: the next piece of text (any length, may be empty).

        Returns:
            Sentences that became complete, stripped, never empty.
        """
        if not delta:
            return []
        self._buffer += delta
        sentences: list[str] = []
        start = 0
        pos = self._scan_from
        buf = self._buffer
        while True:
            match = _BOUNDARY.search(buf, pos)
            if match is None:
                break
            if match.group(3) is not None:  # a line break
                if match.end() == len(buf):
                    break  # wait: more whitespace may follow
                piece = buf[start:match.start()].strip()
                if piece:
                    sentences.append(piece)
                start = pos = match.end()
                continue
            if match.end() == len(buf):
                break  # need to see the next character to judge the boundary
            after = buf[match.end():]
            if "\n" in match.group(2) or _is_boundary(buf[start:match.start(1)], match.group(1), after):
                piece = buf[start:match.end(1)].strip()
                if piece:
                    sentences.append(piece)
                start = pos = match.end()
            else:
                pos = match.end()
        self._buffer = buf[start:]
        # Everything before ``pos`` is judged for good; undecided candidates lie after it.
        self._scan_from = pos - start
        return sentences

    def flush(self) -> str | None:
        """End of stream: return the remaining text (stripped) or ``None`` if none, and reset."""
        rest = self._buffer.strip()
        self._buffer = ""
        self._scan_from = 0
        return rest or None


def split_sentences(text: str) -> list[str]:
    """Split a whole text into sentences with the same rules as :class:`SentenceSplitter`.

    Args:
        text: any text.

    Returns:
        Stripped, non-empty sentences in order (``[]`` for blank text).
    """
    splitter = SentenceSplitter()
    sentences = splitter.push(text)
    rest = splitter.flush()
    if rest:
        sentences.append(rest)
    return sentences
