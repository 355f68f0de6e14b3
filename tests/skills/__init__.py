"""Tests of the skills: intent fast path, tool registry, Home Assistant client and entities."""
