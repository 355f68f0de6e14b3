"""Media players, fans, covers, climate and scenes through the fast path (Home Assistant's real
English templates), on the fake Home Assistant, and the matching LLM tools."""

from __future__ import annotations

import json

import pytest

from roomvoice.events import AssistantRequest
from roomvoice.skills.intents import ACTION_INTENTS, SUPPORTED_INTENTS
from roomvoice.skills.types import IntentKind, ServiceCall
from tests.skills.test_assistant_skills import calls, make_core, never_called, scripted

TV, SPEAKER = "media_player.living_room_tv", "media_player.bedroom_speaker"


def SC(domain: str, service: str, *ids: str, **data) -> ServiceCall:  # noqa: N802 (reads like the type)
    return ServiceCall(domain, service, tuple(ids), data)


# (sentence, room, intent, service call, spoken confirmation)
DEVICE_COMMANDS = [
    # media players: by name (any state), or the room's playing one
    ("pause the tv", None, "HassMediaPause", SC("media_player", "media_pause", TV), "Paused the living room TV."),
    ("pause the music", "bedroom", "HassMediaPause", SC("media_player", "media_pause", SPEAKER),
     "Paused the bedroom speaker."),
    ("resume the tv", None, "HassMediaUnpause", SC("media_player", "media_play", TV), "Resumed the living room TV."),
    ("unpause the bedroom speaker", None, "HassMediaUnpause", SC("media_player", "media_play", SPEAKER),
     "Resumed the bedroom speaker."),
    ("next track", "bedroom", "HassMediaNext", SC("media_player", "media_next_track", SPEAKER),
     "Skipped to the next track on the bedroom speaker."),
    ("skip this song", "bedroom", "HassMediaNext", SC("media_player", "media_next_track", SPEAKER),
     "Skipped to the next track on the bedroom speaker."),
    ("next track on the tv", None, "HassMediaNext", SC("media_player", "media_next_track", TV),
     "Skipped to the next track on the living room TV."),
    ("previous track", "bedroom", "HassMediaPrevious", SC("media_player", "media_previous_track", SPEAKER),
     "Went back to the previous track on the bedroom speaker."),
    ("go back", "bedroom", "HassMediaPrevious", SC("media_player", "media_previous_track", SPEAKER),
     "Went back to the previous track on the bedroom speaker."),
    ("set the volume to 30%", "bedroom", "HassSetVolume", SC("media_player", "volume_set", SPEAKER, volume_level=0.3),
     "Set the volume of the bedroom speaker to 30%."),
    ("set the tv volume to 45 percent", None, "HassSetVolume", SC("media_player", "volume_set", TV, volume_level=0.45),
     "Set the volume of the living room TV to 45%."),
    ("turn up the volume", "bedroom", "HassSetVolumeRelative",
     SC("media_player", "volume_set", SPEAKER, volume_level=0.4),
     "Turned the volume up on the bedroom speaker, to 40%."),
    ("turn the volume up by 20 percent", "bedroom", "HassSetVolumeRelative",
     SC("media_player", "volume_set", SPEAKER, volume_level=0.5),
     "Turned the volume up on the bedroom speaker, to 50%."),
    ("turn down the volume", "bedroom", "HassSetVolumeRelative",
     SC("media_player", "volume_set", SPEAKER, volume_level=0.2),
     "Turned the volume down on the bedroom speaker, to 20%."),
    ("turn up the volume", "living_room", "HassSetVolumeRelative", SC("media_player", "volume_up", TV),
     "Turned the volume up on the living room TV."),  # the TV's level is unknown: Home Assistant steps it
    ("mute the tv", None, "HassMediaPlayerMute", SC("media_player", "volume_mute", TV, is_volume_muted=True),
     "Muted the living room TV."),
    ("unmute the tv", None, "HassMediaPlayerUnmute", SC("media_player", "volume_mute", TV, is_volume_muted=False),
     "Unmuted the living room TV."),
    ("mute", "bedroom", "HassMediaPlayerMute", SC("media_player", "volume_mute", SPEAKER, is_volume_muted=True),
     "Muted the bedroom speaker."),
    # fans
    ("set the office fan to 50%", None, "HassFanSetSpeed", SC("fan", "set_percentage", "fan.office_fan", percentage=50),
     "Set the office fan to 50% speed."),
    ("set the bedroom fan speed to 20 percent", None, "HassFanSetSpeed",
     SC("fan", "set_percentage", "fan.bedroom_fan", percentage=20), "Set the bedroom fan to 20% speed."),
    ("set fan speed to 30%", "bedroom", "HassFanSetSpeed",
     SC("fan", "set_percentage", "fan.bedroom_fan", percentage=30),
     "Set the bedroom fan to 30% speed."),
    ("turn on the fan", "office", "HassTurnOn", SC("fan", "turn_on", "fan.office_fan"),
     "Turned on the fans in the office."),
    ("turn off the bedroom fan", None, "HassTurnOff", SC("fan", "turn_off", "fan.bedroom_fan"),
     "Turned off the bedroom fan."),
    # covers
    ("open the garage door", None, "HassTurnOn", SC("cover", "open_cover", "cover.garage_door"),
     "Opened the garage door."),
    ("close the blinds", "living_room", "HassTurnOff", SC("cover", "close_cover", "cover.living_room_blinds"),
     "Closed the blinds in the living room."),
    ("set the blinds to 50%", "living_room", "HassSetPosition",
     SC("cover", "set_cover_position", "cover.living_room_blinds", position=50), "Set the living room blinds to 50%."),
    # climate
    ("set the temperature to 21 degrees", "hallway", "HassClimateSetTemperature",
     SC("climate", "set_temperature", "climate.thermostat", temperature=21.0), "Set the thermostat to 21 degrees."),
    # scenes
    ("activate movie night", None, "HassTurnOn", SC("scene", "turn_on", "scene.movie_night"), "Activated movie night."),
    ("turn on movie night", None, "HassTurnOn", SC("scene", "turn_on", "scene.movie_night"), "Activated movie night."),
]


def test_media_and_fan_intents_are_supported():
    assert {"HassMediaPause", "HassMediaUnpause", "HassMediaNext", "HassMediaPrevious", "HassSetVolume",
            "HassSetVolumeRelative", "HassMediaPlayerMute", "HassMediaPlayerUnmute",
            "HassFanSetSpeed"} <= set(ACTION_INTENTS) <= set(SUPPORTED_INTENTS)


@pytest.mark.parametrize(("text", "room", "intent", "call", "speech"), DEVICE_COMMANDS,
                         ids=[f"{c[0]}@{c[1]}" for c in DEVICE_COMMANDS])
def test_sentence_gives_its_service_call_and_confirmation(recognizer, text, room, intent, call, speech):
    match = recognizer.recognize(text, room=room)
    assert match is not None, text
    assert (match.intent, match.kind) == (intent, IntentKind.ACTION), (match.kind, match.speech)
    assert match.service_call == call
    assert match.speech == speech


def test_the_climate_temperature_question_is_answered(recognizer):
    match = recognizer.recognize("what is the temperature", room="kitchen")
    assert (match.intent, match.kind, match.speech) == ("HassClimateGetTemperature", IntentKind.ANSWER,
                                                         "The thermostat reads 20.5 degrees.")


@pytest.mark.parametrize(("text", "room", "speech"), [
    ("pause", "living_room", "Nothing is playing in the living room."),  # the TV is off
    ("resume", "living_room", "Nothing is paused in the living room."),
    ("next track", "kitchen", "There are no media players in the kitchen."),
    ("set the volume to 30%", "office", "There are no media players in the office."),
])
def test_media_commands_without_a_playing_player_are_refused(recognizer, text, room, speech):
    match = recognizer.recognize(text, room=room)
    assert match.kind is IntentKind.REFUSAL and match.service_call is None
    assert match.speech == speech


def test_wrong_kind_of_device_for_a_media_or_fan_intent_is_refused(recognizer):
    match = recognizer.recognize("set the desk lamp speed to 50%")
    assert (match.kind, match.error_code) == (IntentKind.REFUSAL, "entity-wrong-domain")
    assert match.speech == "Desk Lamp is a light, not a fan."


@pytest.mark.parametrize(("text", "room", "call"), [
    ("pause the music", "bedroom", ("media_player", "media_pause", {"entity_id": [SPEAKER]})),
    ("set the volume to 30%", "bedroom", ("media_player", "volume_set", {"entity_id": [SPEAKER], "volume_level": 0.3})),
    ("next track on the tv", "kitchen", ("media_player", "media_next_track", {"entity_id": [TV]})),
    ("mute the tv", "kitchen", ("media_player", "volume_mute", {"entity_id": [TV], "is_volume_muted": True})),
    ("set the office fan to 50%", "kitchen",
     ("fan", "set_percentage", {"entity_id": ["fan.office_fan"], "percentage": 50})),
    ("activate movie night", "kitchen", ("scene", "turn_on", {"entity_id": ["scene.movie_night"]})),
])
def test_fast_path_calls_reach_home_assistant(fake_ha, text, room, call):
    core = make_core(fake_ha.url)
    [s] = list(core.reply(AssistantRequest(text, room, room), never_called))
    assert s.source == "fast_path" and s.tool_calls[0].ok, s.text
    assert calls(fake_ha) == [call]


def test_paused_speaker_state_is_followed(fake_ha):
    core = make_core(fake_ha.url)
    list(core.reply(AssistantRequest("pause the music", "bedroom", "bedroom"), never_called))
    assert fake_ha.states[SPEAKER]["state"] == "paused"
    [s] = list(core.reply(AssistantRequest("resume", "bedroom", "bedroom"), never_called))  # now the paused one
    assert s.text == "Resumed the bedroom speaker." and calls(fake_ha)[-1][1] == "media_play"


@pytest.mark.parametrize(("text", "room", "output", "call", "speech"), [
    ("could you stop the speaker for a bit", "bedroom", {"tool": "media_pause", "arguments": {"entity_id": SPEAKER}},
     ("media_player", "media_pause", {"entity_id": [SPEAKER]}), "Paused the bedroom speaker."),
    ("carry on with the speaker", "bedroom", {"tool": "media_resume", "arguments": {"entity_id": SPEAKER}},
     ("media_player", "media_play", {"entity_id": [SPEAKER]}), "Resumed the bedroom speaker."),
    ("I don't like this song on the speaker", "bedroom", {"tool": "media_next", "arguments": {"entity_id": SPEAKER}},
     ("media_player", "media_next_track", {"entity_id": [SPEAKER]}),
     "Skipped to the next track on the bedroom speaker."),
    ("play that song on the speaker again", "bedroom",
     {"tool": "media_previous", "arguments": {"entity_id": SPEAKER}},
     ("media_player", "media_previous_track", {"entity_id": [SPEAKER]}),
     "Went back to the previous track on the bedroom speaker."),
    ("make the speaker quieter, about a quarter", "bedroom",
     {"tool": "set_volume", "arguments": {"entity_id": SPEAKER, "volume_pct": 25}},
     ("media_player", "volume_set", {"entity_id": [SPEAKER], "volume_level": 0.25}),
     "Set the volume of the bedroom speaker to 25%."),
    ("the office fan is too loud, make it slower", "office",
     {"tool": "set_fan_speed", "arguments": {"entity_id": "fan.office_fan", "percentage": 20}},
     ("fan", "set_percentage", {"entity_id": ["fan.office_fan"], "percentage": 20}),
     "Set the office fan to 20% speed."),
])
def test_llm_tools_do_the_same_calls(fake_ha, text, room, output, call, speech):
    core = make_core(fake_ha.url)
    assert core.fast_reply(AssistantRequest(text, room, room)) is None  # the rules do not know these phrasings
    out = scripted(json.dumps(output))
    [s] = list(core.reply(AssistantRequest(text, room, room), never_called, out))
    assert (s.text, s.source) == (speech, "llm")
    assert calls(fake_ha) == [call]
    [(_, schema)] = out.seen
    assert output["tool"] in {o["properties"]["tool"]["const"] for o in schema["anyOf"]}
