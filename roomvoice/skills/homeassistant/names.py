"""Spoken names: ASCII folding, sound-alike codes and the speech-recognition vocabulary.

Speech recognition mishears device names as words that *sound* alike ("kitchen lamb" for
"kitchen lamp", "bureau light" for "Büro-Licht", "tee vee" for "TV"). :func:`sound_code` turns a
name into a phonetic key — each word's Metaphone code (Lawrence Philips, 1990, as implemented
by ``jellyfish.metaphone``) after folding accents to ASCII, concatenated without spaces so a
name split or joined differently ("hole way light" / "hallway light") gives the same key.
:class:`~roomvoice.skills.homeassistant.entities.EntityIndex` compares these keys with
``rapidfuzz`` next to its spelling scores.

:func:`vocabulary_text` builds the comma-separated hint a Whisper-style recogniser takes as its
``initial_prompt`` (whisper keeps at most 224 prompt tokens; the default 600 characters stay well
under that).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import jellyfish

_LETTERS = re.compile(r"[a-z]+|[0-9]+")
_UNSAFE = re.compile(r"[^\w'&.\- ]+")  # kept in a vocabulary entry: letters, digits, ' & . -
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """``text`` with accents removed and other non-ASCII letters dropped ("Zoë's" → "Zoe's",
    "Büro" → "Buro"); NFKD decomposition, then ASCII only."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def sound_code(text: str) -> str:
    """The phonetic key of a name: Metaphone code of each ASCII-folded word, concatenated
    ("kitchen lamb" → ``"KXNLM"``, "hole way" → ``"HLW"``). Digits are kept as they are.

    Returns:
        The key, upper case; ``""`` when the name has no Latin letters or digits (then it has
        no sound-alikes: callers must not score it).
    """
    parts = []
    for token in _LETTERS.findall(fold(text).lower()):
        parts.append(token if token.isdigit() else jellyfish.metaphone(token))
    return "".join(parts)


def vocabulary_entry(name: str) -> str:
    """A name made safe for a comma-separated prompt: punctuation other than ``' & . -`` becomes
    a space ("TV (living room)" → "TV living room"), spaces collapse; letters of any script stay."""
    return _SPACES.sub(" ", _UNSAFE.sub(" ", name.replace("_", " "))).strip(" .-")


def vocabulary_text(names: Iterable[str], max_chars: int = 600) -> str:
    """Join ``names`` (most useful first) into a prompt of at most ``max_chars`` characters.

    Each name goes through :func:`vocabulary_entry`; repeats (compared case-insensitively) and
    empty names are left out; a name that would not fit is skipped and shorter ones after it may
    still be taken.

    Returns:
        ``"Kitchen, Living Room, Kitchen Lights, ..."``; ``""`` when nothing fits or ``max_chars <= 0``.
    """
    taken: list[str] = []
    seen: set[str] = set()
    used = 0
    for raw in names:
        entry = vocabulary_entry(raw)
        key = entry.casefold()
        if not entry or key in seen:
            continue
        cost = len(entry) + (2 if taken else 0)
        if used + cost > max_chars:
            continue
        seen.add(key)
        taken.append(entry)
        used += cost
    return ", ".join(taken)
