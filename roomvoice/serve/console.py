"""The Gradio console at ``/console/``, on the same FastAPI app (and port) as the HTTP API.

Views: **Login** (username + password, bcrypt, rate-limited; a session token is kept in the
tab's ``gr.State`` and resolved to the user on every event, so the role is known in each
handler and a revoked session stops working at once), then tabs **Chat** (streamed replies,
stored conversations), **Rooms** (live state, refreshed every second by a ``gr.Timer``; text
into a room), **Camera** (latest frame, snapshot, presence) and **System** (preset, models, Ray
resources; admin-only preset switch).

Everything comes in through :class:`ConsoleDeps`, so the console runs inside the Serve ingress
(``VoiceGateway``) and in-process in tests. Mount it with :func:`mount_console`. The IP
allow-list middleware of :func:`roomvoice.serve.api.create_api` covers ``/console`` too.
Event handlers are ``api_visibility="private"`` and refuse to act without a live session.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from roomvoice.errors import RoomVoiceError
from roomvoice.serve.console_backends import CamerasBackend, PresetSwitcher, SystemInfo

logger = logging.getLogger(__name__)

CONSOLE_PATH = "/console"
ROLES_THAT_MAY_SPEAK = ("admin", "member")
TIMINGS_SHOWN = ("stt_s", "llm_first_token_s", "tts_first_audio_s", "end_of_speech_to_first_audio_s", "total_s")
ROOM_HEADERS = ["room", "state", "turns", "last transcript", "last reply", "last error", "last turn timings"]
MAX_TEXT_CHARS = 4000


@dataclass(frozen=True)
class ConsoleDeps:
    """Everything the console uses.

    Attributes:
        users: :class:`~roomvoice.store.users.UserStore` (``authenticate`` is bcrypt and
            rate-limited by the store's own :class:`~roomvoice.store.access.LoginRateLimiter`).
        sessions: :class:`~roomvoice.store.credentials.SessionStore`.
        chat: :class:`~roomvoice.serve.chat.ChatService`.
        rooms: a :class:`~roomvoice.serve.api.RoomsBackend` (``statuses``, ``say``, ``turns``).
        cameras: :class:`~roomvoice.serve.console_backends.CamerasBackend`.
        system: :class:`~roomvoice.serve.console_backends.SystemInfo`.
        switcher: :class:`~roomvoice.serve.console_backends.PresetSwitcher`.
        refresh_s: Rooms view refresh period, seconds.
    """

    users: Any
    sessions: Any
    chat: Any
    rooms: Any
    cameras: CamerasBackend
    system: SystemInfo
    switcher: PresetSwitcher
    refresh_s: float = 1.0


class Refused(Exception):
    """A console action that is not allowed or not possible; ``str()`` is shown to the user."""


def _client_ip(request: Any) -> str:
    client = getattr(request, "client", None)
    return getattr(client, "host", "") or ""


def _fail_text(exc: BaseException) -> str:
    if isinstance(exc, RoomVoiceError):
        return f"⚠️ {exc.message}"
    if isinstance(exc, Refused):
        return f"⚠️ {exc}"
    logger.exception("console action failed")
    return f"⚠️ unexpected error: {type(exc).__name__}"


def timings_text(record: dict[str, Any] | None) -> str:
    """``"stt 0.21 s · llm first token 0.30 s · ..."`` from a turn record's ``timings``."""
    if not record:
        return ""
    t = record.get("timings", {})
    parts = [f"{k[:-2].replace('_', ' ')} {t[k]:.2f} s" for k in TIMINGS_SHOWN if isinstance(t.get(k), (int, float))]
    return " · ".join(parts)


def conversation_label(c: Any) -> str:
    """``"title · 2025-01-02 10:11"`` for a conversation."""
    when = c.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S") if isinstance(c.created_at, datetime) else ""
    return f"{c.title or '(untitled)'} · {when}"


def system_markdown(s: Any) -> str:
    """The System view's text for a :class:`~roomvoice.serve.console_backends.SystemSnapshot`."""
    lines = [f"**Active preset:** `{s.preset}` — {s.description}", "",
             f"**Models:** STT `{s.models.get('stt', '?')}` · LLM `{s.models.get('llm', '?')}` · "
             f"TTS `{s.models.get('tts', '?')}`", ""]
    if s.ray is None:
        lines.append("**Ray:** not on Ray (in-process services)")
    else:
        lines += ["**Ray cluster resources** (available / total):", "", "| resource | available | total |",
                  "|---|---|---|"]
        lines += [f"| {k} | {a:g} | {t:g} |" for k, (a, t) in s.ray.items()]
    if s.dashboard_url:
        lines += ["", f"**Ray dashboard:** [{s.dashboard_url}]({s.dashboard_url})"]
    return "\n".join(lines)


class ConsoleActions:
    """The console's behaviour without Gradio: every method resolves the session token first.

    Raises :class:`Refused` (not logged in, wrong role) or the backends' coded errors.
    """

    def __init__(self, deps: ConsoleDeps) -> None:
        self.deps = deps

    async def user(self, token: str | None) -> Any:
        """The session's user. Raises :class:`Refused` when there is none."""
        user = await asyncio.to_thread(self.deps.sessions.resolve, token or "")
        if user is None:
            raise Refused("please log in first (your session ended or was never started)")
        return user

    async def login(self, username: str, password: str, client_ip: str) -> tuple[str, Any]:
        """Check the password; returns ``(session token, user)``. Raises ``AuthError``."""
        username = (username or "").strip()
        if not username or not password:
            raise Refused("enter a username and a password")
        user = await asyncio.to_thread(self.deps.users.authenticate, username, password, client_ip=client_ip)
        session = await asyncio.to_thread(self.deps.sessions.create, user)
        logger.info("console login: user %d (%s) from %s", user.id, user.role.value, client_ip or "?")
        return session.token, user

    async def logout(self, token: str | None) -> None:
        """End the session (idempotent)."""
        if token:
            await asyncio.to_thread(self.deps.sessions.revoke, token)

    async def conversations(self, token: str | None) -> list[tuple[str, str]]:
        """The user's conversations as ``(label, id)``, newest first."""
        user = await self.user(token)
        return [(conversation_label(c), str(c.id)) for c in await asyncio.to_thread(self.deps.chat.conversations, user)]

    async def history(self, token: str | None, conversation_id: str) -> list[dict[str, str]]:
        """A conversation's user/assistant messages as Chatbot messages."""
        user = await self.user(token)
        messages = await asyncio.to_thread(self.deps.chat.history, user, _uuid(conversation_id))
        return [{"role": m.role, "content": m.content} for m in messages if m.role in ("user", "assistant")]

    async def start(self, token: str | None, title: str = "") -> str:
        """A new conversation; returns its id."""
        user = await self.user(token)
        return str((await asyncio.to_thread(self.deps.chat.start, user, title[:200])).id)

    async def room_rows(self, token: str | None) -> list[list[Any]]:
        """One row per room for the Rooms table (see :data:`ROOM_HEADERS`)."""
        await self.user(token)
        statuses = await self.deps.rooms.statuses()
        lasts = await asyncio.gather(*[self.deps.rooms.turns(s.room, 1) for s in statuses], return_exceptions=True)
        rows = []
        for s, last in zip(statuses, lasts):
            record = last[-1] if isinstance(last, list) and last else None
            rows.append([s.room, s.state.value, s.turns, s.last_transcript, s.last_reply, s.last_error or "",
                         timings_text(record)])
        return rows

    async def say(self, token: str | None, room: str, text: str) -> str:
        """Text into a room (not for guests); returns what the room answered."""
        user = await self.user(token)
        if user.role.value not in ROLES_THAT_MAY_SPEAK:
            raise Refused(f"role {user.role.value!r} may not speak in rooms")
        text = (text or "").strip()
        if not room or not text:
            raise Refused("choose a room and type some text")
        if len(text) > MAX_TEXT_CHARS:
            raise Refused(f"the text has {len(text)} characters (limit {MAX_TEXT_CHARS})")
        if room not in [s.room for s in await self.deps.rooms.statuses()]:
            raise Refused(f"unknown room {room!r}")
        result = await self.deps.rooms.say(room, text)
        if result.error is not None:
            return f"⚠️ {room}: {result.error.code}: {result.error.message} (said: {result.reply!r})"
        return f"✓ {room} heard {result.transcript!r} and said {result.reply!r}"

    async def announce(self, token: str | None, rooms: list[str], text: str) -> str:
        """Speak ``text`` in ``rooms`` (every room when empty), not for guests; says where it went."""
        user = await self.user(token)
        if user.role.value not in ROLES_THAT_MAY_SPEAK:
            raise Refused(f"role {user.role.value!r} may not make announcements")
        text = (text or "").strip()
        if not text:
            raise Refused("type the announcement")
        if len(text) > MAX_TEXT_CHARS:
            raise Refused(f"the text has {len(text)} characters (limit {MAX_TEXT_CHARS})")
        known = [s.room for s in await self.deps.rooms.statuses()]
        unknown = [r for r in rooms if r not in known]
        if unknown:
            raise Refused(f"unknown room(s): {', '.join(unknown)}")
        results = await self.deps.rooms.announce(list(rooms), text)
        heard = [a.room for a in results if not a.error]
        failed = [f"{a.room} ({a.error})" for a in results if a.error]
        message = f"✓ announced in {', '.join(heard)}" if heard else "nothing was played"
        return message + (f"; failed in {', '.join(failed)}" if failed else "")

    async def system(self, token: str | None) -> tuple[str, Any]:
        """System markdown and the snapshot."""
        await self.user(token)
        snap = await asyncio.to_thread(self.deps.system.snapshot)
        return system_markdown(snap), snap

    async def switch_preset(self, token: str | None, preset: str) -> str:
        """Switch presets (admins only); returns the switcher's message."""
        user = await self.user(token)
        if user.role.value != "admin":
            raise Refused("only an admin may switch presets")
        if not preset:
            raise Refused("choose a preset")
        logger.info("user %d switches preset to %s", user.id, preset)
        return "✓ " + await asyncio.to_thread(self.deps.switcher.switch, preset)


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(text))
    except ValueError:
        raise Refused("choose a conversation") from None


def mount_console(app: Any, deps: ConsoleDeps, path: str = CONSOLE_PATH) -> Any:
    """Mount the console on a FastAPI ``app`` at ``path`` (``/console``). Returns the app
    (``app.state.console_deps`` holds ``deps``).

    Gradio analytics and server-side rendering are off (no network, no Node).
    """
    import gradio as gr

    from roomvoice.serve.console_ui import build_console

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    blocks = build_console(ConsoleActions(deps), deps)
    app.state.console_deps = deps
    return gr.mount_gradio_app(app, blocks, path=path, ssr_mode=False, footer_links=[], theme=_theme())


def serve_console_deps(db: Any, chat: Any, rooms: Any, settings: Any) -> ConsoleDeps:
    """:class:`ConsoleDeps` inside the ``VoiceGateway`` replica.

    Args:
        db: the gateway's :class:`~roomvoice.store.db.Database`.
        chat: its :class:`~roomvoice.serve.chat.ChatService`.
        rooms: its rooms backend (:class:`~roomvoice.serve.backends.ActorRooms`).
        settings: :class:`~roomvoice.serve.console_backends.ConsoleSettings`.
    """
    from roomvoice.serve.console_backends import ConfigSystemInfo, LocalCameras, NoPresetSwitcher
    from roomvoice.serve.supervisor import SupervisorPresetSwitcher
    from roomvoice.store.credentials import SessionStore
    from roomvoice.store.users import UserStore

    switcher = SupervisorPresetSwitcher(settings.supervisor) if settings.supervisor else NoPresetSwitcher()
    return ConsoleDeps(users=UserStore(db), sessions=SessionStore(db), chat=chat, rooms=rooms,
                       cameras=LocalCameras.from_settings(settings), system=ConfigSystemInfo(settings),
                       switcher=switcher)


def _theme() -> Any:
    import gradio as gr

    system_fonts = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"]
    return gr.themes.Default(font=system_fonts, font_mono=["ui-monospace", "monospace"])
