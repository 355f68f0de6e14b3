"""The command line: config printing and config errors at start-up (exit code 2, key named)."""

from roomvoice.__main__ import main


def test_config_command_prints_composed_config(capsys):
    assert main(["config", "rooms=[office]", "llm.max_tokens=64"]) == 0
    out = capsys.readouterr().out
    assert "office:" in out and "max_tokens: 64" in out and "kitchen:" not in out


def test_unknown_room_fails_at_start_up(capsys):
    assert main(["run", "rooms=[attic]"]) == 2
    err = capsys.readouterr().err
    assert "configuration error" in err and "rooms/attic" in err


def test_bad_sample_rate_names_the_key(capsys):
    assert main(["run", "rooms.kitchen.source.sample_rate=5"]) == 2
    assert "rooms.kitchen.source.sample_rate" in capsys.readouterr().err


def test_missing_model_file_names_the_key(capsys):
    assert main(["run", "llm.model_path=/models/missing.gguf"]) == 2
    assert "llm.model_path: model file not found" in capsys.readouterr().err
