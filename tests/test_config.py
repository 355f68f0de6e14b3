"""Hydra composition, presets, overrides and config errors that name the key."""

import pytest

from roomvoice.config import load_config
from roomvoice.errors import ConfigError


def test_default_is_cpu_preset_with_demo_rooms():
    cfg = load_config()
    assert cfg.preset.name == "cpu"
    assert set(cfg.rooms) == {"kitchen", "office"}
    assert cfg.llm.engine == "llama_cpp" and cfg.stt.model == "tiny.en"
    for room in cfg.rooms.values():  # the demo house: one talker timeline, heard in real time
        assert room.source.type == "file" and len(room.source.paths) == 5 and room.source.realtime
        assert room.sink.realtime and room.audio_zone == "home"
    assert list(cfg.rooms.office.source.paths) == list(cfg.rooms.kitchen.source.paths)
    assert cfg.rooms.office.source.gain_db == -9.0 and cfg.rooms.kitchen.source.echo_gain_db == -6.0
    assert cfg.ray.dashboard is False and cfg.arbiter.window_s == 0.2 and cfg.followup_s == 5.0


@pytest.mark.parametrize(("override", "key"), [
    ("arbiter.timeout_s=0.1", "arbiter.timeout_s"),
    ("arbiter.window_s=0", "arbiter.window_s"),
    ("followup_s=-1", "followup_s"),
    ("rooms.kitchen.announce_policy=later", "rooms.kitchen.announce_policy"),
    ("rooms.kitchen.audio_zone=' '", "rooms.kitchen.audio_zone"),
    ("rooms.kitchen.source.gain_db=90", "rooms.kitchen.source.gain_db"),
    ("rooms.kitchen.source.paths=[silence:x]", "rooms.kitchen.source.paths[0]"),
    ("barge_in.stop_phrases=[]", "barge_in.stop_phrases"),
])
def test_house_keys_are_validated_naming_the_key(override, key):
    with pytest.raises(ConfigError) as err:
        load_config(["rooms=[kitchen]", override])
    assert err.value.message.startswith(key), err.value.message


def test_aec_with_speaker_and_microphone_at_different_rates_is_a_config_error():
    with pytest.raises(ConfigError) as err:
        load_config(["rooms=[living_room]", "rooms.living_room.source.sample_rate=48000",
                     "rooms.living_room.sink.sample_rate=22050"])
    assert err.value.message.startswith("rooms.living_room.aec") and "48000" in err.value.message


def test_cli_style_overrides():
    cfg = load_config(["preset=cpu", "rooms=[kitchen,office]", "llm.max_tokens=64", "rooms.kitchen.wake_threshold=0.7"])
    assert cfg.llm.max_tokens == 64
    assert cfg.rooms.kitchen.wake_threshold == 0.7
    assert list(cfg.rooms) == ["kitchen", "office"]


def test_single_room_and_room_from_key():
    cfg = load_config(["rooms=[office]"])
    assert list(cfg.rooms) == ["office"] and cfg.rooms.office.name == "office"


@pytest.mark.parametrize("preset,stt_device,llm_engine", [
    ("english_only_small", "cuda", "vllm"), ("english_only_large", "cuda", "vllm"),
    ("multi_lingual_small", "cuda", "vllm"), ("multi_lingual_large", "cuda", "vllm"),
])
def test_gpu_presets_compose_but_refuse_to_start_here(preset, stt_device, llm_engine):
    # The GPU presets are complete configs; they stop at validation until the vLLM engine exists.
    with pytest.raises(ConfigError) as err:
        load_config([f"preset={preset}"])
    assert err.value.message.startswith("llm.engine")


def test_gpu_preset_values_compose_without_validation():
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from roomvoice.config import register
    register()
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="roomvoice.conf", version_base=None):
        cfg = compose(config_name="config", overrides=["preset=multi_lingual_large"])
    GlobalHydra.instance().clear()
    assert cfg.preset.llm.num_gpus == 1 and cfg.preset.stt.num_gpus == 0.3 and cfg.preset.stt.num_replicas == 2
    assert cfg.stt.device == "cuda" and cfg.stt.language is None
    assert 0 < cfg.llm.gpu_memory_utilization <= 1


@pytest.mark.parametrize("overrides,key", [
    (["rooms=[attic]"], "rooms/attic"),
    (["rooms.kitchen.source.sample_rate=11"], "rooms.kitchen.source.sample_rate"),
    (["rooms.kitchen.source.paths=[/nonexistent/a.wav]"], "rooms.kitchen.source.paths[0]"),
    (["rooms.kitchen.wake_word=hey_computer"], "rooms.kitchen.wake_word"),
    (["rooms.kitchen.wake_threshold=1.5"], "rooms.kitchen.wake_threshold"),
    (["llm.model_path=/nonexistent/model.gguf"], "llm.model_path"),
    (["stt.model_path=/nonexistent/whisper"], "stt.model_path"),
    (["llm.max_tokens=lots"], "llm.max_tokens"),
    (["llm.max_tokens=0"], "llm.max_tokens"),
    (["rooms.kitchen.sink.type=headphones"], "rooms.kitchen.sink.type"),
    (["rooms.kitchen.endpoint.vad=webrtc"], "rooms.kitchen.endpoint.vad"),
    (["nosuchkey=1"], "nosuchkey"),
])
def test_config_errors_name_the_key(overrides, key):
    with pytest.raises(ConfigError) as err:
        load_config(overrides)
    assert key in err.value.message, err.value.message


def test_switching_to_a_preset_keeps_the_running_overrides():
    from roomvoice.serve.supervisor import config_for_preset

    running = load_config(["rooms=[kitchen]", "llm.max_tokens=16", "stt.beam_size=3"])
    new = config_for_preset(running, "cpu_chat")
    assert new.preset.name == "cpu_chat" and new.preset.llm.num_replicas == 2
    assert new.llm.max_tokens == 16 and new.stt.beam_size == 3  # same models: overrides kept
    assert list(new.rooms) == ["kitchen"]
    with pytest.raises(ConfigError, match="llm.engine"):
        config_for_preset(running, "english_only_small")  # other models: the preset's groups, then validated
