"""Console actions without a browser: the server refuses what the UI only hides."""

from __future__ import annotations

import asyncio

import pytest

from roomvoice.serve.console import ConsoleActions, Refused
from roomvoice.store.errors import AccessError, AuthError

from .conftest import PASSWORD

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def actions(console_env):
    return ConsoleActions(console_env["app"].state.console_deps)


def run(coro):
    return asyncio.run(coro)


def test_nothing_works_without_a_live_session(actions):
    for call in (actions.conversations(""), actions.room_rows("bogus"), actions.system(None),
                 actions.say("", "kitchen", "hi"), actions.switch_preset("x", "cpu"), actions.start("nope")):
        with pytest.raises(Refused, match="log in"):
            run(call)
    token, user = run(actions.login("alice", PASSWORD, "127.0.0.1"))
    assert user.username == "alice" and run(actions.user(token)).id == user.id
    run(actions.logout(token))
    with pytest.raises(Refused):  # a revoked session stops working at once
        run(actions.conversations(token))


def test_roles_are_enforced_on_the_server(actions, console_env):
    member, _ = run(actions.login("alice", PASSWORD, "127.0.0.1"))
    guest, _ = run(actions.login("visitor", PASSWORD, "127.0.0.1"))
    admin, _ = run(actions.login("root", PASSWORD, "127.0.0.1"))
    with pytest.raises(Refused, match="only an admin"):
        run(actions.switch_preset(member, "cpu"))
    with pytest.raises(Refused, match="may not speak"):
        run(actions.say(guest, "kitchen", "What time is it?"))
    with pytest.raises(Refused, match="unknown room"):
        run(actions.say(member, "attic", "hello"))
    assert "already active" in run(actions.switch_preset(admin, "cpu"))
    cid = run(actions.start(member, "mine"))
    with pytest.raises(AccessError):  # another user's conversation
        run(actions.history(guest, cid))
    with pytest.raises(Refused, match="choose a conversation"):
        run(actions.history(member, "not-a-uuid"))


def test_bad_logins(actions):
    with pytest.raises(AuthError, match="unknown username or wrong password"):
        run(actions.login("alice", "wrong password!", "10.0.0.9"))
    with pytest.raises(Refused, match="enter a username"):
        run(actions.login("", "", "10.0.0.9"))


def test_announcements_from_the_console(actions, console_env):
    member, _ = run(actions.login("alice", PASSWORD, "127.0.0.1"))
    guest, _ = run(actions.login("visitor", PASSWORD, "127.0.0.1"))
    with pytest.raises(Refused, match="may not make announcements"):
        run(actions.announce(guest, [], "Dinner is ready."))
    with pytest.raises(Refused, match="unknown room"):
        run(actions.announce(member, ["attic"], "Dinner is ready."))
    with pytest.raises(Refused, match="type the announcement"):
        run(actions.announce(member, ["kitchen"], "   "))
    real = console_env["runner"].announce
    played = []
    console_env["runner"].announce = lambda text, *a: played.append(real(text, *a)) or played[-1]
    try:
        assert run(actions.announce(member, [], "Dinner is ready.")) == "✓ announced in kitchen"
    finally:
        console_env["runner"].announce = real
    assert played[0].room == "kitchen" and played[0].audio_s > 0.5 and played[0].error is None
