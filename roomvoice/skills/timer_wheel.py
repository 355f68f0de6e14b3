"""A pure scheduler driven by a room's audio time: add items due at an audio time, advance the
clock, get back what fell due.

No threads, no sleeps, no wall clock: the room calls :meth:`TimerWheel.advance` with the audio
time reached (the end of the chunk just processed), so a room fed from a file at 50× real time
rings its timers 50× sooner in wall time but at exactly the right point of its audio. A binary
heap keyed by ``(due_s, insertion order)`` keeps ``advance`` O(k log n) for k due items;
cancelled items are dropped lazily when they reach the top.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Due(Generic[K]):
    """One item that fell due.

    Attributes:
        key: the item's key.
        due_s: the audio time it was due at (s since the room's stream start).
        payload: what was stored with it.
    """

    key: K
    due_s: float
    payload: Any = None


class TimerWheel(Generic[K]):
    """Items due at audio times; :meth:`advance` returns those whose time has come.

    Args:
        start_s: the audio time the wheel starts at (a room resumed after a restart passes its
            resume point).
    """

    def __init__(self, start_s: float = 0.0) -> None:
        self.now_s = float(start_s)
        self._heap: list[tuple[float, int, K]] = []
        self._items: dict[K, tuple[float, int, Any]] = {}
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def add(self, key: K, due_s: float, payload: Any = None) -> None:
        """Schedule ``key`` at audio time ``due_s`` (replacing an item with the same key).

        An item due at or before the current time falls due at the next :meth:`advance`.

        Raises:
            ValueError: ``due_s`` is not finite.
        """
        if not math.isfinite(due_s):
            raise ValueError(f"due time must be finite, got {due_s}")
        order = next(self._order)
        self._items[key] = (float(due_s), order, payload)
        heapq.heappush(self._heap, (float(due_s), order, key))

    def cancel(self, key: K) -> bool:
        """Remove ``key``; True if it was pending."""
        return self._items.pop(key, None) is not None

    def due_s(self, key: K) -> float | None:
        """The audio time ``key`` is due at, or None if it is not pending."""
        item = self._items.get(key)
        return item[0] if item else None

    def remaining_s(self, key: K) -> float | None:
        """Audio seconds until ``key`` is due (0 if overdue), or None if it is not pending."""
        due = self.due_s(key)
        return None if due is None else max(0.0, due - self.now_s)

    def pending(self) -> list[Due[K]]:
        """Pending items, soonest first."""
        return [Due(k, d, p) for k, (d, _, p) in sorted(self._items.items(), key=lambda kv: kv[1][:2])]

    def advance(self, now_s: float) -> list[Due[K]]:
        """Move the clock to ``now_s`` and return the items due at or before it, in due order.

        Time never goes backwards: a smaller ``now_s`` leaves the clock where it is.
        """
        self.now_s = max(self.now_s, float(now_s))
        out: list[Due[K]] = []
        while self._heap and self._heap[0][0] <= self.now_s:
            due, order, key = heapq.heappop(self._heap)
            item = self._items.get(key)
            if item is None or item[1] != order:  # cancelled or rescheduled
                continue
            del self._items[key]
            out.append(Due(key, due, item[2]))
        return out
