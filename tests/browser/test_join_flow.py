"""A guest on a phone: preview, join, wait, and be moved in when the host arrives."""
from __future__ import annotations

import pytest

from tests.browser.conftest import wait_js

pytestmark = pytest.mark.browser


def test_guest_waits_and_is_moved_in_when_host_joins(live_server, phone, demo_room):
    guest = phone()
    guest.goto(f"{live_server.url}/m/demo")
    assert guest.locator("html").get_attribute("lang") == "da"
    # The fake camera plays in the preview and the status says so.
    wait_js(guest, "document.getElementById('preview-video').videoWidth > 0")
    assert "virker" in guest.locator("#preview-status").inner_text()
    # Nothing overflows a 390-pixel phone.
    assert guest.evaluate("document.documentElement.scrollWidth") <= 390

    guest.fill("#name", "Karen Jensen")
    guest.click("button:has-text(\"Deltag i mødet\")")
    guest.wait_for_url("**/m/demo/live")
    guest.wait_for_selector("#stage[data-view=waiting]")
    assert "Mødet er ikke begyndt endnu" in guest.inner_text("#stage")

    host = phone(1280, 800)
    host.goto(f"{live_server.url}/m/demo")
    host.fill("#name", "Nina Sygeplejerske")
    host.click("summary")
    host.fill("#pin", demo_room.host_pin)
    host.click("button:has-text(\"Deltag i mødet\")")
    host.wait_for_selector("#stage[data-view=meeting]")

    # No reload: the guest's page changes by itself.
    guest.wait_for_selector("#stage[data-view=meeting]", timeout=5000)
    guest.wait_for_selector("#people >> text=Nina")
    host.wait_for_selector("#people >> text=Karen")
    assert guest.evaluate("performance.getEntriesByType('navigation').length") == 1


def test_page_works_at_320_pixels(live_server, phone):
    page = phone(320, 640)
    page.goto(f"{live_server.url}/m/demo")
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    box = page.locator("button[type=submit]").bounding_box()
    assert box["height"] >= 44 and box["width"] <= 320
