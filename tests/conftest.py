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
