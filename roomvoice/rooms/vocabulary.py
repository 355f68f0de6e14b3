"""The home's words for speech recognition: entity names, aliases and areas as an STT prompt.

Whisper is biased towards the words of its ``initial_prompt`` (faster-whisper's
``initial_prompt``), so a device called "Nanoleaf" or "Zoë's lamp" is heard as such rather than
as a more common sound-alike. The assistant builds the text from Home Assistant's entities
(``vocabulary()`` on the services, see
:meth:`~roomvoice.skills.homeassistant.entities.EntityIndex.vocabulary`); a room fetches it when
it first needs it and again every ``refresh_s``, off the capture thread. A failure leaves the
previous text (or none) in place, logged once: recognition works without it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

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
