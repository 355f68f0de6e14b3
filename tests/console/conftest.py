"""The console served for real: uvicorn on a free loopback port, embedded PostgreSQL, the real
SmolLM2 engine (llama.cpp), a real kitchen RoomRunner and a camera on the bundled photo; Debian's
chromium driven headless by playwright (no browser download)."""

from __future__ import annotations

from pathlib import Path

import pytest

from roomvoice.config import RoomConfig, SinkConfig, SourceConfig, load_config
from tests.conftest import AUDIO, serve_on_loopback
from tests.store.conftest import embedded_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "runs" / "test-artifacts" / "console"
PASSWORD = "a long enough password"


class RecordingSwitcher:
    """Validates presets like the real supervisor, records instead of redeploying."""

    def __init__(self, cfg):
        from roomvoice.serve.supervisor import PresetController

        self.deployed: list[str] = []
        self.controller = PresetController(cfg, lambda c: self.deployed.append(c.preset.name))

    def switch(self, preset: str) -> str:
        return self.controller.switch(preset)


@pytest.fixture(scope="package")
def console_env(tmp_path_factory):
    from roomvoice.actors.room_actor import RoomRunner
    from roomvoice.rooms.camera import SAMPLE_IMAGE, Camera
    from roomvoice.serve.api import ApiSettings, create_api
    from roomvoice.serve.backends import LocalChatBackend, LocalRooms
    from roomvoice.serve.chat import ChatService
    from roomvoice.serve.console import ConsoleDeps, mount_console
    from roomvoice.serve.console_backends import ConfigSystemInfo, LocalCameras, console_settings
    from roomvoice.serve.local import local_services_from_config
    from roomvoice.store.access import IpAllowList, LoginRateLimiter
    from roomvoice.store.conversations import ConversationStore
    from roomvoice.store.credentials import ApiKeyStore, SessionStore
    from roomvoice.store.db import Database
    from roomvoice.store.resilient import ResilientStore
    from roomvoice.store.turns import TurnStore
    from roomvoice.store.users import UserStore

    with embedded_server("roomvoice-console-pg-") as server:
        db = Database(server.url())
        db.migrate()
        users = UserStore(db, bcrypt_rounds=4, limiter=LoginRateLimiter(max_failures=3, window_s=300))
        for name, role in (("alice", "member"), ("visitor", "guest"), ("root", "admin")):
            users.create_user(name, PASSWORD, role)
        cfg = load_config(["rooms=[kitchen]", "llm.max_tokens=24"])
        services = local_services_from_config(cfg)
        room_cfg = RoomConfig(name="kitchen", sink=SinkConfig(type="null"),
                              source=SourceConfig(type="file", paths=[str(AUDIO / "what_time_is_it.wav")]))
        runner = RoomRunner(room_cfg, services, tmp_path_factory.mktemp("run"), "Sorry.")
        runner.start()
        backend = LocalChatBackend(services.core, services.llm, max_tokens=24)
        store = ResilientStore(ConversationStore(db), TurnStore(db))
        chat = ChatService(store, backend, history_turns=2)
        rooms = LocalRooms({"kitchen": runner})
        snapshots = tmp_path_factory.mktemp("snapshots")
        cameras = LocalCameras({"kitchen": Camera(SAMPLE_IMAGE, fps=2, name="kitchen")}, snapshots)
        switcher = RecordingSwitcher(cfg)
        app = create_api(ApiKeyStore(db), IpAllowList(), backend, rooms, ApiSettings(model="roomvoice-test"),
                         conversations=chat)
        mount_console(app, ConsoleDeps(users=users, sessions=SessionStore(db), chat=chat, rooms=rooms,
                                       cameras=cameras, system=ConfigSystemInfo(console_settings(cfg)),
                                       switcher=switcher, refresh_s=1.0))
        yield {"app": app, "switcher": switcher, "snapshots": snapshots, "chat": chat, "users": users,
               "runner": runner}
        cameras.close()
        runner.stop()
        store.close()
        db.close()


@pytest.fixture(scope="package")
def base_url(console_env):
    with serve_on_loopback(console_env["app"]) as url:
        yield url


@pytest.fixture(scope="package")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) for browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, base_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    pg.goto(f"{base_url}/console/")
    pg.locator("#login-username input, #login-username textarea").first.wait_for()
    yield pg
    context.close()


def shot(page, name: str) -> Path:
    """Save a full-page screenshot under runs/test-artifacts/console/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def login(page, username: str, password: str = PASSWORD) -> None:
    """Fill the login form and submit."""
    page.locator("#login-username input, #login-username textarea").first.fill(username)
    page.locator("#login-password input").first.fill(password)
    page.locator("#login-button").click()
