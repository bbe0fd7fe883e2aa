"""A host and two guests in Chromium: chat, hands in order, floor, mute-all, lock and knock."""
from __future__ import annotations

import pytest

from tests.browser.conftest import enter, wait_js

pytestmark = pytest.mark.browser




def act(page, action):
    """Click the ws-send form button for an action (language independent)."""
    page.click(f"form:has(input[name=action][value={action}]) button")


def test_chat_hands_lock_and_knock(live_server, phone, demo_room):
    url = f"{live_server.url}/m/demo"
    host = phone(1280, 900)
    enter(host, url, "Nina Sygeplejerske", demo_room.host_pin)
    host.wait_for_selector("#stage[data-view=meeting]")
    karen, ole = phone(), phone()
    enter(karen, url, "Karen Jensen")
    enter(ole, url, "Ole Hansen")
    for page in (karen, ole):
        page.wait_for_selector("#stage[data-view=meeting]")

    # Chat round trip; guests see first names only.
    karen.fill("#chat-text", "Goddag alle")
    karen.press("#chat-text", "Enter")
    host.wait_for_selector("#chat-log >> text=Goddag alle")
    ole.wait_for_selector("#chat-log >> text=Goddag alle")
    assert "Karen:" in ole.inner_text("#chat-log") and "Karen Jensen" in host.inner_text("#chat-log")
    assert karen.input_value("#chat-text") == ""

    # Hands appear on the host's page in the order they were raised.
    act(ole, "hand")
    host.wait_for_selector("#hands >> text=Ole Hansen")
    act(karen, "hand")
    host.wait_for_selector("#hands >> text=Karen Jensen")
    names = host.locator("#hands .hand-name").all_inner_texts()
    assert names == ["Ole Hansen", "Karen Jensen"]
    assert host.locator("#hands .hand-no").first.inner_text() == "1"

    # Giving the word lowers the hand and turns the guest's microphone on.
    act(host, "mute_all")
    karen.wait_for_selector("#controls [data-action=mic][aria-pressed=false]")
    host.click("#hands li:has-text('Karen Jensen') form:has(input[value=give_floor]) button")
    karen.wait_for_selector("#controls [data-action=mic][aria-pressed=true]")
    wait_js(host, "document.querySelectorAll('#hands .hand-name').length === 1")

    # Lock: a fourth page knocks, and the host lets it in.
    act(host, "lock")
    late = phone()
    enter(late, url, "Peter Sen")
    late.wait_for_selector("#stage[data-view=knocking]")
    host.wait_for_selector("#people >> text=Peter Sen")
    host.click("#people li:has-text('Peter Sen') form:has(input[value=admit]) button")
    late.wait_for_selector("#stage[data-view=meeting]")
