"""Versioned schema migrations, applied in order by :meth:`roomvoice.store.db.Database.migrate`.

Each :class:`Migration` runs in its own transaction together with the row that records it in
``schema_migrations``; a migration is never edited once released — add a new one instead.

Conventions: ``bigint`` identity keys for rows that only the database creates; ``uuid`` keys made
by the client for rows that may be written while PostgreSQL is down (conversations) and
``uuid`` idempotency keys (``client_msg_id``, ``turn_key``) so replays insert nothing twice;
every time is ``timestamptz``; secrets are stored only as SHA-256 (tokens, API keys) or bcrypt
(passwords) hashes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import LiteralString


@dataclass(frozen=True)
class Migration:
    """One schema step.

    Attributes:
        version: strictly increasing integer, starting at 1.
        description: one line, stored in ``schema_migrations``.
        sql: the statements (no parameters; run in one transaction).
    """

    version: int
    description: str
    sql: LiteralString


_USERS: LiteralString = """
CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL CHECK (length(username) BETWEEN 1 AND 64),
    password_hash text NOT NULL,
    role          text NOT NULL DEFAULT 'member' CHECK (role IN ('admin', 'member', 'guest')),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));

CREATE TABLE sessions (
    token_hash  text PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE api_keys (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        text NOT NULL,
    prefix      text NOT NULL UNIQUE,
    key_hash    text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_keys_user_id_idx ON api_keys (user_id);
"""

_CONVERSATIONS: LiteralString = """
CREATE TABLE conversations (
    id          uuid PRIMARY KEY,
    user_id     bigint REFERENCES users (id) ON DELETE CASCADE,
    room        text,
    title       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (user_id IS NOT NULL OR room IS NOT NULL)
);
CREATE INDEX conversations_user_idx ON conversations (user_id, created_at DESC);
CREATE INDEX conversations_room_idx ON conversations (room, created_at DESC) WHERE room IS NOT NULL;

CREATE TABLE messages (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id  uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role             text NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    content          text NOT NULL,
    client_msg_id    uuid NOT NULL UNIQUE,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_conversation_idx ON messages (conversation_id, id);

CREATE TABLE voice_turns (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    turn_key         uuid NOT NULL UNIQUE,
    room             text NOT NULL,
    turn             integer NOT NULL,
    transcript       text NOT NULL DEFAULT '',
    reply            text NOT NULL DEFAULT '',
    reply_source     text NOT NULL DEFAULT '',
    timings          jsonb NOT NULL DEFAULT '{}'::jsonb,
    error_code       text,
    conversation_id  uuid REFERENCES conversations (id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX voice_turns_room_idx ON voice_turns (room, created_at DESC);
"""

_SKILLS: LiteralString = """
CREATE TABLE timers (
    id            uuid PRIMARY KEY,
    room          text NOT NULL,
    label         text NOT NULL DEFAULT '',
    duration_s    double precision NOT NULL CHECK (duration_s > 0),
    started_at    timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    fired_at      timestamptz,
    cancelled_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX timers_active_idx ON timers (ends_at) WHERE fired_at IS NULL AND cancelled_at IS NULL;

CREATE TABLE reminders (
    id          uuid PRIMARY KEY,
    user_id     bigint REFERENCES users (id) ON DELETE CASCADE,
    room        text,
    text        text NOT NULL,
    due_at      timestamptz NOT NULL,
    rrule       text,
    timezone    text NOT NULL DEFAULT 'UTC',
    done_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reminders_due_idx ON reminders (due_at) WHERE done_at IS NULL;
CREATE INDEX reminders_user_idx ON reminders (user_id);

CREATE TABLE calendar_events (
    id          uuid PRIMARY KEY,
    user_id     bigint REFERENCES users (id) ON DELETE CASCADE,
    title       text NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz,
    all_day     boolean NOT NULL DEFAULT false,
    rrule       text,
    timezone    text NOT NULL DEFAULT 'UTC',
    location    text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at IS NULL OR ends_at >= starts_at)
);
CREATE INDEX calendar_events_starts_idx ON calendar_events (starts_at);
CREATE INDEX calendar_events_user_idx ON calendar_events (user_id, starts_at);

CREATE TABLE tasks (
    id          uuid PRIMARY KEY,
    user_id     bigint REFERENCES users (id) ON DELETE CASCADE,
    list_name   text NOT NULL DEFAULT 'default',
    text        text NOT NULL,
    done        boolean NOT NULL DEFAULT false,
    done_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tasks_list_idx ON tasks (user_id, list_name, done);
"""

_SCHEDULE_AUDIO: LiteralString = """
ALTER TABLE timers
    ADD COLUMN user_id         bigint REFERENCES users (id) ON DELETE SET NULL,
    ADD COLUMN started_audio_s double precision,
    ADD COLUMN due_audio_s     double precision;
CREATE INDEX timers_room_active_idx ON timers (room) WHERE fired_at IS NULL AND cancelled_at IS NULL;
ALTER TABLE reminders ADD COLUMN last_fired_at timestamptz;
CREATE INDEX reminders_user_due_idx ON reminders (user_id, due_at) WHERE done_at IS NULL;
"""

_TURN_TOOL_CALLS: LiteralString = """
ALTER TABLE voice_turns ADD COLUMN tool_calls jsonb NOT NULL DEFAULT '[]'::jsonb;
"""

MIGRATIONS: list[Migration] = [
    Migration(1, "users, sessions, api keys", _USERS),
    Migration(2, "conversations, messages, voice turns", _CONVERSATIONS),
    Migration(3, "timers, reminders, calendar events, tasks", _SKILLS),
    Migration(4, "timers on room audio time, reminders' last firing", _SCHEDULE_AUDIO),
    Migration(5, "tool calls stored with each voice turn", _TURN_TOOL_CALLS),
]
"""All migrations, in version order."""
