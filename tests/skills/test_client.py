"""HomeAssistantClient against the fake Home Assistant (a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import pytest

from roomvoice.skills.errors import HomeAssistantError
from roomvoice.skills.homeassistant.client import HomeAssistantClient
from roomvoice.skills.homeassistant.demo_home import DEMO_SERVICES, DEMO_STATES
from roomvoice.skills.types import ServiceCall
from tests.skills.fake_ha import TOKEN, closed_port_url

LIGHT_ON = ServiceCall("light", "turn_on", ("light.kitchen_lights",), {"brightness_pct": 60})


def test_reads_states_and_services(client, fake_ha):
    states = client.get_states()
    assert [s.entity_id for s in states] == [s.entity_id for s in DEMO_STATES]
    assert next(s for s in states if s.entity_id == "climate.thermostat").attributes["current_temperature"] == 20.5
    services = client.get_services()
    assert services["light"] == tuple(sorted(DEMO_SERVICES["light"]))
    assert fake_ha.count("GET") == 2


def test_service_call_is_sent_once_and_returns_changed_states(client, fake_ha):
    changed = client.call_service(LIGHT_ON)
    assert [(s.entity_id, s.state, s.attributes["brightness"]) for s in changed] == [("light.kitchen_lights", "on", 153)]
    assert [(c.domain, c.service, c.body) for c in fake_ha.calls] == \
        [("light", "turn_on", {"entity_id": ["light.kitchen_lights"], "brightness_pct": 60})]
    assert fake_ha.count("POST") == 1


@pytest.mark.parametrize("status", [500, 503, 400])
def test_failed_service_call_is_not_retried(client, fake_ha, sleeps, status):
    fake_ha.fail_next(1, status, method="POST")
    with pytest.raises(HomeAssistantError) as info:
        client.call_service(LIGHT_ON)
    assert (info.value.code, info.value.status) == ("ha-error", status)
    assert str(status) in info.value.message
    assert fake_ha.count("POST") == 1 and fake_ha.calls == [] and sleeps == []
    client.call_service(LIGHT_ON)  # the next call goes through
    assert fake_ha.count("POST") == 2 and len(fake_ha.calls) == 1


def test_reads_are_retried_with_exponential_backoff(client, fake_ha, sleeps):
    fake_ha.fail_next(2, 503, method="GET")
    assert len(client.get_states()) == len(DEMO_STATES)
    assert fake_ha.count("GET") == 3
    assert sleeps == [0.25, 0.5]


def test_reads_give_up_after_the_last_attempt(client, fake_ha, sleeps):
    fake_ha.fail_next(10, 500, method="GET")
    with pytest.raises(HomeAssistantError) as info:
        client.get_services()
    assert (info.value.code, info.value.status) == ("ha-error", 500)
    assert fake_ha.count("GET") == 3 and sleeps == [0.25, 0.5]


def test_client_errors_are_not_retried(client, fake_ha, sleeps):
    fake_ha.fail_next(1, 404, method="GET")
    with pytest.raises(HomeAssistantError) as info:
        client.get_states()
    assert info.value.status == 404 and fake_ha.count("GET") == 1 and sleeps == []


def test_unreachable_server():
    sleeps: list[float] = []
    with HomeAssistantClient(closed_port_url(), TOKEN, timeout_s=1.0, sleep=sleeps.append) as client:
        with pytest.raises(HomeAssistantError) as info:
            client.get_states()
        assert info.value.code == "ha-unreachable" and "after 3 attempt(s)" in info.value.message
        assert sleeps == [0.25, 0.5]
        with pytest.raises(HomeAssistantError) as info:
            client.call_service(LIGHT_ON)
        assert info.value.code == "ha-unreachable" and "cannot connect" in info.value.message
        assert sleeps == [0.25, 0.5]  # no retry for the call


def test_slow_server_times_out_and_the_call_is_not_repeated(fake_ha, sleeps):
    fake_ha.delay_s = 0.5
    with HomeAssistantClient(fake_ha.url, TOKEN, timeout_s=0.1, read_attempts=2, sleep=sleeps.append) as client:
        with pytest.raises(HomeAssistantError) as info:
            client.call_service(LIGHT_ON)
        assert info.value.code == "ha-unreachable" and "may or may not have run" in info.value.message
        assert fake_ha.count("POST") == 1
        with pytest.raises(HomeAssistantError) as info:
            client.get_states()
        assert info.value.code == "ha-unreachable"
        assert fake_ha.count("GET") == 2


@pytest.mark.parametrize("mode", ["not-json", "wrong-shape"])
def test_malformed_answers(client, fake_ha, mode):
    fake_ha.malformed = mode
    for read in (client.get_states, client.get_services, lambda: client.call_service(LIGHT_ON)):
        with pytest.raises(HomeAssistantError) as info:
            read()
        assert info.value.code == "ha-bad-response"
    assert fake_ha.count("POST") == 1


def test_bearer_token_is_checked(fake_ha, monkeypatch):
    with HomeAssistantClient(fake_ha.url, "wrong-token") as client:
        with pytest.raises(HomeAssistantError) as info:
            client.get_states()
    assert (info.value.code, info.value.status) == ("ha-error", 401) and "token rejected" in info.value.message
    monkeypatch.setenv("HA_TOKEN", TOKEN)
    with HomeAssistantClient(fake_ha.url) as client:
        assert client.get_states()
    monkeypatch.delenv("HA_TOKEN")
    with pytest.raises(HomeAssistantError) as info:
        HomeAssistantClient(fake_ha.url)
    assert info.value.code == "ha-no-token"
