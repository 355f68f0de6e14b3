"""Model engines behind small interfaces, one real implementation per backend.

Engines are plain Python (no Ray): the Serve deployments in
:mod:`roomvoice.serve.deployments` wrap them. Backends are imported lazily from their own
modules (``faster_whisper``, ``piper``, ``llama_cpp``) so that importing this package
does not load any model library.
"""

from roomvoice.serve.engines.base import LLMEngine, SpeechToTextEngine, TextToSpeechEngine

__all__ = ["LLMEngine", "SpeechToTextEngine", "TextToSpeechEngine"]
