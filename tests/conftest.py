"""Shared fixtures: bundled audio paths and the composed config."""

from __future__ import annotations

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
