"""End to end without Ray or audio: transcript → intent fast path → client → fake Home Assistant."""

from __future__ import annotations

from roomvoice.skills.homeassistant.client import HomeAssistantClient
from roomvoice.skills.homeassistant.demo_home import DEMO_ALIASES, DEMO_AREA_ALIASES, DEMO_AREAS
from roomvoice.skills.homeassistant.entities import EntityIndex
from roomvoice.skills.homeassistant.tools import HomeAssistantTools
from roomvoice.skills.intents import IntentRecognizer
from roomvoice.skills.registry import ToolRegistry
from roomvoice.skills.types import IntentKind
from tests.skills.conftest import NOW
from tests.skills.fake_ha import TOKEN


def _home(fake_ha):
    client = HomeAssistantClient(fake_ha.url, TOKEN, timeout_s=2.0)
    index = EntityIndex.from_states(client.get_states(), DEMO_AREAS, DEMO_ALIASES, area_aliases=DEMO_AREA_ALIASES)
    return client, index, IntentRecognizer(index, now=lambda: NOW), HomeAssistantTools(client, index)


def test_turn_on_the_kitchen_lights_said_in_the_kitchen(fake_ha):
    client, _index, recognizer, tools = _home(fake_ha)
    with client:
        match = recognizer.recognize("turn on the kitchen lights", room="kitchen")
        assert match.kind is IntentKind.ACTION
        result = tools.execute_match(match)
    assert result.ok and result.message == "Turned on the kitchen lights."
    assert [(c.domain, c.service, c.body) for c in fake_ha.calls] == \
        [("light", "turn_on", {"entity_id": ["light.kitchen_lights"]})]
    assert fake_ha.states["light.kitchen_lights"]["state"] == "on"
    assert tools.index.get("light.kitchen_lights").state == "on"  # the index follows the answer


def test_questions_refusals_and_failures_reach_the_user_without_calls(fake_ha):
    client, _index, recognizer, tools = _home(fake_ha)
    with client:
        for text in ("turn on kitchen", "turn on the jacuzzi", "lock the kitchen lights", "is the front door locked"):
            result = tools.execute_match(recognizer.recognize(text, room="kitchen"))
            assert result.message and result.service_call is None
        assert fake_ha.calls == [] and fake_ha.count("POST") == 0
        fake_ha.fail_next(1, 500, method="POST")
        failed = tools.execute_match(recognizer.recognize("unlock the front door"))
        assert (failed.ok, failed.code) == (False, "ha-error") and fake_ha.count("POST") == 1


def test_llm_tool_call_through_the_registry(fake_ha):
    client, _index, _recognizer, tools = _home(fake_ha)
    registry = ToolRegistry()
    tools.register(registry)
    with client:
        result = registry.dispatch("set_temperature", '{"name": "thermostat", "temperature": 22}', call_id="t1")
    assert result.ok and result.call_id == "t1"
    assert [(c.domain, c.service, c.body) for c in fake_ha.calls] == \
        [("climate", "set_temperature", {"entity_id": ["climate.thermostat"], "temperature": 22.0})]
