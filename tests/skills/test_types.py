"""The typed values crossing the skills' module boundaries: wire forms, JSON, hashing."""

from __future__ import annotations

import json

from roomvoice.skills.types import IntentKind, ServiceCall, ToolResult


def test_service_call_wire_form():
    call = ServiceCall("light", "turn_on", ["light.b", "light.a"], {"brightness_pct": 40})
    assert call.entity_ids == ("light.b", "light.a")  # kept as given; builders sort them
    assert call.path == "/api/services/light/turn_on"
    assert call.body() == {"entity_id": ["light.b", "light.a"], "brightness_pct": 40}
    assert hash(call) == hash(ServiceCall("light", "turn_on", ("light.b", "light.a"), {"brightness_pct": 40}))
    assert call != ServiceCall("light", "turn_on", ("light.b", "light.a"), {"brightness_pct": 41})


def test_matches_and_results_are_json_safe(recognizer):
    match = recognizer.recognize("turn on kitchen", room="kitchen")
    assert match.kind is IntentKind.CLARIFY
    data = json.loads(json.dumps(match.to_json()))
    assert data["kind"] == "clarify" and data["error_code"] == "entity-ambiguous"
    assert {e["entity_id"] for e in data["entities"]} == {"light.kitchen_lights", "switch.coffee_maker"}
    action = recognizer.recognize("set the kitchen lights to 50%")
    assert json.loads(json.dumps(action.to_json()))["service_call"] == {
        "domain": "light", "service": "turn_on", "entity_ids": ["light.kitchen_lights"], "data": {"brightness_pct": 50}}
    result = ToolResult("turn_on", True, "Done.", service_call=action.service_call, data={"changed": ["x.y"]})
    assert json.loads(json.dumps(result.to_json()))["data"] == {"changed": ["x.y"]}
