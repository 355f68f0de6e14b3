"""Checks on text before it reaches PostgreSQL, with coded errors that name the field.

PostgreSQL ``text`` cannot hold the NUL character, and every free-text column has a length
limit here so that one oversized request cannot fill the disk or the LLM context.
"""

from __future__ import annotations

from roomvoice.store.errors import ValidationError


def check_text(field: str, value: str, *, max_chars: int, allow_empty: bool = True) -> str:
    """Return ``value`` unchanged if the store can keep it verbatim.

    Args:
        field: name used in the error message (``"message content"``).
        value: the text.
        max_chars: longest accepted length, in characters (code points).
        allow_empty: whether ``""`` is accepted.

    Raises:
        ValidationError: ``store-invalid`` (not a string, empty, contains NUL) or
            ``store-too-long`` (over ``max_chars``).
    """
    if not isinstance(value, str):
        raise ValidationError("store-invalid", f"{field} must be text, not {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise ValidationError("store-invalid", f"{field} must not be empty")
    if len(value) > max_chars:
        raise ValidationError("store-too-long", f"{field} is {len(value)} characters; the limit is {max_chars}")
    if "\x00" in value:
        raise ValidationError("store-invalid", f"{field} contains a NUL character, which cannot be stored")
    return value
