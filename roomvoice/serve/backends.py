"""Backends behind the HTTP API: chat and rooms, in-process (tests, one process) or over Ray.

- :class:`LocalChatBackend` streams from the reply pipeline over an in-process LLM engine;
  :class:`ServeChatBackend` from the ``Assistant`` deployment (the same pipeline, behind Serve).
- :class:`LocalRooms` wraps :class:`~roomvoice.actors.room_actor.RoomRunner` objects;
  :class:`ActorRooms` finds the named ``room:<name>`` actors in the Ray cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from typing import Any

from roomvoice.assistant import AssistantCore, EngineLLM, ReplyPipeline, Sampling, TimeoutPolicy
from roomvoice.errors import LLMError, RoomVoiceError, as_roomvoice_error
from roomvoice.events import Announcement, ChatMessage, RoomStatus, TurnResult
from roomvoice.serve.engines.base import LLMEngine


def _who(user: Any) -> tuple[int | None, str]:
    """(user id, role name) of an API/console user, for the skills; (None, "member") if unknown."""
    if user is None:
        return None, "member"
    role = getattr(user, "role", "member")
    return getattr(user, "id", None), str(getattr(role, "value", role))


class LocalChatBackend:
    """Chat replies from the one :class:`~roomvoice.assistant.pipeline.ReplyPipeline` over an
    in-process engine (the engine serialises its streams).

    Args:
        core: prompt building and fast path.
        llm: the LLM engine (started on first use).
        max_tokens: default reply cap in tokens.
        temperature: default sampling temperature.
        timeout_s: wall seconds allowed for the LLM's part of a reply (``llm-timeout`` after;
            see :class:`~roomvoice.assistant.pipeline.TimeoutPolicy`).
    """

    def __init__(self, core: AssistantCore, llm: LLMEngine, *, max_tokens: int = 96, temperature: float = 0.2,
                 timeout_s: float = 30.0) -> None:
        self.core, self.llm = core, llm
        self.pipeline = ReplyPipeline(core, EngineLLM(llm), sampling=Sampling(max_tokens, temperature),
                                      timeouts=TimeoutPolicy(timeout_s))

    async def stream(self, user: Any, messages: Sequence[ChatMessage], max_tokens: int | None,
                     temperature: float | None) -> AsyncIterator[str]:
        async with aclosing(self.pipeline.chat(messages, max_tokens, temperature, *_who(user))) as deltas:
            async for delta in deltas:
                yield delta


class ServeChatBackend:
    """Chat replies from the ``Assistant`` Serve deployment (``chat`` streams text deltas)."""

    def __init__(self, assistant: Any) -> None:
        self.assistant = assistant

    async def stream(self, user: Any, messages: Sequence[ChatMessage], max_tokens: int | None,
                     temperature: float | None) -> AsyncIterator[str]:
        try:
            async for delta in self.assistant.options(stream=True).chat.remote(list(messages), max_tokens,
                                                                               temperature, *_who(user)):
                yield delta
        except Exception as exc:
            raise as_roomvoice_error(exc, LLMError, "llm-failed") from exc


class LocalRooms:
    """Rooms run by :class:`~roomvoice.actors.room_actor.RoomRunner` objects in this process."""

    def __init__(self, runners: dict[str, Any]) -> None:
        self.runners = runners

    async def statuses(self) -> list[RoomStatus]:
        return [r.status() for r in self.runners.values()]

    async def say(self, room: str, text: str) -> TurnResult:
        return await asyncio.to_thread(self.runners[room].say, text)

    async def turns(self, room: str, limit: int) -> list[dict[str, Any]]:
        return self.runners[room].results()[-limit:]

    async def announce(self, rooms: Sequence[str], text: str) -> list[Announcement]:
        """Speak ``text`` in ``rooms`` (all rooms when empty) at the same time, without a turn.

        Raises:
            RoomVoiceError: ``room-unknown`` for a room that is not here (nothing is spoken).
        """
        names = list(rooms) or list(self.runners)
        unknown = [r for r in names if r not in self.runners]
        if unknown:
            raise RoomVoiceError("room-unknown", f"unknown room(s): {', '.join(unknown)}")
        return list(await asyncio.gather(*[asyncio.to_thread(self.runners[r].announce, text) for r in names]))


class ActorRooms:
    """Rooms as the named ``room:<name>`` Ray actors, looked up on each call (so restarts are seen).

    Args:
        names: the configured room names; a room whose actor is not (yet) alive is left out.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)

    def _actor(self, room: str) -> Any | None:
        import ray

        try:
            return ray.get_actor(f"room:{room}")
        except ValueError:
            return None

    async def statuses(self) -> list[RoomStatus]:
        actors = [a for a in (self._actor(n) for n in self.names) if a is not None]
        results = await asyncio.gather(*[a.status.remote() for a in actors], return_exceptions=True)
        return [r for r in results if isinstance(r, RoomStatus)]

    async def say(self, room: str, text: str) -> TurnResult:
        actor = self._actor(room)
        if actor is None:
            raise RoomVoiceError("room-unavailable", f"room {room!r} is not running")
        return await actor.say.remote(text)

    async def announce(self, rooms: Sequence[str], text: str) -> list[Announcement]:
        """Speak ``text`` in ``rooms`` (all configured rooms when empty) at the same time.

        Raises:
            RoomVoiceError: ``room-unknown`` (not configured) or ``room-unavailable`` (its actor
                is not running); nothing is spoken then.
        """
        names = list(rooms) or list(self.names)
        unknown = [r for r in names if r not in self.names]
        if unknown:
            raise RoomVoiceError("room-unknown", f"unknown room(s): {', '.join(unknown)}")
        actors = {r: self._actor(r) for r in names}
        down = [r for r, a in actors.items() if a is None]
        if down:
            raise RoomVoiceError("room-unavailable", f"room(s) not running: {', '.join(down)}")
        return list(await asyncio.gather(*[a.announce.remote(text) for a in actors.values()]))

    async def turns(self, room: str, limit: int) -> list[dict[str, Any]]:
        actor = self._actor(room)
        return [] if actor is None else (await actor.results.remote())[-limit:]
