"""A media worker's per-participant counts, routed by the Hub, land on the participant's record and timeline."""
from __future__ import annotations

import threading

from sqlmodel import select

from media import messages as m
from mvc.models import ParticipantRecord, Room, SupportEvent
from tests import staff
from tests.conftest import http_join
from tests.staff import db_outside_app_context  # noqa: F401 - replaces conftest's db here
from tests.wsclient import Page


def in_pool_thread(call, *args) -> None:
    """Run call(*args) on a thread of its own, as the pool's reader and watchdog threads do
    (no app context)."""
    thread = threading.Thread(target=call, args=args)
    thread.start()
    thread.join()


def from_worker(app, msg) -> None:
    """Deliver a worker reply as the pool's reader thread does."""
    in_pool_thread(app.extensions["mvc.hub"].deliver, msg)


def host_in_meeting(live_server, db) -> tuple[Page, ParticipantRecord]:
    """The demo room's host in the meeting view, and her participant record."""
    pin = db.exec(select(Room).where(Room.alias == "demo")).one().host_pin
    host = Page(live_server.url, "demo", http_join(live_server.url, "demo", "Nurse Nina", pin))
    host.wait_text('data-view="meeting"')
    return host, db.exec(select(ParticipantRecord)).one()


def support_timeline(app, db, meeting: str) -> str:
    """The meeting's support timeline as support staff see it."""
    staff.make_user(db, "support@demo.example", roles="support")
    client = app.test_client()
    staff.login(client, "support@demo.example")
    return client.get(f"/support/meetings/{meeting}").get_data(as_text=True)


def test_worker_counts_add_up_on_the_record_and_many_drops_show_on_the_timeline(live_server, db):
    app = live_server.app
    host, person = host_in_meeting(live_server, db)
    meeting = str(person.meeting_id)
    few = {"packets_in": 500, "bytes_in": 400_000, "packets_out": 450, "packets_dropped": 2}
    from_worker(app, m.worker_counts(meeting, {person.pid: few, "someone-else": few}))
    from_worker(app, m.worker_counts(meeting, {person.pid: {**few, "packets_dropped": -5}}))  # not sane: ignored
    from_worker(app, m.worker_counts("999999", {person.pid: few}))  # another meeting: ignored
    db.refresh(person)
    assert (person.worker_packets_in, person.worker_bytes_in, person.worker_packets_out,
            person.worker_packets_dropped) == (500, 400_000, 450, 2)
    assert not db.exec(select(SupportEvent).where(SupportEvent.kind == "worker_drops")).all()

    many = {"packets_in": 500, "bytes_in": 400_000, "packets_out": 100, "packets_dropped": 300}
    from_worker(app, m.worker_counts(meeting, {person.pid: many}))
    from_worker(app, m.worker_counts(meeting, {person.pid: many}))  # still high: one line, not two
    db.refresh(person)
    assert (person.worker_packets_in, person.worker_packets_dropped) == (1500, 602)
    [line] = db.exec(select(SupportEvent).where(SupportEvent.kind == "worker_drops")).all()
    assert line.pid == person.pid and "dropped 302 of 1852 packets" in line.detail

    page = support_timeline(app, db, meeting)
    assert "Media worker: many packets dropped" in page and "dropped 302 of 1852 packets" in page
    host.close()


def test_a_meeting_moved_to_another_worker_shows_on_its_timeline_and_its_pages_reconnect(live_server, db):
    from mvc.media_client import moves_recorder

    app = live_server.app
    host, person = host_in_meeting(live_server, db)
    meeting = str(person.meeting_id)
    in_pool_thread(moves_recorder(app, app.extensions["mvc.hub"]), [meeting, "not-a-meeting"])
    host.wait_text('"reconnect"')  # the page is told to renegotiate with the new worker
    [line] = db.exec(select(SupportEvent).where(SupportEvent.kind == "worker_moved")).all()
    assert line.meeting_id == int(meeting)
    assert "media moved to another one" in support_timeline(app, db, meeting)
    host.close()
