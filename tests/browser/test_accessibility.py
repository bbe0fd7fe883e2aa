"""axe-core (from the npm registry) finds no WCAG 2.1 AA violations on the citizen's pages."""
from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.browser
AXE = Path(__file__).resolve().parents[2] / ".cache" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_violations(page) -> list[dict]:
    """Run axe-core in the page (evaluated directly: the CSP rightly forbids injected scripts)."""
    page.evaluate(AXE.read_text())
    result = page.evaluate("(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS)
    return [{"id": v["id"], "nodes": [n["html"][:120] for n in v["nodes"]][:3]} for v in result["violations"]]


def join(page, url, name, pin=None):
    page.goto(url)
    page.fill("#name", name)
    if pin:
        page.click("summary")
        page.fill("#pin", pin)
    page.click('button:has-text("Deltag i mødet")')


def test_join_waiting_and_meeting_pages_have_no_violations(live_server, phone, demo_room):
    guest = phone()
    guest.goto(f"{live_server.url}/m/demo")
    assert axe_violations(guest) == []
    join(guest, f"{live_server.url}/m/demo", "Karen Jensen")
    guest.wait_for_selector("#stage[data-view=waiting]")
    assert axe_violations(guest) == []

    host = phone(1280, 900)
    join(host, f"{live_server.url}/m/demo", "Nina Sygeplejerske", demo_room.host_pin)
    host.wait_for_selector("#stage[data-view=meeting]")
    guest.wait_for_selector("#stage[data-view=meeting]")
    guest.click("#controls form:has(input[value=hand]) button")
    host.wait_for_selector("#hands >> text=Karen Jensen")
    guest.fill("#chat-text", "Hej")
    guest.press("#chat-text", "Enter")
    host.wait_for_selector("#chat-log >> text=Hej")
    assert axe_violations(guest) == []
    assert axe_violations(host) == []


def test_english_pages_have_no_violations(live_server, phone):
    page = phone(320, 700)
    page.goto(f"{live_server.url}/lang/en?next=/m/demo")
    assert axe_violations(page) == []
    page.goto(f"{live_server.url}/m/nope")
    assert axe_violations(page) == []


def test_the_check_itself_catches_a_violation(live_server, phone):
    page = phone()
    page.goto(f"{live_server.url}/m/demo")
    page.evaluate("document.body.appendChild(Object.assign(document.createElement('input'), {id: 'unlabelled'}))")
    assert any(v["id"] == "label" for v in axe_violations(page))


def test_meeting_page_fits_a_320_pixel_phone_and_works_by_keyboard(live_server, phone, demo_room):
    host = phone(1280, 900)
    join(host, f"{live_server.url}/m/demo", "Nina Sygeplejerske", demo_room.host_pin)
    host.wait_for_selector("#stage[data-view=meeting]")
    guest = phone(320, 640)
    join(guest, f"{live_server.url}/m/demo", "Karen Jensen")
    guest.wait_for_selector("#stage[data-view=meeting]")
    assert guest.evaluate("document.documentElement.scrollWidth") <= 320
    boxes = guest.evaluate("""Array.from(document.querySelectorAll('#controls button'))
        .map(b => b.getBoundingClientRect()).filter(r => r.width > 0).map(r => [r.width, r.height])""")
    assert len(boxes) >= 4 and all(w >= 44 and h >= 44 for w, h in boxes), boxes
    # With the keyboard: focus "raise hand" and press Enter.
    guest.focus("#controls form:has(input[value=hand]) button")
    guest.keyboard.press("Enter")
    host.wait_for_selector("#hands >> text=Karen Jensen")
    # (the guest's own controls are re-rendered too: wait for that, or it replaces the form below)
    guest.wait_for_selector("#controls form:has(input[value=hand]):has(input[name=on][value='0'])", state="attached")
    # A form pressed in the instant after the server re-rendered it (before htmx bound it)
    # still goes over the websocket instead of reloading the page.
    guest.evaluate("""() => { const f = document.createElement('form'); f.setAttribute('ws-send', '');
        f.innerHTML = '<input type=hidden name=action value=hand><input type=hidden name=on value=0>'
                    + '<button id=unbound type=submit>x</button>';
        document.getElementById('controls').appendChild(f); window.samePage = true; }""")
    guest.click("#unbound")
    host.wait_for_selector("#hands >> text=Karen Jensen", state="detached")
    assert guest.evaluate("window.samePage === true")


def test_api_docs_page_has_no_violations_and_fits_320_pixels(live_server, phone):
    page = phone(320, 700)
    page.goto(f"{live_server.url}/api/v2/docs")
    page.get_by_text("/v2/meetings/{uuid}/invitations", exact=True).wait_for()
    assert axe_violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
