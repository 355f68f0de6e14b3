"""Voice end to end through Ray: spoken commands into a RoomActor, answered by the Serve app.

"hey jarvis, turn on the kitchen lights" (piper-synthesised command after the bundled wake word)
must produce exactly one ``light.turn_on`` on the fake Home Assistant and a spoken confirmation;
"hey jarvis, set a timer for three seconds" must be stored by the Assistant replica and ring in
the same room, on that room's audio clock, a few seconds of audio later.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from roomvoice.config import RoomConfig, SinkConfig, SourceConfig, load_config
from roomvoice.rooms.audio import SAMPLE_RATE, read_audio_file, rms_dbfs, to_contract
from tests.conftest import AUDIO, data_dir_for_postgres, repeatable_tts
from tests.skills.fake_ha import TOKEN

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def synthesize(text: str, path: Path, tail_s: float = 0.0) -> str:
    """``text`` said by piper as a 16 kHz WAV, with ``tail_s`` of silence after it."""
    tts = repeatable_tts()
    said = np.concatenate([a.samples for a in tts.synthesize(text)])
    audio = np.concatenate([to_contract(said, tts.sample_rate, what="piper"),
                            np.zeros(int(tail_s * SAMPLE_RATE), np.int16)])
    sf.write(path, audio, SAMPLE_RATE, subtype="PCM_16")
    return str(path)


@pytest.fixture(scope="module")
def house(tmp_path_factory):
    import ray
    from ray import serve

    from roomvoice.bootstrap import prepare_store
    from roomvoice.serve.app import deploy, start_ray
    from tests.skills.fake_ha import FakeHomeAssistant

    run_dir = tmp_path_factory.mktemp("run")
    with FakeHomeAssistant() as fake, data_dir_for_postgres("roomvoice-test-voice-ray-") as data_dir:
        cfg = load_config([f"run_dir={run_dir}", f"store.data_dir={data_dir}", f"api.port={_free_port()}",
                           "rooms=[kitchen]", "llm.max_tokens=24", f"skills.homeassistant.url={fake.url}",
                           f"skills.homeassistant.token={TOKEN}", "api.console=false"])
        store = prepare_store(cfg)
        start_ray(cfg)
        deploy(cfg, store.url)
        yield cfg, fake, store.url, run_dir
        serve.shutdown()
        ray.shutdown()


def run_room(cfg, store_url: str, run_dir: Path, clips: list[str], name: str) -> tuple[list[dict], Path]:
    import ray

    from roomvoice.actors.room_actor import start_room_actor

    room = RoomConfig(name=name, source=SourceConfig(type="file", paths=clips, gap_s=0.8), sink=SinkConfig(type="wav"))
    actor = start_room_actor(room, cfg.ray.app_name, str(run_dir), "Sorry.", store_url)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not ray.get(actor.status.remote()).done:
        time.sleep(0.5)
    time.sleep(1.0)  # let queued announcements finish
    results = ray.get(actor.results.remote())
    ray.get(actor.stop.remote())
    ray.kill(actor, no_restart=True)
    return results, run_dir / name


def test_spoken_command_through_a_room_actor_reaches_home_assistant(house, tmp_path):
    cfg, fake, store_url, run_dir = house
    fake.calls.clear()
    command = synthesize("Turn on the kitchen lights.", tmp_path / "command.wav", tail_s=1.5)
    results, _ = run_room(cfg, store_url, run_dir, [str(AUDIO / "hey_jarvis.wav"), command], "kitchen")
    assert len(results) == 1, results
    [turn] = results
    assert turn["error"] is None and "kitchen light" in turn["transcript"].lower()
    assert [(c.domain, c.service, c.body) for c in fake.calls] == \
        [("light", "turn_on", {"entity_id": ["light.kitchen_lights"]})]
    assert turn["reply"] == "Turned on the kitchen lights." and turn["reply_source"] == "fast_path"
    assert turn["tool_calls"][0]["service"] == "light.turn_on"
    audio = read_audio_file(turn["reply_audio"]).samples
    assert len(audio) > SAMPLE_RATE // 2 and rms_dbfs(audio) > -40


def test_a_spoken_timer_rings_in_its_room_on_audio_time(house, tmp_path):
    cfg, fake, store_url, run_dir = house
    command = synthesize("Set a timer for three seconds.", tmp_path / "timer.wav", tail_s=8.0)
    results, room_dir = run_room(cfg, store_url, run_dir, [str(AUDIO / "hey_jarvis.wav"), command], "office")
    assert len(results) == 1 and results[0]["error"] is None, results
    assert "3 seconds" in results[0]["reply"] or "three seconds" in results[0]["reply"].lower(), results[0]["reply"]
    rung = sorted(room_dir.glob("announce-*.wav"))
    assert rung, "the timer did not ring in the office"
    audio = read_audio_file(rung[0]).samples
    assert rms_dbfs(audio) > -40
    assert not list((run_dir / "kitchen").glob("announce-*.wav"))  # not in another room
