"""Backends behind the HTTP API: chat and rooms, in-process (tests, one process) or over Ray.

- :class:`LocalChatBackend` streams from an in-process LLM engine; :class:`ServeChatBackend`
  from the ``Assistant`` deployment.
- :class:`LocalRooms` wraps :class:`~roomvoice.actors.room_actor.RoomRunner` objects;
  :class:`ActorRooms` finds the named ``room:<name>`` actors in the Ray cluster.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from roomvoice.errors import LLMError, RoomVoiceError, as_roomvoice_error
from roomvoice.events import Announcement, ChatMessage, RoomStatus, TurnResult
from roomvoice.serve.assistant import AssistantCore
from roomvoice.serve.engines.base import LLMEngine
from roomvoice.serve.streaming import iterate_in_thread


def _who(user: Any) -> tuple[int | None, str]:
    """(user id, role name) of an API/console user, for the skills; (None, "member") if unknown."""
    if user is None:
        return None, "member"
    role = getattr(user, "role", "member")
    return getattr(user, "id", None), str(getattr(role, "value", role))


class LocalChatBackend:
    """Chat replies from an in-process engine (fast path first), one request at a time per engine.

    Args:
        core: prompt building and fast path.
        llm: the LLM engine (started on first use).
        max_tokens: default reply cap in tokens.
        temperature: default sampling temperature.
        timeout_s: wall seconds allowed for a whole reply (``llm-timeout`` after).
    """

    def __init__(self, core: AssistantCore, llm: LLMEngine, *, max_tokens: int = 96, temperature: float = 0.2,
                 timeout_s: float = 30.0) -> None:
        self.core, self.llm = core, llm
        self.max_tokens, self.temperature, self.timeout_s = max_tokens, temperature, timeout_s
        self._lock = asyncio.Lock()

    async def stream(self, user: Any, messages: Sequence[ChatMessage], max_tokens: int | None,
                     temperature: float | None) -> AsyncIterator[str]:
        request, llm_messages = self.core.chat_messages(messages, *_who(user))
        answer = await asyncio.to_thread(self.core.fast_answer, request)  # may call Home Assistant
        if answer is not None:
            yield answer
            return
        deadline = time.monotonic() + self.timeout_s
        async with self._lock:
            tool = await asyncio.to_thread(self.core.tool_step, request, self._complete_json)
            if tool is not None:
                yield tool.text
                return
            stream = iterate_in_thread(lambda: self.llm.stream_chat(
                llm_messages, max_tokens=max_tokens or self.max_tokens,
                temperature=self.temperature if temperature is None else temperature))
            try:
                async for delta in stream:
                    if time.monotonic() > deadline:
                        raise LLMError("llm-timeout", f"no complete reply within {self.timeout_s:g} s")
                    yield delta
            except LLMError:
                raise
            except Exception as exc:
                raise as_roomvoice_error(exc, LLMError, "llm-failed") from exc
            finally:
                await stream.aclose()


    def _complete_json(self, messages, schema, max_tokens: int) -> str:
        return self.llm.complete_json(messages, schema, max_tokens=max_tokens)


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
