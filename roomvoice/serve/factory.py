"""Build engines from config: one place that maps ``stt/tts/llm`` config to an implementation."""

from __future__ import annotations

import logging

from roomvoice.config import LlmConfig, SttConfig, TtsConfig
from roomvoice.errors import ConfigError
from roomvoice.serve.engines.base import LLMEngine, SpeechToTextEngine, TextToSpeechEngine

logger = logging.getLogger(__name__)


def build_stt_engine(cfg: SttConfig) -> SpeechToTextEngine:
    """The speech-to-text engine ``cfg`` names; its packaged model when ``model_path`` is None
    (tiny.en for ``faster_whisper``, Moonshine base for ``moonshine``).

    Raises:
        ConfigError: unknown engine, an engine that cannot run on ``stt.device``, or missing
            model files (the message names the key).
    """
    if cfg.engine == "moonshine":
        return _build_moonshine(cfg)
    if cfg.engine != "faster_whisper":
        raise ConfigError("config-invalid", f"stt.engine: unknown engine {cfg.engine!r}")
    from roomvoice.serve.engines.faster_whisper import FasterWhisperEngine
    from roomvoice.serve.engines.models import check_model_path, whisper_tiny_en_dir

    path = check_model_path(cfg.model_path, "stt.model_path") if cfg.model_path else whisper_tiny_en_dir()
    return FasterWhisperEngine(
        str(path), device=cfg.device, compute_type=cfg.compute_type, cpu_threads=cfg.cpu_threads,
        beam_size=cfg.beam_size, vad_filter=cfg.vad_filter, language=cfg.language,
    )


def _build_moonshine(cfg: SttConfig) -> SpeechToTextEngine:
    """Moonshine on onnxruntime (CPU); ``beam_size``, ``compute_type`` and ``vad_filter`` do not apply."""
    if cfg.device != "cpu":
        raise ConfigError("config-invalid", f"stt.device: the moonshine engine runs on cpu only, got {cfg.device!r}")
    from roomvoice.serve.engines.models import check_model_path, moonshine_base_en_dir
    from roomvoice.serve.engines.moonshine import MoonshineEngine

    path = check_model_path(cfg.model_path, "stt.model_path") if cfg.model_path else moonshine_base_en_dir()
    return MoonshineEngine(str(path), cpu_threads=cfg.cpu_threads, language=cfg.language)


def build_first_pass_engine(cfg: SttConfig) -> SpeechToTextEngine | None:
    """The fast first-pass engine ``stt.first_pass`` names (``moonshine``), or None.

    Raises:
        ConfigError: an unknown first-pass engine or missing model files.
    """
    if not cfg.first_pass:
        return None
    if cfg.first_pass != "moonshine":
        raise ConfigError("config-invalid", f"stt.first_pass: unknown engine {cfg.first_pass!r}")
    return _build_moonshine(SttConfig(engine="moonshine", model="moonshine-base", device="cpu",
                                      model_path=cfg.first_pass_model_path, cpu_threads=cfg.cpu_threads,
                                      language="en"))


def build_tts_engine(cfg: TtsConfig) -> TextToSpeechEngine:
    """The text-to-speech engine ``cfg`` names; the packaged joe voice when paths are None.

    Raises:
        ConfigError: unknown engine or missing voice files.
    """
    if cfg.engine != "piper":
        raise ConfigError("config-invalid", f"tts.engine: unknown engine {cfg.engine!r}")
    from roomvoice.serve.engines.models import check_model_path, piper_joe_voice
    from roomvoice.serve.engines.piper import PiperEngine

    if cfg.model_path:
        model = check_model_path(cfg.model_path, "tts.model_path")
        config = check_model_path(cfg.config_path or f"{cfg.model_path}.json", "tts.config_path")
    else:
        model, config = piper_joe_voice()
    return PiperEngine(str(model), str(config), length_scale=cfg.length_scale)


def build_llm_engine(cfg: LlmConfig) -> LLMEngine:
    """The LLM engine ``cfg`` names (not started); packaged SmolLM2 when ``model_path`` is None.

    Raises:
        ConfigError: unknown or not-yet-available engine, missing model file.
    """
    if cfg.engine != "llama_cpp":
        raise ConfigError("config-invalid", f"llm.engine: {cfg.engine!r} is not available in this version")
    from roomvoice.serve.engines.llama_cpp import LlamaCppEngine
    from roomvoice.serve.engines.models import check_model_path, smollm2_gguf_path

    path = check_model_path(cfg.model_path, "llm.model_path") if cfg.model_path else smollm2_gguf_path()
    return LlamaCppEngine(str(path), n_ctx=cfg.n_ctx, n_threads=cfg.n_threads, seed=cfg.seed)
