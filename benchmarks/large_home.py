"""A realistic, larger fake home for benchmarks: 12 areas, about 130 Home Assistant entities.

The demo home (``roomvoice.skills.homeassistant.demo_home``) has 24 entities; a lived-in Home
Assistant has a hundred or more, and both the intent fast path (slot lists) and the LLM's tool
step (the device list in its prompt, capped at ``MAX_PROMPT_DEVICES``) get slower with it. This
home has lights, switches, covers, fans, climate, media players, locks, sensors, binary sensors,
scenes, scripts and input booleans spread over the usual rooms, with the near-duplicate names a
real house has ("Kitchen Ceiling Light" / "Dining Room Ceiling Light", a "Ceiling Fan" in two rooms).

It is served over real HTTP by the tests' :class:`~tests.skills.fake_ha.FakeHomeAssistant`,
which takes its states, services and areas as fields (areas are answered on ``POST
/api/template``, as Home Assistant does), so nothing under ``tests/`` or ``roomvoice/`` changes:

    with large_home_server() as fake:
        configure_skills(cfg, fake.url)      # skills.homeassistant.url/token/aliases, room_areas

Only the entity set lives here; a benchmark picks its requests from :data:`HOME_NAMES`.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from roomvoice.skills.homeassistant.demo_home import DEMO_SERVICES
from roomvoice.skills.homeassistant.entities import EntityState

if str(Path(__file__).resolve().parents[1]) not in sys.path:  # tests.skills.fake_ha from a script run
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.skills.fake_ha import TOKEN, FakeHomeAssistant  # noqa: E402

_DIMMABLE = {"supported_color_modes": ["brightness"]}
_ONOFF = {"supported_color_modes": ["onoff"]}
_CHANGED = "2026-11-21T12:00:00+00:00"


def _light(object_id: str, name: str, state: str = "off", dimmable: bool = True, brightness: int | None = None):
    attrs = dict(_DIMMABLE if dimmable else _ONOFF)
    if dimmable:
        attrs["brightness"] = brightness if state == "on" else None
    return ("light." + object_id, state, name, attrs)


def _cover(object_id: str, name: str, device_class: str, state: str = "closed"):
    return ("cover." + object_id, state, name, {"device_class": device_class,
                                                 "current_position": 100 if state == "open" else 0})


def _climate(object_id: str, name: str, current: float, target: float, state: str = "heat"):
    return ("climate." + object_id, state, name, {"current_temperature": current, "temperature": target,
                                                  "hvac_modes": ["off", "heat", "cool", "auto"], "min_temp": 7,
                                                  "max_temp": 35, "unit_of_measurement": "°C"})


def _sensor(object_id: str, name: str, value: str, unit: str | None, device_class: str | None):
    attrs: dict[str, Any] = {}
    if unit:
        attrs["unit_of_measurement"] = unit
    if device_class:
        attrs["device_class"] = device_class
    attrs["state_class"] = "measurement"
    return ("sensor." + object_id, value, name, attrs)


def _plain(entity_id: str, name: str, state: str = "off", **attrs):
    return (entity_id, state, name, attrs)


def _climate_sensors(prefix: str, area_name: str, temp: str, humidity: str):
    return [_sensor(f"{prefix}_temperature", f"{area_name} Temperature", temp, "°C", "temperature"),
            _sensor(f"{prefix}_humidity", f"{area_name} Humidity", humidity, "%", "humidity")]


_AREAS: dict[str, list[tuple[str, str, str, dict[str, Any]]]] = {
    "Kitchen": [
        _light("kitchen_ceiling", "Kitchen Ceiling Light"),
        _light("kitchen_under_cabinet", "Kitchen Under Cabinet Lights", dimmable=False),
        _light("kitchen_island", "Kitchen Island Pendants", "on", brightness=180),
        _plain("switch.coffee_maker", "Coffee Maker"),
        _plain("switch.dishwasher", "Dishwasher", "on"),
        _plain("switch.kettle", "Kettle"),
        _cover("kitchen_window", "Kitchen Window", "window"),
        _cover("kitchen_blind", "Kitchen Blind", "blind", "open"),
        _plain("lock.back_door", "Back Door", "locked"),
        _plain("media_player.kitchen_speaker", "Kitchen Speaker", "idle", device_class="speaker", volume_level=0.3),
        _climate("kitchen_radiator", "Kitchen Radiator", 20.0, 20.5),
        *_climate_sensors("kitchen", "Kitchen", "20.1", "48"),
        _plain("binary_sensor.kitchen_motion", "Kitchen Motion", "off", device_class="motion"),
        _sensor("fridge_power", "Fridge Power", "84", "W", "power"),
    ],
    "Living Room": [
        _light("living_room_ceiling", "Living Room Ceiling Light"),
        _light("living_room_floor_lamp", "Living Room Floor Lamp", "on", brightness=128),
        _light("reading_lamp", "Reading Lamp"),
        _light("tv_backlight", "TV Backlight", dimmable=False),
        _plain("media_player.living_room_tv", "Living Room TV", "off", device_class="tv"),
        _plain("media_player.living_room_soundbar", "Soundbar", "off", device_class="speaker"),
        _cover("living_room_blinds", "Living Room Blinds", "blind", "open"),
        _cover("living_room_curtains", "Living Room Curtains", "curtain", "open"),
        _plain("fan.living_room_ceiling_fan", "Ceiling Fan", percentage=0),
        _climate("living_room", "Living Room Thermostat", 21.2, 21.5),
        *_climate_sensors("living_room", "Living Room", "21.2", "45"),
        _plain("binary_sensor.living_room_motion", "Living Room Motion", "on", device_class="motion"),
        _plain("scene.movie_night", "Movie Night", "unknown"),
        _plain("scene.reading", "Reading", "unknown"),
        _plain("switch.christmas_tree", "Christmas Tree"),
    ],
    "Dining Room": [
        _light("dining_room_ceiling", "Dining Room Ceiling Light"),
        _light("dining_room_chandelier", "Chandelier"),
        _cover("dining_room_blinds", "Dining Room Blinds", "blind", "open"),
        *_climate_sensors("dining_room", "Dining Room", "20.6", "47"),
        _plain("scene.dinner", "Dinner", "unknown"),
        _plain("switch.dining_room_heater", "Dining Room Heater"),
    ],
    "Office": [
        _light("office_ceiling", "Office Ceiling Light"),
        _light("desk_lamp", "Desk Lamp", dimmable=False),
        _light("office_shelf", "Office Shelf Lights"),
        _plain("fan.office_fan", "Office Fan", percentage=0),
        _plain("switch.printer", "Printer", "on"),
        _plain("switch.monitor_plug", "Monitor Plug", "on"),
        _cover("office_blinds", "Office Blinds", "blind", "open"),
        _cover("office_window", "Office Window", "window"),
        _climate("office", "Office Thermostat", 19.8, 20.0),
        *_climate_sensors("office", "Office", "19.8", "42"),
        _sensor("office_co2", "Office CO2", "780", "ppm", "carbon_dioxide"),
        _plain("binary_sensor.office_motion", "Office Motion", "off", device_class="motion"),
        _plain("media_player.office_speaker", "Office Speaker", "idle", device_class="speaker"),
    ],
    "Bedroom": [
        _light("bedroom_ceiling", "Bedroom Ceiling Light"),
        _light("bedroom_lamp", "Bedroom Lamp"),
        _light("bedside_lamp_left", "Left Bedside Lamp"),
        _light("bedside_lamp_right", "Right Bedside Lamp"),
        _cover("bedroom_curtains", "Bedroom Curtains", "curtain"),
        _cover("bedroom_blinds", "Bedroom Blinds", "blind"),
        _plain("fan.bedroom_ceiling_fan", "Ceiling Fan", percentage=0),
        _climate("bedroom", "Bedroom Thermostat", 18.4, 18.0),
        *_climate_sensors("bedroom", "Bedroom", "18.4", "51"),
        _plain("media_player.bedroom_tv", "Bedroom TV", "off", device_class="tv"),
        _plain("switch.electric_blanket", "Electric Blanket"),
        _plain("scene.good_morning", "Good Morning", "unknown"),
        _plain("binary_sensor.bedroom_window_contact", "Bedroom Window Contact", "off", device_class="window"),
    ],
    "Kids Room": [
        _light("kids_room_ceiling", "Kids Room Ceiling Light"),
        _light("night_light", "Night Light", "on", brightness=20),
        _cover("kids_room_blinds", "Kids Room Blinds", "blind"),
        _climate("kids_room", "Kids Room Radiator", 19.5, 19.5),
        *_climate_sensors("kids_room", "Kids Room", "19.5", "50"),
        _plain("media_player.kids_room_speaker", "Kids Room Speaker", "idle", device_class="speaker"),
        _plain("switch.kids_room_fairy_lights", "Fairy Lights"),
    ],
    "Bathroom": [
        _light("bathroom_ceiling", "Bathroom Ceiling Light"),
        _light("bathroom_mirror", "Bathroom Mirror Light", dimmable=False),
        _plain("fan.bathroom_extractor", "Bathroom Extractor Fan", percentage=0),
        _plain("switch.towel_rail", "Towel Rail"),
        _climate("bathroom", "Bathroom Radiator", 22.0, 22.0),
        *_climate_sensors("bathroom", "Bathroom", "22.0", "68"),
        _plain("binary_sensor.bathroom_motion", "Bathroom Motion", "off", device_class="motion"),
    ],
    "Hallway": [
        _light("hallway_ceiling", "Hallway Ceiling Light"),
        _light("hall_lamp", "Hall Lamp"),
        _light("stairs", "Stair Lights", dimmable=False),
        _plain("lock.front_door", "Front Door", "locked"),
        _plain("binary_sensor.front_door_contact", "Front Door Contact", "off", device_class="door"),
        _plain("binary_sensor.hallway_motion", "Hallway Motion", "off", device_class="motion"),
        _plain("binary_sensor.doorbell", "Doorbell", "off", device_class="occupancy"),
        _sensor("hallway_temperature", "Hallway Temperature", "19.9", "°C", "temperature"),
        _plain("alarm_control_panel.house_alarm", "House Alarm", "disarmed"),
    ],
    "Garage": [
        _cover("garage_door", "Garage Door", "garage"),
        _light("garage_light", "Garage Light", dimmable=False),
        _plain("switch.ev_charger", "EV Charger"),
        _sensor("ev_charger_power", "EV Charger Power", "0", "W", "power"),
        _plain("lock.garage_side_door", "Garage Side Door", "locked"),
        _plain("switch.garage_freezer", "Garage Freezer", "on"),
        _plain("binary_sensor.garage_motion", "Garage Motion", "off", device_class="motion"),
    ],
    "Garden": [
        _light("garden_lights", "Garden Lights", dimmable=False),
        _light("patio_lights", "Patio Lights"),
        _light("porch_light", "Porch Light", dimmable=False),
        _plain("switch.garden_sprinklers", "Sprinklers"),
        _plain("switch.pond_pump", "Pond Pump", "on"),
        _cover("patio_awning", "Patio Awning", "awning"),
        _plain("lock.garden_gate", "Garden Gate", "locked"),
        _sensor("outdoor_temperature", "Outdoor Temperature", "12.5", "°C", "temperature"),
        _sensor("outdoor_humidity", "Outdoor Humidity", "77", "%", "humidity"),
        _sensor("rain_gauge", "Rain Today", "1.2", "mm", "precipitation"),
        _plain("binary_sensor.garden_motion", "Garden Motion", "off", device_class="motion"),
    ],
    "Basement": [
        _light("basement_ceiling", "Basement Ceiling Light", dimmable=False),
        _plain("switch.dehumidifier", "Dehumidifier", "on"),
        _climate("boiler", "Boiler", 45.0, 55.0),
        *_climate_sensors("basement", "Basement", "16.2", "63"),
        _plain("binary_sensor.basement_water_leak", "Basement Water Leak", "off", device_class="moisture"),
        _plain("fan.basement_fan", "Basement Fan", percentage=0),
    ],
    "Laundry Room": [
        _light("laundry_room_ceiling", "Laundry Room Light", dimmable=False),
        _plain("switch.washing_machine", "Washing Machine", "on"),
        _plain("switch.tumble_dryer", "Tumble Dryer"),
        _sensor("washing_machine_power", "Washing Machine Power", "412", "W", "power"),
        _plain("binary_sensor.laundry_water_leak", "Laundry Water Leak", "off", device_class="moisture"),
    ],
}

_NO_AREA: list[tuple[str, str, str, dict[str, Any]]] = [
    _plain("script.good_night", "Good Night"),
    _plain("script.leaving_home", "Leaving Home"),
    _plain("scene.all_off", "All Off", "unknown"),
    _plain("input_boolean.guest_mode", "Guest Mode"),
    _plain("input_boolean.vacation_mode", "Vacation Mode"),
    _plain("input_boolean.quiet_hours", "Quiet Hours", "on"),
    _sensor("electricity_price", "Electricity Price", "0.27", "EUR/kWh", "monetary"),
    _sensor("house_power", "House Power", "1240", "W", "power"),
    _sensor("solar_power", "Solar Power", "0", "W", "power"),
    _sensor("phone_battery", "Phone Battery", "64", "%", "battery"),
    _plain("sun.sun", "Sun", "below_horizon"),
    _plain("person.alex", "Alex", "home"),
    _plain("person.sam", "Sam", "not_home"),
    _plain("weather.home", "Home Weather", "cloudy", temperature=12.5, humidity=77),
]

HOME_STATES: tuple[EntityState, ...] = tuple(
    EntityState(eid, state, {"friendly_name": name, **attrs})
    for rows in (*_AREAS.values(), _NO_AREA) for eid, state, name, attrs in rows)
"""``GET /api/states`` of the large home."""

HOME_AREAS: Mapping[str, str] = MappingProxyType(
    {eid: area for area, rows in _AREAS.items() for eid, *_ in rows})
"""Entity id → area name (served by the fake on ``POST /api/template``)."""

HOME_NAMES: Mapping[str, str] = MappingProxyType({s.entity_id: s.attributes["friendly_name"] for s in HOME_STATES})
"""Entity id → friendly name."""

HOME_ALIASES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "media_player.living_room_tv": ("TV", "television"),
    "light.reading_lamp": ("book lamp",),
    "climate.living_room": ("heating",),
    "switch.garden_sprinklers": ("lawn sprinklers",),
})
"""Entity id → extra names (config: Home Assistant's REST states carry none)."""

HOME_AREA_ALIASES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "Living Room": ("lounge",), "Office": ("study",), "Hallway": ("hall",), "Garden": ("backyard",),
})
"""Area → other names."""

HOME_SERVICES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    **DEMO_SERVICES, "alarm_control_panel": ("alarm_arm_home", "alarm_arm_away", "alarm_disarm"),
})
"""``GET /api/services``: domain → services (the demo home's, which are Home Assistant's, plus the alarm panel)."""

ROOM_AREAS: Mapping[str, str] = MappingProxyType({
    "kitchen": "Kitchen", "living_room": "Living Room", "office": "Office", "bedroom": "Bedroom",
    "dining_room": "Dining Room", "kids_room": "Kids Room", "hallway": "Hallway", "garage": "Garage",
})
"""Room key → area, for rooms named after an area (benchmarks add a suffix: see :func:`room_areas`)."""


def summary() -> dict[str, Any]:
    """Counts of the home: entities, areas and entities per domain."""
    domains: dict[str, int] = {}
    for s in HOME_STATES:
        domains[s.entity_id.split(".")[0]] = domains.get(s.entity_id.split(".")[0], 0) + 1
    return {"entities": len(HOME_STATES), "areas": len(_AREAS), "in_areas": len(HOME_AREAS),
            "domains": dict(sorted(domains.items(), key=lambda kv: -kv[1]))}


def large_home_server() -> FakeHomeAssistant:
    """A :class:`FakeHomeAssistant` (not started; use as a context manager) serving this home."""
    states = {s.entity_id: {"entity_id": s.entity_id, "state": s.state,
                            "attributes": copy.deepcopy(dict(s.attributes)), "last_changed": _CHANGED}
              for s in HOME_STATES}
    return FakeHomeAssistant(states=states, services=dict(HOME_SERVICES), areas=dict(HOME_AREAS))


def room_areas(rooms: Mapping[str, str]) -> dict[str, str]:
    """``skills.room_areas`` for benchmark rooms: room name → area key (``kitchen``), mapped to its area."""
    return {room: ROOM_AREAS[key] for room, key in rooms.items()}


def configure_skills(cfg: Any, url: str, rooms: Mapping[str, str] | None = None) -> None:
    """Point ``cfg.skills`` (an OmegaConf :class:`~roomvoice.config.AppConfig`) at the fake home at ``url``:
    URL, token, aliases, area aliases and, for ``rooms`` (room name → area key), ``room_areas``."""
    ha = cfg.skills.homeassistant
    ha.url = url
    ha.token = TOKEN
    ha.aliases = {k: list(v) for k, v in HOME_ALIASES.items()}
    ha.area_aliases = {k: list(v) for k, v in HOME_AREA_ALIASES.items()}
    if rooms:
        cfg.skills.room_areas = {**cfg.skills.room_areas, **room_areas(rooms)}


if __name__ == "__main__":
    import json

    print(json.dumps(summary(), indent=2))
