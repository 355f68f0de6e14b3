"""Build the assistant's skills from config: the one place where skills are wired together.

* :func:`build_registry` — the :class:`~roomvoice.skills.registry.ToolRegistry` the LLM may call.
  **To add a skill's tools** (timers, reminders, calendar, tasks, announcements, camera,
  system actions...), register them here, next to the Home Assistant tools::

      registry.register(Tool("start_timer", "Start a timer.", schema, handler))
      # or, for a module exposing a tool set:  TimerTools(...).register(registry)

  Every tool goes through the registry's validation (JSON Schema, then the tool's live-data
  validator) before it runs, and is offered to the LLM under a constrained-JSON grammar
  (:mod:`roomvoice.skills.llm_tools`); list a tool in ``skills.llm_denied_tools`` to keep it
  from the LLM.
* :func:`build_skills` — the :class:`~roomvoice.skills.runtime.SkillSet` the assistant uses:
  Home Assistant client and entity index (when ``skills.homeassistant.url`` is set), the intent
  fast path, and the registry. A timer skill plugs into the fast path with ``timer_handler``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from roomvoice.skills.homeassistant.client import HomeAssistantClient, env_token
from roomvoice.skills.homeassistant.entities import EntityIndex
from roomvoice.skills.homeassistant.tools import HomeAssistantTools
from roomvoice.skills.intents import IntentRecognizer
from roomvoice.skills.registry import Tool, ToolRegistry
from roomvoice.skills.runtime import HomeAssistantSource, SkillSet
from roomvoice.skills.types import TimerIntent, ToolResult

_LOGGER = logging.getLogger(__name__)


def build_registry(cfg: Any, ha_tools: HomeAssistantTools | None = None, extra_tools: Iterable[Tool] = ()
                   ) -> ToolRegistry:
    """The tools the LLM may call.

    Args:
        cfg: the :class:`~roomvoice.config.SkillsConfig` (other skills read their settings from it).
        ha_tools: the Home Assistant tools, when Home Assistant is configured.
        extra_tools: more skills' tools, e.g. :func:`roomvoice.skills.schedule_tools.schedule_tools`
            (timers, reminders, calendar, tasks), ``announcements.tools``, ``camera_tools.tools``,
            ``system_actions.tools`` — each module's ``tools(...)`` builds them for a context.

    Returns:
        A registry with every enabled skill's tools.
    """
    registry = ToolRegistry()
    if ha_tools is not None:
        ha_tools.register(registry)
    # Other skills register their tools here (see the module docstring).
    for tool in extra_tools:
        registry.register(tool)
    return registry


def build_home_assistant(cfg: Any, *, transport: Any = None) -> tuple[HomeAssistantClient, HomeAssistantSource] | None:
    """The client and index source for ``cfg.homeassistant``; None when no URL is configured.

    Raises:
        HomeAssistantError: ``ha-no-token`` when a URL is set but no token is (config or env).
    """
    ha = cfg.homeassistant
    if not ha.url:
        return None
    client = HomeAssistantClient(str(ha.url), ha.token or env_token() or None, float(ha.timeout_s),
                                 read_attempts=int(ha.read_attempts), backoff_s=float(ha.backoff_s),
                                 transport=transport)
    source = HomeAssistantSource(client, dict(ha.areas), {k: list(v) for k, v in ha.aliases.items()},
                                 {k: list(v) for k, v in ha.area_aliases.items()}, bool(ha.areas_from_template))
    return client, source


def build_skills(cfg: Any, *, timezone: str | None = None, now: Callable[[], datetime] | None = None,
                 timer_handler: Callable[[TimerIntent], ToolResult] | None = None,
                 transport: Any = None, personal: Any = None) -> SkillSet | None:
    """The assistant's skills from a :class:`~roomvoice.config.SkillsConfig`.

    With ``enabled`` false returns None (the assistant keeps only its time/date rules). With
    no Home Assistant URL the fast path still answers time, date (and timers, given a
    ``timer_handler``) and says devices cannot be controlled. With one, the entity index is
    read once here; if Home Assistant does not answer, device commands get "I can't reach
    Home Assistant right now" and the index is retried in the background.

    Args:
        cfg: the skills config.
        timezone: IANA zone for time/date answers (None = the system's).
        now: clock override (tests).
        timer_handler: runs recognised timer requests (the timer skill).
        transport: ``httpx`` transport for the Home Assistant client (tests).
        personal: timers, reminders, calendar, tasks, announcements, camera and system actions
            (:func:`roomvoice.skills.personal.build_personal`): their tools join the registry,
            their phrasings the fast path, and timer intents go to its timer skill.

    Raises:
        HomeAssistantError: ``ha-no-token`` (a URL without a token).
    """
    if cfg is None or not cfg.enabled:
        return None
    from roomvoice.skills.clock import local_now

    clock = now or (lambda: local_now(timezone))
    built = build_home_assistant(cfg, transport=transport)
    ha_tools = source = None
    if built is not None:
        client, source = built
        ha_tools = HomeAssistantTools(client, EntityIndex(()), now=clock)
    recognizer = IntentRecognizer(EntityIndex(()), cfg.language, now=clock)
    extra = personal.tools() if personal is not None else ()
    if personal is not None and timer_handler is None:
        timer_handler = personal.timer_handler
    skills = SkillSet(build_registry(cfg, ha_tools, extra), recognizer, ha_tools, source,
                      refresh_interval_s=float(cfg.homeassistant.refresh_interval_s),
                      room_areas=dict(cfg.room_areas), llm_tools=bool(cfg.llm_tools),
                      denied_tools=tuple(cfg.llm_denied_tools), timer_handler=timer_handler, now=clock,
                      personal=personal)
    if source is not None and not skills.refresh():
        _LOGGER.warning("Home Assistant at %s not reachable at start (%s); will retry",
                        cfg.homeassistant.url, skills.last_refresh_error)
    return skills


__all__ = ["build_home_assistant", "build_registry", "build_skills"]
