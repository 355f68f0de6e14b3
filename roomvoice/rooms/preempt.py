"""An LLM reply made while the end-of-speech hangover runs, played only if the turn ends there.

When the transcript made in a pause (:mod:`roomvoice.rooms.speculation`) goes to the LLM's words
(route ``"llm"``: no home command, no tool call), the room asks for the reply at once, with a
*preemptive* :class:`~roomvoice.events.AssistantRequest` (nothing executed, nothing remembered),
and synthesises its sentences as they come. If the turn then ends with no more speech, the turn
plays these sentences instead of asking again, and the room has the assistant remember the
exchange; if the user goes on speaking, the reply is cancelled (the LLM's Serve request with it)
and never heard. LiveKit's agents call this "preemptive generation"; here it only ever covers the
side-effect-free part of the reply pipeline.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator

from roomvoice.events import AssistantRequest, ReplySentence, SpeechAudio
from roomvoice.rooms import background

logger = logging.getLogger(__name__)


class PreemptiveReply:
    """The sentences of one preemptive reply and their audio, made on a background thread
    (:mod:`roomvoice.rooms.background`).

    Args:
        request: the preemptive request (``preemptive=True``).
        reply: request → the assistant's sentences (a ``cancel()`` method, if any, is called on
            :meth:`cancel`).
        synthesize: text → its audio (one sentence).
        name: the room (thread name, logs).
    """

    def __init__(self, request: AssistantRequest, reply: Callable[[AssistantRequest], Iterable[ReplySentence]],
                 synthesize: Callable[[str], list[SpeechAudio]], name: str = "") -> None:
        self.request = request
        self._reply = reply
        self._synthesize = synthesize
        self._items: list[tuple[ReplySentence, list[SpeechAudio]]] = []
        self._error: BaseException | None = None
        self._done = False
        self._cancelled = threading.Event()
        self._stream: object | None = None
        self._cond = threading.Condition()
        self._thread = background.start(self._run, f"preempt-{name}", self.cancel)

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Stop making the reply (the LLM's request is cancelled); it is never played."""
        if self._cancelled.is_set():
            return
        self._cancelled.set()
        cancel = getattr(self._stream, "cancel", None)
        if cancel is not None:
            try:
                cancel()
            except Exception:  # cancelling a finished request may fail; nothing to undo
                logger.debug("cancelling a preemptive reply failed", exc_info=True)
        with self._cond:
            self._cond.notify_all()

    def _run(self) -> None:
        try:
            stream = self._reply(self.request)
            self._stream = stream
            for sentence in stream:
                if self._cancelled.is_set():
                    break
                if not sentence.text.strip():
                    continue
                audio = self._synthesize(sentence.text)
                with self._cond:
                    self._items.append((sentence, audio))
                    self._cond.notify_all()
        except Exception as exc:  # the turn reports it (or asks again) when it uses the reply
            if not self._cancelled.is_set():
                logger.info("preemptive reply to %r failed: %s", self.request.text[:60], exc)
            self._error = exc
        finally:
            if self._cancelled.is_set():
                close = getattr(self._stream, "close", None)
                if close is not None:
                    try:
                        close()
                    except Exception:  # already closed
                        logger.debug("closing a preemptive reply failed", exc_info=True)
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def sentences(self, stop: threading.Event, timeout_s: float = 60.0) -> Iterator[tuple[ReplySentence, list[SpeechAudio]]]:
        """Each sentence with its audio, as soon as it is ready (waiting up to ``timeout_s`` wall
        seconds for each); stops when ``stop`` is set.

        Raises:
            whatever making the reply raised (after the sentences made before it).
            TimeoutError: a sentence took longer than ``timeout_s``.
        """
        i = 0
        while not stop.is_set():
            with self._cond:
                if not self._cond.wait_for(lambda: i < len(self._items) or self._done or stop.is_set()
                                           or self._cancelled.is_set(), timeout_s):
                    raise TimeoutError(f"no sentence of the preemptive reply within {timeout_s:g} s")
                if i < len(self._items):
                    item = self._items[i]
                elif self._error is not None:
                    raise self._error
                else:
                    return
            i += 1
            yield item
