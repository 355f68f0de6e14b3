"""The Gradio console in headless Chromium: login, streamed chat and history, rooms, camera, system.

Screenshots go to ``runs/test-artifacts/console/`` (gitignored).
"""

from __future__ import annotations

import time

import pytest

from .conftest import PASSWORD, login, shot

pytestmark = pytest.mark.slow


def bot_texts(page) -> list[str]:
    return page.locator("#chatbot [data-testid='bot']").all_inner_texts()


def wait_text(page, selector: str, pattern: str, timeout_ms: int = 20_000) -> None:
    """Wait until the element's rendered text matches the regular expression ``pattern``."""
    page.wait_for_function("([sel, pat]) => { const el = document.querySelector(sel);"
                           " return !!el && new RegExp(pat).test(el.innerText); }",
                           arg=[selector, pattern], timeout=timeout_ms)


def wait_until_stable(page, quiet_s: float = 1.5, timeout_s: float = 60.0) -> None:
    """Wait until the last reply has not changed for ``quiet_s``."""
    deadline, last, since = time.monotonic() + timeout_s, None, time.monotonic()
    while time.monotonic() < deadline:
        now = (bot_texts(page) or [""])[-1]
        if now != last:
            last, since = now, time.monotonic()
        elif now and time.monotonic() - since >= quiet_s:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"the reply kept changing for {timeout_s} s")


def test_wrong_password_is_refused_then_rate_limited(page):
    login(page, "alice", "not the password")
    msg = page.locator("#login-message")
    msg.get_by_text("unknown username or wrong password").wait_for()
    assert page.locator("#main").is_hidden()
    for _ in range(4):  # the test limiter allows 3 failures per (username, address); the 4th is refused
        login(page, "mallory", "guessing-123")
        page.wait_for_function("() => document.querySelector('#login-password input').value === ''")
    msg.get_by_text("too many failed logins").wait_for()
    shot(page, "01-login-refused")
    login(page, "alice")  # the right password still works for alice (her pair is below the limit)
    page.locator("#whoami").get_by_text("Logged in as").wait_for()


def test_member_chats_with_a_streamed_reply_and_reloads_history(page):
    login(page, "alice")
    page.locator("#whoami").get_by_text("alice").wait_for()
    # record every length the reply takes while it streams
    page.evaluate("""() => {
        window.__lens = [];
        const box = document.querySelector('#chatbot');
        new MutationObserver(() => {
            const bots = box.querySelectorAll('[data-testid="bot"]');
            if (bots.length) window.__lens.push(bots[bots.length - 1].innerText.length);
        }).observe(box, {subtree: true, childList: true, characterData: true});
    }""")
    question = "Name a colour of the sky."
    page.locator("#chat-input textarea").fill(question)
    page.locator("#chat-send").click()
    page.locator("#conversations").get_by_text(question).wait_for()
    page.wait_for_function("() => window.__lens.length && Math.max(...window.__lens) > 5", timeout=60_000)
    wait_until_stable(page)
    lens = sorted(set(page.evaluate("() => window.__lens")))
    reply = bot_texts(page)[-1].strip()
    shot(page, "02-chat-streamed")
    assert reply and len([n for n in lens if n > 0]) >= 3, f"not streamed: lengths {lens}"
    # a new conversation empties the chat; picking the old one reloads its stored messages
    page.locator("#new-conversation").click()
    page.wait_for_function("() => !document.querySelector('#chatbot').innerText.includes('Name a colour')")
    page.locator("#conversations").get_by_text(question).click()
    page.locator("#chatbot").get_by_text(question).wait_for()
    page.wait_for_function("r => document.querySelector('#chatbot').innerText.includes(r)", arg=reply[:20])
    shot(page, "03-chat-history")


def test_text_sent_into_a_room_shows_in_the_rooms_view(page):
    login(page, "alice")
    page.locator("#whoami").get_by_text("alice").wait_for()
    page.get_by_role("tab", name="Rooms").click()
    wait_text(page, "#rooms-table", "kitchen")
    page.locator("#say-text textarea").fill("What time is it?")
    page.locator("#say-button").click()
    page.locator("#say-message").get_by_text("kitchen heard").wait_for(timeout=60_000)
    # the timer refreshes the table by itself: new transcript, reply and timings appear
    wait_text(page, "#rooms-table", r"What time is it\?", timeout_ms=10_000)
    wait_text(page, "#rooms-table", r"It's \d", timeout_ms=10_000)
    wait_text(page, "#rooms-table", r"total \d+\.\d\d s", timeout_ms=10_000)
    shot(page, "04-rooms")


def test_guest_sees_rooms_but_may_not_speak(page):
    login(page, "visitor")
    page.locator("#whoami").get_by_text("guest").wait_for()
    page.get_by_role("tab", name="Rooms").click()
    page.locator("#say-message").get_by_text("Guests may watch rooms").wait_for()
    assert page.locator("#say-room input").is_disabled()


def test_camera_view_shows_a_frame_presence_and_takes_a_snapshot(page, console_env):
    login(page, "alice")
    page.locator("#whoami").get_by_text("alice").wait_for()
    page.get_by_role("tab", name="Camera").click()
    page.locator("#camera-refresh").click()
    page.locator("#camera-message").get_by_text("1 person in view").wait_for()
    img = page.locator("#camera-image img").first
    img.wait_for()
    assert page.evaluate("el => el.naturalWidth", img.element_handle()) == 256
    page.locator("#camera-snapshot").click()
    page.locator("#camera-message").get_by_text("snapshot saved").wait_for()
    assert list(console_env["snapshots"].glob("kitchen-*.jpg"))
    shot(page, "05-camera")


def test_system_view_and_preset_switch_by_role(page, browser, base_url, console_env):
    login(page, "alice")
    info = page.locator("#system-info")
    page.get_by_role("tab", name="System").click()
    info.get_by_text("cpu").first.wait_for()
    assert "not on Ray" in info.inner_text() and "SmolLM2-135M-Instruct" in info.inner_text()
    assert page.locator("#preset-switch").is_disabled()  # members may not switch
    shot(page, "06-system-member")

    admin = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    admin.goto(f"{base_url}/console/")
    login(admin, "root", PASSWORD)
    admin.locator("#whoami").get_by_text("admin").wait_for()
    admin.get_by_role("tab", name="System").click()
    admin.locator("#preset-choice input").click()
    admin.get_by_role("option", name="english_only_small").click()
    admin.locator("#preset-switch").click()
    admin.locator("#preset-message").get_by_text("llm.engine").wait_for()  # GPU preset: clear refusal
    shot(admin, "07-system-admin-refused")
    assert console_env["switcher"].deployed == []
    admin.context.close()
