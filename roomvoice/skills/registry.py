"""The tool registry: tools the LLM may call, validated before anything runs.

A :class:`Tool` has a name, a description, a JSON Schema for its arguments (an ``object``
schema; validated with ``jsonschema``, draft 2020-12), an optional live-data validator and a
handler. :meth:`ToolRegistry.dispatch` takes a call as the LLM wrote it and, in order:

1. looks the tool up (``tool-unknown``);
2. parses the arguments: a JSON string (the OpenAI wire form) or an already-decoded mapping;
   not JSON, not an object, or too long → ``tool-bad-arguments``;
3. validates them against the schema (wrong types, missing or extra fields, values outside
   ``enum``/ranges → ``tool-bad-arguments``, naming the field);
4. runs the tool's validator against live data (entities must exist and be in the tool's
   domain: ``entity-unknown``, ``entity-wrong-domain``, ``entity-ambiguous``), which may
   normalise the arguments (a name resolved to an ``entity_id``);
5. calls the handler and returns its :class:`~roomvoice.skills.types.ToolResult`.

Any :class:`~roomvoice.skills.errors.SkillError` on the way becomes ``ToolResult(ok=False,
code=..., message=...)``: the message says what was wrong, so the assistant can speak it or
hand it back to the LLM. Nothing is executed when validation fails. :meth:`tools_for_llm`
gives the OpenAI-style ``tools`` list; schemas may list known entity ids in an ``enum`` so a
constrained decoder can restrict them.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from roomvoice.skills.errors import SkillError, ToolError
from roomvoice.skills.types import ToolCall, ToolResult

_LOGGER = logging.getLogger(__name__)

MAX_ARGUMENT_CHARS = 4000
"""Longest arguments string accepted, in characters."""
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Tool:
    """One tool the LLM may call.

    Attributes:
        name: ``[A-Za-z0-9_-]{1,64}`` (the OpenAI function-name rule).
        description: what it does, for the LLM.
        parameters: JSON Schema of the arguments; must be ``{"type": "object", ...}``. Use
            ``"additionalProperties": false`` to refuse unknown fields.
        handler: runs a validated call and says what happened; may raise a ``SkillError``.
        validator: checks a schema-valid call against live data and returns it, possibly with
            normalised arguments; raises a ``SkillError`` to refuse it. None: no such check.
    """

    name: str
    description: str
    parameters: Mapping[str, Any]
    handler: Callable[[ToolCall], ToolResult] = field(compare=False)
    validator: Callable[[ToolCall], ToolCall] | None = field(default=None, compare=False)

    def as_openai(self) -> dict[str, Any]:
        """``{"type": "function", "function": {"name", "description", "parameters"}}``."""
        return {"type": "function",
                "function": {"name": self.name, "description": self.description,
                             "parameters": json.loads(json.dumps(self.parameters))}}


class ToolRegistry:
    """Named tools with schema and live-data validation.

    Args:
        tools: tools to register at once.
    """

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, tuple[Tool, Draft202012Validator]] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool, replace_existing: bool = False) -> None:
        """Add a tool (or, with ``replace_existing``, replace one of the same name).

        Raises:
            ValueError: a bad name, a duplicate, or a schema that is not an object schema.
            jsonschema.SchemaError: a schema that is not valid JSON Schema.
        """
        if not _TOOL_NAME.match(tool.name):
            raise ValueError(f"tool name {tool.name!r} must match {_TOOL_NAME.pattern}")
        if tool.name in self._tools and not replace_existing:
            raise ValueError(f"tool {tool.name!r} is already registered")
        if tool.parameters.get("type") != "object":
            raise ValueError(f"tool {tool.name!r}: parameters must be an object schema")
        Draft202012Validator.check_schema(tool.parameters)
        self._tools[tool.name] = (tool, Draft202012Validator(tool.parameters))

    @property
    def names(self) -> tuple[str, ...]:
        """Registered tool names, sorted."""
        return tuple(sorted(self._tools))

    def get(self, name: str) -> Tool | None:
        """The tool called ``name``, or None."""
        entry = self._tools.get(name)
        return entry[0] if entry else None

    def tools_for_llm(self) -> list[dict[str, Any]]:
        """The OpenAI-style ``tools`` list (sorted by name)."""
        return [self._tools[n][0].as_openai() for n in self.names]

    def validate(self, name: str, arguments: str | Mapping[str, Any] | None, call_id: str = "") -> ToolCall:
        """Parse and validate a call without running it.

        Raises:
            ToolError: ``tool-unknown`` or ``tool-bad-arguments``.
            SkillError: whatever the tool's live-data validator raises (``entity-*``).
        """
        entry = self._tools.get(name)
        if entry is None:
            known = ", ".join(self.names) or "none"
            raise ToolError("tool-unknown", f"There is no tool called {str(name)[:64]!r} (tools: {known}).")
        tool, schema = entry
        parsed = _parse(name, arguments)
        error = best_match(schema.iter_errors(parsed))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "arguments"
            raise ToolError("tool-bad-arguments", f"{name}: {where}: {_describe(error)}")
        call = ToolCall(name, parsed, call_id)
        if tool.validator is not None:
            call = tool.validator(call)
        return call

    def dispatch(self, name: str, arguments: str | Mapping[str, Any] | None, call_id: str = "") -> ToolResult:
        """Validate and run a tool call.

        Returns:
            The handler's result (``call_id`` filled in), or ``ToolResult(ok=False, code,
            message)`` for any ``SkillError`` — refused calls run nothing.
        """
        try:
            call = self.validate(name, arguments, call_id)
        except SkillError as exc:
            _LOGGER.warning("tool call %s refused: %s", str(name)[:64], exc)
            return ToolResult(str(name)[:64], False, exc.message, code=exc.code, call_id=call_id)
        try:
            result = self._tools[name][0].handler(call)
        except SkillError as exc:
            _LOGGER.warning("tool %s failed: %s", name, exc)
            return ToolResult(name, False, exc.message, code=exc.code, call_id=call_id)
        return replace(result, call_id=call_id) if result.call_id != call_id else result


def _parse(name: str, arguments: str | Mapping[str, Any] | None) -> dict[str, Any]:
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    if isinstance(arguments, str):
        if len(arguments) > MAX_ARGUMENT_CHARS:
            raise ToolError("tool-bad-arguments",
                            f"{name}: arguments are {len(arguments)} characters (limit {MAX_ARGUMENT_CHARS})")
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError as exc:
            raise ToolError("tool-bad-arguments", f"{name}: arguments are not valid JSON ({exc.msg} at "
                                                  f"line {exc.lineno} column {exc.colno})") from exc
    if not isinstance(arguments, Mapping):
        raise ToolError("tool-bad-arguments",
                        f"{name}: arguments must be a JSON object, not {type(arguments).__name__}")
    return dict(arguments)


def _describe(error: Any) -> str:
    """A readable message for a schema error (long ``enum`` lists and ``oneOf`` dumps shortened)."""
    if error.validator == "enum":
        return f"{_short(repr(error.instance), 80)} is not one of the {len(error.validator_value)} allowed values"
    if error.validator == "oneOf":
        options = [" + ".join(sub.get("required", [])) or "?" for sub in error.validator_value]
        return f"give exactly one of: {', '.join(options)}"
    return _short(error.message)


def _short(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
