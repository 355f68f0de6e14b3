"""Admin routes of the HTTP API: list users, add a user, change a role, remove a user.

- ``GET    /api/users``               — every user (admin only).
- ``POST   /api/users``               — ``{"username", "password", "role"}``: a new user (201).
- ``PATCH  /api/users/{user_id}``     — ``{"role"}``: change a role (the last admin cannot be demoted).
- ``DELETE /api/users/{user_id}``     — remove a user (not yourself).

Everyone else gets 403 and nothing changes. Store errors map to 400 (invalid), 404 (no such
user), 409 (username taken) and 503 (PostgreSQL down).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Literal

from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

from roomvoice.errors import RoomVoiceError


class NewUserRequest(BaseModel):
    """Body of ``POST /api/users``."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    role: Literal["admin", "member", "guest"] = "member"


class RoleRequest(BaseModel):
    """Body of ``PATCH /api/users/{user_id}``."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["admin", "member", "guest"]


def _user_json(user: Any) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "role": getattr(user.role, "value", user.role),
            "created_at": user.created_at.isoformat() if getattr(user, "created_at", None) else None}


def add_user_routes(app: FastAPI, users: Any, user_of: Callable[[Request], Any]) -> None:
    """Add the ``/api/users`` routes over a :class:`roomvoice.store.users.UserStore`."""
    from roomvoice.serve.api import ApiError

    def admin_of(request: Request) -> Any:
        user = user_of(request)
        if getattr(user.role, "value", user.role) != "admin":
            raise ApiError(403, "only an admin may manage users", "forbidden", "permission_error")
        return user

    async def call(fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args)
        except RoomVoiceError as exc:
            status = {"store-not-found": 404, "store-conflict": 409, "store-unavailable": 503}.get(exc.code, 400)
            raise ApiError(status, exc.message, exc.code.replace("-", "_")) from exc

    @app.get("/api/users")
    async def list_users(request: Request) -> list[dict[str, Any]]:
        admin_of(request)
        return [_user_json(u) for u in await call(users.list_users)]

    @app.post("/api/users", status_code=201)
    async def add_user(request: Request, body: NewUserRequest) -> dict[str, Any]:
        admin_of(request)
        return _user_json(await call(users.create_user, body.username, body.password, body.role))

    @app.patch("/api/users/{user_id}")
    async def set_role(user_id: int, request: Request, body: RoleRequest) -> dict[str, Any]:
        admin_of(request)
        return _user_json(await call(users.set_role, user_id, body.role))

    @app.delete("/api/users/{user_id}", status_code=204)
    async def delete_user(user_id: int, request: Request) -> None:
        admin = admin_of(request)
        if admin.id == user_id:
            raise ApiError(400, "you cannot remove yourself", "invalid_request")
        await call(users.delete_user, user_id)
