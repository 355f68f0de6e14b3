"""A small, realistic home: the entity set of the demo, the fake Home Assistant used in
tests, and the skills benchmark.

Six areas (Kitchen, Living Room, Office, Bedroom, Garage, Hallway) with lights, switches, fans,
covers, locks, a thermostat, two media players (a TV that is off, a speaker that is playing),
a scene, a script and an input boolean, including
near-duplicates on purpose ("Kitchen Lights" / "Kitchen Window" / "Kitchen Door", two
"Ceiling Light"s in different rooms). Areas and aliases are config, as Home Assistant's REST
states do not carry them.
"""

from __future__ import annotations

from types import MappingProxyType

from roomvoice.skills.homeassistant.entities import EntityIndex, EntityState


def _s(entity_id: str, state: str, name: str, **attributes) -> EntityState:
    return EntityState(entity_id, state, {"friendly_name": name, **attributes})


DEMO_STATES: tuple[EntityState, ...] = (
    # Kitchen
    _s("light.kitchen_lights", "off", "Kitchen Lights", brightness=None, supported_color_modes=["brightness"]),
    _s("cover.kitchen_window", "closed", "Kitchen Window", device_class="window", current_position=0),
    _s("lock.kitchen_door", "locked", "Kitchen Door"),
    _s("switch.coffee_maker", "off", "Coffee Maker"),
    # Living room
    _s("light.living_room_lamp", "on", "Living Room Lamp", brightness=128, supported_color_modes=["brightness"]),
    _s("media_player.living_room_tv", "off", "Living Room TV", device_class="tv"),
    _s("cover.living_room_blinds", "open", "Living Room Blinds", device_class="blind", current_position=100),
    _s("scene.movie_night", "unknown", "Movie Night"),
    # Office
    _s("fan.office_fan", "off", "Office Fan", percentage=0),
    _s("light.office_ceiling", "off", "Ceiling Light", supported_color_modes=["brightness"]),
    _s("light.desk_lamp", "off", "Desk Lamp", supported_color_modes=["onoff"]),
    _s("switch.printer", "on", "Printer"),
    # Bedroom
    _s("light.bedroom_ceiling", "off", "Ceiling Light", supported_color_modes=["brightness"]),
    _s("light.bedside_lamp", "off", "Bedside Lamp", supported_color_modes=["brightness"]),
    _s("cover.bedroom_curtains", "closed", "Bedroom Curtains", device_class="curtain", current_position=0),
    _s("fan.bedroom_fan", "off", "Bedroom Fan", percentage=0),
    _s("media_player.bedroom_speaker", "playing", "Bedroom Speaker", device_class="speaker", volume_level=0.3,
       is_volume_muted=False),
    # Garage
    _s("cover.garage_door", "closed", "Garage Door", device_class="garage", current_position=0),
    _s("light.garage_light", "off", "Garage Light", supported_color_modes=["onoff"]),
    # Hallway
    _s("lock.front_door", "locked", "Front Door"),
    _s("light.hallway_light", "off", "Hallway Light", supported_color_modes=["brightness"]),
    _s("climate.thermostat", "heat", "Thermostat", current_temperature=20.5, temperature=21.0,
       hvac_modes=["off", "heat", "cool", "auto"], min_temp=7, max_temp=35, unit_of_measurement="°C"),
    # No area
    _s("script.good_night", "off", "Good Night"),
    _s("input_boolean.guest_mode", "off", "Guest Mode"),
    _s("sensor.outdoor_temperature", "12.5", "Outdoor Temperature", unit_of_measurement="°C",
       device_class="temperature"),
)
"""``GET /api/states`` of the demo home."""

DEMO_AREAS: MappingProxyType[str, str] = MappingProxyType({
    "light.kitchen_lights": "Kitchen", "cover.kitchen_window": "Kitchen", "lock.kitchen_door": "Kitchen",
    "switch.coffee_maker": "Kitchen",
    "light.living_room_lamp": "Living Room", "media_player.living_room_tv": "Living Room",
    "cover.living_room_blinds": "Living Room", "scene.movie_night": "Living Room",
    "fan.office_fan": "Office", "light.office_ceiling": "Office", "light.desk_lamp": "Office",
    "switch.printer": "Office",
    "light.bedroom_ceiling": "Bedroom", "light.bedside_lamp": "Bedroom", "cover.bedroom_curtains": "Bedroom",
    "fan.bedroom_fan": "Bedroom", "media_player.bedroom_speaker": "Bedroom",
    "cover.garage_door": "Garage", "light.garage_light": "Garage",
    "lock.front_door": "Hallway", "light.hallway_light": "Hallway", "climate.thermostat": "Hallway",
})
"""Entity id → area name (config; REST states have no areas)."""

DEMO_ALIASES: MappingProxyType[str, tuple[str, ...]] = MappingProxyType({
    "light.living_room_lamp": ("reading lamp",),
    "media_player.living_room_tv": ("TV", "television"),
    "climate.thermostat": ("heating",),
})
"""Entity id → extra names."""

DEMO_AREA_ALIASES: MappingProxyType[str, tuple[str, ...]] = MappingProxyType({
    "Living Room": ("lounge",),
    "Office": ("study",),
})
"""Area → other names for it."""

DEMO_SERVICES: MappingProxyType[str, tuple[str, ...]] = MappingProxyType({
    "homeassistant": ("turn_on", "turn_off", "toggle"),
    "light": ("turn_on", "turn_off", "toggle"),
    "switch": ("turn_on", "turn_off", "toggle"),
    "fan": ("turn_on", "turn_off", "toggle", "set_percentage"),
    "cover": ("open_cover", "close_cover", "stop_cover", "set_cover_position"),
    "lock": ("lock", "unlock", "open"),
    "climate": ("turn_on", "turn_off", "set_temperature", "set_hvac_mode"),
    "media_player": ("turn_on", "turn_off", "media_play", "media_pause", "media_next_track",
                     "media_previous_track", "volume_set", "volume_up", "volume_down", "volume_mute"),
    "scene": ("turn_on",),
    "script": ("turn_on", "turn_off"),
    "input_boolean": ("turn_on", "turn_off", "toggle"),
})
"""``GET /api/services`` of the demo home, as domain → service names."""


def demo_index(**kwargs) -> EntityIndex:
    """The demo home's :class:`EntityIndex` (keyword arguments go to :class:`EntityIndex`)."""
    return EntityIndex.from_states(DEMO_STATES, DEMO_AREAS, DEMO_ALIASES,
                                   area_aliases=DEMO_AREA_ALIASES, **kwargs)
