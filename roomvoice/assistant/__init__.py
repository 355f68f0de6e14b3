"""The assistant's brain: the one reply pipeline (fast path → tool step → LLM) and its prompts.

- :mod:`roomvoice.assistant.core` — :class:`AssistantCore` (checks, fast path, tool step halves,
  memory) and :class:`ReplyAssembler` (deltas → timed sentences);
- :mod:`roomvoice.assistant.prompts` — the LLM's messages;
- :mod:`roomvoice.assistant.llm` — the LLM port and its adapters (Serve handle, engine, functions);
- :mod:`roomvoice.assistant.pipeline` — :class:`ReplyPipeline`, used by voice, chat and the
  OpenAI API, and its :class:`TimeoutPolicy`.

No Ray here: the Serve ``Assistant`` deployment and the in-process services are thin adapters.
"""

from roomvoice.assistant.core import MAX_REQUEST_CHARS, AssistantCore, CompleteJson, ReplyAssembler
from roomvoice.assistant.llm import CallableLLM, EngineLLM, LLMPort, ServeLLM
from roomvoice.assistant.pipeline import ReplyChunk, ReplyPipeline, Sampling, TimeoutPolicy

__all__ = ["MAX_REQUEST_CHARS", "AssistantCore", "CallableLLM", "CompleteJson", "EngineLLM", "LLMPort",
           "ReplyAssembler", "ReplyChunk", "ReplyPipeline", "Sampling", "ServeLLM", "TimeoutPolicy"]
