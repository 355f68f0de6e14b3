"""Camera tools over real OpenCV cameras reading still images: snapshot, "is anyone in the room?"."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import roomvoice
from roomvoice.rooms.camera import Camera
from roomvoice.skills.camera_tools import tools
from roomvoice.skills.context import SkillContext
from roomvoice.skills.registry import ToolRegistry

ASTRONAUT = Path(roomvoice.__file__).parent / "assets" / "camera" / "astronaut.jpg"


@pytest.fixture(scope="module")
def cameras(tmp_path_factory):
    empty = tmp_path_factory.mktemp("img") / "empty_room.jpg"
    cv2.imwrite(str(empty), np.full((240, 320, 3), 128, np.uint8))
    cams = {"kitchen": Camera(ASTRONAUT, fps=2, name="kitchen").start(),
            "office": Camera(empty, fps=2, name="office").start(),
            "garage": Camera(empty, fps=2, name="garage")}  # never started: no frame
    yield cams
    for c in cams.values():
        c.stop()


def test_presence_and_snapshot(cameras, tmp_path):
    reg = ToolRegistry(tools(cameras, tmp_path, SkillContext(role="member", room="office")))
    yes = reg.dispatch("room_presence", {"room": "kitchen"})
    assert yes.ok and yes.message == "Yes, I see 1 person in the kitchen." and yes.data["people"] == 1
    assert reg.dispatch("room_presence", {}).message == "I don't see anyone in the office."  # this room
    shot = reg.dispatch("camera_snapshot", {"room": "kitchen"})
    assert shot.ok and shot.message == "Took a snapshot in the kitchen."
    image = cv2.imread(shot.data["path"])
    assert Path(shot.data["path"]).parent == tmp_path and image is not None and image.shape[2] == 3


def test_refusals(cameras, tmp_path):
    reg = ToolRegistry(tools(cameras, tmp_path, SkillContext(role="member", room="hall")))
    assert reg.dispatch("room_presence", {"room": "bathroom"}).code == "tool-bad-arguments"
    assert reg.dispatch("room_presence", {"room": "kitchen", "path": "/etc"}).code == "tool-bad-arguments"
    assert reg.dispatch("room_presence", {}).code == "room-unknown"  # no camera where the request came from
    broken = reg.dispatch("camera_snapshot", {"room": "garage"})
    assert broken.code == "camera-unavailable" and "no frame" in broken.message
    guest = ToolRegistry(tools(cameras, tmp_path, SkillContext(role="guest")))
    assert guest.dispatch("camera_snapshot", {"room": "kitchen"}).code == "permission-denied"
    assert list(tmp_path.iterdir()) == []
    assert tools({}, tmp_path, SkillContext()) == []
