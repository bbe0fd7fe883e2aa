"""Quality reports, page errors and media states over the meeting websocket: checked, limited, recorded."""
from __future__ import annotations

import time

from sqlmodel import Session, select

from mvc.models import ParticipantRecord, QualitySample, SupportEvent
from tests.conftest import http_join
from tests.wsclient import Page

GOOD = {"type": "quality", "rtt": 40, "jitter": 3.5, "lossIn": 0.5, "lossOut": 0, "kbpsIn": 700, "kbpsOut": 450,
        "fpsIn": 20, "fpsOut": 20, "freezes": 0}


def poll(fn, timeout: float = 5.0):
    deadline = time.time() + timeout
    while True:
        value = fn()
        if value or time.time() > deadline:
            return value
        time.sleep(0.05)


def test_reports_are_checked_limited_and_recorded(live_server, demo_room):
    engine = live_server.app.extensions["mvc.engine"]
    host = Page(live_server.url, "demo", http_join(live_server.url, "demo", "Nurse Nina", demo_room.host_pin))
    host.wait_text('data-view="meeting"')

    def samples():
        with Session(engine) as s:
            return s.exec(select(QualitySample)).all()

    def events(kind):
        with Session(engine) as s:
            return s.exec(select(SupportEvent).where(SupportEvent.kind == kind)).all()

    for bad in ({**GOOD, "rtt": -1}, {**GOOD, "lossIn": 101}, {**GOOD, "kbpsIn": "700"}, {**GOOD, "fpsIn": True},
                {**GOOD, "freezes": 1.5}, {**GOOD, **{f"x{i}": 1 for i in range(20)}}):
        host.send(bad)
    host.send('{"type": "quality", "rtt": NaN}')
    host.send({**GOOD, "lossIn": 12.5})  # poor: the first valid one is kept
    assert poll(lambda: len(samples()) == 1)
    host.send(GOOD)  # within 4 s of the last: dropped
    host.send({"type": "client_error", "message": "TypeError: x\x00 is undefined" + "y" * 500})
    host.send({"type": "media_error", "message": "camera: NotReadableError"})
    host.send({"type": "media_error", "message": 42})  # not text: ignored
    host.send({"type": "media_state", "state": "failed"})
    assert poll(lambda: events("media_state"))
    assert [e.detail for e in events("media_error")] == ["camera: NotReadableError"]
    [sample] = samples()
    assert (sample.loss_in_pct, sample.rtt_ms, sample.kbps_in, sample.bad) == (12.5, 40.0, 700.0, True)
    [error] = events("client_error")
    assert error.detail.startswith("TypeError: x is undefined") and len(error.detail) == 199
    assert len(events("quality_dip")) == 1
    with Session(engine) as s:
        person = s.exec(select(ParticipantRecord)).one()
    assert (person.samples, person.bad_samples, person.role, person.via) == (1, 1, "host", "pin")
    # Page events are capped per socket: a flood of errors adds at most 40 lines.
    for i in range(45):
        host.send({"type": "client_error", "message": f"e{i}"})
    host.send({"type": "media_state", "state": "closed"})
    # The page is still served, and messages are handled in order: once the hand shows, all were.
    host.received.clear()
    host.send("not json")
    host.wait_text("ikke forstod")  # Danish by default
    assert len(events("client_error")) + len(events("media_state")) + len(events("media_error")) == 40
    host.close()


def test_quality_from_the_waiting_room_is_no_call_minute(live_server, demo_room):
    engine = live_server.app.extensions["mvc.engine"]
    guest = Page(live_server.url, "demo", http_join(live_server.url, "demo", "Karen"))
    guest.wait_text('data-view="waiting"')
    guest.wait_for(lambda t: '"action": "start"' in t)  # its media connects while it waits
    guest.send(GOOD)
    host = Page(live_server.url, "demo", http_join(live_server.url, "demo", "Nurse Nina", demo_room.host_pin))
    guest.wait_text('data-view="meeting"')
    guest.wait_for(lambda t: '"action": "admit"' in t)
    guest.send({**GOOD, "kbpsIn": 123})

    def samples():
        with Session(engine) as s:
            return s.exec(select(QualitySample)).all()

    assert poll(lambda: len(samples()) == 1)
    time.sleep(0.3)
    assert [s.kbps_in for s in samples()] == [123.0]
    guest.close()
    host.close()
