"""llama.cpp with the packaged SmolLM2-135M-Instruct GGUF: streaming, limits, bad requests, early close."""

from __future__ import annotations

import threading

import pytest

from roomvoice.errors import LLMError
from roomvoice.events import ChatMessage
from roomvoice.serve.engines import LLMEngine
from roomvoice.serve.engines.llama_cpp import LlamaCppEngine
from roomvoice.serve.engines.models import smollm2_gguf_path

pytestmark = pytest.mark.slow

SYSTEM = ChatMessage("system", "You are a helpful voice assistant in a home. Answer in one or two short sentences.")
ASK = [SYSTEM, ChatMessage("user", "What is the capital of France?")]


@pytest.fixture(scope="module")
def llm() -> LlamaCppEngine:
    engine = LlamaCppEngine(smollm2_gguf_path(), n_ctx=2048, n_threads=1, seed=0)
    engine.start()
    return engine


def test_start_is_idempotent(llm):
    assert isinstance(llm, LLMEngine) and llm.started
    model = llm._llama
    llm.start()
    assert llm._llama is model
    assert llm.model_name == "SmolLM2-135M-Instruct.Q4_1"
    assert llm.load_s is not None and llm.load_s < 30


def test_streams_several_deltas_into_a_reply(llm):
    deltas = list(llm.stream_chat(ASK, max_tokens=48, temperature=0.2))
    assert len(deltas) >= 3 and all(isinstance(d, str) and d for d in deltas)
    reply = "".join(deltas)
    assert reply.strip() and "<|im_end|>" not in reply and "<|im_start|>" not in reply
    stats = llm.last_stats
    assert stats.deltas == len(deltas) and stats.first_token_s is not None
    assert stats.finish_reason in ("stop", "length")


def test_same_request_same_reply(llm):
    first = "".join(llm.stream_chat(ASK, max_tokens=24))
    second = "".join(llm.stream_chat(ASK, max_tokens=24))
    assert first == second  # seed passed with every request


def test_max_tokens_bounds_the_reply(llm):
    story = [ChatMessage("user", "Tell me a long story about a dragon and a knight.")]
    deltas = list(llm.stream_chat(story, max_tokens=5, temperature=0.0))
    assert 1 <= len(deltas) <= 5
    assert llm.last_stats.finish_reason == "length"


@pytest.mark.parametrize("messages,kwargs,code", [
    ([], {}, "llm-no-messages"),
    ("hello", {}, "llm-no-messages"),
    (["hello"], {}, "llm-bad-message"),
    ([{"role": "user", "content": "hi"}], {}, "llm-bad-message"),
    ([ChatMessage("robot", "hi")], {}, "llm-bad-role"),
    ([ChatMessage("user", None)], {}, "llm-bad-message"),
    ([SYSTEM], {}, "llm-no-user-message"),
    ([ChatMessage("user", "   ")], {}, "llm-no-user-message"),
    (ASK, {"max_tokens": 0}, "llm-bad-max-tokens"),
    (ASK, {"max_tokens": 2.5}, "llm-bad-max-tokens"),
    (ASK, {"temperature": -0.1}, "llm-bad-temperature"),
    (ASK, {"temperature": float("nan")}, "llm-bad-temperature"),
])
def test_bad_requests_are_refused_at_call_time(llm, messages, kwargs, code):
    with pytest.raises(LLMError) as err:
        llm.stream_chat(messages, **kwargs)  # no next(): checked when called
    assert err.value.code == code


def test_closing_the_stream_early_frees_the_engine(llm):
    stream = llm.stream_chat([ChatMessage("user", "Count from one to fifty.")], max_tokens=96)
    first = [next(stream), next(stream)]
    assert all(first)
    stream.close()
    assert llm.last_stats.finish_reason == "closed" and llm.last_stats.deltas == 2
    # the model is free again and answers normally
    assert "".join(llm.stream_chat(ASK, max_tokens=16)).strip()
    # breaking out of a for loop works the same way
    for _ in llm.stream_chat(ASK, max_tokens=16):
        break
    assert "".join(llm.stream_chat(ASK, max_tokens=8)).strip()


def test_second_open_stream_in_the_same_thread_is_refused(llm):
    first = llm.stream_chat(ASK, max_tokens=16)
    next(first)
    with pytest.raises(LLMError) as err:
        next(llm.stream_chat(ASK, max_tokens=16))
    assert err.value.code == "llm-busy"
    first.close()


def test_streams_from_two_threads_take_turns(llm):
    replies: dict[int, str] = {}

    def run(i: int) -> None:
        replies[i] = "".join(llm.stream_chat(ASK, max_tokens=12))

    threads = [threading.Thread(target=run, args=(i,)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert replies[1] and replies[1] == replies[2]


def test_prompt_longer_than_the_context():
    small = LlamaCppEngine(smollm2_gguf_path(), n_ctx=64)
    long = [ChatMessage("user", "Please remember this. " * 60)]
    with pytest.raises(LLMError) as err:
        list(small.stream_chat(long, max_tokens=8))
    assert err.value.code == "llm-context-overflow"


def test_missing_model_file(tmp_path):
    engine = LlamaCppEngine(tmp_path / "missing.gguf")
    with pytest.raises(LLMError) as err:
        engine.start()
    assert err.value.code == "llm-load-failed"
    (tmp_path / "junk.gguf").write_bytes(b"not a gguf")
    with pytest.raises(LLMError) as err:
        LlamaCppEngine(tmp_path / "junk.gguf").stream_chat(ASK)  # starts on first use
    assert err.value.code == "llm-load-failed"


def test_prefill_puts_the_conversation_beginning_in_the_prompt_cache(llm):
    history = [ChatMessage("system", "You are terse."), ChatMessage("user", "Hi there."),
               ChatMessage("assistant", "Hello! How can I help?")]
    cached_before = len(llm._llama.cache.cache_state)
    assert llm.prefill(history)
    assert len(llm._llama.cache.cache_state) >= min(cached_before + 1, 1)
    prefix = llm._llama.tokenize(b"Hi there.", add_bos=False, special=False)
    evaluated = list(llm._llama.input_ids[: llm._llama.n_tokens])
    assert any(evaluated[i:i + len(prefix)] == prefix for i in range(len(evaluated)))  # the history was evaluated
    stream = llm.stream_chat([*history, ChatMessage("user", "Say one word.")], max_tokens=4)
    next(stream)
    assert not llm.prefill(history)  # busy with the open stream: skipped, never waits
    stream.close()
    assert llm.prefill([ChatMessage("system", "")]) in (True, False)  # a bad prompt never raises
