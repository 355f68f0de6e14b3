"""Coded errors of the PostgreSQL store: connection, authentication, access, validation.

Every error is a :class:`~roomvoice.errors.RoomVoiceError` with a stable kebab-case ``code``:

==========================  ===================================================================
code                        meaning
==========================  ===================================================================
``store-unavailable``       PostgreSQL cannot be reached (bad URL, server down, pool timed out)
``store-query-failed``      PostgreSQL answered with an error we did not expect
``store-migration-failed``  a schema migration failed (the message names its version)
``store-not-found``         no such user, conversation, session or API key
``store-forbidden``         the caller may not read or change that row
``store-conflict``          a unique value is taken (e.g. the username)
``store-invalid``           a value the store refuses (empty name, NUL character, bad role...)
``store-too-long``          a text over its length limit (the message says which and how long)
``auth-bad-password``       unknown user or wrong password (deliberately not told apart)
``auth-rate-limited``       too many failed logins for this username and client address
==========================  ===================================================================

Raise them ``from`` the underlying psycopg error. Messages never contain passwords, tokens or
API keys.
"""

from __future__ import annotations

from roomvoice.errors import RoomVoiceError


class StoreError(RoomVoiceError):
    """Base class of the store's coded errors (see the module docstring for the codes)."""


class StoreUnavailableError(StoreError):
    """PostgreSQL cannot be reached right now (``store-unavailable``).

    The resilient layer (:mod:`roomvoice.store.resilient`) catches exactly this class to queue
    writes and serve reads from memory; every other :class:`StoreError` is a real refusal.
    """


class AuthError(StoreError):
    """A login was refused: ``auth-bad-password`` or ``auth-rate-limited``."""


class AccessError(StoreError):
    """The caller may not do that: ``store-forbidden``."""


class NotFoundError(StoreError):
    """The row does not exist: ``store-not-found``."""


class ValidationError(StoreError):
    """A value the store refuses: ``store-invalid``, ``store-too-long``, ``store-conflict``."""
