"""The client IP allow-list (pure)."""

from __future__ import annotations

import pytest

from roomvoice.store.access import IpAllowList


def test_default_allows_loopback_and_private_only() -> None:
    allow = IpAllowList()
    for ip in ["127.0.0.1", "127.8.9.10", "::1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.20",
               "fd12:3456::1", "::ffff:192.168.1.5", "fc00::1"]:
        assert allow.allows(ip), ip
    for ip in ["8.8.8.8", "172.32.0.1", "192.169.0.1", "2001:db8::1", "::ffff:8.8.8.8", "100.64.0.1"]:
        assert not allow.allows(ip), ip


def test_garbage_addresses_are_refused() -> None:
    allow = IpAllowList()
    for ip in ["", "localhost", "999.1.1.1", "10.0.0.1/8", "'; DROP TABLE users; --", "1.2.3"]:
        assert not allow.allows(ip), ip


def test_custom_list_and_invalid_cidr_named() -> None:
    allow = IpAllowList(["192.168.7.0/24", "2001:db8::/32", "203.0.113.9"])
    assert allow.allows("192.168.7.200") and allow.allows("2001:db8::5") and allow.allows("203.0.113.9")
    assert not allow.allows("192.168.8.1") and not allow.allows("127.0.0.1")
    assert not IpAllowList([]).allows("127.0.0.1")
    for bad in ["192.168.1.0/33", "10.0.0.1/8", "kitchen"]:
        with pytest.raises(ValueError, match=bad.replace(".", r"\.")):
            IpAllowList(["127.0.0.0/8", bad])
