"""Shared fixtures: bundled audio paths and the composed config."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import roomvoice

AUDIO = Path(roomvoice.__file__).parent / "assets" / "audio"
DATA = Path(__file__).parent / "data"

ARCTIC = {
    "arctic_a0007.wav": "and you always want to see it in the superlative degree",
    "arctic_a0009.wav": "he turned sharply and faced gregson across the table",
}


@pytest.fixture(scope="session")
def audio_dir() -> Path:
    return AUDIO


@contextmanager
def data_dir_for_postgres(prefix: str) -> Iterator[Path]:
    """A fresh roomvoice data folder for an embedded PostgreSQL, removed afterwards (the server
    of that folder is stopped first).

    Not under pytest's ``tmp_path``: pytest makes ``/tmp/pytest-of-<user>`` mode 0700 whenever
    a session starts, and the server runs as the ``pgserver`` user when we are root, so it must
    be able to traverse the path to its cluster.
    """
    from roomvoice.store.server import stop_embedded_server

    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    try:
        yield path
    finally:
        stop_embedded_server(path)
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def serve_on_loopback(app) -> Iterator[str]:
    """Run the ASGI ``app`` with uvicorn on a free 127.0.0.1 port in a thread; yields its base URL."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


_REPEATABLE_TTS = []


def repeatable_tts():
    """The packaged piper voice with its sampling noise off: the same text always gives the same
    samples, so spoken test commands (and what whisper hears in them) do not vary between runs."""
    if not _REPEATABLE_TTS:
        from roomvoice.serve.engines.models import piper_joe_voice
        from roomvoice.serve.engines.piper import PiperEngine

        model, config = piper_joe_voice()
        _REPEATABLE_TTS.append(PiperEngine(str(model), str(config), noise_scale=0.0, noise_w_scale=0.0))
    return _REPEATABLE_TTS[0]


def in_process_services(max_tokens: int):
    """The real in-process services (whisper + Moonshine, SmolLM2, piper; no Home Assistant), LLM loaded."""
    from roomvoice.config import load_config
    from roomvoice.serve.local import local_services_from_config

    svc = local_services_from_config(load_config(["rooms=[kitchen]", f"llm.max_tokens={max_tokens}"]))
    svc.llm.start()
    return svc
