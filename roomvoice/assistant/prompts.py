"""The LLM's messages: our system prompt, bounded history, the request.

Two shapes, one rule (system first, then at most ``history_turns`` user/assistant exchanges,
then the user's text):

- :func:`conversation_messages` for a conversation the assistant remembers itself (a room);
- :func:`client_messages` for a conversation the client sends whole (the stateless chat API,
  the stored conversations of :class:`~roomvoice.serve.chat.ChatService`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from roomvoice.events import ChatMessage


def conversation_messages(system_prompt: str, past: Iterable[tuple[str, str]], text: str) -> list[ChatMessage]:
    """System prompt, the remembered ``(user, assistant)`` exchanges (oldest first), then ``text``."""
    messages = [ChatMessage("system", system_prompt)]
    for user, assistant in past:
        messages += [ChatMessage("user", user), ChatMessage("assistant", assistant)]
    messages.append(ChatMessage("user", text))
    return messages


def client_messages(system_prompt: str, messages: Sequence[ChatMessage], history_turns: int,
                    text: str) -> list[ChatMessage]:
    """Our system prompt, the client's system messages, its last ``history_turns`` exchanges, then
    ``text`` (the client's final user message, stripped). ``messages[-1]`` is that final message."""
    system = [ChatMessage("system", system_prompt)] + [m for m in messages[:-1] if m.role == "system"]
    dialogue = [m for m in messages[:-1] if m.role in ("user", "assistant")]
    keep = 2 * max(0, history_turns)
    history = dialogue[-keep:] if keep else []
    return system + history + [ChatMessage("user", text)]
