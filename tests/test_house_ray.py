"""One house through Ray: RoomActors with real-time sources, the WakeArbiter actor, Serve with real models.

- Two rooms hear one request (the same recording at different levels and delays): one answers,
  the other logs ``wake_lost`` naming it.
- "Stop" during a long reply: playback stops within 0.3 s and the LLM's generation is cancelled
  through Serve (the LLM deployment counts the stream as cancelled, nothing left running); the
  room's arbiter does not exist, so it answers alone (fail open) within ``arbiter.timeout_s``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from roomvoice.config import RoomConfig, SinkConfig, SourceConfig, load_config
from roomvoice.rooms.audio import AudioClip, read_audio_file, write_wav

from .conftest import AUDIO, data_dir_for_postgres

pytestmark = [pytest.mark.slow, pytest.mark.ray]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    import ray
    from ray import serve

    from roomvoice.serve.app import deploy, start_ray
    from tests.test_ray_pipeline import _free_port

    run_dir = tmp_path_factory.mktemp("house-run")
    with data_dir_for_postgres("roomvoice-test-house-") as data_dir:
        from roomvoice.bootstrap import prepare_store

        cfg = load_config([f"run_dir={run_dir}", f"store.data_dir={data_dir}", f"api.port={_free_port()}",
                           "llm.max_tokens=600", "api.console=false"])
        store = prepare_store(cfg)
        start_ray(cfg)
        deploy(cfg, store.url)
        yield cfg
        serve.shutdown()
        ray.shutdown()


def piper_wav(path: Path, text: str) -> str:
    from tests.conftest import repeatable_tts

    tts = repeatable_tts()
    write_wav(path, AudioClip(np.concatenate([a.samples for a in tts.synthesize(text)]), tts.sample_rate))
    return str(path)


def wait_done(actors, timeout_s: float) -> None:
    import ray

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(s.done for s in ray.get([a.status.remote() for a in actors])):
            return
        time.sleep(0.3)
    raise AssertionError("rooms did not finish their audio")


def events_of(run_dir: Path, room: str) -> list[dict]:
    return [json.loads(x) for x in (run_dir / room / "events.jsonl").read_text().splitlines()]


def test_two_room_actors_hear_one_request_and_one_answers(app, tmp_path):
    import ray

    from roomvoice.actors.arbiter import start_wake_arbiter
    from roomvoice.actors.room_actor import room_options, start_room_actor

    arbiter = start_wake_arbiter(app.arbiter, name="house-test-arbiter")
    paths = [str(AUDIO / "hey_jarvis.wav"), str(AUDIO / "what_time_is_it.wav")]
    start_at = time.time() + 12.0  # both actors are up by then: they hear one timeline
    rooms = {
        "kitchen": SourceConfig(type="file", paths=paths, realtime=True, gap_s=0.4, tail_s=3.0, start_at=start_at),
        "office": SourceConfig(type="file", paths=paths, realtime=True, gap_s=0.4, tail_s=3.0, start_at=start_at,
                               gain_db=-9.0, delay_s=0.05),  # the same talker, farther away
    }
    actors = []
    for name, source in rooms.items():
        cfg = RoomConfig(name=name, source=source, sink=SinkConfig(type="wav", realtime=True))
        actors.append(start_room_actor(cfg, app.ray.app_name, str(tmp_path), "Sorry.", options=room_options(cfg, app),
                                       arbiter_name="house-test-arbiter", arbiter_timeout_s=app.arbiter.timeout_s))
    wait_done(actors, 120)
    kitchen, office = (ray.get(a.results.remote()) for a in actors)
    assert len(kitchen) == 1 and kitchen[0]["reply_source"] == "fast_path" and not kitchen[0]["interrupted"], kitchen
    assert office == []  # exactly one room answered
    lost = [e for e in events_of(tmp_path, "office") if e["type"] == "wake_lost"]
    assert len(lost) == 1 and lost[0]["detail"]["winner"] == "kitchen", lost
    timings = kitchen[0]["timings"]
    assert timings["speech_end_to_first_audio_s"] is not None and 0 < timings["speech_end_to_first_audio_s"] < 5
    assert timings["arbiter_wait_s"] < 0.5  # the decision came while the user was still speaking
    stats = ray.get(arbiter.stats.remote())
    assert stats["decisions"].get("level", 0) == 2, stats
    for a in [*actors, arbiter]:
        ray.kill(a, no_restart=True)


def test_stop_during_a_long_reply_cancels_generation_through_serve(app, tmp_path):
    import ray
    from ray import serve

    from roomvoice.actors.room_actor import room_options, start_room_actor

    llm = serve.get_deployment_handle("LLM", app_name=app.ray.app_name)
    before = llm.stats.remote().result(timeout_s=30)
    request = piper_wav(tmp_path / "story.wav", "Tell me a long story about a dragon who lived in a castle.")
    stop = piper_wav(tmp_path / "stop.wav", "Stop.")
    # 2.8 s of silence after the request: the stop comes while the reply plays and the LLM still writes
    story = read_audio_file(request).samples
    padded = write_wav(tmp_path / "story-padded.wav",
                       AudioClip(np.concatenate([story, np.zeros(int(2.8 * 16000), np.int16)]), 16000))
    source = SourceConfig(type="file", paths=[str(AUDIO / "hey_jarvis.wav"), str(padded), stop], realtime=True,
                          gap_s=0.4, tail_s=4.0, echo_gain_db=-6.0)
    cfg = RoomConfig(name="den", source=source, sink=SinkConfig(type="wav", realtime=True))
    opts = room_options(cfg, app)
    actor = start_room_actor(cfg, app.ray.app_name, str(tmp_path), "Sorry.", options=opts,
                             arbiter_name="no-such-arbiter", arbiter_timeout_s=app.arbiter.timeout_s)
    wait_done([actor], 180)
    [turn] = ray.get(actor.results.remote())
    assert turn["interrupted"] and turn["spoken_text"], turn
    assert turn["timings"]["arbiter_wait_s"] <= app.arbiter.timeout_s + 0.5  # no arbiter: answered alone
    [barge] = [e for e in events_of(tmp_path, "den") if e["type"] == "barge_in"]
    assert barge["detail"]["reason"] == "barge-in-stop" and barge["detail"]["reaction_s"] <= 0.3, barge
    deadline = time.monotonic() + 10
    while (after := llm.stats.remote().result(timeout_s=30))["active"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert after["active"] == 0, after  # nothing left generating
    assert after["cancelled"] == before["cancelled"] + 1 and after["last_finish"] == "cancelled", (before, after)
    assert after["last_deltas"] < 600, after  # stopped before max_tokens
    ray.kill(actor, no_restart=True)
