"""A registered device in Chromium: provisioned with a code, idle, rung by a host, answering into real media."""
from __future__ import annotations

import pytest

from tests.browser.conftest import wait_js
from tests.browser.test_accessibility import axe_violations
from tests.conftest import LiveServer, base_config, build_app
from tests.sms_helpers import PASSWORD, make_staff

pytestmark = pytest.mark.browser

FRAMES_JS = """async () => {
  const pc = window.MVCMedia && window.MVCMedia.pc();
  let total = 0;
  if (!pc) return 0;
  (await pc.getStats()).forEach(r => { if (r.type === 'inbound-rtp' && r.kind === 'video') total += r.framesDecoded || 0; });
  return total;
}"""


def serve(tmp_path, **overrides):
    app = build_app(base_config(tmp_path, **overrides))
    make_staff(app, roles="host,org-admin")
    return LiveServer(app)


@pytest.fixture
def media_server(tmp_path):
    """The app with one real media worker (loopback ICE only) and a staff member who may manage devices."""
    server = serve(tmp_path, MEDIA_WORKERS=1, ICE_LOOPBACK_ONLY=True)
    yield server
    server.stop()
    server.app.extensions["mvc.media"].stop()
    server.app.extensions["mvc.live"].close()


@pytest.fixture
def server(tmp_path):
    """The app without media, with a short auto-answer countdown."""
    server = serve(tmp_path, DEVICE_AUTO_ANSWER_SECONDS=2)
    yield server
    server.stop()
    server.app.extensions["mvc.live"].close()


def log_in(page, url: str) -> None:
    page.goto(f"{url}/login")
    page.fill("#email", "nurse@demo.example")
    page.fill("#password", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url("**/rooms")


def register(host, url: str, name: str, auto_answer: bool = False) -> str:
    """Register a device on /manage/devices; returns the code shown."""
    host.goto(f"{url}/manage/devices")
    host.fill("#name", name)
    if auto_answer:
        host.check("input[name=auto_answer]")
    host.click("form.stack button[type=submit]")
    return host.inner_text("#device-code").strip()


def provision(device, url: str, code: str) -> None:
    """Type the code on the device's big keys and wait for the idle view and its connection."""
    device.goto(f"{url}/device")
    for key in code.replace("-", ""):
        device.click(f"[data-key='{key}']")
    with device.expect_response("**/device/keep") as kept:  # its websocket, once open, renews the credential
        device.click("form.stack button[type=submit]")
        device.wait_for_selector("#device-screen[data-state=idle]")
    assert "mvc_device_key=" in (kept.value.header_value("set-cookie") or "")


def call_from_list(host, url: str, name: str) -> None:
    """On the staff's devices list (from the menu), wait until the device shows as online, then call it."""
    host.goto(f"{url}/rooms")
    host.click("nav.staff-nav a:has-text('Ring til en enhed')")
    for _ in range(50):
        if "Online nu" in host.inner_text(f".card:has-text('{name}')"):
            break
        host.wait_for_timeout(200)
        host.reload()
    host.click(f".card:has-text('{name}') form[action$='/call'] button")
    host.wait_for_selector("#device-call")


def frames(page) -> int:
    return page.evaluate(FRAMES_JS)


def test_host_calls_a_device_which_rings_answers_and_returns_to_idle(media_server, phone):
    url = media_server.url
    host, tablet = phone(1280, 800), phone(1280, 800)
    log_in(host, url)
    provision(tablet, url, register(host, url, "Karens tablet"))
    assert "Klar til videoopkald" in tablet.inner_text("#device-screen")
    wait_js(tablet, "document.querySelector('[data-clock]').textContent.length >= 4")

    call_from_list(host, url, "Karens tablet")
    host.wait_for_selector("#device-call[data-status=ringing]")
    tablet.wait_for_selector("#device-screen[data-state=ringing]")
    assert tablet.inner_text(".answer") == "Besvar" and tablet.inner_text(".not-now") == "Ikke nu"
    tablet.click(".answer")
    host.wait_for_selector("#device-call[data-status=answered]")  # the caller sees it without reloading
    tablet.wait_for_url("**/live")

    host.click("a:has-text('Gå til mødet')")
    host.fill("#name", "Nina")
    host.click("form.stack button[type=submit]")
    host.wait_for_url("**/live")
    for page in (host, tablet):
        wait_js(page, "document.querySelectorAll('#tiles .tile[data-pid]:not(.self) video').length >= 1", 20)
        first = frames(page)
        wait_js(page, f"(async () => (await ({FRAMES_JS})()) > {first} + 10)()", 20)
    assert "Karens tablet" in host.inner_text("#tiles")

    host.click("form:has(input[value=end]) button")
    tablet.wait_for_url("**/device", timeout=20_000)
    tablet.wait_for_selector("#device-screen[data-state=idle]")


def test_auto_answer_revoke_and_an_offline_device(server, phone):
    url = server.url
    host, tablet = phone(1280, 800), phone(390, 844)
    log_in(host, url)
    provision(tablet, url, register(host, url, "Oles tablet", auto_answer=True))

    call_from_list(host, url, "Oles tablet")
    tablet.wait_for_selector("#device-screen[data-state=ringing] [data-countdown]")
    assert "Svarer selv om" in tablet.inner_text("[data-countdown]")
    tablet.wait_for_url("**/live")  # nobody tapped
    host.wait_for_selector("#device-call[data-status=answered]")
    tablet.wait_for_selector("#stage[data-view=meeting]")

    # In the meeting: a second call is told "busy"; revoking takes it out, straight to the code screen.
    host.goto(f"{url}/manage/devices")
    host.click("tr:has-text('Oles tablet') form[action$='/call'] button")
    host.wait_for_selector("#device-call[data-status=busy]")
    assert "Optaget" in host.inner_text("#device-call")
    host.goto(f"{url}/manage/devices")
    host.click("tr:has-text('Oles tablet') form[action$='/revoke'] button")
    tablet.wait_for_url("**/device")
    tablet.wait_for_selector("#code")

    # Bound again with a new code, idle: revoking drops the open screen to the code screen.
    host.goto(f"{url}/manage/devices")
    host.click("tr:has-text('Oles tablet') form[action$='/code'] button")
    provision(tablet, url, host.inner_text("#device-code").strip())
    host.goto(f"{url}/manage/devices")
    host.click("tr:has-text('Oles tablet') form[action$='/revoke'] button")
    tablet.wait_for_selector("#code")  # dropped to the code screen without anyone touching it

    # A bound device whose page is closed: the caller is told at once that it is offline.
    other = phone(390, 844)
    provision(other, url, register(host, url, "Gemt tablet"))
    other.close()
    for _ in range(50):
        host.goto(f"{url}/manage/devices")
        if "Online nu" not in host.inner_text("tr:has-text('Gemt tablet')"):
            break
        host.wait_for_timeout(200)
    host.click("tr:has-text('Gemt tablet') form[action$='/call'] button")
    host.wait_for_selector("#device-call[data-status=offline]")
    assert "Enheden er offline" in host.inner_text("#device-call")


@pytest.mark.parametrize("width, height", [(320, 640), (1280, 800)])
def test_code_idle_and_ringing_views_are_accessible(server, phone, width, height):
    url = server.url
    host, tablet = phone(width, height), phone(width, height)
    log_in(host, url)
    tablet.goto(f"{url}/device")
    tablet.wait_for_selector("[data-keys]:not([hidden])")
    assert axe_violations(tablet) == []  # the code screen too
    provision(tablet, url, register(host, url, "Karens tablet"))
    assert axe_violations(tablet) == []
    assert tablet.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    host.goto(f"{url}/devices")  # the staff's devices list
    assert axe_violations(host) == []
    assert host.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    call_from_list(host, url, "Karens tablet")
    assert axe_violations(host) == []  # the call's page
    assert host.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    tablet.wait_for_selector("#device-screen[data-state=ringing]")
    assert axe_violations(tablet) == []
    assert tablet.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    box = tablet.locator(".answer").bounding_box()
    assert box["width"] >= 0.6 * width and box["y"] + box["height"] <= height  # huge, and on screen
    tablet.goto(f"{url}/lang/en")
    tablet.goto(f"{url}/device")
    tablet.wait_for_selector("#device-screen[data-state=ringing]")
    assert tablet.inner_text(".answer") == "Answer"
