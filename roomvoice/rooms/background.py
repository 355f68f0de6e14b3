"""Background threads of a room that may be inside a model call (STT, the LLM) at any moment.

They are daemon threads, so a room that was never closed cannot keep its process alive; but a
daemon thread still inside native code (llama.cpp, CTranslate2, onnxruntime) while the interpreter
tears the models down aborts the process ("terminate called without an active exception"). So
each is registered with a ``stop`` callback, and at exit (:mod:`atexit`, which runs before the
interpreter's finalisation) every live one is stopped and joined for up to :data:`EXIT_JOIN_S`.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

EXIT_JOIN_S = 10.0
"""Wall seconds, in all, that the process waits at exit for running background threads."""

_live: dict[threading.Thread, Callable[[], None]] = {}
_lock = threading.Lock()


def start(target: Callable[[], None], name: str, stop: Callable[[], None]) -> threading.Thread:
    """Run ``target`` on a new daemon thread called ``name``; ``stop`` asks it to finish soon
    (called at exit, from another thread; must not raise). Returns the started thread."""

    def run() -> None:
        try:
            target()
        finally:
            with _lock:
                _live.pop(threading.current_thread(), None)

    thread = threading.Thread(target=run, name=name, daemon=True)
    with _lock:
        _live[thread] = stop
    thread.start()
    return thread


@atexit.register
def stop_all(timeout_s: float = EXIT_JOIN_S) -> int:
    """Stop every live background thread and wait for them (at most ``timeout_s`` in all);
    returns how many were still running afterwards."""
    with _lock:
        live = list(_live.items())
    for _, stop in live:
        try:
            stop()
        except Exception:  # at exit: keep stopping the others
            logger.debug("stopping a background thread failed", exc_info=True)
    deadline = time.monotonic() + timeout_s
    for thread, _ in live:
        thread.join(max(0.0, deadline - time.monotonic()))
    return sum(1 for thread, _ in live if thread.is_alive())
