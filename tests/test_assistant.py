"""Assistant core (fast path, prompt, memory, sentence streaming) and the Serve LLM deployment's timeout."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from roomvoice.errors import AssistantError, LLMError
from roomvoice.events import AssistantRequest
from roomvoice.assistant import AssistantCore, ReplyAssembler

NOW = datetime(2026, 11, 21, 9, 30)


def core(**kw):
    return AssistantCore("You are terse.", now=lambda: NOW, **kw)


def never_called(messages):
    raise AssertionError("the LLM must not be called for the fast path")


def test_time_question_is_answered_without_the_llm():
    sentences = list(core().reply(AssistantRequest("What time is it?", "kitchen", "kitchen"), never_called))
    assert [(s.text, s.source) for s in sentences] == [("It's 9:30 AM.", "fast_path")]
    assert sentences[0].first_token_s is None


def test_llm_reply_is_streamed_sentence_by_sentence():
    deltas = ["The kitchen", " is warm", ". It is 21", ".5 degrees", " there. Enjoy", "!"]
    c = core()
    sentences = list(c.reply(AssistantRequest("how warm is it", "kitchen"), lambda m: iter(deltas)))
    assert [s.text for s in sentences] == ["The kitchen is warm.", "It is 21.5 degrees there.", "Enjoy!"]
    assert [s.index for s in sentences] == [0, 1, 2]
    assert sentences[0].first_token_s is not None and sentences[1].first_token_s is None
    assert all(s.source == "llm" for s in sentences)


def test_history_is_bounded_and_per_conversation():
    c = core(history_turns=2)
    for i in range(3):
        list(c.reply(AssistantRequest(f"question {i}", "kitchen"), lambda m, i=i: iter([f"Answer {i}."])))
    msgs = c.messages_for(AssistantRequest("next", "kitchen"))
    assert [m.role for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert [m.content for m in msgs[1:5]] == ["question 1", "Answer 1.", "question 2", "Answer 2."]
    assert [m.role for m in c.messages_for(AssistantRequest("hi", "office"))] == ["system", "user"]


def test_history_drops_its_older_half_so_the_prompt_beginning_stays():
    c = core(history_turns=4)
    prompts = []
    for i in range(8):
        list(c.reply(AssistantRequest(f"question {i}", "kitchen"), lambda m, i=i: iter([f"Answer {i}."])))
        prompts.append([m.content for m in c.messages_for(AssistantRequest("next", "kitchen"))[1:-1:2]])
    assert prompts[3] == ["question 0", "question 1", "question 2", "question 3"]
    assert prompts[4] == ["question 2", "question 3", "question 4"]  # two dropped at once...
    assert prompts[5] == ["question 2", "question 3", "question 4", "question 5"]  # ...then only appended
    assert prompts[6] == ["question 4", "question 5", "question 6"]
    assert all(len(p) <= 4 for p in prompts)


def test_empty_llm_reply_is_an_error():
    with pytest.raises(LLMError) as err:
        list(core().reply(AssistantRequest("tell me something", "x"), lambda m: iter(["", "  "])))
    assert err.value.code == "llm-empty-reply"


@pytest.mark.parametrize("text,code", [("", "assistant-empty-request"), ("   ", "assistant-empty-request"),
                                       ("x" * 5000, "assistant-request-too-long")])
def test_bad_requests(text, code):
    with pytest.raises(AssistantError) as err:
        list(core().reply(AssistantRequest(text, "x"), never_called))
    assert err.value.code == code


def test_assembler_times_first_token():
    t = iter([0.0, 0.25, 0.3, 0.5, 0.6])
    a = ReplyAssembler(clock=lambda: next(t))
    assert a.push("Hello") == []
    [s] = a.push(" there. Next")
    assert s.first_token_s == 0.25 and s.elapsed_s == 0.3
    [rest] = a.finish()
    assert rest.text == "Next" and rest.index == 1


@pytest.mark.slow
def test_serve_llm_deployment_streams_and_times_out():
    """The LLM deployment class itself (no Ray): real engine, real timeout path."""
    from roomvoice.config import LlmConfig
    from roomvoice.events import ChatMessage
    from roomvoice.serve.deployments import LLM

    cls = LLM.func_or_class
    llm = cls(LlmConfig(max_tokens=24))
    msgs = [ChatMessage("user", "Name three colours.")]

    async def collect():
        return [d async for d in llm.stream_chat(msgs)]

    deltas = asyncio.run(collect())
    assert len(deltas) > 1 and "".join(deltas).strip()
    llm.cfg = LlmConfig(max_tokens=24, timeout_s=0.001)
    with pytest.raises(LLMError) as err:
        asyncio.run(collect())
    assert err.value.code == "llm-timeout"
    llm.cfg = LlmConfig(max_tokens=8)
    assert asyncio.run(collect())  # the engine is usable again after a timeout
