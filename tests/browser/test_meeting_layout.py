"""The meeting page as people see it on a phone and on the host's desktop: video first,
only controls that work, names on tiles, no console errors or CSP violations."""
from __future__ import annotations

import pytest

from tests.browser.conftest import enter, host_pin, screenshot, wait_js

pytestmark = pytest.mark.browser

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
NO_SHARING = "delete MediaDevices.prototype.getDisplayMedia"  # as on phones
REMOTE_VIDEO = "#tiles .tile:not(.self) video"

IN_VIEW_JS = """() => {
  const videos = Array.from(document.querySelectorAll('#tiles .tile:not(.self) video'));
  const bar = document.getElementById('controls').getBoundingClientRect();
  return videos.map(v => {
    const r = v.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: r.height,
            visible: r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth,
            uncovered: !!hit && v.closest('.tile').contains(hit), aboveBar: r.top < bar.top};
  });
}"""


def open_page(phone, size):
    """A page at this size; the phone size gets an iPhone user agent and no screen sharing."""
    width, height = size
    if width < 500:
        page = phone(width, height, user_agent=IPHONE, is_mobile=True, has_touch=True)
        page.add_init_script(NO_SHARING)
    else:
        page = phone(width, height)
    return page


def assert_video_in_view(page, who: str):
    """Every remote video lies wholly in the viewport, unscrolled, not behind the control bar."""
    assert page.evaluate("window.scrollY") == 0
    boxes = page.evaluate(IN_VIEW_JS)
    assert boxes, f"{who}: no remote video"
    for box in boxes:
        assert box["visible"] and box["uncovered"] and box["aboveBar"] and box["height"] >= 150, (who, box)


def assert_hidden_controls_not_rendered(page):
    hidden = page.locator("#controls [hidden]").all()
    for control in hidden:
        assert control.bounding_box() is None, control.get_attribute("data-action")
    return [c.get_attribute("data-action") for c in hidden]


@pytest.mark.parametrize("size", [(390, 844), (1280, 800), (1366, 768)], ids=["phone", "1280x800", "1366x768"])
def test_video_first_and_only_working_controls(media_server, phone, size):
    url = f"{media_server.url}/m/demo"
    host, guest = open_page(phone, size), open_page(phone, size)
    enter(host, url, "Nina Sygeplejerske", host_pin(media_server))
    enter(guest, url, "Karen Jensen")
    for page in (host, guest):
        wait_js(page, f"Array.from(document.querySelectorAll('{REMOTE_VIDEO}')).some(v => v.videoWidth > 0)", 20)
    name = f"meeting-{size[0]}x{size[1]}"

    # One to one: the other person large, with their name readable on the tile.
    wait_js(host, "document.querySelector('#tiles .tile:not(.self) figcaption').textContent === 'Karen Jensen'")
    wait_js(guest, "document.querySelector('#tiles .tile:not(.self) figcaption').textContent === 'Nina Sygeplejerske'")
    for page, who in ((host, "host"), (guest, "guest")):
        assert_video_in_view(page, who)
        caption = page.locator("#tiles .tile:not(.self) figcaption").bounding_box()
        assert caption and caption["height"] >= 18
        screenshot(page, f"{name}-{who}")
    share = host.evaluate(f"document.querySelector('{REMOTE_VIDEO}').getBoundingClientRect().width"
                          " / document.getElementById('tiles').clientWidth")
    assert share > 0.9  # the other person fills the video area (the panel may sit beside it)

    # Sharing is offered only where getDisplayMedia exists; hidden controls take no space.
    hidden = assert_hidden_controls_not_rendered(host)
    share_box = host.locator("#ctl-share").bounding_box()
    if size[0] < 500:
        assert "share" in hidden and share_box is None
    else:
        assert share_box is not None
    assert_hidden_controls_not_rendered(guest)

    # A third person: every remote video still in view; no console errors or CSP violations.
    third = open_page(phone, size)
    enter(third, url, "Ole Hansen")
    for page in (host, guest, third):
        wait_js(page, f"Array.from(document.querySelectorAll('{REMOTE_VIDEO}')).filter(v => v.videoWidth > 0).length >= 2", 20)
    for page, who in ((host, "host"), (guest, "guest"), (third, "third")):
        assert_video_in_view(page, who)
    screenshot(host, f"{name}-host-three")
    for page in (host, guest, third):
        assert page.problems == []
