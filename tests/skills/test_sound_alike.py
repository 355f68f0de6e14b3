"""Misheard names: a close match acts, a sound-alike asks, nothing plausible is refused — never
a service call for an unknown name. Punctuation and non-ASCII names, an empty and a 2,000-entity
home, and the speech-recognition vocabulary."""

from __future__ import annotations

import time

import pytest

from roomvoice.skills.errors import EntityError
from roomvoice.skills.homeassistant.entities import Entity, EntityIndex
from roomvoice.skills.homeassistant.names import fold, sound_code, vocabulary_entry, vocabulary_text
from roomvoice.skills.intents import IntentRecognizer
from roomvoice.skills.types import IntentKind, ServiceCall

ODD_NAMES = [
    Entity("light.zoe_lamp", "light", "Zoë's Lamp", "Bedroom"),
    Entity("light.buro_licht", "light", "Büro-Licht", "Büro"),
    Entity("media_player.tv_living", "media_player", "TV (living room)", "Living Room", state="playing",
           attributes={"volume_level": 0.5}),
    Entity("light.kitchen_lamp", "light", "Kitchen Lamp", "Kitchen"),
    Entity("light.desk_lamp", "light", "Desk Lamp", "Office"),
    Entity("light.kueche", "light", "客厅灯", "Kitchen"),
]


@pytest.fixture(scope="module")
def odd() -> IntentRecognizer:
    return IntentRecognizer(EntityIndex(ODD_NAMES))


def test_sound_codes_fold_accents_and_ignore_word_breaks():
    assert fold("Zoë's Büro") == "Zoe's Buro"
    assert sound_code("hole way light") == sound_code("hallway light")
    assert sound_code("tee vee") == sound_code("TV")
    assert sound_code("客厅灯") == ""  # no Latin letters: no sound-alikes
    assert sound_code("light 2").endswith("2")


@pytest.mark.parametrize(("text", "entity_id"), [
    ("turn on the kitchen lamb", "light.kitchen_lamp"),   # close: spelled alike, acts
    ("turn off the desk lamb", "light.desk_lamp"),
    ("turn on zoe's lamp", "light.zoe_lamp"),
    ("turn on Zoë's lamp", "light.zoe_lamp"),
    ("turn on zoes lamp", "light.zoe_lamp"),
    ("turn off the Büro-Licht", "light.buro_licht"),
    ("turn off the buro licht", "light.buro_licht"),
    ("pause the TV (living room)", "media_player.tv_living"),
    ("pause the tv living room", "media_player.tv_living"),
    ("turn on 客厅灯", "light.kueche"),
])
def test_close_names_act(odd, text, entity_id):
    match = odd.recognize(text)
    assert match is not None and match.kind is IntentKind.ACTION, (text, match and match.speech)
    assert match.service_call.entity_ids == (entity_id,)


def test_close_names_act_in_the_demo_home(recognizer):
    for text, entity_id in [("turn off the desk lamb", "light.desk_lamp"), ("turn on the bedsight lamp",
                            "light.bedside_lamp"), ("turn on the hole way light", "light.hallway_light")]:
        assert recognizer.recognize(text).service_call.entity_ids == (entity_id,), text


@pytest.mark.parametrize(("text", "speech", "candidate"), [
    ("turn on the kitchen lamb", "Did you mean the Kitchen Lights?", "light.kitchen_lights"),
    ("turn on the printa", "Did you mean the Printer?", "switch.printer"),
    ("turn on the bathroom fan", "Did you mean the Bedroom Fan?", "fan.bedroom_fan"),
    ("pause the tee vee", "Did you mean the Living Room TV?", "media_player.living_room_tv"),
])
def test_far_but_plausible_names_ask_and_execute_nothing(recognizer, text, speech, candidate):
    match = recognizer.recognize(text)
    assert (match.kind, match.error_code, match.speech) == (IntentKind.CLARIFY, "entity-unsure", speech)
    assert match.service_call is None and match.candidates == (candidate,)


def test_a_misheard_non_ascii_name_asks(odd):
    match = odd.recognize("turn off the bureau light")
    assert (match.kind, match.speech, match.service_call) == (IntentKind.CLARIFY, "Did you mean the Büro-Licht?", None)


@pytest.mark.parametrize("text", ["turn on the porch light", "turn on the jacuzzi", "turn on the tea kettle",
                                  "open the pod bay doors", "turn on the ceiling light in the kitchen"])
def test_nothing_plausible_is_refused(recognizer, text):
    match = recognizer.recognize(text, room="living_room")
    assert match.kind is IntentKind.REFUSAL and match.error_code == "entity-unknown"
    assert match.service_call is None


def test_resolve_raises_unsure_with_the_one_candidate(index):
    with pytest.raises(EntityError) as err:
        index.resolve("printa")
    assert (err.value.code, err.value.candidates) == ("entity-unsure", ("switch.printer",))
    with pytest.raises(EntityError) as err:
        index.resolve("printa", domain="light")  # only sound-alikes of the allowed kind
    assert err.value.code == "entity-unknown"
    assert [e.entity_id for e, _ in index.sound_alikes("printa")][:1] == ["switch.printer"]


def test_an_empty_home_does_not_crash():
    recognizer = IntentRecognizer(EntityIndex([]))
    match = recognizer.recognize("turn on the kitchen lamb")
    assert match.kind is IntentKind.REFUSAL and match.service_call is None
    assert recognizer.recognize("what time is it").kind is IntentKind.ANSWER
    index = EntityIndex([])
    assert index.rank("lamp") == index.sound_alikes("lamp") == index.mentioned("the lamp") == []
    assert index.vocabulary() == ""


def big_home(rooms: int = 400, per_room: int = 5) -> list[Entity]:
    kinds = ["Lamp", "Ceiling Light", "Fan", "Blinds", "Speaker"]
    domains = ["light", "light", "fan", "cover", "media_player"]
    return [Entity(f"{domains[j]}.room_{i}_{kinds[j].lower().replace(' ', '_')}", domains[j], f"Room {i} {kinds[j]}",
                   f"Room {i}") for i in range(rooms) for j in range(per_room)] + ODD_NAMES


def test_two_thousand_entities_stay_correct_and_quick():
    entities = big_home()
    assert len(entities) >= 2000
    t0 = time.perf_counter()
    recognizer = IntentRecognizer(EntityIndex(entities))
    build_s = time.perf_counter() - t0
    cases = [
        ("turn on room 17 lamp", ServiceCall("light", "turn_on", ("light.room_17_lamp",))),
        ("turn on the kitchen lamb", ServiceCall("light", "turn_on", ("light.kitchen_lamp",))),
        ("turn on zoe's lamp", ServiceCall("light", "turn_on", ("light.zoe_lamp",))),
        ("set the room 250 fan to 40%",
         ServiceCall("fan", "set_percentage", ("fan.room_250_fan",), {"percentage": 40})),
        ("pause the room 3 speaker", ServiceCall("media_player", "media_pause", ("media_player.room_3_speaker",))),
    ]
    t0 = time.perf_counter()
    for text, call in cases:
        assert recognizer.recognize(text).service_call == call, text
    assert recognizer.recognize("turn on the jacuzzi").kind is IntentKind.REFUSAL
    assert recognizer.recognize("tell me a joke") is None
    per_request_s = (time.perf_counter() - t0) / (len(cases) + 2)
    assert build_s < 30 and per_request_s < 2.0  # generous sanity bounds (shared 2-core machines), not a benchmark


# --- vocabulary ----------------------------------------------------------------------------
def test_vocabulary_lists_areas_then_devices_then_aliases(index):
    text = index.vocabulary()
    items = text.split(", ")
    assert items[:6] == ["Bedroom", "Garage", "Hallway", "Kitchen", "Living Room", "Office"]
    assert "Kitchen Lights" in items and "reading lamp" in items and "lounge" in items
    assert items.index("Kitchen Lights") < items.index("Outdoor Temperature")  # commanded devices first
    assert items.count("Ceiling Light") == 1 and len(items) == len({i.casefold() for i in items})
    assert len(text) <= 600


def test_vocabulary_is_punctuation_safe_and_bounded():
    index = EntityIndex(ODD_NAMES)
    items = index.vocabulary().split(", ")
    assert {"Zoë's Lamp", "Büro-Licht", "TV living room", "客厅灯", "Büro"} <= set(items)
    assert all("," not in i and "(" not in i for i in items)
    big = EntityIndex(big_home()).vocabulary(max_chars=300)
    assert 250 < len(big) <= 300 and big.startswith("Bedroom, Büro, Kitchen, Living Room, Office, Room 0, Room 1,")
    assert EntityIndex(big_home()).vocabulary(max_chars=0) == ""


def test_vocabulary_text_skips_what_does_not_fit():
    names = ["Kitchen", "kitchen", "", "A very long name that does not fit", "Hall"]
    assert vocabulary_text(names, 20) == "Kitchen, Hall"
    assert vocabulary_entry("Lamp, left; (old)") == "Lamp left old"
