"""The skills as the assistant uses them: fast path, LLM tool calls and Home Assistant, behind one
object.

:class:`SkillSet` owns the entity index (refreshed from Home Assistant), the intent recogniser,
the Home Assistant tools and the :class:`~roomvoice.skills.registry.ToolRegistry`. It answers
three questions for :class:`~roomvoice.assistant.core.AssistantCore`:

* :meth:`SkillSet.fast_reply` — can the rules answer (time/date, a Home Assistant intent)? A
  matched command is executed here (one service call, never retried); a question that needs
  clarifying, or a refusal, is answered without executing anything.
* :meth:`SkillSet.tool_prompt` — should the LLM be offered tools, and with what schema?
* :meth:`SkillSet.run_llm_call` — check and run what the LLM chose.

Every answer is a :class:`SkillReply`: the words to say and the
:class:`~roomvoice.events.ToolCallRecord` of each call made or refused. Home Assistant being
down never raises: the reply says so ("I can't reach Home Assistant right now.").
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from roomvoice.events import ToolCallRecord
from roomvoice.skills.clock import answer_time_or_date, local_now
from roomvoice.skills.errors import HomeAssistantError, SkillError, ToolError
from roomvoice.skills.homeassistant.entities import EntityIndex
from roomvoice.skills.homeassistant.tools import HomeAssistantTools
from roomvoice.skills.intents import ACTION_INTENTS, IntentRecognizer
from roomvoice.skills.llm_tools import (
    CANT_TELL,
    NO_TOOL,
    UNCLEAR,
    ToolPrompt,
    check_llm_call,
    is_device_tool,
    looks_like_command,
    looks_like_injection,
    parse_choice,
    shortlist,
    tool_prompt,
    wants_tools,
)
from roomvoice.skills.tool_plan import ToolPlan, plan_call, settled_prompt
from roomvoice.skills.registry import ToolRegistry
from roomvoice.skills.types import IntentKind, IntentMatch, TimerIntent, ToolResult

_LOGGER = logging.getLogger(__name__)

UNREACHABLE = "I can't reach Home Assistant right now."
"""Said when Home Assistant does not answer."""
NOT_CONFIGURED = "I can't control devices: Home Assistant is not set up."
"""Said for a device command when no Home Assistant is configured."""
NO_TIMERS = "Sorry, I can't set timers yet."
"""Said for a timer request when no timer skill is plugged in."""
_HA_INTENTS = frozenset({*ACTION_INTENTS, "HassClimateGetTemperature", "HassGetState"})
_UNCLEAR_CODES = frozenset({"tool-unknown", "tool-bad-arguments", "tool-not-grounded", "entity-unknown",
                            "entity-wrong-domain"})
"""Codes of an LLM tool choice that makes no sense for the request: answered with :data:`UNCLEAR`."""
_RETRY_FAILED_REFRESH_S = 30.0


@dataclass(frozen=True)
class SkillReply:
    """What a skill says, and the calls it made or refused.

    Attributes:
        speech: the reply, to be spoken or shown as is.
        source: ``"fast_path"`` (rules) or ``"llm"`` (an LLM tool call).
        tool_calls: the calls made or refused, in order (empty for time/date).
        elapsed_s: wall seconds from the text to ``speech``, **excluding** Home Assistant round
            trips (``ha_s``).
        ha_s: wall seconds spent waiting for Home Assistant.
    """

    speech: str
    source: str
    tool_calls: tuple[ToolCallRecord, ...] = ()
    elapsed_s: float = 0.0
    ha_s: float = 0.0


class HomeAssistantSource:
    """Where the entity index comes from: a client plus the config that REST states lack.

    Args:
        client: a :class:`~roomvoice.skills.homeassistant.client.HomeAssistantClient` (or a
            test double with ``get_states``, ``get_areas`` and ``call_service``).
        areas: entity id → area (config; wins over areas read from Home Assistant).
        aliases: entity id → extra names.
        area_aliases: area → extra names.
        areas_from_template: also ask Home Assistant for areas (``POST /api/template``).
    """

    def __init__(self, client: Any, areas: Mapping[str, str] | None = None,
                 aliases: Mapping[str, Sequence[str]] | None = None,
                 area_aliases: Mapping[str, Sequence[str]] | None = None, areas_from_template: bool = True) -> None:
        self.client = client
        self.areas = dict(areas or {})
        self.aliases = {k: tuple(v) for k, v in (aliases or {}).items()}
        self.area_aliases = {k: tuple(v) for k, v in (area_aliases or {}).items()}
        self.areas_from_template = areas_from_template

    def load(self) -> EntityIndex:
        """Read the states (and areas) and build the index.

        Raises:
            HomeAssistantError: the states could not be read (areas failing only logs a warning).
        """
        states = self.client.get_states()
        areas: dict[str, str] = {}
        if self.areas_from_template:
            try:
                areas = dict(self.client.get_areas())
            except HomeAssistantError as exc:
                _LOGGER.warning("areas from Home Assistant unavailable (%s); using config areas only", exc.code)
                self.areas_from_template = exc.code == "ha-unreachable"  # don't ask again if unsupported
        return EntityIndex.from_states(states, {**areas, **self.areas}, self.aliases, area_aliases=self.area_aliases)


class SkillSet:
    """The assistant's skills. Thread-safe (one lock around index changes and calls).

    Args:
        registry: the tools the LLM may call (see :func:`roomvoice.skills.setup.build_registry`).
        recognizer: the intent fast path; None = time/date rules only.
        ha_tools: Home Assistant tools (execution of fast-path calls); None = no Home Assistant.
        source: where to refresh the index from; None = the index never changes.
        refresh_interval_s: the index is re-read when older than this (in the background).
            :meth:`refresh` once before use (the builder does); until the first success,
            device commands are answered with :data:`UNREACHABLE`.
        room_areas: room name → area; rooms not listed are their own area name.
        llm_tools: offer tools to the LLM at all.
        denied_tools: tools the LLM may never call.
        timer_handler: runs a recognised timer request (the timer skill); None = "can't set timers".
        now: clock for time/date answers.
        personal: the household skills' rule fast path
            (:class:`~roomvoice.skills.personal.PersonalSkills`: reminders, tasks, calendar,
            announcements, camera, system actions); their tools must be in ``registry``.
    """

    def __init__(self, registry: ToolRegistry, recognizer: IntentRecognizer | None = None,
                 ha_tools: HomeAssistantTools | None = None, source: HomeAssistantSource | None = None, *,
                 refresh_interval_s: float = 300.0, room_areas: Mapping[str, str] | None = None,
                 llm_tools: bool = True, denied_tools: Collection[str] = ("unlock",),
                 timer_handler: Callable[[TimerIntent], ToolResult] | None = None,
                 now: Callable[[], datetime] | None = None, personal: Any = None) -> None:
        self.registry = registry
        self.recognizer = recognizer
        self.ha_tools = ha_tools
        self.source = source
        self.refresh_interval_s = float(refresh_interval_s)
        self.room_areas = dict(room_areas or {})
        self.llm_tools = llm_tools
        self.denied_tools = frozenset(denied_tools)
        self.timer_handler = timer_handler
        self.personal = personal
        self._now = now or local_now
        self._lock = threading.RLock()
        self._refreshing = threading.Lock()
        self.loaded_at: float | None = None if source is not None else time.monotonic()
        self.last_refresh_error: str | None = None
        self._failed_at: float | None = None

    # --- index ---------------------------------------------------------------------------
    @property
    def index(self) -> EntityIndex:
        """The current entity index (empty without Home Assistant)."""
        if self.ha_tools is not None:
            return self.ha_tools.index
        return self.recognizer.index if self.recognizer is not None else EntityIndex(())

    @property
    def has_home_assistant(self) -> bool:
        """True if a Home Assistant is configured."""
        return self.ha_tools is not None

    def refresh(self) -> bool:
        """Re-read the entity index from Home Assistant now (blocking).

        Returns:
            True on success; False if Home Assistant could not be read (the old index stays).
        """
        if self.source is None:
            return False
        t0 = time.perf_counter()
        try:
            index = self.source.load()
        except HomeAssistantError as exc:
            self.last_refresh_error = exc.code
            self._failed_at = time.monotonic()
            _LOGGER.warning("entity refresh failed: %s", exc)
            return False
        self._use_index(index)
        self.loaded_at, self.last_refresh_error, self._failed_at = time.monotonic(), None, None
        _LOGGER.info("entity index: %d entities, %d areas (%.0f ms)", len(index.entities), len(index.areas),
                     (time.perf_counter() - t0) * 1e3)
        return True

    def maybe_refresh(self) -> None:
        """Start a background refresh if the index is stale (never blocks the caller)."""
        if self.source is None:
            return
        now = time.monotonic()
        if self._failed_at is not None:
            stale = now - self._failed_at > min(self.refresh_interval_s, _RETRY_FAILED_REFRESH_S)
        else:
            stale = self.loaded_at is None or now - self.loaded_at > self.refresh_interval_s
        if stale and self._refreshing.acquire(blocking=False):
            def run() -> None:
                try:
                    self.refresh()
                finally:
                    self._refreshing.release()
            threading.Thread(target=run, name="skills-refresh", daemon=True).start()

    def _use_index(self, index: EntityIndex) -> None:
        with self._lock:
            if self.ha_tools is not None:
                self.ha_tools.update_index(index, self.registry)
            if self.recognizer is not None:
                self.recognizer.update_index(index)

    def _follow_states(self, before: EntityIndex) -> None:
        """After a service call changed states, let the recogniser see them too."""
        if self.ha_tools is not None and self.recognizer is not None and self.ha_tools.index is not before:
            self.recognizer.update_index(self.ha_tools.index)

    def area_of(self, room: str | None) -> str | None:
        """The area a room is in (``room_areas``, else the room's own name), if the index knows it."""
        if not room:
            return None
        return self.index.area_named(self.room_areas.get(room, room))

    # --- fast path -----------------------------------------------------------------------
    def fast_reply(self, text: str, room: str | None = None) -> SkillReply | None:
        """The rules' reply to ``text`` said in ``room``, executing a matched command; None = ask the LLM."""
        t0 = time.perf_counter()
        answer = answer_time_or_date(text, self._now())
        if answer is not None:
            return SkillReply(answer, "fast_path", (), time.perf_counter() - t0)
        if self.personal is not None:
            hit = self.personal.fast_reply(text, self.registry)
            if hit is not None:
                call, result = hit
                speech = result.message if result.ok else spoken_failure(result)
                record = _record_result(result, "fast_path", json.dumps(dict(call.arguments)), speech)
                return SkillReply(speech, "fast_path", (record,), time.perf_counter() - t0)
        if self.recognizer is None:
            return None
        self.maybe_refresh()
        with self._lock:
            match = self._match(text, room)
            if match is None:
                return None
            if match.timer is not None and room:  # the room, not its area, owns the timer
                match = replace(match, timer=replace(match.timer, room=room))
            reply, ha_s = self._carry_out(match)
        return SkillReply(reply.speech, "fast_path", reply.tool_calls, time.perf_counter() - t0 - ha_s, ha_s)

    def recognizes(self, text: str, room: str | None = None) -> str | None:
        """How the intent fast path would answer ``text`` said in ``room``, nothing executed:
        ``"sure"`` (a command or question it answers), ``"unsure"`` (it would ask which device was
        meant, or refuse an unknown name: perhaps a misheard one), or None (no match)."""
        if self.recognizer is None:
            return None
        match = self._match(text, room)
        if match is None:
            return None
        return "unsure" if match.kind in (IntentKind.CLARIFY, IntentKind.REFUSAL) else "sure"

    def _match(self, text: str, room: str | None) -> IntentMatch | None:
        """The intent fast path's match for ``text`` said in ``room`` (its ``room_areas`` entry, else
        its name), nothing executed; under the (re-entrant) lock."""
        with self._lock:
            return self.recognizer.recognize(text, room=self.room_areas.get(room, room) if room else None)

    def vocabulary(self) -> str:
        """The home's names for STT biasing (:meth:`EntityIndex.vocabulary`), or "" without Home Assistant."""
        return self.index.vocabulary() if self.ha_tools is not None else ""

    def _carry_out(self, match: IntentMatch) -> tuple[SkillReply, float]:
        if match.intent in _HA_INTENTS and self.ha_tools is None:
            return SkillReply(NOT_CONFIGURED, "fast_path", (_record_match(match, False, NOT_CONFIGURED,
                                                                           "ha-not-configured"),)), 0.0
        if match.intent in _HA_INTENTS and self.loaded_at is None:
            return SkillReply(UNREACHABLE, "fast_path", (_record_match(match, False, UNREACHABLE,
                                                                        "ha-unreachable"),)), 0.0
        if match.kind is IntentKind.TIMER:
            return self._timer(match), 0.0
        if match.kind is IntentKind.ACTION and self.ha_tools is not None:
            before = self.ha_tools.index
            t0 = time.perf_counter()
            result = self.ha_tools.execute_match(match)
            ha_s = time.perf_counter() - t0
            self._follow_states(before)
            speech = result.message if result.ok else spoken_failure(result)
            record = _record_result(result, "fast_path", json.dumps({"intent": match.intent}), speech)
            return SkillReply(speech, "fast_path", (record,)), ha_s
        ok = match.kind is IntentKind.ANSWER
        records = (_record_match(match, ok, match.speech, match.error_code),) if match.entities or not ok else ()
        return SkillReply(match.speech, "fast_path", records), 0.0

    def _timer(self, match: IntentMatch) -> SkillReply:
        assert match.timer is not None
        if self.timer_handler is None:
            return SkillReply(NO_TIMERS, "fast_path", (_record_match(match, False, NO_TIMERS, "timer-unavailable"),))
        try:
            result = self.timer_handler(match.timer)
        except SkillError as exc:
            result = ToolResult(match.intent, False, exc.message, code=exc.code)
        record = ToolCallRecord(match.intent, "fast_path", json.dumps(match.timer.to_json()), result.ok,
                                result.message, result.code)
        return SkillReply(result.message, "fast_path", (record,))

    # --- LLM tools -----------------------------------------------------------------------
    def tool_prompt(self, text: str, room: str | None = None) -> ToolPrompt | None:
        """The constrained tool call to ask the LLM for, or None (no tools fit: plain chat).

        Only Home Assistant tools that fit the request, and only the devices of
        :func:`~roomvoice.skills.llm_tools.shortlist` narrowed by
        :func:`~roomvoice.skills.tool_plan.plan_call`, are offered (in the prompt and the
        ``entity_id`` enums). When none can be shortlisted, a command is answered without the LLM
        (:data:`CANT_TELL`, in ``ToolPrompt.answer``); anything else gets words. When the words
        settle the whole call ("make the kitchen warmer"), the LLM is not asked either
        (``ToolPrompt.call``: checked and run by :meth:`run_llm_call` like the LLM's output).
        """
        with self._lock:
            plan = self._plan(text, room)
            if plan is None:
                return None
            if not plan.entities or not plan.tools:
                return ToolPrompt((), {}, (), answer=CANT_TELL) if looks_like_command(text) else None
            if plan.call is not None and not looks_like_injection(text):
                return settled_prompt(plan)
            return tool_prompt(self.registry, plan.tools, self.index, text, self.area_of(room), plan.entities,
                               allow_none=not plan.fixed)

    def _plan(self, text: str, room: str | None) -> ToolPlan | None:
        """The tools and devices a home request may get (None: not a home request, or no tools)."""
        if not self.llm_tools or self.ha_tools is None or not len(self.registry.names):
            return None  # the tool step is for home requests: without Home Assistant, words only
        index = self.index
        if not wants_tools(text, index):
            return None
        candidates = shortlist(index, text, self.area_of(room))
        return plan_call(self.registry, self.denied_tools, index, text, candidates, self.area_of(room))

    def run_llm_call(self, raw: str, text: str, room: str | None = None) -> SkillReply | None:
        """Check and run the LLM's constrained output for ``text``.

        Returns:
            None if the LLM chose no tool for a request that is not a command (answer in words
            instead); otherwise the reply, which says what was done or, for a refused call, why
            — :data:`UNCLEAR` when the choice makes no sense for the request (no tool for a
            command, unparsable output, an unrelated tool or device). Nothing runs for a
            refused call.
        """
        t0 = time.perf_counter()
        try:
            choice = parse_choice(raw)
        except SkillError as exc:
            record = ToolCallRecord("?", "llm", _clip(raw), False, UNCLEAR, exc.code)
            return SkillReply(UNCLEAR, "llm", (record,), time.perf_counter() - t0)
        if choice.tool == NO_TOOL:
            if not looks_like_command(text):
                return None
            record = ToolCallRecord(NO_TOOL, "llm", "{}", False, UNCLEAR, "tool-no-choice")
            return SkillReply(UNCLEAR, "llm", (record,), time.perf_counter() - t0)
        arguments = json.dumps(choice.arguments, sort_keys=True)
        with self._lock:
            index = self.index
            try:
                check_llm_call(choice, text, self.area_of(room), index, self.denied_tools)
                if not is_device_tool(self.registry, choice.tool):  # never a household tool's own errors
                    raise ToolError("tool-unknown", f"{choice.tool[:64]} is not a home control.")
                self.registry.validate(choice.tool, dict(choice.arguments))
                self._check_offered(choice.tool, choice.arguments.get("entity_id"), text, room)
            except SkillError as exc:
                _LOGGER.warning("LLM tool call %s %s refused: %s", choice.tool, _clip(arguments), exc.code)
                message = UNCLEAR if exc.code in _UNCLEAR_CODES else f"I didn't do that. {exc.message}"
                record = ToolCallRecord(choice.tool, "llm", _clip(arguments), False, message, exc.code)
                return SkillReply(message, "llm", (record,), time.perf_counter() - t0)
            before = self.ha_tools.index if self.ha_tools is not None else None
            t1 = time.perf_counter()
            result = self.registry.dispatch(choice.tool, dict(choice.arguments))
            ha_s = time.perf_counter() - t1 if result.service_call is not None else 0.0
            if before is not None:
                self._follow_states(before)
        if result.ok:
            speech = result.message
        else:
            speech = UNCLEAR if result.code in _UNCLEAR_CODES else spoken_failure(result)
        record = _record_result(result, "llm", arguments, speech)
        return SkillReply(speech, "llm", (record,), time.perf_counter() - t0 - ha_s, ha_s)

    def _check_offered(self, tool: str, entity_id: Any, text: str, room: str | None) -> None:
        """Refuse a tool, or a device, that the request was not offered (:meth:`_plan`: the same
        words give the same plan), e.g. a calendar tool for "make the kitchen warmer".

        Raises:
            ToolError: ``tool-unknown`` (a tool not offered) or ``tool-not-grounded`` (a device not offered).
        """
        plan = self._plan(text, room)
        if plan is None or tool not in plan.tools:
            raise ToolError("tool-unknown", f"{tool[:64]} does not fit this request.")
        if isinstance(entity_id, str) and entity_id not in {e.entity_id for e in plan.entities}:
            raise ToolError("tool-not-grounded", "that device was not one the request could mean.")


def spoken_failure(result: ToolResult) -> str:
    """What to say when a call failed or was refused (Home Assistant errors in plain words)."""
    if result.code == "ha-unreachable":
        return UNREACHABLE
    if result.code in ("ha-error", "ha-bad-response"):
        return "Home Assistant couldn't do that right now."
    if result.code in ("tool-unknown", "tool-bad-arguments"):
        return f"I didn't do that: I didn't understand the request. {result.message}"
    if result.code and result.code.startswith("entity-") and result.code not in ("entity-ambiguous", "entity-unsure"):
        return f"I didn't do that. {result.message}"
    return result.message


def _clip(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _record_match(match: IntentMatch, ok: bool, message: str, code: str | None) -> ToolCallRecord:
    return ToolCallRecord(match.intent, "fast_path", json.dumps({"intent": match.intent,
                                                                 "candidates": list(match.candidates)}),
                          ok, message, code, entity_ids=match.candidates if ok else ())


def _record_result(result: ToolResult, source: str, arguments: str, message: str) -> ToolCallRecord:
    call = result.service_call
    return ToolCallRecord(result.tool, source, _clip(arguments), result.ok, message, result.code,
                          f"{call.domain}.{call.service}" if call else None,
                          call.entity_ids if call else (), json.dumps(dict(call.data)) if call else "{}")


__all__ = ["HomeAssistantSource", "SkillReply", "SkillSet", "spoken_failure"]
