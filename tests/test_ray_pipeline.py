"""The pipeline on Ray: Serve deployments with real models, room actors, crash recovery, the demo run.

One local Ray instance and one Serve app are shared by the module (start-up ~30 s here).
"""

from __future__ import annotations

import os
import re
import signal
import time

import jiwer
import numpy as np
import pytest

from roomvoice.config import load_config
from roomvoice.events import AssistantRequest, Utterance, VoiceState
from roomvoice.rooms.audio import read_audio_file, rms_dbfs

from .conftest import ARCTIC, AUDIO, data_dir_for_postgres

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^a-z' ]", " ", text.lower())).strip()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PORT = _free_port()


def common_overrides(run_dir, data_dir=None):
    data = data_dir or (run_dir.parent / "data")
    return [f"run_dir={run_dir}", f"store.data_dir={data}", f"api.port={PORT}", "llm.max_tokens=40"]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    import ray
    from ray import serve

    from roomvoice.bootstrap import prepare_store
    from roomvoice.serve.app import deploy, start_ray

    run_dir = tmp_path_factory.mktemp("run")
    with data_dir_for_postgres("roomvoice-test-ray-") as data_dir:
        cfg = load_config(common_overrides(run_dir, data_dir))
        store = prepare_store(cfg)
        start_ray(cfg)
        deploy(cfg, store.url)
        cfg.store.data_dir = str(data_dir)
        yield cfg
        serve.shutdown()
        ray.shutdown()


def test_serve_services_full_turn(app):
    from roomvoice.actors.services import ServeServices

    svc = ServeServices(app.ray.app_name)
    samples = read_audio_file(AUDIO / "arctic_a0009.wav").samples
    transcript = svc.transcribe(Utterance(samples, 16000, 0.0, len(samples) / 16000))
    assert jiwer.wer(norm(ARCTIC["arctic_a0009.wav"]), norm(transcript.text)) <= 0.2, transcript.text
    sentences = list(svc.reply(AssistantRequest(transcript.text, "test", "test")))
    assert sentences and all(s.source == "llm" for s in sentences)
    assert sentences[0].first_token_s is not None and sentences[0].first_token_s > 0
    audio = svc.synthesize(sentences[0].text)
    assert audio and audio[0].samples.dtype == np.int16 and audio[0].rate == 22050
    assert rms_dbfs(audio[0].samples) > -40


def test_stt_batches_concurrent_requests(app):
    from ray import serve

    stt = serve.get_deployment_handle("SpeechToText", app_name=app.ray.app_name)
    clips = [read_audio_file(AUDIO / n).samples for n in ARCTIC]
    responses = [stt.transcribe.remote(c) for c in clips]
    texts = [r.result(timeout_s=60).text for r in responses]
    for (name, ref), text in zip(ARCTIC.items(), texts):
        assert jiwer.wer(norm(ref), norm(text)) <= 0.2, (name, text)
    stats = stt.stats.remote().result()
    assert max(stats["batch_sizes"]) >= 2, stats  # two rooms' utterances shared one engine call


def test_serve_errors_keep_their_codes(app):
    from ray import serve

    from roomvoice.errors import SpeechToTextError, as_roomvoice_error

    stt = serve.get_deployment_handle("SpeechToText", app_name=app.ray.app_name)
    with pytest.raises(Exception) as err:
        stt.transcribe.remote(np.zeros(0, np.int16)).result(timeout_s=30)
    assert as_roomvoice_error(err.value, SpeechToTextError, "x").code == "stt-bad-audio"


def test_demo_run_two_rooms_hear_one_request_and_one_answers(app, tmp_path):
    """The demo house (rooms=[demo]): the kitchen and, 9 dB quieter, the office hear the same two
    requests in real time; the wake arbiter lets the kitchen answer each once, the office logs
    ``wake_lost``; the kitchen's real-time replies leak into its microphone and are cancelled."""
    import json

    from roomvoice.runner import run, summarize

    cfg = load_config(common_overrides(tmp_path, app.store.data_dir))
    result = run(cfg, shutdown=False, deploy_app=False, max_wall_s=400)
    text = summarize(result)
    assert [r["room"] for r in result.turns] == ["kitchen", "kitchen"], text
    for r in result.turns:
        assert r["error"] is None and not r["interrupted"], text
        assert r["reply"] and r["reply_audio"] and os.path.exists(r["reply_audio"])
        assert rms_dbfs(read_audio_file(r["reply_audio"]).samples) > -40
        assert 0 < r["timings"]["speech_end_to_first_audio_s"] < 10, text
    first, second = result.turns
    assert jiwer.wer(norm(ARCTIC["arctic_a0007.wav"]), norm(first["transcript"])) <= 0.2, text
    assert second["reply_source"] == "fast_path"
    office = [json.loads(x) for x in (tmp_path / "office" / "events.jsonl").read_text().splitlines()]
    lost = [e for e in office if e["type"] == "wake_lost"]
    assert [e["detail"]["winner"] for e in lost] == ["kitchen", "kitchen"], office
    lines = (tmp_path / "turns.jsonl").read_text().splitlines()
    assert len(lines) == 2


def test_room_actor_crash_does_not_stop_other_room(app, tmp_path):
    import ray

    from roomvoice.actors.room_actor import start_room_actor

    cfg = load_config([*common_overrides(tmp_path, app.store.data_dir), "rooms=[kitchen,office]",
                       "rooms.office.source.realtime=true"])
    rooms = {name: r for name, r in cfg.rooms.items()}
    from omegaconf import OmegaConf
    actors = {name: start_room_actor(OmegaConf.to_object(r), app.ray.app_name, str(tmp_path), "Sorry.")
              for name, r in rooms.items()}
    office = actors["office"]
    # let the office (paced at real time) finish its first turn, then kill its process mid-stream
    deadline = time.monotonic() + 120
    while ray.get(office.status.remote()).turns < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    os.kill(ray.get(office.pid.remote()), signal.SIGKILL)
    # the kitchen keeps answering while the office is down
    deadline = time.monotonic() + 240
    kitchen_done = office_done = None
    while time.monotonic() < deadline and not (kitchen_done and office_done):
        kitchen_done = ray.get(actors["kitchen"].status.remote()).done
        try:
            st = ray.get(office.status.remote(), timeout=10)
            office_done = st.done
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            pass
        time.sleep(0.5)
    assert kitchen_done
    kitchen = ray.get(actors["kitchen"].results.remote())
    assert len(kitchen) == 2 and all(r["error"] is None for r in kitchen)
    st = ray.get(office.status.remote())
    assert st.incarnation == 2 and st.done and st.state is VoiceState.IDLE  # restarted and rebuilt
    office_turns = ray.get(office.results.remote())
    assert [r["turn"] for r in office_turns] == [1, 2]  # resumed, nothing replayed or lost
    for a in actors.values():
        ray.kill(a, no_restart=True)


def test_text_into_a_room_actor(app, tmp_path):
    import ray

    from roomvoice.actors.room_actor import start_room_actor
    from roomvoice.config import RoomConfig, SinkConfig, SourceConfig

    cfg = RoomConfig(name="den", source=SourceConfig(type="file", paths=[str(AUDIO / "what_time_is_it.wav")]),
                     sink=SinkConfig(type="wav"))
    actor = start_room_actor(cfg, app.ray.app_name, str(tmp_path), "Sorry.")
    result = ray.get(actor.say.remote("Tell me something nice about Paris."), timeout=120)
    assert result.error is None and result.reply_source == "llm" and result.reply
    assert ray.get(actor.status.remote()).state is VoiceState.IDLE
    ray.kill(actor, no_restart=True)


def test_http_api_through_serve(app, tmp_path):
    """The OpenAI client and the rooms API through the Serve HTTP proxy, with the first-run admin key."""
    import httpx
    import ray
    from openai import OpenAI

    from roomvoice.actors.room_actor import start_room_actor
    from roomvoice.bootstrap import CREDENTIALS_FILE
    from roomvoice.config import RoomConfig, SinkConfig, SourceConfig

    from pathlib import Path

    lines = (Path(app.store.data_dir) / CREDENTIALS_FILE).read_text().splitlines()
    creds = dict(line.split(": ", 1) for line in lines)
    base = f"http://127.0.0.1:{app.api.port}"
    client = OpenAI(base_url=f"{base}/v1", api_key=creds["api_key"])
    stream = client.chat.completions.create(model="roomvoice", stream=True,
                                            messages=[{"role": "user", "content": "Say hello to the kitchen."}])
    deltas = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    assert len(deltas) > 1
    r = httpx.get(f"{base}/v1/models")
    assert r.status_code == 401
    auth = {"Authorization": f"Bearer {creds['api_key']}"}
    cid = httpx.post(f"{base}/api/conversations", json={"title": "serve"}, headers=auth, timeout=30).json()["id"]
    sent = httpx.post(f"{base}/api/conversations/{cid}/messages", json={"content": "What time is it?"},
                      headers=auth, timeout=120)
    assert sent.status_code == 200 and sent.json()["reply"].startswith("It's ")
    history = httpx.get(f"{base}/api/conversations/{cid}/messages", headers=auth, timeout=30).json()
    assert [m["role"] for m in history] == ["user", "assistant"]
    cfg = RoomConfig(name="kitchen", source=SourceConfig(type="file", paths=[str(AUDIO / "what_time_is_it.wav")]),
                     sink=SinkConfig(type="wav"))
    actor = start_room_actor(cfg, app.ray.app_name, str(tmp_path), "Sorry.")
    headers = {"Authorization": f"Bearer {creds['api_key']}"}
    deadline = time.monotonic() + 60
    rooms = []
    while time.monotonic() < deadline and not rooms:
        rooms = httpx.get(f"{base}/api/rooms", headers=headers, timeout=30).json()
        time.sleep(0.5)
    assert [r["room"] for r in rooms] == ["kitchen"]
    said = httpx.post(f"{base}/api/rooms/kitchen/say", json={"text": "What time is it?"}, headers=headers, timeout=120)
    assert said.status_code == 200 and said.json()["reply_source"] == "fast_path"
    ray.kill(actor, no_restart=True)
