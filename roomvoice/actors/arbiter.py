"""WakeArbiter: the Ray actor that lets one room per zone answer a wake word, and the rooms' clients.

The rules (windows per zone, loudest wins, score within ``level_tie_db``, duplicates, leaving) are
in :mod:`roomvoice.rooms.arbitration`; this module adds the clock, Ray and failure handling:

- :class:`WakeArbiter` is an async actor: every :meth:`~WakeArbiter.claim` call waits on the
  event loop until its window closes (many rooms wait at once; ``num_cpus=0``, so it never takes
  a CPU slot). Its clock is ``time.monotonic()`` of the actor's process.
- :func:`start_wake_arbiter` creates it (named, ``get_if_exists``, restarted forever after a
  crash; a restart forgets open windows, whose rooms fail open).
- :class:`ArbiterClient` is what a room uses. :meth:`~ArbiterClient.submit` never blocks the
  capture thread; :meth:`PendingDecision.result` never raises: with no answer by
  ``sent + timeout_s`` (arbiter missing, dead, restarting, slow, or refusing the claim) the room
  *fails open* — it answers as if alone (``rule="fail-open"``, one warning logged). A second room
  answering is a smaller harm than no room answering.
- :class:`LocalArbiter` is the same interface without Ray (every wake wins, ``rule="alone"``).

Use from a room (see :func:`arbiter_client`)::

    arbiter = arbiter_client(cfg.arbiter)                 # once, in the room's constructor
    pending = arbiter.submit(WakeClaim(room, zone, score, level_dbfs, audio_s, claim_id))
    ...                                                   # keep consuming audio; each chunk:
    if pending.done():
        decision = pending.result()                       # never raises, never blocks here
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayError

from roomvoice.config import ArbiterConfig
from roomvoice.events import WakeClaim, WakeDecision
from roomvoice.rooms.arbitration import ArbitrationBook

logger = logging.getLogger(__name__)

DEFAULT_NAME = "roomvoice-wake-arbiter"
"""Ray actor name of the arbiter (in the driver's namespace, like the room actors)."""
RECENT_DECISIONS = 100
"""Decisions kept for :meth:`WakeArbiter.stats`."""
LOOKUP_RETRY_S = 5.0
"""Seconds a failed arbiter lookup is remembered before a client looks again."""


class ClaimWithdrawn(Exception):
    """A claim dropped because its room called ``leave`` before the window closed."""


# ------------------------------------------------------------------------------------ the actor
@ray.remote
class WakeArbiter:
    """Async Ray actor around :class:`~roomvoice.rooms.arbitration.ArbitrationBook`.

    Create with :func:`start_wake_arbiter`. Args as in :class:`~roomvoice.config.ArbiterConfig`:
    ``window_s`` (s), ``level_tie_db`` (dB).
    """

    def __init__(self, window_s: float, level_tie_db: float) -> None:
        self._book = ArbitrationBook(window_s, level_tie_db)
        self._waiting: dict[str, asyncio.Future[WakeDecision]] = {}
        self._recent: deque[WakeDecision] = deque(maxlen=RECENT_DECISIONS)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._left = 0
        self._refused = 0

    async def claim(self, claim: WakeClaim) -> WakeDecision:
        """Enter ``claim`` in its zone's window; return its decision when the window closes.

        Raises:
            ValueError: a bad claim (naming the field; see
                :func:`~roomvoice.rooms.arbitration.check_claim`) or a claim id already waiting.
            ClaimWithdrawn: the room left before its window closed.
        """
        try:
            self._book.submit(claim, time.monotonic())
        except ValueError:
            self._refused += 1
            raise
        loop = asyncio.get_running_loop()
        future: asyncio.Future[WakeDecision] = loop.create_future()
        self._waiting[claim.claim_id] = future
        self._arm(loop)
        try:
            return await future
        finally:
            if self._waiting.get(claim.claim_id) is future:
                del self._waiting[claim.claim_id]

    async def leave(self, room: str) -> int:
        """Drop ``room``'s waiting claims from open windows; returns how many were dropped.

        Their ``claim`` calls raise :class:`ClaimWithdrawn` (the room has gone; its client fails open).
        """
        dropped = self._book.leave(room)
        self._left += len(dropped)
        for claim_id in dropped:
            future = self._waiting.pop(claim_id, None)
            if future is not None and not future.done():
                future.set_exception(ClaimWithdrawn(f"room {room!r} left before its window closed"))
        return len(dropped)

    async def stats(self) -> dict[str, Any]:
        """Counters since the (re)start: ``claims``, ``windows``, ``decisions`` by rule, ``refused``,
        ``withdrawn``, ``open_windows``, ``waiting``, ``window_s``, ``level_tie_db``, and the last
        :data:`RECENT_DECISIONS` decisions (``recent``, JSON-safe, oldest first)."""
        book = self._book
        return {
            "claims": book.claims_total,
            "windows": book.windows_total,
            "decisions": dict(book.decisions_by_rule),
            "refused": self._refused,
            "withdrawn": self._left,
            "open_windows": book.open_windows(),
            "waiting": book.waiting(),
            "window_s": book.window_s,
            "level_tie_db": book.level_tie_db,
            "recent": [d.to_json() for d in self._recent],
        }

    # ------------------------------------------------------------------ timer
    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """Make sure a flush runs when the earliest open window closes."""
        deadline = self._book.next_deadline()
        if deadline is None or (self._timer is not None and self._timer_at is not None
                                and self._timer_at <= deadline):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = loop.call_later(max(0.0, deadline - time.monotonic()), self._flush, loop)

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        """Decide the windows closed by now and wake their claims; re-arm for the next one."""
        self._timer = None
        self._timer_at = None
        for decision in self._book.due(time.monotonic()):
            self._recent.append(decision)
            future = self._waiting.pop(decision.claim_id, None)
            if future is not None and not future.done():
                future.set_result(decision)
        self._arm(loop)


def start_wake_arbiter(cfg_arbiter: ArbiterConfig, name: str = DEFAULT_NAME):
    """Create the named :class:`WakeArbiter` (or get the running one) and return its handle.

    It lives in the caller's namespace, like the room actors
    (:func:`~roomvoice.actors.room_actor.start_room_actor`), so rooms created by the same driver
    find it by ``name``. It is not detached: it ends with the driver, and Ray collects it when no
    handle is left, so **the caller keeps the returned handle** for the run. ``num_cpus=0`` (it
    only waits); restarted without limit after a crash; claims are not retried (a late decision
    is useless: the room has failed open). With ``get_if_exists`` a running arbiter of that name
    is returned as is, with its own ``window_s``/``level_tie_db``.
    """
    return WakeArbiter.options(
        name=name,
        get_if_exists=True,
        num_cpus=0,
        max_restarts=-1,
        max_task_retries=0,
    ).remote(float(cfg_arbiter.window_s), float(cfg_arbiter.level_tie_db))


# ------------------------------------------------------------------------------ room side
def fail_open(claim: WakeClaim, elapsed_s: float) -> WakeDecision:
    """The decision a room takes alone when the arbiter does not answer: it wins."""
    return WakeDecision(room=claim.room, claim_id=claim.claim_id, won=True, winner=claim.room, zone=claim.zone,
                        contenders=(claim.room,), decided_after_s=max(0.0, elapsed_s), rule="fail-open")


class PendingDecision:
    """A claim on its way to the arbiter; :meth:`result` gives its :class:`WakeDecision`.

    Made by :meth:`ArbiterClient.submit` / :meth:`LocalArbiter.submit`, not directly. Thread-safe.
    """

    def __init__(self, claim: WakeClaim, timeout_s: float, sent_s: float, ref: Any = None,
                 decision: WakeDecision | None = None, failure: str | None = None,
                 on_actor_error: Callable[[], None] | None = None) -> None:
        self.claim = claim
        self.timeout_s = timeout_s
        """Default wait budget from sending (s)."""
        self.sent_s = sent_s
        """``time.monotonic()`` when the claim was sent (s)."""
        self._ref = ref
        self._decision = decision
        self._on_actor_error = on_actor_error
        self._lock = threading.Lock()
        if decision is None and ref is None:
            self._decision = self._fail_open(failure or "no arbiter")

    def done(self) -> bool:
        """True when :meth:`result` would return at once (decided, failed, or out of time). Non-blocking."""
        return time.monotonic() >= self.sent_s + self.timeout_s or self.answered()

    def answered(self) -> bool:
        """True once the arbiter answered (or can never answer); unlike :meth:`done`, not merely
        because the time ran out — a room still recording keeps waiting for a late answer. Non-blocking."""
        if self._decision is not None:
            return True
        try:
            ready, _ = ray.wait([self._ref], num_returns=1, timeout=0)
        except RayError:  # Ray gone: result() fails open at once
            return True
        return bool(ready)

    def result(self, timeout_s: float | None = None) -> WakeDecision:
        """The decision; blocks at most until ``sent_s + timeout_s`` (default: the client's timeout).

        Never raises: no answer by then, or any arbiter failure, gives a fail-open decision
        (``won=True``, ``rule="fail-open"``), logged once as a warning. The first outcome is final.
        """
        with self._lock:
            if self._decision is None:
                budget = self.timeout_s if timeout_s is None else timeout_s
                self._decision = self._wait(max(0.0, self.sent_s + budget - time.monotonic()))
            return self._decision

    def _wait(self, remaining_s: float) -> WakeDecision:
        try:
            decision = ray.get(self._ref, timeout=remaining_s)
        except GetTimeoutError:
            return self._fail_open(f"no decision within {time.monotonic() - self.sent_s:.2f} s")
        except RayActorError as exc:  # died, restarting, unreachable
            if self._on_actor_error is not None:
                self._on_actor_error()
            return self._fail_open(f"arbiter unavailable: {type(exc).__name__}: {_summary(exc)}")
        except RayError as exc:  # it refused the claim (ValueError, ClaimWithdrawn), or Ray itself failed
            return self._fail_open(f"{type(exc).__name__}: {_summary(exc)}")
        if not isinstance(decision, WakeDecision) or decision.claim_id != self.claim.claim_id:
            return self._fail_open(f"unexpected answer {decision!r}")
        return decision

    def _fail_open(self, reason: str) -> WakeDecision:
        elapsed = time.monotonic() - self.sent_s
        logger.warning("%s: wake claim %s answered alone (fail-open after %.3f s): %s",
                       self.claim.room, self.claim.claim_id, elapsed, reason)
        return fail_open(self.claim, elapsed)


def _summary(exc: BaseException) -> str:
    """The last line of an exception's text (a Ray task error ends with ``ValueError: ...``)."""
    text = str(exc).strip()
    return text.splitlines()[-1] if text else ""


class WakeArbitration(Protocol):
    """What a room needs from an arbiter: :class:`ArbiterClient` or :class:`LocalArbiter`."""

    def submit(self, claim: WakeClaim) -> PendingDecision: ...

    def leave(self, room: str) -> None: ...


class ArbiterClient:
    """A room's link to the named :class:`WakeArbiter`; thread-safe, one per room.

    Args:
        name: the arbiter's actor name (in the current Ray namespace).
        timeout_s: wall seconds from sending a claim after which the room answers alone.
        lookup_retry_s: after a failed lookup (no such actor, Ray not initialised), claims fail open
            at once for this many seconds before the client looks again.
    """

    def __init__(self, name: str = DEFAULT_NAME, timeout_s: float = 1.0,
                 lookup_retry_s: float = LOOKUP_RETRY_S) -> None:
        if not timeout_s > 0:
            raise ValueError(f"timeout_s: must be > 0, got {timeout_s!r}")
        self.name = name
        self.timeout_s = float(timeout_s)
        self.lookup_retry_s = float(lookup_retry_s)
        self._lock = threading.Lock()
        self._actor: Any = None
        self._lookup_failed: tuple[float, str] | None = None  # (monotonic time, why)

    def submit(self, claim: WakeClaim) -> PendingDecision:
        """Send ``claim`` to the arbiter; returns at once (no waiting for the decision).

        A missing arbiter costs one lookup every ``lookup_retry_s``; in between claims fail open
        immediately.
        """
        sent = time.monotonic()
        actor, why = self._handle(sent)
        if actor is None:
            return PendingDecision(claim, self.timeout_s, sent, failure=why)
        try:
            ref = actor.claim.remote(claim)
        except RayError as exc:
            self._forget(actor)
            return PendingDecision(claim, self.timeout_s, sent, failure=f"send failed: {_summary(exc)}")
        return PendingDecision(claim, self.timeout_s, sent, ref=ref, on_actor_error=lambda: self._forget(actor))

    def leave(self, room: str) -> None:
        """Tell the arbiter that ``room`` stops: its waiting claims are dropped. Fire and forget."""
        actor, _ = self._handle(time.monotonic())
        if actor is not None:
            try:
                actor.leave.remote(room)
            except RayError as exc:
                logger.warning("%s: could not tell the wake arbiter it leaves: %s", room, _summary(exc))

    def _handle(self, now_s: float) -> tuple[Any, str]:
        with self._lock:
            if self._actor is not None:
                return self._actor, ""
            if self._lookup_failed is not None and now_s - self._lookup_failed[0] < self.lookup_retry_s:
                return None, self._lookup_failed[1]
            why = ""
            if not ray.is_initialized():
                why = "Ray is not initialised"
            else:
                try:
                    self._actor = ray.get_actor(self.name)
                except (ValueError, RayError) as exc:
                    why = f"arbiter {self.name!r} not found: {_summary(exc)}"
            if self._actor is None:
                self._lookup_failed = (now_s, why)
                return None, why
            self._lookup_failed = None
            return self._actor, ""

    def _forget(self, actor: Any) -> None:
        """Drop a handle whose actor failed, so the next claim looks the name up again."""
        with self._lock:
            if self._actor is actor:
                self._actor = None


class LocalArbiter:
    """No arbitration (arbiter disabled, or a room without Ray): every wake wins, rule ``"alone"``."""

    def submit(self, claim: WakeClaim) -> PendingDecision:
        decision = WakeDecision(room=claim.room, claim_id=claim.claim_id, won=True, winner=claim.room,
                                zone=claim.zone, contenders=(claim.room,), decided_after_s=0.0, rule="alone")
        return PendingDecision(claim, 0.0, time.monotonic(), decision=decision)

    def leave(self, room: str) -> None:
        """Nothing to leave."""


def arbiter_client(cfg_arbiter: ArbiterConfig, name: str = DEFAULT_NAME) -> WakeArbitration:
    """The arbitration a room uses: an :class:`ArbiterClient` with ``cfg_arbiter.timeout_s``, or a
    :class:`LocalArbiter` when ``cfg_arbiter.enabled`` is False."""
    if not cfg_arbiter.enabled:
        return LocalArbiter()
    return ArbiterClient(name, float(cfg_arbiter.timeout_s))
