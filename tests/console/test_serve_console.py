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
