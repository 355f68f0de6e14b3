"""Pure access-control helpers: the client IP allow-list and the login rate limiter.

Neither touches the database or the wall clock directly: :class:`LoginRateLimiter` takes an
injectable monotonic clock, so tests step time by hand.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from roomvoice.store.errors import AuthError

DEFAULT_ALLOWED_CIDRS: tuple[str, ...] = (
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
)
"""Loopback and private (RFC 1918, RFC 4193) ranges: the house network."""

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class IpAllowList:
    """Which client addresses may use the HTTP API and console.

    Args:
        cidrs: networks such as ``"192.168.1.0/24"`` or single addresses (``"10.0.0.5"``);
            ``None`` means :data:`DEFAULT_ALLOWED_CIDRS`. Host bits must be zero.

    Raises:
        ValueError: a CIDR is not valid; the message names it.
    """

    def __init__(self, cidrs: Iterable[str] | None = None) -> None:
        networks: list[IpNetwork] = []
        for cidr in DEFAULT_ALLOWED_CIDRS if cidrs is None else cidrs:
            try:
                networks.append(ipaddress.ip_network(str(cidr).strip(), strict=True))
            except ValueError as exc:
                raise ValueError(f"invalid CIDR in the IP allow-list: {cidr!r} ({exc})") from exc
        self.networks: tuple[IpNetwork, ...] = tuple(networks)

    def allows(self, ip: str) -> bool:
        """Whether ``ip`` (``"192.168.1.20"``, ``"::1"``, ``"::ffff:10.0.0.1"``) is inside
        an allowed network. Anything that is not an IP address gives ``False``."""
        try:
            addr = ipaddress.ip_address(str(ip).strip().split("%", 1)[0])  # drop an IPv6 zone id
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return any(addr.version == net.version and addr in net for net in self.networks)


class LoginRateLimiter:
    """Refuses logins after too many failures for one (username, client address) pair.

    A sliding window: at most ``max_failures`` failures within ``window_s`` seconds; while the
    limit is reached every attempt is refused with ``auth-rate-limited`` (the password is not
    even checked). A success clears the pair's failures. Thread-safe.

    Args:
        max_failures: failures allowed inside the window (5).
        window_s: window length in seconds (300).
        clock: monotonic seconds; :func:`time.monotonic` by default (inject a fake in tests).
        max_keys: pairs tracked at most; the stalest are dropped beyond it (memory bound).
    """

    def __init__(
        self,
        max_failures: int = 5,
        window_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if max_failures < 1 or window_s <= 0:
            raise ValueError(f"max_failures must be >= 1 and window_s > 0: {max_failures}, {window_s}")
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._max_keys = max_keys
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(username: str, client_ip: str) -> tuple[str, str]:
        return (username.casefold(), client_ip)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after_s(self, username: str, client_ip: str) -> float:
        """Seconds until the pair may try again (0 when it may now)."""
        with self._lock:
            now = self._clock()
            times = self._recent(self._key(username, client_ip), now)
            if len(times) < self.max_failures:
                return 0.0
            return max(0.0, times[-self.max_failures] + self.window_s - now)

    def check(self, username: str, client_ip: str) -> None:
        """Raise if the pair is over the limit.

        Raises:
            AuthError: ``auth-rate-limited``, saying how long to wait.
        """
        wait_s = self.retry_after_s(username, client_ip)
        if wait_s > 0:
            raise AuthError(
                "auth-rate-limited",
                f"too many failed logins for this user from this address; try again in {math.ceil(wait_s)} s",
            )

    def record_failure(self, username: str, client_ip: str) -> None:
        """Count one failed login for the pair."""
        with self._lock:
            now = self._clock()
            key = self._key(username, client_ip)
            times = self._recent(key, now)
            times.append(now)
            self._failures[key] = times
            if len(self._failures) > self._max_keys:
                stalest = min(self._failures, key=lambda k: self._failures[k][-1])
                del self._failures[stalest]

    def record_success(self, username: str, client_ip: str) -> None:
        """Forget the pair's failures."""
        with self._lock:
            self._failures.pop(self._key(username, client_ip), None)

