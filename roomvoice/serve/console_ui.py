"""Gradio layout and event wiring of the console (behaviour lives in :class:`~roomvoice.serve.console.ConsoleActions`).

Until a login succeeds only the login form is visible; every handler still resolves the
session token itself, so calling an event directly without a session does nothing but say so.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import gradio as gr

from roomvoice.errors import RoomVoiceError
from roomvoice.serve.console import ROOM_HEADERS, ConsoleActions, ConsoleDeps, Refused, _client_ip, _fail_text

logger = logging.getLogger(__name__)

PRIVATE = {"api_visibility": "private"}


def build_console(actions: ConsoleActions, deps: ConsoleDeps) -> gr.Blocks:
    """The console's ``gr.Blocks`` (not yet mounted)."""
    with gr.Blocks(title="roomvoice console", analytics_enabled=False) as demo:
        token = gr.State("")
        conv_id = gr.State("")
        with gr.Row():
            gr.Markdown("## roomvoice console")
            whoami = gr.Markdown("Not logged in.", elem_id="whoami")
            logout_btn = gr.Button("Log out", visible=False, size="sm", elem_id="logout")

        with gr.Column(visible=True, elem_id="login-box") as login_box:
            gr.Markdown("### Login")
            username = gr.Textbox(label="Username", elem_id="login-username", max_lines=1)
            password = gr.Textbox(label="Password", type="password", elem_id="login-password", max_lines=1)
            login_btn = gr.Button("Log in", variant="primary", elem_id="login-button")
            login_msg = gr.Markdown("", elem_id="login-message")

        with gr.Column(visible=False, elem_id="main") as main:
            with gr.Tabs():
                with gr.Tab("Chat", id="chat"):
                    with gr.Row():
                        with gr.Column(scale=1, min_width=220):
                            new_btn = gr.Button("New conversation", elem_id="new-conversation")
                            conv_list = gr.Radio(choices=[], label="Your conversations", elem_id="conversations")
                        with gr.Column(scale=3):
                            chatbot = gr.Chatbot(label="Assistant", height=380, elem_id="chatbot")
                            with gr.Row():
                                chat_in = gr.Textbox(label="Message", placeholder="Ask something…", scale=4,
                                                     elem_id="chat-input", max_lines=4)
                                send_btn = gr.Button("Send", variant="primary", scale=1, elem_id="chat-send")
                            chat_msg = gr.Markdown("", elem_id="chat-message")
                with gr.Tab("Rooms", id="rooms"):
                    rooms_table = gr.Dataframe(headers=ROOM_HEADERS, value=[], interactive=False, wrap=True,
                                               label="Rooms (refreshed every second)", elem_id="rooms-table")
                    with gr.Row():
                        say_room = gr.Dropdown(choices=[], label="Room", scale=1, elem_id="say-room")
                        say_text = gr.Textbox(label="Say into the room", scale=3, elem_id="say-text", max_lines=2)
                        say_btn = gr.Button("Send to room", scale=1, elem_id="say-button")
                    say_msg = gr.Markdown("", elem_id="say-message")
                    with gr.Row():
                        ann_rooms = gr.CheckboxGroup(choices=[], label="Announce in (none ticked: everywhere)",
                                                     scale=2, elem_id="announce-rooms")
                        ann_text = gr.Textbox(label="Announcement", scale=3, elem_id="announce-text", max_lines=2)
                        ann_btn = gr.Button("Announce", scale=1, elem_id="announce-button")
                    ann_msg = gr.Markdown("", elem_id="announce-message")
                with gr.Tab("Camera", id="camera"):
                    with gr.Row():
                        cam_room = gr.Dropdown(choices=[], label="Room camera", elem_id="camera-room")
                        cam_refresh = gr.Button("Refresh", elem_id="camera-refresh")
                        cam_snap = gr.Button("Snapshot", elem_id="camera-snapshot")
                    cam_image = gr.Image(label="Latest frame", type="numpy", interactive=False, height=320,
                                         elem_id="camera-image")
                    cam_msg = gr.Markdown("", elem_id="camera-message")
                with gr.Tab("System", id="system"):
                    sys_md = gr.Markdown("", elem_id="system-info")
                    sys_refresh = gr.Button("Refresh", size="sm")
                    with gr.Row():
                        preset_dd = gr.Dropdown(choices=[], label="Preset (admins only)", interactive=False,
                                                elem_id="preset-choice")
                        preset_btn = gr.Button("Switch preset", interactive=False, elem_id="preset-switch")
                    preset_msg = gr.Markdown("", elem_id="preset-message")
        timer = gr.Timer(deps.refresh_s, active=False)

        # ------------------------------------------------------------------ login / logout
        async def on_login(u: str, p: str, request: gr.Request):
            try:
                tok, user = await actions.login(u, p, _client_ip(request))
            except (RoomVoiceError, Refused) as exc:
                return ("", "", _fail_text(exc), *([gr.skip()] * 14))
            convs = await actions.conversations(tok)
            rows = await actions.room_rows(tok)
            md, snap = await actions.system(tok)
            admin, speaker = user.role.value == "admin", user.role.value in ("admin", "member")
            rooms = [r[0] for r in rows]
            cams = deps.cameras.names()
            return (
                tok, "", "", f"Logged in as **{user.username}** ({user.role.value}).",
                gr.update(visible=False), gr.update(visible=True), gr.update(visible=True),
                gr.update(choices=convs, value=None), rows,
                gr.update(choices=rooms, value=rooms[0] if rooms else None, interactive=speaker),
                gr.update(choices=cams, value=cams[0] if cams else None), md,
                gr.update(choices=list(snap.presets), value=snap.preset, interactive=admin),
                gr.update(interactive=admin), gr.Timer(active=True),
                "" if speaker else "Guests may watch rooms but not speak in them.",
                gr.update(choices=rooms, value=[], interactive=speaker),
            )

        login_outputs = [token, password, login_msg, whoami, login_box, main, logout_btn, conv_list, rooms_table,
                         say_room, cam_room, sys_md, preset_dd, preset_btn, timer, say_msg, ann_rooms]
        login_btn.click(on_login, [username, password], login_outputs, **PRIVATE)
        password.submit(on_login, [username, password], login_outputs, **PRIVATE)

        async def on_logout(tok: str):
            await actions.logout(tok)
            return ("", "", [], "Logged out.", gr.update(visible=True), gr.update(visible=False),
                    gr.update(visible=False), gr.Timer(active=False))

        logout_btn.click(on_logout, token, [token, conv_id, chatbot, whoami, login_box, main, logout_btn, timer],
                         **PRIVATE)

        # ------------------------------------------------------------------ chat
        async def on_new(tok: str):
            try:
                cid = await actions.start(tok)
                return cid, [], gr.update(choices=await actions.conversations(tok), value=cid), ""
            except Exception as exc:  # noqa: BLE001 - shown to the user, logged in _fail_text
                return gr.skip(), gr.skip(), gr.skip(), _fail_text(exc)

        new_btn.click(on_new, token, [conv_id, chatbot, conv_list, chat_msg], **PRIVATE)

        async def on_pick(tok: str, cid: str | None):
            if not cid:
                return gr.skip(), gr.skip(), ""
            try:
                return cid, await actions.history(tok, cid), ""
            except Exception as exc:  # noqa: BLE001
                return gr.skip(), gr.skip(), _fail_text(exc)

        conv_list.input(on_pick, [token, conv_list], [conv_id, chatbot, chat_msg], **PRIVATE)

        async def on_send(tok: str, cid: str, text: str, history: list[Any] | None) -> AsyncIterator[Any]:
            history = list(history or [])
            text = (text or "").strip()
            if not text:
                yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), "Type a message first."
                return
            try:
                user = await actions.user(tok)
                if not cid:
                    cid = await actions.start(tok, title=text[:60])
                    yield cid, history, "", gr.update(choices=await actions.conversations(tok), value=cid), ""
                history += [{"role": "user", "content": text}, {"role": "assistant", "content": ""}]
                yield cid, history, "", gr.skip(), ""
                async for delta in deps.chat.stream(user, actions_uuid(cid), text):
                    history[-1] = {"role": "assistant", "content": history[-1]["content"] + delta}
                    yield gr.skip(), history, gr.skip(), gr.skip(), gr.skip()
            except Exception as exc:  # noqa: BLE001 - shown in the chat's message line
                yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), _fail_text(exc)

        send_args = dict(fn=on_send, inputs=[token, conv_id, chat_in, chatbot],
                         outputs=[conv_id, chatbot, chat_in, conv_list, chat_msg], **PRIVATE)
        send_btn.click(**send_args)
        chat_in.submit(**send_args)

        # ------------------------------------------------------------------ rooms
        async def on_tick(tok: str):
            try:
                return await actions.room_rows(tok)
            except Refused:
                return gr.skip()
            except Exception as exc:  # noqa: BLE001 - a failed refresh must not stop the timer
                logger.warning("rooms refresh failed: %s", exc)
                return gr.skip()

        timer.tick(on_tick, token, rooms_table, show_progress="hidden", **PRIVATE)

        async def on_say(tok: str, room: str, text: str):
            try:
                return await actions.say(tok, room, text), ""
            except Exception as exc:  # noqa: BLE001
                return _fail_text(exc), gr.skip()

        say_btn.click(lambda: "…sent, waiting for the room to answer", None, say_msg, **PRIVATE).then(
            on_say, [token, say_room, say_text], [say_msg, say_text], **PRIVATE)

        async def on_announce(tok: str, rooms: list[str], text: str):
            try:
                return await actions.announce(tok, rooms or [], text), ""
            except Exception as exc:  # noqa: BLE001
                return _fail_text(exc), gr.skip()

        ann_btn.click(on_announce, [token, ann_rooms, ann_text], [ann_msg, ann_text], **PRIVATE)

        # ------------------------------------------------------------------ camera
        async def on_camera(tok: str, room: str | None):
            try:
                await actions.user(tok)
                if not room:
                    return gr.skip(), "No camera chosen (rooms with a camera are listed)."
                frame = await deps.cameras.frame(room)
                presence = await deps.cameras.presence(room)
                when = datetime.fromtimestamp(frame.captured_at).strftime("%H:%M:%S")
                w, h = frame.size
                return frame.image, f"{room}: frame #{frame.index} at {when} ({w}x{h}) — {presence.describe()}"
            except Exception as exc:  # noqa: BLE001
                return gr.skip(), _fail_text(exc)

        cam_refresh.click(on_camera, [token, cam_room], [cam_image, cam_msg], **PRIVATE)
        cam_room.change(on_camera, [token, cam_room], [cam_image, cam_msg], **PRIVATE)

        async def on_snapshot(tok: str, room: str | None):
            try:
                await actions.user(tok)
                if not room:
                    raise Refused("choose a camera")
                return f"✓ snapshot saved: `{await deps.cameras.snapshot(room)}`"
            except Exception as exc:  # noqa: BLE001
                return _fail_text(exc)

        cam_snap.click(on_snapshot, [token, cam_room], cam_msg, **PRIVATE)

        # ------------------------------------------------------------------ system
        async def on_system(tok: str):
            try:
                return (await actions.system(tok))[0]
            except Exception as exc:  # noqa: BLE001
                return _fail_text(exc)

        sys_refresh.click(on_system, token, sys_md, **PRIVATE)

        async def on_switch(tok: str, preset: str):
            try:
                return await actions.switch_preset(tok, preset)
            except Exception as exc:  # noqa: BLE001
                return _fail_text(exc)

        preset_btn.click(on_switch, [token, preset_dd], preset_msg, **PRIVATE)
    return demo


def actions_uuid(text: str):
    """The conversation id of the Chat view's state."""
    from roomvoice.serve.console import _uuid

    return _uuid(text)
