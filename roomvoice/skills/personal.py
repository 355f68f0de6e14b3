"""The household skills behind the assistant: timers, reminders, calendar, tasks, announcements,
camera and system actions — their tools, and an English rule fast path for them.

:class:`PersonalSkills` builds every tool of those skills over one database
(:func:`roomvoice.skills.schedule_tools.schedule_tools` and the ``tools()`` of
:mod:`~roomvoice.skills.announcements`, :mod:`~roomvoice.skills.camera_tools`,
:mod:`~roomvoice.skills.system_actions`) for :func:`roomvoice.skills.setup.build_registry`, and
answers the common phrasings without the LLM (:meth:`PersonalSkills.fast_reply`):

==============================================  ==========================
"remind me to call mum tomorrow at 9"            ``add_reminder``
"remind me in 10 minutes to check the oven"      ``add_reminder``
"what are my reminders"                          ``list_reminders``
"add milk to my shopping list"                   ``add_task``
"what's on my shopping list"                     ``list_tasks``
"mark milk as done on my shopping list"          ``complete_task``
"what's on my calendar tomorrow"                 ``list_events``
"put dentist on my calendar on friday at 3 pm"   ``add_event``
"announce dinner is ready in the kitchen"        ``announce``
"is anyone in the office"                        ``room_presence``
"take a snapshot in the kitchen"                 ``camera_snapshot``
"open <allow-listed action>"                     ``run_system_action``
==============================================  ==========================

A matched phrase becomes a tool call that goes through the same
:meth:`~roomvoice.skills.registry.ToolRegistry.dispatch` as the LLM's (schema, live data, role),
so the fast path can do nothing the tools refuse. Who is asking comes from
:data:`CURRENT_CONTEXT` (a ``contextvars.ContextVar`` the assistant sets per request: user id,
role, room, timezone), never from the words. Timer phrases are recognised by the intent fast
path (hassil); :meth:`PersonalSkills.timer_handler` runs them.
"""

from __future__ import annotations

import contextvars
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roomvoice.skills import announcements, camera_tools, system_actions
from roomvoice.skills.context import SkillContext
from roomvoice.skills.errors import SkillError
from roomvoice.skills.registry import Tool, ToolRegistry
from roomvoice.skills.schedule_tools import schedule_tools
from roomvoice.skills.timers import TimerSkill
from roomvoice.skills.types import TimerIntent, ToolResult
from roomvoice.store.db import Database
from roomvoice.store.schedule import TimerStore

logger = logging.getLogger(__name__)

CURRENT_CONTEXT: contextvars.ContextVar[SkillContext] = contextvars.ContextVar(
    "roomvoice_skill_context", default=SkillContext())
"""The context of the request being answered (set by the assistant before the skills run)."""


def current_context() -> SkillContext:
    """The request's :class:`SkillContext` (a household member in no room when unset)."""
    return CURRENT_CONTEXT.get()


@dataclass(frozen=True)
class PlannedCall:
    """A tool call the rules read from the words.

    Attributes:
        name: the tool.
        arguments: its arguments (validated by the registry before anything runs).
    """

    name: str
    arguments: Mapping[str, Any]


_WHEN_WORDS = r"(?:in|at|on|tomorrow|tonight|today|this|next|every|each|daily|weekly|by|after)"
_LIST = r"(?:to-?do |todo |to do )?list"
_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("list_reminders", re.compile(r"^(?:what are|list|tell me|read me) (?:all )?my reminders$|"
                                  r"^what reminders do i have$|^do i have any reminders$")),
    ("reminder_when_first", re.compile(rf"^remind me (?P<when>{_WHEN_WORDS}\b.+?) (?:to|that|about) (?P<what>.+)$")),
    ("reminder", re.compile(r"^remind me (?:to |that |about )?(?P<rest>.+)$")),
    ("add_task", re.compile(rf"^(?:please )?(?:add|put) (?P<item>.+?) (?:to|on) (?:my |the |our )?"
                            rf"(?:(?P<list>[a-z][a-z ]*?) )?{_LIST}$")),
    ("list_tasks", re.compile(rf"^(?:what(?:'s| is) on|read(?: me)?|show(?: me)?|list) (?:my |the |our )?"
                              rf"(?:(?P<list>[a-z][a-z ]*?) )?{_LIST}$")),
    ("complete_task", re.compile(rf"^(?:mark|tick off|cross off|check off|complete) (?P<item>.+?)"
                                 rf"(?: as (?:done|complete|completed|finished)| off| done)?"
                                 rf"(?: (?:on|from) (?:my |the |our )?(?:(?P<list>[a-z][a-z ]*?) )?{_LIST})?$")),
    ("list_events", re.compile(r"^what(?:'s| is) on (?:my |the )?(?:calendar|agenda|schedule)(?: for)?"
                               r"(?: (?P<day>.+))?$|^what do i have (?:on )?(?P<day2>today|tomorrow|on .+)$")),
    ("add_event", re.compile(r"^(?:add|put|schedule) (?P<title>.+?) (?:to|on|in) (?:my |the )?calendar "
                             r"(?:for )?(?P<when>.+)$")),
    ("room_presence", re.compile(r"^(?:is|are) (?:there )?(?:anyone|anybody|someone|somebody|people) "
                                 r"(?:in|at) (?:the )?(?P<room>[a-z ]+?)(?: right now| now)?$")),
    ("camera_snapshot", re.compile(r"^(?:take|grab|save) an? (?:snapshot|picture|photo)(?: (?:in|of) "
                                   r"(?:the )?(?P<room>[a-z ]+?))?$")),
    ("run_system_action", re.compile(r"^(?:please )?(?:open|run|start|launch) (?:the |my )?(?P<name>[a-z0-9 _-]+)$")),
]
_WHEN_SPLIT = re.compile(rf"\s(?={_WHEN_WORDS}\b)")


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[.!?]+$", "", text.strip().lower()).replace("’", "'").split())


def _key(name: str) -> str:
    return re.sub(r"[\s-]+", "_", name.strip().lower())


class PersonalSkills:
    """Timers, reminders, calendar, tasks, announcements, camera and system actions for the assistant.

    Args:
        db: the migrated database (timers, reminders, calendar events, tasks).
        rooms: the configured room names.
        announcer: speaks text in rooms (``announcements.Announcer``); None = no announcements.
        actions: the system-action allow-list (:class:`~roomvoice.skills.system_actions.SystemActions`);
            None = none.
        cameras: room → started camera; snapshots go to ``snapshot_dir``.
        snapshot_dir: where camera snapshots are written.
    """

    def __init__(self, db: Database, rooms: Sequence[str] = (), *,
                 announcer: announcements.Announcer | None = None,
                 actions: system_actions.SystemActions | None = None,
                 cameras: Mapping[str, Any] | None = None, snapshot_dir: str | Path = "data/snapshots") -> None:
        self.rooms = tuple(rooms)
        self.timers = TimerSkill(TimerStore(db))
        self._tools: list[Tool] = list(schedule_tools(db, current_context, self.rooms))
        self.announcer = announcer
        if announcer is not None:
            self._tools += announcements.tools(announcer, current_context, self.rooms)
        self.actions = actions
        if actions is not None and actions.actions:
            self._tools += system_actions.tools(actions, current_context, lambda: current_context().request_text)
        self._tools += camera_tools.tools(dict(cameras or {}), snapshot_dir, current_context)

    def tools(self) -> list[Tool]:
        """Every tool of these skills (for :func:`~roomvoice.skills.setup.build_registry`)."""
        return list(self._tools)

    def timer_handler(self, intent: TimerIntent) -> ToolResult:
        """Run a timer request recognised by the intent fast path, for the current user.

        Raises:
            SkillError: ``duration-invalid``, ``timer-not-found``... (the caller speaks its message).
        """
        message = self.timers.handle_intent(intent, user_id=current_context().user_id)
        return ToolResult(f"timer_{intent.action}", True, message)

    # ---- the rule fast path ------------------------------------------------------------------

    def plan(self, text: str) -> PlannedCall | None:
        """The tool call the words ask for, or None (not one of these skills' phrasings)."""
        said = _normal(text)
        if not said:
            return None
        if self.announcer is not None:
            request = announcements.parse_announcement(text, self.rooms)
            if request is not None:
                targets = [announcements.EVERYWHERE] if request.everywhere else list(request.rooms)
                return PlannedCall("announce", {"text": request.text, "rooms": targets})
        for name, pattern in _RULES:
            m = pattern.match(said)
            if m is None:
                continue
            call = self._call(name, m)
            if call is not None:
                return call
        return None

    def _call(self, name: str, m: re.Match[str]) -> PlannedCall | None:
        g = {k: (v.strip() if isinstance(v, str) else v) for k, v in m.groupdict().items()}
        if name == "reminder_when_first":
            return PlannedCall("add_reminder", _reminder_args(g["what"], g["when"]))
        if name == "reminder":
            parts = _WHEN_SPLIT.split(g["rest"], maxsplit=1)
            if len(parts) != 2 or not parts[0]:
                return None  # no time given: the LLM may ask when
            return PlannedCall("add_reminder", _reminder_args(parts[0], parts[1]))
        if name in ("add_task", "complete_task"):
            args = {"text": g["item"]}
            if g.get("list"):
                args["list"] = g["list"]
            return PlannedCall(name, args)
        if name == "list_tasks":
            return PlannedCall(name, {"list": g["list"]} if g.get("list") else {})
        if name == "list_events":
            day = g.get("day") or g.get("day2") or "today"
            return PlannedCall(name, {"day": re.sub(r"^on ", "", day)})
        if name == "add_event":
            return PlannedCall(name, {"title": g["title"], "when": g["when"]})
        if name in ("room_presence", "camera_snapshot"):
            room = g.get("room")
            if room is None:
                return PlannedCall(name, {})
            key = _key(room)
            if key in ("here", "this_room"):
                return PlannedCall(name, {})
            return PlannedCall(name, {"room": key})
        if name == "run_system_action":
            key = _key(g["name"])
            if self.actions is None or key not in self.actions.actions:
                return None  # "open the garage door" belongs to Home Assistant, not here
            return PlannedCall(name, {"action": key})
        return PlannedCall(name, {})

    def fast_reply(self, text: str, registry: ToolRegistry) -> tuple[PlannedCall, ToolResult] | None:
        """Run the phrasing's tool through ``registry`` (validated as any call); None if no rule matches."""
        call = self.plan(text)
        if call is None or call.name not in registry.names:
            return None
        try:
            result = registry.dispatch(call.name, dict(call.arguments))
        except SkillError as exc:  # dispatch already turns these into results; belt and braces
            result = ToolResult(call.name, False, exc.message, code=exc.code)
        logger.info("fast path %s -> %s", call.name, "ok" if result.ok else result.code)
        return call, result


def _reminder_args(what: str, when: str) -> dict[str, str]:
    what = re.sub(r"^(?:to|that|about) ", "", what.strip())
    when = when.strip()
    repeat = None
    m = re.match(r"^(every day|every weekday|every week|every month|every year|daily|weekly|monthly|"
                 r"every weekend|weekdays)\b(?: at (?P<at>.+))?$", when)
    if m:
        repeat = m.group(1)
        when = f"at {m.group('at')}" if m.group("at") else "tomorrow at 9"
    args = {"text": what, "when": when}
    if repeat:
        args["repeat"] = repeat
    return args


def build_personal(db: Database | None, rooms: Sequence[str], *, announcer: Callable[..., Any] | None = None,
                   actions_cfg: Any = None, cameras: Mapping[str, Any] | None = None,
                   snapshot_dir: str | Path = "data/snapshots") -> PersonalSkills | None:
    """:class:`PersonalSkills` over ``db`` (None without a database).

    Raises:
        roomvoice.errors.ConfigError: a bad system-action allow-list.
    """
    if db is None:
        return None
    actions = system_actions.SystemActions(system_actions.actions_from_config(actions_cfg)) if actions_cfg else None
    return PersonalSkills(db, rooms, announcer=announcer, actions=actions, cameras=cameras, snapshot_dir=snapshot_dir)


@dataclass(frozen=True)
class HouseholdSettings:
    """What the assistant needs for the household skills (picklable: sent to the Serve replica).

    Attributes:
        store_url: libpq URL of the migrated database; None = no household skills.
        rooms: the configured room names.
        cameras: room name → camera settings (``source``, ``fps``, ``detector``; rooms with a camera).
        snapshot_dir: absolute folder for camera snapshots.
    """

    store_url: str | None
    rooms: tuple[str, ...] = ()
    cameras: Mapping[str, Any] | None = None
    snapshot_dir: str = "data/snapshots"


class CameraOnUse:
    """A camera started on first use (then sampled in the background), read afresh on each use.

    Args:
        camera: a not-started :class:`~roomvoice.rooms.camera.Camera`.
    """

    def __init__(self, camera: Any) -> None:
        self.camera = camera

    def _fresh(self) -> Any:
        if not self.camera.running:
            self.camera.start()
        self.camera.read()
        return self.camera

    def snapshot(self, directory: str | Path) -> Path:
        """Read a frame now and save it (see :meth:`Camera.snapshot`)."""
        return self._fresh().snapshot(directory)

    def presence(self) -> Any:
        """Read a frame now and count the people in it (see :meth:`Camera.presence`)."""
        return self._fresh().presence()


def ray_announcer(rooms: Sequence[str]) -> Callable[[Sequence[str], str], list[Any]]:
    """An announcer that queues the text on the rooms' Ray actors (``room:<name>``) and returns at
    once: each room speaks it when it is next idle (right after the turn that asked, for its own
    room). Unknown or stopped rooms are reported per room, the others still get it.
    """
    from roomvoice.events import Announcement

    known = tuple(rooms)

    def announce(targets: Sequence[str], text: str) -> list[Any]:
        import ray

        out = []
        for room in list(targets) or list(known):
            try:
                ray.get_actor(f"room:{room}").announce.remote(text)  # fire and forget
                out.append(Announcement(room, text))
            except ValueError:
                out.append(Announcement(room, text, error="room-unavailable"))
        return out

    return announce


def build_household(settings: HouseholdSettings | None, actions_cfg: Any = None, *,
                    announcer: Callable[[Sequence[str], str], Sequence[Any]] | None = None) -> PersonalSkills | None:
    """:class:`PersonalSkills` from :class:`HouseholdSettings` (None without a database URL).

    Cameras that cannot be configured are left out (logged). The database pool is small (1–2).

    Raises:
        roomvoice.errors.ConfigError: a bad system-action allow-list.
    """
    if settings is None or not settings.store_url:
        return None
    from roomvoice.rooms.camera import cameras_from_config

    cameras = {room: CameraOnUse(cam) for room, cam in cameras_from_config(settings.cameras or {}).items()}
    db = Database(settings.store_url, 1, 2)
    return build_personal(db, settings.rooms, announcer=announcer, actions_cfg=actions_cfg, cameras=cameras,
                          snapshot_dir=settings.snapshot_dir)
