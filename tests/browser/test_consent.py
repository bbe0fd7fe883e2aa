"""Consent in Chromium: the word without a raised hand asks; only the participant switches the mic on."""
from __future__ import annotations

import pytest

from tests.browser.conftest import enter
from tests.browser.test_accessibility import axe_violations

pytestmark = pytest.mark.browser


def test_the_word_shows_a_large_prompt_whose_button_switches_the_mic_on(live_server, phone, demo_room):
    url = f"{live_server.url}/m/demo"
    host = phone(1280, 900)
    enter(host, url, "Nina Sygeplejerske", demo_room.host_pin)
    host.wait_for_selector("#stage[data-view=meeting]")
    ole = phone()
    enter(ole, url, "Ole Hansen")
    ole.click("#controls [data-action=mic]")  # Ole switches his microphone off
    ole.wait_for_selector("#controls [data-action=mic][aria-pressed=false]")

    row = "#people li:has-text('Ole Hansen')"
    host.wait_for_selector(f"{row} >> text=mikrofon fra")
    host.click(f"{row} summary")
    host.click(f"{row} form:has(input[value=give_floor]) button")

    button = ole.wait_for_selector("#speak-prompt button[data-action=mic]", state="visible")
    assert "Du må tale nu" in button.inner_text()
    box = button.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 300  # large enough to find and press on a phone
    assert ole.get_attribute("#controls [data-action=mic]", "aria-pressed") == "false"
    assert axe_violations(ole) == []  # the prompt, too, meets WCAG 2.1 AA

    button.click()
    ole.wait_for_selector("#controls [data-action=mic][aria-pressed=true]")
    ole.wait_for_selector("#speak-prompt", state="hidden")
    host.wait_for_selector(f"{row} >> text=mikrofon til")
