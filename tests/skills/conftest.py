"""Fixtures: the demo home's entity index, a recognizer with a fixed clock, the fake Home Assistant."""

from __future__ import annotations

from datetime import datetime

import pytest

from roomvoice.skills.homeassistant.client import HomeAssistantClient
from roomvoice.skills.homeassistant.demo_home import demo_index
from roomvoice.skills.homeassistant.entities import EntityIndex
from roomvoice.skills.intents import IntentRecognizer
from tests.skills.fake_ha import TOKEN, FakeHomeAssistant

NOW = datetime(2026, 11, 21, 15, 7)


@pytest.fixture(scope="session")
def index() -> EntityIndex:
    return demo_index()


@pytest.fixture(scope="session")
def recognizer(index) -> IntentRecognizer:
    return IntentRecognizer(index, now=lambda: NOW)


@pytest.fixture
def fake_ha():
    with FakeHomeAssistant() as fake:
        yield fake


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(fake_ha, sleeps):
    with HomeAssistantClient(fake_ha.url, TOKEN, timeout_s=2.0, sleep=sleeps.append) as c:
        yield c
