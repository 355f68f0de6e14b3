"""The home's words for speech recognition: entity names, aliases and areas as an STT prompt.

Whisper is biased towards the words of its ``initial_prompt`` (faster-whisper's
``initial_prompt``), so a device called "Lutron Dimmer" or "Govee Strip" is heard as such rather
than as a more common sound-alike ("electron dimmer", "goby strip"). The assistant builds the
text from Home Assistant's entities (``vocabulary()`` on the services, see
:meth:`~roomvoice.skills.homeassistant.entities.EntityIndex.vocabulary`); a room fetches it when
it first needs it and again every ``refresh_s``, off the capture thread. A failure leaves the
previous text (or none) in place, logged once: recognition works without it.

The prompt is not used for every utterance: on general speech it costs words (tiny.en heard
"Gregson" as "Greggs in" on a bundled ARCTIC clip with a list of device names as the prompt).
:func:`hear` transcribes without it first, and only a home request that the fast path could not
act on (it would ask which device, refuse an unknown name, or leave it to the LLM's tool step)
is heard again with the prompt; the second transcript wins only if the fast path then acts on it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from roomvoice.events import Transcript, Utterance

logger = logging.getLogger(__name__)

MAX_PROMPT_CHARS = 800
"""Longest vocabulary used as a prompt (whisper keeps at most 224 prompt tokens, ~900 characters)."""


class VocabularyCache:
    """The vocabulary text, fetched lazily and refreshed.

    Args:
        fetch: returns the vocabulary text (may raise); None = no vocabulary.
        name: the room (logs).
        refresh_s: seconds after which the text is fetched again.
        clock: monotonic clock (tests inject one).
    """

    def __init__(self, fetch: Callable[[], str] | None, name: str = "", refresh_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self.name = name
        self.refresh_s = float(refresh_s)
        self._clock = clock
        self._text: str | None = None
        self._fetched_at: float | None = None
        self._failed = False
        self._lock = threading.Lock()

    def get(self) -> str | None:
        """The vocabulary prompt (stripped, at most :data:`MAX_PROMPT_CHARS`), or None."""
        if self._fetch is None:
            return None
        with self._lock:
            now = self._clock()
            if self._fetched_at is not None and now - self._fetched_at < self.refresh_s:
                return self._text
            self._fetched_at = now
            try:
                text = self._fetch()
            except Exception as exc:  # recognition goes on without (or with the older) vocabulary
                if not self._failed:
                    logger.warning("%s: no STT vocabulary (%s); transcribing without it", self.name, exc)
                self._failed = True
                return self._text
            self._failed = False
            text = " ".join(str(text or "").split())[:MAX_PROMPT_CHARS].strip()
            self._text = text or None
            return self._text


@dataclass(frozen=True)
class Heard:
    """What a room heard in an utterance.

    Attributes:
        transcript: the transcript used for the turn (``stt_s``: all passes together).
        route: where the assistant sends it (``fast_path``, ``unsure``, ``tool``, ``llm``), or None
            when not asked.
        biased: the transcript came from the pass with the home's vocabulary as the prompt.
    """

    transcript: Transcript
    route: str | None = None
    biased: bool = False


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^\w' ]+", " ", text.lower()).split())


def hear(utterance: Utterance, transcribe: Callable[[Utterance, str | None], Transcript],
         route: Callable[[str], str] | None, vocabulary: VocabularyCache,
         fast: Callable[[Utterance], Transcript] | None = None) -> Heard:
    """Transcribe ``utterance``; a home request the fast path cannot act on is heard again with the
    home's names as the prompt (see the module docs).

    Args:
        utterance: 16 kHz mono int16 speech.
        transcribe: STT of an utterance with an optional prompt (may raise: the error propagates
            from the first pass; a failing second pass keeps the first transcript).
        route: text → ``fast_path`` / ``unsure`` / ``tool`` / ``llm`` (nothing executed); None =
            no routing and no second pass.
        vocabulary: the home's names.
        fast: a fast first-pass STT (``stt.first_pass``, Moonshine): its transcript is used when
            the fast path acts on it (a home command); else ``transcribe`` hears the utterance
            again. A failing first pass is logged and skipped.

    Returns:
        The :class:`Heard` result (``stt_s``: every pass together).
    """
    spent, quick_words, quick_route = 0.0, None, None
    if fast is not None and route is not None:
        try:
            quick = fast(utterance)
            quick_words = _words(quick.text)
            quick_route = route(quick.text.strip()) if quick_words else None
            if quick_route == "fast_path":
                return Heard(quick, "fast_path")
            spent = quick.stt_s
        except Exception as exc:  # the main engine hears it
            logger.info("%s: the first STT pass failed (%s)", vocabulary.name, exc)
    first = transcribe(utterance, None)
    if spent:
        first = replace(first, stt_s=first.stt_s + spent)
    text = first.text.strip()
    if route is None or not text:
        return Heard(first)
    # the same words as the first pass go where its words went: no second routing
    where = quick_route if quick_route is not None and _words(text) == quick_words else route(text)
    if where not in ("unsure", "tool"):
        return Heard(first, where)
    prompt = vocabulary.get()
    if not prompt:
        return Heard(first, where)
    try:
        second = transcribe(utterance, prompt)
        again = route(second.text.strip()) if _words(second.text) not in ("", _words(text)) else None
    except Exception as exc:  # the first transcript stands
        logger.info("%s: the pass with the home's vocabulary failed (%s)", vocabulary.name, exc)
        return Heard(first, where)
    if again != "fast_path":
        return Heard(first, where)
    logger.info("%s: heard %r as %r with the home's vocabulary", vocabulary.name, text, second.text.strip())
    return Heard(replace(second, stt_s=first.stt_s + second.stt_s), again, True)
