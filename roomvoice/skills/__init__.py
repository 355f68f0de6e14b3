"""Skills: the rule fast path and (later) tools the LLM may call."""
