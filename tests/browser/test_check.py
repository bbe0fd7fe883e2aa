"""The pre-call check in Chromium against a real media worker, and support finding its code."""
from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from mvc.models import SupportCheck
from tests import staff
from tests.browser.conftest import enter, wait_js
from tests.browser.test_accessibility import axe_violations
from tests.browser.test_media_flow import host_pin

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
