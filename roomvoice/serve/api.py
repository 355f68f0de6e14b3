"""The HTTP API: OpenAI-compatible chat completions, and a small JSON API for rooms.

Routes (FastAPI):

- ``GET  /v1/models`` — the served model.
- ``POST /v1/chat/completions`` — OpenAI's chat completions, streamed (server-sent events) or not.
  The official ``openai`` client works against it with an API key as its ``api_key``.
- ``GET  /api/rooms`` — every room with its live state.
- ``POST /api/rooms/{room}/say`` — text into a room: handled as if spoken, answered aloud there.
- ``GET  /api/rooms/{room}/turns`` — the room's latest turns with stage timings.
- ``POST /api/announce`` — ``{"text", "rooms": [...] | "everywhere"}``: spoken in those rooms
  (or all) at once, without a turn; admin/member only, an unknown room → 404 and nothing spoken.
- ``GET  /api/conversations`` / ``POST /api/conversations`` — the caller's stored chats; a new one.
- ``GET  /api/conversations/{id}/messages`` — a conversation's full history (yours only: 403).
- ``POST /api/conversations/{id}/messages`` — send a message; the reply is stored with it and
  streamed as server-sent events (``{"delta": ...}`` then ``[DONE]``) or returned whole. The
  context is the last exchanges of the stored conversation (see :mod:`roomvoice.serve.chat`);
  ``/v1/chat/completions`` stays stateless, as OpenAI's is.

Every route checks the client address against the IP allow-list (403) and an API key sent as
``Authorization: Bearer <key>`` (401). Errors use OpenAI's shape:
``{"error": {"message", "type", "code"}}``. The backends are injected (protocols below), so the
app runs in Serve (``VoiceGateway``) or alone in tests.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from roomvoice.errors import RoomVoiceError
from roomvoice.events import Announcement, ChatMessage, RoomStatus, TurnResult

logger = logging.getLogger(__name__)

ROLES_THAT_MAY_SPEAK_IN_ROOMS = ("admin", "member")


class ApiUser(Protocol):
    """What the API needs to know about an authenticated user."""

    id: int
    username: str
    role: str


class KeyVerifier(Protocol):
    """Resolves an API key to its user (``roomvoice.store.credentials.ApiKeyStore``)."""

    def verify(self, key: str) -> ApiUser | None: ...


class AddressPolicy(Protocol):
    """Decides which client addresses may call (``roomvoice.store.access.IpAllowList``)."""

    def allows(self, ip: str) -> bool: ...


class ChatBackend(Protocol):
    """Streams an assistant reply for OpenAI-style messages."""

    def stream(self, user: ApiUser, messages: Sequence[ChatMessage], max_tokens: int | None,
               temperature: float | None) -> AsyncIterator[str]: ...


class RoomsBackend(Protocol):
    """The rooms of this installation."""

    async def statuses(self) -> list[RoomStatus]: ...

    async def say(self, room: str, text: str) -> TurnResult: ...

    async def turns(self, room: str, limit: int) -> list[dict[str, Any]]: ...

    async def announce(self, rooms: Sequence[str], text: str) -> list[Announcement]: ...


@dataclass(frozen=True)
class ApiSettings:
    """Limits and names of the HTTP API.

    Attributes:
        model: the model id reported by ``/v1/models`` and in completions.
        max_message_chars: the longest accepted message content, in characters (413 above).
        max_messages: the most messages accepted in one request.
    """

    model: str = "roomvoice"
    max_message_chars: int = 4000
    max_messages: int = 64


class ApiError(Exception):
    """An HTTP error in OpenAI's shape."""

    def __init__(self, status: int, message: str, code: str, type_: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.type = status, message, code, type_

    def response(self) -> JSONResponse:
        return JSONResponse({"error": {"message": self.message, "type": self.type, "code": self.code}},
                            status_code=self.status)


class WireMessage(BaseModel):
    """One message as OpenAI clients send it (content may be text parts)."""

    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.get("text", "") for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    """The subset of OpenAI's request that roomvoice honours; other fields are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str | None = None
    messages: list[WireMessage] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1, le=4096)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=4096)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)

    @field_validator("messages")
    @classmethod
    def _has_user(cls, v: list[WireMessage]) -> list[WireMessage]:
        if not any(m.role == "user" for m in v):
            raise ValueError("at least one message must have role 'user'")
        return v


class NewConversationRequest(BaseModel):
    """Body of ``POST /api/conversations``."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(default="", max_length=200)


class ConversationMessageRequest(BaseModel):
    """Body of ``POST /api/conversations/{id}/messages``."""

    model_config = ConfigDict(extra="forbid")
    content: str = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1, le=4096)


class SayRequest(BaseModel):
    """Body of ``POST /api/rooms/{room}/say``."""

    text: str = Field(min_length=1)


class AnnounceRequest(BaseModel):
    """Body of ``POST /api/announce``: ``rooms`` is a list of room names or ``"everywhere"``."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1)
    rooms: list[str] | Literal["everywhere"] = Field(min_length=1)


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def create_api(keys: KeyVerifier, policy: AddressPolicy, chat: ChatBackend, rooms: RoomsBackend,
               settings: ApiSettings = ApiSettings(), conversations: Any | None = None,
               users: Any | None = None) -> FastAPI:
    """Build the FastAPI app over the given backends.

    Args:
        conversations: a :class:`roomvoice.serve.chat.ChatService` for the stored-conversation
            routes; None leaves them out.
        users: a :class:`roomvoice.store.users.UserStore` for the admin ``/api/users`` routes
            (:mod:`roomvoice.serve.api_users`); None leaves them out.

    Returns:
        The ASGI app (mount it in Serve with ``__serve_build_asgi_app__`` or run it with uvicorn).
    """
    app = FastAPI(title="roomvoice", version="0.1.0")

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        what = first.get("msg", "invalid request")
        if first.get("type") == "json_invalid":
            return ApiError(400, f"malformed JSON: {what}", "invalid_json").response()
        return ApiError(400, f"{where}: {what}" if where else what, "invalid_request").response()

    @app.middleware("http")
    async def _allow_list(request: Request, call_next):
        ip = _client_ip(request)
        if not policy.allows(ip):
            logger.warning("refused %s %s from %s (not in the allow-list)", request.method, request.url.path, ip)
            return ApiError(403, f"address {ip or '?'} is not allowed", "ip_not_allowed", "permission_error").response()
        return await call_next(request)

    def user_of(request: Request) -> ApiUser:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>'", "missing_api_key",
                           "authentication_error")
        user = keys.verify(key.strip())
        if user is None:
            raise ApiError(401, "invalid or revoked API key", "invalid_api_key", "authentication_error")
        return user

    def check_model(name: str | None) -> None:
        if name not in (None, "", settings.model):
            raise ApiError(404, f"model {name!r} does not exist; this server has {settings.model!r}",
                           "model_not_found")

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        user_of(request)
        return {"object": "list", "data": [{"id": settings.model, "object": "model", "created": 0,
                                            "owned_by": "roomvoice"}]}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request, body: ChatCompletionRequest):
        user = user_of(request)
        check_model(body.model)
        if len(body.messages) > settings.max_messages:
            raise ApiError(413, f"{len(body.messages)} messages (limit {settings.max_messages})", "too_many_messages")
        messages = []
        for i, m in enumerate(body.messages):
            text = m.text()
            if len(text) > settings.max_message_chars:
                raise ApiError(413, f"messages[{i}] has {len(text)} characters (limit {settings.max_message_chars})",
                               "message_too_long")
            if m.role in ("system", "developer", "user", "assistant"):
                messages.append(ChatMessage("system" if m.role == "developer" else m.role, text))
        max_tokens = body.max_completion_tokens or body.max_tokens
        cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        stream = chat.stream(user, messages, max_tokens, body.temperature)
        if body.stream:
            return StreamingResponse(_sse(stream, cid, created, settings.model), media_type="text/event-stream")
        try:
            text = "".join([d async for d in stream])
        except RoomVoiceError as exc:
            raise _service_error(exc) from exc
        return {
            "id": cid, "object": "chat.completion", "created": created, "model": settings.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }

    @app.get("/api/rooms")
    async def list_rooms(request: Request) -> list[dict[str, Any]]:
        user_of(request)
        return [s.to_json() for s in await rooms.statuses()]

    async def known_room(name: str) -> None:
        names = [s.room for s in await rooms.statuses()]
        if name not in names:
            raise ApiError(404, f"unknown room {name!r}; rooms: {', '.join(names) or 'none'}", "room_not_found")

    @app.post("/api/rooms/{room}/say")
    async def say(room: str, request: Request, body: SayRequest) -> dict[str, Any]:
        user = user_of(request)
        if user.role not in ROLES_THAT_MAY_SPEAK_IN_ROOMS:
            raise ApiError(403, f"role {user.role!r} may not speak in rooms", "forbidden", "permission_error")
        if len(body.text) > settings.max_message_chars:
            raise ApiError(413, f"text has {len(body.text)} characters (limit {settings.max_message_chars})",
                           "message_too_long")
        await known_room(room)
        try:
            return (await rooms.say(room, body.text)).to_json()
        except RoomVoiceError as exc:
            raise _service_error(exc) from exc

    @app.post("/api/announce")
    async def announce(request: Request, body: AnnounceRequest) -> dict[str, Any]:
        user = user_of(request)
        if user.role not in ROLES_THAT_MAY_SPEAK_IN_ROOMS:
            raise ApiError(403, f"role {user.role!r} may not speak in rooms", "forbidden", "permission_error")
        text = body.text.strip()
        if not text or len(text) > settings.max_message_chars:
            raise ApiError(413 if text else 400, f"text: {len(text)} characters (1..{settings.max_message_chars})",
                           "message_too_long" if text else "invalid_request")
        targets = [] if body.rooms == "everywhere" else list(dict.fromkeys(body.rooms))
        for room in targets:
            await known_room(room)
        try:
            said = await rooms.announce(targets, text)
        except RoomVoiceError as exc:
            if exc.code == "room-unknown":
                raise ApiError(404, exc.message, "room_not_found") from exc
            raise _service_error(exc) from exc
        return {"text": text, "rooms": [a.to_json() for a in said]}

    @app.get("/api/rooms/{room}/turns")
    async def room_turns(room: str, request: Request, limit: int = 10) -> list[dict[str, Any]]:
        user_of(request)
        if not 1 <= limit <= 500:
            raise ApiError(400, "limit: must be between 1 and 500", "invalid_request")
        await known_room(room)
        return await rooms.turns(room, limit)

    if conversations is not None:
        _conversation_routes(app, conversations, user_of, settings)
    if users is not None:
        from roomvoice.serve.api_users import add_user_routes

        add_user_routes(app, users, user_of)
    return app


def _store_error(exc: RoomVoiceError) -> ApiError:
    """Map a store error to its HTTP status."""
    status = {"store-not-found": 404, "store-forbidden": 403, "store-too-long": 413,
              "store-unavailable": 503}.get(exc.code, 400)
    type_ = "server_error" if status == 503 else ("permission_error" if status == 403 else "invalid_request_error")
    return ApiError(status, exc.message, exc.code.replace("-", "_"), type_)


def _conversation_routes(app: FastAPI, service: Any, user_of: Any, settings: ApiSettings) -> None:
    """The ``/api/conversations`` routes over a :class:`roomvoice.serve.chat.ChatService`."""
    import asyncio

    def parse_id(text: str) -> uuid.UUID:
        try:
            return uuid.UUID(text)
        except ValueError:
            raise ApiError(400, f"{text[:64]!r} is not a conversation id (a UUID)", "invalid_conversation_id") from None

    async def call(fn: Any, *args: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args)
        except RoomVoiceError as exc:
            raise _store_error(exc) from exc

    def conversation_json(c: Any) -> dict[str, Any]:
        return {"id": str(c.id), "title": c.title, "created_at": c.created_at.isoformat()}

    @app.get("/api/conversations")
    async def list_conversations(request: Request) -> list[dict[str, Any]]:
        user = user_of(request)
        return [conversation_json(c) for c in await call(service.conversations, user)]

    @app.post("/api/conversations", status_code=201)
    async def new_conversation(request: Request, body: NewConversationRequest) -> dict[str, Any]:
        user = user_of(request)
        return conversation_json(await call(service.start, user, body.title))

    @app.get("/api/conversations/{cid}/messages")
    async def conversation_messages(cid: str, request: Request) -> list[dict[str, Any]]:
        user = user_of(request)
        messages = await call(service.history, user, parse_id(cid))
        return [{"role": m.role, "content": m.content, "created_at": m.created_at.isoformat()} for m in messages]

    @app.post("/api/conversations/{cid}/messages")
    async def send_message(cid: str, request: Request, body: ConversationMessageRequest):
        user = user_of(request)
        conversation_id = parse_id(cid)
        if len(body.content) > settings.max_message_chars:
            raise ApiError(413, f"content has {len(body.content)} characters (limit {settings.max_message_chars})",
                           "message_too_long")
        try:
            stream = await service.open_reply(user, conversation_id, body.content, max_tokens=body.max_tokens)
        except RoomVoiceError as exc:
            raise _store_error(exc) from exc
        if body.stream:
            return StreamingResponse(_delta_sse(stream), media_type="text/event-stream")
        try:
            text = "".join([d async for d in stream]).strip()
        except RoomVoiceError as exc:
            raise (_store_error(exc) if exc.code.startswith("store-") else _service_error(exc)) from exc
        return {"conversation_id": str(conversation_id), "reply": text}


async def _delta_sse(stream: AsyncIterator[str]) -> AsyncIterator[str]:
    """Reply deltas as server-sent events: ``data: {"delta": ...}``, then ``data: [DONE]``."""
    try:
        async for delta in stream:
            if delta:
                yield f"data: {json.dumps({'delta': delta})}\n\n"
    except RoomVoiceError as exc:
        err = _store_error(exc) if exc.code.startswith("store-") else _service_error(exc)
        yield f"data: {json.dumps({'error': {'message': err.message, 'type': err.type, 'code': err.code}})}\n\n"
        return
    yield "data: [DONE]\n\n"


def _service_error(exc: RoomVoiceError) -> ApiError:
    if exc.code.startswith("assistant-"):
        return ApiError(400, exc.message, exc.code)
    status = 504 if exc.code.endswith("timeout") else 503
    return ApiError(status, exc.message, exc.code, "server_error")


async def _sse(stream: AsyncIterator[str], cid: str, created: int, model: str) -> AsyncIterator[str]:
    """OpenAI's streaming format: ``data: {chunk}`` events, then ``data: [DONE]``."""

    def chunk(delta: dict[str, str], finish: str | None) -> str:
        body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(body)}\n\n"

    yield chunk({"role": "assistant", "content": ""}, None)
    try:
        async for delta in stream:
            if delta:
                yield chunk({"content": delta}, None)
    except RoomVoiceError as exc:  # headers are sent: report in-band, as OpenAI does
        err = _service_error(exc)
        yield f"data: {json.dumps({'error': {'message': err.message, 'type': err.type, 'code': err.code}})}\n\n"
        return
    yield chunk({}, "stop")
    yield "data: [DONE]\n\n"
