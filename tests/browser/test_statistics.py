"""Statistics from a real meeting: two Chromium pages through a real media worker."""
from __future__ import annotations

import time

import pytest
from sqlmodel import Session, select

from mvc.models import MeetingRecord, ParticipantRecord, QualitySample, SupportEvent
from tests.browser.conftest import enter, wait_js
from tests.browser.test_media_flow import host_pin

pytestmark = pytest.mark.browser


def poll(fn, timeout: float = 40.0):
    """Call fn until it returns something truthy."""
    deadline = time.time() + timeout
    while True:
        value = fn()
        if value or time.time() > deadline:
            return value
        time.sleep(0.3)


def test_two_pages_make_meeting_participant_and_quality_records(media_server, phone):
    engine = media_server.app.extensions["mvc.engine"]
    url = f"{media_server.url}/m/demo"
    host, guest = phone(1280, 800), phone()
    enter(host, url, "Nina", host_pin(media_server))
    enter(guest, url, "Karen Jensen")
    for page in (host, guest):
        wait_js(page, "Array.from(document.querySelectorAll('#tiles .tile:not(.self) video')).some(v => v.videoWidth > 0)", 20)

    def sampled():
        with Session(engine) as s:
            rows = s.exec(select(ParticipantRecord)).all()
            per = {r.role: len(s.exec(select(QualitySample).where(QualitySample.participant_record_id == r.id)).all())
                   for r in rows}
            return per if len(rows) == 2 and all(per.values()) else None

    per_role = poll(sampled)
    assert per_role and set(per_role) == {"host", "guest"}, per_role
    with Session(engine) as s:
        sample = s.exec(select(QualitySample)).first()
        assert sample.kbps_in > 0 and sample.rtt_ms is not None and sample.loss_in_pct is not None
        people = {r.role: r for r in s.exec(select(ParticipantRecord))}
        assert people["host"].via == "pin" and people["guest"].via == "link"
        assert people["guest"].browser == "chrome" and people["guest"].admitted_at is not None

    host.click("form:has(input[name=action][value=end]) button")

    def ended():
        with Session(engine) as s:
            rec = s.exec(select(MeetingRecord)).first()
            return rec if rec and rec.rolled_up_at else None

    record = poll(ended, 15)
    assert record is not None
    assert (record.participants, record.guests, record.guests_never_in) == (2, 1, 0)
    assert record.peak_participants == 2 and record.host_came and record.ended_at is not None
    assert record.quality_samples >= 2 and record.measured_minutes > 0
    with Session(engine) as s:
        kinds = {e.kind for e in s.exec(select(SupportEvent).where(SupportEvent.meeting_id == record.meeting_id))}
        assert {"join", "admitted", "connected", "ended"} <= kinds, kinds
        assert all(r.left_at for r in s.exec(select(ParticipantRecord)))


CAMERA_TAKEN = """
(() => {
  if (!location.pathname.endsWith("/live") || !navigator.mediaDevices) return;
  const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = (c) => c && c.video
    ? Promise.reject(new DOMException("Could not start video source", "NotReadableError")) : real(c);
})();
"""


def test_a_failed_media_step_reaches_the_support_timeline(media_server, phone):
    """The camera is taken by another app when the meeting page starts: the page goes on with sound
    only, and support sees which step failed and why."""
    engine = media_server.app.extensions["mvc.engine"]
    host = phone(1280, 800)
    host.add_init_script(CAMERA_TAKEN)
    enter(host, f"{media_server.url}/m/demo", "Nina", host_pin(media_server))

    def failed():
        with Session(engine) as s:
            return [e.detail for e in s.exec(select(SupportEvent).where(SupportEvent.kind == "media_error"))]

    assert poll(failed, 15) == ["camera: NotReadableError"]
    wait_js(host, "!!(window.MVCMedia && MVCMedia.pc() && MVCMedia.pc().connectionState === 'connected')", 20)
    assert failed() == ["camera: NotReadableError"]  # the microphone worked: nothing else failed
