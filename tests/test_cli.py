"""The command line: config printing and config errors at start-up (exit code 2, key named)."""

import subprocess
import sys

from roomvoice.__main__ import main


def cli(*args: str) -> subprocess.CompletedProcess:
    """The real command line in its own process (stderr as the user sees it)."""
    return subprocess.run([sys.executable, "-m", "roomvoice", *args], capture_output=True, text=True, timeout=120)


def test_config_command_prints_composed_config():
    done = cli("config", "rooms=[office]", "llm.max_tokens=64")
    assert done.returncode == 0
    assert "office:" in done.stdout and "max_tokens: 64" in done.stdout and "kitchen:" not in done.stdout


def test_main_returns_the_exit_code():
    assert main(["run", "rooms=[attic]"]) == 2


def test_unknown_room_fails_at_start_up():
    done = cli("run", "rooms=[attic]")
    assert done.returncode == 2
    assert "configuration error" in done.stderr and "rooms/attic" in done.stderr


def test_bad_sample_rate_names_the_key():
    done = cli("run", "rooms.kitchen.source.sample_rate=5")
    assert done.returncode == 2 and "rooms.kitchen.source.sample_rate" in done.stderr


def test_missing_model_file_names_the_key():
    done = cli("run", "llm.model_path=/models/missing.gguf")
    assert done.returncode == 2 and "llm.model_path: model file not found" in done.stderr
