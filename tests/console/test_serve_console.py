"""The console inside Ray Serve: mounted on the VoiceGateway's app, and the preset supervisor actor."""

from __future__ import annotations

import socket

import pytest

from roomvoice.config import load_config
from roomvoice.errors import ConfigError
from roomvoice.rooms.camera import SAMPLE_IMAGE
from tests.conftest import data_dir_for_postgres

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    import ray
    from ray import serve

    from roomvoice.bootstrap import prepare_store
    from roomvoice.serve.app import console_url, deploy, start_ray
    from roomvoice.serve.supervisor import start_supervisor

    run_dir = tmp_path_factory.mktemp("run")
    with data_dir_for_postgres("roomvoice-test-console-") as data_dir:
        cfg = load_config([f"run_dir={run_dir}", f"store.data_dir={data_dir}", f"api.port={_free_port()}",
                           "rooms=[kitchen]", f"rooms.kitchen.camera.source={SAMPLE_IMAGE}", "llm.max_tokens=16"])
        store = prepare_store(cfg)
        start_ray(cfg)
        deploy(cfg, store.url)
        supervisor = start_supervisor(cfg, store.url)
        yield cfg, console_url(cfg), supervisor
        serve.shutdown()
        ray.shutdown()


def test_console_is_served_on_the_api_port(served):
    import httpx

    cfg, url, _ = served
    assert url == f"http://127.0.0.1:{cfg.api.port}/console/"
    page = httpx.get(url, timeout=30, follow_redirects=True)
    assert page.status_code == 200 and "gradio" in page.text.lower()
    config = httpx.get(url + "config", timeout=30).json()
    labels = {c.get("props", {}).get("label") for c in config["components"]}
    assert {"Username", "Password", "Room camera", "Preset (admins only)"} <= labels


def test_supervisor_refuses_gpu_presets_and_keeps_the_app(served):
    import ray

    from roomvoice.serve.console_backends import supervisor_name
    from roomvoice.serve.supervisor import SupervisorPresetSwitcher

    cfg, _, supervisor = served
    switcher = SupervisorPresetSwitcher(supervisor_name(cfg.ray.app_name))
    with pytest.raises(ConfigError, match="llm.engine"):
        switcher.switch("english_only_small")
    assert "already active" in switcher.switch("cpu")
    state = ray.get(supervisor.state.remote())
    assert state.preset == "cpu" and not state.busy


def test_preset_switch_redeploys_services_while_a_room_keeps_answering(served, tmp_path):
    import ray
    from ray import serve

    from roomvoice.actors.room_actor import start_room_actor
    from roomvoice.config import RoomConfig, SinkConfig, SourceConfig
    from tests.conftest import AUDIO

    cfg, _, supervisor = served
    room = RoomConfig(name="kitchen", source=SourceConfig(type="file", paths=[str(AUDIO / "what_time_is_it.wav")]),
                      sink=SinkConfig(type="null"))
    actor = start_room_actor(room, cfg.ray.app_name, str(tmp_path), "Sorry.")
    try:
        assert ray.get(actor.say.remote("What time is it?")).reply_source == "fast_path"

        def llm_replicas() -> int:
            status = serve.status().applications[cfg.ray.app_name].deployments["LLM"]
            return sum(status.replica_states.values())

        assert llm_replicas() == 1
        assert "switching to preset 'cpu_chat'" in ray.get(supervisor.switch.remote("cpu_chat"))
        state = ray.get(supervisor.wait.remote(240))
        assert state.preset == "cpu_chat" and not state.busy, state.message
        assert llm_replicas() == 2
        # the room actor was never restarted and still answers, now through the new deployments
        status = ray.get(actor.status.remote())
        assert status.incarnation == 1
        reply = ray.get(actor.say.remote("Say something about cats."), timeout=120)
        assert reply.error is None and reply.reply_source == "llm" and reply.reply
        assert "already active" in ray.get(supervisor.switch.remote("cpu_chat"))
    finally:
        ray.kill(actor, no_restart=True)
