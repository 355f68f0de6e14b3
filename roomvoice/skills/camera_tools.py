"""Camera tools: "take a snapshot in the kitchen", "is anyone in the office?".

Works against :class:`roomvoice.rooms.camera.Camera` objects (started, one per room that has a
camera): ``snapshot(directory)`` saves the latest frame as JPEG, ``presence()`` counts people
in it. The ``room`` argument is an ``enum`` of the rooms that have a camera, so the LLM cannot
name another; guests may not use cameras (privacy). Camera failures become
``camera-unavailable`` with the camera's reason.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from roomvoice.errors import RoomVoiceError
from roomvoice.skills.context import ContextSource, resolve
from roomvoice.skills.errors import ActionError
from roomvoice.skills.registry import Tool
from roomvoice.skills.types import ToolCall, ToolResult

logger = logging.getLogger(__name__)

ROLES_THAT_MAY_USE_CAMERAS = ("admin", "member")


def _spoken(room: str) -> str:
    return room.replace("_", " ")


def tools(cameras: Mapping[str, Any], snapshot_dir: str | Path, context: ContextSource) -> list[Tool]:
    """The camera tools (none when no room has a camera).

    Args:
        cameras: room name → started :class:`~roomvoice.rooms.camera.Camera`.
        snapshot_dir: where snapshots are written (``<dir>/<camera>-<UTC time>.jpg``).
        context: the request's context (its ``room`` is the default; its ``role`` is checked).
    """
    if not cameras:
        return []
    rooms = sorted(cameras)

    def camera_for(call: ToolCall) -> tuple[str, Any]:
        ctx = resolve(context)
        if ctx.role not in ROLES_THAT_MAY_USE_CAMERAS:
            raise ActionError("permission-denied", f"A {ctx.role} may not use the cameras.")
        room = call.arguments.get("room") or ctx.room
        if room not in cameras:
            raise ActionError("room-unknown", f"There is no camera in the {_spoken(room) or 'room'}; "
                                              f"cameras: {', '.join(_spoken(r) for r in rooms)}.")
        return room, cameras[room]

    def snapshot(call: ToolCall) -> ToolResult:
        room, camera = camera_for(call)
        try:
            path = camera.snapshot(snapshot_dir)
        except RoomVoiceError as exc:
            raise ActionError("camera-unavailable", f"The {_spoken(room)} camera failed: {exc.message}") from exc
        return ToolResult(call.name, True, f"Took a snapshot in the {_spoken(room)}.",
                          data={"room": room, "path": str(path)})

    def presence(call: ToolCall) -> ToolResult:
        room, camera = camera_for(call)
        try:
            seen = camera.presence()
        except RoomVoiceError as exc:
            raise ActionError("camera-unavailable", f"The {_spoken(room)} camera failed: {exc.message}") from exc
        if seen.people == 0:
            message = f"I don't see anyone in the {_spoken(room)}."
        else:
            message = f"Yes, I see {seen.people} {'person' if seen.people == 1 else 'people'} in the {_spoken(room)}."
        return ToolResult(call.name, True, message, data={"room": room, "people": seen.people})

    room_schema = {"type": "object", "additionalProperties": False,
                   "properties": {"room": {"enum": rooms, "description": "room (default: this room)"}}}
    return [
        Tool("camera_snapshot", "Take a picture with a room's camera and save it.", room_schema, snapshot),
        Tool("room_presence", "Say whether anyone is in a room, from its camera.", room_schema, presence),
    ]
