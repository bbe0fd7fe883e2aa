"""Screen reader users hear what happens (knocks, joins, leaves, hands, chat) without losing focus;
panels take and return focus; a browser without WebRTC is told what to do; axe-core finds nothing."""
from __future__ import annotations

import pytest

from tests.browser.conftest import enter, wait_js
from tests.browser.test_accessibility import axe_violations

pytestmark = pytest.mark.browser

NO_WEBRTC = {
    "missing": "delete window.RTCPeerConnection; delete window.webkitRTCPeerConnection",
    "blocked": "window.RTCPeerConnection = function () { throw new DOMException('blocked', 'NotAllowedError'); }",
}


def act(page, action):
    page.click(f"form:has(input[name=action][value={action}]) button")


def announced(page, text: str) -> None:
    """Wait until a polite live region (role status) says text."""
    region = page.get_by_role("status").filter(has_text=text)
    region.wait_for(state="attached")
    assert region.first.get_attribute("aria-live") == "polite"


def focused(page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


@pytest.mark.parametrize("how, waits_first", [("blocked", False), ("missing", False), ("missing", True)])
def test_browser_without_webrtc_is_told_and_host_sees_no_media(live_server, phone, demo_room, how, waits_first):
    url = f"{live_server.url}/m/demo"
    host = phone(1280, 800)
    guest = phone()
    guest.add_init_script(NO_WEBRTC[how])
    if waits_first:  # the page finds out in the waiting room, and says so once let in
        enter(guest, url, "Karen Jensen")
        guest.wait_for_selector("#stage[data-view=waiting]")
        guest.wait_for_timeout(1000)
        assert guest.is_hidden("#media-problem") and "ikke med i mødet" not in guest.inner_text("body")
    enter(host, url, "Nina Sygeplejerske", demo_room.host_pin)
    if not waits_first:
        enter(guest, url, "Karen Jensen")
    guest.wait_for_selector("#media-problem:not([hidden])")
    message = guest.inner_text("#media-problem")
    assert "Din browser kan ikke være med i videomøder" in message and "Chrome" in message
    host.wait_for_selector("#people li:has-text('Karen Jensen') .no-media")
    assert "Ingen lyd og billede" in host.inner_text("#people li:has-text('Karen Jensen')")
    assert axe_violations(guest) == [] and axe_violations(host) == []  # the message and the badge
    assert guest.problems == [] and host.problems == []


def test_knocks_hands_and_chat_are_announced_and_focus_stays(live_server, phone, demo_room):
    url = f"{live_server.url}/m/demo"
    host = phone(1280, 800)
    enter(host, url, "Nina Sygeplejerske", demo_room.host_pin)
    host.wait_for_selector("#stage[data-view=meeting]")
    karen = phone()
    enter(karen, url, "Karen Jensen")
    announced(host, "Karen Jensen er kommet ind i mødet")

    # A knock, and letting the person in, are told to the host; the newcomer is told too.
    act(host, "lock")
    ole = phone()
    enter(ole, url, "Ole Hansen")
    ole.wait_for_selector("#stage[data-view=knocking]")
    announced(host, "Ole Hansen banker på")
    assert axe_violations(ole) == []  # the knocking view
    host.click("#people li:has-text('Ole Hansen') form:has(input[value=admit]) button")
    announced(host, "Ole Hansen er lukket ind")
    announced(ole, "Du er lukket ind i mødet")

    # A raised hand, and a chat line in the chat log (a polite live region of role log).
    act(karen, "hand")
    announced(host, "Karen Jensen har rakt hånden op")
    karen.fill("#chat-text", "Hej")
    karen.press("#chat-text", "Enter")
    log = host.get_by_role("log").filter(has_text="Hej")
    log.wait_for()
    assert log.get_attribute("aria-live") == "polite"

    # The panel takes focus when it opens, gives it back to its button when it closes (Escape).
    host.click("#ctl-panel")
    assert host.get_attribute("#ctl-panel", "aria-expanded") == "false" and host.locator("#panel").is_hidden()
    host.click("#ctl-panel")
    assert host.get_attribute("#ctl-panel", "aria-expanded") == "true"
    assert focused(host) == "panel"
    host.keyboard.press("Tab")
    host.keyboard.press("Escape")
    assert host.locator("#panel").is_hidden() and focused(host) == "ctl-panel"
    assert host.get_attribute("#ctl-panel", "aria-expanded") == "false"

    # With the panel closed, a chat line is still announced, and focus stays where it was.
    karen.fill("#chat-text", "Hej igen")
    karen.press("#chat-text", "Enter")
    announced(host, "Ny besked i chatten: Karen Jensen: Hej igen")
    assert focused(host) == "ctl-panel"

    # A toggle keeps focus and says its new state after the server re-renders the controls.
    host.focus("#ctl-mic")
    host.keyboard.press("Enter")
    host.wait_for_selector("#ctl-mic[aria-pressed=false]")
    wait_js(host, "document.activeElement && document.activeElement.id === 'ctl-mic'")
    assert host.get_attribute("#ctl-panel", "aria-expanded") == "false"  # survives the re-render

    # Someone leaving is told too, and focus still stays where it was.
    ole.click("#ctl-leave")
    ole.get_by_text("Du har forladt mødet").wait_for()
    announced(host, "Ole Hansen har forladt mødet")
    assert focused(host) == "ctl-mic"
    assert axe_violations(ole) == []  # the page after leaving
    for page in (host, karen, ole):
        assert page.problems == []
