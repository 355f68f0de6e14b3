"""The one reply pipeline (fast path → tool step → LLM): one code path for voice, chat and the
OpenAI API, one timeout policy, and cancellation through Serve (fake handles, no Ray, no models)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import aclosing
from datetime import datetime
from types import SimpleNamespace

import httpx
import pytest

from roomvoice.assistant import AssistantCore, CallableLLM, ReplyPipeline, Sampling, TimeoutPolicy
from roomvoice.config import AssistantConfig, LlmConfig
from roomvoice.errors import LLMError
from roomvoice.events import AssistantRequest, ChatMessage

NOW = datetime(2026, 11, 21, 9, 30)
WORDS = ["The kitchen", " is warm. It is", " 21 degrees."]


def core() -> AssistantCore:
    return AssistantCore("You are terse.", now=lambda: NOW)


class FakeEngine:
    """An :class:`~roomvoice.serve.engines.base.LLMEngine` that says :data:`WORDS`."""

    model_name = "fake"

    def __init__(self) -> None:
        self.streams: list[list[ChatMessage]] = []

    def start(self) -> None:
        pass

    def stream_chat(self, messages, *, max_tokens=128, temperature=0.2) -> Iterator[str]:
        self.streams.append(list(messages))
        yield from WORDS

    def complete_json(self, messages, schema, *, max_tokens=96) -> str:
        raise LLMError("llm-json-unsupported", "no tools here")


class FakeResponse:
    """A Serve ``DeploymentResponse`` (awaitable, cancellable) or response generator."""

    def __init__(self, log: list[str], name: str, deltas: Sequence[str] | None = None, hang: bool = False) -> None:
        self.log, self.name, self.deltas, self.hang = log, name, deltas, hang

    def cancel(self) -> None:
        self.log.append(f"cancel {self.name}")

    def __await__(self):
        return self._result().__await__()

    async def _result(self) -> str:
        if self.hang:
            await asyncio.sleep(3600)
        return json.dumps({"tool": "none"})

    async def __aiter__(self) -> AsyncIterator[str]:
        for delta in self.deltas or ():
            await asyncio.sleep(0)
            yield delta
        if self.hang:
            await asyncio.sleep(3600)


class FakeLLMHandle:
    """The ``LLM`` deployment's handle: ``complete_json.remote``, ``options(stream=True).stream_chat.remote``."""

    def __init__(self, *, hang_tool: bool = False, hang_words: bool = False) -> None:
        self.log: list[str] = []
        self.hang_tool, self.hang_words = hang_tool, hang_words
        self.complete_json = SimpleNamespace(remote=lambda *a: self._call("complete_json", hang=self.hang_tool))
        self.stream_chat = SimpleNamespace(remote=lambda *a: self._call("stream_chat", WORDS, self.hang_words))

    def _call(self, name: str, deltas=None, hang: bool = False) -> FakeResponse:
        self.log.append(name)
        return FakeResponse(self.log, name, deltas, hang)

    def options(self, **kw) -> FakeLLMHandle:
        return self


def serve_assistant(handle: FakeLLMHandle, **llm):
    """The Serve ``Assistant`` deployment's class, built over a fake LLM handle (no Ray)."""
    from roomvoice.serve.deployments import Assistant

    assistant = Assistant.func_or_class(handle, AssistantConfig(), LlmConfig(**llm))
    assistant.core._now = lambda: NOW
    return assistant


class AssistantHandle:
    """The ``Assistant`` deployment's handle as :class:`ServeChatBackend` calls it, over the class."""

    def __init__(self, assistant) -> None:
        self.chat = SimpleNamespace(remote=assistant.chat)

    def options(self, **kw) -> AssistantHandle:
        return self


@pytest.fixture
def runs(monkeypatch) -> list[tuple[str, bool]]:
    """Every :meth:`ReplyPipeline.run`, as (request text, stateless)."""
    seen: list[tuple[str, bool]] = []
    original = ReplyPipeline.run

    def spy(self, request, **kw):
        seen.append((request.text, kw.get("messages") is not None))
        return original(self, request, **kw)

    monkeypatch.setattr(ReplyPipeline, "run", spy)
    return seen


def api_app(chat):
    from roomvoice.serve.api import ApiSettings, create_api

    user = SimpleNamespace(id=7, username="alice", role="member")
    keys = SimpleNamespace(verify=lambda key: user if key == "k" else None)
    return create_api(keys, SimpleNamespace(allows=lambda ip: True), chat, rooms=None,
                      settings=ApiSettings(model="roomvoice"))


async def api_chat(app, text: str, stream: bool) -> str:
    body = {"model": "roomvoice", "stream": stream, "messages": [{"role": "user", "content": text}]}
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://roomvoice") as client:
        response = await client.post("/v1/chat/completions", json=body, headers={"Authorization": "Bearer k"})
    assert response.status_code == 200, response.text
    if not stream:
        return response.json()["choices"][0]["message"]["content"]
    events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    return "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events if e != "[DONE]")


def test_one_pipeline_serves_voice_chat_and_the_api(runs):
    """Voice (in-process and Serve), chat (in-process and Serve) and the OpenAI API (streamed and
    not) all reply through ReplyPipeline.run — and nothing else sequences a reply."""
    from roomvoice.serve.backends import LocalChatBackend, ServeChatBackend
    from roomvoice.serve.local import LocalServices

    said = " ".join(["The kitchen is warm.", "It is 21 degrees."])
    engine = FakeEngine()
    local = LocalServices(None, engine, None, core())
    local_chat = LocalChatBackend(local.core, engine)
    assistant = serve_assistant(FakeLLMHandle())
    serve_chat = ServeChatBackend(AssistantHandle(assistant))
    user = SimpleNamespace(id=7, role="member")
    ask = [ChatMessage("user", "how warm is it")]

    async def collect(stream) -> list:
        return [x async for x in stream]

    # voice: sentences, remembered per conversation
    voice_local = list(local.reply(AssistantRequest("how warm is it", "kitchen", "kitchen")))
    voice_serve = asyncio.run(collect(assistant.reply(AssistantRequest("how warm is it", "kitchen", "kitchen"))))
    for sentences in (voice_local, voice_serve):
        assert [s.text for s in sentences] == ["The kitchen is warm.", "It is 21 degrees."]
    # chat: deltas, the client's conversation, nothing remembered
    for backend in (local_chat, serve_chat):
        assert "".join(asyncio.run(collect(backend.stream(user, ask, None, None)))) == "".join(WORDS)
    # the OpenAI API, over both chat backends, streamed and not
    for backend in (local_chat, serve_chat):
        for stream in (True, False):
            assert asyncio.run(api_chat(api_app(backend), "how warm is it", stream)) == "".join(WORDS)
    # the fast path answers chat, the API and voice the same way, through the same run
    assert "".join(asyncio.run(collect(local_chat.stream(user, [ChatMessage("user", "what time is it")],
                                                         None, None)))) == "It's 9:30 AM."
    assert [s.text for s in local.reply(AssistantRequest("what time is it", "kitchen"))] == ["It's 9:30 AM."]

    assert runs == [("how warm is it", False)] * 2 + [("how warm is it", True)] * 6 + \
        [("what time is it", True), ("what time is it", False)]
    assert local.core.messages_for(AssistantRequest("next", "kitchen"))[2].content == said  # voice remembered
    assert [m.role for m in engine.streams[-1]] == ["system", "user"]  # chat remembered nothing


def test_voice_and_chat_read_the_same_chunks():
    """Voice gets the sentences and chat the deltas of one run: the same words."""
    pipeline = ReplyPipeline(core(), CallableLLM(lambda m: iter(WORDS)))

    async def go():
        chunks = [c async for c in pipeline.run(AssistantRequest("how warm is it", "x"))]
        return chunks

    chunks = asyncio.run(go())
    assert "".join(c.delta for c in chunks) == "".join(WORDS)
    assert [s.text for c in chunks for s in c.sentences] == ["The kitchen is warm.", "It is 21 degrees."]


def test_timeout_policy_comes_from_llm_timeout_s():
    assert TimeoutPolicy.from_config(LlmConfig(timeout_s=7.5)) == TimeoutPolicy(7.5)
    assert serve_assistant(FakeLLMHandle(), timeout_s=7.5).pipeline.timeouts == TimeoutPolicy(7.5)
    assert Sampling.from_config(LlmConfig(max_tokens=12, temperature=0.0)) == Sampling(12, 0.0)


@pytest.mark.parametrize("hang", ["tool", "words"])
def test_one_deadline_for_the_llm_part_and_the_serve_call_is_cancelled(hang):
    """A hung tool call or a hung stream ends in ``llm-timeout`` after ``llm.timeout_s``, and the
    LLM's Serve request is cancelled (a hung tool call does not fall back to words)."""
    handle = FakeLLMHandle(hang_tool=hang == "tool", hang_words=hang == "words")
    assistant = serve_assistant(handle, timeout_s=0.2)
    if hang == "tool":
        assistant.core.tool_prompt = lambda request: SimpleNamespace(messages=[], schema={})

    async def go():
        return [s async for s in assistant.reply(AssistantRequest("how warm is it", "kitchen"))]

    with pytest.raises(LLMError) as err:
        asyncio.run(asyncio.wait_for(go(), 5))
    assert err.value.code == "llm-timeout"
    expected = ["complete_json", "cancel complete_json"] if hang == "tool" else ["stream_chat", "cancel stream_chat"]
    assert handle.log == expected


def test_deadline_covers_the_tool_call_and_the_words_together():
    async def slow_tool(messages, schema, max_tokens):
        await asyncio.sleep(0.15)
        raise LLMError("llm-failed", "no tool today")

    async def slow_words(messages, max_tokens, temperature):
        for delta in WORDS:
            await asyncio.sleep(0.05)
            yield delta

    c = core()
    c.tool_prompt = lambda request: SimpleNamespace(messages=[], schema={})
    llm = SimpleNamespace(complete_json=slow_tool, stream_chat=slow_words)
    within = ReplyPipeline(c, llm, timeouts=TimeoutPolicy(1.0))
    assert [s.text for s in within.sentences_sync(AssistantRequest("q", "x"))][-1] == "It is 21 degrees."
    tight = ReplyPipeline(c, llm, timeouts=TimeoutPolicy(0.2))  # 0.15 s tool + 3 × 0.05 s words
    with pytest.raises(LLMError) as err:
        list(tight.sentences_sync(AssistantRequest("q", "x")))
    assert err.value.code == "llm-timeout"


def test_barge_in_cancels_the_llm_through_serve():
    """Closing the reply after its first sentence (a barge-in) cancels the LLM's Serve stream;
    cancelling the reply during the tool call cancels that call."""
    handle = FakeLLMHandle(hang_words=True)
    assistant = serve_assistant(handle)

    async def first_sentence():
        async with aclosing(assistant.reply(AssistantRequest("how warm is it", "kitchen"))) as reply:
            return await anext(reply)

    assert asyncio.run(first_sentence()).text == "The kitchen is warm."
    assert handle.log == ["stream_chat", "cancel stream_chat"]

    handle = FakeLLMHandle(hang_tool=True)
    assistant = serve_assistant(handle)
    assistant.core.tool_prompt = lambda request: SimpleNamespace(messages=[], schema={})

    async def cancelled_in_tool_step():
        task = asyncio.ensure_future(anext(assistant.reply(AssistantRequest("dim it", "kitchen"))))
        while "complete_json" not in handle.log:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancelled_in_tool_step())
    assert handle.log == ["complete_json", "cancel complete_json"]


def test_closing_a_blocking_reply_stops_the_llm_stream():
    """The in-process voice path: closing the reply early (a barge-in) stops the engine's stream."""
    import time

    made = []

    def words(messages):
        for i in range(500):
            made.append(i)
            time.sleep(0.005)
            yield "Hello there. " if i == 0 else "Again. "

    reply = core().reply(AssistantRequest("how warm is it", "x"), words)
    assert next(reply).text == "Hello there."
    reply.close()
    stopped_at = len(made)
    time.sleep(0.05)
    assert len(made) == stopped_at < 500


def test_a_failed_tool_call_falls_back_to_words():
    def broken(messages, schema, max_tokens):
        raise LLMError("llm-failed", "boom")

    c = core()
    c.tool_prompt = lambda request: SimpleNamespace(messages=[], schema={})
    sentences = list(c.reply(AssistantRequest("how warm is it", "x"), lambda m: iter(WORDS), broken))
    assert [s.source for s in sentences] == ["llm", "llm"]
