"""The pre-call check in Chromium against a real media worker, and support finding its code."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from sqlmodel import Session, select

from mvc.models import SupportCheck
from tests import staff
from tests.browser.conftest import enter, wait_js
from tests.browser.test_accessibility import axe_violations
from tests.browser.test_media_flow import host_pin
from tests.conftest import LiveServer, base_config, build_app, stop_app, wait_until
from tests.services import free_port, port_open

pytestmark = pytest.mark.browser


def test_check_gives_a_support_code_that_finds_results_and_the_next_meeting(media_server, phone):
    engine = media_server.app.extensions["mvc.engine"]
    page = phone(320, 700)
    page.goto(f"{media_server.url}/check")
    assert axe_violations(page) == []
    assert not page.is_visible("#speaker-play")  # offered when the speaker's turn comes
    page.click("#check-start")
    page.wait_for_selector("#speaker-test:not([hidden])")
    page.click("#speaker-play")
    page.click("#speaker-yes")
    code = wait_js(page, "document.getElementById('support-code').textContent.trim()", 40)
    assert len(code) == 6
    states = page.evaluate("Object.fromEntries(Array.from(document.querySelectorAll('#checks li'))"
                           ".map(li => [li.id, li.dataset.state]))")
    assert states == {f"c-{k}": "ok" for k in ("browser", "camera", "microphone", "speaker", "network")}, states
    assert "ms" in page.inner_text("#c-network .result")
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    assert axe_violations(page) == []
    with Session(engine) as s:
        results = json.loads(s.exec(select(SupportCheck).where(SupportCheck.code == code)).one().result)
    assert results["network"] == "ok" and results["camera"] == "ok" and 0 <= results["rtt_ms"] < 1000
    assert results["route"].startswith("host/")
    # The check's media room is closed when the check is done.
    health = media_server.app.extensions["mvc.media"].health()
    assert not any(r.startswith("check-") for w in health["workers"].values() for r in w["rooms"]), health

    # The same browser then joins a meeting; support finds it by the code.
    host = phone(1280, 800)
    enter(host, f"{media_server.url}/m/demo", "Nina", host_pin(media_server))
    enter(page, f"{media_server.url}/m/demo", "Karen Jensen")
    page.wait_for_selector("#stage[data-view=meeting]")

    with Session(engine) as s:
        staff.make_user(s, "support@demo.example", roles="support")
    client = media_server.app.test_client()
    staff.login(client, "support@demo.example")
    found = client.get(f"/support?code={code.lower()}", follow_redirects=True)
    html = found.get_data(as_text=True)
    assert found.status_code == 200 and f"Support code {code}" in html
    assert "Your connection to the video service works." in html  # the check's own words, for support
    assert 'class="marked"' in html and 'data-kind="admitted"' in html and 'data-kind="support_code"' in html
    assert "Karen" not in html  # the timeline names nobody
    assert client.get("/support?code=ZZZZZZ").status_code == 200
    assert "No check has that code" in client.get("/support?code=ZZZZZZ").get_data(as_text=True)


# A firewall that drops UDP between the browser and the media worker, both ways: a
# connection that may use direct routes learns none of the worker's candidates and offers
# none of its own (a stateful firewall also drops the worker's checks coming in, which
# would otherwise give ICE a peer-reflexive route). A relay-only connection is left alone:
# it reaches the TURN server over TCP, as a network that allows only TCP does.
BLOCK_DIRECT_UDP = """
(() => {
  const Native = window.RTCPeerConnection;
  const strip = (d) => d && {type: d.type, sdp: d.sdp.split("\\r\\n").filter((l) => !l.startsWith("a=candidate:")).join("\\r\\n")};
  window.RTCPeerConnection = class extends Native {
    constructor(config) { super(config); this.blocked = !config || config.iceTransportPolicy !== "relay"; }
    get localDescription() { return this.blocked ? strip(super.localDescription) : super.localDescription; }
    setRemoteDescription(d) { return super.setRemoteDescription(this.blocked ? strip(d) : d); }
  };
})();
"""
TURN_SECRET = "check-turn-secret"


@pytest.fixture
def coturn(tmp_path):
    """coturn on 127.0.0.1 (TURN over TCP and UDP on a spare port) with MVC's shared-secret
    credentials; unlike a deployment it relays to loopback, where the test's worker is."""
    port = free_port()
    conf = tmp_path / "turnserver.conf"
    conf.write_text("\n".join([
        f"listening-port={port}", "listening-ip=127.0.0.1", "relay-ip=127.0.0.1", "allow-loopback-peers",
        "use-auth-secret", f"static-auth-secret={TURN_SECRET}", "realm=mvc.test", "fingerprint",
        "no-tls", "no-dtls", "no-cli", "no-multicast-peers", f"userdb={tmp_path}/turndb",
        f"pidfile={tmp_path}/turn.pid", f"log-file={tmp_path}/turn.log", "simple-log", "no-stdout-log", ""]))
    proc = subprocess.Popen([shutil.which("turnserver") or "/usr/bin/turnserver", "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: port_open(port) or proc.poll() is not None, 20)
        assert proc.poll() is None, (tmp_path / "turn.log").read_text()[-2000:]
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def turn_media_server(tmp_path, coturn):
    """The app with one real media worker (loopback ICE) and TURN over TCP through coturn."""
    app = build_app(base_config(tmp_path, MEDIA_WORKERS=1, ICE_LOOPBACK_ONLY=True, TURN_SECRET=TURN_SECRET,
                                TURN_URLS=f"turn:127.0.0.1:{coturn}?transport=tcp"))
    server = LiveServer(app)
    yield server
    server.stop()
    stop_app(app)


@pytest.mark.timeout(120)
def test_check_falls_back_to_turn_when_udp_to_the_worker_is_blocked(turn_media_server, phone):
    """Simulated: a firewall dropping UDP between browser and worker (BLOCK_DIRECT_UDP);
    coturn, the worker and Chromium are real, and the media really goes through coturn."""
    page = phone(320, 700)
    page.add_init_script(BLOCK_DIRECT_UDP)
    page.goto(f"{turn_media_server.url}/check")
    page.click("#check-start")
    page.wait_for_selector("#speaker-test:not([hidden])")
    page.click("#speaker-yes")
    code = wait_js(page, "document.getElementById('support-code').textContent.trim()", 60)
    network = page.inner_text("#c-network .result")
    assert page.get_attribute("#c-network", "data-state") == "ok", network  # passed, not marked as a problem
    assert "Din forbindelse virker gennem videotjenestens relæserver, fordi dit netværk blokerer direkte" in network
    rtt = re.search(r"Svartid (\d+) ms, ([\d.]+) procent af pakkerne tabt\.", network)
    assert rtt and 0 <= int(rtt.group(1)) < 1000 and float(rtt.group(2)) <= 5, network
    with Session(turn_media_server.app.extensions["mvc.engine"]) as s:
        results = json.loads(s.exec(select(SupportCheck).where(SupportCheck.code == code)).one().result)
    assert results["network"] == "relay" and results["route"] == "relay/tcp", results
    assert 0 <= results["rtt_ms"] < 1000 and results["loss_pct"] <= 5, results

    with Session(turn_media_server.app.extensions["mvc.engine"]) as s:
        staff.make_user(s, "support@demo.example", roles="support")
    client = turn_media_server.app.test_client()
    staff.login(client, "support@demo.example")
    html = client.get(f"/support/code/{code}").get_data(as_text=True)
    assert "Your connection works through the video service&#39;s relay server" in html and "relay/tcp" in html
